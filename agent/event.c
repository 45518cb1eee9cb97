// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "compile.h"
#include "enforcer.h"
#include "event.h"
#include "log.h"

static __u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * bpf_ktime_get_ns() is CLOCK_MONOTONIC; the offset to wall time is read
 * per event, so a clock step moves later events with it.
 */
static __u64 monotonic_to_realtime(__u64 mono_ns)
{
	__u64 real = clock_ns(CLOCK_REALTIME), mono = clock_ns(CLOCK_MONOTONIC);

	return real - mono + mono_ns;
}

void event_format_time(__u64 ns, char *buf, size_t len)
{
	time_t sec = ns / 1000000000ull;
	struct tm tm;
	char date[32];

	gmtime_r(&sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09lluZ", date, ns % 1000000000ull);
}

static json_t *now_string(void)
{
	char buf[48];

	event_format_time(clock_ns(CLOCK_REALTIME), buf, sizeof(buf));
	return json_string(buf);
}

json_t *event_string(const char *bytes, size_t len)
{
	json_t *s = json_stringn(bytes, len);
	char *buf, *p;

	if (s)
		return s;
	/*
	 * Not UTF-8: keep every byte visible rather than drop the field. A
	 * backslash is doubled, so that a name which spells "\xff" in ASCII
	 * cannot pass for one holding the byte 0xff.
	 */
	buf = malloc(len * 4 + 1);
	if (!buf)
		return json_null();
	p = buf;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = bytes[i];

		if (c == '\\') {
			*p++ = '\\';
			*p++ = '\\';
		} else if (c < 0x80) {
			*p++ = c;
		} else {
			p += sprintf(p, "\\x%02x", c);
		}
	}
	s = json_stringn(buf, p - buf);
	free(buf);
	return s ? s : json_null();
}

static const char *proto_name(int ipproto, char *buf)
{
	switch (ipproto) {
	case IPPROTO_TCP: return "tcp";
	case IPPROTO_UDP: return "udp";
	case IPPROTO_ICMP: return "icmp";
	case IPPROTO_ICMPV6: return "icmpv6";
	default:
		sprintf(buf, "ipproto-%d", ipproto);
		return buf;
	}
}

static const char *layer_name(unsigned int layer)
{
	switch (layer) {
	case ODSBPF_LAYER_CGROUP_SKB: return "cgroup_skb";
	case ODSBPF_LAYER_XDP: return "xdp";
	default: return "socket";
	}
}

static const char *rule_name(const struct event_sink *s, const struct odsbpf_event *e)
{
	if (e->rule_id >= ODSBPF_RULE_SOURCE_ROUTED)	/* the reserved ids */
		return policy_rule_name(NULL, e->rule_id);
	if (s->policy && e->policy_id == s->policy_id)
		return policy_rule_name(s->policy, e->rule_id);
	if (s->prev_policy && e->policy_id == s->prev_policy_id)
		return policy_rule_name(s->prev_policy, e->rule_id);
	return "unknown";
}

/* The destination as the caller wrote it: IPv6 sockets print IPv6. */
static void format_dst(const struct odsbpf_event *e, char *buf)
{
	if (e->family == AF_INET6)
		inet_ntop(AF_INET6, e->daddr, buf, ADDR_STRLEN);
	else
		addr_format16(e->daddr, buf);
}

static json_t *kernel_metadata(struct event_sink *s, const struct odsbpf_event *e)
{
	char dst[ADDR_STRLEN], judged[ADDR_STRLEN], pbuf[24];
	json_t *m;

	format_dst(e, dst);
	addr_format16(e->judged, judged);
	m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i}",
		      "node", s->node, "layer", layer_name(e->layer),
		      "hook", enforcer_hook_name(e->hook),
		      "rule", rule_name(s, e),
		      "protocol", proto_name(e->protocol, pbuf),
		      "family", e->family == AF_INET6 ? "ipv6" : "ipv4",
		      "dst_ip", dst, "dst_port", e->dport);
	if (!m)
		return NULL;
	if (strcmp(dst, judged))
		json_object_set_new(m, "judged_ip", json_string(judged));
	if (e->sport)
		json_object_set_new(m, "src_port", json_integer(e->sport));
	json_object_set_new(m, "pid", json_integer(e->tgid));
	json_object_set_new(m, "tid", json_integer(e->tid));
	json_object_set_new(m, "comm", event_string(e->comm, strnlen(e->comm, sizeof(e->comm))));
	json_object_set_new(m, "uid", json_integer(e->uid));
	json_object_set_new(m, "cgroup_id", json_integer(e->cgroup_id));
	/* Unknown until add_identity() finds the pod: null, not empty. */
	json_object_set_new(m, "namespace", json_null());
	json_object_set_new(m, "pod", json_null());
	json_object_set_new(m, "container_id", json_null());
	json_object_set_new(m, "pod_uid", json_null());
	json_object_set_new(m, "policy_id", json_integer(e->policy_id));
	json_object_set_new(m, "suppressed", json_integer(e->suppressed));
	return m;
}

