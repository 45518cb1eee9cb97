// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"

static const __u8 proto_classes[] = {
	ODSBPF_PROTO_TCP, ODSBPF_PROTO_UDP, ODSBPF_PROTO_ICMP, ODSBPF_PROTO_OTHER,
};
#define NR_CLASSES (sizeof(proto_classes) / sizeof(proto_classes[0]))

__u8 proto_class(int ipproto)
{
	switch (ipproto) {
	case IPPROTO_TCP:
		return ODSBPF_PROTO_TCP;
	case IPPROTO_UDP:
		return ODSBPF_PROTO_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return ODSBPF_PROTO_ICMP;
	default:
		return ODSBPF_PROTO_OTHER;
	}
}

static bool rule_matches(const struct policy_rule *r, __u16 port, __u8 proto)
{
	if (!(r->protos & proto))
		return false;
	if (!r->nr_ports)
		return true;
	for (size_t i = 0; i < r->nr_ports; i++)
		if (port >= r->ports[i].lo && port <= r->ports[i].hi)
			return true;
	return false;
}

/* Is candidate (of prefix length len) a better match than best? */
static bool better(int len, int action, int best_len, int best_action)
{
	if (len != best_len)
		return len > best_len;
	return action == ODSBPF_DENY && best_action != ODSBPF_DENY;
}

struct verdict policy_evaluate(const struct policy *p,
			       const struct addr_prefix *dest, __u16 port,
			       __u8 proto)
{
	struct verdict v = { p->default_action, ODSBPF_RULE_DEFAULT };
	int best_len = -1;

	for (size_t i = 0; i < p->nr_rules; i++) {
		const struct policy_rule *r = &p->rules[i];

		if (!rule_matches(r, port, proto))
			continue;
		for (size_t j = 0; j < policy_rule_nr_prefixes(r); j++) {
			const struct addr_prefix *cidr = policy_rule_prefix(r, j);

			if (!addr_contains(cidr, dest))
				continue;
			if (!better(cidr->len, r->action, best_len, v.action))
				continue;
			best_len = cidr->len;
			v.action = r->action;
			v.rule_id = i;
		}
	}
	return v;
}

static struct verdict apply_prefix(const struct odsbpf_prefix *val, __u16 port,
				   __u8 proto)
{
	struct verdict v = { val->fallback_action, val->fallback_rule };

	for (int i = 0; i < val->nr_segments; i++) {
		const struct odsbpf_segment *s = &val->segments[i];

		if ((s->protos & proto) && port >= s->port_lo && port <= s->port_hi)
			return (struct verdict){ s->action, s->rule_id };
	}
	return v;
}

struct verdict compiled_lookup(const struct compiled_policy *c,
			       const struct addr_prefix *dest, __u16 port,
			       __u8 proto)
{
	const struct odsbpf_prefix *best = NULL;
	int best_len = -1;
	size_t n = dest->is4 ? c->nr_v4 : c->nr_v6;

	for (size_t i = 0; i < n; i++) {
		struct addr_prefix p = { .is4 = dest->is4 };
		const struct odsbpf_prefix *val;

		if (dest->is4) {
			p.len = c->v4[i].key.prefixlen;
			memcpy(p.addr, c->v4[i].key.addr, 4);
			val = &c->v4[i].val;
		} else {
			p.len = c->v6[i].key.prefixlen;
			memcpy(p.addr, c->v6[i].key.addr, 16);
			val = &c->v6[i].val;
		}
		if (p.len > best_len && addr_contains(&p, dest)) {
			best = val;
			best_len = p.len;
		}
	}
	if (!best)
		return (struct verdict){ c->default_action, ODSBPF_RULE_DEFAULT };
	return apply_prefix(best, port, proto);
}

/* One CIDR of one rule, the unit the compiler sorts. */
struct item {
	struct addr_prefix prefix;
	unsigned int rule_id;
};

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = memcmp(x->prefix.addr, y->prefix.addr, 16);

	if (c)
		return c;
	if (x->prefix.len != y->prefix.len)
		return x->prefix.len < y->prefix.len ? -1 : 1;
	return x->rule_id < y->rule_id ? -1 : x->rule_id > y->rule_id;
}

/*
 * Items that share one prefix. The chain is the groups from the shortest
 * enclosing prefix down to the one being compiled.
 */
struct group {
	size_t first, count;	/* in the sorted items */
};

struct compile_state {
	const struct policy *pol;
	const struct item *items;
	struct group *chain;	/* ancestors, shortest first */
	size_t depth;
	char *err;
	size_t err_len;
};

