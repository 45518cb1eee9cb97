#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# End to end at the packet layers. Two namespaces this script makes: a
# "pod" and a "node", joined by a veth pair. The agent runs in the node
# namespace with XDP on the node-side end; every destination (metadata,
# private, test addresses) is bound in the node namespace, so nothing can
# leave it. Traffic comes from the pod: raw sockets and whole frames
# written with AF_PACKET, which no socket hook sees; and from a process
# in the test cgroup, which meets cgroup_skb first.
. "$(dirname "$0")/lib.sh"

PKT_PROBE="$ROOT/build/pkt_probe"
POD_NS="odsbpf-test-$$-pod"
HOST_IF="odsbh$$"		# the node-side end of the pod's veth: XDP here
NODE_V4=192.0.2.1 POD_V4=192.0.2.2
GATEWAY6=fe80::1

# Bound on the node's loopback: what the pod aims at.
NODE_ADDRS="169.254.169.254/32 10.0.0.1/32 198.51.100.10/32
2001:db8:2::10/128 fd00:ec2::254/128"

pod() {
	nsenter --net="/run/netns/$POD_NS" "$@"
}

packet_teardown() {
	ip netns del "$POD_NS" 2>/dev/null
	sandbox_teardown
}

# The node namespace is the sandbox's; the pod's is made here.
node_and_pod_up() {
	local a

	sandbox_up || return 1
	trap packet_teardown EXIT
	ip netns add "$POD_NS" || return 1
	# No duplicate address detection: addresses work at once.
	for ns in in_ns pod; do
		$ns sysctl -qw net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0 || return 1
	done
	pod ip link set lo up &&
	in_ns ip link add "$HOST_IF" type veth peer name eth0 netns "$POD_NS" &&
	in_ns ip addr add "$NODE_V4/24" dev "$HOST_IF" &&
	in_ns ip -6 addr add "$GATEWAY6/64" dev "$HOST_IF" &&
	in_ns ip link set "$HOST_IF" up &&
	in_ns ip -6 route add 2001:db8:1::/64 dev "$HOST_IF" &&
	pod ip addr add "$POD_V4/24" dev eth0 &&
	pod ip -6 addr add 2001:db8:1::2/64 dev eth0 &&
	pod ip link set eth0 up &&
	pod ip route add default via "$NODE_V4" &&
	pod ip -6 route add default via "$GATEWAY6" dev eth0 || return 1
	for a in $NODE_ADDRS; do
		in_ns ip addr add "$a" dev lo || return 1
	done
}

# nsenter itself, not a shell function, so that $! is the process.
start_in_node() {
	nsenter --net="/run/netns/$SANDBOX_NS" "$@" &
	BG_PID=$!
	SANDBOX_PIDS="$SANDBOX_PIDS $BG_PID"
}

# start_agent PATTERN: start it, wait for PATTERN in its messages.
start_agent() {
	start_in_node "$ODSBPF" agent -v --cgroup "$CGROUP" --audit-log "$LOG" \
		--pin-root "$SANDBOX_TMP/bpffs" --state-dir "$SANDBOX_TMP/state" \
		--listen off --no-agent-log --xdp-ifaces 'odsbh*' \
		>>"$SANDBOX_TMP/agent.out" 2>>"$SANDBOX_TMP/agent.err"
	AGENT_PID=$BG_PID
	wait_for_line "$SANDBOX_TMP/agent.err" "$1"
}

# The XDP mode on an interface of the node: xdp (native), xdpgeneric, or "".
xdp_on() {
	in_ns ip link show dev "$1" 2>/dev/null | head -n 1 | grep -o ' xdp[a-z]* ' |
		tr -d ' '
}

# in_cgroup CMD...: run CMD in the pod namespace, from the test cgroup.
in_cgroup() {
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CGROUP" \
		nsenter --net="/run/netns/$POD_NS" "$@"
}

probe_result() {
	sed -n 's/^result=//p'
}

# expect_event NAME KEY=VALUE...: within 2 s, the last event is this one.
expect_event() {
	local name=$1 why

	shift
	for _ in $(seq 20); do
		why=$($CHECK_EVENT "$LOG" --last "$@" 2>&1) && { pass "$name"; return; }
		sleep 0.1
	done
	fail "$name" "$why"
}

