// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroup.h"
#include "log.h"
#include "pipeline.h"
#include "sock.skel.h"

/* A bucket idle this long has its suppressed count written out. */
#define IDLE_FLUSH_NS		NS_PER_SEC
#define FLUSH_EVERY_NS		NS_PER_SEC
/* Pods are rescanned this often, and at once when a log dir appears. */
#define SCAN_EVERY_NS		(5 * NS_PER_SEC)

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* ---- options ---- */

void pipeline_default_opts(struct pipeline_opts *o)
{
	static const struct audit_log_opts log = AUDIT_LOG_OPTS_DEFAULT;

	memset(o, 0, sizeof(*o));
	o->pods = true;
	o->pods_log_dir = PODID_DEFAULT_LOG_DIR;
	o->kubelet_dir = PODID_DEFAULT_KUBELET_DIR;
	o->rate = PIPELINE_RATE;
	o->burst = PIPELINE_BURST;
	o->audit_log = log;
	o->agent_log_retention_ns = AGENT_LOG_RETENTION_NS;
}

/* A number with an optional unit from units[]; 0 or -EINVAL. */
static int parse_scaled(const char *text, const char *const *units,
			const __u64 *scale, __u64 *out)
{
	unsigned long long n;
	char *end;

	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno || end == text || *text == '-')
		return -EINVAL;
	if (!*end && n == 0) {
		*out = 0;
		return 0;
	}
	for (int i = 0; units[i]; i++) {
		if (strcmp(end, units[i]))
			continue;
		if (n > ULLONG_MAX / scale[i])
			return -EINVAL;
		*out = n * scale[i];
		return 0;
	}
	return -EINVAL;
}

int parse_duration(const char *text, __u64 *ns)
{
	static const char *const units[] = { "ms", "s", "m", "h", "d", NULL };
	static const __u64 scale[] = { 1000000, NS_PER_SEC, 60 * NS_PER_SEC,
				       3600 * NS_PER_SEC, NS_PER_DAY };

	return parse_scaled(text, units, scale, ns);
}

static int parse_size(const char *text, __u64 *bytes)
{
	static const char *const units[] = { "", "K", "M", "G", NULL };
	static const __u64 scale[] = { 1, 1 << 10, 1 << 20, 1 << 30 };

	return parse_scaled(text, units, scale, bytes);
}

static int parse_count(const char *text, unsigned int *out)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(text, &end, 10);
	if (errno || end == text || *end || *text == '-' || n > 1000000)
		return -EINVAL;
	*out = n;
	return 0;
}

static int bad_value(int opt, const char *arg, const char *expected)
{
	static const char *const names[] = {
		"cgroup-root", "pods-log-dir", "kubelet-dir", "rate-limit",
		"rate-burst", "audit-log-rotate-size", "audit-log-rotate-age",
		"audit-log-retention", "audit-log-fsync", "agent-log",
		"agent-log-retention", "no-agent-log", "host-netns",
	};

	pr_err("agent: --%s \"%s\": expected %s", names[opt - PIPELINE_OPT_FIRST],
	       arg, expected);
	return -EINVAL;
}

int pipeline_parse_opt(struct pipeline_opts *o, int opt, const char *arg)
{
	static const char duration[] = "a duration such as 90s, 10m, 24h or 365d";
	struct audit_log_opts *l = &o->audit_log;

	switch (opt) {
	case PIPELINE_OPT_CGROUP_ROOT: o->cgroup_root = arg; return 0;
	case PIPELINE_OPT_PODS_LOG_DIR: o->pods_log_dir = arg; return 0;
	case PIPELINE_OPT_KUBELET_DIR: o->kubelet_dir = arg; return 0;
	case PIPELINE_OPT_AGENT_LOG: o->agent_log = arg; return 0;
	case PIPELINE_OPT_NO_AGENT_LOG: o->no_agent_log = true; return 0;
	case PIPELINE_OPT_HOST_NETNS: o->host_netns = arg; return 0;
	case PIPELINE_OPT_RATE_LIMIT:
		return parse_count(arg, &o->rate) ? bad_value(opt, arg, "events a second") : 0;
	case PIPELINE_OPT_RATE_BURST:
		if (parse_count(arg, &o->burst) || !o->burst)
			return bad_value(opt, arg, "a count of 1 or more");
		return 0;
	case PIPELINE_OPT_ROTATE_SIZE:
		if (parse_size(arg, &l->rotate_size))
			return bad_value(opt, arg, "a size such as 100M, 512K or 4096");
		return 0;
	case PIPELINE_OPT_ROTATE_AGE:
		return parse_duration(arg, &l->rotate_age_ns) ? bad_value(opt, arg, duration) : 0;
	case PIPELINE_OPT_RETENTION:
		return parse_duration(arg, &l->retention_ns) ? bad_value(opt, arg, duration) : 0;
	case PIPELINE_OPT_FSYNC:
		return parse_duration(arg, &l->fsync_ns) ? bad_value(opt, arg, duration) : 0;
	case PIPELINE_OPT_AGENT_LOG_RETENTION:
		if (parse_duration(arg, &o->agent_log_retention_ns))
			return bad_value(opt, arg, duration);
		return 0;
	}
	return -EINVAL;
}

