/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The contract between the kernel programs and the agent: map layouts,
 * event records and the constants both sides read. Every struct here is
 * shared byte for byte, so each has fixed-width fields, explicit padding
 * and a size assertion. Byte order is stated per field.
 *
 * Bump ODSBPF_LAYOUT_VERSION whenever any struct or map here changes:
 * pinned maps outlive the binary that created them.
 */
#ifndef ODSBPF_H
#define ODSBPF_H

#define ODSBPF_LAYOUT_VERSION	1

/* Generations of policy maps: the agent fills the inactive one, then flips. */
#define ODSBPF_GENERATIONS	2

/*
 * Capacity of one generation's longest-prefix trie, per family. The tries
 * are created with BPF_F_NO_PREALLOC, so capacity costs nothing until used.
 */
#define ODSBPF_MAX_PREFIXES	(256 * 1024)

/* Port/protocol exceptions one prefix can carry; the compiler enforces it. */
#define ODSBPF_MAX_SEGMENTS	16

/* Rule id reported when no rule matched and defaultAction decided. */
#define ODSBPF_RULE_DEFAULT	0xffff
/* Rule id reported when the programs found no policy at all (fail closed). */
#define ODSBPF_RULE_NO_POLICY	0xfffe

/* Protocol classes, one bit each, as rules name them. */
#define ODSBPF_PROTO_TCP	(1 << 0)
#define ODSBPF_PROTO_UDP	(1 << 1)
#define ODSBPF_PROTO_ICMP	(1 << 2)	/* ICMP and ICMPv6 */
#define ODSBPF_PROTO_OTHER	(1 << 3)	/* anything else */
#define ODSBPF_PROTO_ALL	0x0f

enum odsbpf_action {
	ODSBPF_ALLOW = 0,
	ODSBPF_DENY = 1,
};

enum odsbpf_mode {
	ODSBPF_MODE_ENFORCE = 0,
	ODSBPF_MODE_AUDIT = 1,
};

/* What happened to the traffic an event reports. */
enum odsbpf_verdict {
	ODSBPF_VERDICT_DENIED = 1,	/* blocked: the caller got EPERM */
	ODSBPF_VERDICT_AUDITED = 2,	/* audit mode: let through, would deny */
};

enum odsbpf_hook {
	ODSBPF_HOOK_CONNECT4 = 1,
	ODSBPF_HOOK_CONNECT6 = 2,
	ODSBPF_HOOK_SENDMSG4 = 3,
	ODSBPF_HOOK_SENDMSG6 = 4,
	ODSBPF_HOOK_CGROUP_SKB = 5,	/* cgroup_skb/egress */
	ODSBPF_HOOK_XDP = 6,		/* XDP on a pod's host-side veth */
};

enum odsbpf_layer {
	ODSBPF_LAYER_SOCKET = 1,
	ODSBPF_LAYER_CGROUP_SKB = 2,
	ODSBPF_LAYER_XDP = 3,
};

/*
 * Key of the IPv4 trie. prefixlen is host order (LPM trie convention),
 * addr network order. IPv4-mapped and NAT64 IPv6 destinations are looked
 * up here as the IPv4 address they carry.
 */
struct odsbpf_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};
_Static_assert(sizeof(struct odsbpf_lpm4_key) == 8, "lpm4 key size");

/* Key of the IPv6 trie: prefixlen host order, addr network order. */
struct odsbpf_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};
_Static_assert(sizeof(struct odsbpf_lpm6_key) == 20, "lpm6 key size");

/*
 * One port range for some protocols whose decision differs from the
 * prefix's fallback. Ports are host order and inclusive.
 */
struct odsbpf_segment {
	__u16 port_lo;
	__u16 port_hi;
	__u8 protos;		/* ODSBPF_PROTO_* bits */
	__u8 action;		/* enum odsbpf_action */
	__u16 rule_id;		/* index into the generation's rule names */
};
_Static_assert(sizeof(struct odsbpf_segment) == 8, "segment size");

/*
 * Value of both tries: the complete, flattened decision for every address
 * whose longest policy prefix is this entry's. The compiler has already
 * applied every shorter rule that contains it, so the kernel needs only
 * the one lookup, then a scan of at most ODSBPF_MAX_SEGMENTS exceptions;
 * when none matches, the fallback decides.
 */
struct odsbpf_prefix {
	__u8 fallback_action;	/* enum odsbpf_action */
	__u8 nr_segments;	/* used entries of segments[] */
	__u16 fallback_rule;	/* rule id, or ODSBPF_RULE_DEFAULT */
	__u32 pad;
	struct odsbpf_segment segments[ODSBPF_MAX_SEGMENTS];
};
_Static_assert(sizeof(struct odsbpf_prefix) == 8 + 8 * ODSBPF_MAX_SEGMENTS,
	       "verdict size");

/*
 * Settings of one generation, in the odsbpf_gens array (key = generation
 * index). Read together with that generation's tries, never mixed.
 */
struct odsbpf_gen_settings {
	__u8 default_action;	/* enum odsbpf_action, when no prefix matches */
	__u8 mode;		/* enum odsbpf_mode */
	__u16 pad;
	__u32 policy_id;	/* agent's load counter, echoed in events */
};
_Static_assert(sizeof(struct odsbpf_gen_settings) == 8, "gen settings size");

/* odsbpf_active, key 0: which generation the programs read. */
struct odsbpf_active {
	__u32 gen;		/* 0 .. ODSBPF_GENERATIONS - 1 */
	__u32 pad;
};
_Static_assert(sizeof(struct odsbpf_active) == 8, "active size");

/* Indexes of the per-CPU odsbpf_counters array. */
enum odsbpf_counter {
	ODSBPF_CNT_ALLOWED = 0,
	ODSBPF_CNT_DENIED,
	ODSBPF_CNT_AUDITED,
	ODSBPF_CNT_EVENTS_LOST,	/* ring buffer full: event not written */
	ODSBPF_CNT_NO_POLICY,	/* no generation found: denied, fail closed */
	ODSBPF_CNT_MAX,
};

#define ODSBPF_COMM_LEN	16

/*
 * One denial (or would-be denial), written to the odsbpf_events ring
 * buffer. Addresses are network order and always 16 bytes: IPv4 is stored
 * v4-mapped (::ffff:a.b.c.d). Ports are host order.
 */
struct odsbpf_event {
	__u64 ktime_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup_id;
	__u32 tgid;		/* the process, as userspace calls pid */
	__u32 tid;
	__u32 uid;
	__u32 gid;
	__u8 daddr[16];		/* destination as the caller wrote it */
	__u8 judged[16];	/* destination as the policy judged it */
	__u8 saddr[16];		/* source, zero when unknown */
	__u16 dport;
	__u16 sport;		/* zero when unknown */
	__u8 family;		/* AF_INET or AF_INET6 of the socket */
	__u8 protocol;		/* IPPROTO_* */
	__u8 hook;		/* enum odsbpf_hook */
	__u8 verdict;		/* enum odsbpf_verdict */
	__u16 rule_id;
	__u16 pad;
	__u32 policy_id;
	char comm[ODSBPF_COMM_LEN];	/* empty at the packet layers */
	__u32 ifindex;		/* XDP: the interface; else 0 */
	__u32 suppressed;	/* like events dropped by the rate limit before */
	__u8 layer;		/* enum odsbpf_layer */
	__u8 pad2[7];
};
_Static_assert(sizeof(struct odsbpf_event) == 128, "event size");

#endif /* ODSBPF_H */