count_events() {
	grep -c '"action":"egress\.' "$LOG" 2>/dev/null
}

test_xdp_goes_on_the_pod_veth() {
	local mode why

	mode=$(xdp_on "$HOST_IF")
	if [ "$mode" = xdp ] && grep -q "XDP on $HOST_IF (ifindex [0-9]*): native mode" \
		"$SANDBOX_TMP/agent.err"; then
		pass xdp_attaches_in_native_mode_on_the_pod_veth
	else
		why=$(grep XDP "$SANDBOX_TMP/agent.err")
		fail xdp_attaches_in_native_mode_on_the_pod_veth \
			"ip link shows '${mode:-nothing}'; agent: $why"
	fi
}

test_raw_ping_to_metadata_is_dropped_at_xdp() {
	local got

	got=$(pod "$PKT_PROBE" ping 169.254.169.254 | probe_result)
	[ "$got" = timeout ] && pass raw_ping_to_metadata_gets_no_reply ||
		fail raw_ping_to_metadata_gets_no_reply "probe got '$got'"
	expect_event raw_ping_to_metadata_is_reported_by_xdp action=egress.packet \
		status=denied metadata.layer=xdp metadata.hook=xdp metadata.protocol=icmp \
		metadata.rule=deny-cloud-metadata metadata.dst_ip=169.254.169.254 \
		"metadata.interface=$HOST_IF" ip_address="$POD_V4"
}