/* ---- the agent's own log ---- */

int pipeline_start_agent_log(struct pipeline *p, const char *audit_log,
			     const struct pipeline_opts *o)
{
	struct audit_log_opts lo = o->audit_log;
	char *copy = NULL, *path = (char *)o->agent_log;
	int err;

	if (o->no_agent_log || (!path && !audit_log))
		return 0;
	if (!path) {
		copy = strdup(audit_log);
		if (!copy || asprintf(&path, "%s/agent.log", dirname(copy)) < 0) {
			free(copy);
			return -ENOMEM;
		}
	}
	lo.retention_ns = o->agent_log_retention_ns;
	lo.fsync_ns = 0;	/* few lines, each worth keeping */
	err = agent_log_start(path, &lo);
	p->agent_log_on = !err;
	if (copy) {
		free(copy);
		free(path);
	}
	return err;
}

void pipeline_stop_agent_log(struct pipeline *p)
{
	if (p->agent_log_on)
		agent_log_stop();
	p->agent_log_on = false;
}

/* ---- kernel settings and exemptions ---- */

static int write_settings(struct pipeline *p)
{
	__u32 zero = 0;

	if (bpf_map__update_elem(p->enf->skel->maps.odsbpf_settings, &zero,
				 sizeof(zero), &p->settings, sizeof(p->settings),
				 BPF_ANY)) {
		int err = -errno;

		pr_err("cannot write the odsbpf_settings map: %s", strerror(-err));
		return err;
	}
	return 0;
}

static bool namespace_exempt(const struct pipeline *p, const char *ns)
{
	for (size_t i = 0; ns && i < p->nr_exempt_ns; i++)
		if (!strcmp(p->exempt_ns[i], ns))
			return true;
	return false;
}

