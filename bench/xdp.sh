#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# XDP ns per packet (BPF_PROG_TEST_RUN) at each policy size: odsbpf's XDP
# program, a bare XDP_PASS program, and xdp-filter (Debian's xdp-tools)
# loaded by its own command on a test veth (policy allow: what is listed
# is dropped) and given the same addresses.
# xdp-filter matches whole addresses only, so these policies are /32s
# (bench/gen_policy.py --hosts); its map holds 10,000 per family, so it
# sits out the larger sizes. libxdp's pins go to a bpffs of the
# benchmark's own (LIBXDP_BPFFS).
#
#   xdp.sh POLICY_DIR SIZE...   (JSON lines on stdout; policies in
#                               POLICY_DIR/hosts-SIZE)
. "$(dirname "$0")/lib.sh"

POLICIES=$1
shift
REPEATS=${BENCH_REPEATS:-15}
XDP_FILTER_MAX=10000

# The id of the XDP program on bd0 of the benchmark's namespace.
xdp_prog_id() {
	in_ns "$(ns_name xdp)" bpftool -j net show dev bd0 |
		python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["xdp"][0]["id"])'
}

main() {
	local n dir id args

	bench_begin
	bench_ns xdp && bench_bpffs "$BENCH_TMP/bpffs" || { log "cannot make the sandbox"; exit 1; }
	export LIBXDP_BPFFS="$BENCH_TMP/bpffs"
	for n in "$@"; do
		dir="$POLICIES/hosts-$n"
		log "xdp: $n addresses"
		args=()
		if [ "$n" -le "$XDP_FILTER_MAX" ]; then
			in_ns "$(ns_name xdp)" xdp-filter load --policy allow --features ipv4 bd0 &&
				in_ns "$(ns_name xdp)" xdp-filter ip "$DENIED" --mode dst &&
				id=$(xdp_prog_id) ||
				{ log "xdp-filter cannot load on the test veth"; exit 1; }
			args=(--xdp-filter-id "$id" --addrs "$dir/addrs.txt")
		else
			printf '{"bench":"xdp_skip","n":%d,"config":"xdp-filter",%s}\n' "$n" \
				"\"why\":\"its map holds at most $XDP_FILTER_MAX addresses\""
		fi
		"$ROOT/build/bench_xdp" --policy "$dir/policy-a.json" \
			--pass-obj "$ROOT/build/bench_xdp_pass.bpf.o" --label "$n" \
			--repeats "$REPEATS" "${args[@]}" || exit 1
		if [ "$n" -le "$XDP_FILTER_MAX" ]; then
			in_ns "$(ns_name xdp)" xdp-filter unload bd0 >/dev/null ||
				{ log "xdp-filter cannot unload"; exit 1; }
		fi
	done
}

main "$@"
