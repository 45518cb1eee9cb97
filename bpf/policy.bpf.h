/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * What every odsbpf program shares: the policy maps, the event ring
 * buffer, the counters, and the verdict. Each layer includes this once,
 * and the agent hands every object the same map fds, so one compiled
 * policy decides all layers alike.
 */
#ifndef ODSBPF_POLICY_BPF_H
#define ODSBPF_POLICY_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "odsbpf.h"

#ifndef AF_INET
#define AF_INET		2
#define AF_INET6	10
#endif

/*
 * Inner map templates. Sizes rather than types: clang emits the key and
 * value of a map reached only through __array() as forward declarations.
 */
struct policy4_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, ODSBPF_MAX_PREFIXES);
	__uint(key_size, sizeof(struct odsbpf_lpm4_key));
	__uint(value_size, sizeof(struct odsbpf_prefix));
};

struct policy6_trie {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, ODSBPF_MAX_PREFIXES);
	__uint(key_size, sizeof(struct odsbpf_lpm6_key));
	__uint(value_size, sizeof(struct odsbpf_prefix));
};

/* Generation index -> that generation's IPv4 trie (filled by the agent). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, ODSBPF_GENERATIONS);
	__type(key, __u32);
	__array(values, struct policy4_trie);
} odsbpf_pol4 SEC(".maps");

/* Generation index -> that generation's IPv6 trie. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, ODSBPF_GENERATIONS);
	__type(key, __u32);
	__array(values, struct policy6_trie);
} odsbpf_pol6 SEC(".maps");

/* Key 0: the generation the programs read now. One write flips it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct odsbpf_active);
} odsbpf_active SEC(".maps");

/* enum odsbpf_counter -> count, per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ODSBPF_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} odsbpf_counters SEC(".maps");

/* struct odsbpf_event records, consumed by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} odsbpf_events SEC(".maps");

/*
 * Cgroup id -> why it is exempt. The agent adds each pod cgroup of an
 * exempt namespace (and its own cgroup); a process is exempt when its
 * cgroup or any ancestor is here. Unknown cgroups are never here.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ODSBPF_MAX_EXEMPT);
	__type(key, __u64);
	__type(value, struct odsbpf_exempt);
} odsbpf_exempt SEC(".maps");

/* Key 0: rate-limit settings and the exempt count, from the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct odsbpf_settings);
} odsbpf_settings SEC(".maps");

/* (workload, judged destination) -> its rate-limit bucket. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ODSBPF_MAX_BUCKETS);
	__type(key, struct odsbpf_bucket_key);
	__type(value, struct odsbpf_bucket);
} odsbpf_buckets SEC(".maps");

/* A destination in the form the policy judges it. */
struct dest {
	bool is4;
	__u32 ip4;		/* network order, when is4 */
	__u32 ip6[4];		/* network order, when !is4 */
	__u16 port;		/* host order */
	__u8 protos;		/* the one ODSBPF_PROTO_* bit of the socket */
	bool any_port;		/* a later IP fragment: no port to match */
	__u32 raw[4];		/* as the caller wrote it, IPv4 v4-mapped */
	__u32 src[4];		/* source where the hook knows it, else 0 */
};

/* What the policy decided, and which rule decided it. */
struct decision {
	__u8 action;
	__u16 rule_id;
	__u32 policy_id;
	__u8 mode;
};

static __always_inline void count(__u32 idx)
{
	__u64 *val = bpf_map_lookup_elem(&odsbpf_counters, &idx);

	if (val)
		*val += 1;
}

static __always_inline __u8 proto_class(__u32 protocol)
{
	switch (protocol) {
	case IPPROTO_TCP:
		return ODSBPF_PROTO_TCP;
	case IPPROTO_UDP:
		return ODSBPF_PROTO_UDP;
	case IPPROTO_ICMP:
	case 58: /* IPPROTO_ICMPV6 */
		return ODSBPF_PROTO_ICMP;
	default:
		return ODSBPF_PROTO_OTHER;
	}
}

/* 0.0.0.0 reaches the local host: judge it as 127.0.0.1. */
static __always_inline __u32 judge_ip4(__u32 ip4)
{
	return ip4 ? ip4 : bpf_htonl(0x7f000001);
}

/*
 * Turn an IPv6 destination into the address the policy judges: v4-mapped
 * (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) become IPv4, :: becomes
 * ::1. Everything else stays IPv6.
 */
static __always_inline void judge_ip6(struct dest *d, const __u32 ip6[4])
{
	__u32 w0 = ip6[0], w1 = ip6[1], w2 = ip6[2], w3 = ip6[3];

	if (!w0 && !w1 && w2 == bpf_htonl(0x0000ffff)) {
		d->is4 = true;
		d->ip4 = judge_ip4(w3);
		return;
	}
	if (w0 == bpf_htonl(0x0064ff9b) && !w1 && !w2) {
		d->is4 = true;
		d->ip4 = judge_ip4(w3);
		return;
	}
	d->is4 = false;
	d->ip6[0] = w0;
	d->ip6[1] = w1;
	d->ip6[2] = w2;
	d->ip6[3] = w3;
	if (!w0 && !w1 && !w2 && !w3)
		d->ip6[3] = bpf_htonl(1);
}

