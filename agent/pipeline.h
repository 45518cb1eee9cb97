/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The audit pipeline around one enforcer: pod identity for events, the
 * kernel's exempt cgroups kept in step with the pods of exempt
 * namespaces (and the agent's own cgroup), the rate-limit settings, the
 * lines for idle buckets that still hold suppressed events, the
 * events.lost lines, and the upkeep of the audit log (fsync, rotation,
 * retention). The agent ticks it from its loop; exec opens and closes it.
 */
#ifndef ODSBPF_PIPELINE_H
#define ODSBPF_PIPELINE_H

#include <getopt.h>
#include <stdbool.h>

#include "audit_log.h"
#include "enforcer.h"
#include "event.h"
#include "podid.h"
#include "policy.h"

#define PIPELINE_RATE		10	/* events a second per bucket */
#define PIPELINE_BURST		20

struct pipeline_opts {
	bool pods;			/* resolve pod identity (the agent) */
	const char *cgroup_root;	/* NULL: the enforced cgroup */
	const char *pods_log_dir;
	const char *kubelet_dir;	/* "": no service accounts */
	unsigned int rate;		/* 0: every event is written */
	unsigned int burst;
	struct audit_log_opts audit_log;
	const char *agent_log;		/* NULL: beside the audit log */
	bool no_agent_log;
	__u64 agent_log_retention_ns;
	const char *host_netns;		/* the node's netns; NULL: our own */
};

/* The agent's options for all this: a block of its getopt table. */
enum {
	PIPELINE_OPT_FIRST = 0x200,
	PIPELINE_OPT_CGROUP_ROOT = PIPELINE_OPT_FIRST,
	PIPELINE_OPT_PODS_LOG_DIR,
	PIPELINE_OPT_KUBELET_DIR,
	PIPELINE_OPT_RATE_LIMIT,
	PIPELINE_OPT_RATE_BURST,
	PIPELINE_OPT_ROTATE_SIZE,
	PIPELINE_OPT_ROTATE_AGE,
	PIPELINE_OPT_RETENTION,
	PIPELINE_OPT_FSYNC,
	PIPELINE_OPT_AGENT_LOG,
	PIPELINE_OPT_AGENT_LOG_RETENTION,
	PIPELINE_OPT_NO_AGENT_LOG,
	PIPELINE_OPT_HOST_NETNS,
	PIPELINE_OPT_LAST,
};

#define PIPELINE_LONGOPTS						\
	{ "cgroup-root", required_argument, NULL, PIPELINE_OPT_CGROUP_ROOT }, \
	{ "pods-log-dir", required_argument, NULL, PIPELINE_OPT_PODS_LOG_DIR }, \
	{ "kubelet-dir", required_argument, NULL, PIPELINE_OPT_KUBELET_DIR }, \
	{ "rate-limit", required_argument, NULL, PIPELINE_OPT_RATE_LIMIT }, \
	{ "rate-burst", required_argument, NULL, PIPELINE_OPT_RATE_BURST }, \
	{ "audit-log-rotate-size", required_argument, NULL, PIPELINE_OPT_ROTATE_SIZE }, \
	{ "audit-log-rotate-age", required_argument, NULL, PIPELINE_OPT_ROTATE_AGE }, \
	{ "audit-log-retention", required_argument, NULL, PIPELINE_OPT_RETENTION }, \
	{ "audit-log-fsync", required_argument, NULL, PIPELINE_OPT_FSYNC }, \
	{ "agent-log", required_argument, NULL, PIPELINE_OPT_AGENT_LOG }, \
	{ "agent-log-retention", required_argument, NULL, PIPELINE_OPT_AGENT_LOG_RETENTION }, \
	{ "no-agent-log", no_argument, NULL, PIPELINE_OPT_NO_AGENT_LOG }, \
	{ "host-netns", required_argument, NULL, PIPELINE_OPT_HOST_NETNS }

#define PIPELINE_HELP							\
"pods and events:\n"							\
"      --cgroup-root DIR     where kubelet's pod cgroups are (default: --cgroup)\n" \
"      --pods-log-dir DIR    pod log directories, naming namespace and pod\n" \
"                            (default " PODID_DEFAULT_LOG_DIR ")\n"	\
"      --kubelet-dir DIR     kubelet's directory, for service accounts\n" \
"                            (default " PODID_DEFAULT_KUBELET_DIR "; \"\" for none)\n" \
"      --rate-limit N        events a second per workload and destination;\n" \
"                            the rest are counted in \"suppressed\" (default 10;\n" \
"                            0: no limit); every denial is still enforced\n" \
"      --rate-burst N        events at once before the limit (default 20)\n" \
"log files:\n"								\
"      --audit-log-rotate-size SIZE  rotate past SIZE (default 100M; 0: never)\n" \
"      --audit-log-rotate-age DUR    rotate a file this old\n"	\
"                                    (default 24h; 0: never)\n"	\
"      --audit-log-retention DUR     delete rotated files older than DUR\n" \
"                                    (default 365d; 0: never)\n"	\
"      --audit-log-fsync DUR         fdatasync at most DUR after a line\n" \
"                                    (default 1s; 0: after every line)\n" \
"      --agent-log FILE      the agent's own messages, rotated alike\n" \
"                            (default: agent.log beside the audit log)\n" \
"      --agent-log-retention DUR     (default 90d)\n"		\
"      --no-agent-log        messages to stderr only\n"			\
"      --host-netns PATH     the node's network namespace (default: the\n" \
"                            agent's own); loopback is judged only for\n" \
"                            sockets in it, a pod's own loopback is its own\n"

void pipeline_default_opts(struct pipeline_opts *o);

/*
 * Take one of the PIPELINE_LONGOPTS options. Returns 0, or -EINVAL after
 * naming the bad value.
 */
int pipeline_parse_opt(struct pipeline_opts *o, int opt, const char *arg);

/* "10m", "24h", "365d", "30s", "500ms" or "0" -> ns. 0 or -EINVAL. */
int parse_duration(const char *text, __u64 *ns);

struct pipeline {
	struct enforcer *enf;
	struct event_sink *sink;
	struct pipeline_opts o;
	bool pods_on;
	struct podid pods;
	int inotify_fd;			/* the pods log dir; -1: none */
	char **exempt_ns;		/* the policy's exempt namespaces */
	size_t nr_exempt_ns;
	__u64 self_cgroup;		/* 0: the agent needs no exemption */
	unsigned long synced_generation;
	bool exempt_dirty;
	struct odsbpf_settings settings;
	__u64 lost_seen;
	__u64 next_scan_ns, next_flush_ns;
	struct odsbpf_bucket_key *keys;	/* batch buffers for the flush */
	struct odsbpf_bucket *vals;
	bool agent_log_on;
};

/*
 * Set up around an open, attached enforcer whose events go to sink.
 * cgroup is the enforced cgroup (NULL for exec). Returns 0 or -errno.
 */
int pipeline_open(struct pipeline *p, struct enforcer *enf,
		  struct event_sink *sink, const char *cgroup,
		  const struct pipeline_opts *o);

/* The policy now in force: its exempt namespaces. */
void pipeline_set_policy(struct pipeline *p, const struct policy *pol);

/* Periodic work; cheap when nothing is due. Call at least once a second. */
void pipeline_tick(struct pipeline *p);

/* The pods log dir's inotify fd, to poll on (-1 when none). */
int pipeline_fd(const struct pipeline *p);

/* Write what buckets still hold and what was lost, then free. */
void pipeline_close(struct pipeline *p);

/*
 * The agent's own log, for the agent: started before anything else is
 * printed, stopped last.
 */
int pipeline_start_agent_log(struct pipeline *p, const char *audit_log,
			     const struct pipeline_opts *o);
void pipeline_stop_agent_log(struct pipeline *p);

#endif
