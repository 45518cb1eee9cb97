// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * odsbpf agent: enforce the policy of a directory on every process under
 * one cgroup and stream events, until SIGTERM. Programs, maps and links
 * are pinned, so enforcement outlives the agent; a restarted agent adopts
 * them. Policy changes (inotify on a ConfigMap mount, or SIGHUP) swap in
 * without a gap; a bad policy is rejected and the old one stays.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>
#include <bpf/libbpf.h>

#include "agent_state.h"
#include "cgroup.h"
#include "commands.h"
#include "enforcer.h"
#include "event.h"
#include "kernel_features.h"
#include "hosts.h"
#include "http.h"
#include "log.h"
#include "packet.h"
#include "pipeline.h"
#include "policy_source.h"

#define DEFAULT_PIN_ROOT	"/sys/fs/bpf/odsbpf"
#define DEBOUNCE_MS		200
#define ATTACH_RETRY_MIN_MS	1000	/* doubling up to the max */
#define ATTACH_RETRY_MAX_MS	30000
#define PUBLISH_EVERY_MS	1000	/* metrics refresh for /metrics */

struct agent_opts {
	const char *cgroup;
	const char *policy_dir;
	const char *audit_log;
	const char *pin_root;
	const char *state_dir;
	const char *key_file;
	const char *listen;	/* NULL: no HTTP endpoints */
	bool listen_given;	/* set on the command line: failing to bind is fatal */
	const char *xdp_ifaces;	/* interface patterns for XDP; NULL: no XDP */
	bool no_audit_log;
	bool require_signed;
	bool uninstall;
	bool production;	/* ENVIRONMENT=production */
	struct pipeline_opts pipe;	/* pods, rate limit, log files */
};

/* The policy in force and the one before it, for naming rules in events. */
struct agent_state {
	struct enforcer enf;
	struct event_sink sink;
	struct policy policies[2];
	int current;		/* index in policies[], -1 before any */
	const struct agent_opts *opts;
	char *key;		/* policy signing key, when required */
	struct agent_status status;
	int inotify_fd;
	struct pipeline pipe;
	struct packet_layer pkt;	/* cgroup_skb/egress and XDP */
	int cg_fd;		/* the enforced cgroup, -1 until it opens */
	bool attached;		/* every hook attached by this agent */
	long long attach_at;	/* next attempt while not attached */
	int attach_retry_ms;
	struct http_server *http;	/* NULL: no endpoints */
	struct http_metrics metrics;	/* what the loop publishes to them */
	long long publish_at;
};

static const char agent_help[] =
"usage: odsbpf agent --cgroup PATH [--policy-dir DIR] [OPTIONS]\n"
"       odsbpf agent --uninstall [--pin-root DIR]\n"
"\n"
"Enforce the policy files of DIR (every *.json in it, merged) on every\n"
"process under the cgroup PATH. DIR is watched (a ConfigMap mount works)\n"
"and reloaded on SIGHUP; an invalid policy is rejected and the one in\n"
"force stays. With no valid policy at start the built-in\n"
"policies/default.json is enforced. Events go to stdout and the audit log.\n"
"Programs and maps are pinned: enforcement goes on after the agent exits,\n"
"and a restarted agent adopts it. --uninstall removes it.\n"
"\n"
"  -c, --cgroup PATH      cgroup v2 directory to enforce on (not the root)\n"
"  -d, --policy-dir DIR   directory of policy files (a ConfigMap mount)\n"
"  -l, --audit-log FILE   audit log (default " DEFAULT_AUDIT_LOG ")\n"
"      --no-audit-log     events to stdout only\n"
"      --pin-root DIR     bpffs directory for pins (default " DEFAULT_PIN_ROOT ")\n"
"      --state-dir DIR    where `odsbpf status` finds the agent's state\n"
"                         (default " DEFAULT_STATE_DIR ")\n"
"      --require-signed   accept only policies signed with the key\n"
"      --key-file FILE    the signing key (default: $ODSBPF_POLICY_KEY)\n"
"      --listen ADDR:PORT serve /healthz, /readyz and /metrics there\n"
"                         (default " HTTP_DEFAULT_LISTEN "; \"off\" for none)\n"
"      --xdp-ifaces LIST  XDP on the host-side veths whose names match one of\n"
"                         the comma-separated patterns, as they come and go\n"
"                         (for example '" PACKET_DEFAULT_XDP_IFACES "'; default: no XDP)\n"
"      --uninstall        detach and unpin everything, then exit\n"
"  -v, --verbose          more messages; -vv adds libbpf and verifier logs\n"
"  -h, --help             this help\n"
PIPELINE_HELP
"\n"
"ENVIRONMENT=production implies --require-signed and refuses audit mode,\n"
"an empty policy, a key shorter than 32 characters and --no-audit-log.\n"
"\n"
"examples:\n"
"  odsbpf agent --cgroup /sys/fs/cgroup/kubepods.slice --policy-dir /etc/odsbpf\n"
"  ODSBPF_POLICY_KEY=... odsbpf agent --cgroup /sys/fs/cgroup/kubepods.slice \\\n"
"      --policy-dir /etc/odsbpf --require-signed\n"
"  odsbpf agent --uninstall\n";

