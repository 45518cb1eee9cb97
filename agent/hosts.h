/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Rules' host names resolved by the agent, at load and every 30 s. Inside
 * a cluster, kubernetes.default.svc is the API's service address from
 * KUBERNETES_SERVICE_HOST; other names go through getaddrinfo().
 */
#ifndef ODSBPF_HOSTS_H
#define ODSBPF_HOSTS_H

#include <stdbool.h>

#include "policy.h"

#define HOSTS_REFRESH_SECONDS 30

/* Resolve name into *out (malloc'd, *n entries); 0, or -ENOENT. */
typedef int (*hosts_resolver_fn)(const char *name, struct addr_prefix **out,
				 size_t *n);

/* Replace the resolver (tests); NULL restores the real one. */
void hosts_set_resolver(hosts_resolver_fn fn);

/*
 * Resolve every rule's hosts into its resolved[] as single addresses.
 * A name that does not resolve is warned about (when announce) and adds
 * nothing; its rule applies from the moment it does. Returns true when
 * any rule's addresses changed.
 */
bool hosts_resolve_policy(struct policy *p, bool announce);

/* Does any rule name a host? */
bool hosts_in_policy(const struct policy *p);

#endif