static json_t *text_or_null(const char *text)
{
	return text ? event_string(text, strlen(text)) : json_null();
}

/*
 * Who the cgroup is: namespace, pod and container, the service account
 * as user_id and the pod's IP where the hook knew no source address.
 */
static void add_identity(struct event_sink *s, const struct odsbpf_event *e,
			 json_t *ev, json_t *meta)
{
	struct podid_info id;

	/* XDP events name an interface, not a cgroup: nothing to look up. */
	if (!s->pods || !e->cgroup_id ||
	    !podid_lookup(s->pods, e->cgroup_id, e->tgid, &id))
		return;
	json_object_set_new(meta, "namespace", text_or_null(id.namespace));
	json_object_set_new(meta, "pod", text_or_null(id.pod));
	json_object_set_new(meta, "container_id", text_or_null(id.container_id));
	json_object_set_new(meta, "pod_uid", text_or_null(id.pod_uid));
	if (id.runtime)
		json_object_set_new(meta, "container_runtime", json_string(id.runtime));
	if (id.service_account)
		json_object_set_new(ev, "user_id", text_or_null(id.service_account));
	if (id.ip && json_is_null(json_object_get(ev, "ip_address")))
		json_object_set_new(ev, "ip_address", json_string(id.ip));
}

/*
 * The packet layers know no process: pid, tid and comm are null. XDP
 * knows no socket either, so no user, but the interface instead.
 */
static void packet_metadata(struct event_sink *s, const struct odsbpf_event *e,
			    json_t *ev, json_t *meta)
{
	const char *name = NULL;
	char buf[IF_NAMESIZE];

	if (e->layer == ODSBPF_LAYER_SOCKET)
		return;
	json_object_set_new(meta, "pid", json_null());
	json_object_set_new(meta, "tid", json_null());
	json_object_set_new(meta, "comm", json_null());
	if (e->layer != ODSBPF_LAYER_XDP)
		return;
	json_object_set_new(ev, "user_id", json_null());
	json_object_set_new(meta, "uid", json_null());
	json_object_set_new(meta, "cgroup_id", json_null());
	if (s->ifname)
		name = s->ifname(s->ifname_ctx, e->ifindex);
	if (!name)
		name = if_indextoname(e->ifindex, buf);
	json_object_set_new(meta, "interface", name ? json_string(name) : json_null());
	json_object_set_new(meta, "ifindex", json_integer(e->ifindex));
}

json_t *event_from_kernel(struct event_sink *s, const struct odsbpf_event *e)
{
	bool is_connect = e->hook == ODSBPF_HOOK_CONNECT4 ||
			  e->hook == ODSBPF_HOOK_CONNECT6;
	char ts[48], uid[24], src[ADDR_STRLEN];
	static const __u8 zero[16];
	json_t *ev, *meta;

	event_format_time(monotonic_to_realtime(e->ktime_ns), ts, sizeof(ts));
	snprintf(uid, sizeof(uid), "uid:%u", e->uid);
	meta = kernel_metadata(s, e);
	if (!meta)
		return NULL;

	ev = json_pack("{s:s, s:s, s:s}", "timestamp", ts,
		       "action", e->layer != ODSBPF_LAYER_SOCKET ? "egress.packet" :
				 is_connect ? "egress.connect" : "egress.sendmsg",
		       "user_id", uid);
	if (!ev) {
		json_decref(meta);
		return NULL;
	}
	if (memcmp(e->saddr, zero, 16)) {
		addr_format16(e->saddr, src);
		json_object_set_new(ev, "ip_address", json_string(src));
	} else {
		json_object_set_new(ev, "ip_address", json_null());
	}
	json_object_set_new(ev, "status", json_string(
		e->verdict == ODSBPF_VERDICT_AUDITED ? "audited" : "denied"));
	if (e->layer != ODSBPF_LAYER_XDP)
		add_identity(s, e, ev, meta);
	packet_metadata(s, e, ev, meta);
	json_object_set_new(ev, "metadata", meta);
	return ev;
}

