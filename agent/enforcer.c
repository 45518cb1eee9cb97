// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "enforcer.h"
#include "log.h"
#include "sock.skel.h"

const char *enforcer_hook_name(unsigned int hook)
{
	switch (hook) {
	case ODSBPF_HOOK_CONNECT4: return "connect4";
	case ODSBPF_HOOK_CONNECT6: return "connect6";
	case ODSBPF_HOOK_SENDMSG4: return "sendmsg4";
	case ODSBPF_HOOK_SENDMSG6: return "sendmsg6";
	case ODSBPF_HOOK_CGROUP_SKB: return "cgroup_skb_egress";
	case ODSBPF_HOOK_XDP: return "xdp";
	default: return "unknown";
	}
}

static struct bpf_map *sock_maps(struct sock_bpf *s, int i)
{
	struct bpf_map *maps[] = {
		s->maps.odsbpf_pol4, s->maps.odsbpf_pol6, s->maps.odsbpf_active,
		s->maps.odsbpf_counters, s->maps.odsbpf_events, s->maps.odsbpf_exempt,
		s->maps.odsbpf_settings, s->maps.odsbpf_buckets,
	};

	return i < (int)(sizeof(maps) / sizeof(maps[0])) ? maps[i] : NULL;
}

/* Pin every map under pin_dir; libbpf reuses those already pinned. */
static int set_pin_paths(struct enforcer *enf)
{
	char path[512];
	struct bpf_map *m;

	for (int i = 0; (m = sock_maps(enf->skel, i)); i++) {
		snprintf(path, sizeof(path), "%s/%s", enf->pin_dir, bpf_map__name(m));
		if (bpf_map__set_pin_path(m, path))
			return -errno;
	}
	snprintf(path, sizeof(path), "%s/odsbpf_active", enf->pin_dir);
	enf->adopted = !access(path, F_OK);
	return 0;
}

/* The policy id in the /0 entry of the IPv4 trie of generation gen. */
static __u32 generation_policy_id(struct enforcer *enf, __u32 gen)
{
	struct odsbpf_lpm4_key all = { .prefixlen = 0 };
	struct odsbpf_prefix val;
	__u32 inner_id;
	int fd;

	if (bpf_map__lookup_elem(enf->skel->maps.odsbpf_pol4, &gen, 4, &inner_id, 4, 0))
		return 0;
	fd = bpf_map_get_fd_by_id(inner_id);
	if (fd < 0)
		return 0;
	if (bpf_map_lookup_elem(fd, &all, &val))
		val.policy_id = 0;
	close(fd);
	return val.policy_id;
}

/* Continue from the generation an earlier agent left in force. */
static void adopt_generation(struct enforcer *enf)
{
	struct odsbpf_active active;
	__u32 zero = 0, id;

	if (bpf_map__lookup_elem(enf->skel->maps.odsbpf_active, &zero, 4, &active,
				 sizeof(active), 0))
		return;
	id = generation_policy_id(enf, active.gen);
	if (!id)
		return;
	enf->active_gen = active.gen;
	enf->policy_id = id;
	enf->installed = true;
	pr_info("adopted the pinned policy %u in %s", id, enf->pin_dir);
}

int enforcer_open(struct enforcer *enf, const char *pin_dir)
{
	int err;

	memset(enf, 0, sizeof(*enf));
	enf->skel = sock_bpf__open();
	if (!enf->skel) {
		err = -errno;
		pr_err("cannot open the socket programs: %s", strerror(-err));
		return err;
	}
	if (pin_dir) {
		snprintf(enf->pin_dir, sizeof(enf->pin_dir), "%s", pin_dir);
		err = set_pin_paths(enf);
		if (err) {
			pr_err("cannot set pin paths under %s: %s", pin_dir, strerror(-err));
			return err;
		}
	}
	err = sock_bpf__load(enf->skel);
	if (err) {
		pr_err("cannot load the socket programs into the kernel: %s (run with -vv for the verifier log)",
		       strerror(-err));
		return err;
	}
	if (enf->adopted)
		adopt_generation(enf);
	return 0;
}