static __always_inline struct odsbpf_prefix *lookup_prefix(__u32 gen,
							     const struct dest *d,
							     bool *no_policy)
{
	void *trie;

	if (d->is4) {
		struct odsbpf_lpm4_key key = { .prefixlen = 32 };

		__builtin_memcpy(key.addr, &d->ip4, 4);
		trie = bpf_map_lookup_elem(&odsbpf_pol4, &gen);
		if (!trie) {
			*no_policy = true;
			return NULL;
		}
		return bpf_map_lookup_elem(trie, &key);
	} else {
		struct odsbpf_lpm6_key key = { .prefixlen = 128 };

		__builtin_memcpy(key.addr, d->ip6, 16);
		trie = bpf_map_lookup_elem(&odsbpf_pol6, &gen);
		if (!trie) {
			*no_policy = true;
			return NULL;
		}
		return bpf_map_lookup_elem(trie, &key);
	}
}

/* Scan the prefix's exceptions; the fallback decides when none matches. */
static __always_inline void apply_segments(const struct odsbpf_prefix *v,
					   const struct dest *d,
					   struct decision *out)
{
	__u32 n = v->nr_segments;

	out->action = v->fallback_action;
	out->rule_id = v->fallback_rule;
	for (__u32 i = 0; i < ODSBPF_MAX_SEGMENTS; i++) {
		const struct odsbpf_segment *s = &v->segments[i];

		if (i >= n)
			break;
		if (!(s->protos & d->protos))
			continue;
		if (d->port < s->port_lo || d->port > s->port_hi)
			continue;
		out->action = s->action;
		out->rule_id = s->rule_id;
		return;
	}
}

/*
 * A later fragment carries no port. It is allowed when some port of its
 * protocol is allowed at the address (the first fragment, which has the
 * port, is judged in full), and denied when every port is: a deny by
 * address drops every fragment. The compiler keeps one protocol's
 * segments disjoint, so they cover all ports when their sizes sum to 65536.
 */
static __always_inline void apply_segments_any_port(const struct odsbpf_prefix *v,
						    const struct dest *d,
						    struct decision *out)
{
	__u32 n = v->nr_segments, covered = 0;
	__u16 deny_rule = v->fallback_rule;

	out->action = v->fallback_action;
	out->rule_id = v->fallback_rule;
	for (__u32 i = 0; i < ODSBPF_MAX_SEGMENTS; i++) {
		const struct odsbpf_segment *s = &v->segments[i];

		if (i >= n)
			break;
		if (!(s->protos & d->protos))
			continue;
		if (s->action == ODSBPF_ALLOW) {
			out->action = ODSBPF_ALLOW;
			out->rule_id = s->rule_id;
			return;
		}
		covered += (__u32)s->port_hi - s->port_lo + 1;
		deny_rule = s->rule_id;
	}
	if (covered >= 65536) {
		out->action = ODSBPF_DENY;
		out->rule_id = deny_rule;
	}
}

/*
 * Decide one destination under the active generation. Its tries are
 * never changed once published and every entry carries its policy id and
 * mode, so one lookup yields one policy's answer whole, even while the
 * agent swaps. With no policy at all the programs fail closed: a node
 * must never look protected while it is not.
 */
static __always_inline void decide(const struct dest *d, struct decision *out)
{
	__u32 zero = 0;
	struct odsbpf_active *active;
	struct odsbpf_prefix *v;
	bool no_policy = false;

	out->action = ODSBPF_DENY;
	out->rule_id = ODSBPF_RULE_NO_POLICY;
	out->policy_id = 0;
	out->mode = ODSBPF_MODE_ENFORCE;

	active = bpf_map_lookup_elem(&odsbpf_active, &zero);
	if (!active)
		goto no_policy;
	/* Every trie holds a /0 entry (the defaultAction): no match is no policy. */
	v = lookup_prefix(active->gen, d, &no_policy);
	if (no_policy || !v)
		goto no_policy;
	out->policy_id = v->policy_id;
	out->mode = v->mode;
	if (d->any_port)
		apply_segments_any_port(v, d, out);
	else
		apply_segments(v, d, out);
	return;

no_policy:
	count(ODSBPF_CNT_NO_POLICY);
}

static __always_inline void ip4_to_mapped(__u32 out[4], __u32 ip4)
{
	out[0] = 0;
	out[1] = 0;
	out[2] = bpf_htonl(0x0000ffff);
	out[3] = ip4;
}

static __always_inline void copy6(__u32 out[4], const __u32 in[4])
{
	out[0] = in[0];
	out[1] = in[1];
	out[2] = in[2];
	out[3] = in[3];
}

/* 127.0.0.0/8 or ::1, as judged (0.0.0.0 and :: are loopback by then). */
static __always_inline bool is_loopback(const struct dest *d)
{
	if (d->is4)
		return (bpf_ntohl(d->ip4) >> 24) == 127;
	return !d->ip6[0] && !d->ip6[1] && !d->ip6[2] && d->ip6[3] == bpf_htonl(1);
}

