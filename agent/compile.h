/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The policy compiler: flattens the rule list into longest-prefix-trie
 * entries, so that the kernel does one lookup and a short bounded scan.
 * Also the two evaluators the tests hold against each other: the
 * reference semantics read straight off the rules, and a lookup in the
 * compiled entries that does what the kernel does.
 */
#ifndef ODSBPF_COMPILE_H
#define ODSBPF_COMPILE_H

#include <linux/types.h>

#include "odsbpf.h"
#include "policy.h"

struct compiled_entry4 {
	struct odsbpf_lpm4_key key;
	struct odsbpf_prefix val;
};

struct compiled_entry6 {
	struct odsbpf_lpm6_key key;
	struct odsbpf_prefix val;
};

struct compiled_policy {
	struct compiled_entry4 *v4;
	size_t nr_v4;
	struct compiled_entry6 *v6;
	size_t nr_v6;
	__u8 default_action;
	__u8 mode;
};

/* What decided a destination. */
struct verdict {
	int action;		/* enum odsbpf_action */
	unsigned int rule_id;	/* index in policy rules, or ODSBPF_RULE_DEFAULT */
};

/* Returns 0, -EINVAL with a reason in err, or -ENOMEM. */
int compile_policy(const struct policy *p, struct compiled_policy *out,
		   char *err, size_t err_len);
void compiled_free(struct compiled_policy *c);

/* The ODSBPF_PROTO_* class of an IPPROTO_* number. */
__u8 proto_class(int ipproto);

/*
 * The reference semantics of DESIGN.md: among rules whose CIDR holds dest
 * and whose ports and protocols match, the longest prefix decides, deny
 * wins a tie, else defaultAction. dest is already judged (addr_judge*).
 */
struct verdict policy_evaluate(const struct policy *p,
			       const struct addr_prefix *dest, __u16 port,
			       __u8 proto);

/* What the kernel programs decide from the compiled entries. */
struct verdict compiled_lookup(const struct compiled_policy *c,
			       const struct addr_prefix *dest, __u16 port,
			       __u8 proto);

#endif