enum {
	OPT_NO_AUDIT_LOG = 256, OPT_PIN_ROOT, OPT_STATE_DIR, OPT_REQUIRE_SIGNED,
	OPT_KEY_FILE, OPT_UNINSTALL, OPT_LISTEN, OPT_XDP_IFACES,
};

static int check_production(struct agent_opts *o)
{
	const char *env = getenv("ENVIRONMENT");

	o->production = env && !strcmp(env, "production");
	if (!o->production)
		return -1;
	o->require_signed = true;
	if (o->no_audit_log) {
		pr_err("agent: ENVIRONMENT=production requires an audit log; drop --no-audit-log");
		return EXIT_USAGE;
	}
	return -1;
}

static int parse_agent_opts(int argc, char **argv, struct agent_opts *o)
{
	static const struct option longopts[] = {
		{ "cgroup", required_argument, NULL, 'c' },
		{ "policy-dir", required_argument, NULL, 'd' },
		{ "audit-log", required_argument, NULL, 'l' },
		{ "no-audit-log", no_argument, NULL, OPT_NO_AUDIT_LOG },
		{ "pin-root", required_argument, NULL, OPT_PIN_ROOT },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "require-signed", no_argument, NULL, OPT_REQUIRE_SIGNED },
		{ "key-file", required_argument, NULL, OPT_KEY_FILE },
		{ "uninstall", no_argument, NULL, OPT_UNINSTALL },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "xdp-ifaces", required_argument, NULL, OPT_XDP_IFACES },
		PIPELINE_LONGOPTS,
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	o->audit_log = DEFAULT_AUDIT_LOG;
	o->pin_root = DEFAULT_PIN_ROOT;
	o->state_dir = DEFAULT_STATE_DIR;
	o->listen = HTTP_DEFAULT_LISTEN;
	pipeline_default_opts(&o->pipe);
	while ((c = getopt_long(argc, argv, "c:d:l:vh", longopts, NULL)) != -1) {
		if (c >= PIPELINE_OPT_FIRST && c < PIPELINE_OPT_LAST) {
			if (pipeline_parse_opt(&o->pipe, c, optarg))
				return EXIT_USAGE;
			continue;
		}
		switch (c) {
		case 'c': o->cgroup = optarg; break;
		case 'd': o->policy_dir = optarg; break;
		case 'l': o->audit_log = optarg; break;
		case OPT_NO_AUDIT_LOG: o->no_audit_log = true; break;
		case OPT_PIN_ROOT: o->pin_root = optarg; break;
		case OPT_STATE_DIR: o->state_dir = optarg; break;
		case OPT_REQUIRE_SIGNED: o->require_signed = true; break;
		case OPT_KEY_FILE: o->key_file = optarg; break;
		case OPT_UNINSTALL: o->uninstall = true; break;
		case OPT_LISTEN:
			o->listen = strcmp(optarg, "off") ? optarg : NULL;
			o->listen_given = true;
			break;
		case OPT_XDP_IFACES: o->xdp_ifaces = optarg; break;
		case 'v': verbose_more(); break;
		case 'h':
			fputs(agent_help, stdout);
			return EXIT_OK;
		default:
			bad_option("agent", argv);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		pr_err("agent: unexpected argument \"%s\"", argv[optind]);
		return EXIT_USAGE;
	}
	if (!o->cgroup && !o->uninstall) {
		pr_err("agent: --cgroup PATH is required");
		return EXIT_USAGE;
	}
	if (o->listen && http_parse_listen(o->listen, &(struct sockaddr_storage){})) {
		pr_err("agent: --listen \"%s\": expected ADDR:PORT, such as 127.0.0.1:9464 or [::1]:9464, or off",
		       o->listen);
		return EXIT_USAGE;
	}
	return check_production(o);
}

