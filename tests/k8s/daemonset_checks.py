#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
"""What issue 7 asks of deploy/daemonset, read off the rendered manifests.

    daemonset_checks.py RENDERED.json DEFAULT_POLICY

RENDERED.json is the kustomize output as a JSON array (manifests.mjs
json). Prints one line per check, "NAME<TAB>" when it holds and
"NAME<TAB>REASON" when not; tests/deploy.sh turns them into PASS/FAIL.
"""
import json
import sys

CAPABILITIES = {"BPF", "NET_ADMIN", "PERFMON", "SYS_ADMIN"}


def one(docs, kind):
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects, expected 1"
    return found[0]


def pod(docs):
    return one(docs, "DaemonSet")["spec"]["template"]["spec"]


def agent(docs):
    containers = pod(docs)["containers"]
    assert len(containers) == 1, f"{len(containers)} containers"
    return containers[0]


def arg(container, flag):
    for a in container.get("args", []):
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    raise AssertionError(f"no {flag}= among the agent's args")


def volume_of(docs, mount_path):
    c = agent(docs)
    mounts = [m for m in c["volumeMounts"] if m["mountPath"] == mount_path]
    assert mounts, f"nothing mounted at {mount_path}"
    vols = {v["name"]: v for v in pod(docs)["volumes"]}
    return mounts[0], vols[mounts[0]["name"]]


def configmap_holds_exactly_default_json(docs, policy):
    cms = [d for d in docs if d["kind"] == "ConfigMap"
           and d["metadata"]["name"].startswith("odsbpf-policy")]
    assert len(cms) == 1, f"{len(cms)} odsbpf-policy ConfigMaps"
    data = cms[0].get("data", {})
    assert list(data) == ["default.json"], f"keys {list(data)}"
    assert data["default.json"] == policy, (
        "differs from policies/default.json: "
        "cp policies/default.json deploy/daemonset/policies/default.json")


def daemonset_mounts_the_generated_configmap(docs, _):
    cm = [d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"
          and d["metadata"]["name"].startswith("odsbpf-policy")][0]
    mount, vol = volume_of(docs, arg(agent(docs), "--policy-dir"))
    assert vol.get("configMap", {}).get("name") == cm, \
        f"policy volume {vol}, ConfigMap {cm}"
    assert mount.get("readOnly"), "the policy is mounted writable"


def daemonset_is_not_privileged_and_adds_four_capabilities(docs, _):
    sc = agent(docs)["securityContext"]
    assert sc.get("privileged") is False, "privileged is not false"
    assert sc.get("allowPrivilegeEscalation") is False, \
        "allowPrivilegeEscalation is not false"
    caps = sc.get("capabilities", {})
    assert caps.get("drop") == ["ALL"], f"drop {caps.get('drop')}"
    assert set(caps.get("add", [])) == CAPABILITIES, f"add {caps.get('add')}"


def daemonset_root_filesystem_is_read_only(docs, _):
    sc = agent(docs)["securityContext"]
    assert sc.get("readOnlyRootFilesystem") is True, "not read-only"
    writable = [m["mountPath"] for m in agent(docs)["volumeMounts"]
                if not m.get("readOnly")]
    allowed = {"/host/sys/fs/bpf", "/var/log/odsbpf", "/run/odsbpf"}
    assert set(writable) <= allowed, f"writable mounts {writable}"


def daemonset_shares_no_host_pid_namespace(docs, _):
    assert pod(docs).get("hostPID") is False, "hostPID is not false"
    assert not pod(docs).get("hostIPC"), "hostIPC"


def daemonset_tolerates_every_taint(docs, _):
    tol = pod(docs).get("tolerations", [])
    assert {"operator": "Exists"} in tol, f"tolerations {tol}"


def daemonset_is_system_node_critical(docs, _):
    name = pod(docs).get("priorityClassName")
    assert name == "system-node-critical", f"priorityClassName {name}"


def daemonset_rolls_out_one_node_at_a_time(docs, _):
    s = one(docs, "DaemonSet")["spec"]["updateStrategy"]
    ru = s.get("rollingUpdate", {})
    assert s.get("type") == "RollingUpdate", f"type {s.get('type')}"
    assert ru.get("maxUnavailable") == 1 and ru.get("maxSurge") == 0, f"{ru}"


def daemonset_probes_the_agent_endpoints(docs, _):
    c = agent(docs)
    port = arg(c, "--listen").rsplit(":", 1)[1]
    ports = {p["name"]: str(p["containerPort"]) for p in c["ports"]}
    for probe, path in (("readinessProbe", "/readyz"),
                        ("livenessProbe", "/healthz")):
        get = c[probe]["httpGet"]
        assert get["path"] == path, f"{probe} path {get['path']}"
        assert ports.get(get["port"], str(get["port"])) == port, \
            f"{probe} port {get['port']}, the agent listens on {port}"


def daemonset_sets_requests_and_limits(docs, _):
    r = agent(docs)["resources"]
    for k in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(r.get(k, {})), f"{k} {r.get(k)}"


def daemonset_mounts_the_host_paths(docs, _):
    want = {  # container path: (host path, read-only)
        arg(agent(docs), "--pin-root").rsplit("/", 1)[0]: ("/sys/fs/bpf", False),
        "/host/sys/fs/cgroup": ("/sys/fs/cgroup", True),
        arg(agent(docs), "--pods-log-dir"): ("/var/log/pods", True),
        arg(agent(docs), "--audit-log").rsplit("/", 1)[0]: ("/var/log/odsbpf", False),
    }
    for path, (host, ro) in want.items():
        mount, vol = volume_of(docs, path)
        got = vol.get("hostPath", {}).get("path")
        assert got == host, f"{path} comes from {got}, expected {host}"
        assert bool(mount.get("readOnly")) == ro, \
            f"{path} readOnly={mount.get('readOnly')}"
    assert arg(agent(docs), "--cgroup").startswith("/host/sys/fs/cgroup/"), \
        "--cgroup is not below the cgroup2 mount"


def serviceaccount_has_no_api_access(docs, _):
    sa = one(docs, "ServiceAccount")
    assert sa.get("automountServiceAccountToken") is False, "SA mounts a token"
    assert pod(docs).get("automountServiceAccountToken") is False, \
        "the pod mounts a token"
    assert pod(docs).get("serviceAccountName") == sa["metadata"]["name"], \
        "the pod runs as another account"
    rbac = [d["kind"] for d in docs if d["apiVersion"].startswith(
        "rbac.authorization.k8s.io")]
    assert not rbac, f"RBAC objects {rbac}"


CHECKS = [configmap_holds_exactly_default_json,
          daemonset_mounts_the_generated_configmap,
          daemonset_is_not_privileged_and_adds_four_capabilities,
          daemonset_root_filesystem_is_read_only,
          daemonset_shares_no_host_pid_namespace,
          daemonset_tolerates_every_taint,
          daemonset_is_system_node_critical,
          daemonset_rolls_out_one_node_at_a_time,
          daemonset_probes_the_agent_endpoints,
          daemonset_sets_requests_and_limits,
          daemonset_mounts_the_host_paths,
          serviceaccount_has_no_api_access]


def main():
    docs = json.load(open(sys.argv[1]))
    policy = open(sys.argv[2]).read()
    for check in CHECKS:
        try:
            check(docs, policy)
            why = ""
        except (AssertionError, KeyError, IndexError, TypeError) as e:
            why = (str(e) or repr(e)).replace("\n", " ")
        print(f"{check.__name__}\t{why}")


if __name__ == "__main__":
    main()