static __always_inline struct odsbpf_settings *settings(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&odsbpf_settings, &zero);
}

/*
 * Exemptions. Any layer asks cgroup_exempt() about each ancestor it can
 * name (bpf_skb_ancestor_cgroup_id() at cgroup_skb); the socket hooks
 * use current_exempt(). Exempt traffic is let through before judging.
 */
static __always_inline bool cgroup_exempt(__u64 cgroup_id)
{
	return bpf_map_lookup_elem(&odsbpf_exempt, &cgroup_id) != NULL;
}

/* Is the calling task's cgroup, or an ancestor below the root, exempt? */
static __always_inline bool current_exempt(void)
{
	struct odsbpf_settings *s = settings();

	if (!s || !s->nr_exempt)
		return false;
	for (int level = 1; level < ODSBPF_EXEMPT_MAX_DEPTH; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id)
			break;
		if (cgroup_exempt(id))
			return true;
	}
	return false;
}

/*
 * Rate limiting of events (never of enforcement), per workload and
 * destination. A layer reporting a denial calls bucket_note(); when
 * bucket_admit() says no, bucket_hold() counts the event instead of
 * writing it. An event that is written takes the count with
 * bucket_take() once its ring-buffer record is reserved; with no room
 * left, bucket_hold() again, so the next event carries it.
 */
static __always_inline struct odsbpf_bucket *
bucket_note(__u64 cgroup_id, __u32 ifindex, const struct dest *d, __u64 now)
{
	struct odsbpf_bucket_key key = { .cgroup_id = cgroup_id, .ifindex = ifindex };
	struct odsbpf_bucket fresh = {}, *b;

	if (d->is4)
		ip4_to_mapped((__u32 *)key.addr, d->ip4);
	else
		copy6((__u32 *)key.addr, d->ip6);
	b = bpf_map_lookup_elem(&odsbpf_buckets, &key);
	if (!b) {
		bpf_map_update_elem(&odsbpf_buckets, &key, &fresh, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&odsbpf_buckets, &key);
	}
	if (b)
		b->last_ns = now;
	return b;
}

/* The last denial's details, for the agent's line on an idle bucket. */
static __always_inline void bucket_describe(struct odsbpf_bucket *b,
					    const struct decision *dec,
					    __u16 dport, __u8 protocol,
					    __u8 family, __u8 hook,
					    __u8 verdict, __u8 layer)
{
	b->policy_id = dec->policy_id;
	b->rule_id = dec->rule_id;
	b->dport = dport;
	b->protocol = protocol;
	b->family = family;
	b->hook = hook;
	b->verdict = verdict;
	b->layer = layer;
}

/* GCRA: admit when the bucket is no more than burst - 1 intervals ahead. */
static __always_inline bool bucket_admit(struct odsbpf_bucket *b, __u64 now)
{
	struct odsbpf_settings *s = settings();
	__u64 tat;

	if (!s || !s->rl_interval_ns)
		return true;
	tat = b->tat_ns > now ? b->tat_ns : now;
	if (tat - now > s->rl_tolerance_ns)
		return false;
	b->tat_ns = tat + s->rl_interval_ns;
	return true;
}

static __always_inline void bucket_hold(struct odsbpf_bucket *b)
{
	__sync_fetch_and_add(&b->suppressed, 1);
}

/* Take what the bucket held back; adds racing with this are kept. */
static __always_inline __u32 bucket_take(struct odsbpf_bucket *b)
{
	__u32 n = *(volatile __u32 *)&b->suppressed;

	if (n)
		__sync_fetch_and_add(&b->suppressed, -n);
	return n;
}

/* An event's addresses: as written, the source, and as judged. */
static __always_inline void event_fill_addrs(struct odsbpf_event *e,
					     const struct dest *d)
{
	copy6((__u32 *)e->daddr, d->raw);
	copy6((__u32 *)e->saddr, d->src);
	if (d->is4)
		ip4_to_mapped((__u32 *)e->judged, d->ip4);
	else
		copy6((__u32 *)e->judged, d->ip6);
}

/*
 * The rate limit, then a ring-buffer record. NULL when the event is held
 * back or the ring is full: either way it is counted and carried by the
 * bucket's next event. Otherwise the record is zeroed, stamped with now
 * and carries the bucket's held-back count.
 */
static __always_inline struct odsbpf_event *event_reserve(struct odsbpf_bucket *b,
							  __u64 now)
{
	struct odsbpf_event *e;

	if (b && !bucket_admit(b, now)) {
		bucket_hold(b);
		count(ODSBPF_CNT_SUPPRESSED);
		return NULL;
	}
	e = bpf_ringbuf_reserve(&odsbpf_events, sizeof(*e), 0);
	if (!e) {
		if (b)
			bucket_hold(b);
		count(ODSBPF_CNT_EVENTS_LOST);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ktime_ns = now;
	e->suppressed = b ? bucket_take(b) : 0;
	return e;
}

#endif /* ODSBPF_POLICY_BPF_H */