static bool in_set(const __u64 *ids, size_t n, __u64 id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The cgroups to exempt now: exempt namespaces' pods, and the agent. */
static size_t wanted_exemptions(struct pipeline *p, __u64 *ids, __u32 *reasons)
{
	size_t n = 0;

	for (size_t i = 0; p->pods_on && i < p->pods.nr_pods; i++) {
		const struct podid_pod *pod = &p->pods.pods[i];

		if (!pod->cgroup_id || !namespace_exempt(p, pod->namespace))
			continue;
		if (n == ODSBPF_MAX_EXEMPT - 1) {
			pr_warn("more than %d exempt pods: the rest are enforced",
				ODSBPF_MAX_EXEMPT - 1);
			break;
		}
		ids[n] = pod->cgroup_id;
		reasons[n++] = ODSBPF_EXEMPT_NAMESPACE;
	}
	if (p->self_cgroup) {
		ids[n] = p->self_cgroup;
		reasons[n++] = ODSBPF_EXEMPT_SELF;
	}
	return n;
}

/* Make odsbpf_exempt hold exactly the wanted cgroups. */
static void sync_exemptions(struct pipeline *p)
{
	int fd = bpf_map__fd(p->enf->skel->maps.odsbpf_exempt);
	__u64 *ids = calloc(ODSBPF_MAX_EXEMPT, sizeof(*ids));
	__u64 *stale = calloc(ODSBPF_MAX_EXEMPT, sizeof(*stale));
	__u32 *reasons = calloc(ODSBPF_MAX_EXEMPT, sizeof(*reasons));
	size_t n, nr_stale = 0;
	__u64 key, next;
	bool first = true;

	if (!ids || !stale || !reasons)
		goto out;
	n = wanted_exemptions(p, ids, reasons);
	while (!bpf_map_get_next_key(fd, first ? NULL : &key, &next)) {
		if (!in_set(ids, n, next) && nr_stale < ODSBPF_MAX_EXEMPT)
			stale[nr_stale++] = next;
		key = next;
		first = false;
	}
	for (size_t i = 0; i < n; i++) {
		struct odsbpf_exempt v = { .reason = reasons[i] };

		if (bpf_map_update_elem(fd, &ids[i], &v, BPF_ANY))
			pr_warn("cannot exempt cgroup %llu: %s",
				(unsigned long long)ids[i], strerror(errno));
	}
	for (size_t i = 0; i < nr_stale; i++)
		bpf_map_delete_elem(fd, &stale[i]);
	if (p->settings.nr_exempt != n)
		pr_info("%zu cgroups exempt (%zu pods of exempt namespaces)", n,
			n - !!p->self_cgroup);
	p->settings.nr_exempt = n;
	write_settings(p);
	p->synced_generation = p->pods.generation;
	p->exempt_dirty = false;
out:
	free(ids);
	free(stale);
	free(reasons);
}

void pipeline_set_policy(struct pipeline *p, const struct policy *pol)
{
	for (size_t i = 0; i < p->nr_exempt_ns; i++)
		free(p->exempt_ns[i]);
	free(p->exempt_ns);
	p->nr_exempt_ns = 0;
	p->exempt_ns = calloc(pol->nr_exempt ? pol->nr_exempt : 1, sizeof(char *));
	for (size_t i = 0; p->exempt_ns && i < pol->nr_exempt; i++)
		if ((p->exempt_ns[p->nr_exempt_ns] = strdup(pol->exempt_namespaces[i])))
			p->nr_exempt_ns++;
	p->exempt_dirty = true;
	if (p->enf)
		sync_exemptions(p);
}

/*
 * The agent's cgroup, when it lies strictly below the enforced one (a
 * DaemonSet pod under kubepods): exempt, so the agent is never denied
 * what it needs. A cgroup at or above the enforced one is not exempted:
 * that would exempt every pod.
 */
static __u64 find_self_cgroup(const char *enforced)
{
	char line[4096], mount[4096], self[8192], real[PATH_MAX];
	FILE *f = fopen("/proc/self/cgroup", "re");
	size_t len;
	struct stat st;
	bool found = false;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, "0::", 3);
	fclose(f);
	if (!found || cgroup2_mount(mount, sizeof(mount)) || !realpath(enforced, real))
		return 0;
	line[strcspn(line, "\n")] = '\0';
	snprintf(self, sizeof(self), "%s%s", mount, strcmp(line + 3, "/") ? line + 3 : "");
	len = strlen(real);
	if (strncmp(self, real, len) || self[len] != '/') {
		pr_debug("the agent's cgroup %s is not below %s: nothing to exempt", self, real);
		return 0;
	}
	if (stat(self, &st))
		return 0;
	pr_info("exempting the agent's own cgroup %s", self);
	return st.st_ino;
}

/* ---- rate limiting, held-back counts and lost events ---- */

/*
 * The cookie of the network namespace at path (bpf_get_netns_cookie's
 * value for its sockets): this thread visits it for one socket. 0, with a
 * warning, when the kernel cannot say (SO_NETNS_COOKIE is 5.14+): then
 * loopback is judged in every namespace, as before.
 */
static __u64 own_netns_cookie(void)
{
	__u64 cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	if (fd >= 0)
		close(fd);
	if (!cookie)
		pr_warn("no cookie for this network namespace (SO_NETNS_COOKIE needs Linux 5.14); loopback is judged in every network namespace");
	return cookie;
}

