#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
"""Policies of N CIDRs for the benchmarks, and the same CIDRs as an
iptables chain, an nftables interval set and an xdp-filter address list.

    gen_policy.py N DIR [--hosts]

writes DIR/policy-a.json and DIR/policy-b.json (the same CIDRs under other
rule names, for flipping), DIR/iptables.rules, DIR/nftables.nft and
DIR/addrs.txt. The CIDRs are disjoint blocks of 10.0.0.0/8 (lengths 26 to
32, or 32 only with --hosts), drawn with a fixed seed, so every run and
every tool sees the same ones. The denied destination, 10.255.255.1, lies
in the CIDR in the middle of the list (an iptables chain's average case);
the allowed one, 10.255.254.1, lies in no CIDR, nor does the client's
address, 10.255.253.1. All three are bound only inside the benchmark's own
namespaces.
"""
import ipaddress
import json
import os
import random
import sys

DENIED_CIDR = "10.255.255.0/28"
DENIED_HOST = "10.255.255.1/32"
BASE = int(ipaddress.IPv4Address("10.0.0.0"))
SLOT_BITS = 6                      # a /26 per slot
NR_SLOTS = 1 << (24 - SLOT_BITS)
# The last slots, 10.255.252.0/22, hold the two test destinations and the
# client's own address (10.255.253.1).
RESERVED = {(0x00FFFC00 >> SLOT_BITS) + i for i in range(1 << (10 - SLOT_BITS))}
RULE_SIZE = 1000                   # CIDRs per rule, as a team would split them


def cidrs(n, hosts):
    rnd = random.Random(20260101 + n)
    slots = rnd.sample(range(min(RESERVED)), n - 1)
    out = []
    for s in slots:
        plen = 32 if hosts else rnd.randint(32 - SLOT_BITS, 32)
        addr = BASE + (s << SLOT_BITS) + (rnd.randrange(1 << SLOT_BITS) if plen == 32 else 0)
        out.append(f"{ipaddress.IPv4Address(addr)}/{plen}")
    out.insert(n // 2, DENIED_HOST if hosts else DENIED_CIDR)
    return out


def policy(blocks, tag):
    rules = [{"name": f"deny-{tag}-{i}", "action": "deny", "cidrs": b}
             for i, b in enumerate(blocks)]
    return {"apiVersion": "odsbpf/v1", "mode": "enforce",
            "defaultAction": "allow", "rules": rules}


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    hosts = "--hosts" in sys.argv[3:]
    nets = cidrs(n, hosts)
    blocks = [nets[i:i + RULE_SIZE] for i in range(0, n, RULE_SIZE)]
    os.makedirs(out, exist_ok=True)
    for name, tag in (("policy-a.json", "a"), ("policy-b.json", "b")):
        with open(os.path.join(out, name), "w") as f:
            json.dump(policy(blocks, tag), f)
    with open(os.path.join(out, "iptables.rules"), "w") as f:
        f.write("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n"
                ":OUTPUT ACCEPT [0:0]\n")
        for c in nets:
            f.write(f"-A OUTPUT -d {c} -p tcp -j REJECT --reject-with tcp-reset\n")
        f.write("COMMIT\n")
    with open(os.path.join(out, "nftables.nft"), "w") as f:
        f.write("flush ruleset\ntable ip bench {\n"
                "\tset denied {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
                "\t\telements = {\n")
        f.write(",\n".join(f"\t\t\t{c}" for c in nets))
        f.write("\n\t\t}\n\t}\n\tchain output {\n"
                "\t\ttype filter hook output priority 0; policy accept;\n"
                "\t\tip daddr @denied meta l4proto tcp reject with tcp reset\n"
                "\t}\n}\n")
    with open(os.path.join(out, "addrs.txt"), "w") as f:
        f.write("\n".join(c.split("/")[0] for c in nets) + "\n")


if __name__ == "__main__":
    main()