static void emit_agent_event(struct agent_state *st, const char *action,
			     const char *status, json_t *meta)
{
	event_emit(&st->sink, event_agent(&st->sink, action, status, meta));
}

/* What production refuses in a policy that is otherwise valid. */
static int production_check(const struct policy *pol, char *err, size_t len)
{
	if (pol->mode == ODSBPF_MODE_AUDIT) {
		snprintf(err, len, "mode \"audit\" is not allowed with ENVIRONMENT=production");
		return -EPERM;
	}
	if (!pol->nr_rules) {
		snprintf(err, len, "the policy has no rules; ENVIRONMENT=production refuses an empty policy");
		return -EPERM;
	}
	return 0;
}

/* Text -> validated, compiled policy in slot; err says why not. */
static int build_policy(struct agent_state *st, struct policy_source *src,
			bool builtin, int slot, struct compiled_policy *c,
			char *err, size_t len)
{
	struct policy *pol = &st->policies[slot];
	int ret = 0;

	if (st->key && !builtin)
		ret = policy_source_verify(src, st->key, err, len);
	if (!ret)
		ret = policy_load_texts(src->names, src->texts, src->n, pol, err, len);
	if (ret)
		return ret;
	if (st->opts->production)
		ret = production_check(pol, err, len);
	if (!ret) {
		hosts_resolve_policy(pol, true);
		ret = compile_policy(pol, c, err, len);
	}
	if (ret)
		policy_free(pol);
	return ret;
}

static void record_applied(struct agent_state *st, int slot,
			   const struct policy_source *src, const char *source,
			   const struct compiled_policy *c)
{
	struct agent_status *s = &st->status;

	st->sink.prev_policy = st->current < 0 ? NULL : &st->policies[st->current];
	st->sink.prev_policy_id = st->sink.policy_id;
	st->sink.policy = &st->policies[slot];
	st->sink.policy_id = st->enf.policy_id;
	st->current = slot;
	pipeline_set_policy(&st->pipe, &st->policies[slot]);

	snprintf(s->policy_hash, sizeof(s->policy_hash), "%s", src->hash);
	snprintf(s->policy_source, sizeof(s->policy_source), "%s", source);
	s->policy_id = st->enf.policy_id;
	s->loaded_at = time(NULL);
	s->rules = st->policies[slot].nr_rules;
	s->prefixes4 = c->nr_v4;
	s->prefixes6 = c->nr_v6;
	s->audit_mode = c->mode == ODSBPF_MODE_AUDIT;
	s->signed_policy = st->key && strcmp(source, "built-in");
	agent_status_write(st->opts->state_dir, s);
	st->metrics.policy_loads++;
	st->metrics.loaded_at = s->loaded_at;
	st->metrics.last_reload_ok = true;

	emit_agent_event(st, "policy.load", "applied",
			 json_pack("{s:s, s:s, s:i, s:i, s:i, s:s}", "source", source,
				   "policy_hash", src->hash, "policy_id", st->enf.policy_id,
				   "rules", (int)st->policies[slot].nr_rules,
				   "prefixes", (int)(c->nr_v4 + c->nr_v6),
				   "mode", s->audit_mode ? "audit" : "enforce"));
}

