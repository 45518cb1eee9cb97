// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * odsbpf exec: run one command under a policy in a cgroup of its own,
 * print its denials on stderr, exit with its status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "commands.h"
#include "enforcer.h"
#include "event.h"
#include "log.h"
#include "packet.h"
#include "pipeline.h"

#define MAX_POLICY_FILES 64

struct exec_opts {
	char *policy_files[MAX_POLICY_FILES];
	size_t nr_policy_files;
	const char *audit_log;
	const char *host_netns;	/* whose loopback is judged; NULL: ours */
	char **command;
};

static const char exec_help[] =
"usage: odsbpf exec [--policy FILE]... [--audit-log FILE] [-v] -- COMMAND [ARG]...\n"
"\n"
"Run COMMAND in a new cgroup with the socket programs and cgroup_skb/egress\n"
"attached (raw and ICMP sockets are judged too). Its denials are printed on\n"
"stderr as JSON lines (and appended to the audit log if one is named).\n"
"Exits with COMMAND's status. File descriptors other than 0, 1 and 2 are\n"
"closed first: a socket made outside the cgroup would not be judged.\n"
"\n"
"  -p, --policy FILE     policy file; repeat to merge several\n"
"                        (default: the built-in policies/default.json)\n"
"  -l, --audit-log FILE  also append events to FILE (mode 0600)\n"
"      --host-netns PATH the node's network namespace (default: the one\n"
"                        exec runs in): loopback is judged only there\n"
"  -v, --verbose         more messages; -vv adds libbpf and verifier logs\n"
"  -h, --help            this help\n"
"\n"
"exit status: COMMAND's, 128+N if a signal N ended it; 125 when odsbpf\n"
"failed, 126 when COMMAND cannot run, 127 when it is not found.\n"
"\n"
"examples:\n"
"  odsbpf exec -- curl -sS http://169.254.169.254/latest/meta-data/\n"
"  odsbpf exec --policy team.json --audit-log /tmp/denials.log -- ./job.sh\n";

static int parse_exec_opts(int argc, char **argv, struct exec_opts *o)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "audit-log", required_argument, NULL, 'l' },
		{ "host-netns", required_argument, NULL, 'N' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, "+p:l:N:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (o->nr_policy_files == MAX_POLICY_FILES) {
				pr_err("exec: more than %d --policy files", MAX_POLICY_FILES);
				return EXIT_USAGE;
			}
			o->policy_files[o->nr_policy_files++] = optarg;
			break;
		case 'l':
			o->audit_log = optarg;
			break;
		case 'N':
			o->host_netns = optarg;
			break;
		case 'v':
			verbose_more();
			break;
		case 'h':
			fputs(exec_help, stdout);
			return EXIT_OK;
		default:
			bad_option("exec", argv);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		pr_err("exec: no command given; usage: odsbpf exec [OPTIONS] -- COMMAND [ARG]...");
		return EXIT_USAGE;
	}
	o->command = argv + optind;
	return -1;
}

static volatile sig_atomic_t child_pid;

