// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "cgroup.h"
#include "kernel_features.h"
#include "log.h"

static void add(json_t *out, const char *name, bool ok, const char *why)
{
	json_object_set_new(out, name, json_pack("{s:b, s:s}", "ok", ok, "why", why));
	if (!ok)
		pr_info("kernel feature %s: missing (%s)", name, why);
}

/* A libbpf probe's answer (1 yes, 0 no, <0 failed) as a feature. */
static void add_probe(json_t *out, const char *name, int ret, const char *why_needed)
{
	char why[160];

	snprintf(why, sizeof(why), "%s%s", why_needed,
		 ret == 1 ? "" : ret == 0 ? "; not supported" : "; probe failed");
	add(out, name, ret == 1, why);
}

#define probe_prog(out, name, type, why) \
	add_probe(out, name, libbpf_probe_bpf_prog_type(type, NULL), why)
#define probe_map(out, name, type, why) \
	add_probe(out, name, libbpf_probe_bpf_map_type(type, NULL), why)

static void probe_cgroup2(json_t *out)
{
	char root[4096];
	bool ok = !cgroup2_mount(root, sizeof(root));

	add(out, "cgroup_v2", ok, ok ? "cgroup2 hierarchy found in /proc/self/mountinfo" :
				       "no cgroup2 mount in /proc/self/mountinfo");
}

json_t *features_probe(void)
{
	json_t *out = json_object();
	struct utsname u;

	if (!uname(&u))
		json_object_set_new(out, "kernel", json_string(u.release));
	add(out, "btf", !access("/sys/kernel/btf/vmlinux", R_OK),
	    "/sys/kernel/btf/vmlinux, for CO-RE");
	probe_prog(out, "cgroup_sock_addr", BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
		   "connect4/6, sendmsg4/6 (4.17+)");
	probe_prog(out, "cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB, "packet layer per cgroup");
	probe_prog(out, "xdp", BPF_PROG_TYPE_XDP, "packet layer per interface");
	probe_map(out, "ringbuf", BPF_MAP_TYPE_RINGBUF, "event stream (5.8+)");
	probe_map(out, "lpm_trie", BPF_MAP_TYPE_LPM_TRIE, "policy lookups");
	probe_map(out, "array_of_maps", BPF_MAP_TYPE_ARRAY_OF_MAPS, "policy generations");
	probe_map(out, "lru_hash", BPF_MAP_TYPE_LRU_HASH, "rate limits");
	probe_cgroup2(out);
	return out;
}
