#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# Pod identity and exemptions on a fake node: kubelet's cgroups (systemd
# and cgroupfs drivers, containerd, CRI-O and Docker names, every QoS
# class) made below a cgroup of this test, /var/log/pods-like and
# kubelet-like directories in its temp dir, and a pod network namespace
# where the denied address and the pod's IP are bound. The agent gets
# the test's roots as flags and enforces on the test cgroup only.
. "$(dirname "$0")/fakenode.sh"

UID_WEB=3f1e2d4c-1111-4a2b-9c3d-000000000001
UID_DNS=3f1e2d4c-2222-4a2b-9c3d-000000000002
UID_LATE=3f1e2d4c-3333-4a2b-9c3d-000000000003
UID_DB=3f1e2d4c-4444-4a2b-9c3d-000000000004
systemd_uid() { tr - _ <<<"$1"; }

# The pods' cgroups, one per driver, runtime and QoS class.
POD_WEB="kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod$(systemd_uid $UID_WEB).slice"
POD_DNS="kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod$(systemd_uid $UID_DNS).slice"
POD_LATE="kubepods/burstable/pod$UID_LATE"
POD_DB="kubepods.slice/kubepods-pod$(systemd_uid $UID_DB).slice"
CT_WEB="$POD_WEB/cri-containerd-$(cid web).scope"
CT_WEB_PAUSE="$POD_WEB/cri-containerd-$(cid web-pause).scope"
CT_DNS="$POD_DNS/crio-$(cid dns).scope"
CT_LATE="$POD_LATE/$(cid late)"
CT_DB="$POD_DB/docker-$(cid db).scope"

probe_in() {
	in_cgroup "$1" "$PROBE" connect tcp 198.51.100.10 8080 2>&1 | sed -n 's/^result=//p'
}

# expect NAME RESULT CGROUP: a connect to the denied address from CGROUP.
expect() {
	local got

	got=$(probe_in "$3")
	[ "$got" = "$2" ] && pass "$1" || fail "$1" "probe got '$got', expected $2"
}

# expect_within NAME RESULT CGROUP: the verdict changes within 3 s.
expect_within() {
	local got

	for _ in $(seq 30); do
		got=$(probe_in "$3")
		[ "$got" = "$2" ] && { pass "$1"; return; }
		sleep 0.1
	done
	fail "$1" "still '$got' after 3 s, expected $2"
}

# expect_event NAME FIELD=VALUE...: the last denial in the log has them.
expect_event() {
	local name=$1 why

	shift
	for _ in $(seq 20); do
		why=$($CHECK_EVENT "$LOG" --last "$@" 2>&1) && { pass "$name"; return; }
		sleep 0.1
	done
	fail "$name" "$why"
}

fake_token() {
	local payload

	payload=$(printf '{"iss":"test","sub":"system:serviceaccount:%s"}' "$1" |
		base64 -w0 | tr '+/' '-_' | tr -d '=')
	echo "eyJhbGciOiJSUzI1NiJ9.$payload.c2lnbmF0dXJl"
}

lay_out_node() {
	local token="$KUBELET/pods/$UID_WEB/volumes/kubernetes.io~projected/kube-api-access-x"

	mk_cgroups "$CT_WEB" "$CT_WEB_PAUSE" "$CT_DNS" "$CT_LATE" "$CT_DB" agent-pod \
		not-a-pod || return 1
	mkdir -p "$PODS/shop_web-0_$UID_WEB/app" "$PODS/kube-system_coredns-0_$UID_DNS" \
		"$PODS/shop_db-0_$UID_DB" "$token" || return 1
	fake_token shop:web >"$token/token"
	# The pod's sandbox holds its network namespace, where eth0 has its IP.
	in_ns ip link add eth0 type veth peer name eth0-peer &&
		in_ns ip addr add 10.244.1.7/24 dev eth0 && in_ns ip link set eth0-peer up &&
		in_ns ip link set eth0 up || return 1
	start_in_cgroup "$CT_WEB_PAUSE" sleep 600
}

