#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# End to end at the socket layer: the real programs, loaded by `odsbpf
# exec`, judge real syscalls made inside a namespace this script made,
# where every destination is bound locally. Nothing can leave the machine.
. "$(dirname "$0")/lib.sh"

POL="$ROOT/tests/policies"
DEFAULT="$ROOT/policies/default.json"

# Addresses bound in the namespace; loopback 127.0.0.0/8 is on lo already.
BOUND="169.254.169.254 169.254.170.2 10.0.0.1 10.96.0.10 172.16.0.1
192.168.1.1 100.64.0.1 198.51.100.10 203.0.113.7
fd00:ec2::254 fd12::1 2001:db8::10"

# name | policy | probe arguments | result | rule ("-": no event) | hook
CASES="
tcp_connect_to_metadata_is_denied|$DEFAULT|connect tcp 169.254.169.254 80|EPERM|deny-cloud-metadata|connect4
udp_connect_to_private_is_denied|$DEFAULT|connect udp 10.0.0.1 53|EPERM|deny-rfc1918|connect4
unconnected_udp_sendto_is_denied|$DEFAULT|sendto udp 192.168.1.1 53|EPERM|deny-rfc1918|sendmsg4
tcp_fast_open_is_denied|$DEFAULT|fastopen 169.254.169.254 80|EPERM|deny-cloud-metadata|connect4
ecs_task_metadata_is_denied|$DEFAULT|connect tcp 169.254.170.2 80|EPERM|deny-aws-ecs-task-metadata|connect4
cgnat_range_is_denied|$DEFAULT|connect tcp 100.64.0.1 80|EPERM|deny-rfc6598|connect4
rfc1918_172_is_denied|$DEFAULT|connect tcp 172.16.0.1 443|EPERM|deny-rfc1918|connect4
v4_mapped_connect_via_ipv6_socket_is_denied|$DEFAULT|connect tcp ::ffff:169.254.169.254 80|EPERM|deny-cloud-metadata|connect6
v4_mapped_sendto_via_ipv6_socket_is_denied|$DEFAULT|sendto udp ::ffff:10.0.0.1 53|EPERM|deny-rfc1918|sendmsg4
nat64_metadata_is_judged_as_ipv4|$DEFAULT|connect tcp 64:ff9b::a9fe:a9fe 80|EPERM|deny-cloud-metadata|connect6
local_use_nat64_prefix_is_denied|$DEFAULT|connect tcp 64:ff9b:1::a9fe:a9fe 80|EPERM|deny-nat64-local-use|connect6
unspecified_ipv4_is_judged_as_loopback|$DEFAULT|connect tcp 0.0.0.0 80|EPERM|deny-loopback|connect4
unspecified_ipv6_is_judged_as_loopback|$DEFAULT|connect tcp :: 80|EPERM|deny-loopback|connect6
loopback_127_0_0_1_is_denied|$DEFAULT|connect tcp 127.0.0.1 80|EPERM|deny-loopback|connect4
loopback_127_1_2_3_is_denied|$DEFAULT|connect udp 127.1.2.3 53|EPERM|deny-loopback|connect4
loopback_127_255_255_254_is_denied|$DEFAULT|sendto udp 127.255.255.254 53|EPERM|deny-loopback|sendmsg4
ipv6_loopback_is_denied|$DEFAULT|connect tcp ::1 80|EPERM|deny-loopback|connect6
ipv6_metadata_is_denied|$DEFAULT|connect tcp fd00:ec2::254 80|EPERM|deny-aws-imds-ipv6|connect6
ipv6_ula_sendto_is_denied|$DEFAULT|sendto udp fd12::1 53|EPERM|deny-ula|sendmsg6
public_test_address_still_works|$DEFAULT|connect tcp 198.51.100.10 8080|ok|-|-
public_ipv6_test_address_still_works|$DEFAULT|sendto udp 2001:db8::10 53|ok|-|-
port_exception_allows_cluster_dns|$POL/dns-exception.json|sendto udp 10.96.0.10 53|ok|-|-
port_exception_is_only_that_port|$POL/dns-exception.json|sendto udp 10.96.0.10 54|EPERM|deny-private|sendmsg4
port_exception_is_only_those_protocols|$POL/dns-exception.json|connect tcp 10.96.0.10 80|EPERM|deny-private|connect4
default_deny_blocks_unlisted|$POL/default-deny.json|connect tcp 198.51.100.10 8080|EPERM|defaultAction|connect4
default_deny_allows_listed|$POL/default-deny.json|sendto udp 203.0.113.7 53|ok|-|-
"

