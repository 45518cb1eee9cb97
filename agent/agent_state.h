/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * What a running agent tells `odsbpf status` that the pinned maps cannot:
 * where it attached, which policy (hash, source, load time) is in force,
 * and what the kernel was probed to support. Kept in STATE_DIR/status.json.
 */
#ifndef ODSBPF_AGENT_STATE_H
#define ODSBPF_AGENT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>

#define DEFAULT_STATE_DIR "/run/odsbpf"

struct agent_status {
	int pid;
	time_t started_at;
	char cgroup[256];
	char pin_dir[256];
	char policy_hash[65];
	char policy_source[256];
	unsigned int policy_id;
	time_t loaded_at;
	size_t rules, prefixes4, prefixes6;
	bool audit_mode;
	bool signed_policy;
	json_t *features;	/* features_probe(), owned */
	json_t *xdp;		/* packet_xdp_json(), owned; NULL: no XDP */
};

/* Written atomically (temp file, rename); failures are only warned of. */
void agent_status_write(const char *state_dir, const struct agent_status *s);
void agent_status_remove(const char *state_dir);

#endif
