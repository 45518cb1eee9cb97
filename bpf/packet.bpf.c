// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The packet layers: cgroup_skb/egress on the agent's cgroup, and XDP on
 * the host side of each pod's veth. Both parse with parse.bpf.h and judge
 * with decide() against the maps the socket programs use (the agent hands
 * this object their fds), so one policy decides every layer alike.
 *
 * A packet is reported once. In enforce mode that holds by construction:
 * a layer only sees what the layers above it let through, and reports
 * only what it drops itself. In audit mode nothing is dropped, so
 * cgroup_skb keeps quiet about TCP and UDP of kernel sockets (the socket
 * hooks reported the connect or sendmsg) and records every flow it let
 * through in odsbpf_audited, which XDP, further down the same path,
 * checks before it reports.
 */
#include "parse.bpf.h"

/* cgroup_skb return values. */
#define SKB_PASS	1
#define SKB_DROP	0

#ifndef SOCK_STREAM
#define SOCK_STREAM	1
#define SOCK_DGRAM	2
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* One flow as both packet layers see it: addresses as parsed, ports. */
struct flow_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
	__u8 l4;
	__u8 pad[3];
};

/* Flows cgroup_skb let through in audit mode: XDP does not report them. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow_key);
	__type(value, __u8);
} odsbpf_audited SEC(".maps");

/* Who sent a packet, as far as the layer knows, and where to count it. */
struct origin {
	__u64 cgroup_id;	/* cgroup_skb: the socket's cgroup */
	__u32 uid;		/* cgroup_skb: the socket's owner */
	__u32 ifindex;		/* XDP: the interface */
	__u32 counters;		/* first counter of the layer's block */
	__u8 hook;
	__u8 layer;
	bool judged_above;	/* the socket hooks judged and reported it */
	bool xdp;
};

static __always_inline void flow_key_of(const struct packet *p,
					struct flow_key *k)
{
	copy6(k->saddr, p->saddr);
	copy6(k->daddr, p->daddr);
	k->sport = p->sport;
	k->dport = p->dport;
	k->l4 = p->l4;
}

/* The destination as the policy judges it: mapped and NAT64 become IPv4. */
static __always_inline void dest_of(const struct packet *p, struct dest *d)
{
	copy6(d->raw, p->daddr);
	copy6(d->src, p->saddr);
	judge_ip6(d, p->daddr);
	d->port = p->dport;
	d->protos = proto_class(p->l4);
	d->any_port = p->later_fragment;
}

static __always_inline void fill_event(struct odsbpf_event *e,
				       const struct packet *p,
				       const struct dest *d,
				       const struct decision *dec,
				       const struct origin *o, __u8 verdict)
{
	e->cgroup_id = o->cgroup_id;
	e->uid = o->uid;
	e->ifindex = o->ifindex;
	event_fill_addrs(e, d);
	e->dport = p->dport;
	e->sport = p->sport;
	e->family = p->family;
	e->protocol = p->l4;
	e->hook = o->hook;
	e->layer = o->layer;
	e->verdict = verdict;
	e->rule_id = dec->rule_id;
	e->policy_id = dec->policy_id;
}

/* One event, unless the rate limit holds it back (then it is counted). */
static __always_inline void report(const struct packet *p, const struct dest *d,
				   const struct decision *dec,
				   const struct origin *o, __u8 verdict)
{
	__u64 now = bpf_ktime_get_ns();
	struct odsbpf_bucket *b = bucket_note(o->cgroup_id, o->ifindex, d, now);
	struct odsbpf_event *e;

	if (b)
		bucket_describe(b, dec, p->dport, p->l4, p->family, o->hook,
				verdict, o->layer);
	e = event_reserve(b, now);
	if (!e)
		return;
	fill_event(e, p, d, dec, o, verdict);
	bpf_ringbuf_submit(e, 0);
}

/* Count an outcome the parser reached; true when the packet may pass. */
static __always_inline bool pass_unjudged(const struct origin *o,
					  enum parse_result r)
{
	count(o->counters + r);
	return r == PARSE_NEIGHBOUR || r == PARSE_REPLY;
}

/*
 * A source route names hops the policy never sees (the first of them may
 * be a denied address): such packets are dropped whatever the policy, and
 * reported, naming the header's destination, so that an attempt to reach
 * metadata this way is not silent.
 */
static __noinline void report_source_routed(const struct packet *p,
					   const struct origin *o)
{
	struct decision dec = {
		.action = ODSBPF_DENY,
		.rule_id = ODSBPF_RULE_SOURCE_ROUTED,
	};
	struct dest d = {};

	dest_of(p, &d);
	report(p, &d, &dec, o, ODSBPF_VERDICT_DENIED);
}

/*
 * Did the socket hooks judge this packet's destination? They run for the
 * connect and sendmsg of TCP and UDP sockets; a raw socket that writes
 * TCP or UDP headers itself passes no hook.
 */