static __u64 netns_cookie(const char *path)
{
	int here, there;
	__u64 cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = -1;

	/* Our own namespace needs no visit (nor CAP_SYS_ADMIN for setns). */
	if (!path)
		return own_netns_cookie();
	here = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	there = open(path, O_RDONLY | O_CLOEXEC);
	if (here < 0 || there < 0 || setns(there, CLONE_NEWNET)) {
		pr_warn("--host-netns %s: %s; loopback is judged in every network namespace",
			path, strerror(errno));
		goto out;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	if (setns(here, CLONE_NEWNET))
		pr_err("cannot return to the agent's network namespace: %s", strerror(errno));
	if (!cookie)
		pr_warn("no cookie for the network namespace %s; loopback is judged in every network namespace",
			path);
out:
	if (fd >= 0)
		close(fd);
	if (here >= 0)
		close(here);
	if (there >= 0)
		close(there);
	return cookie;
}

static int configure_rate(struct pipeline *p)
{
	if (p->o.rate) {
		p->settings.rl_interval_ns = NS_PER_SEC / p->o.rate;
		p->settings.rl_tolerance_ns = p->settings.rl_interval_ns * (p->o.burst - 1);
	}
	/* A pod's own loopback is not the node's: only the node's is judged. */
	p->settings.host_netns_cookie = netns_cookie(p->o.host_netns);
	return write_settings(p);
}

/* A line for a bucket that went idle holding suppressed events. */
static void emit_suppressed(struct pipeline *p, const struct odsbpf_bucket_key *k,
			    const struct odsbpf_bucket *b)
{
	static const __u8 mapped[12] = { [10] = 0xff, [11] = 0xff };
	struct odsbpf_event e = {
		.ktime_ns = b->last_ns, .cgroup_id = k->cgroup_id,
		.ifindex = k->ifindex, .dport = b->dport, .protocol = b->protocol,
		.hook = b->hook, .verdict = b->verdict, .rule_id = b->rule_id,
		.policy_id = b->policy_id, .suppressed = b->suppressed,
		.layer = b->layer,
		.family = memcmp(k->addr, mapped, 12) ? b->family : AF_INET,
	};
	const char *user;
	json_t *ev, *meta;

	memcpy(e.daddr, k->addr, 16);
	memcpy(e.judged, k->addr, 16);
	ev = event_from_kernel(p->sink, &e);
	if (!ev)
		return;
	/* What is known of many attempts: no one process, no one user. */
	json_object_set_new(ev, "action", json_string("egress.suppressed"));
	user = json_string_value(json_object_get(ev, "user_id"));
	if (user && !strncmp(user, "uid:", 4))
		json_object_set_new(ev, "user_id", json_null());
	meta = json_object_get(ev, "metadata");
	json_object_del(meta, "pid");
	json_object_del(meta, "tid");
	json_object_del(meta, "comm");
	json_object_del(meta, "uid");
	event_emit(p->sink, ev);
}

/*
 * Write out the counts of buckets idle for a second (all of them when
 * the agent stops): without a next event they would never be told.
 */
static void flush_buckets(struct pipeline *p, bool all)
{
	int fd = bpf_map__fd(p->enf->skel->maps.odsbpf_buckets);
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 now = mono_ns(), token[4];
	__u32 got = 0, n;
	int err = 0;

	while (!err && got < ODSBPF_MAX_BUCKETS) {
		n = ODSBPF_MAX_BUCKETS - got;
		err = bpf_map_lookup_batch(fd, got ? token : NULL, token,
					   p->keys + got, p->vals + got, &n, &opts);
		got += n;
	}
	if (err && err != -ENOENT)
		pr_warn("cannot read the odsbpf_buckets map: %s", strerror(-err));
	for (__u32 i = 0; i < got; i++) {
		struct odsbpf_bucket b;

		if (!p->vals[i].suppressed ||
		    (!all && now < p->vals[i].last_ns + IDLE_FLUSH_NS))
			continue;
		/* Taken whole: a denial after this starts a new bucket. */
		if (bpf_map_lookup_and_delete_elem(fd, &p->keys[i], &b) || !b.suppressed)
			continue;
		emit_suppressed(p, &p->keys[i], &b);
	}
}

static void report_lost(struct pipeline *p)
{
	__u64 total = enforcer_counter(p->enf, ODSBPF_CNT_EVENTS_LOST);
	__u64 lost = total - p->lost_seen;

	if (total <= p->lost_seen)
		return;
	p->lost_seen = total;
	pr_warn("the event ring buffer was full: %llu events not written; their denials are counted in later events' \"suppressed\"",
		(unsigned long long)lost);
	event_emit(p->sink, event_agent(p->sink, "events.lost", "lost",
		   json_pack("{s:I, s:I, s:s}", "lost", (json_int_t)lost,
			     "lost_total", (json_int_t)total,
			     "counted_in", "suppressed")));
}

/* ---- pods ---- */

static int watch_pods_log_dir(const char *dir)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (fd < 0)
		return -1;
	if (inotify_add_watch(fd, dir, IN_CREATE | IN_DELETE | IN_MOVED_TO |
				       IN_MOVED_FROM | IN_ONLYDIR) < 0) {
		/* Off a node (no kubelet) there is nothing to watch. */
		log_msg(errno == ENOENT ? LOG_INFO : LOG_WARN,
			"cannot watch %s (%s): new pods are found every %llu s",
			dir, strerror(errno), SCAN_EVERY_NS / NS_PER_SEC);
		close(fd);
		return -1;
	}
	return fd;
}

