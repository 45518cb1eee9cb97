/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/* cgroup v2: find the hierarchy, make and remove the cgroups odsbpf owns. */
#ifndef ODSBPF_CGROUP_H
#define ODSBPF_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * The cgroup2 mount point, from /proc/self/mountinfo: on hybrid hosts it
 * is not /sys/fs/cgroup. Returns 0 or -ENOENT.
 */
int cgroup2_mount(char *buf, size_t len);

/* Is path the root of a cgroup2 hierarchy (not a cgroup below it)? */
bool cgroup_is_root(const char *path);

/* Move pid (0: the caller) into the cgroup at path. */
int cgroup_enter(const char *path, pid_t pid);

/* Does any process remain in the cgroup or below it? */
bool cgroup_populated(const char *path);

/*
 * End every process left in the cgroup (they descend from a command
 * odsbpf started), wait for it to empty, and remove it.
 */
int cgroup_destroy(const char *path);

#endif