static int read_source(const char *dir, struct policy_source *src, char *err,
		       size_t len)
{
	if (dir)
		return policy_source_read_dir(dir, src, err, len);
	return policy_source_from_text(DEFAULT_POLICY_NAME, default_policy_json, src);
}

/*
 * Load dir (or, when NULL, the built-in default) and swap it in. Unless
 * forced, an unchanged policy (same hash) is left alone.
 */
static int apply_policy(struct agent_state *st, const char *dir, bool force)
{
	int slot = st->current < 0 ? 0 : !st->current;
	const char *source = dir ? dir : "built-in";
	struct policy_source src;
	struct compiled_policy c;
	char err[POLICY_ERR_LEN];
	int ret;

	ret = read_source(dir, &src, err, sizeof(err));
	if (!ret && !force && !strcmp(src.hash, st->status.policy_hash)) {
		/* Back to the files in force: a rejection before is resolved. */
		if (!st->metrics.last_reload_ok)
			pr_info("%s holds the policy in force again", source);
		st->metrics.last_reload_ok = true;
		policy_source_free(&src);
		return 0;
	}
	policy_free(&st->policies[slot]);
	if (!ret)
		ret = build_policy(st, &src, !dir, slot, &c, err, sizeof(err));
	if (ret) {
		pr_err("%s", err);
		emit_agent_event(st, "policy.rejected", "rejected",
				 json_pack("{s:s, s:s}", "source", source, "error", err));
		st->metrics.policy_rejects++;
		st->metrics.rejected_at = time(NULL);
		st->metrics.last_reload_ok = false;
		policy_source_free(&src);
		return ret;
	}
	ret = enforcer_install(&st->enf, &c);
	if (!ret)
		record_applied(st, slot, &src, source, &c);
	compiled_free(&c);
	policy_source_free(&src);
	return ret;
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

	/* Queued: run_loop() writes a drain's lines at once. */
	event_emit_kernel(&st->sink, e);
	return 0;
}

/* Every event on its way out: the per-rule counts of /metrics. */
static void count_event(void *ctx, const json_t *ev)
{
	struct agent_state *st = ctx;

	http_count_event(&st->metrics, ev);
}

/*
 * A missing cgroup or the root is refused at start, never retried: a
 * mistake, not a delay (kubelet makes the pods' cgroup before any pod).
 */
static int refuse_root_cgroup(const char *path)
{
	struct statfs sfs;

	if (statfs(path, &sfs)) {
		pr_err("--cgroup %s: %s", path,
		       errno == ENOENT ? "no such cgroup" : strerror(errno));
		return -ENOENT;
	}
	if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
		pr_err("--cgroup %s: not a directory of the cgroup2 hierarchy", path);
		return -EINVAL;
	}
	if (!cgroup_is_root(path))
		return 0;
	pr_err("refusing to attach to %s: it is the root of the cgroup hierarchy and would police the whole host; name the cgroup that holds the pods",
	       path);
	return -EPERM;
}

