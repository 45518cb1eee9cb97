// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <errno.h>
#include <string.h>
#include <unistd.h>
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

int enforcer_open(struct enforcer *enf)
{
	int err;

	memset(enf, 0, sizeof(*enf));
	enf->skel = sock_bpf__open();
	if (!enf->skel) {
		err = -errno;
		pr_err("cannot open the socket programs: %s", strerror(-err));
		return err;
	}
	err = sock_bpf__load(enf->skel);
	if (err) {
		pr_err("cannot load the socket programs into the kernel: %s (run with -vv for the verifier log)",
		       strerror(-err));
		return err;
	}
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

static int fill_trie4(int fd, const struct compiled_policy *c)
{
	for (size_t i = 0; i < c->nr_v4; i++)
		if (bpf_map_update_elem(fd, &c->v4[i].key, &c->v4[i].val, BPF_ANY))
			return -errno;
	return 0;
}

static int fill_trie6(int fd, const struct compiled_policy *c)
{
	for (size_t i = 0; i < c->nr_v6; i++)
		if (bpf_map_update_elem(fd, &c->v6[i].key, &c->v6[i].val, BPF_ANY))
			return -errno;
	return 0;
}

int enforcer_install(struct enforcer *enf, const struct compiled_policy *c)
{
	struct sock_bpf *s = enf->skel;
	__u32 gen = enf->installed ? !enf->active_gen : 0, zero = 0;
	struct odsbpf_gen_settings gs = {
		.default_action = c->default_action,
		.mode = c->mode,
		.policy_id = enf->policy_id + 1,
	};
	struct odsbpf_active active = { .gen = gen };
	int fd4, fd6, err;

	fd4 = create_trie(true, "odsbpf_trie4");
	fd6 = create_trie(false, "odsbpf_trie6");
	if (fd4 < 0 || fd6 < 0) {
		err = fd4 < 0 ? fd4 : fd6;
		pr_err("cannot create a policy trie: %s", strerror(-err));
		goto close_tries;
	}
	err = fill_trie4(fd4, c);
	if (!err)
		err = fill_trie6(fd6, c);
	if (err) {
		pr_err("cannot fill the policy tries: %s", strerror(-err));
		goto close_tries;
	}

	/* The programs do not read gen yet, so these writes are unseen. */
	if (bpf_map__update_elem(s->maps.odsbpf_pol4, &gen, 4, &fd4, 4, BPF_ANY) ||
	    bpf_map__update_elem(s->maps.odsbpf_pol6, &gen, 4, &fd6, 4, BPF_ANY) ||
	    bpf_map__update_elem(s->maps.odsbpf_gens, &gen, 4, &gs, sizeof(gs), BPF_ANY)) {
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
	enf->policy_id = gs.policy_id;
	enf->installed = true;
	pr_info("policy %u in force: %zu IPv4 and %zu IPv6 prefixes", gs.policy_id,
		c->nr_v4, c->nr_v6);
close_tries:
	/* The outer maps hold their own references to the tries. */
	if (fd4 >= 0)
		close(fd4);
	if (fd6 >= 0)
		close(fd6);
	return err;
}

int enforcer_attach(struct enforcer *enf, int cgroup_fd, const char *cgroup_path)
{
	struct bpf_program *progs[ENFORCER_NR_HOOKS] = {
		enf->skel->progs.connect4, enf->skel->progs.connect6,
		enf->skel->progs.sendmsg4, enf->skel->progs.sendmsg6,
	};
	int err;

	/*
	 * Links on a cgroup run beside other programs on the same hook, as
	 * BPF_F_ALLOW_MULTI does: other agents keep working, any deny wins.
	 */
	for (int i = 0; i < ENFORCER_NR_HOOKS; i++) {
		enf->links[i] = bpf_program__attach_cgroup(progs[i], cgroup_fd);
		if (!enf->links[i]) {
			err = -errno;
			pr_err("cannot attach %s to cgroup %s: %s",
			       bpf_program__name(progs[i]), cgroup_path, strerror(-err));
			goto detach;
		}
	}
	return 0;
detach:
	for (int i = 0; i < ENFORCER_NR_HOOKS; i++) {
		bpf_link__destroy(enf->links[i]);
		enf->links[i] = NULL;
	}
	return err;
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

int enforcer_poll(struct enforcer *enf, int timeout_ms)
{
	int n = ring_buffer__poll(enf->rb, timeout_ms);

	return n == -EINTR ? 0 : n;
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
