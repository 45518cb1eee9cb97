// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "log.h"
#include "podid.h"

#define NS_PER_SEC		1000000000ull
/* A miss rescans at most this often: a flood of unknowns costs little. */
#define RESCAN_ON_MISS_NS	NS_PER_SEC
/* Retries of what a pod may not have yet. */
#define IP_RETRY_NS		(5 * NS_PER_SEC)
#define SA_RETRY_NS		(30 * NS_PER_SEC)
/* Bounds of the cgroup walk. */
#define MAX_DEPTH		12
#define MAX_CGROUPS		200000
#define MAX_TOKEN		16384

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/* ---- names ---- */

/* Pod UIDs: 36 characters of a UUID, or 32 hex digits (static pods). */
static bool valid_uid(const char *s, size_t len)
{
	if (len != 32 && len != 36)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdef-", s[i]))
			return false;
	return true;
}

static bool all_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && !memcmp(s + len - n, suffix, n);
}

/*
 * A pod's own cgroup: [kubelet-]kubepods[-QOS]-pod<uid>.slice (systemd;
 * the uid's dashes written as underscores) or pod<uid> (cgroupfs).
 */
static bool pod_component(const char *name, size_t len, char out[PODID_UID_LEN])
{
	const char *start, *end = name + len;
	char uid[PODID_UID_LEN];

	/* kubelet --cgroup-root=/kubelet (kind) prefixes "kubelet-" */
	if (memmem(name, len, "kubepods", 8) && ends_with(name, len, ".slice")) {
		start = memmem(name, len, "-pod", 4);
		for (const char *p = start; p; p = memmem(p + 1, end - p - 1, "-pod", 4))
			start = p;
		if (!start)
			return false;
		start += 4;
		end -= 6;
	} else if (!strncmp(name, "pod", 3)) {
		start = name + 3;
	} else {
		return false;
	}
	if (end - start >= PODID_UID_LEN)
		return false;
	memcpy(uid, start, end - start);
	uid[end - start] = '\0';
	for (char *p = uid; *p; p++)
		if (*p == '_')
			*p = '-';
	if (!valid_uid(uid, strlen(uid)))
		return false;
	strcpy(out, uid);
	return true;
}

static const struct {
	const char *prefix;
	const char *runtime;
} runtimes[] = {
	{ "cri-containerd-", "containerd" },
	{ "crio-", "cri-o" },
	{ "docker-", "docker" },
	{ "", NULL },
};

/*
 * A container's cgroup below its pod: cri-containerd-<id>.scope,
 * crio-<id>.scope, docker-<id>.scope (systemd), <id> or crio-<id>
 * (cgroupfs). CRI-O's crio-conmon-<id> is the monitor, not a container.
 */
static bool container_component(const char *name, size_t len,
				 struct podid_path *out)
{
	if (ends_with(name, len, ".scope"))
		len -= 6;
	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
		size_t plen = strlen(runtimes[i].prefix);

		if (len != plen + 64 || strncmp(name, runtimes[i].prefix, plen))
			continue;
		if (!all_hex(name + plen, 64))
			return false;
		memcpy(out->container_id, name + plen, 64);
		out->container_id[64] = '\0';
		out->runtime = runtimes[i].runtime;
		return true;
	}
	return false;
}

bool podid_parse_cgroup_path(const char *path, struct podid_path *out)
{
	const char *p = path;
	int after_pod = -1;	/* components seen since the pod's */

	memset(out, 0, sizeof(*out));
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len && after_pod < 0 && pod_component(p, len, out->pod_uid))
			after_pod = 0;
		else if (len && after_pod >= 0 && ++after_pod == 1)
			container_component(p, len, out);
		p += len;
		while (*p == '/')
			p++;
	}
	out->pod_level = after_pod == 0;
	return after_pod >= 0;
}