json_t *event_agent(struct event_sink *s, const char *action,
		    const char *status, json_t *metadata)
{
	json_t *ev, *meta = json_pack("{s:s, s:s}", "node", s->node, "layer", "agent");

	ev = json_pack("{s:o, s:s, s:s, s:n, s:s}", "timestamp", now_string(),
		       "action", action, "user_id", "uid:0", "ip_address",
		       "status", status);
	if (!ev || !meta) {
		json_decref(ev);
		json_decref(meta);
		json_decref(metadata);
		return NULL;
	}
	json_object_set_new(meta, "pid", json_integer(getpid()));
	if (metadata)
		json_object_update(meta, metadata);
	json_decref(metadata);
	json_object_set_new(ev, "metadata", meta);
	return ev;
}

int event_emit(struct event_sink *s, json_t *ev)
{
	json_t *meta = json_object_get(ev, "metadata");
	char *line;
	size_t len;
	int err = 0;

	if (!ev)
		return -ENOMEM;
	/* Kernel lines still pending go first: the chain is in their order. */
	event_sink_flush(s);
	if (s->observe)
		s->observe(s->observe_ctx, ev);
	if (meta)
		audit_chain_stamp(&s->log.chain, meta);
	line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(ev);
	if (!line)
		return -ENOMEM;

	len = strlen(line);
	line[len] = '\n';	/* json_dumps leaves room: we swap the NUL */
	if (s->stream) {
		fwrite(line, 1, len + 1, s->stream);
		fflush(s->stream);
	}
	/* The chain advances with every line, whether a file is open or not. */
	err = audit_log_append(&s->log, line, len + 1);
	free(line);
	return err;
}

/* ---- kernel events straight to text ---- */

/*
 * The fast path for kernel events: each line is printed straight into a
 * buffer, byte for byte what event_from_kernel() and event_emit() make of
 * the event, and the lines of one ring-buffer drain go out with one write
 * per sink. Strings that come from outside (the process name, pod
 * identity, rule and node names, interface names) are escaped by jansson
 * as before; each field remembers the last string it escaped, so that a
 * flood from one process escapes its name once. An event whose strings
 * the JSON path would treat specially (not UTF-8 where jansson refuses
 * it) takes the JSON path instead.
 */

/* Lines are written out once this much is pending, and after each drain. */
#define LINES_FLUSH_AT		(64 * 1024)
/* A line's bytes besides its escaped strings, with room to spare. */
#define LINE_FIXED_MAX		1024

enum {
	TEXT_NODE, TEXT_RULE, TEXT_COMM, TEXT_NAMESPACE, TEXT_POD,
	TEXT_CONTAINER_ID, TEXT_POD_UID, TEXT_RUNTIME, TEXT_SERVICE_ACCOUNT,
	TEXT_POD_IP, TEXT_IFNAME, NR_TEXTS
};

/* A string as JSON, quotes included, kept for the next event. */
struct escaped {
	char *raw;		/* the bytes escaped last; NULL: none yet */
	size_t raw_len;
	bool strict;		/* json_string() rules: no \xHH fallback */
	bool ok;		/* false: jansson refused the bytes */
	char *json;
	size_t json_len;
};

struct event_lines {
	char *buf;
	size_t len, cap;
	struct escaped text[NR_TEXTS];
	__u64 date_sec;		/* the second date[] spells; ~0: none */
	char date[32];
	__u8 dst_addr[16], judged_addr[16];
	__u8 dst_family;
	bool dst_valid, judged_valid;
	char dst[ADDR_STRLEN], judged[ADDR_STRLEN];
	json_t *summary;	/* what observe() is shown */
};

/* JSON for a string the way json_dumpb() prints a json_t of it. */
static bool dump_string(json_t *str, struct escaped *t)
{
	size_t need = json_dumpb(str, NULL, 0, JSON_ENCODE_ANY);
	char *json;

	if (!need)
		return false;
	json = malloc(need);
	if (!json)
		return false;
	if (json_dumpb(str, json, need, JSON_ENCODE_ANY) != need) {
		free(json);
		return false;
	}
	free(t->json);
	t->json = json;
	t->json_len = need;
	return true;
}