static bool drain(int fd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
		any = true;
	return any;
}

static int open_pods(struct pipeline *p, const char *cgroup)
{
	struct podid_opts po = {
		.cgroup_root = p->o.cgroup_root ? p->o.cgroup_root : cgroup,
		.pods_log_dir = p->o.pods_log_dir,
		.kubelet_dir = *p->o.kubelet_dir ? p->o.kubelet_dir : NULL,
	};
	int err = podid_init(&p->pods, &po);

	if (err)
		return err;
	p->pods_on = true;
	p->sink->pods = &p->pods;
	p->inotify_fd = watch_pods_log_dir(p->o.pods_log_dir);
	pr_info("pod identity from %s and %s: %zu pods", po.cgroup_root,
		po.pods_log_dir, p->pods.nr_pods);
	return 0;
}

/* ---- the pipeline ---- */

int pipeline_open(struct pipeline *p, struct enforcer *enf,
		  struct event_sink *sink, const char *cgroup,
		  const struct pipeline_opts *o)
{
	int err;

	p->enf = enf;
	p->sink = sink;
	p->o = *o;
	p->inotify_fd = -1;
	p->keys = calloc(ODSBPF_MAX_BUCKETS, sizeof(*p->keys));
	p->vals = calloc(ODSBPF_MAX_BUCKETS, sizeof(*p->vals));
	if (!p->keys || !p->vals)
		return -ENOMEM;
	err = configure_rate(p);
	if (err)
		return err;
	if (o->pods && cgroup && (err = open_pods(p, cgroup)))
		return err;
	if (cgroup)
		p->self_cgroup = find_self_cgroup(cgroup);
	sync_exemptions(p);
	p->lost_seen = enforcer_counter(enf, ODSBPF_CNT_EVENTS_LOST);
	p->next_scan_ns = mono_ns() + SCAN_EVERY_NS;
	return 0;
}

int pipeline_fd(const struct pipeline *p)
{
	return p->inotify_fd;
}

void pipeline_tick(struct pipeline *p)
{
	__u64 now = mono_ns();

	/* Lines still queued go before any other line, fsync or rotation. */
	event_sink_flush(p->sink);

	if (p->pods_on && (drain(p->inotify_fd) || now >= p->next_scan_ns)) {
		podid_scan(&p->pods);
		p->next_scan_ns = now + SCAN_EVERY_NS;
	}
	if (p->exempt_dirty || (p->pods_on && p->pods.generation != p->synced_generation))
		sync_exemptions(p);
	if (now >= p->next_flush_ns) {
		report_lost(p);
		flush_buckets(p, false);
		p->next_flush_ns = now + FLUSH_EVERY_NS;
	}
	audit_log_tick(&p->sink->log);
}

void pipeline_close(struct pipeline *p)
{
	if (p->enf && p->keys && p->vals) {
		report_lost(p);
		flush_buckets(p, true);
	}
	if (p->pods_on) {
		p->sink->pods = NULL;
		podid_free(&p->pods);
	}
	if (p->enf && p->inotify_fd >= 0)
		close(p->inotify_fd);
	for (size_t i = 0; i < p->nr_exempt_ns; i++)
		free(p->exempt_ns[i]);
	free(p->exempt_ns);
	free(p->keys);
	free(p->vals);
	p->exempt_ns = NULL;
	p->nr_exempt_ns = 0;
	p->keys = NULL;
	p->vals = NULL;
	p->pods_on = false;
	p->inotify_fd = -1;
	p->enf = NULL;
}