static int open_target_cgroup(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * First policy: the directory's; else the pinned one an earlier agent left
 * (the last that loaded, as after a rejected reload: a rollout of a broken
 * policy must not swap the node to the default); else the built-in
 * default, said loudly. Production will not start on a policy it refuses:
 * it exits instead. Either fallback leaves the agent not ready.
 */
static int apply_first_policy(struct agent_state *st, const char *dir)
{
	if (dir && !apply_policy(st, dir, true))
		return 0;
	if (dir && st->opts->production) {
		pr_err("agent: ENVIRONMENT=production: no acceptable policy in %s; not starting", dir);
		return -EPERM;
	}
	if (dir && st->enf.installed) {
		pr_warn("no valid policy in %s: the pinned policy %u stays in force", dir,
			st->enf.policy_id);
		return 0;
	}
	if (dir)
		pr_warn("no valid policy in %s: enforcing the built-in default policy", dir);
	return apply_policy(st, NULL, true);
}

/*
 * kubelet updates a ConfigMap mount by swapping the ..data symlink; watch
 * the directory's entries, and reload a short while after the last change.
 */
static int watch_policy_dir(const char *dir)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (inotify_add_watch(fd, dir, IN_CREATE | IN_DELETE | IN_MOVED_TO |
				       IN_MOVED_FROM | IN_CLOSE_WRITE | IN_ATTRIB) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static bool drain_inotify(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;

	while (read(fd, buf, sizeof(buf)) > 0)
		changed = true;
	return changed;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/*
 * Resolve the hosts of the policy in force again; when their addresses
 * changed, the same policy is compiled and swapped in like any update.
 */
static void refresh_hosts(struct agent_state *st)
{
	struct compiled_policy c;
	char err[POLICY_ERR_LEN];
	struct policy *pol;

	if (st->current < 0)
		return;
	pol = &st->policies[st->current];
	if (!hosts_in_policy(pol) || !hosts_resolve_policy(pol, false))
		return;
	if (compile_policy(pol, &c, err, sizeof(err))) {
		pr_err("%s", err);
		return;
	}
	if (!enforcer_install(&st->enf, &c)) {
		st->sink.prev_policy = pol;
		st->sink.prev_policy_id = st->sink.policy_id;
		st->sink.policy_id = st->enf.policy_id;
		st->status.policy_id = st->enf.policy_id;
		st->metrics.policy_loads++;
		st->metrics.loaded_at = time(NULL);
		agent_status_write(st->opts->state_dir, &st->status);
		emit_agent_event(st, "policy.load", "applied",
				 json_pack("{s:s, s:s, s:i, s:s}", "source",
					   st->status.policy_source, "policy_hash",
					   st->status.policy_hash, "policy_id",
					   st->enf.policy_id, "reason",
					   "host names resolved to new addresses"));
	}
	compiled_free(&c);
}

static void retire_old_layouts(const char *pin_root, const char *current);

/*
 * Attach every hook to the cgroup. A failure is said, counted and tried
 * again later (1 s, doubling to 30 s): the agent stays up and not ready,
 * so /readyz and odsbpf_attach_errors_total show it rather than a restart
 * loop, while the links an earlier agent pinned go on enforcing.
 */
static void try_attach(struct agent_state *st)
{
	const char *cgroup = st->opts->cgroup;
	const char *what = "cannot attach the programs to";
	int err;

	if (st->cg_fd < 0)
		st->cg_fd = open_target_cgroup(cgroup);
	if (st->cg_fd < 0) {
		err = st->cg_fd;
		what = "cannot open the cgroup";
	} else {
		/* A retry after the packet layer failed keeps the socket links. */
		err = st->enf.links[0] ? 0 : enforcer_attach(&st->enf, st->cg_fd, cgroup);
		if (!err)
			err = packet_attach_cgroup(&st->pkt, st->cg_fd, cgroup);
	}
	st->publish_at = 0;
	if (!err) {
		st->attached = true;
		/* Only now may an older layout's programs go. */
		retire_old_layouts(st->opts->pin_root, st->status.pin_dir);
		pr_info("enforcing on %s", cgroup);
		return;
	}
	st->metrics.attach_errors++;
	snprintf(st->metrics.attach_error, sizeof(st->metrics.attach_error),
		 "%s %s: %s", what, cgroup, strerror(-err));
	st->attach_retry_ms = st->attach_retry_ms ? st->attach_retry_ms * 2 :
						    ATTACH_RETRY_MIN_MS;
	if (st->attach_retry_ms > ATTACH_RETRY_MAX_MS)
		st->attach_retry_ms = ATTACH_RETRY_MAX_MS;
	st->attach_at = now_ms() + st->attach_retry_ms;
	pr_warn("not enforcing on %s yet: %s; trying again in %d s", cgroup,
		st->metrics.attach_error, st->attach_retry_ms / 1000);
}

/* Refresh what /readyz and /metrics answer from. */
static void publish_metrics(struct agent_state *st)
{
	const struct agent_status *s = &st->status;
	struct http_metrics *m = &st->metrics;

	st->publish_at = now_ms() + PUBLISH_EVERY_MS;
	if (!st->http)
		return;
	/* The built-in fallback protects the node, but is not what was asked. */
	m->policy_loaded = st->current >= 0 &&
			   (!st->opts->policy_dir || strcmp(s->policy_source, "built-in"));
	m->attached = st->attached;
	m->hooks_expected = ENFORCER_NR_HOOKS + 1;	/* and cgroup_skb/egress */
	m->hooks_attached = st->attached ? m->hooks_expected : 0;
	m->policy_id = st->enf.policy_id;
	snprintf(m->policy_hash, sizeof(m->policy_hash), "%s", s->policy_hash);
	snprintf(m->policy_source, sizeof(m->policy_source), "%s", s->policy_source);
	m->audit_mode = s->audit_mode;
	m->rules = s->rules;
	m->prefixes4 = s->prefixes4;
	m->prefixes6 = s->prefixes6;
	m->exempt = st->pipe.settings.nr_exempt;
	m->counters_ok = st->enf.skel != NULL;
	for (int i = 0; m->counters_ok && i < ODSBPF_CNT_MAX; i++)
		m->counters[i] = enforcer_counter(&st->enf, i);
	if (http_publish(st->http, m))
		pr_warn("cannot publish the metrics: out of memory");
}

static void run_loop(struct agent_state *st)
{
	/* poll() skips an fd of -1: a watch that could not be set. */
	struct pollfd fds[4] = {
		{ .fd = ring_buffer__epoll_fd(st->enf.rb), .events = POLLIN },
		{ .fd = st->inotify_fd, .events = POLLIN },
		{ .fd = pipeline_fd(&st->pipe), .events = POLLIN },
		{ .fd = packet_fd(&st->pkt), .events = POLLIN },
	};
	long long reload_at = -1, resolve_at = now_ms() + HOSTS_REFRESH_SECONDS * 1000;

	while (!stop_requested) {
		int timeout = reload_at < 0 ? 1000 : (int)(reload_at - now_ms());

		poll(fds, 4, timeout < 0 ? 0 : timeout);
		ring_buffer__consume(st->enf.rb);
		event_sink_flush(&st->sink);
		pipeline_tick(&st->pipe);
		if (fds[3].revents && packet_process(&st->pkt)) {
			json_decref(st->status.xdp);
			st->status.xdp = packet_xdp_json(&st->pkt);
			agent_status_write(st->opts->state_dir, &st->status);
		}
		if (st->inotify_fd >= 0 && drain_inotify(st->inotify_fd))
			reload_at = now_ms() + DEBOUNCE_MS;
		if (reload_requested || (reload_at >= 0 && now_ms() >= reload_at)) {
			if (st->opts->policy_dir)
				apply_policy(st, st->opts->policy_dir, reload_requested);
			reload_requested = 0;
			reload_at = -1;
			st->publish_at = 0;
		}
		if (now_ms() >= resolve_at) {
			refresh_hosts(st);
			resolve_at = now_ms() + HOSTS_REFRESH_SECONDS * 1000;
		}
		if (!st->attached && now_ms() >= st->attach_at)
			try_attach(st);
		if (now_ms() >= st->publish_at)
			publish_metrics(st);
	}
	ring_buffer__consume(st->enf.rb);
	event_sink_flush(&st->sink);
}

/*
 * One agent per pin root: a second would split the event stream. A new
 * agent whose start overlaps the exit of the one before it waits for the
 * lock (not ready meanwhile) instead of failing into a restart loop.
 */
static int lock_pin_dir(const char *pin_dir)
{
	int fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (!flock(fd, LOCK_EX | LOCK_NB))
		return fd;
	pr_warn("another odsbpf agent is running on %s: waiting for it to stop", pin_dir);
	/* SIGTERM interrupts the wait: the handler has no SA_RESTART. */
	while (flock(fd, LOCK_EX)) {
		if (errno != EINTR || stop_requested) {
			close(fd);
			return -EINTR;
		}
	}
	pr_info("the other agent stopped: taking over %s", pin_dir);
	return fd;
}

static int start_enforcing(struct agent_state *st)
{
	const struct agent_opts *o = st->opts;

	if (enforcer_open(&st->enf, st->status.pin_dir) ||
	    enforcer_listen(&st->enf, emit_kernel_event, st) ||
	    packet_open(&st->pkt, &st->enf))
		return -1;
	/* Exemptions and rate limits are in place before the first attach. */
	if (pipeline_open(&st->pipe, &st->enf, &st->sink, o->cgroup, &o->pipe))
		return -1;
	if (st->enf.adopted)
		emit_agent_event(st, "agent.adopt", "applied",
				 json_pack("{s:s, s:i}", "pin_dir", st->status.pin_dir,
					   "policy_id", st->enf.policy_id));
	if (apply_first_policy(st, o->policy_dir))
		return -1;
	try_attach(st);
	if (o->xdp_ifaces) {
		if (packet_xdp_start(&st->pkt, o->xdp_ifaces))
			return -1;
		st->sink.ifname = packet_ifname;
		st->sink.ifname_ctx = &st->pkt;
		st->status.xdp = packet_xdp_json(&st->pkt);
	}
	if (o->policy_dir) {
		st->inotify_fd = watch_policy_dir(o->policy_dir);
		if (st->inotify_fd < 0)
			pr_warn("cannot watch %s (%s): reload with SIGHUP",
				o->policy_dir, strerror(-st->inotify_fd));
	}
	return 0;
}

/*
 * An upgrade that changed the map layout pinned under a new vN; once this
 * agent's programs are attached, the older layouts' links and maps go, so
 * each hook is left with one odsbpf program.
 */
static void retire_old_layouts(const char *pin_root, const char *current)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(pin_root);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] != 'v' || !strtol(de->d_name + 1, NULL, 10))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_root, de->d_name);
		if (!strcmp(path, current))
			continue;
		pr_info("removing the pins of an older layout in %s", path);
		if (enforcer_uninstall(path))
			pr_warn("cannot remove the older layout in %s", path);
	}
	closedir(d);
}

