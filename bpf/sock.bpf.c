// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Socket-layer enforcement: cgroup connect4/6 and sendmsg4/6. Each hook
 * judges the destination the caller asked for against the active policy
 * generation, returns EPERM on deny, and reports every denial (and every
 * would-be denial in audit mode) on the odsbpf_events ring buffer.
 */
#include "policy.bpf.h"

/* cgroup sock_addr return values: 1 lets the call go on, 0 fails it. */
#define SOCK_ALLOW	1
#define SOCK_REJECT	0

char LICENSE[] SEC("license") = "Dual BSD/GPL";

static __always_inline void report(struct bpf_sock_addr *ctx,
				   const struct dest *d,
				   const struct decision *dec, __u8 hook,
				   __u8 verdict)
{
	__u64 id, now = bpf_ktime_get_ns(), cgid = bpf_get_current_cgroup_id();
	struct odsbpf_bucket *b = bucket_note(cgid, 0, d, now);
	struct odsbpf_event *e;

	if (b)
		bucket_describe(b, dec, d->port, ctx->protocol, ctx->family,
				hook, verdict, ODSBPF_LAYER_SOCKET);
	e = event_reserve(b, now);
	if (!e)
		return;

	e->cgroup_id = cgid;
	id = bpf_get_current_pid_tgid();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	id = bpf_get_current_uid_gid();
	e->uid = (__u32)id;
	e->gid = id >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));

	event_fill_addrs(e, d);
	if (ctx->sk)
		e->sport = (__u16)ctx->sk->src_port;
	e->dport = d->port;
	e->family = ctx->family;
	e->protocol = ctx->protocol;
	e->hook = hook;
	e->layer = ODSBPF_LAYER_SOCKET;
	e->verdict = verdict;
	e->rule_id = dec->rule_id;
	e->policy_id = dec->policy_id;

	bpf_ringbuf_submit(e, 0);
}

/*
 * Loopback in a pod's own network namespace is the pod itself (its
 * sidecars), not the node: only sockets in the node's namespace have
 * their loopback judged, when the agent has named that namespace.
 */
static __always_inline bool own_loopback(struct bpf_sock_addr *ctx,
					 const struct dest *d)
{
	struct odsbpf_settings *s;

	if (!is_loopback(d))
		return false;
	s = settings();
	if (!s || !s->host_netns_cookie)
		return false;
	return bpf_get_netns_cookie(ctx) != s->host_netns_cookie;
}

/* Judge, count and report; returns the value the hook must return. */
static __always_inline int enforce(struct bpf_sock_addr *ctx,
				   struct dest *d, __u8 hook)
{
	struct decision dec;

	if (current_exempt()) {
		count(ODSBPF_CNT_EXEMPT);
		return SOCK_ALLOW;
	}
	if (own_loopback(ctx, d)) {
		count(ODSBPF_CNT_ALLOWED);
		return SOCK_ALLOW;
	}
	d->port = bpf_ntohs((__u16)ctx->user_port);
	d->protos = proto_class(ctx->protocol);
	decide(d, &dec);

	if (dec.action == ODSBPF_ALLOW) {
		count(ODSBPF_CNT_ALLOWED);
		return SOCK_ALLOW;
	}
	if (dec.mode == ODSBPF_MODE_AUDIT) {
		count(ODSBPF_CNT_AUDITED);
		report(ctx, d, &dec, hook, ODSBPF_VERDICT_AUDITED);
		return SOCK_ALLOW;
	}
	count(ODSBPF_CNT_DENIED);
	report(ctx, d, &dec, hook, ODSBPF_VERDICT_DENIED);
	return SOCK_REJECT;
}

/*
 * The helpers below read only the context fields their hook may read:
 * user_ip6 is off limits to connect4, msg_src_ip4 to connect hooks.
 */
static __always_inline void dest4(struct bpf_sock_addr *ctx, struct dest *d)
{
	d->is4 = true;
	d->ip4 = judge_ip4(ctx->user_ip4);
	ip4_to_mapped(d->raw, ctx->user_ip4);
}

static __always_inline void dest6(struct bpf_sock_addr *ctx, struct dest *d)
{
	d->raw[0] = ctx->user_ip6[0];
	d->raw[1] = ctx->user_ip6[1];
	d->raw[2] = ctx->user_ip6[2];
	d->raw[3] = ctx->user_ip6[3];
	judge_ip6(d, d->raw);
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	struct dest d = {};

	dest4(ctx, &d);
	return enforce(ctx, &d, ODSBPF_HOOK_CONNECT4);
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	struct dest d = {};

	dest6(ctx, &d);
	return enforce(ctx, &d, ODSBPF_HOOK_CONNECT6);
}

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx)
{
	struct dest d = {};

	dest4(ctx, &d);
	if (ctx->msg_src_ip4)
		ip4_to_mapped(d.src, ctx->msg_src_ip4);
	return enforce(ctx, &d, ODSBPF_HOOK_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx)
{
	struct dest d = {};

	dest6(ctx, &d);
	d.src[0] = ctx->msg_src_ip6[0];
	d.src[1] = ctx->msg_src_ip6[1];
	d.src[2] = ctx->msg_src_ip6[2];
	d.src[3] = ctx->msg_src_ip6[3];
	return enforce(ctx, &d, ODSBPF_HOOK_SENDMSG6);
}
