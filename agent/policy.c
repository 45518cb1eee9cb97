// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include <linux/types.h>

#include "odsbpf.h"
#include "log.h"
#include "policy.h"
#include "policy_source.h"

#define MODE_UNSET	-1

/* Where in which file the parser is, for located errors. */
struct parse_ctx {
	const char *file;
	char *err;
	size_t err_len;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct parse_ctx *ctx, const char *path, const char *fmt, ...)
{
	size_t off;
	va_list ap;

	off = snprintf(ctx->err, ctx->err_len, "%s: %s%s", ctx->file, path,
		       *path ? ": " : "");
	if (off < ctx->err_len) {
		va_start(ap, fmt);
		vsnprintf(ctx->err + off, ctx->err_len - off, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Reject keys that are not in allowed: a typo must not weaken a policy. */
static int check_keys(struct parse_ctx *ctx, const char *path, json_t *obj,
		      const char *const *allowed)
{
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		const char *const *a;

		for (a = allowed; *a; a++)
			if (!strcmp(*a, key))
				break;
		if (!*a)
			return fail(ctx, path, "unknown field \"%s\"", key);
	}
	return 0;
}

static int parse_enum(struct parse_ctx *ctx, const char *path, json_t *v,
		      const char *a, const char *b, int *out)
{
	const char *s;

	if (!json_is_string(v))
		return fail(ctx, path, "expected \"%s\" or \"%s\", got %s", a,
			    b, json_kind(v));
	s = json_string_value(v);
	if (!strcmp(s, a))
		*out = 0;
	else if (!strcmp(s, b))
		*out = 1;
	else
		return fail(ctx, path, "\"%s\": expected \"%s\" or \"%s\"", s,
			    a, b);
	return 0;
}

/* A name readable in a log and safe as a map or metric label. */
static bool valid_rule_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') &&
		    *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static int parse_port(const char *s, const char **end, uint16_t *out)
{
	unsigned long v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > 65535)
			return -1;
	}
	*out = v;
	*end = p;
	return 0;
}

static int parse_port_range(struct parse_ctx *ctx, const char *path,
			    json_t *v, struct policy_port_range *out)
{
	const char *s, *end;

	if (!json_is_string(v))
		return fail(ctx, path,
			    "expected a string such as \"53\" or \"8000-9000\", got %s",
			    json_kind(v));
	s = json_string_value(v);
	if (parse_port(s, &end, &out->lo))
		goto bad;
	out->hi = out->lo;
	if (*end == '-' && parse_port(end + 1, &end, &out->hi))
		goto bad;
	if (*end)
		goto bad;
	if (out->hi < out->lo)
		return fail(ctx, path, "\"%s\": range ends before it starts", s);
	return 0;
bad:
	return fail(ctx, path,
		    "\"%s\": expected a port 0-65535 or a range LO-HI", s);
}

static int parse_protocols(struct parse_ctx *ctx, const char *path,
			   json_t *arr, uint8_t *out)
{
	char p[128];
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || !json_array_size(arr))
		return fail(ctx, path, "expected a non-empty array of \"tcp\", \"udp\", \"icmp\"");
	*out = 0;
	json_array_foreach(arr, i, v) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!strcmp(s, "tcp"))
			*out |= ODSBPF_PROTO_TCP;
		else if (!strcmp(s, "udp"))
			*out |= ODSBPF_PROTO_UDP;
		else if (!strcmp(s, "icmp"))
			*out |= ODSBPF_PROTO_ICMP;
		else if (json_is_string(v))
			return fail(ctx, p, "\"%s\": expected \"tcp\", \"udp\" or \"icmp\"", s);
		else
			return fail(ctx, p, "expected a string, got %s", json_kind(v));
	}
	return 0;
}

/*
 * CIDRs that mean less, or more, than they seem to. Every IPv4 destination
 * is judged as IPv4, so an IPv6 prefix shorter than /96 never reaches the
 * v4-mapped or NAT64 addresses it appears to hold, and a mapped or NAT64
 * /96 is all of IPv4.
 */