/* "<namespace>_<pod>_<uid>": neither namespace nor pod may hold a '_'. */
bool podid_parse_log_dir(const char *name, char *ns, size_t ns_len,
			 char *pod, size_t pod_len, char uid[PODID_UID_LEN])
{
	const char *first = strchr(name, '_'), *last = strrchr(name, '_');

	if (!first || first == last || first == name || last == first + 1)
		return false;
	if (!valid_uid(last + 1, strlen(last + 1)))
		return false;
	if ((size_t)(first - name) >= ns_len || (size_t)(last - first - 1) >= pod_len)
		return false;
	snprintf(ns, ns_len, "%.*s", (int)(first - name), name);
	snprintf(pod, pod_len, "%.*s", (int)(last - first - 1), first + 1);
	snprintf(uid, PODID_UID_LEN, "%s", last + 1);
	return true;
}

static int b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-' || c == '+')
		return 62;
	if (c == '_' || c == '/')
		return 63;
	return -1;
}

/* base64url without padding -> bytes; returns the length or -1. */
static ssize_t b64url_decode(const char *in, size_t len, char *out)
{
	unsigned int acc = 0, bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len && in[i] != '='; i++) {
		int v = b64url_value(in[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = acc >> bits & 0xff;
		}
	}
	return n;
}

int podid_token_subject(const char *token, size_t len, char *out, size_t out_len)
{
	const char *dot1 = memchr(token, '.', len), *dot2;
	const char *prefix = "system:serviceaccount:", *sub;
	char *payload;
	ssize_t plen;
	json_t *claims;
	int err = -EINVAL;

	if (!dot1)
		return -EINVAL;
	dot2 = memchr(dot1 + 1, '.', token + len - dot1 - 1);
	if (!dot2)
		return -EINVAL;
	payload = malloc(dot2 - dot1);
	if (!payload)
		return -ENOMEM;
	plen = b64url_decode(dot1 + 1, dot2 - dot1 - 1, payload);
	claims = plen > 0 ? json_loadb(payload, plen, 0, NULL) : NULL;
	sub = json_string_value(json_object_get(claims, "sub"));
	if (sub && !strncmp(sub, prefix, strlen(prefix)) && strlen(sub) < out_len) {
		strcpy(out, sub);
		err = 0;
	}
	json_decref(claims);
	free(payload);
	return err;
}

/* ---- scanning ---- */

struct scan {
	struct podid_cgroup *cgroups;
	size_t nr_cgroups, cap_cgroups;
	struct podid_pod *pods;
	size_t nr_pods, cap_pods;
};

static int scan_pod(struct scan *s, const char *uid)
{
	for (size_t i = 0; i < s->nr_pods; i++)
		if (!strcmp(s->pods[i].uid, uid))
			return i;
	if (s->nr_pods == s->cap_pods) {
		size_t cap = s->cap_pods ? 2 * s->cap_pods : 16;
		struct podid_pod *grown = realloc(s->pods, cap * sizeof(*grown));

		if (!grown)
			return -1;
		s->pods = grown;
		s->cap_pods = cap;
	}
	memset(&s->pods[s->nr_pods], 0, sizeof(s->pods[0]));
	strcpy(s->pods[s->nr_pods].uid, uid);
	return s->nr_pods++;
}

