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

#define ODSBPF_LAYOUT_VERSION	3

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
/* Rule id of a packet dropped for carrying a source route (packet layers). */
#define ODSBPF_RULE_SOURCE_ROUTED	0xfffd

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
 * when none matches, the fallback decides. Every trie has a /0 entry that
 * carries the defaultAction. Entries carry the policy id and mode, so a
 * lookup answers for one policy whole.
 */
struct odsbpf_prefix {
	__u8 fallback_action;	/* enum odsbpf_action */
	__u8 nr_segments;	/* used entries of segments[] */
	__u8 mode;		/* enum odsbpf_mode */
	__u8 pad;
	__u16 fallback_rule;	/* rule id, or ODSBPF_RULE_DEFAULT */
	__u16 pad2;
	__u32 policy_id;	/* the agent's load counter, echoed in events */
	struct odsbpf_segment segments[ODSBPF_MAX_SEGMENTS];
};
_Static_assert(sizeof(struct odsbpf_prefix) == 12 + 8 * ODSBPF_MAX_SEGMENTS,
	       "prefix value size");

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
	ODSBPF_CNT_EXEMPT,	/* let through unjudged: an exempt cgroup */
	ODSBPF_CNT_SUPPRESSED,	/* denied, event held back by the rate limit */
	/* cgroup_skb/egress: one counter per enum odsbpf_pkt_outcome */
	ODSBPF_CNT_SKB_ALLOWED,
	ODSBPF_CNT_SKB_DENIED,
	ODSBPF_CNT_SKB_AUDITED,
	ODSBPF_CNT_SKB_NEIGHBOUR,
	ODSBPF_CNT_SKB_REPLY,
	ODSBPF_CNT_SKB_UNPARSEABLE,
	ODSBPF_CNT_SKB_TOO_DEEP,
	ODSBPF_CNT_SKB_SOURCE_ROUTED,
	ODSBPF_CNT_SKB_UNSUPPORTED,
	/* XDP: the same, in the same order */
	ODSBPF_CNT_XDP_ALLOWED,
	ODSBPF_CNT_XDP_DENIED,
	ODSBPF_CNT_XDP_AUDITED,
	ODSBPF_CNT_XDP_NEIGHBOUR,
	ODSBPF_CNT_XDP_REPLY,
	ODSBPF_CNT_XDP_UNPARSEABLE,
	ODSBPF_CNT_XDP_TOO_DEEP,
	ODSBPF_CNT_XDP_SOURCE_ROUTED,
	ODSBPF_CNT_XDP_UNSUPPORTED,
	ODSBPF_CNT_MAX,
};

/*
 * What a packet layer did with one packet. Each packet layer counts these
 * in its own block of odsbpf_counters, at ODSBPF_CNT_SKB_ALLOWED or
 * ODSBPF_CNT_XDP_ALLOWED plus the outcome. Unjudged passes and drops for
 * a reason other than the policy raise no event.
 */
enum odsbpf_pkt_outcome {
	ODSBPF_PKT_ALLOWED = 0,		/* judged: allowed */
	ODSBPF_PKT_DENIED,		/* judged: dropped by the policy */
	ODSBPF_PKT_AUDITED,		/* judged: would drop; audit mode */
	ODSBPF_PKT_NEIGHBOUR,		/* ARP or IPv6 neighbour discovery */
	ODSBPF_PKT_REPLY,		/* TCP past its SYN, ICMP reply or error */
	ODSBPF_PKT_UNPARSEABLE,		/* dropped: truncated or malformed */
	ODSBPF_PKT_TOO_DEEP,		/* dropped: tags or IPv6 headers past the bound */
	ODSBPF_PKT_SOURCE_ROUTED,	/* dropped: the destination is not final */
	ODSBPF_PKT_UNSUPPORTED,		/* dropped: not IPv4, IPv6 or ARP */
	ODSBPF_PKT_NR,
};
_Static_assert(ODSBPF_CNT_XDP_ALLOWED - ODSBPF_CNT_SKB_ALLOWED == ODSBPF_PKT_NR,
	       "one counter per packet outcome");
_Static_assert(ODSBPF_CNT_XDP_UNSUPPORTED - ODSBPF_CNT_XDP_ALLOWED ==
	       ODSBPF_PKT_UNSUPPORTED, "packet counters in outcome order");