# Entries of the odsbpf_exempt map the agent's connect4 program reads.
exempt_entries() {
	python3 - "$SANDBOX_TMP"/bpffs/v*/link_connect4 <<'EOF'
import json, subprocess, sys
def bpftool(*args):
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True)
    return json.loads(out.stdout)
prog = bpftool("link", "show", "pinned", sys.argv[1])["prog_id"]
for m in bpftool("prog", "show", "id", str(prog))["map_ids"]:
    if bpftool("map", "show", "id", str(m))["name"] == "odsbpf_exempt":
        print(len(bpftool("map", "dump", "id", str(m))))
EOF
}

test_identity() {
	expect pod_connect_to_denied_address_is_denied EPERM "$CT_WEB"
	expect_event pod_event_names_namespace_and_pod metadata.namespace=shop \
		metadata.pod=web-0 metadata.pod_uid=$UID_WEB
	expect_event pod_event_names_the_container metadata.container_id="$(cid web)" \
		metadata.container_runtime=containerd
	expect_event pod_event_names_the_service_account user_id=system:serviceaccount:shop:web
	expect_event pod_event_has_the_pod_ip ip_address=10.244.1.7
	expect docker_guaranteed_pod_is_denied EPERM "$CT_DB"
	expect_event docker_guaranteed_pod_is_identified metadata.namespace=shop \
		metadata.pod=db-0 metadata.container_runtime=docker
	"$ODSBPF" events --audit-log "$LOG" --namespace shop --pod web-0 |
		grep -q '^[0-9-]* [0-9:]* *shop/web-0 *probe\[' &&
		pass events_table_shows_namespace_and_pod ||
		fail events_table_shows_namespace_and_pod "$("$ODSBPF" events --audit-log "$LOG" | tail -3)"
}

test_exemptions() {
	expect exempt_namespace_pod_is_let_through ok "$CT_DNS"
	expect pod_without_log_dir_is_enforced EPERM "$CT_LATE"
	expect_event pod_without_log_dir_has_its_uid_but_no_namespace \
		metadata.pod_uid=$UID_LATE metadata.cgroup_id="$(stat -c %i "$CG/$CT_LATE")"
	expect unknown_cgroup_is_enforced EPERM not-a-pod
	expect agent_own_cgroup_is_never_denied ok agent-pod

	mkdir "$PODS/kube-system_late-0_$UID_LATE"
	expect_within pod_becomes_exempt_when_its_log_dir_appears ok "$CT_LATE"
	rmdir "$PODS/kube-system_late-0_$UID_LATE"
	expect_within pod_is_enforced_again_when_its_log_dir_goes EPERM "$CT_LATE"

	# A kube-system pod goes: its exemption goes with it.
	local before after

	before=$(exempt_entries)
	rmdir "$PODS/kube-system_coredns-0_$UID_DNS" "$CG/$CT_DNS" "$CG/$POD_DNS"
	for _ in $(seq 30); do
		after=$(exempt_entries)
		[ "$after" = 1 ] && break
		sleep 0.1
	done
	[ "$before" = 2 ] && [ "$after" = 1 ] &&
		pass exemptions_follow_pods_that_go ||
		fail exemptions_follow_pods_that_go "odsbpf_exempt held '$before', then '$after'; expected 2 (coredns-0, the agent), then 1"
}

main() {
	local why

	why=$(cannot_enforce_reason)
	if [ -n "$why" ]; then
		skip e2e_pods "$why"
		return 0
	fi
	command -v bpftool >/dev/null || { skip e2e_pods "bpftool missing"; return 0; }
	node_up || { fail e2e_pods_setup "cannot make the test namespace and cgroup"; return; }
	lay_out_node || { fail e2e_pods_setup "cannot lay out the fake node"; return; }

	# The agent runs in a "pod" of its own below the enforced cgroup.
	AGENT_CGROUP="$CG/agent-pod" start_agent -v || { fail e2e_pods_agent_starts "$(head -c 600 "$SANDBOX_TMP/agent.err")"; return; }
	test_identity
	test_exemptions
	stop_agent
}

main
