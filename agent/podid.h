/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Pod identity from what a node has without the API server:
 *
 * - kubelet's cgroup paths give the pod UID and the container id, for
 *   the systemd driver (kubepods-burstable-pod<uid>.slice/
 *   cri-containerd-<id>.scope) and the cgroupfs one
 *   (kubepods/burstable/pod<uid>/<id>), with containerd, CRI-O and
 *   Docker names and every QoS class;
 * - the pod log directories (<pods-log-dir>/<namespace>_<pod>_<uid>/)
 *   give namespace and name;
 * - the pod's service-account token under the kubelet directory gives
 *   the service account (its "sub" claim; the token is not kept);
 * - the pod's network namespace gives its IP.
 *
 * A cgroup id is the inode number of its directory. Everything is cached
 * and rescanned when a lookup misses (at most once a second) or when the
 * caller asks.
 */
#ifndef ODSBPF_PODID_H
#define ODSBPF_PODID_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "addr.h"

#define PODID_UID_LEN		40	/* 36 and a NUL, rounded */
#define PODID_CONTAINER_LEN	65	/* 64 hex digits and a NUL */

#define PODID_DEFAULT_LOG_DIR	"/var/log/pods"
#define PODID_DEFAULT_KUBELET_DIR	"/var/lib/kubelet"

struct podid_opts {
	const char *cgroup_root;	/* where kubelet's cgroups are */
	const char *pods_log_dir;
	const char *kubelet_dir;	/* NULL: no service accounts */
};

/* What one cgroup path (relative to the root) says. */
struct podid_path {
	char pod_uid[PODID_UID_LEN];		/* "": not in a pod */
	char container_id[PODID_CONTAINER_LEN];	/* "": pod level, unknown */
	const char *runtime;	/* "containerd", "cri-o", "docker" or NULL */
	bool pod_level;		/* the path is the pod's own cgroup */
};

struct podid_pod {
	char uid[PODID_UID_LEN];
	char *namespace;	/* NULL until its log directory is seen */
	char *name;
	char *service_account;	/* "system:serviceaccount:NS:SA", or NULL */
	char *cgroup_path;	/* the pod's own cgroup, NULL if not seen */
	__u64 cgroup_id;
	char ip[ADDR_STRLEN];	/* "" while not known */
	__u64 netns;		/* inode of the netns ip was read in */
	__u64 ip_tried_ns, sa_tried_ns;
};

struct podid_cgroup {
	__u64 id;
	int pod;		/* index in pods[]; -1: not a pod's */
	char container_id[PODID_CONTAINER_LEN];
	const char *runtime;
};

struct podid {
	struct podid_opts o;
	struct podid_cgroup *cgroups;	/* sorted by id */
	size_t nr_cgroups;
	struct podid_pod *pods;
	size_t nr_pods;
	__u64 scanned_ns;		/* monotonic; 0: never */
	unsigned long generation;	/* changes when a pod or namespace does */
};

/* A cgroup's identity; the strings live until the next scan. */
struct podid_info {
	const char *namespace, *pod, *pod_uid, *container_id, *runtime;
	const char *service_account, *ip;
	__u64 pod_cgroup_id;
};

int podid_init(struct podid *p, const struct podid_opts *o);
void podid_free(struct podid *p);

/* Scan cgroups, log directories and tokens again. Returns 0 or -errno. */
int podid_scan(struct podid *p);

/*
 * The identity of cgroup_id; pid (a process in it, 0 if none) helps find
 * the pod's IP. A miss rescans first. false: not a pod's cgroup.
 */
bool podid_lookup(struct podid *p, __u64 cgroup_id, __u32 pid,
		  struct podid_info *out);

/* The pieces, for tests. */
bool podid_parse_cgroup_path(const char *path, struct podid_path *out);
bool podid_parse_log_dir(const char *name, char *ns, size_t ns_len,
			 char *pod, size_t pod_len, char uid[PODID_UID_LEN]);
/* The "sub" claim of a service-account JWT; 0 or -EINVAL. */
int podid_token_subject(const char *token, size_t len, char *out,
			size_t out_len);

#endif
