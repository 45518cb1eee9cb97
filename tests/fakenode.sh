# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# A fake Kubernetes node for the audit-pipeline suites, on top of lib.sh:
# kubelet-style cgroups below a cgroup the test made, /var/log/pods-like
# and /var/lib/kubelet-like directories in the test's temp dir, and the
# test's network namespace, where the denied address 198.51.100.10 is
# bound and a listener answers. All of it goes with sandbox_teardown.
. "$(dirname "$0")/lib.sh"

DENIED=198.51.100.10
POL="$ROOT/tests/policies"

# node_up: namespace, listener, node cgroup, pod directories, policy dir.
node_up() {
	sandbox_up || return 1
	sandbox_addr "$DENIED"
	sandbox_start "$PROBE" listen "$DENIED" 8080
	CG=$(sandbox_cgroup node) || return 1
	SANDBOX_CGROUPS="$SANDBOX_CGROUPS $CG"	# made in a subshell: not yet listed
	PODS="$SANDBOX_TMP/pods" KUBELET="$SANDBOX_TMP/kubelet"
	DIR="$SANDBOX_TMP/policy" LOG="$SANDBOX_TMP/audit.log"
	mkdir "$PODS" "$KUBELET" "$DIR" && cp "$POL/pods.json" "$DIR/"
}

# mk_cgroups REL...: make each level below the node cgroup; teardown
# removes them deepest first.
mk_cgroups() {
	local rel path part

	for rel in "$@"; do
		path="$CG"
		for part in ${rel//\// }; do
			path="$path/$part"
			[ -d "$path" ] && continue
			mkdir "$path" || return 1
			SANDBOX_CGROUPS="$path $SANDBOX_CGROUPS"
		done
	done
}

# in_cgroup REL CMD...: run CMD in that cgroup, inside the test namespace.
in_cgroup() {
	local rel=$1

	shift
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$rel" \
		nsenter --net="/run/netns/$SANDBOX_NS" "$@"
}

# start_in_cgroup REL CMD...: the same in the background; killed at teardown.
start_in_cgroup() {
	local rel=$1

	shift
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG/$rel" \
		nsenter --net="/run/netns/$SANDBOX_NS" "$@" &
	SANDBOX_PIDS="$SANDBOX_PIDS $!"
}

cid() { printf '%s' "$1" | sha256sum | cut -c1-64; }

# fake_pod NAMESPACE NAME UID: a burstable pod (systemd driver) with one
# containerd container, and its log directory. Sets POD_CT to the
# container's cgroup, relative to the node cgroup. (Not to be called in
# $(...): the cgroups it makes must be listed for teardown.)
fake_pod() {
	local slice="kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${3//-/_}.slice"

	POD_CT="$slice/cri-containerd-$(cid "$2").scope"
	mk_cgroups "$POD_CT" && mkdir -p "$PODS/$1_$2_$3"
}

starts() { cat "$LOG" 2>/dev/null | grep -c '"action":"agent.start"'; }

# start_agent ARGS...: the agent on the node cgroup, with the node's roots;
# in the cgroup $AGENT_CGROUP when that is set.
start_agent() {
	local n

	n=$(starts)
	sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh \
		"${AGENT_CGROUP:-}" "$ODSBPF" agent --cgroup "$CG" --policy-dir "$DIR" --audit-log "$LOG" \
		--pin-root "$SANDBOX_TMP/bpffs" --state-dir "$SANDBOX_TMP/state" \
		--pods-log-dir "$PODS" --kubelet-dir "$KUBELET" "$@" \
		>>"$SANDBOX_TMP/agent.out" 2>>"$SANDBOX_TMP/agent.err" &
	AGENT_PID=$!
	SANDBOX_PIDS="$SANDBOX_PIDS $AGENT_PID"
	for _ in $(seq 50); do
		[ "$(starts)" -gt "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

# stop_agent: SIGTERM, then remove what stays pinned.
stop_agent() {
	kill -TERM "$AGENT_PID" 2>/dev/null && wait "$AGENT_PID"
	"$ODSBPF" agent --uninstall --pin-root "$SANDBOX_TMP/bpffs" \
		--state-dir "$SANDBOX_TMP/state" 2>/dev/null
}

# wait_for N CMD...: retry CMD every 0.1 s for N tenths of a second.
wait_for() {
	local n=$1

	shift
	for _ in $(seq "$n"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
