// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "http.h"
#include "packet.h"
#include "log.h"

/* Scrapers and probes are few: more is a mistake or an attack. */
#define HTTP_MAX_CONNECTIONS	16
#define HTTP_TIMEOUT_SECONDS	10

struct http_server {
	struct MHD_Daemon *daemon;
	pthread_mutex_t lock;	/* guards m */
	struct http_metrics m;
};

/* ---- the address ---- */

static int parse_port(const char *s, in_port_t *out)
{
	char *end;
	long port;

	errno = 0;
	port = strtol(s, &end, 10);
	if (errno || end == s || *end || port < 1 || port > 65535)
		return -EINVAL;
	*out = htons((in_port_t)port);
	return 0;
}

int http_parse_listen(const char *text, struct sockaddr_storage *out)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *start = text;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (*text == '[') {
		colon = strstr(text, "]:");
		start = text + 1;
		len = colon ? (size_t)(colon - start) : 0;
		colon = colon ? colon + 1 : NULL;
	} else {
		colon = strrchr(text, ':');
		len = colon ? (size_t)(colon - text) : 0;
	}
	if (!colon || !len || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, start, len);
	host[len] = '\0';

	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return parse_port(colon + 1, &sin->sin_port);
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return parse_port(colon + 1, &sin6->sin6_port);
	}
	return -EINVAL;
}

/* ---- /metrics ---- */