static void warn_surprising_cidr(struct parse_ctx *ctx, const char *path,
				 const char *text, const struct addr_prefix *c)
{
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t nat64[16] = { 0x00, 0x64, 0xff, 0x9b };
	struct addr_prefix m = { .len = 128 }, n = { .len = 128 };

	memcpy(m.addr, mapped, 16);
	memcpy(n.addr, nat64, 16);
	if (!c->is4 && (addr_contains(c, &m) || addr_contains(c, &n)))
		pr_warn("%s: %s: \"%s\" does not reach v4-mapped or NAT64 destinations: they are judged as the IPv4 they carry; add an IPv4 CIDR (such as 0.0.0.0/0) for them",
			ctx->file, path, text);
	if (c->is4 && !c->len && strchr(text, ':'))
		pr_warn("%s: %s: \"%s\" is written as IPv6 but means every IPv4 destination (0.0.0.0/0)",
			ctx->file, path, text);
}

static int parse_cidrs(struct parse_ctx *ctx, const char *path, json_t *arr,
		       struct policy_rule *r)
{
	char p[128], why[160];
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || !json_array_size(arr))
		return fail(ctx, path, "expected a non-empty array of CIDRs");
	r->cidrs = calloc(json_array_size(arr), sizeof(*r->cidrs));
	if (!r->cidrs)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_string(v))
			return fail(ctx, p, "expected a CIDR string, got %s",
				    json_kind(v));
		if (addr_parse_prefix(json_string_value(v), &r->cidrs[i], why,
				      sizeof(why)))
			return fail(ctx, p, "\"%s\": %s", json_string_value(v),
				    why);
		warn_surprising_cidr(ctx, p, json_string_value(v), &r->cidrs[i]);
		r->nr_cidrs++;
	}
	return 0;
}

static int parse_ports(struct parse_ctx *ctx, const char *path, json_t *arr,
		       struct policy_rule *r)
{
	char p[128];
	size_t i;
	json_t *v;
	int err;

	if (!json_is_array(arr) || !json_array_size(arr))
		return fail(ctx, path, "expected a non-empty array of ports");
	r->ports = calloc(json_array_size(arr), sizeof(*r->ports));
	if (!r->ports)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		err = parse_port_range(ctx, p, v, &r->ports[i]);
		if (err)
			return err;
		r->nr_ports++;
	}
	return 0;
}

/* A DNS name: labels of letters, digits and dashes, 253 bytes at most. */
static bool valid_host_name(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (!n || n > 253 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (; *s; s++) {
		if (*s == '.') {
			if (!label)
				return false;
			label = 0;
			continue;
		}
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '-')
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static int parse_hosts(struct parse_ctx *ctx, const char *path, json_t *arr,
		       struct policy_rule *r)
{
	char p[128];
	size_t i;
	json_t *v;

	if (!json_is_array(arr) || !json_array_size(arr))
		return fail(ctx, path, "expected a non-empty array of host names");
	r->hosts = calloc(json_array_size(arr), sizeof(*r->hosts));
	if (!r->hosts)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!json_is_string(v))
			return fail(ctx, p, "expected a host name, got %s", json_kind(v));
		if (!valid_host_name(json_string_value(v)))
			return fail(ctx, p, "\"%s\": not a DNS name", json_string_value(v));
		r->hosts[i] = strdup(json_string_value(v));
		if (!r->hosts[i])
			return -ENOMEM;
		r->nr_hosts++;
	}
	return 0;
}

/* cidrs, hosts, or both: a rule must name some destination. */
static int parse_destinations(struct parse_ctx *ctx, const char *path,
			      json_t *obj, struct policy_rule *r)
{
	json_t *cidrs = json_object_get(obj, "cidrs");
	json_t *hosts = json_object_get(obj, "hosts");
	char p[128];
	int err;

	if (!cidrs && !hosts) {
		snprintf(p, sizeof(p), "%s.cidrs", path);
		return fail(ctx, p, "required: an array of CIDRs (or hosts)");
	}
	if (cidrs) {
		snprintf(p, sizeof(p), "%s.cidrs", path);
		err = parse_cidrs(ctx, p, cidrs, r);
		if (err)
			return err;
	}
	if (!hosts)
		return 0;
	snprintf(p, sizeof(p), "%s.hosts", path);
	return parse_hosts(ctx, p, hosts, r);
}