/*
 * A fresh trie shaped like the inner template of the outer maps (libbpf
 * drops the template after load, so its shape is restated here).
 */
static int create_trie(bool is4, const char *name)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	__u32 key_size = is4 ? sizeof(struct odsbpf_lpm4_key) :
			       sizeof(struct odsbpf_lpm6_key);
	int fd;

	fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, name, key_size,
			    sizeof(struct odsbpf_prefix), ODSBPF_MAX_PREFIXES, &opts);
	if (fd < 0)
		return -errno;
	return fd;
}

/* Entries are stamped with the policy id and mode they belong to. */
static int fill_trie4(int fd, const struct compiled_policy *c, __u32 id)
{
	for (size_t i = 0; i < c->nr_v4; i++) {
		struct odsbpf_prefix val = c->v4[i].val;

		val.policy_id = id;
		val.mode = c->mode;
		if (bpf_map_update_elem(fd, &c->v4[i].key, &val, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int fill_trie6(int fd, const struct compiled_policy *c, __u32 id)
{
	for (size_t i = 0; i < c->nr_v6; i++) {
		struct odsbpf_prefix val = c->v6[i].val;

		val.policy_id = id;
		val.mode = c->mode;
		if (bpf_map_update_elem(fd, &c->v6[i].key, &val, BPF_ANY))
			return -errno;
	}
	return 0;
}

/*
 * Tries are immutable once published: each install builds new ones. The
 * kernel waits out the programs still using the trie a slot held before
 * it returns from the slot's update (map-in-map updates synchronize RCU).
 */
int enforcer_install(struct enforcer *enf, const struct compiled_policy *c)
{
	struct sock_bpf *s = enf->skel;
	__u32 gen = enf->installed ? !enf->active_gen : 0, zero = 0;
	__u32 id = enf->policy_id + 1;
	struct odsbpf_active active = { .gen = gen };
	int fd4, fd6, err;

	fd4 = create_trie(true, "odsbpf_trie4");
	fd6 = create_trie(false, "odsbpf_trie6");
	if (fd4 < 0 || fd6 < 0) {
		err = fd4 < 0 ? fd4 : fd6;
		pr_err("cannot create a policy trie: %s", strerror(-err));
		goto close_tries;
	}
	err = fill_trie4(fd4, c, id);
	if (!err)
		err = fill_trie6(fd6, c, id);
	if (err) {
		pr_err("cannot fill the policy tries: %s", strerror(-err));
		goto close_tries;
	}

	/* The programs do not read gen yet, so these writes are unseen. */
	if (bpf_map__update_elem(s->maps.odsbpf_pol4, &gen, 4, &fd4, 4, BPF_ANY) ||
	    bpf_map__update_elem(s->maps.odsbpf_pol6, &gen, 4, &fd6, 4, BPF_ANY)) {
		err = -errno;
		pr_err("cannot stage the policy generation %u: %s", gen, strerror(-err));
		goto close_tries;
	}

	/* The flip: one write, after which every program reads gen. */
	err = bpf_map__update_elem(s->maps.odsbpf_active, &zero, 4, &active,
				   sizeof(active), BPF_ANY);
	if (err) {
		err = -errno;
		pr_err("cannot switch to the new policy: %s", strerror(-err));
		goto close_tries;
	}
	enf->active_gen = gen;
	enf->policy_id = id;
	enf->installed = true;
	pr_info("policy %u in force: %zu IPv4 and %zu IPv6 prefixes", id, c->nr_v4,
		c->nr_v6);
close_tries:
	/* The outer maps hold their own references to the tries. */
	if (fd4 >= 0)
		close(fd4);
	if (fd6 >= 0)
		close(fd6);
	return err;
}

static struct bpf_program *hook_prog(struct enforcer *enf, int i)
{
	struct bpf_program *progs[ENFORCER_NR_HOOKS] = {
		enf->skel->progs.connect4, enf->skel->progs.connect6,
		enf->skel->progs.sendmsg4, enf->skel->progs.sendmsg6,
	};

	return progs[i];
}

static void link_pin_path(const char *pin_dir, const char *prog, char *out,
			  size_t len)
{
	snprintf(out, len, "%s/link_%s", pin_dir, prog);
}

/* The cgroup a link is attached to, by id (the cgroup dir's inode). */
static bool link_on_cgroup(struct bpf_link *link, int cgroup_fd)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	struct stat st;

	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) || fstat(cgroup_fd, &st))
		return false;
	return info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == st.st_ino;
}

/* Swap the new program into a pinned link left on the same cgroup. */
static struct bpf_link *adopt_link(struct bpf_program *prog, const char *path,
				   int cgroup_fd)
{
	struct bpf_link *link;

	if (access(path, F_OK))
		return NULL;	/* nothing pinned: a first start */
	link = bpf_link__open(path);
	if (!link)
		return NULL;
	if (!link_on_cgroup(link, cgroup_fd)) {
		pr_warn("pinned link %s is on another cgroup: replacing it", path);
		bpf_link__unpin(link);
		bpf_link__detach(link);
		bpf_link__destroy(link);
		return NULL;
	}
	if (bpf_link__update_program(link, prog)) {
		pr_warn("cannot update the program of %s: %s", path, strerror(errno));
		bpf_link__destroy(link);
		return NULL;
	}
	pr_info("adopted %s: new program swapped in", path);
	return link;
}

struct bpf_link *enforcer_attach_prog(struct enforcer *enf, struct bpf_program *prog,
				      int cgroup_fd)
{
	struct bpf_link *link;
	char path[512];

	if (enf->pin_dir[0]) {
		link_pin_path(enf->pin_dir, bpf_program__name(prog), path, sizeof(path));
		link = adopt_link(prog, path, cgroup_fd);
		if (link)
			return link;
	}
	link = bpf_program__attach_cgroup(prog, cgroup_fd);
	if (!link || !enf->pin_dir[0])
		return link;
	if (bpf_link__pin(link, path)) {
		pr_err("cannot pin %s: %s", path, strerror(errno));
		bpf_link__destroy(link);
		return NULL;
	}
	return link;
}

int enforcer_attach(struct enforcer *enf, int cgroup_fd, const char *cgroup_path)
{
	int err;

	/*
	 * Links on a cgroup run beside other programs on the same hook, as
	 * BPF_F_ALLOW_MULTI does: other agents keep working, any deny wins.
	 */
	for (int i = 0; i < ENFORCER_NR_HOOKS; i++) {
		enf->links[i] = enforcer_attach_prog(enf, hook_prog(enf, i), cgroup_fd);
		if (!enf->links[i]) {
			err = -errno;
			pr_err("cannot attach %s to cgroup %s: %s",
			       bpf_program__name(hook_prog(enf, i)), cgroup_path,
			       strerror(-err));
			goto detach;
		}
	}
	return 0;
detach:
	/* Pinned links stay: a half-attached agent must not unprotect a node. */
	for (int i = 0; i < ENFORCER_NR_HOOKS; i++) {
		bpf_link__destroy(enf->links[i]);
		enf->links[i] = NULL;
	}
	return err;
}

static bool on_bpffs(const char *path)
{
	struct statfs sfs;

	return !statfs(path, &sfs) && sfs.f_type == BPF_FS_MAGIC;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * bpffs is often not mounted on a fresh host. /sys/fs/bpf is the place
 * for it when the pin root lies there (sysfs allows no new directory);
 * anywhere else bpffs is mounted on the pin root itself.
 */
static int ensure_bpffs(const char *pin_root)
{
	const char *sys = "/sys/fs/bpf";
	const char *where = pin_root;
	int err;

	if (!strncmp(pin_root, sys, strlen(sys)) && !on_bpffs(sys))
		where = sys;
	else if (!strncmp(pin_root, sys, strlen(sys)) || on_bpffs(pin_root))
		return mkdir_p(pin_root, 0700);
	err = mkdir_p(where, 0700);
	if (err)
		return err;
	if (on_bpffs(where))
		return mkdir_p(pin_root, 0700);
	if (mount("bpf", where, "bpf", 0, "mode=0700")) {
		err = -errno;
		pr_err("cannot mount bpffs on %s: %s", where, strerror(-err));
		return err;
	}
	pr_info("mounted bpffs on %s", where);
	return mkdir_p(pin_root, 0700);
}

int enforcer_pin_dir(const char *pin_root, char *out, size_t len)
{
	int err = ensure_bpffs(pin_root);

	if (err) {
		pr_err("cannot prepare the pin directory %s: %s", pin_root, strerror(-err));
		return err;
	}
	/* bpffs refuses dots in names: the version is a bare number. */
	snprintf(out, len, "%s/v%d", pin_root, ODSBPF_LAYOUT_VERSION);
	err = mkdir_p(out, 0700);
	if (err)
		pr_err("cannot create %s: %s", out, strerror(-err));
	return err;
}

/* Detach the link pinned at path, whatever holds it open. */
static void detach_pinned_link(const char *path)
{
	struct bpf_link *link = bpf_link__open(path);

	if (!link)
		return;
	if (bpf_link__detach(link))
		pr_warn("cannot detach %s: %s", path, strerror(errno));
	bpf_link__destroy(link);
}

/*
 * Every link_* pin is detached first (socket hooks, cgroup_skb, XDP), so
 * that nothing stays attached through an fd another process holds; then
 * every pin goes. -ENOENT when nothing is pinned in pin_dir.
 */
int enforcer_uninstall(const char *pin_dir)
{
	struct dirent *de;
	char path[512];
	DIR *d;

	d = opendir(pin_dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "link_", 5))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		detach_pinned_link(path);
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		if (unlink(path))
			pr_warn("cannot remove %s: %s", path, strerror(errno));
	}
	closedir(d);
	if (rmdir(pin_dir))
		return -errno;
	return 0;
}