static int run_agent(struct agent_state *st)
{
	const struct agent_opts *o = st->opts;
	int lock_fd = -1, ret = EXIT_FAILED;

	if (refuse_root_cgroup(o->cgroup) ||
	    enforcer_pin_dir(o->pin_root, st->status.pin_dir, sizeof(st->status.pin_dir)))
		return EXIT_FAILED;
	lock_fd = lock_pin_dir(st->status.pin_dir);
	if (lock_fd == -EINTR)
		ret = EXIT_OK;	/* stopped while waiting for the lock */
	if (lock_fd < 0 || start_enforcing(st))
		goto close;

	snprintf(st->status.cgroup, sizeof(st->status.cgroup), "%s", o->cgroup);
	st->status.features = features_probe();
	st->status.pid = getpid();
	st->status.started_at = time(NULL);
	agent_status_write(o->state_dir, &st->status);
	emit_agent_event(st, "agent.start", "applied",
			 json_pack("{s:s, s:s, s:b}", "cgroup", o->cgroup,
				   "pin_dir", st->status.pin_dir, "attached", st->attached));
	publish_metrics(st);

	run_loop(st);
	pipeline_close(&st->pipe);	/* what buckets still hold, before the stop */
	emit_agent_event(st, "agent.stop", "applied",
			 json_pack("{s:s, s:s}", "cgroup", o->cgroup, "enforcement",
				   "stays pinned; odsbpf agent --uninstall removes it"));
	/* status.json stays: the policy it names is still pinned and enforced. */
	ret = EXIT_OK;
close:
	if (st->inotify_fd >= 0)
		close(st->inotify_fd);
	pipeline_close(&st->pipe);
	packet_close(&st->pkt);
	enforcer_close(&st->enf);
	if (lock_fd >= 0)
		close(lock_fd);
	if (st->cg_fd >= 0)
		close(st->cg_fd);
	return ret;
}