/* Pass INT, TERM, HUP and QUIT on to the command, as a shell would. */
static void forward_signal(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

static void install_forwarding(void)
{
	struct sigaction sa = { .sa_handler = forward_signal };
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* Queued as the agent queues them; supervise() writes each drain at once. */
static int emit_kernel_event(void *ctx, const struct odsbpf_event *e)
{
	event_emit_kernel(ctx, e);
	return 0;
}

/*
 * The child joins the cgroup before exec, so every syscall of COMMAND is
 * judged. A failure is reported through the exit code and one line.
 */
static void run_child(const char *cgroup, char **command)
{
	int err = cgroup_enter(cgroup, 0);

	if (err) {
		pr_err("cannot move into cgroup %s: %s", cgroup, strerror(-err));
		_exit(EXIT_EXEC_FAILED);
	}
	/*
	 * A socket is judged by the cgroup it was created in: one inherited
	 * from outside would escape the policy, so only stdio goes on.
	 */
	if (close_range(3, ~0U, 0))
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	execvp(command[0], command);
	err = errno;
	pr_err("cannot run %s: %s", command[0], strerror(err));
	_exit(err == ENOENT ? EXIT_EXEC_NOT_FOUND : EXIT_EXEC_CANNOT_RUN);
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_EXEC_FAILED;
}

/* Poll events until the command ends, then take the last ones. */
static int supervise(struct enforcer *enf, struct event_sink *sink, pid_t pid)
{
	int status = 0;

	for (;;) {
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid)
			break;
		if (done < 0 && errno != EINTR) {
			pr_err("cannot wait for the command: %s", strerror(errno));
			return EXIT_EXEC_FAILED;
		}
		enforcer_poll(enf, 50);
		event_sink_flush(sink);
	}
	enforcer_poll(enf, 0);
	event_sink_flush(sink);
	return exit_code_of(status);
}

static int make_exec_cgroup(char *path, size_t len)
{
	char root[4096];
	int err = cgroup2_mount(root, sizeof(root));

	if (err) {
		pr_err("no cgroup2 hierarchy is mounted (looked in /proc/self/mountinfo)");
		return err;
	}
	snprintf(path, len, "%s/odsbpf-exec-%d", root, (int)getpid());
	if (mkdir(path, 0755)) {
		err = -errno;
		pr_err("cannot create cgroup %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

static int run_under_policy(struct exec_opts *o, struct policy *pol,
			    struct compiled_policy *compiled)
{
	struct event_sink sink = { .stream = stderr, .node = node_name(),
				   .policy = pol };
	struct pipeline_opts po;
	struct pipeline pipe = {};
	struct packet_layer pl = PACKET_LAYER_INIT;
	struct enforcer enf;
	char cgroup[4096];
	int cg_fd = -1, ret = EXIT_EXEC_FAILED;
	pid_t pid;

	pipeline_default_opts(&po);
	po.pods = false;
	po.host_netns = o->host_netns;
	if (o->audit_log && event_sink_open_log(&sink, o->audit_log))
		return EXIT_EXEC_FAILED;
	if (make_exec_cgroup(cgroup, sizeof(cgroup)))
		goto close_sink;
	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		pr_err("cannot open cgroup %s: %s", cgroup, strerror(errno));
		goto remove_cgroup;
	}

	if (enforcer_open(&enf, NULL) || enforcer_install(&enf, compiled) ||
	    enforcer_attach(&enf, cg_fd, cgroup) ||
	    packet_open(&pl, &enf) || packet_attach_cgroup(&pl, cg_fd, cgroup) ||
	    enforcer_listen(&enf, emit_kernel_event, &sink) ||
	    pipeline_open(&pipe, &enf, &sink, NULL, &po))
		goto close_enforcer;
	sink.policy_id = enf.policy_id;

	install_forwarding();
	pid = fork();
	if (pid < 0) {
		pr_err("cannot fork: %s", strerror(errno));
		goto close_enforcer;
	}
	if (pid == 0)
		run_child(cgroup, o->command);
	child_pid = pid;
	ret = supervise(&enf, &sink, pid);

close_enforcer:
	/* Leftover processes are ended before the programs go. */
	cgroup_destroy(cgroup);
	pipeline_close(&pipe);	/* what the rate limit held back */
	packet_close(&pl);
	enforcer_close(&enf);
	close(cg_fd);
	goto close_sink;
remove_cgroup:
	cgroup_destroy(cgroup);
close_sink:
	event_sink_close(&sink);
	return ret;
}

int cmd_exec(int argc, char **argv)
{
	struct exec_opts o = {};
	struct compiled_policy compiled;
	struct policy pol;
	int ret;

	ret = parse_exec_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;
	if (load_policy(o.policy_files, o.nr_policy_files, true, &pol, &compiled))
		return EXIT_EXEC_FAILED;

	ret = run_under_policy(&o, &pol, &compiled);
	compiled_free(&compiled);
	policy_free(&pol);
	return ret;
}
