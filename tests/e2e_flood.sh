#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# Floods, end to end: one pod makes a million denied connects in a
# bounded loop. Every one must fail with EPERM; the log must hold few
# lines, and their "suppressed" counts plus the lines themselves must
# add up to the attempts. Then the ring buffer is made to overflow (the
# agent stopped, no rate limit): an events.lost line must say so, and the
# sum must still hold. Figures go to stderr.
. "$(dirname "$0")/fakenode.sh"

FLOOD=1000000
RATE=10 BURST=20

# tally CGROUP_ID: "LINES SUPPRESSED ALL": denial lines of that cgroup,
# the sum of their suppressed counts, and every egress line.
tally() {
	python3 - "$LOG" "$1" <<'EOF'
import json, sys
lines = supp = every = 0
for raw in open(sys.argv[1], encoding="utf-8"):
    ev = json.loads(raw)
    m = ev.get("metadata", {})
    if not ev["action"].startswith("egress.") or str(m.get("cgroup_id")) != sys.argv[2]:
        continue
    every += 1
    lines += ev["action"] != "egress.suppressed"
    supp += m.get("suppressed", 0)
print(lines, supp, every)
EOF
}

# The sum is complete once nothing is held back: wait for it.
settled() {
	local t

	read -r -a t <<<"$(tally "$1")"
	[ $((t[0] + t[1])) -ge "$2" ]
}

lost_total() {
	grep '"action":"events.lost"' "$LOG" | python3 -c '
import json, sys
print(sum(json.loads(l)["metadata"]["lost"] for l in sys.stdin))'
}

test_flood() {
	local ct id out start secs t bound

	fake_pod shop flood-0 3f1e2d4c-5555-4a2b-9c3d-000000000005 || {
		fail flood_setup "cannot make the pod"; return; }
	ct=$POD_CT
	id=$(stat -c %i "$CG/$ct")
	start=$(date +%s%N)
	out=$(in_cgroup "$ct" "$PROBE" flood udp "$DENIED" 53 "$FLOOD")
	secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	[ "$out" = "attempts=$FLOOD eperm=$FLOOD other=0
result=EPERM" ] && pass flood_every_connect_fails_with_eperm ||
		fail flood_every_connect_fails_with_eperm "probe said: $out"

	wait_for 50 settled "$id" "$FLOOD"
	read -r -a t <<<"$(tally "$id")"
	[ $((t[0] + t[1])) = "$FLOOD" ] &&
		pass flood_lines_plus_suppressed_equal_the_attempts ||
		fail flood_lines_plus_suppressed_equal_the_attempts "${t[0]} lines + ${t[1]} suppressed != $FLOOD"
	# burst, then RATE a second, then one line for what was left held back
	bound=$(awk -v s="$secs" 'BEGIN { printf "%d", '"$BURST + $RATE"' * (s + 2) + 1 }')
	[ "${t[2]}" -le "$bound" ] && pass flood_log_holds_a_bounded_number_of_lines ||
		fail flood_log_holds_a_bounded_number_of_lines "${t[2]} lines for a ${secs}s flood; bound $bound"
	$CHECK_EVENT "$LOG" metadata.pod=flood-0 metadata.namespace=shop \
		action=egress.suppressed >/dev/null &&
		pass flood_held_back_count_is_told_when_the_pod_goes_quiet ||
		fail flood_held_back_count_is_told_when_the_pod_goes_quiet "no egress.suppressed line for the pod"
	echo "flood: $FLOOD denied connects in ${secs}s; ${t[2]} log lines" \
		"(${t[0]} events, $((t[2] - t[0])) egress.suppressed), suppressed ${t[1]}" >&2
}

test_ring_overrun() {
	local ct id out t lost n=30000

	fake_pod shop burst-0 3f1e2d4c-6666-4a2b-9c3d-000000000006 || {
		fail overrun_setup "cannot make the pod"; return; }
	ct=$POD_CT
	id=$(stat -c %i "$CG/$ct")
	# Stopped, the agent reads nothing: 30000 events cannot fit in 1 MiB.
	kill -STOP "$AGENT_PID"
	out=$(in_cgroup "$ct" "$PROBE" flood tcp "$DENIED" 8080 "$n")
	kill -CONT "$AGENT_PID"
	[ "$out" = "attempts=$n eperm=$n other=0
result=EPERM" ] && pass overrun_every_connect_still_fails_with_eperm ||
		fail overrun_every_connect_still_fails_with_eperm "probe said: $out"

	wait_for 50 settled "$id" "$n"
	wait_for 30 grep -q '"action":"events.lost"' "$LOG" &&
		pass overrun_is_reported_by_an_events_lost_line ||
		fail overrun_is_reported_by_an_events_lost_line "no events.lost line"
	read -r -a t <<<"$(tally "$id")"
	lost=$(lost_total)
	[ $((t[0] + t[1])) = "$n" ] && [ "$lost" = "${t[1]}" ] && [ "$lost" -gt 0 ] &&
		pass overrun_loses_nothing_silently ||
		fail overrun_loses_nothing_silently "${t[0]} lines + ${t[1]} suppressed of $n; events.lost said $lost"
	echo "overrun: $n denials with the agent stopped: ${t[0]} events written, $lost lost and counted" >&2
}

main() {
	local why

	why=$(cannot_enforce_reason)
	if [ -n "$why" ]; then
		skip e2e_flood "$why"
		return 0
	fi
	node_up || { fail e2e_flood_setup "cannot make the test namespace and cgroup"; return; }

	start_agent --rate-limit "$RATE" --rate-burst "$BURST" ||
		{ fail e2e_flood_agent_starts "$(head -c 600 "$SANDBOX_TMP/agent.err")"; return; }
	test_flood
	stop_agent

	start_agent --rate-limit 0 ||
		{ fail e2e_flood_agent_starts "$(head -c 600 "$SANDBOX_TMP/agent.err")"; return; }
	test_ring_overrun
	stop_agent
}

main
