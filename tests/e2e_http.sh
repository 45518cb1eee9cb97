#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# The agent's HTTP endpoints on a test cgroup: /healthz while the agent
# waits to start; /readyz 503 before attach, after an attach failure and
# on the built-in fallback, 200 once the configured policy is in force and
# attached; /metrics in Prometheus text format, checked by promtool on a
# scrape taken while the agent enforces, counting what it did. Every
# request goes to 127.0.0.1, on a port free when the test starts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools.sh"

POL="$ROOT/tests/policies"

url() {
	echo "http://127.0.0.1:$PORT$1"
}

status_of() {
	curl -s -o /dev/null -w '%{http_code}' "$(url "$1")"
}

# wait_status PATH CODE: up to 10 s for PATH to answer CODE.
wait_status() {
	for _ in $(seq 100); do
		[ "$(status_of "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# The value of one sample of /metrics, such as 'odsbpf_ready' or
# 'odsbpf_verdicts_total{layer="socket",verdict="denied"}'.
metric() {
	curl -s "$(url /metrics)" | awk -v m="$1" '$1 == m { print $2 }'
}

# wait_metric SAMPLE MIN: up to 10 s for a sample of /metrics to reach MIN.
wait_metric() {
	for _ in $(seq 100); do
		[ "$(metric "$1")" -ge "$2" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

workload() {
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CGROUP" \
		nsenter --net="/run/netns/$SANDBOX_NS" "$PROBE" "$@" 2>&1 |
		sed -n 's/^result=//p'
}

start_agent() {
	"$ODSBPF" agent --cgroup "$CGROUP" --policy-dir "$DIR" --listen "127.0.0.1:$PORT" \
		--audit-log "$SANDBOX_TMP/audit.log" --pin-root "$PINS" \
		--state-dir "$SANDBOX_TMP/state" --pods-log-dir "$SANDBOX_TMP/pods" \
		>>"$SANDBOX_TMP/agent.out" 2>>"$SANDBOX_TMP/agent.err" &
	AGENT_PID=$!
	SANDBOX_PIDS="$SANDBOX_PIDS $AGENT_PID"
}

stop_agent() {
	kill -TERM "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
}

use_policy() {
	cp "$1" "$DIR/policy.json"
}

# The agent waits for the pin lock that another holds: it is up, not
# attached, and says so.
test_before_attach() {
	local pin_dir

	pin_dir="$PINS/v$(sed -n 's/^#define ODSBPF_LAYOUT_VERSION\s*//p' "$ROOT/include/odsbpf.h")"
	mkdir -p "$pin_dir"
	flock "$pin_dir" sleep 3 &
	SANDBOX_PIDS="$SANDBOX_PIDS $!"
	sleep 0.2
	start_agent
	wait_status /healthz 200 && pass healthz_answers_while_the_agent_waits ||
		fail healthz_answers_while_the_agent_waits "/healthz: $(status_of /healthz)"
	[ "$(status_of /readyz)" = 503 ] && curl -s "$(url /readyz)" | grep -q 'not attached' &&
		pass readyz_is_503_before_attach ||
		fail readyz_is_503_before_attach "/readyz: $(status_of /readyz) $(curl -s "$(url /readyz)")"
	wait_status /readyz 200 && pass readyz_is_200_once_enforcing ||
		fail readyz_is_200_once_enforcing "/readyz: $(curl -s "$(url /readyz)")"
}

test_metrics() {
	local got why denied="odsbpf_rule_verdicts_total{layer=\"socket\",rule=\"deny-test-net-2\",verdict=\"denied\"}"

	got=$(workload connect tcp 198.51.100.10 8080)
	[ "$got" = EPERM ] || fail metrics_setup "the workload got '$got', expected EPERM"
	wait_metric "$denied" 1	# the metrics are refreshed every second
	curl -s "$(url /metrics)" >"$SANDBOX_TMP/metrics.txt"
	why=$("$PROMTOOL" check metrics <"$SANDBOX_TMP/metrics.txt" 2>&1) &&
		pass metrics_pass_promtool_check_while_enforcing ||
		fail metrics_pass_promtool_check_while_enforcing "$why"
	why=""
	[ "$(metric "$denied")" = 1 ] || why="$why $denied is '$(metric "$denied")';"
	[ "$(metric 'odsbpf_verdicts_total{layer="socket",verdict="denied"}')" -ge 1 ] 2>/dev/null ||
		why="$why no socket denial in odsbpf_verdicts_total;"
	[ "$(metric odsbpf_policy_loads_total)" = 1 ] || why="$why loads '$(metric odsbpf_policy_loads_total)';"
	[ "$(metric odsbpf_policy_generation)" -ge 1 ] 2>/dev/null || why="$why no generation;"
	[ "$(metric 'odsbpf_map_entries{map="policy_ipv4"}')" -ge 1 ] 2>/dev/null ||
		why="$why no IPv4 trie entries;"
	[ "$(metric odsbpf_ready)" = 1 ] || why="$why odsbpf_ready '$(metric odsbpf_ready)';"
	[ -z "$why" ] && pass metrics_count_verdicts_by_layer_and_rule ||
		fail metrics_count_verdicts_by_layer_and_rule "$why"

	use_policy "$POL/broken.json"
	kill -HUP "$AGENT_PID"
	wait_metric odsbpf_policy_rejects_total 1
	[ "$(metric odsbpf_policy_rejects_total)" = 1 ] &&
		[ "$(metric odsbpf_policy_last_reload_success)" = 0 ] &&
		[ "$(status_of /readyz)" = 200 ] &&
		pass metrics_count_a_rejected_policy_and_stay_ready ||
		fail metrics_count_a_rejected_policy_and_stay_ready "rejects '$(metric odsbpf_policy_rejects_total)', /readyz $(status_of /readyz)"
	use_policy "$POL/deny-public.json"
	stop_agent
}

test_requests() {
	[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$(url /metrics)")" = 405 ] &&
		[ "$(status_of /nothing)" = 404 ] &&
		pass http_refuses_other_methods_and_paths ||
		fail http_refuses_other_methods_and_paths "POST answered $(curl -s -o /dev/null -w '%{http_code}' -X POST "$(url /metrics)")"
}

# A cgroup/connect4 program attached without BPF_F_ALLOW_MULTI: the
# kernel then refuses every other program on that hook, odsbpf's links
# included, until it is detached.
blocker_attach() {
	cat >"$SANDBOX_TMP/blocker.bpf.c" <<'EOF'
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("cgroup/connect4")
int blocker(struct bpf_sock_addr *ctx)
{
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
EOF
	clang -O2 -g -target bpf -I"$ROOT/vmlinux" -c "$SANDBOX_TMP/blocker.bpf.c" \
		-o "$SANDBOX_TMP/blocker.bpf.o" &&
		bpftool prog load "$SANDBOX_TMP/blocker.bpf.o" "$SANDBOX_TMP/bpffs/blocker" \
			type cgroup/connect4 &&
		bpftool cgroup attach "$CGROUP" connect4 pinned "$SANDBOX_TMP/bpffs/blocker"
}

blocker_detach() {
	bpftool cgroup detach "$CGROUP" connect4 pinned "$SANDBOX_TMP/bpffs/blocker" &&
		rm -f "$SANDBOX_TMP/bpffs/blocker"
}

test_attach_failure() {
	"$ODSBPF" agent --uninstall --pin-root "$PINS" --state-dir "$SANDBOX_TMP/state" 2>/dev/null
	blocker_attach 2>"$SANDBOX_TMP/blocker.err" ||
		{ fail attach_failure_setup "$(tail -c 300 "$SANDBOX_TMP/blocker.err")"; return; }
	start_agent
	wait_metric odsbpf_attach_errors_total 1 &&
		[ "$(status_of /readyz)" = 503 ] && [ "$(status_of /healthz)" = 200 ] &&
		curl -s "$(url /readyz)" | grep -q 'not attached after' &&
		pass readyz_is_503_after_an_attach_failure ||
		fail readyz_is_503_after_an_attach_failure "/readyz $(status_of /readyz): $(curl -s "$(url /readyz)"); errors '$(metric odsbpf_attach_errors_total)'"
	blocker_detach
	wait_status /readyz 200 && [ "$(workload connect tcp 198.51.100.10 8080)" = EPERM ] &&
		pass attach_is_retried_until_it_succeeds ||
		fail attach_is_retried_until_it_succeeds "/readyz: $(curl -s "$(url /readyz)")"
	stop_agent
}

# A restart onto a policy that does not load (a rollout of a broken
# ConfigMap): the policy pinned by the agent before stays in force, and
# the agent is not ready, which stops the rollout at this node.
test_restart_onto_a_broken_policy() {
	local got

	use_policy "$POL/broken.json"
	start_agent
	wait_metric odsbpf_policy_rejects_total 1
	wait_metric odsbpf_hooks_attached 1
	got=$(workload connect tcp 198.51.100.10 8080)
	[ "$(status_of /readyz)" = 503 ] && [ "$got" = EPERM ] &&
		pass restart_onto_a_broken_policy_keeps_the_pinned_one ||
		fail restart_onto_a_broken_policy_keeps_the_pinned_one "/readyz $(status_of /readyz), workload got '$got'"
	stop_agent
	use_policy "$POL/deny-public.json"
}

# No pins and a policy directory that does not load: the node is
# protected by the built-in default, but that is not what was asked.
test_builtin_fallback() {
	"$ODSBPF" agent --uninstall --pin-root "$PINS" --state-dir "$SANDBOX_TMP/state" 2>/dev/null
	use_policy "$POL/broken.json"
	start_agent
	wait_metric odsbpf_hooks_attached 1
	[ "$(status_of /readyz)" = 503 ] && [ "$(metric odsbpf_hooks_attached)" -ge 1 ] 2>/dev/null &&
		pass readyz_is_503_on_the_builtin_fallback ||
		fail readyz_is_503_on_the_builtin_fallback "/readyz $(status_of /readyz): $(curl -s "$(url /readyz)")"
	use_policy "$POL/deny-public.json"
	kill -HUP "$AGENT_PID"
	wait_status /readyz 200 && pass readyz_is_200_once_the_policy_loads ||
		fail readyz_is_200_once_the_policy_loads "/readyz: $(curl -s "$(url /readyz)")"
}

# While that agent holds the pin lock, others wait for it, serving
# /healthz on IPv6 loopback, written either way.
test_listen_ipv6() {
	local addr port pid why=""

	for addr in "[::1]" "::1"; do
		port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); print(s.getsockname()[1])')
		"$ODSBPF" agent --cgroup "$CGROUP" --listen "$addr:$port" --no-audit-log \
			--no-agent-log --pin-root "$PINS" --state-dir "$SANDBOX_TMP/other" \
			2>/dev/null >/dev/null &
		pid=$!
		SANDBOX_PIDS="$SANDBOX_PIDS $pid"
		for _ in $(seq 50); do
			[ "$(curl -s -g -o /dev/null -w '%{http_code}' "http://[::1]:$port/healthz")" = 200 ] &&
				break
			sleep 0.1
		done
		[ "$(curl -s -g -o /dev/null -w '%{http_code}' "http://[::1]:$port/healthz")" = 200 ] ||
			why="$why --listen $addr:$port does not answer;"
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	[ -z "$why" ] && pass listen_takes_ipv6_addresses || fail listen_takes_ipv6_addresses "$why"
}

# While that agent holds the port: an address given must be served.
test_listen_errors() {
	local err rc

	err=$(timeout 10 "$ODSBPF" agent --cgroup "$CGROUP" --listen "127.0.0.1:$PORT" \
		--no-audit-log --no-agent-log --pin-root "$SANDBOX_TMP/bpffs/other" \
		--state-dir "$SANDBOX_TMP/other" 2>&1)
	rc=$?
	[ "$rc" = 3 ] && grep -q "cannot serve HTTP on 127.0.0.1:$PORT" <<<"$err" &&
		pass listen_given_that_cannot_be_served_is_an_error ||
		fail listen_given_that_cannot_be_served_is_an_error "rc $rc: $(head -c 300 <<<"$err")"
	err=$(timeout 10 "$ODSBPF" agent --cgroup "$CGROUP" --listen nowhere 2>&1)
	rc=$?
	[ "$rc" = 2 ] && grep -q -- '--listen "nowhere"' <<<"$err" &&
		pass listen_bad_address_is_a_usage_error ||
		fail listen_bad_address_is_a_usage_error "rc $rc: $(head -c 300 <<<"$err")"
	stop_agent
}

main() {
	local why

	why=$(cannot_enforce_reason)
	if [ -n "$why" ]; then
		skip e2e_http "$why"
		return 0
	fi
	PROMTOOL=$(tool_promtool 2>&1) || { fail e2e_http_setup "$PROMTOOL"; return; }
	sandbox_up || { fail e2e_http_setup "cannot make the test namespace"; return; }
	sandbox_addr 198.51.100.10
	CGROUP=$(sandbox_cgroup http) || { fail e2e_http_setup "cannot make a cgroup"; return; }
	DIR="$SANDBOX_TMP/policy" PINS="$SANDBOX_TMP/bpffs/odsbpf"
	mkdir -p "$DIR" "$SANDBOX_TMP/bpffs" && mount -t bpf bpf "$SANDBOX_TMP/bpffs"
	use_policy "$POL/deny-public.json"
	PORT=$(free_port)

	test_before_attach
	test_requests
	test_metrics
	test_attach_failure
	test_restart_onto_a_broken_policy
	test_builtin_fallback
	test_listen_ipv6
	test_listen_errors
	"$ODSBPF" agent --uninstall --pin-root "$PINS" --state-dir "$SANDBOX_TMP/state" 2>/dev/null
}

main