/* Bounds of the packet parser: deeper frames are dropped (TOO_DEEP). */
#define ODSBPF_MAX_VLAN_TAGS	2	/* 802.1Q, or 802.1ad + 802.1Q */
#define ODSBPF_MAX_IPV6_EXT	8	/* IPv6 extension headers followed */

/*
 * Exempt cgroups. Why a cgroup id is in odsbpf_exempt; the programs let
 * through, unjudged, every process in that cgroup or below it.
 */
enum odsbpf_exempt_reason {
	ODSBPF_EXEMPT_NAMESPACE = 1,	/* a pod of an exempt namespace */
	ODSBPF_EXEMPT_SELF = 2,		/* the agent's own cgroup */
};

/* How deep below the root the programs look for an exempt ancestor. */
#define ODSBPF_EXEMPT_MAX_DEPTH	16

/* Capacity of odsbpf_exempt: pods of exempt namespaces, plus the agent. */
#define ODSBPF_MAX_EXEMPT	16384

/* Value of odsbpf_exempt (key: cgroup id, host order, as the kernel's). */
struct odsbpf_exempt {
	__u32 reason;		/* enum odsbpf_exempt_reason */
	__u32 pad;
};
_Static_assert(sizeof(struct odsbpf_exempt) == 8, "exempt size");

/*
 * odsbpf_settings, key 0: what the agent tells every program besides the
 * policy. All host order. Rate limiting is a GCRA token bucket: one
 * event per interval_ns, up to burst at once, where tolerance_ns =
 * interval_ns * (burst - 1); interval_ns 0 emits every event.
 */
struct odsbpf_settings {
	__u64 rl_interval_ns;
	__u64 rl_tolerance_ns;
	__u32 nr_exempt;	/* entries in odsbpf_exempt; 0 skips the walk */
	__u32 pad;
	/*
	 * The node's network namespace (bpf_get_netns_cookie): loopback is
	 * judged only for sockets in it, a pod's own loopback is not the
	 * node's. 0 judges loopback everywhere.
	 */
	__u64 host_netns_cookie;
};
_Static_assert(sizeof(struct odsbpf_settings) == 32, "settings size");

/* Capacity of the LRU map of rate-limit buckets. */
#define ODSBPF_MAX_BUCKETS	16384

/*
 * Key of odsbpf_buckets: one workload and one destination. cgroup_id is
 * the socket's cgroup (0 at XDP); ifindex the interface at XDP (else 0);
 * addr the destination as the policy judged it (IPv4 v4-mapped, network
 * order).
 */
struct odsbpf_bucket_key {
	__u64 cgroup_id;
	__u32 ifindex;
	__u32 pad;
	__u8 addr[16];
};
_Static_assert(sizeof(struct odsbpf_bucket_key) == 32, "bucket key size");

/*
 * Value of odsbpf_buckets. suppressed only ever changes by atomic adds:
 * the programs add one per held-back (or ring-full) event and subtract
 * what an emitted event carries, so no count is lost between CPUs. The
 * fields after it describe the last denial, for the agent's line about
 * a bucket that went idle with suppressed events (egress.suppressed).
 */
struct odsbpf_bucket {
	__u64 tat_ns;		/* GCRA theoretical arrival time, monotonic */
	__u64 last_ns;		/* last denial, monotonic */
	__u32 suppressed;	/* denials not yet carried by an event */
	__u32 policy_id;
	__u16 rule_id;
	__u16 dport;		/* host order */
	__u8 protocol;		/* IPPROTO_* */
	__u8 hook;		/* enum odsbpf_hook */
	__u8 verdict;		/* enum odsbpf_verdict */
	__u8 layer;		/* enum odsbpf_layer */
	__u8 family;		/* AF_INET or AF_INET6 of the socket */
	__u8 pad[7];
};
_Static_assert(sizeof(struct odsbpf_bucket) == 40, "bucket size");

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
	__u32 suppressed;	/* like events held back before this one (rate
				 * limit, or no room in the ring buffer) */
	__u8 layer;		/* enum odsbpf_layer */
	__u8 pad2[7];
};
_Static_assert(sizeof(struct odsbpf_event) == 128, "event size");

#endif /* ODSBPF_H */