# run_case NAME POLICY RESULT RULE HOOK PROBE-ARGS...
run_case() {
	local name=$1 policy=$2 want=$3 rule=$4 hook=$5 out got why
	local log="$SANDBOX_TMP/$name.log" err="$SANDBOX_TMP/$name.err"
	shift 5

	out=$(in_ns "$ODSBPF" exec --policy "$policy" --audit-log "$log" -- \
		"$PROBE" "$@" 2>"$err")
	got=$(sed -n 's/^result=//p' <<<"$out")
	if [ "$got" != "$want" ]; then
		fail "$name" "probe got '$got', expected $want; stderr: $(head -c 400 "$err")"
		return
	fi
	if [ "$rule" = "-" ]; then
		why=$($CHECK_EVENT "$log" count=0 2>&1) || { fail "$name" "$why"; return; }
		pass "$name"
		return
	fi
	# The event is on stderr and in the audit log, the same line.
	for f in "$err" "$log"; do
		why=$($CHECK_EVENT "$f" --last status=denied metadata.rule="$rule" \
			metadata.hook="$hook" metadata.layer=socket \
			metadata.dst_port="${!#}" metadata.comm=probe 2>&1) ||
			{ fail "$name" "$(basename "$f"): $why"; return; }
	done
	pass "$name"
}

run_table() {
	local name policy args want rule hook

	while IFS='|' read -r name policy args want rule hook; do
		[ -z "$name" ] && continue
		# shellcheck disable=SC2086
		run_case "$name" "$policy" "$want" "$rule" "$hook" $args
	done <<<"$CASES"
}

test_allowed_connect_reaches_the_listener() {
	local out

	out=$(in_ns "$ODSBPF" exec -- "$PROBE" connect tcp 198.51.100.10 8080 2>/dev/null)
	grep -q '^greeting=yes' <<<"$out" &&
		pass "${FUNCNAME[0]}" ||
		fail "${FUNCNAME[0]}" "no greeting from the test listener: $out"
}

test_audit_mode_lets_through_and_logs() {
	local log="$SANDBOX_TMP/audit.log" out why

	out=$(in_ns "$ODSBPF" exec --policy "$POL/audit-public.json" \
		--audit-log "$log" -- "$PROBE" connect tcp 198.51.100.10 8080 2>/dev/null)
	grep -q '^greeting=yes' <<<"$out" ||
		{ fail "${FUNCNAME[0]}" "connection did not go through: $out"; return; }
	why=$($CHECK_EVENT "$log" status=audited metadata.rule=would-deny-test-net 2>&1) &&
		pass "${FUNCNAME[0]}" || fail "${FUNCNAME[0]}" "$why"
}

test_process_name_with_quotes_and_newline_is_one_json_line() {
	local log="$SANDBOX_TMP/comm.log" why comm

	comm=$(printf 'x"y\nz\\')
	in_ns "$ODSBPF" exec --audit-log "$log" -- \
		"$PROBE" --comm "$comm" sendto udp 10.0.0.1 53 >/dev/null 2>&1
	[ "$(wc -l <"$log")" = 1 ] ||
		{ fail "${FUNCNAME[0]}" "expected 1 line, log has $(wc -l <"$log")"; return; }
	why=$($CHECK_EVENT "$log" "metadata.comm=$comm" 2>&1) &&
		pass "${FUNCNAME[0]}" || fail "${FUNCNAME[0]}" "$why"
}

test_exec_exits_with_the_command_status() {
	local rc

	in_ns "$ODSBPF" exec -- sh -c 'exit 7' 2>/dev/null
	rc=$?
	[ "$rc" = 7 ] && pass "${FUNCNAME[0]}" ||
		fail "${FUNCNAME[0]}" "exit status $rc, expected 7"
}

test_exec_rejects_an_invalid_policy() {
	local err rc

	err=$(in_ns "$ODSBPF" exec --policy "$POL/broken.json" -- true 2>&1)
	rc=$?
	[ "$rc" = 125 ] && grep -q 'rules\[0\].cidrs\[0\]: "10.0.0.0/33": prefix longer than 32' <<<"$err" &&
		pass "${FUNCNAME[0]}" ||
		fail "${FUNCNAME[0]}" "rc $rc, stderr: $err"
}

test_exec_closes_inherited_descriptors() {
	# fd 7 stands for a socket made outside the cgroup: it must not reach CMD.
	if in_ns "$ODSBPF" exec -- sh -c '[ ! -e /proc/$$/fd/7 ]' 7</dev/null 2>/dev/null; then
		pass "${FUNCNAME[0]}"
	else
		fail "${FUNCNAME[0]}" "descriptor 7 was still open in the command"
	fi
}

