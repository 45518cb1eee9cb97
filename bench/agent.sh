#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# The agent itself at each policy size: how long from start to the policy
# in force, its memory (VmRSS and VmHWM from /proc/PID/status, once the
# policy is in force and again after the reloads) and the kernel memory
# of its maps (memlock, as bpftool reports it), and how long a reload
# takes end to end: the other file put in place, SIGHUP, until the
# policy.load line is in the audit log. Pins go to a bpffs in the
# benchmark's temp dir; the agent enforces on the benchmark's cgroup.
#
#   agent.sh POLICY_DIR SIZE...   (JSON lines on stdout)
. "$(dirname "$0")/lib.sh"

POLICIES=$1
shift
RELOADS=${BENCH_RELOADS:-7}

loads() {
	[ -f "$1" ] || { echo 0; return; }
	grep -c '"action":"policy.load"' "$1"
}

# wait_loads LOG N: up to 120 s for the Nth policy.load line.
wait_loads() {
	local end=$((SECONDS + 120))

	while [ "$(loads "$1")" -lt "$2" ]; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.005
	done
}

status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# map_memory PID PIN_DIR: JSON {"total": bytes, "maps": {name: bytes}} of
# the maps the agent holds and the tries its outer maps hold.
map_memory() {
	python3 - "$1" "$2" <<'PY'
import glob, json, os, subprocess, sys
pid, pin = sys.argv[1], sys.argv[2]
ids = set()
for f in glob.glob(f"/proc/{pid}/fdinfo/*"):
    try:
        info = dict(l.split(":", 1) for l in open(f) if ":" in l)
    except OSError:
        continue
    if "map_id" in info:
        ids.add(int(info["map_id"]))
for outer in ("odsbpf_pol4", "odsbpf_pol6"):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned",
                          os.path.join(pin, outer)], capture_output=True, text=True)
    for e in json.loads(out.stdout or "[]"):
        ids.add(int.from_bytes(bytes(int(b, 16) for b in e["value"]), "little"))
maps, total = {}, 0
for i in sorted(ids):
    out = subprocess.run(["bpftool", "-j", "map", "show", "id", str(i)],
                         capture_output=True, text=True)
    if out.returncode:
        continue
    m = json.loads(out.stdout)
    name = m.get("name", str(i))
    maps[name] = maps.get(name, 0) + m.get("bytes_memlock", 0)
    total += m.get("bytes_memlock", 0)
print(json.dumps({"total": total, "maps": maps}))
PY
}

# memory_line SIZE PHASE PID DIR: the agent's memory now, as a JSON line.
memory_line() {
	printf '{"bench":"memory","n":%d,"phase":"%s","rss_kb":%d,"hwm_kb":%d,"bpf":%s}\n' \
		"$1" "$2" "$(status_kb "$3" VmRSS)" "$(status_kb "$3" VmHWM)" \
		"$(map_memory "$3" "$4/bpffs/v"*)"
}

# One agent on one policy size: JSON lines.
bench_agent() {
	local n=$1 d="$BENCH_TMP/agent-$1" pid start r file

	mkdir -p "$d/policy" "$d/pods"
	cp "$POLICIES/$n/policy-a.json" "$d/policy/policy.json"
	BENCH_MOUNTS="$d/bpffs $BENCH_MOUNTS"	# the agent mounts it
	start=$(now_ns)
	"$ODSBPF" agent --cgroup "$(cgroup_path agent)" --policy-dir "$d/policy" \
		--audit-log "$d/audit.log" --pin-root "$d/bpffs" --state-dir "$d/state" \
		--listen off --pods-log-dir "$d/pods" --kubelet-dir "" \
		>/dev/null 2>"$d/agent.err" &
	pid=$!
	BENCH_PIDS="$BENCH_PIDS $pid"
	wait_loads "$d/audit.log" 1 ||
		{ log "agent at $n: no policy.load: $(tail -c 400 "$d/agent.err")"; return 1; }
	echo "{\"bench\":\"agent_start\",\"n\":$n,\"ms\":$(ms_since "$start")}"
	sleep 0.5
	memory_line "$n" loaded "$pid" "$d"

	for r in $(seq 1 "$RELOADS"); do
		file=policy-a.json
		[ $((r % 2)) = 1 ] && file=policy-b.json
		cp "$POLICIES/$n/$file" "$d/policy/.next" &&
			mv -f "$d/policy/.next" "$d/policy/policy.json"
		start=$(now_ns)
		kill -HUP "$pid"
		wait_loads "$d/audit.log" $((r + 1)) ||
			{ log "agent at $n: reload $r not applied"; return 1; }
		echo "{\"bench\":\"reload\",\"n\":$n,\"rep\":$r,\"ms\":$(ms_since "$start")}"
		sleep 0.4	# let the debounced inotify reload find nothing new
	done
	memory_line "$n" after_reloads "$pid" "$d"

	kill -TERM "$pid" && wait "$pid"
	"$ODSBPF" agent --uninstall --pin-root "$d/bpffs" --state-dir "$d/state" 2>/dev/null
}

main() {
	local n

	bench_begin
	bench_cgroup agent || { log "cannot make the cgroup"; exit 1; }
	for n in "$@"; do
		log "agent memory and reloads: $n CIDRs"
		bench_agent "$n" || exit 1
	done
}

main "$@"