struct listen_ctx {
	enforcer_event_fn fn;
	void *ctx;
};

static struct listen_ctx listener;

static int on_sample(void *ctx, void *data, size_t size)
{
	struct listen_ctx *l = ctx;

	if (size < sizeof(struct odsbpf_event))
		return 0;
	return l->fn(l->ctx, data);
}

int enforcer_listen(struct enforcer *enf, enforcer_event_fn fn, void *ctx)
{
	listener = (struct listen_ctx){ fn, ctx };
	enf->rb = ring_buffer__new(bpf_map__fd(enf->skel->maps.odsbpf_events),
				   on_sample, &listener, NULL);
	if (!enf->rb) {
		int err = -errno;

		pr_err("cannot open the event ring buffer: %s", strerror(-err));
		return err;
	}
	return 0;
}

/*
 * Wait, then consume everything: the kernel wakes readers only now and
 * then (adaptive notification), so a poll alone can leave events behind.
 */
int enforcer_poll(struct enforcer *enf, int timeout_ms)
{
	int n = ring_buffer__poll(enf->rb, timeout_ms);

	if (n < 0 && n != -EINTR)
		return n;
	return ring_buffer__consume(enf->rb);
}

__u64 enforcer_counter(struct enforcer *enf, enum odsbpf_counter idx)
{
	int ncpu = libbpf_num_possible_cpus();
	__u64 vals[ncpu > 0 ? ncpu : 1], sum = 0;
	__u32 key = idx;

	if (ncpu <= 0 || bpf_map__lookup_elem(enf->skel->maps.odsbpf_counters, &key,
					      sizeof(key), vals, sizeof(vals), 0))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

void enforcer_close(struct enforcer *enf)
{
	for (int i = 0; i < ENFORCER_NR_HOOKS; i++)
		bpf_link__destroy(enf->links[i]);
	ring_buffer__free(enf->rb);
	sock_bpf__destroy(enf->skel);
	memset(enf, 0, sizeof(*enf));
}