static int scan_add(struct scan *s, __u64 id, const char *abs, const char *rel)
{
	struct podid_path pp;
	struct podid_cgroup *c;

	if (s->nr_cgroups == s->cap_cgroups) {
		size_t cap = s->cap_cgroups ? 2 * s->cap_cgroups : 256;
		struct podid_cgroup *grown = realloc(s->cgroups, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		s->cgroups = grown;
		s->cap_cgroups = cap;
	}
	c = &s->cgroups[s->nr_cgroups++];
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->pod = -1;
	if (!podid_parse_cgroup_path(rel, &pp))
		return 0;
	c->pod = scan_pod(s, pp.pod_uid);
	if (c->pod < 0)
		return -ENOMEM;
	strcpy(c->container_id, pp.container_id);
	c->runtime = pp.runtime;
	if (pp.pod_level) {
		struct podid_pod *pod = &s->pods[c->pod];

		pod->cgroup_id = id;
		free(pod->cgroup_path);
		pod->cgroup_path = strdup(abs);
	}
	return 0;
}

/* Every directory below abs (rel is its path from the root), bounded. */
static int walk(struct scan *s, const char *abs, const char *rel, int depth)
{
	struct dirent *de;
	struct stat st;
	int err = 0;
	DIR *d;

	if (stat(abs, &st))
		return depth ? 0 : -errno;	/* gone meanwhile: fine */
	if ((err = scan_add(s, st.st_ino, abs, rel)))
		return err;
	if (depth >= MAX_DEPTH || s->nr_cgroups >= MAX_CGROUPS)
		return 0;
	d = opendir(abs);
	if (!d)
		return 0;
	while (!err && (de = readdir(d))) {
		char *sub_abs, *sub_rel;

		if (de->d_name[0] == '.' ||
		    (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;
		if (asprintf(&sub_abs, "%s/%s", abs, de->d_name) < 0)
			break;
		if (asprintf(&sub_rel, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0) {
			free(sub_abs);
			break;
		}
		if (de->d_type == DT_DIR || (!stat(sub_abs, &st) && S_ISDIR(st.st_mode)))
			err = walk(s, sub_abs, sub_rel, depth + 1);
		free(sub_abs);
		free(sub_rel);
	}
	closedir(d);
	return err;
}

/* Name the scanned pods from the log directories. */
static void read_log_dirs(struct scan *s, const char *dir)
{
	char ns[256], pod[256], uid[PODID_UID_LEN];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!podid_parse_log_dir(de->d_name, ns, sizeof(ns), pod, sizeof(pod), uid))
			continue;
		for (size_t i = 0; i < s->nr_pods; i++) {
			if (strcmp(s->pods[i].uid, uid) || s->pods[i].namespace)
				continue;
			s->pods[i].namespace = strdup(ns);
			s->pods[i].name = strdup(pod);
		}
	}
	closedir(d);
}

/* The service account in a pod's token, if a token is mounted. */
static char *find_service_account(const char *kubelet_dir, const char *uid)
{
	static const char *const volumes[] = { "kubernetes.io~projected",
					       "kubernetes.io~secret" };
	char path[4096], *token = malloc(MAX_TOKEN), sub[512], *found = NULL;

	if (!token)
		return NULL;
	for (size_t v = 0; !found && v < 2; v++) {
		struct dirent *de;
		DIR *d;

		snprintf(path, sizeof(path), "%s/pods/%s/volumes/%s", kubelet_dir, uid,
			 volumes[v]);
		d = opendir(path);
		while (d && !found && (de = readdir(d))) {
			ssize_t n;
			int fd;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/pods/%s/volumes/%s/%s/token",
				 kubelet_dir, uid, volumes[v], de->d_name);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, token, MAX_TOKEN);
			close(fd);
			if (n > 0 && !podid_token_subject(token, n, sub, sizeof(sub)))
				found = strdup(sub);
		}
		if (d)
			closedir(d);
	}
	/* The token is a credential: nothing of it outlives this function. */
	explicit_bzero(token, MAX_TOKEN);
	free(token);
	return found;
}

static struct podid_pod *find_pod(struct podid_pod *pods, size_t n, const char *uid)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(pods[i].uid, uid))
			return &pods[i];
	return NULL;
}

/* Keep what was learnt of a pod before: IP, service account, retries. */
static bool carry_over(struct podid *p, struct podid_pod *pod)
{
	struct podid_pod *old = find_pod(p->pods, p->nr_pods, pod->uid);

	if (!old)
		return false;
	memcpy(pod->ip, old->ip, sizeof(pod->ip));
	pod->netns = old->netns;
	pod->ip_tried_ns = old->ip_tried_ns;
	pod->sa_tried_ns = old->sa_tried_ns;
	if (old->service_account)
		pod->service_account = strdup(old->service_account);
	return old->cgroup_id == pod->cgroup_id &&
	       !(old->namespace ? !pod->namespace || strcmp(old->namespace, pod->namespace)
				: !!pod->namespace);
}

