/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Events as JSON lines in the organisation's audit format, and the sinks
 * they go to (a stream such as stdout or stderr, and the audit log file).
 */
#ifndef ODSBPF_EVENT_H
#define ODSBPF_EVENT_H

#include <stdio.h>
#include <jansson.h>

#include "audit_log.h"
#include "odsbpf.h"
#include "podid.h"
#include "policy.h"

/* Where lines go, and what names rule ids. */
struct event_sink {
	FILE *stream;			/* may be NULL */
	struct audit_log log;		/* the file when open; the chain always */
	const struct audit_log_opts *log_opts;	/* NULL: the defaults */
	const char *node;
	struct podid *pods;		/* pod identity; NULL off a node */
	/* the name of an XDP event's interface (packet_ifname); may be NULL */
	const char *(*ifname)(void *ctx, __u32 ifindex);
	void *ifname_ctx;
	/*
	 * Shown every event before it is written (the metrics); may be NULL.
	 * For a kernel event, a summary: action, status and metadata's
	 * layer, rule and suppressed.
	 */
	void (*observe)(void *ctx, const json_t *ev);
	void *observe_ctx;
	/* rule names of the policy in force and of the one before it */
	const struct policy *policy;
	__u32 policy_id;
	const struct policy *prev_policy;
	__u32 prev_policy_id;
	/* kernel lines not yet written, and what formats them (event.c) */
	struct event_lines *lines;
};

/*
 * Open the audit log for appending (mode 0600, directory made 0700),
 * rotated and kept as s->log_opts says; the hash chain resumes from it.
 */
int event_sink_open_log(struct event_sink *s, const char *path);
void event_sink_close(struct event_sink *s);

/* A kernel event -> JSON object in the audit format (caller decrefs). */
json_t *event_from_kernel(struct event_sink *s, const struct odsbpf_event *e);

/*
 * An agent event (agent.start, policy.load, policy.rejected...), with
 * metadata to be merged in (stolen; may be NULL).
 */
json_t *event_agent(struct event_sink *s, const char *action,
		    const char *status, json_t *metadata);

/*
 * Stamp seq and prev_hash, write one line to every sink, after the
 * kernel lines still pending. Steals ev.
 */
int event_emit(struct event_sink *s, json_t *ev);

/*
 * A kernel event as event_emit(s, event_from_kernel(s, e)) would write
 * it, byte for byte, but queued: the lines go out with one write per sink
 * at event_sink_flush(), or once 64 KiB are pending. The chain advances
 * and observe() sees the event now. For a ring-buffer callback; flush
 * after each drain.
 */
int event_emit_kernel(struct event_sink *s, const struct odsbpf_event *e);

/* Write the pending kernel lines to every sink. 0 or -errno. */
int event_sink_flush(struct event_sink *s);

/* RFC 3339 UTC with nanoseconds, from CLOCK_REALTIME nanoseconds. */
void event_format_time(__u64 realtime_ns, char *buf, size_t len);

/* A JSON string from bytes that may not be UTF-8: bad bytes become \xHH. */
json_t *event_string(const char *bytes, size_t len);

#endif