static int parse_rule(struct parse_ctx *ctx, size_t idx, json_t *obj,
		      struct policy_rule *r)
{
	static const char *const keys[] = { "name", "action", "cidrs", "ports",
					     "protocols", "hosts", NULL };
	char path[64], p[128];
	json_t *v;
	int err;

	snprintf(path, sizeof(path), "rules[%zu]", idx);
	if (!json_is_object(obj))
		return fail(ctx, path, "expected an object, got %s", json_kind(obj));
	err = check_keys(ctx, path, obj, keys);
	if (err)
		return err;

	snprintf(p, sizeof(p), "%s.name", path);
	v = json_object_get(obj, "name");
	if (!json_is_string(v))
		return fail(ctx, p, "required: a string");
	if (!valid_rule_name(json_string_value(v)))
		return fail(ctx, p, "\"%s\": use 1-63 of a-z 0-9 - _ .",
			    json_string_value(v));
	r->name = strdup(json_string_value(v));
	r->file = strdup(ctx->file);
	r->index = idx;
	if (!r->name || !r->file)
		return -ENOMEM;

	snprintf(p, sizeof(p), "%s.action", path);
	v = json_object_get(obj, "action");
	if (!v)
		return fail(ctx, p, "required: \"allow\" or \"deny\"");
	err = parse_enum(ctx, p, v, "allow", "deny", &r->action);
	if (err)
		return err;

	err = parse_destinations(ctx, path, obj, r);
	if (err)
		return err;

	r->protos = ODSBPF_PROTO_ALL;
	v = json_object_get(obj, "protocols");
	snprintf(p, sizeof(p), "%s.protocols", path);
	if (v && (err = parse_protocols(ctx, p, v, &r->protos)))
		return err;

	v = json_object_get(obj, "ports");
	if (!v)
		return 0;
	snprintf(p, sizeof(p), "%s.ports", path);
	err = parse_ports(ctx, p, v, r);
	if (err)
		return err;
	/* Ports exist for TCP and UDP only; a port rule never matches ICMP. */
	if (r->protos & ODSBPF_PROTO_ICMP && r->protos != ODSBPF_PROTO_ALL)
		return fail(ctx, p, "ports do not apply to icmp; put icmp in a rule of its own");
	r->protos &= ODSBPF_PROTO_TCP | ODSBPF_PROTO_UDP;
	return 0;
}

/* A DNS-1123 label, as Kubernetes names namespaces. */
static bool valid_namespace(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && *s != '-')
			return false;
	return true;
}

static int parse_exemptions(struct parse_ctx *ctx, json_t *arr,
			    struct policy *pol)
{
	static const char *const keys[] = { "namespace", NULL };
	char p[64];
	size_t i;
	json_t *v;
	int err;

	if (!json_is_array(arr))
		return fail(ctx, "exemptions", "expected an array, got %s",
			    json_kind(arr));
	pol->exempt_namespaces = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (!pol->exempt_namespaces)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		json_t *ns;

		snprintf(p, sizeof(p), "exemptions[%zu]", i);
		if (!json_is_object(v))
			return fail(ctx, p, "expected an object, got %s", json_kind(v));
		err = check_keys(ctx, p, v, keys);
		if (err)
			return err;
		ns = json_object_get(v, "namespace");
		if (!json_is_string(ns) || !*json_string_value(ns))
			return fail(ctx, p, "namespace: required: a non-empty string");
		if (!valid_namespace(json_string_value(ns)))
			return fail(ctx, p, "namespace: \"%s\": not a Kubernetes namespace name (1-63 of a-z 0-9 -, starting and ending with a letter or digit)",
				    json_string_value(ns));
		pol->exempt_namespaces[i] = strdup(json_string_value(ns));
		if (!pol->exempt_namespaces[i])
			return -ENOMEM;
		pol->nr_exempt++;
	}
	return 0;
}

static int parse_rules(struct parse_ctx *ctx, json_t *arr, struct policy *pol)
{
	size_t i;
	json_t *v;
	int err;

	if (!json_is_array(arr))
		return fail(ctx, "rules", "expected an array, got %s", json_kind(arr));
	if (json_array_size(arr) > POLICY_MAX_RULES)
		return fail(ctx, "rules", "more than %d rules", POLICY_MAX_RULES);
	pol->rules = calloc(json_array_size(arr) + 1, sizeof(*pol->rules));
	if (!pol->rules)
		return -ENOMEM;
	json_array_foreach(arr, i, v) {
		err = parse_rule(ctx, i, v, &pol->rules[i]);
		pol->nr_rules += pol->rules[i].name != NULL;
		if (err)
			return err;
	}
	return 0;
}