test_af_packet_frame() {
	local mac got

	mac=$(in_ns ip -o link show dev "$HOST_IF" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	got=$(pod "$PKT_PROBE" frame eth0 "$POD_V4" "$mac" 198.51.100.10 9 | probe_result)
	[ "$got" = reply ] && pass af_packet_frame_to_an_allowed_address_is_answered ||
		fail af_packet_frame_to_an_allowed_address_is_answered "probe got '$got'"
	got=$(pod "$PKT_PROBE" frame eth0 "$POD_V4" "$mac" 169.254.169.254 9 | probe_result)
	[ "$got" = timeout ] && pass af_packet_frame_to_metadata_is_dropped ||
		fail af_packet_frame_to_metadata_is_dropped "probe got '$got'"
	expect_event af_packet_frame_to_metadata_is_reported_by_xdp status=denied \
		metadata.layer=xdp metadata.protocol=udp metadata.dst_port=9 \
		metadata.rule=deny-cloud-metadata "metadata.interface=$HOST_IF"
}

test_allowed_and_neighbours() {
	local got

	got=$(pod "$PKT_PROBE" ping 198.51.100.10 | probe_result)
	[ "$got" = reply ] && pass ping_to_an_allowed_address_gets_its_reply ||
		fail ping_to_an_allowed_address_gets_its_reply "probe got '$got'"
	got=$(pod "$PKT_PROBE" ping 10.0.0.1 | probe_result)
	[ "$got" = timeout ] && pass ping_to_a_private_address_gets_no_reply ||
		fail ping_to_a_private_address_gets_no_reply "probe got '$got'"
	# The gateway is link-local (denied); NDP must still resolve it both ways.
	got=$(pod "$PKT_PROBE" ping 2001:db8:2::10 | probe_result)
	[ "$got" = reply ] && pass ipv6_ping_through_a_link_local_gateway_gets_its_reply ||
		fail ipv6_ping_through_a_link_local_gateway_gets_its_reply "probe got '$got'"
	pod ip -6 neigh show "$GATEWAY6" dev eth0 | grep -q lladdr &&
		pass ndp_resolves_the_gateway_though_link_local_is_denied ||
		fail ndp_resolves_the_gateway_though_link_local_is_denied \
			"pod's neighbour table: $(pod ip -6 neigh show dev eth0)"
	# The node asks from its link-local address: the pod's answer goes there.
	in_ns ip -6 neigh flush dev "$HOST_IF"
	got=$(in_ns "$PKT_PROBE" ping 2001:db8:1::2 | probe_result)
	[ "$got" = reply ] && in_ns ip -6 neigh show 2001:db8:1::2 | grep -q lladdr &&
		pass ndp_answers_a_link_local_solicitation_from_the_node ||
		fail ndp_answers_a_link_local_solicitation_from_the_node \
			"ping from the node: '$got'; node's neighbours: $(in_ns ip -6 neigh show)"
	if grep -q '"rule":"deny-link-local"' "$LOG"; then
		fail neighbour_discovery_raises_no_event \
			"$(grep deny-link-local "$LOG" | head -c 300)"
	else
		pass neighbour_discovery_raises_no_event
	fi
	got=$(pod "$PKT_PROBE" ping fd00:ec2::254 | probe_result)
	[ "$got" = timeout ] && pass ipv6_ping_to_metadata_gets_no_reply ||
		fail ipv6_ping_to_metadata_gets_no_reply "probe got '$got'"
}

test_cgroup_skb_catches_raw_icmp() {
	local got

	got=$(in_cgroup "$PKT_PROBE" ping 169.254.169.254 | probe_result)
	[ "$got" = EPERM ] && pass raw_ping_from_the_enforced_cgroup_fails_with_eperm ||
		fail raw_ping_from_the_enforced_cgroup_fails_with_eperm "probe got '$got'"
	expect_event raw_ping_from_the_enforced_cgroup_is_reported_by_cgroup_skb \
		status=denied metadata.layer=cgroup_skb metadata.hook=cgroup_skb_egress \
		metadata.protocol=icmp metadata.rule=deny-cloud-metadata \
		"metadata.cgroup_id=$(stat -c %i "$CGROUP")"
	got=$(in_cgroup "$PKT_PROBE" ping 198.51.100.10 | probe_result)
	[ "$got" = reply ] && pass raw_ping_from_the_enforced_cgroup_to_an_allowed_address_works ||
		fail raw_ping_from_the_enforced_cgroup_to_an_allowed_address_works \
			"probe got '$got'"
}

# A veth made, then removed, while the agent runs: rtnetlink tells it.
test_xdp_follows_veths() {
	local extra="odsbhx$$" other="odsbn$$" local_a="odsbhy$$" local_b="odsbhz$$" mode

	in_ns ip link add "$extra" type veth peer name eth1 netns "$POD_NS"
	in_ns ip link add "$other" type veth peer name eth2 netns "$POD_NS"
	in_ns ip link add "$local_a" type veth peer name "$local_b"
	for _ in $(seq 30); do
		mode=$(xdp_on "$extra")
		[ -n "$mode" ] && break
		sleep 0.1
	done
	[ -n "$mode" ] && pass xdp_goes_on_a_new_matching_veth ||
		fail xdp_goes_on_a_new_matching_veth "no XDP on $extra after 3 s"
	[ -z "$(xdp_on "$other")" ] && pass xdp_leaves_a_veth_that_does_not_match_alone ||
		fail xdp_leaves_a_veth_that_does_not_match_alone "$other has XDP"
	[ -z "$(xdp_on "$local_a")$(xdp_on "$local_b")" ] &&
		pass xdp_leaves_a_veth_with_both_ends_on_the_node_alone ||
		fail xdp_leaves_a_veth_with_both_ends_on_the_node_alone \
			"$local_a or $local_b has XDP"
	in_ns ip link del "$extra"
	in_ns ip link del "$other"
	in_ns ip link del "$local_a"
	wait_for_line "$SANDBOX_TMP/agent.err" "XDP: $extra (ifindex [0-9]*) is gone" &&
		pass xdp_lets_go_of_a_removed_veth ||
		fail xdp_lets_go_of_a_removed_veth "the agent did not notice"
}

test_status_shows_xdp_mode() {
	local out

	out=$(in_ns "$ODSBPF" status --pin-root "$SANDBOX_TMP/bpffs" \
		--state-dir "$SANDBOX_TMP/state" 2>&1)
	grep -q "xdp: *$HOST_IF .*native mode" <<<"$out" &&
		grep -q "cgroup_skb_egress *attached" <<<"$out" &&
		pass status_shows_the_packet_layers ||
		fail status_shows_the_packet_layers "$(head -c 600 <<<"$out")"
}

# SIGTERM leaves the pinned links enforcing; a new agent adopts them.
test_restart_and_uninstall() {
	local got

	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	[ "$(xdp_on "$HOST_IF")" = xdp ] &&
		[ "$(pod "$PKT_PROBE" ping 169.254.169.254 | probe_result)" = timeout ] &&
		pass xdp_keeps_enforcing_after_the_agent_stops ||
		fail xdp_keeps_enforcing_after_the_agent_stops "XDP: '$(xdp_on "$HOST_IF")'"
	start_agent "XDP on $HOST_IF (ifindex [0-9]*): native mode, adopted" &&
		pass restarted_agent_adopts_the_xdp_link ||
		fail restarted_agent_adopts_the_xdp_link \
			"$(grep XDP "$SANDBOX_TMP/agent.err" | tail -n 2)"
	kill -TERM "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	in_ns "$ODSBPF" agent --uninstall --pin-root "$SANDBOX_TMP/bpffs" \
		--state-dir "$SANDBOX_TMP/state" 2>/dev/null
	got=$(pod "$PKT_PROBE" ping 169.254.169.254 | probe_result)
	[ -z "$(xdp_on "$HOST_IF")" ] && [ "$got" = reply ] &&
		pass uninstall_takes_xdp_off ||
		fail uninstall_takes_xdp_off "XDP: '$(xdp_on "$HOST_IF")', ping: $got"
}

# odsbpf exec: cgroup_skb beside the socket hooks, one report per attempt.
test_exec() {
	local log="$SANDBOX_TMP/exec.log" audit="$SANDBOX_TMP/exec-audit.log" out why

	out=$(pod "$ODSBPF" exec --audit-log "$log" -- \
		"$PKT_PROBE" ping 169.254.169.254 2>/dev/null)
	why=$($CHECK_EVENT "$log" status=denied metadata.layer=cgroup_skb \
		metadata.rule=deny-cloud-metadata 2>&1)
	[ "$(probe_result <<<"$out")" = EPERM ] && [ -z "$why" ] &&
		pass exec_drops_a_raw_ping_at_cgroup_skb ||
		fail exec_drops_a_raw_ping_at_cgroup_skb "probe: $out; $why"

	out=$(pod "$ODSBPF" exec --policy "$ROOT/tests/policies/audit-public.json" \
		--audit-log "$audit" -- "$PROBE" connect tcp 198.51.100.10 8080 2>/dev/null)
	why=$($CHECK_EVENT "$audit" count=1 2>&1) &&
		why=$($CHECK_EVENT "$audit" status=audited metadata.layer=socket 2>&1)
	grep -q '^greeting=yes' <<<"$out" && [ -z "$why" ] &&
		pass audited_connect_is_reported_once_not_again_per_packet ||
		fail audited_connect_is_reported_once_not_again_per_packet "probe: $out; $why"
}

main() {
	local why

	why=$(cannot_enforce_reason)
	[ -z "$why" ] && [ ! -x "$PKT_PROBE" ] && why="build/pkt_probe not built"
	if [ -n "$why" ]; then
		skip e2e_packet "$why"
		return 0
	fi
	node_and_pod_up ||
		{ fail e2e_packet_setup "cannot make the pod and node namespaces"; return; }
	CGROUP=$(sandbox_cgroup packet) || { fail e2e_packet_setup "cannot make a cgroup"; return; }
	# sandbox_cgroup ran in a subshell: remember the cgroup for teardown here.
	SANDBOX_CGROUPS="$CGROUP $SANDBOX_CGROUPS"
	LOG="$SANDBOX_TMP/audit.log"
	start_in_node "$PROBE" listen 198.51.100.10 8080 >/dev/null 2>&1

	start_agent '"action":"agent.start"\|enforcing on' ||
		wait_for_line "$LOG" '"action":"agent.start"' ||
		{ fail agent_starts_with_xdp "$(head -c 400 "$SANDBOX_TMP/agent.err")"
		  return; }
	pass agent_starts_with_xdp
	test_xdp_goes_on_the_pod_veth
	test_raw_ping_to_metadata_is_dropped_at_xdp
	test_af_packet_frame
	test_allowed_and_neighbours
	test_cgroup_skb_catches_raw_icmp
	test_xdp_follows_veths
	test_status_shows_xdp_mode
	test_restart_and_uninstall
	test_exec
}

main