/*
 * The escaped form of bytes: from the last call when the bytes are the
 * same, else from jansson. strict: as json_string() (NULL for bytes that
 * are not UTF-8), else as event_string(). false: refused, or no memory.
 */
static bool escape(struct escaped *t, const char *bytes, size_t len, bool strict)
{
	json_t *str;
	char *raw;

	if (t->raw && t->raw_len == len && t->strict == strict &&
	    !memcmp(t->raw, bytes, len))
		return t->ok;
	raw = malloc(len + 1);
	if (!raw)
		return false;
	memcpy(raw, bytes, len);
	raw[len] = '\0';
	free(t->raw);
	t->raw = raw;
	t->raw_len = len;
	t->strict = strict;
	str = strict ? json_stringn(bytes, len) : event_string(bytes, len);
	t->ok = str && json_is_string(str) && dump_string(str, t);
	json_decref(str);
	if (!t->ok) {
		free(t->raw);	/* not kept: the next event tries again */
		t->raw = NULL;
	}
	return t->ok;
}

static char *put(char *p, const char *text, size_t len)
{
	memcpy(p, text, len);
	return p + len;
}

#define PUT_LIT(p, lit)		put(p, lit, sizeof(lit) - 1)

static char *put_str(char *p, const char *text)
{
	return put(p, text, strlen(text));
}

static char *put_text(char *p, const struct escaped *t)
{
	return put(p, t->json, t->json_len);
}

/* As jansson prints a json_int_t. */
static char *put_int(char *p, long long v)
{
	unsigned long long u = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
	char digits[20];
	int n = 0;

	if (v < 0)
		*p++ = '-';
	do
		digits[n++] = '0' + u % 10;
	while (u /= 10);
	while (n)
		*p++ = digits[--n];
	return p;
}

/* "timestamp" as event_format_time() spells it; strftime once a second. */
static char *put_time(struct event_lines *L, char *p, __u64 ns)
{
	__u64 sec = ns / 1000000000ull, frac = ns % 1000000000ull;

	if (sec != L->date_sec) {
		time_t t = sec;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(L->date, sizeof(L->date), "%Y-%m-%dT%H:%M:%S", &tm);
		L->date_sec = sec;
	}
	*p++ = '"';
	p = put_str(p, L->date);
	*p++ = '.';
	for (int i = 8; i >= 0; i--, frac /= 10)
		p[i] = '0' + frac % 10;
	p += 9;
	return PUT_LIT(p, "Z\"");
}

static bool reserve(struct event_lines *L, size_t more)
{
	size_t cap = L->cap ? L->cap : 2 * LINES_FLUSH_AT;
	char *grown;

	if (L->len + more <= L->cap)
		return true;
	while (cap < L->len + more)
		cap *= 2;
	grown = realloc(L->buf, cap);
	if (!grown)
		return false;
	L->buf = grown;
	L->cap = cap;
	return true;
}

/* dst_ip and judged_ip, formatted again only when they change. */
static void format_addrs(struct event_lines *L, const struct odsbpf_event *e)
{
	if (!L->dst_valid || L->dst_family != e->family ||
	    memcmp(L->dst_addr, e->daddr, 16)) {
		format_dst(e, L->dst);
		memcpy(L->dst_addr, e->daddr, 16);
		L->dst_family = e->family;
		L->dst_valid = true;
	}
	if (!L->judged_valid || memcmp(L->judged_addr, e->judged, 16)) {
		addr_format16(e->judged, L->judged);
		memcpy(L->judged_addr, e->judged, 16);
		L->judged_valid = true;
	}
}

/* An identity string, or null; "namespace" and the like. */
static bool escape_or_null(struct event_lines *L, int field, const char *text)
{
	return !text || escape(&L->text[field], text, strlen(text), false);
}

static char *put_text_or_null(struct event_lines *L, char *p, int field,
			      const char *text)
{
	return text ? put_text(p, &L->text[field]) : PUT_LIT(p, "null");
}