/* One file's document into a partial policy (mode may be unset). */
static int parse_document(struct parse_ctx *ctx, json_t *doc, struct policy *pol)
{
	static const char *const keys[] = { "apiVersion", "mode", "defaultAction",
					     "rules", "exemptions", NULL };
	json_t *v;
	int err;

	pol->mode = pol->default_action = MODE_UNSET;
	if (!json_is_object(doc))
		return fail(ctx, "", "expected a JSON object at the top, got %s",
			    json_kind(doc));
	err = check_keys(ctx, "", doc, keys);
	if (err)
		return err;

	v = json_object_get(doc, "apiVersion");
	if (!json_is_string(v))
		return fail(ctx, "apiVersion", "required: \"%s\"", POLICY_API_VERSION);
	if (strcmp(json_string_value(v), POLICY_API_VERSION))
		return fail(ctx, "apiVersion", "\"%s\": this version reads \"%s\"",
			    json_string_value(v), POLICY_API_VERSION);

	v = json_object_get(doc, "mode");
	if (v && (err = parse_enum(ctx, "mode", v, "enforce", "audit", &pol->mode)))
		return err;
	v = json_object_get(doc, "defaultAction");
	if (v && (err = parse_enum(ctx, "defaultAction", v, "allow", "deny",
				   &pol->default_action)))
		return err;

	v = json_object_get(doc, "rules");
	if (v && (err = parse_rules(ctx, v, pol)))
		return err;
	v = json_object_get(doc, "exemptions");
	if (v && (err = parse_exemptions(ctx, v, pol)))
		return err;
	return 0;
}

static void rule_free(struct policy_rule *r)
{
	free(r->name);
	free(r->file);
	free(r->cidrs);
	free(r->ports);
	for (size_t i = 0; i < r->nr_hosts; i++)
		free(r->hosts[i]);
	free(r->hosts);
	free(r->resolved);
}

