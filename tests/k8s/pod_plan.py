#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
"""How the DaemonSet runs the agent, for tests/deploy.sh to run it so.

    pod_plan.py RENDERED.json NAME=VALUE...

The NAME=VALUE pairs stand for the container's environment ($(POD_IP),
$(PODS_CGROUP)...). Prints one line per fact:

    cap CAPABILITY                       added to the container
    mount PATH SOURCE ro|rw              SOURCE: hostPath:/p, configMap:NAME,
                                         emptyDir:
    arg ARGUMENT                         with $(NAME) substituted
"""
import json
import re
import sys


def main():
    docs = json.load(open(sys.argv[1]))
    env = dict(kv.split("=", 1) for kv in sys.argv[2:])
    spec = [d for d in docs if d["kind"] == "DaemonSet"][0]["spec"]
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    volumes = {v["name"]: v for v in pod["volumes"]}

    for cap in c["securityContext"]["capabilities"]["add"]:
        print(f"cap {cap}")
    for m in c["volumeMounts"]:
        v = volumes[m["name"]]
        if "hostPath" in v:
            source = "hostPath:" + v["hostPath"]["path"]
        elif "configMap" in v:
            source = "configMap:" + v["configMap"]["name"]
        else:
            source = "emptyDir:"
        print(f"mount {m['mountPath']} {source} {'ro' if m.get('readOnly') else 'rw'}")
    for a in c["args"]:
        print("arg " + re.sub(r"\$\((\w+)\)", lambda k: env[k.group(1)], a))


if __name__ == "__main__":
    main()
