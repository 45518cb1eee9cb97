/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Policy files: parse (jansson), validate and merge into one rule list.
 * Anything invalid is rejected whole with one located line of error.
 */
#ifndef ODSBPF_POLICY_H
#define ODSBPF_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define POLICY_API_VERSION	"odsbpf/v1"
#define POLICY_ERR_LEN		512
/* Rule ids are 16 bits in the kernel, with the top two values reserved. */
#define POLICY_MAX_RULES	0xfff0

struct policy_port_range {
	uint16_t lo, hi;	/* inclusive */
};

struct policy_rule {
	char *name;
	int action;				/* enum odsbpf_action */
	struct addr_prefix *cidrs;
	size_t nr_cidrs;
	char **hosts;				/* names, resolved by the agent */
	size_t nr_hosts;
	struct addr_prefix *resolved;		/* what hosts resolved to */
	size_t nr_resolved;
	struct policy_port_range *ports;	/* none: every port */
	size_t nr_ports;
	uint8_t protos;				/* ODSBPF_PROTO_* bits */
	char *file;				/* where it was written */
	size_t index;				/* its place in rules[] there */
};

struct policy {
	int mode;			/* enum odsbpf_mode */
	int default_action;		/* enum odsbpf_action */
	struct policy_rule *rules;
	size_t nr_rules;
	char **exempt_namespaces;
	size_t nr_exempt;
	/* set while merging: which file fixed mode and defaultAction */
	const char *mode_file, *default_file;
};

/*
 * Load and merge files[0..n-1]. On error returns -EINVAL (or -errno for
 * I/O) with "FILE: PATH: reason" in err, and *out untouched.
 */
int policy_load_files(char *const *files, size_t n, struct policy *out,
		      char *err, size_t err_len);

/* Same, from JSON texts in memory; names stand for the files in errors. */
int policy_load_texts(char *const *names, char *const *texts, size_t n,
		      struct policy *out, char *err, size_t err_len);

/* One JSON text in memory. */
int policy_load_text(const char *name, const char *text, struct policy *out,
		     char *err, size_t err_len);

void policy_free(struct policy *p);

/* The j-th destination of a rule: its CIDRs, then its resolved hosts. */
static inline const struct addr_prefix *policy_rule_prefix(const struct policy_rule *r,
							     size_t j)
{
	return j < r->nr_cidrs ? &r->cidrs[j] : &r->resolved[j - r->nr_cidrs];
}

static inline size_t policy_rule_nr_prefixes(const struct policy_rule *r)
{
	return r->nr_cidrs + r->nr_resolved;
}

/* Rule id -> name, with the reserved ids named too. */
const char *policy_rule_name(const struct policy *p, unsigned int rule_id);

#endif
