/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The kernel side as the agent sees it: load the socket programs, install
 * a compiled policy into the inactive generation and flip to it, attach to
 * a cgroup, and hand ring-buffer events to a callback.
 */
#ifndef ODSBPF_ENFORCER_H
#define ODSBPF_ENFORCER_H

#include <linux/types.h>
#include <stdint.h>

#include "compile.h"
#include "odsbpf.h"

#define ENFORCER_NR_HOOKS 4

struct sock_bpf;
struct bpf_link;
struct ring_buffer;

struct enforcer {
	struct sock_bpf *skel;
	char pin_dir[256];	/* empty: nothing pinned (odsbpf exec) */
	bool adopted;		/* maps were found pinned by an earlier agent */
	struct bpf_link *links[ENFORCER_NR_HOOKS];
	struct ring_buffer *rb;
	__u32 active_gen;
	__u32 policy_id;	/* counts installs; 0 before the first */
	bool installed;
};

/* Called once per event; return 0 to go on. */
typedef int (*enforcer_event_fn)(void *ctx, const struct odsbpf_event *e);

/*
 * Load the programs. With pin_dir, maps are pinned there, or adopted when
 * an earlier agent pinned them: the policy in force then stays in force.
 */
int enforcer_open(struct enforcer *enf, const char *pin_dir);

/*
 * Make sure pin_root is on a bpffs, mounting one when the host has none,
 * and return the directory of this layout version below it.
 */
int enforcer_pin_dir(const char *pin_root, char *out, size_t len);

/* Detach every pinned link and remove every pin of pin_dir. */
int enforcer_uninstall(const char *pin_dir);

/*
 * Fill the generation the programs do not read, then flip to it in one
 * map write. On error the generation in force is untouched.
 */
int enforcer_install(struct enforcer *enf, const struct compiled_policy *c);

/*
 * Attach every hook to the cgroup; all or nothing. When pinned, a link an
 * earlier agent left on the same cgroup gets the new program in place
 * (bpf_link_update: no instant without a program) instead of a second one.
 */
int enforcer_attach(struct enforcer *enf, int cgroup_fd, const char *cgroup_path);

/*
 * One more cgroup program (of another object, such as the packet layer)
 * attached the same way: pinned as link_<program name> and adopted in
 * place when the enforcer pins. NULL with errno set on failure.
 */
struct bpf_program;
struct bpf_link *enforcer_attach_prog(struct enforcer *enf, struct bpf_program *prog,
				      int cgroup_fd);

int enforcer_listen(struct enforcer *enf, enforcer_event_fn fn, void *ctx);
/* Wait up to timeout_ms for events and deliver them; returns count or -errno. */
int enforcer_poll(struct enforcer *enf, int timeout_ms);

/* Sum of one per-CPU counter. */
__u64 enforcer_counter(struct enforcer *enf, enum odsbpf_counter idx);

/* Detach, unload, free. Safe on a half-opened enforcer. */
void enforcer_close(struct enforcer *enf);

/* Hook id of an event -> "connect4" and so on. */
const char *enforcer_hook_name(unsigned int hook);

#endif
