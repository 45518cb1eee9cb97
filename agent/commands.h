/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/* The subcommands, and what they share. */
#ifndef ODSBPF_COMMANDS_H
#define ODSBPF_COMMANDS_H

#include <stddef.h>

#include "compile.h"
#include "policy.h"

#define ODSBPF_VERSION	"0.1.0"

/* Exit codes, as the README documents them. */
#define EXIT_OK		0
#define EXIT_REJECTED	1	/* a policy or a log failed its check */
#define EXIT_USAGE	2	/* bad command line */
#define EXIT_FAILED	3	/* odsbpf could not do its job */
/* odsbpf exec only, as env(1) and timeout(1) do */
#define EXIT_EXEC_FAILED	125
#define EXIT_EXEC_CANNOT_RUN	126
#define EXIT_EXEC_NOT_FOUND	127

#define DEFAULT_AUDIT_LOG	"/var/log/odsbpf/audit.log"
#define DEFAULT_POLICY_NAME	"(built-in policies/default.json)"

extern const char default_policy_json[];

int cmd_exec(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_audit(int argc, char **argv);

/*
 * Load files (or, when n is 0, the built-in default policy), resolve the
 * rules' host names when asked, and compile. Prints the one-line error
 * itself. Returns 0 or a negative errno.
 */
int load_policy(char *const *files, size_t n, bool resolve, struct policy *pol,
		struct compiled_policy *c);

/* The node name for events: $NODE_NAME, else the host name. */
const char *node_name(void);

/* Count a -v. */
void verbose_more(void);

/* Name the argument getopt_long refused (opterr is 0), in one line. */
void bad_option(const char *cmd, char **argv);

#endif
