#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# Events per second from the kernel to the audit log. A bounded flood of
# denied UDP connect()s (the test probe, in the benchmark's cgroup and
# namespace) against the agent: first with no rate limit, so every denial
# is meant to become a line, then with the default limit. Counted for
# each round: the denials and how fast the kernel produced them (the
# baseline), the lines in the log when the flood ended (the agent's rate:
# the ring buffer stays full throughout, so the agent never waits), the
# lines in the end, the "suppressed" counts they carry and the
# events.lost lines: lines plus suppressed must add up to the denials.
#
#   events.sh POLICY_DIR   (JSON lines on stdout)
. "$(dirname "$0")/lib.sh"

POLICIES=$1
FLOOD=${BENCH_FLOOD:-2000000}
ROUNDS=${BENCH_EVENT_ROUNDS:-5}

# log_files LOG: the log's files, rotated ones first (a rotated file
# still plain while the agent compresses it, else its .gz).
log_files() {
	local f

	for f in "$1".*; do
		case $f in
		*.tmp) ;;
		*.gz) [ -e "${f%.gz}" ] || echo "$f" ;;
		*) [ -e "$f" ] && echo "$f" ;;
		esac
	done
	echo "$1"
}

# count_lines LOG: lines in the log and its rotated files.
count_lines() {
	local n f

	n=$(wc -l <"$1")
	for f in $(log_files "$1"); do
		case $f in
		"$1") ;;
		*.gz) n=$((n + $(zcat "$f" | wc -l))) ;;
		# compressed away since listed: its .gz is there
		*) n=$((n + $(wc -l <"$f" 2>/dev/null || zcat "$f.gz" | wc -l))) ;;
		esac
	done
	echo "$n"
}

# tally LOG CGROUP_ID: "LINES SUPPRESSED LOST" for that cgroup.
tally() {
	python3 - "$2" $(log_files "$1") <<'PY'
import gzip, json, sys
lines = supp = lost = 0
def raws():
    for path in sys.argv[2:]:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            yield from f
for raw in raws():
    try:
        ev = json.loads(raw)
    except ValueError:
        continue
    m = ev.get("metadata", {})
    if ev.get("action") == "events.lost":
        lost += m.get("lost", 0)
    elif ev.get("action", "").startswith("egress.") and str(m.get("cgroup_id")) == sys.argv[1]:
        lines += ev["action"] != "egress.suppressed"
        supp += m.get("suppressed", 0)
print(lines, supp, lost)
PY
}

size() { stat -c %s "$1" 2>/dev/null || echo 0; }

# settle LOG: wait until the log has not grown for 1 s (at most 120 s);
# prints the ns time of the last growth seen.
settle() {
	local last_size=-1 last_change end=$((SECONDS + 120)) s

	last_change=$(now_ns)
	while [ $SECONDS -lt $end ]; do
		s=$(size "$1")
		if [ "$s" != "$last_size" ]; then
			last_size=$s last_change=$(now_ns)
		elif [ $(($(now_ns) - last_change)) -gt 1000000000 ]; then
			break
		fi
		sleep 0.01
	done
	echo "$last_change"
}

# round NAME RATE REP: one agent, one flood; a JSON line.
round() {
	local d="$BENCH_TMP/$1-$3" cg pid start flood_end at_end settled out t id

	cg="$(cgroup_path events)/$1-$3"
	mkdir "$cg" && BENCH_CGROUPS="$cg $BENCH_CGROUPS" || return 1
	id=$(stat -c %i "$cg")
	mkdir -p "$d/policy" "$d/pods"
	cp "$POLICIES/10/policy-a.json" "$d/policy/policy.json"
	BENCH_MOUNTS="$d/bpffs $BENCH_MOUNTS"
	"$ODSBPF" agent --cgroup "$cg" --policy-dir "$d/policy" \
		--audit-log "$d/audit.log" --pin-root "$d/bpffs" --state-dir "$d/state" \
		--listen off --pods-log-dir "$d/pods" --kubelet-dir "" --rate-limit "$2" \
		>/dev/null 2>"$d/agent.err" &
	pid=$!
	BENCH_PIDS="$BENCH_PIDS $pid"
	for _ in $(seq 200); do
		grep -q '"action":"policy.load"' "$d/audit.log" 2>/dev/null && break
		sleep 0.05
	done

	start=$(now_ns)
	out=$(sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
		nsenter --net="/run/netns/$(ns_name events)" "$PROBE" flood udp "$DENIED" 9 "$FLOOD")
	flood_end=$(now_ns)
	# The current file first: it is the one still growing.
	at_end=$(count_lines "$d/audit.log")
	settled=$(settle "$d/audit.log")
	kill -TERM "$pid" && wait "$pid"
	"$ODSBPF" agent --uninstall --pin-root "$d/bpffs" --state-dir "$d/state" 2>/dev/null
	mountpoint -q "$d/bpffs" && umount "$d/bpffs"
	read -r -a t <<<"$(tally "$d/audit.log" "$id")"
	case $out in
	*"eperm=$FLOOD "*) ;;
	*) log "events: the flood was not all denied: $out" ;;
	esac
	printf '{"bench":"events","mode":"%s","rep":%d,"denials":%d,' "$1" "$3" "$FLOOD"
	printf '"flood_s":%s,"settled_s":%s,' "$(((flood_end - start) / 1000))e-6" \
		"$(((settled - start) / 1000))e-6"
	printf '"lines_at_flood_end":%d,"lines":%d,"suppressed":%d,"lost":%d}\n' \
		"$at_end" "${t[0]}" "${t[1]}" "${t[2]}"
	rm -rf "$d"
}

main() {
	local r

	bench_begin
	bench_ns events && bench_cgroup events || { log "cannot make the sandbox"; exit 1; }
	for r in $(seq 0 $((ROUNDS - 1))); do
		log "events: round $r, no rate limit"
		round unlimited 0 "$r" || exit 1
	done
	log "events: default rate limit"
	round rate_limited 10 0 || exit 1
}

main "$@"