/*
 * Refused while an agent runs (it holds the pin lock and would attach
 * again); a pin root with nothing pinned is an error, not a success, so
 * that a mistyped --pin-root cannot look like enforcement ended.
 */
static int uninstall(const struct agent_opts *o)
{
	char pin_dir[256];
	int err, fd;

	snprintf(pin_dir, sizeof(pin_dir), "%s/v%d", o->pin_root, ODSBPF_LAYOUT_VERSION);
	fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		pr_err("agent --uninstall: nothing pinned in %s (%s); is --pin-root right?",
		       pin_dir, strerror(errno));
		return EXIT_FAILED;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		pr_err("agent --uninstall: an agent is running on %s; stop it first (SIGTERM), then uninstall",
		       pin_dir);
		close(fd);
		return EXIT_FAILED;
	}
	err = enforcer_uninstall(pin_dir);
	close(fd);
	if (err) {
		pr_err("cannot uninstall %s: %s", pin_dir, strerror(-err));
		return EXIT_FAILED;
	}
	agent_status_remove(o->state_dir);
	fprintf(stderr, "odsbpf: detached every program and removed every pin in %s\n", pin_dir);
	return EXIT_OK;
}

/*
 * The endpoints come up before anything is loaded, so /readyz answers 503
 * until the policy is in force and attached. The default address is best
 * effort (a port in use is a warning); an address given must be served.
 */
