#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# Compile and swap: each policy size's file to a flipped generation, K
# times, while a client in the benchmark's cgroup checks that the denied
# destination stays denied and the allowed one allowed throughout.
#
#   swap.sh POLICY_DIR SIZE...   (JSON lines on stdout)
. "$(dirname "$0")/lib.sh"

POLICIES=$1
shift
SWAPS=${BENCH_SWAPS:-11}

main() {
	local n dir

	bench_begin
	bench_ns swap && bench_cgroup swap || { log "cannot make the sandbox"; exit 1; }
	for n in "$@"; do
		dir="$POLICIES/$n"
		log "compile and swap: $n CIDRs"
		"$ROOT/build/bench_swap" --policy-a "$dir/policy-a.json" \
			--policy-b "$dir/policy-b.json" --cgroup "$(cgroup_path swap)" \
			--netns "/run/netns/$(ns_name swap)" --label "$n" \
			--swaps "$SWAPS" || exit 1
	done
}

main "$@"