/* What a kernel event's line is made of, the strings escaped already. */
struct line_parts {
	const char *action, *status, *layer, *proto, *family;
	char proto_buf[24], src[ADDR_STRLEN];
	bool has_src, has_id, runtime, interface, ifname_null;
	struct podid_info id;
	bool user_null, user_sa, ip_from_pod;
};

/*
 * Look everything up and escape it, as event_from_kernel() would.
 * -EAGAIN: a string jansson refuses, which the JSON path handles.
 */
static int prepare_parts(struct event_sink *s, struct event_lines *L,
			 const struct odsbpf_event *e, struct line_parts *lp)
{
	bool is_connect = e->hook == ODSBPF_HOOK_CONNECT4 ||
			  e->hook == ODSBPF_HOOK_CONNECT6;
	static const __u8 zero[16];
	const char *rule = rule_name(s, e), *name = NULL;
	char ifbuf[IF_NAMESIZE];

	memset(lp, 0, sizeof(*lp));
	lp->action = e->layer != ODSBPF_LAYER_SOCKET ? "egress.packet" :
		     is_connect ? "egress.connect" : "egress.sendmsg";
	lp->status = e->verdict == ODSBPF_VERDICT_AUDITED ? "audited" : "denied";
	lp->layer = layer_name(e->layer);
	lp->proto = proto_name(e->protocol, lp->proto_buf);
	lp->family = e->family == AF_INET6 ? "ipv6" : "ipv4";
	lp->has_src = memcmp(e->saddr, zero, 16);
	if (lp->has_src)
		addr_format16(e->saddr, lp->src);
	format_addrs(L, e);
	if (!s->node || !escape(&L->text[TEXT_NODE], s->node, strlen(s->node), true) ||
	    !escape(&L->text[TEXT_RULE], rule, strlen(rule), true))
		return -EAGAIN;
	if (e->layer == ODSBPF_LAYER_SOCKET &&
	    !escape(&L->text[TEXT_COMM], e->comm, strnlen(e->comm, sizeof(e->comm)), false))
		return -EAGAIN;

	if (e->layer != ODSBPF_LAYER_XDP && s->pods && e->cgroup_id &&
	    podid_lookup(s->pods, e->cgroup_id, e->tgid, &lp->id)) {
		struct podid_info *id = &lp->id;

		lp->has_id = true;
		if (!escape_or_null(L, TEXT_NAMESPACE, id->namespace) ||
		    !escape_or_null(L, TEXT_POD, id->pod) ||
		    !escape_or_null(L, TEXT_CONTAINER_ID, id->container_id) ||
		    !escape_or_null(L, TEXT_POD_UID, id->pod_uid) ||
		    !escape_or_null(L, TEXT_SERVICE_ACCOUNT, id->service_account))
			return -EAGAIN;
		/* json_string(): a refused runtime or IP is left out, as before. */
		lp->runtime = id->runtime && escape(&L->text[TEXT_RUNTIME], id->runtime,
						    strlen(id->runtime), true);
		lp->user_sa = id->service_account;
		lp->ip_from_pod = !lp->has_src && id->ip &&
				  escape(&L->text[TEXT_POD_IP], id->ip, strlen(id->ip), true);
	}
	if (e->layer == ODSBPF_LAYER_XDP) {
		lp->user_null = true;
		if (s->ifname)
			name = s->ifname(s->ifname_ctx, e->ifindex);
		if (!name)
			name = if_indextoname(e->ifindex, ifbuf);
		lp->ifname_null = !name;
		lp->interface = !name || escape(&L->text[TEXT_IFNAME], name, strlen(name), true);
	}
	return 0;
}