static struct verdict chain_decide(const struct compile_state *st, __u16 port,
				   __u8 proto)
{
	for (size_t d = st->depth; d-- > 0;) {
		const struct group *g = &st->chain[d];
		struct verdict allow = { -1, 0 };

		for (size_t i = g->first; i < g->first + g->count; i++) {
			unsigned int id = st->items[i].rule_id;
			const struct policy_rule *r = &st->pol->rules[id];

			if (!rule_matches(r, port, proto))
				continue;
			if (r->action == ODSBPF_DENY)
				return (struct verdict){ ODSBPF_DENY, id };
			if (allow.action < 0)
				allow = (struct verdict){ ODSBPF_ALLOW, id };
		}
		if (allow.action >= 0)
			return allow;
	}
	return (struct verdict){ st->pol->default_action, ODSBPF_RULE_DEFAULT };
}

static bool chain_is_uniform(const struct compile_state *st)
{
	for (size_t d = 0; d < st->depth; d++) {
		const struct group *g = &st->chain[d];

		for (size_t i = g->first; i < g->first + g->count; i++) {
			const struct policy_rule *r = &st->pol->rules[st->items[i].rule_id];

			if (r->nr_ports || r->protos != ODSBPF_PROTO_ALL)
				return false;
		}
	}
	return true;
}