/* Label values: backslash, double quote and newline are escaped. */
static void put_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static void put_header(FILE *f, const char *name, const char *type,
		       const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_value(FILE *f, const char *name, const char *type,
		      const char *help, unsigned long long v)
{
	put_header(f, name, type, help);
	fprintf(f, "%s %llu\n", name, v);
}

static const struct {
	const char *layer;
	enum odsbpf_counter first;	/* allowed, denied, audited follow */
} layer_counters[] = {
	{ "socket", ODSBPF_CNT_ALLOWED },
	{ "cgroup_skb", ODSBPF_CNT_SKB_ALLOWED },
	{ "xdp", ODSBPF_CNT_XDP_ALLOWED },
};

/* The kernel's counts: verdicts by layer, other packet outcomes, events. */
static void put_counters(FILE *f, const struct http_metrics *m)
{
	const __u64 *c = m->counters;

	put_header(f, "odsbpf_verdicts_total", "counter",
		   "Destinations judged by the kernel programs, by layer and verdict (since the maps were pinned).");
	for (size_t i = 0; i < 3; i++)
		for (int v = 0; v < 3; v++)
			fprintf(f, "odsbpf_verdicts_total{layer=\"%s\",verdict=\"%s\"} %llu\n",
				layer_counters[i].layer, packet_outcome_name(v),
				(unsigned long long)c[layer_counters[i].first + v]);

	put_header(f, "odsbpf_packet_outcomes_total", "counter",
		   "Packets the packet layers passed unjudged (neighbour, reply) or dropped as unsafe to judge, by layer and outcome.");
	for (size_t i = 1; i < 3; i++)
		for (int o = ODSBPF_PKT_NEIGHBOUR; o < ODSBPF_PKT_NR; o++)
			fprintf(f, "odsbpf_packet_outcomes_total{layer=\"%s\",outcome=\"%s\"} %llu\n",
				layer_counters[i].layer, packet_outcome_name(o),
				(unsigned long long)c[layer_counters[i].first + o]);

	put_value(f, "odsbpf_no_policy_denials_total", "counter",
		  "Denials because the programs found no policy at all (fail closed); also counted in odsbpf_verdicts_total.",
		  c[ODSBPF_CNT_NO_POLICY]);
	put_value(f, "odsbpf_exempt_total", "counter",
		  "Connections and packets let through unjudged: an exempt cgroup.",
		  c[ODSBPF_CNT_EXEMPT]);
	put_value(f, "odsbpf_events_suppressed_total", "counter",
		  "Denial events held back by the rate limit or for want of ring-buffer room; each is counted in a later event's suppressed field.",
		  c[ODSBPF_CNT_SUPPRESSED]);
	put_value(f, "odsbpf_events_lost_total", "counter",
		  "Events the kernel could not write: the ring buffer was full.",
		  c[ODSBPF_CNT_EVENTS_LOST]);
}

/* Policy tries of the active generation, and the exempt cgroups. */
static void put_maps(FILE *f, const struct http_metrics *m)
{
	put_header(f, "odsbpf_map_entries", "gauge",
		   "Entries in use: the active generation's policy tries, and the exempt cgroups.");
	fprintf(f, "odsbpf_map_entries{map=\"policy_ipv4\"} %zu\n", m->prefixes4);
	fprintf(f, "odsbpf_map_entries{map=\"policy_ipv6\"} %zu\n", m->prefixes6);
	fprintf(f, "odsbpf_map_entries{map=\"exempt\"} %zu\n", m->exempt);
	put_header(f, "odsbpf_map_max_entries", "gauge", "Capacity of the same maps.");
	fprintf(f, "odsbpf_map_max_entries{map=\"policy_ipv4\"} %d\n", ODSBPF_MAX_PREFIXES);
	fprintf(f, "odsbpf_map_max_entries{map=\"policy_ipv6\"} %d\n", ODSBPF_MAX_PREFIXES);
	fprintf(f, "odsbpf_map_max_entries{map=\"exempt\"} %d\n", ODSBPF_MAX_EXEMPT);
}

static void put_policy(FILE *f, const struct http_metrics *m)
{
	put_value(f, "odsbpf_policy_loaded", "gauge",
		  "1 when the configured policy (not the built-in fallback) is in force.",
		  m->policy_loaded);
	put_value(f, "odsbpf_policy_generation", "gauge",
		  "Id of the policy in force: it grows by one at every swap, across agent restarts.",
		  m->policy_id);
	put_header(f, "odsbpf_policy_info", "gauge",
		   "The policy in force: its SHA-256, where it came from and its mode.");
	if (m->policy_id) {
		fputs("odsbpf_policy_info{hash=\"", f);
		put_label(f, m->policy_hash);
		fputs("\",source=\"", f);
		put_label(f, m->policy_source);
		fprintf(f, "\",mode=\"%s\"} 1\n", m->audit_mode ? "audit" : "enforce");
	}
	put_value(f, "odsbpf_policy_rules", "gauge", "Rules of the policy in force.",
		  m->rules);
	put_value(f, "odsbpf_policy_loads_total", "counter",
		  "Policies this agent compiled and swapped in.", m->policy_loads);
	put_value(f, "odsbpf_policy_rejects_total", "counter",
		  "Policies this agent rejected (the one in force stayed).",
		  m->policy_rejects);
	put_value(f, "odsbpf_policy_last_reload_success", "gauge",
		  "1 when the last policy this agent read was applied, 0 when it was rejected.",
		  m->last_reload_ok);
	put_value(f, "odsbpf_policy_last_reload_timestamp_seconds", "gauge",
		  "When the policy in force was swapped in (Unix time; 0: never).",
		  (unsigned long long)m->loaded_at);
	put_value(f, "odsbpf_policy_last_reject_timestamp_seconds", "gauge",
		  "When a policy was last rejected (Unix time; 0: never).",
		  (unsigned long long)m->rejected_at);
}

static void put_rule_counts(FILE *f, const struct http_metrics *m)
{
	put_header(f, "odsbpf_rule_verdicts_total", "counter",
		   "Denials (and audited attempts) reported in events since the agent started, by layer, rule and verdict; an event counts the like denials it carries.");
	for (size_t i = 0; i < m->nr_rule_counts; i++) {
		const struct http_rule_count *r = &m->rule_counts[i];

		fprintf(f, "odsbpf_rule_verdicts_total{layer=\"%s\",rule=\"", r->layer);
		put_label(f, r->rule);
		fprintf(f, "\",verdict=\"%s\"} %llu\n", r->verdict,
			(unsigned long long)r->count);
	}
}

static void render_metrics(FILE *f, const struct http_metrics *m)
{
	put_value(f, "odsbpf_ready", "gauge",
		  "1 when /readyz answers 200: the configured policy is in force and every hook is attached.",
		  m->policy_loaded && m->attached);
	put_value(f, "odsbpf_hooks_attached", "gauge",
		  "Kernel hooks this agent has its programs attached to.",
		  m->hooks_attached);
	put_value(f, "odsbpf_hooks_expected", "gauge",
		  "Kernel hooks this agent attaches to.", m->hooks_expected);
	put_value(f, "odsbpf_attach_errors_total", "counter",
		  "Failed attempts to attach the programs (retried with backoff).",
		  m->attach_errors);
	put_value(f, "odsbpf_start_time_seconds", "gauge",
		  "When the agent started (Unix time).",
		  (unsigned long long)m->started_at);
	put_policy(f, m);
	put_maps(f, m);
	if (m->counters_ok)
		put_counters(f, m);
	put_rule_counts(f, m);
}

/* ---- requests ---- */

static void ready_text(FILE *f, const struct http_metrics *m)
{
	if (m->policy_loaded && m->attached) {
		fprintf(f, "ready: policy %u (sha256 %s) in force, %u hooks attached\n",
			m->policy_id, m->policy_hash, m->hooks_attached);
		return;
	}
	fputs("not ready", f);
	if (!m->policy_loaded && m->policy_id)
		fputs("; the configured policy is not in force (see the agent's log)", f);
	else if (!m->policy_loaded)
		fputs("; no policy loaded yet", f);
	if (!m->attached && m->attach_errors)
		fprintf(f, "; programs not attached after %llu attempts, the last: %s",
			(unsigned long long)m->attach_errors, m->attach_error);
	else if (!m->attached)
		fputs("; programs not attached yet", f);
	fputc('\n', f);
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *type, char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Render the answer to url under the lock; nothing here waits on I/O. */
static unsigned int answer(struct http_server *srv, const char *url, FILE *f,
			   const char **type)
{
	const struct http_metrics *m = &srv->m;
	unsigned int status = MHD_HTTP_OK;

	*type = "text/plain; charset=utf-8";
	pthread_mutex_lock(&srv->lock);
	if (!strcmp(url, "/healthz")) {
		fputs("ok\n", f);
	} else if (!strcmp(url, "/readyz")) {
		ready_text(f, m);
		if (!m->policy_loaded || !m->attached)
			status = MHD_HTTP_SERVICE_UNAVAILABLE;
	} else if (!strcmp(url, "/metrics")) {
		*type = "text/plain; version=0.0.4; charset=utf-8";
		render_metrics(f, m);
	} else {
		fputs("not found: try /healthz, /readyz or /metrics\n", f);
		status = MHD_HTTP_NOT_FOUND;
	}
	pthread_mutex_unlock(&srv->lock);
	return status;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	const char *type = "text/plain; charset=utf-8";
	unsigned int status;
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	(void)version;
	(void)upload;
	(void)con_cls;
	if (*upload_size)
		return MHD_NO;	/* no endpoint takes a body */
	f = open_memstream(&body, &len);
	if (!f)
		return MHD_NO;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		fputs("method not allowed: use GET\n", f);
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
	} else {
		status = answer(cls, url, f, &type);
	}
	if (fclose(f)) {
		free(body);
		return MHD_NO;
	}
	return reply(conn, status, type, body, len);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	pr_warn("http: %s", msg);
}

/* ---- the server ---- */

static uint16_t port_of(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

/*
 * The agent's signals (SIGTERM, SIGHUP...) must reach its own thread,
 * whose poll() they wake: libmicrohttpd's thread starts with them
 * blocked.
 */
static struct MHD_Daemon *start_daemon(struct http_server *srv,
				       const struct sockaddr_storage *sa)
{
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	sigset_t all, old;
	struct MHD_Daemon *d;

	if (sa->ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/*
	 * MHD binds sa; the port argument only names it in MHD's messages.
	 * The logger comes first, or earlier options' messages bypass it.
	 */
	d = MHD_start_daemon(flags, port_of(sa), NULL, NULL, on_request, srv,
			     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
			     MHD_OPTION_SOCK_ADDR, sa,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNECTIONS,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_SECONDS,
			     MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return d;
}

struct http_server *http_start(const char *listen)
{
	struct sockaddr_storage sa;
	struct http_server *srv;
	int err;

	err = http_parse_listen(listen, &sa);
	if (err) {
		errno = -err;
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	pthread_mutex_init(&srv->lock, NULL);
	errno = 0;
	srv->daemon = start_daemon(srv, &sa);
	if (!srv->daemon) {
		err = errno ? errno : EADDRINUSE;
		pthread_mutex_destroy(&srv->lock);
		free(srv);
		errno = err;
		return NULL;
	}
	pr_info("serving /healthz, /readyz and /metrics on http://%s", listen);
	return srv;
}

int http_publish(struct http_server *srv, const struct http_metrics *m)
{
	size_t n = m->nr_rule_counts;
	struct http_rule_count *counts = NULL;

	if (!srv)
		return 0;
	if (n) {
		counts = malloc(n * sizeof(*counts));
		if (!counts)
			return -ENOMEM;
		memcpy(counts, m->rule_counts, n * sizeof(*counts));
	}
	pthread_mutex_lock(&srv->lock);
	free(srv->m.rule_counts);
	srv->m = *m;
	srv->m.rule_counts = counts;
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

void http_stop(struct http_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	pthread_mutex_destroy(&srv->lock);
	http_metrics_free(&srv->m);
	free(srv);
}

/* ---- counting ---- */

static struct http_rule_count *rule_count(struct http_metrics *m, const char *layer,
					  const char *rule, const char *verdict)
{
	struct http_rule_count *r;

	for (size_t i = 0; i < m->nr_rule_counts; i++) {
		r = &m->rule_counts[i];
		if (!strcmp(r->rule, rule) && !strcmp(r->layer, layer) &&
		    !strcmp(r->verdict, verdict))
			return r;
	}
	r = realloc(m->rule_counts, (m->nr_rule_counts + 1) * sizeof(*r));
	if (!r)
		return NULL;
	m->rule_counts = r;
	r += m->nr_rule_counts++;
	memset(r, 0, sizeof(*r));
	snprintf(r->layer, sizeof(r->layer), "%s", layer);
	snprintf(r->rule, sizeof(r->rule), "%s", rule);
	snprintf(r->verdict, sizeof(r->verdict), "%s", verdict);
	return r;
}

void http_count_event(struct http_metrics *m, const json_t *ev)
{
	const char *action = json_string_value(json_object_get(ev, "action"));
	const char *verdict = json_string_value(json_object_get(ev, "status"));
	json_t *meta = json_object_get(ev, "metadata");
	const char *layer = json_string_value(json_object_get(meta, "layer"));
	const char *rule = json_string_value(json_object_get(meta, "rule"));
	json_int_t held = json_integer_value(json_object_get(meta, "suppressed"));
	struct http_rule_count *r;

	if (!action || strncmp(action, "egress.", 7) || !verdict || !layer || !rule)
		return;
	r = rule_count(m, layer, rule, verdict);
	if (!r)
		return;
	/* egress.suppressed stands only for the denials it carries. */
	r->count += held > 0 ? (__u64)held : 0;
	if (strcmp(action, "egress.suppressed"))
		r->count++;
}

void http_metrics_free(struct http_metrics *m)
{
	free(m->rule_counts);
	m->rule_counts = NULL;
	m->nr_rule_counts = 0;
}