test_exec_removes_its_cgroup() {
	local root pid

	root=$(cgroup2_root)
	# nsenter execs odsbpf in place, so $! is the pid its cgroup is named by.
	in_ns "$ODSBPF" exec -- sh -c 'sleep 30 & exit 0' 2>/dev/null &
	pid=$!
	wait "$pid"
	if [ -d "$root/odsbpf-exec-$pid" ]; then
		fail "${FUNCNAME[0]}" "left behind: $root/odsbpf-exec-$pid"
	else
		pass "${FUNCNAME[0]}"
	fi
}

# A pod's own loopback is its own: with another namespace named as the
# node's, loopback in this one is let through while metadata stays denied;
# with this one as the node's (exec's default) loopback is denied.
test_pod_loopback_is_not_the_nodes() {
	local node="/run/netns/$SANDBOX_NS-node" out

	ip netns add "$SANDBOX_NS-node" ||
		{ fail "${FUNCNAME[0]}" "cannot make the node namespace"; return; }
	out=$(in_ns "$ODSBPF" exec --host-netns "$node" -- \
		"$PROBE" connect tcp 127.0.0.1 9100 2>/dev/null | tr '\n' ' ')
	[ "$out" = "result=ok greeting=yes " ] ||
		{ fail "${FUNCNAME[0]}" "pod loopback: $out"; return; }
	out=$(in_ns "$ODSBPF" exec --host-netns "$node" -- \
		"$PROBE" connect tcp 169.254.169.254 80 2>/dev/null)
	[ "$out" = "result=EPERM" ] ||
		{ fail "${FUNCNAME[0]}" "metadata from the pod: $out"; return; }
	out=$(in_ns "$ODSBPF" exec -- "$PROBE" connect tcp 127.0.0.1 9100 2>/dev/null)
	[ "$out" = "result=EPERM" ] && pass "${FUNCNAME[0]}" ||
		fail "${FUNCNAME[0]}" "the node's own loopback: $out"
}

# hosts: kubernetes.default.svc is KUBERNETES_SERVICE_HOST; the other name
# is a numeric one, which getaddrinfo answers without /etc/hosts or DNS,
# so the test asks nothing of the machine's resolver.
test_host_names_are_resolved() {
	local log="$SANDBOX_TMP/hosts.log" out why

	out=$(KUBERNETES_SERVICE_HOST=198.51.100.10 in_ns "$ODSBPF" exec \
		--policy "$POL/hosts.json" --audit-log "$log" -- \
		"$PROBE" connect tcp 198.51.100.10 8080 2>/dev/null)
	[ "$out" = "result=EPERM" ] ||
		{ fail "${FUNCNAME[0]}" "kube API address: probe said $out"; return; }
	why=$($CHECK_EVENT "$log" metadata.rule=deny-kube-api 2>&1) ||
		{ fail "${FUNCNAME[0]}" "$why"; return; }
	out=$(in_ns "$ODSBPF" exec --policy "$POL/hosts.json" -- \
		"$PROBE" connect tcp 127.0.0.1 80 2>/dev/null)
	[ "$out" = "result=EPERM" ] && pass "${FUNCNAME[0]}" ||
		fail "${FUNCNAME[0]}" "numeric host: probe said $out"
}

# Thousands of swaps while a client in the cgroup sends (tests/test_swap.c).
test_policy_swaps_under_load() {
	local cg

	cg=$(sandbox_cgroup swap) || { fail "${FUNCNAME[0]}" "cannot make a cgroup"; return; }
	in_ns "$ROOT/build/test_swap" "$cg" 2>"$SANDBOX_TMP/swap.err" ||
		fail "${FUNCNAME[0]}" "test_swap failed: $(tail -c 300 "$SANDBOX_TMP/swap.err")"
}

main() {
	local why

	why=$(cannot_enforce_reason)
	if [ -n "$why" ]; then
		skip e2e_socket "$why"
		return 0
	fi
	sandbox_up || { fail e2e_socket_setup "cannot make the test namespace"; return; }
	# shellcheck disable=SC2086
	sandbox_addr $BOUND
	sandbox_start "$PROBE" listen 198.51.100.10 8080
	sandbox_start "$PROBE" listen 127.0.0.1 9100
	sleep 0.3

	run_table
	test_allowed_connect_reaches_the_listener
	test_audit_mode_lets_through_and_logs
	test_process_name_with_quotes_and_newline_is_one_json_line
	test_exec_exits_with_the_command_status
	test_exec_rejects_an_invalid_policy
	test_exec_removes_its_cgroup
	test_exec_closes_inherited_descriptors
	test_host_names_are_resolved
	test_pod_loopback_is_not_the_nodes
	test_policy_swaps_under_load
}

main
