// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hosts.h"
#include "log.h"

static const char *const api_names[] = {
	"kubernetes", "kubernetes.default", "kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
};

static bool is_api_name(const char *name)
{
	for (size_t i = 0; i < sizeof(api_names) / sizeof(api_names[0]); i++)
		if (!strcmp(name, api_names[i]))
			return true;
	return false;
}

/* One literal address (as KUBERNETES_SERVICE_HOST holds) into a /32 or /128. */
static int literal_address(const char *text, struct addr_prefix **out, size_t *n)
{
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	if (addr_parse_dest(text, *out)) {
		free(*out);
		*out = NULL;
		return -ENOENT;
	}
	*n = 1;
	return 0;
}

static int getaddrinfo_resolver(const char *name, struct addr_prefix **out, size_t *n)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res, *ai;
	const char *env = getenv("KUBERNETES_SERVICE_HOST");
	size_t count = 0;

	*out = NULL;
	*n = 0;
	if (is_api_name(name) && env && *env)
		return literal_address(env, out, n);
	if (getaddrinfo(name, NULL, &hints, &res))
		return -ENOENT;
	for (ai = res; ai; ai = ai->ai_next)
		count++;
	*out = calloc(count, sizeof(**out));
	if (!*out) {
		freeaddrinfo(res);
		return -ENOMEM;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			addr_judge4((const uint8_t *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr,
				    &(*out)[(*n)++]);
		else if (ai->ai_family == AF_INET6)
			addr_judge6((const uint8_t *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
				    &(*out)[(*n)++]);
	}
	freeaddrinfo(res);
	return *n ? 0 : -ENOENT;
}

static hosts_resolver_fn resolver = getaddrinfo_resolver;

void hosts_set_resolver(hosts_resolver_fn fn)
{
	resolver = fn ? fn : getaddrinfo_resolver;
}

static int prefix_cmp(const void *a, const void *b)
{
	const struct addr_prefix *x = a, *y = b;

	if (x->is4 != y->is4)
		return x->is4 ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);
}

/* Sorted, without repeats: so that equal sets compare equal. */
static size_t sort_unique(struct addr_prefix *p, size_t n)
{
	size_t u = 0;

	qsort(p, n, sizeof(*p), prefix_cmp);
	for (size_t i = 0; i < n; i++)
		if (!u || prefix_cmp(&p[u - 1], &p[i]))
			p[u++] = p[i];
	return u;
}

/* Append what name resolves to; false when it does not resolve. */
static bool add_name(const char *name, struct addr_prefix **all, size_t *n)
{
	struct addr_prefix *got, *grown;
	size_t count;

	if (resolver(name, &got, &count))
		return false;
	grown = realloc(*all, (*n + count) * sizeof(**all));
	if (!grown) {
		free(got);
		return false;
	}
	memcpy(grown + *n, got, count * sizeof(*got));
	*all = grown;
	*n += count;
	free(got);
	return true;
}

static bool resolve_rule(struct policy_rule *r, bool announce)
{
	struct addr_prefix *all = NULL;
	size_t n = 0;
	bool changed;

	for (size_t i = 0; i < r->nr_hosts; i++)
		if (!add_name(r->hosts[i], &all, &n) && announce)
			pr_warn("%s rules[%zu] (%s): host \"%s\" does not resolve yet; the rule applies to it once it does",
				r->file, r->index, r->name, r->hosts[i]);
	n = sort_unique(all, n);
	changed = n != r->nr_resolved ||
		  (n && memcmp(all, r->resolved, n * sizeof(*all)));
	free(r->resolved);
	r->resolved = all;
	r->nr_resolved = n;
	return changed;
}

bool hosts_resolve_policy(struct policy *p, bool announce)
{
	bool changed = false;

	for (size_t i = 0; i < p->nr_rules; i++)
		if (p->rules[i].nr_hosts)
			changed |= resolve_rule(&p->rules[i], announce);
	return changed;
}

bool hosts_in_policy(const struct policy *p)
{
	for (size_t i = 0; i < p->nr_rules; i++)
		if (p->rules[i].nr_hosts)
			return true;
	return false;
}