/* The line up to "seq" (exclusive): the event and its metadata. */
static char *put_event(struct event_lines *L, char *p, const struct odsbpf_event *e,
		       const struct line_parts *lp)
{
	bool socket = e->layer == ODSBPF_LAYER_SOCKET, xdp = e->layer == ODSBPF_LAYER_XDP;
	const struct podid_info *id = &lp->id;

	p = PUT_LIT(p, "{\"timestamp\":");
	p = put_time(L, p, monotonic_to_realtime(e->ktime_ns));
	p = PUT_LIT(p, ",\"action\":\"");
	p = put_str(p, lp->action);
	p = PUT_LIT(p, "\",\"user_id\":");
	if (lp->user_null) {
		p = PUT_LIT(p, "null");
	} else if (lp->user_sa) {
		p = put_text(p, &L->text[TEXT_SERVICE_ACCOUNT]);
	} else {
		p = PUT_LIT(p, "\"uid:");
		p = put_int(p, e->uid);
		*p++ = '"';
	}
	p = PUT_LIT(p, ",\"ip_address\":");
	if (lp->has_src) {
		*p++ = '"';
		p = put_str(p, lp->src);
		*p++ = '"';
	} else if (lp->ip_from_pod) {
		p = put_text(p, &L->text[TEXT_POD_IP]);
	} else {
		p = PUT_LIT(p, "null");
	}
	p = PUT_LIT(p, ",\"status\":\"");
	p = put_str(p, lp->status);
	p = PUT_LIT(p, "\",\"metadata\":{\"node\":");
	p = put_text(p, &L->text[TEXT_NODE]);
	p = PUT_LIT(p, ",\"layer\":\"");
	p = put_str(p, lp->layer);
	p = PUT_LIT(p, "\",\"hook\":\"");
	p = put_str(p, enforcer_hook_name(e->hook));
	p = PUT_LIT(p, "\",\"rule\":");
	p = put_text(p, &L->text[TEXT_RULE]);
	p = PUT_LIT(p, ",\"protocol\":\"");
	p = put_str(p, lp->proto);
	p = PUT_LIT(p, "\",\"family\":\"");
	p = put_str(p, lp->family);
	p = PUT_LIT(p, "\",\"dst_ip\":\"");
	p = put_str(p, L->dst);
	p = PUT_LIT(p, "\",\"dst_port\":");
	p = put_int(p, e->dport);
	if (strcmp(L->dst, L->judged)) {
		p = PUT_LIT(p, ",\"judged_ip\":\"");
		p = put_str(p, L->judged);
		*p++ = '"';
	}
	if (e->sport) {
		p = PUT_LIT(p, ",\"src_port\":");
		p = put_int(p, e->sport);
	}
	if (socket) {
		p = PUT_LIT(p, ",\"pid\":");
		p = put_int(p, e->tgid);
		p = PUT_LIT(p, ",\"tid\":");
		p = put_int(p, e->tid);
		p = PUT_LIT(p, ",\"comm\":");
		p = put_text(p, &L->text[TEXT_COMM]);
	} else {
		p = PUT_LIT(p, ",\"pid\":null,\"tid\":null,\"comm\":null");
	}
	if (xdp) {
		p = PUT_LIT(p, ",\"uid\":null,\"cgroup_id\":null");
	} else {
		p = PUT_LIT(p, ",\"uid\":");
		p = put_int(p, e->uid);
		p = PUT_LIT(p, ",\"cgroup_id\":");
		p = put_int(p, (long long)e->cgroup_id);
	}
	if (lp->has_id) {
		p = PUT_LIT(p, ",\"namespace\":");
		p = put_text_or_null(L, p, TEXT_NAMESPACE, id->namespace);
		p = PUT_LIT(p, ",\"pod\":");
		p = put_text_or_null(L, p, TEXT_POD, id->pod);
		p = PUT_LIT(p, ",\"container_id\":");
		p = put_text_or_null(L, p, TEXT_CONTAINER_ID, id->container_id);
		p = PUT_LIT(p, ",\"pod_uid\":");
		p = put_text_or_null(L, p, TEXT_POD_UID, id->pod_uid);
	} else {
		p = PUT_LIT(p, ",\"namespace\":null,\"pod\":null,\"container_id\":null,\"pod_uid\":null");
	}
	p = PUT_LIT(p, ",\"policy_id\":");
	p = put_int(p, e->policy_id);
	p = PUT_LIT(p, ",\"suppressed\":");
	p = put_int(p, e->suppressed);
	if (lp->runtime) {
		p = PUT_LIT(p, ",\"container_runtime\":");
		p = put_text(p, &L->text[TEXT_RUNTIME]);
	}
	if (xdp) {
		if (lp->interface) {
			p = PUT_LIT(p, ",\"interface\":");
			p = lp->ifname_null ? PUT_LIT(p, "null") :
					      put_text(p, &L->text[TEXT_IFNAME]);
		}
		p = PUT_LIT(p, ",\"ifindex\":");
		p = put_int(p, e->ifindex);
	}
	return p;
}

