#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# End to end for `odsbpf agent`: enforcing on a cgroup this script made,
# reloading on SIGHUP, keeping the policy in force when a new one is
# broken, and stopping on SIGTERM. The workload joins the cgroup first,
# then enters the test namespace where its destinations are bound.
. "$(dirname "$0")/lib.sh"

POL="$ROOT/tests/policies"

# workload PROBE-ARGS...: run the probe in the test cgroup and namespace.
workload() {
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CGROUP" \
		nsenter --net="/run/netns/$SANDBOX_NS" "$PROBE" "$@" 2>&1 |
		sed -n 's/^result=//p'
}

# expect NAME RESULT PROBE-ARGS...
expect() {
	local name=$1 want=$2 got

	shift 2
	got=$(workload "$@")
	[ "$got" = "$want" ] && pass "$name" ||
		fail "$name" "probe got '$got', expected $want"
}

expect_event() {
	local name=$1 why

	shift
	why=$($CHECK_EVENT "$LOG" "$@" 2>&1) && pass "$name" || fail "$name" "$why"
}

reload_and_wait() {
	local n

	n=$(grep -c '"action":"policy\.' "$LOG")
	kill -HUP "$AGENT_PID"
	for _ in $(seq 50); do
		[ "$(grep -c '"action":"policy\.' "$LOG")" -gt "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

start_agent() {
	"$ODSBPF" agent --cgroup "$CGROUP" --policy-dir "$DIR" --audit-log "$LOG" \
		>"$SANDBOX_TMP/agent.out" 2>"$SANDBOX_TMP/agent.err" &
	AGENT_PID=$!
	SANDBOX_PIDS="$SANDBOX_PIDS $AGENT_PID"
	wait_for_line "$LOG" '"action":"agent.start"'
}

test_stop_detaches() {
	local rc

	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	rc=$?
	[ "$rc" = 0 ] || { fail "${FUNCNAME[0]}" "agent exited $rc"; return; }
	expect agent_sigterm_detaches_its_programs ok connect tcp 10.0.0.1 9
}

main() {
	local why

	why=$(cannot_enforce_reason)
	if [ -n "$why" ]; then
		skip e2e_agent "$why"
		return 0
	fi
	sandbox_up || { fail e2e_agent_setup "cannot make the test namespace"; return; }
	sandbox_addr 10.0.0.1 198.51.100.10
	sandbox_start "$PROBE" listen 198.51.100.10 8080
	sandbox_start "$PROBE" listen 10.0.0.1 9
	CGROUP=$(sandbox_cgroup agent) || { fail e2e_agent_setup "cannot make a cgroup"; return; }
	DIR="$SANDBOX_TMP/policy" LOG="$SANDBOX_TMP/audit.log"
	mkdir "$DIR" && cp "$POL/deny-public.json" "$DIR/"

	start_agent || { fail agent_starts "no agent.start line: $(head -c 400 "$SANDBOX_TMP/agent.err")"; return; }
	pass agent_starts
	expect agent_denies_per_its_policy EPERM connect tcp 198.51.100.10 8080
	expect_event agent_logs_the_denial status=denied metadata.rule=deny-test-net-2
	grep -q '"rule":"deny-test-net-2"' "$SANDBOX_TMP/agent.out" &&
		pass agent_prints_events_on_stdout ||
		fail agent_prints_events_on_stdout "not in the agent's stdout"

	rm "$DIR/deny-public.json" && cp "$POL/dns-exception.json" "$DIR/"
	reload_and_wait || fail agent_reloads_on_sighup "no policy event after SIGHUP"
	expect agent_reload_applies_the_new_policy ok connect tcp 198.51.100.10 8080
	expect agent_reload_enforces_the_new_rules EPERM connect tcp 10.0.0.1 9

	cp "$POL/broken.json" "$DIR/"
	reload_and_wait || fail agent_reports_a_rejected_policy "no policy event"
	grep -q '"action":"policy.rejected"' "$LOG" &&
		pass agent_reports_a_rejected_policy ||
		fail agent_reports_a_rejected_policy "no policy.rejected line"
	expect agent_keeps_the_last_good_policy EPERM connect tcp 10.0.0.1 9
	grep -q 'broken.json: rules\[0\].cidrs\[0\]: "10.0.0.0/33": prefix longer than 32' \
		"$SANDBOX_TMP/agent.err" &&
		pass agent_names_file_and_path_of_the_error ||
		fail agent_names_file_and_path_of_the_error "$(head -c 400 "$SANDBOX_TMP/agent.err")"

	test_stop_detaches
}

main