void policy_free(struct policy *p)
{
	for (size_t i = 0; i < p->nr_rules; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	for (size_t i = 0; i < p->nr_exempt; i++)
		free(p->exempt_namespaces[i]);
	free(p->exempt_namespaces);
	memset(p, 0, sizeof(*p));
}

static int merge_setting(struct parse_ctx *ctx, const char *field, int *into,
			 const char **into_file, int from)
{
	if (from == MODE_UNSET)
		return 0;
	if (*into != MODE_UNSET && *into != from)
		return fail(ctx, field, "disagrees with %s; all files must agree",
			    *into_file);
	*into = from;
	*into_file = ctx->file;
	return 0;
}

/* Move part's rules and exemptions into all; part is left empty. */
static int merge_into(struct parse_ctx *ctx, struct policy *all,
		      struct policy *part)
{
	struct policy_rule *rules;
	char **ns;
	int err;

	err = merge_setting(ctx, "mode", &all->mode, &all->mode_file, part->mode);
	if (!err)
		err = merge_setting(ctx, "defaultAction", &all->default_action,
				    &all->default_file, part->default_action);
	if (err)
		return err;
	if (all->nr_rules + part->nr_rules > POLICY_MAX_RULES)
		return fail(ctx, "rules", "more than %d rules in all files",
			    POLICY_MAX_RULES);

	for (size_t i = 0; i < part->nr_rules; i++) {
		struct policy_rule *r = &part->rules[i];

		/* earlier files, then the rules before it in this file */
		for (size_t j = 0; j < all->nr_rules + i; j++) {
			const struct policy_rule *o = j < all->nr_rules ?
				&all->rules[j] : &part->rules[j - all->nr_rules];
			char path[64];

			if (strcmp(o->name, r->name))
				continue;
			snprintf(path, sizeof(path), "rules[%zu].name", r->index);
			return fail(ctx, path, "\"%s\": already defined in %s rules[%zu]",
				    r->name, o->file, o->index);
		}
	}

	rules = realloc(all->rules, (all->nr_rules + part->nr_rules + 1) * sizeof(*rules));
	if (!rules)
		return -ENOMEM;
	all->rules = rules;
	memcpy(rules + all->nr_rules, part->rules, part->nr_rules * sizeof(*rules));
	all->nr_rules += part->nr_rules;
	part->nr_rules = 0;

	ns = realloc(all->exempt_namespaces,
		     (all->nr_exempt + part->nr_exempt + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	all->exempt_namespaces = ns;
	memcpy(ns + all->nr_exempt, part->exempt_namespaces,
	       part->nr_exempt * sizeof(*ns));
	all->nr_exempt += part->nr_exempt;
	part->nr_exempt = 0;
	return 0;
}

static int load_json(struct parse_ctx *ctx, const char *text, json_t **doc)
{
	char *owned = NULL;
	json_error_t jerr;

	if (!text) {
		text = owned = policy_read_file(ctx->file, NULL);
		if (!text) {
			int err = errno;

			snprintf(ctx->err, ctx->err_len, "%s: cannot read: %s", ctx->file,
				 strerror(err));
			return -err;
		}
	}
	/* Editors on some systems start UTF-8 files with a byte-order mark. */
	if (!strncmp(text, "\xef\xbb\xbf", 3))
		text += 3;
	*doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(owned);
	if (*doc)
		return 0;
	snprintf(ctx->err, ctx->err_len, "%s:%d:%d: JSON syntax error: %s",
		 ctx->file, jerr.line, jerr.column, jerr.text);
	return -EINVAL;
}

static int load_one(struct parse_ctx *ctx, const char *text, struct policy *all)
{
	struct policy part = {};
	json_t *doc = NULL;
	int err;

	err = load_json(ctx, text, &doc);
	if (err)
		return err;
	err = parse_document(ctx, doc, &part);
	if (!err)
		err = merge_into(ctx, all, &part);
	if (err == -ENOMEM)
		snprintf(ctx->err, ctx->err_len, "%s: out of memory", ctx->file);
	json_decref(doc);
	policy_free(&part);
	return err;
}

static void settle_defaults(struct policy *p)
{
	if (p->mode == MODE_UNSET)
		p->mode = ODSBPF_MODE_ENFORCE;
	if (p->default_action == MODE_UNSET)
		p->default_action = ODSBPF_ALLOW;
	p->mode_file = p->default_file = NULL;
}

static int load_all(char *const *files, char *const *texts, size_t n,
		    struct policy *out, char *err, size_t err_len)
{
	struct policy all = { .mode = MODE_UNSET, .default_action = MODE_UNSET };
	int ret = 0;

	for (size_t i = 0; i < n && !ret; i++) {
		struct parse_ctx ctx = { files[i], err, err_len };

		ret = load_one(&ctx, texts ? texts[i] : NULL, &all);
	}
	if (ret) {
		policy_free(&all);
		return ret;
	}
	settle_defaults(&all);
	*out = all;
	return 0;
}

int policy_load_files(char *const *files, size_t n, struct policy *out,
		      char *err, size_t err_len)
{
	if (!n) {
		snprintf(err, err_len, "no policy files given");
		return -EINVAL;
	}
	return load_all(files, NULL, n, out, err, err_len);
}

int policy_load_texts(char *const *names, char *const *texts, size_t n,
		      struct policy *out, char *err, size_t err_len)
{
	if (!n) {
		snprintf(err, err_len, "no policy files given");
		return -EINVAL;
	}
	return load_all(names, texts, n, out, err, err_len);
}

int policy_load_text(const char *name, const char *text, struct policy *out,
		     char *err, size_t err_len)
{
	char *names[] = { (char *)name }, *texts[] = { (char *)text };

	return load_all(names, texts, 1, out, err, err_len);
}

const char *policy_rule_name(const struct policy *p, unsigned int rule_id)
{
	if (rule_id == ODSBPF_RULE_DEFAULT)
		return "defaultAction";
	if (rule_id == ODSBPF_RULE_SOURCE_ROUTED)
		return "source-route";
	if (rule_id == ODSBPF_RULE_NO_POLICY)
		return "no-policy";
	if (!p || rule_id >= p->nr_rules)
		return "unknown";
	return p->rules[rule_id].name;
}