static void free_pods(struct podid_pod *pods, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(pods[i].namespace);
		free(pods[i].name);
		free(pods[i].service_account);
		free(pods[i].cgroup_path);
	}
	free(pods);
}

static int cgroup_cmp(const void *a, const void *b)
{
	const struct podid_cgroup *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int podid_scan(struct podid *p)
{
	struct scan s = {};
	bool same = true;
	__u64 now = mono_ns();
	int err;

	p->scanned_ns = now;
	err = walk(&s, p->o.cgroup_root, "", 0);
	if (err) {
		pr_warn("cannot scan the cgroups under %s: %s", p->o.cgroup_root,
			strerror(-err));
		free(s.cgroups);
		free_pods(s.pods, s.nr_pods);
		return err;
	}
	read_log_dirs(&s, p->o.pods_log_dir);
	for (size_t i = 0; i < s.nr_pods; i++) {
		struct podid_pod *pod = &s.pods[i];

		if (!carry_over(p, pod))
			same = false;
		if (!pod->service_account && p->o.kubelet_dir &&
		    (!pod->sa_tried_ns || now >= pod->sa_tried_ns + SA_RETRY_NS)) {
			pod->sa_tried_ns = now;
			pod->service_account = find_service_account(p->o.kubelet_dir, pod->uid);
		}
	}
	if (s.nr_pods != p->nr_pods || !same)
		p->generation++;
	qsort(s.cgroups, s.nr_cgroups, sizeof(*s.cgroups), cgroup_cmp);

	free(p->cgroups);
	free_pods(p->pods, p->nr_pods);
	p->cgroups = s.cgroups;
	p->nr_cgroups = s.nr_cgroups;
	p->pods = s.pods;
	p->nr_pods = s.nr_pods;
	pr_debug("pod identity: %zu cgroups, %zu pods under %s", p->nr_cgroups,
		 p->nr_pods, p->o.cgroup_root);
	return 0;
}

/* ---- the pod's IP, read in its network namespace ---- */

struct netns_query {
	int ns_fd;
	char ip[ADDR_STRLEN];
};

/* Higher is better: eth0 before others, IPv4 before IPv6. */
static int address_rank(const struct ifaddrs *ifa)
{
	const struct sockaddr_in *in4 = (const void *)ifa->ifa_addr;
	const struct sockaddr_in6 *in6 = (const void *)ifa->ifa_addr;
	bool eth0 = !strcmp(ifa->ifa_name, "eth0");

	if (!ifa->ifa_addr || !(ifa->ifa_flags & IFF_UP) ||
	    (ifa->ifa_flags & IFF_LOOPBACK))
		return 0;
	if (ifa->ifa_addr->sa_family == AF_INET) {
		__u32 a = ntohl(in4->sin_addr.s_addr);

		if ((a >> 24) == 127 || (a >> 16) == 0xa9fe)	/* loopback, link-local */
			return 0;
		return eth0 ? 4 : 2;
	}
	if (ifa->ifa_addr->sa_family == AF_INET6) {
		if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) ||
		    IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		    IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			return 0;
		return eth0 ? 3 : 1;
	}
	return 0;
}

/* Runs in a thread of its own: setns() moves only the calling thread. */
static void *netns_address(void *arg)
{
	struct netns_query *q = arg;
	struct ifaddrs *ifs, *best = NULL;
	int best_rank = 0;

	if (setns(q->ns_fd, CLONE_NEWNET) || getifaddrs(&ifs))
		return NULL;
	for (struct ifaddrs *ifa = ifs; ifa; ifa = ifa->ifa_next) {
		int rank = address_rank(ifa);

		if (rank > best_rank) {
			best = ifa;
			best_rank = rank;
		}
	}
	if (best && best->ifa_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)best->ifa_addr)->sin_addr,
			  q->ip, sizeof(q->ip));
	else if (best)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)best->ifa_addr)->sin6_addr,
			  q->ip, sizeof(q->ip));
	freeifaddrs(ifs);
	return NULL;
}

