#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# `make run`: the agent on policies/default.json, enforcing on a sandbox
# "node" made here (--host-netns names its namespace as the node's, so its
# loopback is judged): a cgroup, and a network namespace where the metadata,
# private, loopback and public test addresses are all bound locally. A
# workload in it tries each; the denials are shown, then all is removed.
# Nothing is sent outside the namespace.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"

# destination | what it stands for | probe arguments
TRIES="
169.254.169.254:80|cloud metadata (AWS, GCP, Azure...)|connect tcp 169.254.169.254 80
[fd00:ec2::254]:80|AWS metadata over IPv6|connect tcp fd00:ec2::254 80
169.254.170.2:80|ECS task credentials|connect tcp 169.254.170.2 80
10.0.0.1:443|private range (RFC 1918)|connect tcp 10.0.0.1 443
192.168.1.1:53/udp|private range, UDP sendto|sendto udp 192.168.1.1 53
100.64.0.1:80|carrier-grade NAT (RFC 6598)|connect tcp 100.64.0.1 80
127.0.0.1:8080|loopback|connect tcp 127.0.0.1 8080
[::ffff:169.254.169.254]:80|metadata through an IPv6 socket|connect tcp ::ffff:169.254.169.254 80
198.51.100.10:8080|public test address (allowed)|connect tcp 198.51.100.10 8080
"

main() {
	local why cgroup log dir agent_pid dst what args result

	why=$(cannot_enforce_reason)
	[ -n "$why" ] && { echo "make run: cannot run the sandbox: $why" >&2; exit 1; }
	sandbox_up || exit 1
	sandbox_addr 169.254.169.254 169.254.170.2 fd00:ec2::254 10.0.0.1 \
		192.168.1.1 100.64.0.1 198.51.100.10
	sandbox_start "$PROBE" listen 198.51.100.10 8080
	cgroup=$(sandbox_cgroup demo) || exit 1
	dir="$SANDBOX_TMP/policy" log="$SANDBOX_TMP/audit.log"
	mkdir "$dir" && cp "$ROOT/policies/default.json" "$dir/"

	echo "== odsbpf agent --cgroup $cgroup --policy-dir $dir"
	"$ODSBPF" agent --cgroup "$cgroup" --policy-dir "$dir" --audit-log "$log" \
		--pin-root "$SANDBOX_TMP/bpffs" --state-dir "$SANDBOX_TMP/state" \
		--host-netns "/run/netns/$SANDBOX_NS" \
		>"$SANDBOX_TMP/agent.out" 2>"$SANDBOX_TMP/agent.err" &
	agent_pid=$!
	SANDBOX_PIDS="$SANDBOX_PIDS $agent_pid"
	wait_for_line "$log" '"action":"agent.start"' ||
		{ cat "$SANDBOX_TMP/agent.err" >&2; exit 1; }

	echo "== a workload in the sandbox tries each destination"
	printf '%-28s %-34s %s\n' DESTINATION "STANDS FOR" RESULT
	while IFS='|' read -r dst what args; do
		[ -z "$dst" ] && continue
		# shellcheck disable=SC2086
		result=$(sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh \
			"$cgroup" nsenter --net="/run/netns/$SANDBOX_NS" "$PROBE" $args |
			sed -n 's/^result=//p')
		printf '%-28s %-34s %s\n' "$dst" "$what" "$result"
	done <<<"$TRIES"

	# The programs outlive the agent (pinned); --uninstall removes them.
	kill -TERM "$agent_pid" && wait "$agent_pid"
	"$ODSBPF" agent --uninstall --pin-root "$SANDBOX_TMP/bpffs" \
		--state-dir "$SANDBOX_TMP/state" 2>/dev/null
	echo
	echo "== the denials, as JSON audit lines"
	grep '"action":"egress\.' "$log"
	echo
	echo "== the same, as 'odsbpf events' shows them"
	"$ODSBPF" events --audit-log "$log"
	echo
	echo "summary: $(grep -c '"status":"denied"' "$log") denied, policy $(grep -o '"rules":[0-9]*' "$log" | head -1 | cut -d: -f2) rules; sandbox removed"
	# The sandbox goes; its audit log stays, to try events and audit verify on.
	cp "$log" "$ROOT/build/make-run-audit.log"
	echo "the audit log is kept as build/make-run-audit.log:"
	echo "  build/odsbpf events --audit-log build/make-run-audit.log"
	echo "  build/odsbpf audit verify build/make-run-audit.log"
}

main
