// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "odsbpf.h"
#include "hosts.h"
#include "log.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "agent", cmd_agent, "the node daemon: enforce on a cgroup, stream events" },
	{ "exec", cmd_exec, "run one command under a policy, in a cgroup of its own" },
	{ "events", cmd_events, "read denials from the audit log" },
	{ "policy", cmd_policy, "check, explain or sign policy files" },
	{ "status", cmd_status, "what is loaded and attached, the policy, counters" },
	{ "audit", cmd_audit, "verify the audit log's hash chain" },
};

static void usage(FILE *out)
{
	fprintf(out, "usage: odsbpf COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n'odsbpf COMMAND --help' shows a command's options.\n"
		"\nexamples:\n"
		"  odsbpf exec -- curl -sS http://169.254.169.254/\n"
		"  odsbpf policy check policies/default.json\n"
		"  odsbpf agent --cgroup /sys/fs/cgroup/kubepods.slice --policy-dir /etc/odsbpf\n");
}

const char *node_name(void)
{
	static char name[256];
	const char *env = getenv("NODE_NAME");

	if (env && *env)
		return env;
	if (!name[0] && gethostname(name, sizeof(name) - 1))
		strcpy(name, "unknown");
	return name;
}

void bad_option(const char *cmd, char **argv)
{
	pr_err("%s: unknown option, or one missing its value: %s; see 'odsbpf %s --help'",
	       cmd, argv[optind - 1], cmd);
}

void verbose_more(void)
{
	if (log_verbosity < LOG_DEBUG)
		log_verbosity++;
}

int load_policy(char *const *files, size_t n, bool resolve, struct policy *pol,
		struct compiled_policy *c)
{
	char err[POLICY_ERR_LEN];
	int ret;

	if (n)
		ret = policy_load_files(files, n, pol, err, sizeof(err));
	else
		ret = policy_load_text(DEFAULT_POLICY_NAME, default_policy_json,
				       pol, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		return ret;
	}
	if (resolve)
		hosts_resolve_policy(pol, true);
	ret = compile_policy(pol, c, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		policy_free(pol);
	}
	return ret;
}

int main(int argc, char **argv)
{
	log_init();
	opterr = 0;	/* each command names a bad option itself, in our format */
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
		printf("odsbpf %s (map layout v%d)\n", ODSBPF_VERSION, ODSBPF_LAYOUT_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	pr_err("unknown command \"%s\"; see 'odsbpf --help'", argv[1]);
	return EXIT_USAGE;
}
