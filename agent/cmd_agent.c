// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * odsbpf agent: enforce the policy of a directory on every process under
 * one cgroup, stream events to stdout and the audit log until SIGTERM.
 * SIGHUP reloads the directory; a bad policy leaves the old one in force.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "commands.h"
#include "enforcer.h"
#include "event.h"
#include "log.h"

#define MAX_POLICY_FILES 256

struct agent_opts {
	const char *cgroup;
	const char *policy_dir;
	const char *audit_log;
	bool no_audit_log;
};

/* The policy in force and the one before it, for naming rules in events. */
struct agent_state {
	struct enforcer enf;
	struct event_sink sink;
	struct policy policies[2];
	int current;		/* index in policies[], -1 before any */
};

static const char agent_help[] =
"usage: odsbpf agent --cgroup PATH [--policy-dir DIR] [--audit-log FILE] [-v]\n"
"\n"
"Enforce the policy files of DIR (every *.json in it, merged) on every\n"
"process under the cgroup PATH, until SIGTERM or SIGINT. SIGHUP reloads\n"
"DIR; an invalid policy is rejected and the one in force stays. With no\n"
"valid policy at start, the built-in policies/default.json is enforced.\n"
"Events go to stdout and to the audit log as JSON lines.\n"
"\n"
"  -c, --cgroup PATH      cgroup v2 directory to enforce on (not the root)\n"
"  -d, --policy-dir DIR   directory of policy files (a ConfigMap mount)\n"
"  -l, --audit-log FILE   audit log (default " DEFAULT_AUDIT_LOG ")\n"
"      --no-audit-log     events to stdout only\n"
"  -v, --verbose          more messages; -vv adds libbpf and verifier logs\n"
"  -h, --help             this help\n"
"\n"
"examples:\n"
"  odsbpf agent --cgroup /sys/fs/cgroup/kubepods.slice --policy-dir /etc/odsbpf\n"
"  odsbpf agent --cgroup /sys/fs/cgroup/unified/sandbox --policy-dir ./policies --no-audit-log\n";

