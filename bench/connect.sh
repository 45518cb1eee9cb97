#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# connect() cost at each policy size, odsbpf beside the alternatives, and
# the time each alternative takes to load the same CIDRs:
#
#   none      no program, no rule
#   odsbpf    the socket programs on the benchmark's cgroup
#   odsbpf+skb  the same and cgroup_skb/egress, as the agent attaches them
#   iptables  an OUTPUT chain, one REJECT rule per CIDR (iptables-nft, the
#             Debian 12 default)
#   iptables-legacy  the same chain in the legacy xtables backend
#   nftables  one rule matching an interval set of the CIDRs
#
# Each tool has a namespace of its own (iptables-nft and nft share the
# kernel's nf_tables, and "flush ruleset" would take both), and nothing
# is loaded outside those namespaces.
#
#   connect.sh POLICY_DIR SIZE...   (JSON lines on stdout)
. "$(dirname "$0")/lib.sh"

POLICIES=$1
shift
REPEATS=${BENCH_REPEATS:-31}
LOAD_REPEATS=${BENCH_LOAD_REPEATS:-3}

# load_rules NS TOOL FILE SIZE: load FILE LOAD_REPEATS times; JSON lines.
load_rules() {
	local ns=$1 tool=$2 file=$3 n=$4 rep start

	for rep in $(seq 0 $((LOAD_REPEATS - 1))); do
		start=$(now_ns)
		case $tool in
		iptables) in_ns "$ns" iptables-restore <"$file" ;;
		iptables-legacy) in_ns "$ns" iptables-legacy-restore <"$file" ;;
		nftables) in_ns "$ns" nft -f "$file" ;;
		esac || { log "$tool cannot load $file"; return 1; }
		echo "{\"bench\":\"load\",\"n\":$n,\"config\":\"$tool\",\"rep\":$rep,\"ms\":$(ms_since "$start")}"
	done
}

main() {
	local cg_plain cg_enf cg_all n dir ns

	bench_begin
	for ns in plain ipt iptl nft; do
		bench_ns "$ns" || { log "cannot make the namespace $ns"; exit 1; }
	done
	bench_cgroup plain && bench_cgroup enf && bench_cgroup all ||
		{ log "cannot make the cgroups"; exit 1; }
	cg_plain=$(cgroup_path plain) cg_enf=$(cgroup_path enf) cg_all=$(cgroup_path all)

	for n in "$@"; do
		dir="$POLICIES/$n"
		log "connect: $n CIDRs"
		load_rules "$(ns_name ipt)" iptables "$dir/iptables.rules" "$n" &&
			load_rules "$(ns_name iptl)" iptables-legacy "$dir/iptables.rules" "$n" &&
			load_rules "$(ns_name nft)" nftables "$dir/nftables.nft" "$n" || exit 1
		"$ROOT/build/bench_connect" --policy "$dir/policy-a.json" \
			--attach "$cg_enf" --attach-all "$cg_all" --label "$n" \
			--repeats "$REPEATS" --sample-ms 20 \
			--config "none:/run/netns/$(ns_name plain):$cg_plain:tcp+udp" \
			--config "odsbpf:/run/netns/$(ns_name plain):$cg_enf:tcp+udp" \
			--config "odsbpf+skb:/run/netns/$(ns_name plain):$cg_all:tcp+udp" \
			--config "iptables:/run/netns/$(ns_name ipt):$cg_plain:tcp" \
			--config "iptables-legacy:/run/netns/$(ns_name iptl):$cg_plain:tcp" \
			--config "nftables:/run/netns/$(ns_name nft):$cg_plain:tcp" || exit 1
	done
}

main "$@"