static __always_inline bool socket_layer_judged(struct __sk_buff *skb,
						const struct packet *p)
{
	struct bpf_sock *sk = skb->sk;
	__u32 type, protocol;

	if (!sk)
		return false;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return false;
	/*
	 * Both fields are read as loads of their own: the verifier forbids
	 * arithmetic on a socket pointer.
	 */
	type = sk->type;
	protocol = sk->protocol;
	barrier_var(type);
	if (protocol != p->l4)
		return false;
	if (p->l4 == IPPROTO_TCP)
		return type == SOCK_STREAM;
	if (p->l4 == IPPROTO_UDP)
		return type == SOCK_DGRAM;
	return false;
}

/* Is the socket's cgroup, or an ancestor below the root, exempt? */
static __always_inline bool skb_exempt(struct __sk_buff *skb)
{
	struct odsbpf_settings *s = settings();

	if (!s || !s->nr_exempt)
		return false;
	for (int level = 1; level < ODSBPF_EXEMPT_MAX_DEPTH; level++) {
		__u64 id = bpf_skb_ancestor_cgroup_id(skb, level);

		if (!id)
			break;
		if (cgroup_exempt(id))
			return true;
	}
	return false;
}

/*
 * Judge a parsed packet, count and report it; true when it may pass. In
 * audit mode cgroup_skb records the flow, and XDP reports only a flow
 * cgroup_skb did not let through before it. A global function, like the
 * parser's entry points, so that the verifier checks it once rather than
 * once for every way parsing can end.
 */
__noinline bool judge(const struct packet *p, const struct origin *o)
{
	struct flow_key k = {};
	struct decision dec;
	struct dest d = {};
	__u8 seen = 1;

	if (!p || !o)
		return false;
	dest_of(p, &d);
	/*
	 * Loopback of a TCP or UDP socket was judged by the socket hooks,
	 * which know the socket's network namespace (a pod's own loopback is
	 * not the node's); this layer cannot tell the namespaces apart.
	 */
	if (!o->xdp && o->judged_above && is_loopback(&d)) {
		count(o->counters + ODSBPF_PKT_ALLOWED);
		return true;
	}
	decide(&d, &dec);
	if (dec.action == ODSBPF_ALLOW) {
		count(o->counters + ODSBPF_PKT_ALLOWED);
		return true;
	}
	if (dec.mode == ODSBPF_MODE_AUDIT) {
		count(o->counters + ODSBPF_PKT_AUDITED);
		flow_key_of(p, &k);
		if (!o->xdp)
			bpf_map_update_elem(&odsbpf_audited, &k, &seen, BPF_ANY);
		if (o->xdp ? !bpf_map_lookup_elem(&odsbpf_audited, &k) :
			     !o->judged_above)
			report(p, &d, &dec, o, ODSBPF_VERDICT_AUDITED);
		return true;
	}
	count(o->counters + ODSBPF_PKT_DENIED);
	report(p, &d, &dec, o, ODSBPF_VERDICT_DENIED);
	return false;
}

SEC("cgroup_skb/egress")
int cgroup_skb_egress(struct __sk_buff *skb)
{
	struct origin o = {
		.counters = ODSBPF_CNT_SKB_ALLOWED,
		.hook = ODSBPF_HOOK_CGROUP_SKB,
		.layer = ODSBPF_LAYER_CGROUP_SKB,
	};
	struct packet p = {};
	int r;

	if (skb_exempt(skb)) {
		count(ODSBPF_CNT_EXEMPT);
		return SKB_PASS;
	}
	r = parse_skb(skb, &p);
	o.judged_above = socket_layer_judged(skb, &p);
	/* Crafted TCP has no connection behind it: judge every segment. */
	if (r == PARSE_REPLY && p.l4 == IPPROTO_TCP && !o.judged_above)
		r = PARSE_JUDGE;
	o.cgroup_id = bpf_skb_cgroup_id(skb);
	o.uid = bpf_get_socket_uid(skb);
	if (r == PARSE_SOURCE_ROUTED)
		report_source_routed(&p, &o);
	if (r != PARSE_JUDGE)
		return pass_unjudged(&o, r) ? SKB_PASS : SKB_DROP;

	return judge(&p, &o) ? SKB_PASS : SKB_DROP;
}

SEC("xdp")
int xdp_veth(struct xdp_md *ctx)
{
	struct origin o = {
		.counters = ODSBPF_CNT_XDP_ALLOWED,
		.hook = ODSBPF_HOOK_XDP,
		.layer = ODSBPF_LAYER_XDP,
		.xdp = true,
	};
	struct packet p = {};
	int r;

	r = parse_xdp(ctx, &p);
	o.ifindex = ctx->ingress_ifindex;
	if (r == PARSE_SOURCE_ROUTED)
		report_source_routed(&p, &o);
	if (r != PARSE_JUDGE)
		return pass_unjudged(&o, r) ? XDP_PASS : XDP_DROP;

	return judge(&p, &o) ? XDP_PASS : XDP_DROP;
}
