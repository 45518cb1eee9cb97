#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# End to end for `odsbpf agent` and its lifecycle: a policy directory laid
# out as kubelet mounts a ConfigMap, swapped under the agent; a broken
# policy rejected while the old one stays; enforcement that survives
# SIGKILL and SIGTERM, adoption by a restarted agent, --uninstall; signed
# policies and production mode. The workload joins the test's cgroup,
# then enters the test namespace where its destinations are bound. Pins
# go to a bpffs the agent mounts in the test's temp dir.
. "$(dirname "$0")/lib.sh"

POL="$ROOT/tests/policies"
KEY="0123456789abcdef0123456789abcdef-test-key"

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

# expect_within_1s NAME RESULT PROBE-ARGS...: the verdict changes in time.
expect_within_1s() {
	local name=$1 want=$2 got

	shift 2
	for _ in $(seq 10); do
		got=$(workload "$@")
		[ "$got" = "$want" ] && { pass "$name"; return; }
		sleep 0.1
	done
	fail "$name" "still '$got' after 1 s, expected $want"
}

agent_args() {
	echo --cgroup "$CGROUP" --policy-dir "$DIR" --audit-log "$LOG" \
		--pin-root "$SANDBOX_TMP/bpffs" --state-dir "$SANDBOX_TMP/state"
}

start_agent() {
	local n

	n=$(cat "$LOG" 2>/dev/null | grep -c '"action":"agent.start"')
	# shellcheck disable=SC2046
	"$ODSBPF" agent $(agent_args) "$@" >>"$SANDBOX_TMP/agent.out" \
		2>>"$SANDBOX_TMP/agent.err" &
	AGENT_PID=$!
	SANDBOX_PIDS="$SANDBOX_PIDS $AGENT_PID"
	for _ in $(seq 50); do
		[ "$(cat "$LOG" 2>/dev/null | grep -c '"action":"agent.start"')" -gt "${n:-0}" ] &&
			return 0
		sleep 0.1
	done
	return 1
}

count_policy_events() {
	grep -c '"action":"policy\.' "$LOG"
}