static int u32_cmp(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/*
 * The ports where some rule of the chain starts or stops applying, sorted
 * and unique, starting with 0: the decision is constant from one to the
 * next. Returns the count, or -ENOMEM.
 */
static int chain_breakpoints(const struct compile_state *st, __u32 **out)
{
	size_t n = 1, cap = 1;
	__u32 *b;

	for (size_t d = 0; d < st->depth; d++)
		for (size_t i = 0; i < st->chain[d].count; i++)
			cap += 2 * st->pol->rules[st->items[st->chain[d].first + i].rule_id].nr_ports;
	b = calloc(cap, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (size_t d = 0; d < st->depth; d++) {
		for (size_t i = 0; i < st->chain[d].count; i++) {
			const struct policy_rule *r =
				&st->pol->rules[st->items[st->chain[d].first + i].rule_id];

			for (size_t k = 0; k < r->nr_ports; k++) {
				b[n++] = r->ports[k].lo;
				if (r->ports[k].hi < 65535)
					b[n++] = r->ports[k].hi + 1;
			}
		}
	}
	qsort(b, n, sizeof(*b), u32_cmp);

	size_t u = 0;

	for (size_t i = 0; i < n; i++)
		if (!u || b[u - 1] != b[i])
			b[u++] = b[i];
	*out = b;
	return u;
}

static bool same_verdict(struct verdict a, struct verdict b)
{
	return a.action == b.action && a.rule_id == b.rule_id;
}

/* Add a segment, folding it into an equal one for another protocol. */
static int add_segment(struct odsbpf_prefix *val, __u32 lo, __u32 hi,
		       __u8 proto, struct verdict v)
{
	for (int i = 0; i < val->nr_segments; i++) {
		struct odsbpf_segment *s = &val->segments[i];

		if (s->port_lo == lo && s->port_hi == hi && s->action == v.action &&
		    s->rule_id == v.rule_id) {
			s->protos |= proto;
			return 0;
		}
	}
	if (val->nr_segments == ODSBPF_MAX_SEGMENTS)
		return -E2BIG;
	val->segments[val->nr_segments++] = (struct odsbpf_segment){
		.port_lo = lo, .port_hi = hi, .protos = proto,
		.action = v.action, .rule_id = v.rule_id,
	};
	return 0;
}

/*
 * The decision covering the most (protocol, port) space becomes the
 * fallback; the runs that differ from it become segments.
 */
static int flatten_ports(const struct compile_state *st, struct odsbpf_prefix *val)
{
	struct verdict table[NR_CLASSES][2 * 64 + 1], fallback;
	__u32 *bp, best_cover = 0;
	int n, err = 0;

	n = chain_breakpoints(st, &bp);
	if (n < 0)
		return n;
	if (n > 2 * 64 + 1) {
		free(bp);
		return -E2BIG;
	}
	for (size_t c = 0; c < NR_CLASSES; c++)
		for (int i = 0; i < n; i++)
			table[c][i] = chain_decide(st, bp[i], proto_classes[c]);

	fallback = table[0][0];
	for (size_t c = 0; c < NR_CLASSES; c++) {
		for (int i = 0; i < n; i++) {
			__u32 cover = 0;

			for (size_t c2 = 0; c2 < NR_CLASSES; c2++)
				for (int j = 0; j < n; j++)
					if (same_verdict(table[c2][j], table[c][i]))
						cover += (j + 1 < n ? bp[j + 1] : 65536) - bp[j];
			if (cover > best_cover) {
				best_cover = cover;
				fallback = table[c][i];
			}
		}
	}
	val->fallback_action = fallback.action;
	val->fallback_rule = fallback.rule_id;

	for (size_t c = 0; c < NR_CLASSES && !err; c++) {
		for (int i = 0; i < n && !err; i++) {
			int j = i;

			if (same_verdict(table[c][i], fallback))
				continue;
			while (j + 1 < n && same_verdict(table[c][j + 1], table[c][i]))
				j++;
			err = add_segment(val, bp[i], j + 1 < n ? bp[j + 1] - 1 : 65535,
					  proto_classes[c], table[c][i]);
			i = j;
		}
	}
	free(bp);
	return err;
}

static int flatten(const struct compile_state *st, struct odsbpf_prefix *val)
{
	struct verdict v;
	int err;

	memset(val, 0, sizeof(*val));
	if (chain_is_uniform(st)) {
		v = chain_decide(st, 0, ODSBPF_PROTO_TCP);
		val->fallback_action = v.action;
		val->fallback_rule = v.rule_id;
		return 0;
	}
	err = flatten_ports(st, val);
	if (err == -E2BIG) {
		const struct group *g = &st->chain[st->depth - 1];
		const struct item *it = &st->items[g->first];
		const struct policy_rule *r = &st->pol->rules[it->rule_id];
		char text[ADDR_STRLEN];

		addr_format(&it->prefix, true, text);
		snprintf(st->err, st->err_len,
			 "%s: rules[%zu].cidrs: %s: the rules covering this prefix need more than %d port/protocol exceptions",
			 r->file, r->index, text, ODSBPF_MAX_SEGMENTS);
		return -EINVAL;
	}
	return err;
}

static void store_entry(struct compiled_policy *out, const struct addr_prefix *p,
			const struct odsbpf_prefix *val)
{
	if (p->is4) {
		struct compiled_entry4 *e = &out->v4[out->nr_v4++];

		e->key.prefixlen = p->len;
		memcpy(e->key.addr, p->addr, 4);
		e->val = *val;
	} else {
		struct compiled_entry6 *e = &out->v6[out->nr_v6++];

		e->key.prefixlen = p->len;
		memcpy(e->key.addr, p->addr, 16);
		e->val = *val;
	}
}

/* Walk the sorted items of one family, keeping the chain of ancestors. */
static int compile_family(struct compile_state *st, size_t n, bool is4,
			  struct compiled_policy *out)
{
	struct odsbpf_prefix val;
	size_t i = 0;
	int err;

	/* A /0 entry always: it carries the defaultAction into the trie. */
	st->depth = 0;
	if (!n || st->items[0].prefix.len) {
		struct addr_prefix all = { .is4 = is4 };

		err = flatten(st, &val);
		if (err)
			return err;
		store_entry(out, &all, &val);
	}
	while (i < n) {
		const struct addr_prefix *p = &st->items[i].prefix;
		struct group g = { i, 0 };

		while (i < n && st->items[i].prefix.len == p->len &&
		       !memcmp(st->items[i].prefix.addr, p->addr, 16))
			g.count++, i++;
		while (st->depth &&
		       !addr_contains(&st->items[st->chain[st->depth - 1].first].prefix, p))
			st->depth--;
		st->chain[st->depth++] = g;

		err = flatten(st, &val);
		if (err)
			return err;
		store_entry(out, p, &val);
	}
	return 0;
}

/* Every CIDR of every rule of one family, sorted. Returns the count. */
static size_t collect_items(const struct policy *p, bool is4, struct item *items)
{
	size_t n = 0;

	for (size_t i = 0; i < p->nr_rules; i++) {
		for (size_t j = 0; j < policy_rule_nr_prefixes(&p->rules[i]); j++) {
			const struct addr_prefix *cidr = policy_rule_prefix(&p->rules[i], j);

			if (cidr->is4 == is4)
				items[n++] = (struct item){ *cidr, i };
		}
	}
	qsort(items, n, sizeof(*items), item_cmp);
	return n;
}

int compile_policy(const struct policy *p, struct compiled_policy *out,
		   char *err, size_t err_len)
{
	struct compile_state st = { .pol = p, .err = err, .err_len = err_len };
	struct compiled_policy c = { .default_action = p->default_action,
				     .mode = p->mode };
	size_t total = 0, n;
	struct item *items;
	int ret = -ENOMEM;

	for (size_t i = 0; i < p->nr_rules; i++)
		total += policy_rule_nr_prefixes(&p->rules[i]);
	items = calloc(total + 1, sizeof(*items));
	st.chain = calloc(130, sizeof(*st.chain));	/* one group per length */
	c.v4 = calloc(total + 2, sizeof(*c.v4));	/* + the /0 entry */
	c.v6 = calloc(total + 2, sizeof(*c.v6));
	if (!items || !st.chain || !c.v4 || !c.v6)
		goto out;
	st.items = items;

	n = collect_items(p, true, items);
	ret = compile_family(&st, n, true, &c);
	if (ret)
		goto out;
	n = collect_items(p, false, items);
	ret = compile_family(&st, n, false, &c);
out:
	if (ret == -ENOMEM)
		snprintf(err, err_len, "out of memory compiling the policy");
	if (ret)
		compiled_free(&c);
	else
		*out = c;
	free(items);
	free(st.chain);
	return ret;
}

void compiled_free(struct compiled_policy *c)
{
	free(c->v4);
	free(c->v6);
	memset(c, 0, sizeof(*c));
}
