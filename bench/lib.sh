# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# Shared by the benchmark scripts: network namespaces, cgroups, a temp
# dir and processes made by the benchmark, all torn down on every exit
# path. Every destination a benchmark aims at is bound inside one of its
# own namespaces; iptables and nftables rules are loaded only there;
# programs attach only to the cgroups made here.

# shellcheck shell=bash disable=SC2034
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ODSBPF="$ROOT/build/odsbpf"
PROBE="$ROOT/build/probe"

BENCH_NS="" BENCH_CGROUPS="" BENCH_PIDS="" BENCH_TMP="" BENCH_MOUNTS=""

# The benchmarks' destinations (bench/gen_policy.py), allowed and denied,
# and the client's address, in no CIDR of any policy.
ALLOWED=10.255.254.1
DENIED=10.255.255.1
SOURCE=10.255.253.1

log() { echo "bench: $*" >&2; }

cgroup2_root() {
	awk '{ for (i = 1; i <= NF; i++) if ($i == "-") break;
	       if ($(i + 1) == "cgroup2") { print $5; exit } }' /proc/self/mountinfo
}

bench_teardown() {
	local pid cg ns m

	for pid in $BENCH_PIDS; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# Unmounting a bpffs drops every link and map pinned in it.
	for m in $BENCH_MOUNTS; do
		mountpoint -q "$m" 2>/dev/null && umount "$m"
	done
	for cg in $BENCH_CGROUPS; do
		[ -d "$cg" ] && rmdir "$cg" 2>/dev/null
	done
	for ns in $BENCH_NS; do
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "$BENCH_TMP" ] && rm -rf "$BENCH_TMP"
	BENCH_PIDS="" BENCH_MOUNTS="" BENCH_CGROUPS="" BENCH_NS="" BENCH_TMP=""
}

bench_begin() {
	BENCH_TMP=$(mktemp -d /tmp/odsbpf-bench.XXXXXX)
	trap bench_teardown EXIT
	trap 'exit 130' INT TERM HUP
}

# The namespace and cgroup a benchmark names NAME.
ns_name() { echo "odsbpf-bench-$$-$1"; }
cgroup_path() { echo "$(cgroup2_root)/odsbpf-bench-$$-$1"; }

# bench_ns NAME: a client namespace, $(ns_name NAME), joined by a veth
# pair to a server namespace of its own (NAME-srv) that holds both
# destinations; the client reaches them from SOURCE. Not in a subshell:
# teardown must learn of both.
bench_ns() {
	local ns

	ns=$(ns_name "$1")
	ip netns add "$ns" || return 1
	BENCH_NS="$BENCH_NS $ns"
	ip netns add "$ns-srv" || return 1
	BENCH_NS="$BENCH_NS $ns-srv"
	nsenter --net="/run/netns/$ns" sh -e -c '
		ip link set lo up
		ip link add bd0 type veth peer name bd1 netns "$1-srv"
		ip link set bd0 up
		ip addr add "$2/32" dev bd0
		ip route add 10.255.254.0/23 dev bd0 src "$2"' sh "$ns" "$SOURCE" || return 1
	nsenter --net="/run/netns/$ns-srv" sh -e -c '
		ip link set lo up
		ip link set bd1 up
		ip addr add "$1/32" dev bd1
		ip addr add "$2/32" dev bd1
		ip route add "$3/32" dev bd1' sh "$ALLOWED" "$DENIED" "$SOURCE"
}

in_ns() {
	local ns=$1

	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# bench_cgroup NAME: make $(cgroup_path NAME); not in a subshell either.
bench_cgroup() {
	local cg

	cg=$(cgroup_path "$1")
	mkdir "$cg" || return 1
	BENCH_CGROUPS="$cg $BENCH_CGROUPS"
}

# bench_bpffs DIR: a bpffs of the benchmark's own; unmounted at teardown.
bench_bpffs() {
	mkdir -p "$1" && mount -t bpf bpf "$1" && BENCH_MOUNTS="$1 $BENCH_MOUNTS"
}

now_ns() { date +%s%N; }

# Milliseconds between two now_ns readings, to 0.1 ms.
ms_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
