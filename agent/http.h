/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The agent's HTTP endpoints, served by libmicrohttpd in a thread of its
 * own: /healthz (the process answers), /readyz (the configured policy is
 * in force and every hook is attached) and /metrics (Prometheus text
 * format 0.0.4). That thread reads only a snapshot which the agent's loop
 * publishes under a mutex, so no client, however slow, holds up
 * enforcement or the event stream.
 */
#ifndef ODSBPF_HTTP_H
#define ODSBPF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <sys/socket.h>
#include <linux/types.h>
#include <jansson.h>

#include "odsbpf.h"

#define HTTP_DEFAULT_LISTEN	"127.0.0.1:9464"

/* Verdicts reported in events for one layer, rule and verdict. */
struct http_rule_count {
	char layer[16];		/* "socket", "cgroup_skb", "xdp" */
	char rule[64];		/* rule names are at most 63 characters */
	char verdict[16];	/* "denied", "audited" */
	__u64 count;
};

/* What the endpoints answer from; the agent's loop fills it. */
struct http_metrics {
	/* readiness: both must hold */
	bool policy_loaded;	/* the configured policy is in force */
	bool attached;		/* every hook is attached */
	unsigned int hooks_attached, hooks_expected;
	__u64 attach_errors;
	char attach_error[160];	/* the last attach failure, for /readyz */

	/* the policy in force */
	unsigned int policy_id;
	char policy_hash[65];
	char policy_source[256];
	bool audit_mode;
	size_t rules, prefixes4, prefixes6, exempt;
	__u64 policy_loads, policy_rejects;
	bool last_reload_ok;	/* the last load attempt was applied */
	time_t loaded_at;	/* 0: never */
	time_t rejected_at;	/* 0: never */

	/* the kernel's odsbpf_counters, summed over CPUs */
	bool counters_ok;
	__u64 counters[ODSBPF_CNT_MAX];

	/* per rule, from events; owned */
	struct http_rule_count *rule_counts;
	size_t nr_rule_counts;

	time_t started_at;
};

struct http_server;

/*
 * "ADDR:PORT" (IPv4), "[ADDR]:PORT" or "ADDR:PORT" (IPv6, split at the
 * last colon) -> a socket address. Returns 0 or -EINVAL.
 */
int http_parse_listen(const char *text, struct sockaddr_storage *out);

/*
 * Serve on listen from a thread of libmicrohttpd's own. Returns NULL
 * with errno set when the address is invalid or cannot be bound.
 */
struct http_server *http_start(const char *listen);

/* Make m what the endpoints answer from now on (copied whole). */
int http_publish(struct http_server *srv, const struct http_metrics *m);

/* Stop the thread and close the socket. NULL is a no-op. */
void http_stop(struct http_server *srv);

/*
 * Count one event of the audit format (action egress.*) under its
 * layer, rule and status, with the like denials it carries
 * (metadata.suppressed). Other events are ignored.
 */
void http_count_event(struct http_metrics *m, const json_t *ev);

void http_metrics_free(struct http_metrics *m);

#endif
