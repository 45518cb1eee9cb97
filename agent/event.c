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
	if (e->rule_id == ODSBPF_RULE_DEFAULT || e->rule_id == ODSBPF_RULE_NO_POLICY)
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

int event_sink_open_log(struct event_sink *s, const char *path)
{
	static const struct audit_log_opts defaults = AUDIT_LOG_OPTS_DEFAULT;

	return audit_log_open(&s->log, path, s->log_opts ? s->log_opts : &defaults,
			      true);
}

void event_sink_close(struct event_sink *s)
{
	audit_log_close(&s->log);
}