/* ",\"seq\":N,\"prev_hash\":\"...\"}}", as audit_chain_stamp() stamps it. */
static char *put_chain(char *p, const struct audit_chain *c)
{
	p = PUT_LIT(p, ",\"seq\":");
	p = put_int(p, (long long)(c->seq + 1));
	p = PUT_LIT(p, ",\"prev_hash\":\"");
	if (c->seq)
		audit_hash_hex(c->hash, p);
	else
		memset(p, '0', AUDIT_HASH_HEX_LEN);
	p += AUDIT_HASH_HEX_LEN;
	return PUT_LIT(p, "\"}}");
}

static size_t texts_len(const struct event_lines *L)
{
	size_t n = 0;

	for (int i = 0; i < NR_TEXTS; i++)
		n += L->text[i].raw ? L->text[i].json_len : 0;
	return n;
}

/* Set a summary string, allocating only when it changed. */
static void summary_set(json_t *obj, const char *key, const char *value)
{
	json_t *v = json_object_get(obj, key);

	if (!v)
		json_object_set_new(obj, key, json_string(value));
	else if (strcmp(json_string_value(v), value))
		json_string_set(v, value);
}

/*
 * observe() is shown, for a kernel event, a summary kept from one event to
 * the next: action, status and metadata's layer, rule and suppressed.
 */
static void observe_kernel(struct event_sink *s, struct event_lines *L,
			   const struct odsbpf_event *e, const struct line_parts *lp)
{
	json_t *meta, *supp;

	if (!L->summary)
		L->summary = json_pack("{s:s, s:s, s:{s:s, s:s, s:I}}", "action", "",
				       "status", "", "metadata", "layer", "",
				       "rule", "", "suppressed", (json_int_t)0);
	if (!L->summary)
		return;
	meta = json_object_get(L->summary, "metadata");
	summary_set(L->summary, "action", lp->action);
	summary_set(L->summary, "status", lp->status);
	summary_set(meta, "layer", lp->layer);
	summary_set(meta, "rule", rule_name(s, e));
	supp = json_object_get(meta, "suppressed");
	json_integer_set(supp, e->suppressed);
	s->observe(s->observe_ctx, L->summary);
}

static struct event_lines *sink_lines(struct event_sink *s)
{
	if (!s->lines) {
		s->lines = calloc(1, sizeof(*s->lines));
		if (s->lines)
			s->lines->date_sec = ~0ull;
	}
	return s->lines;
}

int event_emit_kernel(struct event_sink *s, const struct odsbpf_event *e)
{
	struct event_lines *L = sink_lines(s);
	struct line_parts lp;
	char *line, *p;

	if (!L || prepare_parts(s, L, e, &lp) ||
	    !reserve(L, LINE_FIXED_MAX + texts_len(L)))
		return event_emit(s, event_from_kernel(s, e));
	if (s->observe)
		observe_kernel(s, L, e, &lp);
	line = L->buf + L->len;
	p = put_event(L, line, e, &lp);
	p = put_chain(p, &s->log.chain);
	/* The chain advances with every line, whether a file is open or not. */
	audit_chain_advance(&s->log.chain, line, p - line);
	*p++ = '\n';
	L->len = p - L->buf;
	return L->len >= LINES_FLUSH_AT ? event_sink_flush(s) : 0;
}

int event_sink_flush(struct event_sink *s)
{
	struct event_lines *L = s->lines;
	int err;

	if (!L || !L->len)
		return 0;
	if (s->stream) {
		fwrite(L->buf, 1, L->len, s->stream);
		fflush(s->stream);
	}
	err = audit_log_write(&s->log, L->buf, L->len);
	L->len = 0;
	return err;
}

static void lines_free(struct event_lines *L)
{
	if (!L)
		return;
	for (int i = 0; i < NR_TEXTS; i++) {
		free(L->text[i].raw);
		free(L->text[i].json);
	}
	json_decref(L->summary);
	free(L->buf);
	free(L);
}

int event_sink_open_log(struct event_sink *s, const char *path)
{
	static const struct audit_log_opts defaults = AUDIT_LOG_OPTS_DEFAULT;

	return audit_log_open(&s->log, path, s->log_opts ? s->log_opts : &defaults,
			      true);
}

void event_sink_close(struct event_sink *s)
{
	event_sink_flush(s);
	lines_free(s->lines);
	s->lines = NULL;
	audit_log_close(&s->log);
}