static __u64 netns_of(__u32 pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	return pid && !stat(path, &st) ? st.st_ino : 0;
}

/* A process of the pod (its sandbox holds the netns), from cgroup.procs. */
static __u32 pod_some_pid(const char *dir, int depth)
{
	char path[4200];
	struct dirent *de;
	unsigned int pid = 0;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%u", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid || depth >= 2 || !(d = opendir(dir)))
		return pid;
	while (!pid && (de = readdir(d)))
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			pid = pod_some_pid(path, depth + 1);
		}
	closedir(d);
	return pid;
}

static void resolve_ip(struct podid_pod *pod, __u32 pid)
{
	struct netns_query q = { .ns_fd = -1 };
	__u64 netns = netns_of(pid), now = mono_ns();
	char path[64];
	pthread_t t;

	if (pod->ip[0] && (!netns || netns == pod->netns))
		return;
	if (pod->ip_tried_ns && now < pod->ip_tried_ns + IP_RETRY_NS)
		return;
	pod->ip_tried_ns = now;
	if (!netns && pod->cgroup_path) {
		pid = pod_some_pid(pod->cgroup_path, 0);
		netns = netns_of(pid);
	}
	if (!netns)
		return;
	snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
	q.ns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (q.ns_fd < 0)
		return;
	if (!pthread_create(&t, NULL, netns_address, &q))
		pthread_join(t, NULL);
	close(q.ns_fd);
	if (q.ip[0]) {
		memcpy(pod->ip, q.ip, sizeof(pod->ip));
		pod->netns = netns;
	}
}

/* ---- lookups ---- */

static struct podid_cgroup *find_cgroup(struct podid *p, __u64 id)
{
	struct podid_cgroup key = { .id = id };

	if (!p->nr_cgroups)
		return NULL;
	return bsearch(&key, p->cgroups, p->nr_cgroups, sizeof(key), cgroup_cmp);
}

bool podid_lookup(struct podid *p, __u64 cgroup_id, __u32 pid,
		  struct podid_info *out)
{
	struct podid_cgroup *c = find_cgroup(p, cgroup_id);
	struct podid_pod *pod;
	bool incomplete = !c || (c->pod >= 0 && !p->pods[c->pod].namespace);

	memset(out, 0, sizeof(*out));
	if (incomplete && mono_ns() >= p->scanned_ns + RESCAN_ON_MISS_NS) {
		podid_scan(p);
		c = find_cgroup(p, cgroup_id);
	}
	if (!c || c->pod < 0)
		return false;
	pod = &p->pods[c->pod];
	resolve_ip(pod, pid);
	out->namespace = pod->namespace;
	out->pod = pod->name;
	out->pod_uid = pod->uid;
	out->container_id = c->container_id[0] ? c->container_id : NULL;
	out->runtime = c->runtime;
	out->service_account = pod->service_account;
	out->ip = pod->ip[0] ? pod->ip : NULL;
	out->pod_cgroup_id = pod->cgroup_id;
	return true;
}

int podid_init(struct podid *p, const struct podid_opts *o)
{
	memset(p, 0, sizeof(*p));
	p->o.cgroup_root = strdup(o->cgroup_root);
	p->o.pods_log_dir = strdup(o->pods_log_dir);
	p->o.kubelet_dir = o->kubelet_dir ? strdup(o->kubelet_dir) : NULL;
	if (!p->o.cgroup_root || !p->o.pods_log_dir || (o->kubelet_dir && !p->o.kubelet_dir)) {
		podid_free(p);
		return -ENOMEM;
	}
	return podid_scan(p);
}

void podid_free(struct podid *p)
{
	free((char *)p->o.cgroup_root);
	free((char *)p->o.pods_log_dir);
	free((char *)p->o.kubelet_dir);
	free(p->cgroups);
	free_pods(p->pods, p->nr_pods);
	memset(p, 0, sizeof(*p));
}