static int start_http(struct agent_state *st)
{
	const struct agent_opts *o = st->opts;

	st->metrics.started_at = time(NULL);
	if (!o->listen)
		return 0;
	st->http = http_start(o->listen);
	if (st->http) {
		publish_metrics(st);
		return 0;
	}
	if (o->listen_given) {
		pr_err("agent: cannot serve HTTP on %s: %s", o->listen, strerror(errno));
		return -1;
	}
	pr_warn("cannot serve HTTP on %s (%s): running without /healthz, /readyz and /metrics; --listen picks another address",
		o->listen, strerror(errno));
	return 0;
}

static int load_key(struct agent_state *st)
{
	char err[256];

	if (!st->opts->require_signed)
		return 0;
	st->key = policy_key_load(st->opts->key_file, err, sizeof(err));
	if (!st->key) {
		pr_err("agent: %s", err);
		return -1;
	}
	return 0;
}

int cmd_agent(int argc, char **argv)
{
	struct agent_opts o = {};
	struct agent_state st = { .current = -1, .opts = &o, .inotify_fd = -1,
				  .cg_fd = -1, .pkt = PACKET_LAYER_INIT };
	int ret;

	ret = parse_agent_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;
	if (o.uninstall)
		return uninstall(&o);
	if (load_key(&st))
		return EXIT_FAILED;
	st.sink = (struct event_sink){ .stream = stdout, .node = node_name(),
				       .log_opts = &o.pipe.audit_log,
				       .observe = count_event, .observe_ctx = &st };
	if (pipeline_start_agent_log(&st.pipe, o.no_audit_log ? NULL : o.audit_log,
				     &o.pipe))
		return EXIT_FAILED;
	if (!o.no_audit_log && event_sink_open_log(&st.sink, o.audit_log)) {
		pipeline_stop_agent_log(&st.pipe);
		return EXIT_FAILED;
	}
	install_signals();

	ret = start_http(&st) ? EXIT_FAILED : run_agent(&st);
	http_stop(st.http);
	http_metrics_free(&st.metrics);
	event_sink_close(&st.sink);
	pipeline_stop_agent_log(&st.pipe);
	policy_free(&st.policies[0]);
	policy_free(&st.policies[1]);
	free(st.key);
	json_decref(st.status.features);
	json_decref(st.status.xdp);
	return ret;
}