static int parse_agent_opts(int argc, char **argv, struct agent_opts *o)
{
	static const struct option longopts[] = {
		{ "cgroup", required_argument, NULL, 'c' },
		{ "policy-dir", required_argument, NULL, 'd' },
		{ "audit-log", required_argument, NULL, 'l' },
		{ "no-audit-log", no_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	o->audit_log = DEFAULT_AUDIT_LOG;
	while ((c = getopt_long(argc, argv, "c:d:l:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->cgroup = optarg; break;
		case 'd': o->policy_dir = optarg; break;
		case 'l': o->audit_log = optarg; break;
		case 'N': o->no_audit_log = true; break;
		case 'v': verbose_more(); break;
		case 'h':
			fputs(agent_help, stdout);
			return EXIT_OK;
		default:
			fputs("see 'odsbpf agent --help'\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		pr_err("agent: unexpected argument \"%s\"", argv[optind]);
		return EXIT_USAGE;
	}
	if (!o->cgroup) {
		pr_err("agent: --cgroup PATH is required");
		return EXIT_USAGE;
	}
	return -1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The policy files of dir, sorted. A ConfigMap mount holds each key as a
 * symlink into ..data/; hidden entries (..data, ..2026_...) are skipped.
 */
static int list_policy_files(const char *dir, char **files, size_t *n)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		if (*n == MAX_POLICY_FILES)
			break;
		if (asprintf(&files[(*n)++], "%s/%s", dir, de->d_name) < 0) {
			(*n)--;
			break;
		}
	}
	closedir(d);
	qsort(files, *n, sizeof(*files), name_cmp);
	return 0;
}

static void emit_policy_event(struct agent_state *st, const char *action,
			      const char *status, json_t *meta)
{
	event_emit(&st->sink, event_agent(&st->sink, action, status, meta));
}

/* Load dir (or the built-in default) into the inactive policy slot. */
static int load_into_slot(struct agent_state *st, const char *dir, int slot,
			  struct compiled_policy *c, const char **source)
{
	char *files[MAX_POLICY_FILES] = { NULL };
	size_t n = 0;
	int err;

	if (dir && (err = list_policy_files(dir, files, &n))) {
		pr_err("cannot read policy directory %s: %s", dir, strerror(-err));
		return err;
	}
	if (dir && !n) {
		pr_err("policy directory %s holds no *.json file", dir);
		return -ENOENT;
	}
	*source = dir ? dir : DEFAULT_POLICY_NAME;
	err = load_policy(files, n, &st->policies[slot], c);
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	return err;
}

/* Compile, install and announce; on failure the old policy stays. */
static int apply_policy(struct agent_state *st, const char *dir)
{
	int slot = st->current < 0 ? 0 : !st->current;
	struct compiled_policy c;
	const char *source;
	int err;

	policy_free(&st->policies[slot]);
	err = load_into_slot(st, dir, slot, &c, &source);
	if (err) {
		emit_policy_event(st, "policy.rejected", "rejected",
				  json_pack("{s:s}", "source", dir ? dir : "built-in"));
		return err;
	}
	err = enforcer_install(&st->enf, &c);
	if (!err) {
		st->sink.prev_policy = st->current < 0 ? NULL : &st->policies[st->current];
		st->sink.prev_policy_id = st->sink.policy_id;
		st->sink.policy = &st->policies[slot];
		st->sink.policy_id = st->enf.policy_id;
		st->current = slot;
		emit_policy_event(st, "policy.load", "applied",
				  json_pack("{s:s, s:i, s:i, s:i, s:s}", "source", source,
					    "policy_id", st->enf.policy_id,
					    "rules", (int)st->policies[slot].nr_rules,
					    "prefixes", (int)(c.nr_v4 + c.nr_v6),
					    "mode", c.mode == ODSBPF_MODE_AUDIT ? "audit" : "enforce"));
	}
	compiled_free(&c);
	return err;
}

static volatile sig_atomic_t stop_requested, reload_requested;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = 1;
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static int emit_kernel_event(void *ctx, const struct odsbpf_event *e)
{
	struct agent_state *st = ctx;

	event_emit(&st->sink, event_from_kernel(&st->sink, e));
	return 0;
}

static int open_target_cgroup(const char *path)
{
	int fd;

	if (cgroup_is_root(path)) {
		pr_err("refusing to attach to %s: it is the root of the cgroup hierarchy and would police the whole host; name the cgroup that holds the pods",
		       path);
		return -EPERM;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		pr_err("cannot open cgroup %s: %s", path, strerror(errno));
		return -errno;
	}
	return fd;
}

/* First policy: the directory's, else the built-in default, said loudly. */
static int apply_first_policy(struct agent_state *st, const char *dir)
{
	if (dir && !apply_policy(st, dir))
		return 0;
	if (dir)
		pr_warn("no valid policy in %s: enforcing the built-in default policy", dir);
	return apply_policy(st, NULL);
}

static void run_loop(struct agent_state *st, const struct agent_opts *o)
{
	while (!stop_requested) {
		if (reload_requested) {
			reload_requested = 0;
			if (o->policy_dir)
				apply_policy(st, o->policy_dir);
		}
		enforcer_poll(&st->enf, 200);
	}
	enforcer_poll(&st->enf, 0);
}

static int run_agent(struct agent_state *st, const struct agent_opts *o)
{
	int cg_fd, ret = EXIT_FAILED;

	cg_fd = open_target_cgroup(o->cgroup);
	if (cg_fd < 0)
		return EXIT_FAILED;
	if (enforcer_open(&st->enf) || enforcer_listen(&st->enf, emit_kernel_event, st))
		goto close;
	if (apply_first_policy(st, o->policy_dir))
		goto close;
	if (enforcer_attach(&st->enf, cg_fd, o->cgroup))
		goto close;
	emit_policy_event(st, "agent.start", "applied",
			  json_pack("{s:s}", "cgroup", o->cgroup));
	pr_info("enforcing on %s", o->cgroup);

	run_loop(st, o);
	emit_policy_event(st, "agent.stop", "applied",
			  json_pack("{s:s}", "cgroup", o->cgroup));
	ret = EXIT_OK;
close:
	enforcer_close(&st->enf);
	close(cg_fd);
	return ret;
}

int cmd_agent(int argc, char **argv)
{
	struct agent_opts o = {};
	struct agent_state st = { .current = -1 };
	int ret;

	ret = parse_agent_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;
	st.sink = (struct event_sink){ .stream = stdout, .log_fd = -1,
				       .node = node_name() };
	if (!o.no_audit_log && event_sink_open_log(&st.sink, o.audit_log))
		return EXIT_FAILED;
	install_signals();

	ret = run_agent(&st, &o);
	event_sink_close(&st.sink);
	policy_free(&st.policies[0]);
	policy_free(&st.policies[1]);
	return ret;
}
