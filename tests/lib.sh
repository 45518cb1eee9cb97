# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# Shared by the end-to-end scripts: result lines, and a sandbox (network
# namespace, cgroup, temp dir, processes) that is always torn down.
#
# Every address a test aims at is bound inside the test's own namespace;
# programs attach only to cgroups the test made.

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ODSBPF="$ROOT/build/odsbpf"
PROBE="$ROOT/build/probe"
CHECK_EVENT="python3 $ROOT/tests/check_event.py"

SANDBOX_NS=""
SANDBOX_CGROUPS=""
SANDBOX_PIDS=""
SANDBOX_TMP=""

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

cgroup2_root() {
	awk '{ for (i = 1; i <= NF; i++) if ($i == "-") break;
	       if ($(i + 1) == "cgroup2") { print $5; exit } }' /proc/self/mountinfo
}

# Why enforcement tests cannot run here, or nothing when they can.
cannot_enforce_reason() {
	[ "$(id -u)" = 0 ] || { echo "not root"; return; }
	[ -n "$(cgroup2_root)" ] || { echo "no cgroup2 hierarchy mounted"; return; }
	command -v nsenter >/dev/null || { echo "nsenter missing"; return; }
	[ -x "$ODSBPF" ] || { echo "build/odsbpf not built"; return; }
}

sandbox_teardown() {
	for pid in $SANDBOX_PIDS; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	# A bpffs the agent mounted for the test's pins: unmounting it drops
	# every pinned link and map it held.
	if [ -n "$SANDBOX_TMP" ] && mountpoint -q "$SANDBOX_TMP/bpffs" 2>/dev/null; then
		umount "$SANDBOX_TMP/bpffs"
	fi
	# Two passes: a parent listed before its child goes on the second.
	local listed=""
	[ -n "$SANDBOX_TMP" ] && [ -f "$SANDBOX_TMP/cgroups" ] &&
		listed=$(tac "$SANDBOX_TMP/cgroups")
	for cg in $SANDBOX_CGROUPS $listed $SANDBOX_CGROUPS $listed; do
		[ -d "$cg" ] && rmdir "$cg" 2>/dev/null
	done
	[ -n "$SANDBOX_NS" ] && ip netns del "$SANDBOX_NS" 2>/dev/null
	[ -n "$SANDBOX_NS" ] && ip netns del "$SANDBOX_NS-node" 2>/dev/null
	[ -n "$SANDBOX_TMP" ] && rm -rf "$SANDBOX_TMP"
	SANDBOX_PIDS="" SANDBOX_CGROUPS="" SANDBOX_NS="" SANDBOX_TMP=""
}

# Run a command inside the sandbox namespace without remounting /sys.
in_ns() {
	nsenter --net="/run/netns/$SANDBOX_NS" "$@"
}

# sandbox_addr IP...: bind addresses to the namespace's veth end.
sandbox_addr() {
	for a in "$@"; do
		case "$a" in
		*:*) in_ns ip -6 addr add "$a/128" dev odsb1 nodad ;;
		*) in_ns ip addr add "$a/32" dev odsb1 ;;
		esac
	done
}

# A namespace with lo up and a veth pair (both ends inside it).
sandbox_up() {
	SANDBOX_NS="odsbpf-test-$$"
	SANDBOX_TMP=$(mktemp -d /tmp/odsbpf-test.XXXXXX)
	trap sandbox_teardown EXIT
	trap 'exit 130' INT TERM
	ip netns add "$SANDBOX_NS" || return 1
	in_ns ip link set lo up &&
	in_ns ip link add odsb0 type veth peer name odsb1 &&
	in_ns ip link set odsb0 up &&
	in_ns ip link set odsb1 up
}

# sandbox_start CMD...: start a process in the namespace, remember its pid.
# nsenter execs the command in place, so $! is the command's own pid (a
# shell function put in the background would leave $! to a subshell).
sandbox_start() {
	nsenter --net="/run/netns/$SANDBOX_NS" "$@" >>"$SANDBOX_TMP/bg.$$.out" 2>&1 &
	SANDBOX_PIDS="$SANDBOX_PIDS $!"
}

# sandbox_cgroup NAME: make a cgroup below the cgroup2 root, print its path.
# Callers run it in $(...), a subshell: the path is remembered in a file,
# which the teardown reads, not in a variable the subshell would lose.
sandbox_cgroup() {
	cg="$(cgroup2_root)/odsbpf-test-$$-$1"
	mkdir "$cg" || return 1
	echo "$cg" >>"$SANDBOX_TMP/cgroups"
	echo "$cg"
}

# Wait up to 5 s for a file to hold a line matching a pattern.
wait_for_line() {
	for _ in $(seq 50); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