wait_policy_event() {
	for _ in $(seq 30); do
		[ "$(count_policy_events)" -gt "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# configmap_swap FILE...: what kubelet does on a ConfigMap update.
configmap_swap() {
	local gen="..$(date +%s%N)" f

	mkdir "$DIR/$gen"
	for f in "$@"; do
		cp "$f" "$DIR/$gen/policy.json"
		[ -f "$f.sig" ] && cp "$f.sig" "$DIR/$gen/policy.json.sig"
	done
	ln -s "$gen" "$DIR/..data_tmp"
	mv -T "$DIR/..data_tmp" "$DIR/..data"
	[ -L "$DIR/policy.json" ] || ln -s ..data/policy.json "$DIR/policy.json"
	[ -L "$DIR/policy.json.sig" ] || ln -s ..data/policy.json.sig "$DIR/policy.json.sig"
}

programs_on_cgroup() {
	bpftool cgroup show "$CGROUP" 2>/dev/null | grep -cE 'connect4|connect6|sendmsg4|sendmsg6'
}

test_configmap_updates() {
	local n

	expect agent_denies_per_its_policy EPERM connect tcp 198.51.100.10 8080
	why=$($CHECK_EVENT "$LOG" status=denied metadata.rule=deny-test-net-2 2>&1) &&
		pass agent_logs_the_denial || fail agent_logs_the_denial "$why"
	grep -q '"rule":"deny-test-net-2"' "$SANDBOX_TMP/agent.out" &&
		pass agent_prints_events_on_stdout ||
		fail agent_prints_events_on_stdout "not in the agent's stdout"

	configmap_swap "$POL/dns-exception.json"
	expect_within_1s configmap_swap_applies_within_a_second ok connect tcp 198.51.100.10 8080
	expect configmap_swap_enforces_the_new_rules EPERM connect tcp 10.0.0.1 9

	n=$(count_policy_events)
	configmap_swap "$POL/broken.json"
	wait_policy_event "$n" && grep -q '"action":"policy.rejected"' "$LOG" &&
		pass broken_configmap_is_rejected ||
		fail broken_configmap_is_rejected "no policy.rejected event"
	expect broken_configmap_keeps_the_last_good_policy EPERM connect tcp 10.0.0.1 9
	grep -q 'rules\[0\].cidrs\[0\]: "10.0.0.0/33": prefix longer than 32' \
		"$SANDBOX_TMP/agent.err" &&
		pass rejection_names_file_path_and_reason ||
		fail rejection_names_file_path_and_reason "$(tail -c 300 "$SANDBOX_TMP/agent.err")"

	configmap_swap "$POL/dns-exception.json"
	n=$(count_policy_events)
	kill -HUP "$AGENT_PID"
	wait_policy_event "$n" && pass sighup_reloads ||
		fail sighup_reloads "no policy event after SIGHUP"
}

test_survives_sigkill_and_restart() {
	local before

	kill -KILL "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	expect enforcement_survives_sigkill EPERM connect tcp 10.0.0.1 9

	start_agent || { fail restarted_agent_starts "$(tail -c 300 "$SANDBOX_TMP/agent.err")"; return; }
	grep -q '"action":"agent.adopt"' "$LOG" && pass restarted_agent_adopts_the_pins ||
		fail restarted_agent_adopts_the_pins "no agent.adopt event"
	[ "$(programs_on_cgroup)" = 4 ] && pass one_program_per_hook_after_restart ||
		fail one_program_per_hook_after_restart "bpftool shows $(programs_on_cgroup) programs, expected 4"
	if "$ODSBPF" agent --uninstall --pin-root "$SANDBOX_TMP/bpffs" 2>"$SANDBOX_TMP/un.err"; then
		fail uninstall_is_refused_while_an_agent_runs "it ran"
	elif ! grep -q "an agent is running" "$SANDBOX_TMP/un.err" || [ "$(programs_on_cgroup)" != 4 ]; then
		fail uninstall_is_refused_while_an_agent_runs "$(cat "$SANDBOX_TMP/un.err"); $(programs_on_cgroup) programs"
	else
		pass uninstall_is_refused_while_an_agent_runs
	fi
	before=$(grep -c '"action":"egress' "$LOG")
	workload connect tcp 10.0.0.1 9 >/dev/null
	sleep 0.3
	[ "$(grep -c '"action":"egress' "$LOG")" -gt "$before" ] &&
		pass events_flow_after_restart || fail events_flow_after_restart "no new event"
}

# status reads the pins and the agent's state: all hooks, the policy, counters.
test_status() {
	local out hash why

	out="$SANDBOX_TMP/status.json"
	"$ODSBPF" status --pin-root "$SANDBOX_TMP/bpffs" \
		--state-dir "$SANDBOX_TMP/state" -o json >"$out" 2>&1
	hash=$(grep '"action":"policy.load"' "$LOG" | tail -n 1 |
		python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["metadata"]["policy_hash"])')
	why=$(python3 - "$out" "$hash" 2>&1 <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
want = sys.argv[2]
socket_hooks = [h for h in st["hooks"] if h["hook"] != "cgroup_skb_egress"]
assert all(h["attached"] for h in socket_hooks), f"hooks: {socket_hooks}"
assert st["agent"]["running"], "agent not running"
assert st["agent"]["policy"]["hash"] == want, f"hash {st['agent']['policy']['hash']} != {want}"
assert st["counters"]["denied"] > 0, f"counters: {st['counters']}"
assert st["maps"]["policy_ipv4"]["entries"] > 0, f"maps: {st['maps']}"
assert st["agent"]["kernel_features"]["ringbuf"]["ok"], "ringbuf not probed"
PY
) && pass status_shows_hooks_policy_and_counters ||
		fail status_shows_hooks_policy_and_counters "$why"
}

test_stop_and_uninstall() {
	local rc

	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID"
	rc=$?
	[ "$rc" = 0 ] && pass agent_stops_cleanly_on_sigterm ||
		fail agent_stops_cleanly_on_sigterm "exit status $rc"
	expect enforcement_survives_sigterm EPERM connect tcp 10.0.0.1 9
	"$ODSBPF" agent --uninstall --pin-root "$SANDBOX_TMP/bpffs" \
		--state-dir "$SANDBOX_TMP/state" 2>/dev/null
	expect uninstall_removes_enforcement ok connect tcp 10.0.0.1 9
	if "$ODSBPF" agent --uninstall --pin-root "$SANDBOX_TMP/bpffs" 2>/dev/null; then
		fail uninstall_with_nothing_pinned_is_an_error "exit status 0"
	else
		pass uninstall_with_nothing_pinned_is_an_error
	fi
	[ "$(programs_on_cgroup)" = 0 ] && pass uninstall_detaches_every_program ||
		fail uninstall_detaches_every_program "bpftool shows $(programs_on_cgroup)"
}

# An upgrade across a layout change: the older layout's pins are retired.
test_upgrade_retires_an_older_layout() {
	local pins="$SANDBOX_TMP/bpffs" cur

	start_agent || { fail "${FUNCNAME[0]}" "agent did not start"; return; }
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
	cur=$(basename "$(ls -d "$pins"/v[0-9]*)")
	mv "$pins/$cur" "$pins/v1${cur#v}"	# stands for a layout older than this one
	start_agent || { fail "${FUNCNAME[0]}" "agent did not restart"; return; }
	if [ -e "$pins/v1${cur#v}" ]; then
		fail "${FUNCNAME[0]}" "older layout still pinned: $(ls "$pins")"
	elif [ "$(programs_on_cgroup)" != 4 ]; then
		fail "${FUNCNAME[0]}" "bpftool shows $(programs_on_cgroup) programs, expected 4"
	else
		pass "${FUNCNAME[0]}"
	fi
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
	"$ODSBPF" agent --uninstall --pin-root "$pins" --state-dir "$SANDBOX_TMP/state" 2>/dev/null
}

# signed_case NAME WANT(applied|rejected) REASON-GREP: after a swap.
signed_case() {
	local name=$1 want=$2 reason=$3 n=$4

	if ! wait_policy_event "$n"; then
		fail "$name" "no policy event"
	elif [ "$want" = rejected ] &&
		! tail -n 1 "$LOG" | grep -q '"action":"policy.rejected".*'"$reason"; then
		fail "$name" "last line: $(tail -n 1 "$LOG" | head -c 300)"
	elif [ "$want" = applied ] && ! tail -n 1 "$LOG" | grep -q '"action":"policy.load"'; then
		fail "$name" "last line: $(tail -n 1 "$LOG" | head -c 300)"
	else
		pass "$name"
	fi
}

test_signed_policies() {
	local t="$SANDBOX_TMP/sign" n

	mkdir -p "$t"
	cp "$POL/deny-public.json" "$t/good.json"
	ODSBPF_POLICY_KEY=$KEY "$ODSBPF" policy sign "$t/good.json" >/dev/null
	cp "$POL/dns-exception.json" "$t/unsigned.json"
	cp "$POL/dns-exception.json" "$t/wrongkey.json"
	ODSBPF_POLICY_KEY="$KEY-other" "$ODSBPF" policy sign "$t/wrongkey.json" >/dev/null
	cp "$t/good.json" "$t/tampered.json" && cp "$t/good.json.sig" "$t/tampered.json.sig"
	sed -i 's/198.51.100.0/198.51.101.0/' "$t/tampered.json"

	configmap_swap "$t/good.json"
	ODSBPF_POLICY_KEY=$KEY start_agent --require-signed ||
		{ fail signed_agent_starts "$(tail -c 300 "$SANDBOX_TMP/agent.err")"; return; }
	tail -n 3 "$LOG" | grep -q "\"source\":\"$DIR\"" &&
		pass signed_policy_is_accepted || fail signed_policy_is_accepted "$(tail -n 3 "$LOG")"

	n=$(count_policy_events); rm -f "$DIR/..data/policy.json.sig"
	configmap_swap "$t/unsigned.json"; rm -f "$DIR/..data/policy.json.sig"
	kill -HUP "$AGENT_PID"
	signed_case unsigned_policy_is_rejected rejected unsigned "$n"
	n=$(count_policy_events); configmap_swap "$t/wrongkey.json"
	signed_case wrong_key_is_rejected rejected "signature does not match" "$n"
	n=$(count_policy_events); configmap_swap "$t/tampered.json"
	signed_case changed_byte_is_rejected rejected "signature does not match" "$n"
	expect signed_agent_keeps_the_signed_policy EPERM connect tcp 198.51.100.10 8080
	kill -TERM "$AGENT_PID"; wait "$AGENT_PID"
}

test_production_refusals() {
	local err rc

	err=$(ENVIRONMENT=production ODSBPF_POLICY_KEY=short "$ODSBPF" agent $(agent_args) 2>&1)
	rc=$?
	[ "$rc" != 0 ] && grep -q "at least 32 are required" <<<"$err" &&
		pass production_refuses_a_short_key ||
		fail production_refuses_a_short_key "rc $rc: $err"

	cp "$POL/audit-public.json" "$SANDBOX_TMP/audit.json"
	ODSBPF_POLICY_KEY=$KEY "$ODSBPF" policy sign "$SANDBOX_TMP/audit.json" >/dev/null
	configmap_swap "$SANDBOX_TMP/audit.json"
	err=$(ENVIRONMENT=production ODSBPF_POLICY_KEY=$KEY timeout 10 "$ODSBPF" agent \
		$(agent_args) 2>&1)
	rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 124 ] && grep -q 'mode "audit" is not allowed' <<<"$err" &&
		pass production_refuses_audit_mode ||
		fail production_refuses_audit_mode "rc $rc: $(head -c 300 <<<"$err")"

	err=$(ENVIRONMENT=production ODSBPF_POLICY_KEY=$KEY "$ODSBPF" agent $(agent_args) \
		--no-audit-log 2>&1)
	rc=$?
	[ "$rc" != 0 ] && grep -q "requires an audit log" <<<"$err" &&
		pass production_refuses_no_audit_log ||
		fail production_refuses_no_audit_log "rc $rc: $err"
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
	DIR="$SANDBOX_TMP/configmap" LOG="$SANDBOX_TMP/audit.log"
	mkdir "$DIR" && configmap_swap "$POL/deny-public.json"

	start_agent || { fail agent_starts "no agent.start line: $(head -c 400 "$SANDBOX_TMP/agent.err")"; return; }
	pass agent_starts
	test_configmap_updates
	test_survives_sigkill_and_restart
	test_status
	test_stop_and_uninstall
	test_upgrade_retires_an_older_layout
	test_signed_policies
	test_production_refusals
}

main
