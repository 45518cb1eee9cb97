// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Unit tests of the policy parser, validator and compiler. No network, no
 * BPF: every verdict is checked twice, by the reference semantics
 * (policy_evaluate) and by a lookup in the compiled entries that does what
 * the kernel does (compiled_lookup), and the two must agree.
 *
 * Prints one "PASS name" or "FAIL name: reason" line per case on stdout and
 * nothing else; exits 0 when every case passed, 1 otherwise.
 *
 * Test documents are written with ' where JSON wants ", for readability.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "compile.h"
#include "hosts.h"
#include "odsbpf.h"
#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define WHY_LEN 8192

static int nr_failed;
static char why[WHY_LEN];	/* the reason of the last unmet expectation */

/* Record why a case failed; returns false for `return unmet(...)`. */
__attribute__((format(printf, 1, 2)))
static bool unmet(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return false;
}

/* One line per case, whatever the reason holds: the runner counts lines. */
static void report(const char *name, bool ok)
{
	if (ok) {
		printf("PASS %s\n", name);
		return;
	}
	for (char *c = why; *c; c++)
		if (*c == '\n')
			*c = ' ';
	printf("FAIL %s: %s\n", name, why);
	nr_failed++;
}

/* A test document with ' turned into ", or NULL for the built-in policy. */
static int load_doc(const char *doc, struct policy *p, char *err)
{
	char *text;
	int ret;

	if (!doc)
		return policy_load_text(DEFAULT_POLICY_NAME, default_policy_json, p,
					err, POLICY_ERR_LEN);
	text = strdup(doc);
	if (!text)
		abort();
	for (char *c = text; *c; c++)
		if (*c == '\'')
			*c = '"';
	ret = policy_load_text("p.json", text, p, err, POLICY_ERR_LEN);
	free(text);
	return ret;
}

#define DOC(fields)	"{'apiVersion': 'odsbpf/v1'" fields "}"
#define RULES(rules)	DOC(", 'rules': [" rules "]")
#define RULE(body)	RULES("{" body "}")
/* A valid rule named r, plus the fields given. */
#define RULE_WITH(more)	RULE("'name': 'r', 'action': 'allow', 'cidrs': ['10.0.0.0/8']" more)

/* Documents rejected whole, with one exact located line. */
struct reject_case {
	const char *name;
	const char *doc;
	const char *err;
};

static const struct reject_case reject_cases[] = {
	/* JSON itself */
	{ "test_rejects_json_syntax_error_with_line_and_column",
	  "{\n  'apiVersion': 'odsbpf/v1',\n  'rules': [,]\n}",
	  "p.json:3:13: JSON syntax error: unexpected token near ','" },
	{ "test_rejects_trailing_comma_with_line_and_column",
	  "{\n  'apiVersion': 'odsbpf/v1',\n}",
	  "p.json:3:1: JSON syntax error: string or '}' expected near '}'" },
	{ "test_rejects_empty_document",
	  "",
	  "p.json:1:0: JSON syntax error: '[' or '{' expected near end of file" },
	{ "test_rejects_duplicate_top_level_key",
	  "{'apiVersion': 'odsbpf/v1', 'apiVersion': 'odsbpf/v1'}",
	  "p.json:1:40: JSON syntax error: duplicate object key near '\"apiVersion\"'" },
	{ "test_rejects_duplicate_rule_key",
	  RULE("'name': 'a', 'name': 'b', 'action': 'deny', 'cidrs': ['10.0.0.0/8']"),
	  "p.json:1:58: JSON syntax error: duplicate object key near '\"name\"'" },
	{ "test_rejects_top_level_array",
	  "[]",
	  "p.json: expected a JSON object at the top, got an array" },

	/* the document */
	{ "test_rejects_unknown_top_level_field",
	  DOC(", 'defaultaction': 'deny'"),
	  "p.json: unknown field \"defaultaction\"" },
	{ "test_rejects_missing_api_version",
	  "{'rules': []}",
	  "p.json: apiVersion: required: \"odsbpf/v1\"" },
	{ "test_rejects_unknown_api_version",
	  "{'apiVersion': 'odsbpf/v2'}",
	  "p.json: apiVersion: \"odsbpf/v2\": this version reads \"odsbpf/v1\"" },
	{ "test_rejects_api_version_of_wrong_type",
	  "{'apiVersion': 1}",
	  "p.json: apiVersion: required: \"odsbpf/v1\"" },
	{ "test_rejects_unknown_mode",
	  DOC(", 'mode': 'block'"),
	  "p.json: mode: \"block\": expected \"enforce\" or \"audit\"" },
	{ "test_rejects_mode_of_wrong_type",
	  DOC(", 'mode': true"),
	  "p.json: mode: expected \"enforce\" or \"audit\", got a boolean" },
	{ "test_rejects_unknown_default_action",
	  DOC(", 'defaultAction': 'reject'"),
	  "p.json: defaultAction: \"reject\": expected \"allow\" or \"deny\"" },
	{ "test_rejects_default_action_of_wrong_type",
	  DOC(", 'defaultAction': null"),
	  "p.json: defaultAction: expected \"allow\" or \"deny\", got null" },
	{ "test_rejects_rules_not_an_array",
	  DOC(", 'rules': {}"),
	  "p.json: rules: expected an array, got an object" },

	/* rules[].name and rules[].action */
	{ "test_rejects_rule_not_an_object",
	  RULES("'deny'"),
	  "p.json: rules[0]: expected an object, got a string" },
	{ "test_rejects_unknown_rule_field",
	  RULE_WITH(", 'port': ['80']"),
	  "p.json: rules[0]: unknown field \"port\"" },
	{ "test_rejects_missing_rule_name",
	  RULE("'action': 'deny', 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].name: required: a string" },
	{ "test_rejects_rule_name_of_wrong_type",
	  RULE("'name': 42, 'action': 'deny', 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].name: required: a string" },
	{ "test_rejects_empty_rule_name",
	  RULE("'name': '', 'action': 'deny', 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].name: \"\": use 1-63 of a-z 0-9 - _ ." },
	{ "test_rejects_uppercase_rule_name",
	  RULE("'name': 'Deny-Metadata', 'action': 'deny', 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].name: \"Deny-Metadata\": use 1-63 of a-z 0-9 - _ ." },
	{ "test_rejects_rule_name_with_space",
	  RULE("'name': 'deny metadata', 'action': 'deny', 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].name: \"deny metadata\": use 1-63 of a-z 0-9 - _ ." },
	{ "test_rejects_rule_name_with_slash",
	  RULE("'name': 'team/deny', 'action': 'deny', 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].name: \"team/deny\": use 1-63 of a-z 0-9 - _ ." },
	{ "test_rejects_rule_name_longer_than_63",
	  RULE("'name': '0123456789012345678901234567890123456789012345678901234567890123',"
	       "'action': 'deny', 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].name: \"0123456789012345678901234567890123456789012345678901234567890123\": use 1-63 of a-z 0-9 - _ ." },
	{ "test_rejects_duplicate_rule_name_in_one_file",
	  RULES("{'name': 'a', 'action': 'deny', 'cidrs': ['10.0.0.0/8']},"
		"{'name': 'a', 'action': 'allow', 'cidrs': ['10.1.0.0/16']}"),
	  "p.json: rules[1].name: \"a\": already defined in p.json rules[0]" },
	{ "test_rejects_missing_action",
	  RULE("'name': 'r', 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].action: required: \"allow\" or \"deny\"" },
	{ "test_rejects_unknown_action",
	  RULE("'name': 'r', 'action': 'block', 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].action: \"block\": expected \"allow\" or \"deny\"" },
	{ "test_rejects_action_of_wrong_type",
	  RULE("'name': 'r', 'action': ['deny'], 'cidrs': ['10.0.0.0/8']"),
	  "p.json: rules[0].action: expected \"allow\" or \"deny\", got an array" },

	/* rules[].hosts and rules[].cidrs */
	{ "test_rejects_host_that_is_not_a_dns_name",
	  RULE("'name': 'r', 'action': 'allow', 'hosts': ['kube api']"),
	  "p.json: rules[0].hosts[0]: \"kube api\": not a DNS name" },
	{ "test_rejects_host_with_empty_label",
	  RULE_WITH(", 'hosts': ['a..b']"),
	  "p.json: rules[0].hosts[0]: \"a..b\": not a DNS name" },
	{ "test_rejects_empty_hosts",
	  RULE("'name': 'r', 'action': 'allow', 'hosts': []"),
	  "p.json: rules[0].hosts: expected a non-empty array of host names" },
	{ "test_rejects_host_of_wrong_type",
	  RULE("'name': 'r', 'action': 'allow', 'hosts': [7]"),
	  "p.json: rules[0].hosts[0]: expected a host name, got an integer" },
	{ "test_rejects_missing_cidrs",
	  RULE("'name': 'r', 'action': 'deny'"),
	  "p.json: rules[0].cidrs: required: an array of CIDRs (or hosts)" },
	{ "test_rejects_cidrs_not_an_array",
	  RULE("'name': 'r', 'action': 'deny', 'cidrs': '10.0.0.0/8'"),
	  "p.json: rules[0].cidrs: expected a non-empty array of CIDRs" },
	{ "test_rejects_empty_cidrs",
	  RULE("'name': 'r', 'action': 'deny', 'cidrs': []"),
	  "p.json: rules[0].cidrs: expected a non-empty array of CIDRs" },
	{ "test_rejects_cidr_of_wrong_type",
	  RULE("'name': 'r', 'action': 'deny', 'cidrs': ['10.0.0.0/8', 10]"),
	  "p.json: rules[0].cidrs[1]: expected a CIDR string, got an integer" },
	{ "test_rejects_bad_cidr_located_in_third_rule",
	  RULES("{'name': 'a', 'action': 'deny', 'cidrs': ['10.0.0.0/8']},"
		"{'name': 'b', 'action': 'deny', 'cidrs': ['fc00::/7']},"
		"{'name': 'c', 'action': 'deny', 'cidrs': ['10.0.0.0/33']}"),
	  "p.json: rules[2].cidrs[0]: \"10.0.0.0/33\": prefix longer than 32" },

	/* rules[].protocols */
	{ "test_rejects_protocols_not_an_array",
	  RULE_WITH(", 'protocols': 'tcp'"),
	  "p.json: rules[0].protocols: expected a non-empty array of \"tcp\", \"udp\", \"icmp\"" },
	{ "test_rejects_empty_protocols",
	  RULE_WITH(", 'protocols': []"),
	  "p.json: rules[0].protocols: expected a non-empty array of \"tcp\", \"udp\", \"icmp\"" },
	{ "test_rejects_unknown_protocol",
	  RULE_WITH(", 'protocols': ['tcp', 'sctp']"),
	  "p.json: rules[0].protocols[1]: \"sctp\": expected \"tcp\", \"udp\" or \"icmp\"" },
	{ "test_rejects_uppercase_protocol",
	  RULE_WITH(", 'protocols': ['TCP']"),
	  "p.json: rules[0].protocols[0]: \"TCP\": expected \"tcp\", \"udp\" or \"icmp\"" },
	{ "test_rejects_protocol_number",
	  RULE_WITH(", 'protocols': [6]"),
	  "p.json: rules[0].protocols[0]: expected a string, got an integer" },

	/* rules[].ports */
	{ "test_rejects_ports_not_an_array",
	  RULE_WITH(", 'ports': '80'"),
	  "p.json: rules[0].ports: expected a non-empty array of ports" },
	{ "test_rejects_empty_ports",
	  RULE_WITH(", 'ports': []"),
	  "p.json: rules[0].ports: expected a non-empty array of ports" },
	{ "test_rejects_port_number_not_string",
	  RULE_WITH(", 'ports': [80]"),
	  "p.json: rules[0].ports[0]: expected a string such as \"53\" or \"8000-9000\", got an integer" },
	{ "test_rejects_port_in_hex",
	  RULE_WITH(", 'ports': ['0x50']"),
	  "p.json: rules[0].ports[0]: \"0x50\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_range_without_end",
	  RULE_WITH(", 'ports': ['80-']"),
	  "p.json: rules[0].ports[0]: \"80-\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_range_without_start",
	  RULE_WITH(", 'ports': ['-80']"),
	  "p.json: rules[0].ports[0]: \"-80\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_range_ending_before_start",
	  RULE_WITH(", 'ports': ['9000-8000']"),
	  "p.json: rules[0].ports[0]: \"9000-8000\": range ends before it starts" },
	{ "test_rejects_port_above_65535",
	  RULE_WITH(", 'ports': ['65536']"),
	  "p.json: rules[0].ports[0]: \"65536\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_range_ending_above_65535",
	  RULE_WITH(", 'ports': ['80-65536']"),
	  "p.json: rules[0].ports[0]: \"80-65536\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_that_overflows",
	  RULE_WITH(", 'ports': ['18446744073709551696']"),
	  "p.json: rules[0].ports[0]: \"18446744073709551696\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_with_leading_zero",
	  RULE_WITH(", 'ports': ['080']"),
	  "p.json: rules[0].ports[0]: \"080\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_range_end_with_leading_zero",
	  RULE_WITH(", 'ports': ['80-090']"),
	  "p.json: rules[0].ports[0]: \"80-090\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_empty_port",
	  RULE_WITH(", 'ports': ['']"),
	  "p.json: rules[0].ports[0]: \"\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_with_space",
	  RULE_WITH(", 'ports': ['80 ']"),
	  "p.json: rules[0].ports[0]: \"80 \": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_range_of_three_parts",
	  RULE_WITH(", 'ports': ['80-90-100']"),
	  "p.json: rules[0].ports[0]: \"80-90-100\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_port_name",
	  RULE_WITH(", 'ports': ['53', 'http']"),
	  "p.json: rules[0].ports[1]: \"http\": expected a port 0-65535 or a range LO-HI" },
	{ "test_rejects_ports_with_icmp",
	  RULE_WITH(", 'ports': ['0'], 'protocols': ['icmp']"),
	  "p.json: rules[0].ports: ports do not apply to icmp; put icmp in a rule of its own" },
	{ "test_rejects_ports_with_icmp_among_protocols",
	  RULE_WITH(", 'ports': ['443'], 'protocols': ['tcp', 'udp', 'icmp']"),
	  "p.json: rules[0].ports: ports do not apply to icmp; put icmp in a rule of its own" },

	/* exemptions */
	{ "test_rejects_exemptions_not_an_array",
	  DOC(", 'exemptions': {'namespace': 'kube-system'}"),
	  "p.json: exemptions: expected an array, got an object" },
	{ "test_rejects_exemption_not_an_object",
	  DOC(", 'exemptions': ['kube-system']"),
	  "p.json: exemptions[0]: expected an object, got a string" },
	{ "test_rejects_unknown_exemption_field",
	  DOC(", 'exemptions': [{'namespace': 'a'}, {'pod': 'web-0'}]"),
	  "p.json: exemptions[1]: unknown field \"pod\"" },
	{ "test_rejects_exemption_without_namespace",
	  DOC(", 'exemptions': [{}]"),
	  "p.json: exemptions[0]: namespace: required: a non-empty string" },
	{ "test_rejects_exemption_with_empty_namespace",
	  DOC(", 'exemptions': [{'namespace': ''}]"),
	  "p.json: exemptions[0]: namespace: required: a non-empty string" },
	{ "test_rejects_exemption_of_a_wildcard_namespace",
	  DOC(", 'exemptions': [{'namespace': '*'}]"),
	  "p.json: exemptions[0]: namespace: \"*\": not a Kubernetes namespace name (1-63 of a-z 0-9 -, starting and ending with a letter or digit)" },
};

/* Rejected: -EINVAL and exactly the line want. */
static bool rejected_with(int ret, const char *err, const char *want)
{
	if (!ret)
		return unmet("expected [%s], got the policy accepted", want);
	if (ret != -EINVAL)
		return unmet("expected -EINVAL, got %d with [%s]", ret, err);
	if (strcmp(err, want))
		return unmet("expected [%s], got [%s]", want, err);
	return true;
}

static bool check_rejected(const char *doc, const char *want)
{
	char err[POLICY_ERR_LEN] = "";
	struct policy p;
	int ret;

	ret = load_doc(doc, &p, err);
	if (!ret)
		policy_free(&p);
	return rejected_with(ret, err, want);
}

static void run_reject_cases(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(reject_cases); i++) {
		const struct reject_case *c = &reject_cases[i];

		report(c->name, check_rejected(c->doc, c->err));
	}
}

/* More rules than the kernel's 16-bit rule ids leave room for. */
static void test_rejects_more_rules_than_rule_ids(void)
{
	size_t n = POLICY_MAX_RULES + 1;
	char err[POLICY_ERR_LEN] = "";
	char *doc = malloc(64 + 2 * n);
	struct policy p;
	char *s;
	int ret;

	if (!doc)
		abort();
	s = doc + sprintf(doc, "{'apiVersion': 'odsbpf/v1', 'rules': [");
	for (size_t i = 0; i < n; i++)
		s += sprintf(s, "%s0", i ? "," : "");
	strcpy(s, "]}");
	ret = load_doc(doc, &p, err);
	if (!ret)
		policy_free(&p);
	free(doc);
	report(__func__, rejected_with(ret, err, "p.json: rules: more than 65520 rules"));
}

/*
 * A failed load leaves *out as it was, so the policy in force stays in
 * force.
 */
static void test_rejected_load_leaves_output_untouched(void)
{
	char err[POLICY_ERR_LEN] = "";
	struct policy p, before;
	bool ok = true;

	memset(&p, 0xa5, sizeof(p));
	before = p;
	if (!load_doc(RULE_WITH(", 'ports': ['80-']"), &p, err)) {
		policy_free(&p);
		ok = unmet("expected the policy rejected, got it accepted");
	} else if (memcmp(&p, &before, sizeof(p)))
		ok = unmet("expected *out untouched, got it changed (err [%s])", err);
	report(__func__, ok);
}

/* Load a document that must be accepted, or say why not. */
static bool accepted(const char *doc, struct policy *p)
{
	char err[POLICY_ERR_LEN] = "";

	if (load_doc(doc, p, err))
		return unmet("expected the policy accepted, got [%s]", err);
	return true;
}

static void test_minimal_policy_enforces_and_allows_by_default(void)
{
	struct policy p = {};
	bool ok;

	ok = accepted(DOC(""), &p);
	if (ok && (p.mode != ODSBPF_MODE_ENFORCE || p.default_action != ODSBPF_ALLOW ||
		   p.nr_rules || p.nr_exempt))
		ok = unmet("expected enforce, allow, 0 rules, 0 exemptions, got mode %d, defaultAction %d, %zu rules, %zu exemptions",
			   p.mode, p.default_action, p.nr_rules, p.nr_exempt);
	policy_free(&p);
	report(__func__, ok);
}

static void test_accepts_audit_mode_and_deny_default(void)
{
	struct policy p = {};
	bool ok;

	ok = accepted(DOC(", 'mode': 'audit', 'defaultAction': 'deny'"), &p);
	if (ok && (p.mode != ODSBPF_MODE_AUDIT || p.default_action != ODSBPF_DENY))
		ok = unmet("expected audit and deny, got mode %d, defaultAction %d",
			   p.mode, p.default_action);
	policy_free(&p);
	report(__func__, ok);
}

static void test_accepts_port_bounds_and_ranges(void)
{
	static const struct policy_port_range want[] = {
		{ 0, 0 }, { 65535, 65535 }, { 8000, 9000 }, { 53, 53 }, { 0, 65535 },
	};
	struct policy p = {};
	bool ok;

	ok = accepted(RULE_WITH(", 'ports': ['0', '65535', '8000-9000', '53-53', '0-65535']"),
		      &p);
	if (ok && p.rules[0].nr_ports != ARRAY_SIZE(want))
		ok = unmet("expected %zu ranges, got %zu", ARRAY_SIZE(want), p.rules[0].nr_ports);
	for (size_t i = 0; ok && i < ARRAY_SIZE(want); i++)
		if (p.rules[0].ports[i].lo != want[i].lo || p.rules[0].ports[i].hi != want[i].hi)
			ok = unmet("ports[%zu]: expected %u-%u, got %u-%u", i, want[i].lo,
				   want[i].hi, p.rules[0].ports[i].lo, p.rules[0].ports[i].hi);
	policy_free(&p);
	report(__func__, ok);
}

/* The protocol classes a rule ends up with, from what it says. */
struct proto_case {
	const char *name;
	const char *doc;
	uint8_t protos;
};

static const struct proto_case proto_cases[] = {
	{ "test_rule_without_protocols_matches_every_protocol",
	  RULE_WITH(""), ODSBPF_PROTO_ALL },
	{ "test_rule_with_ports_and_no_protocols_means_tcp_and_udp",
	  RULE_WITH(", 'ports': ['53']"), ODSBPF_PROTO_TCP | ODSBPF_PROTO_UDP },
	{ "test_rule_protocols_become_their_classes",
	  RULE_WITH(", 'protocols': ['udp', 'icmp']"), ODSBPF_PROTO_UDP | ODSBPF_PROTO_ICMP },
	{ "test_rule_with_ports_keeps_its_one_protocol",
	  RULE_WITH(", 'ports': ['53'], 'protocols': ['udp']"), ODSBPF_PROTO_UDP },
};

static void run_proto_cases(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(proto_cases); i++) {
		const struct proto_case *c = &proto_cases[i];
		struct policy p = {};
		bool ok;

		ok = accepted(c->doc, &p);
		if (ok && p.rules[0].protos != c->protos)
			ok = unmet("expected protocol bits 0x%x, got 0x%x", c->protos,
				   p.rules[0].protos);
		policy_free(&p);
		report(c->name, ok);
	}
}

static void test_accepts_names_of_63_lowercase_digits_dash_underscore_dot(void)
{
	static const char *const names[] = {
		"a", "deny-aws_imds.v6",
		"012345678901234567890123456789012345678901234567890123456789012",
	};
	struct policy p = {};
	bool ok = true;
	char doc[512];

	for (size_t i = 0; ok && i < ARRAY_SIZE(names); i++) {
		snprintf(doc, sizeof(doc),
			 RULE("'name': '%s', 'action': 'deny', 'cidrs': ['10.0.0.0/8']"), names[i]);
		ok = accepted(doc, &p);
		if (ok && strcmp(p.rules[0].name, names[i]))
			ok = unmet("expected name %s, got %s", names[i], p.rules[0].name);
		policy_free(&p);
	}
	report(__func__, ok);
}

static void test_accepts_exemptions_by_namespace(void)
{
	struct policy p = {};
	bool ok;

	ok = accepted(DOC(", 'exemptions': [{'namespace': 'kube-system'}, {'namespace': 'mon'}]"),
		      &p);
	if (ok && (p.nr_exempt != 2 || strcmp(p.exempt_namespaces[0], "kube-system") ||
		   strcmp(p.exempt_namespaces[1], "mon")))
		ok = unmet("expected kube-system and mon, got %zu exemptions", p.nr_exempt);
	policy_free(&p);
	report(__func__, ok);
}

/* One CIDR and what the parser makes of it: the folded prefix or the why. */
struct prefix_case {
	const char *name;
	const char *cidr;
	const char *want;	/* the prefix as addr_format writes it */
	const char *why;	/* or the reason it is rejected */
};

static const struct prefix_case prefix_cases[] = {
	/* strict IPv4 */
	{ "test_rejects_prefix_longer_than_32", "10.0.0.0/33",
	  .why = "prefix longer than 32" },
	{ "test_rejects_prefix_length_that_overflows", "10.0.0.0/4294967328",
	  .why = "prefix longer than 32" },
	{ "test_rejects_octal_ipv4_octet", "010.0.0.1/8",
	  .why = "leading zero in an IPv4 octet (octal to some parsers)" },
	{ "test_rejects_leading_zero_in_inner_octet", "10.01.0.0/16",
	  .why = "leading zero in an IPv4 octet (octal to some parsers)" },
	{ "test_rejects_hex_ipv4", "0x0a.0.0.0/8",
	  .why = "not an IPv4 address in dotted-quad form" },
	{ "test_rejects_short_ipv4", "10.1/16",
	  .why = "not an IPv4 address in dotted-quad form" },
	{ "test_rejects_ipv4_as_one_number", "167772160/8",
	  .why = "not an IPv4 address in dotted-quad form" },
	{ "test_rejects_ipv4_octet_above_255", "10.0.0.256/32",
	  .why = "not an IPv4 address in dotted-quad form" },
	{ "test_rejects_ipv4_with_five_octets", "10.0.0.0.0/8",
	  .why = "not an IPv4 address in dotted-quad form" },
	{ "test_rejects_host_name_as_cidr", "metadata.google.internal",
	  .why = "not an IPv4 address in dotted-quad form" },
	{ "test_rejects_empty_cidr", "",
	  .why = "not an IPv4 address in dotted-quad form" },
	{ "test_rejects_prefix_length_with_leading_zero", "10.0.0.1/08",
	  .why = "prefix length is not a decimal number" },
	{ "test_rejects_empty_prefix_length", "10.0.0.0/",
	  .why = "prefix length is not a decimal number" },
	{ "test_rejects_signed_prefix_length", "10.0.0.0/+8",
	  .why = "prefix length is not a decimal number" },
	{ "test_rejects_prefix_length_with_space", "10.0.0.0/8 ",
	  .why = "prefix length is not a decimal number" },
	{ "test_rejects_two_prefix_lengths", "10.0.0.0/8/8",
	  .why = "prefix length is not a decimal number" },
	{ "test_rejects_ipv4_host_bits_with_hint", "10.0.0.1/8",
	  .why = "host bits set (did you mean 10.0.0.0/8?)" },
	{ "test_rejects_ipv4_host_bits_of_default_route", "1.0.0.0/0",
	  .why = "host bits set (did you mean 0.0.0.0/0?)" },
	{ "test_rejects_ipv4_last_host_bit", "169.254.169.255/31",
	  .why = "host bits set (did you mean 169.254.169.254/31?)" },
	{ "test_rejects_text_too_long_for_an_address",
	  "1111:2222:3333:4444:5555:6666:7777:8888/128::::::::::::::::::::::::",
	  .why = "too long for an address" },

	/* IPv6 */
	{ "test_rejects_prefix_longer_than_128", "fd00::/129",
	  .why = "prefix longer than 128" },
	{ "test_rejects_ipv6_host_bits_with_hint", "fd00::1/8",
	  .why = "host bits set (did you mean fd00::/8?)" },
	{ "test_rejects_mapped_host_bits_with_hint", "::ffff:10.0.0.1/104",
	  .why = "host bits set (did you mean ::ffff:10.0.0.0/104?)" },
	{ "test_rejects_ipv6_with_two_double_colons", "fd00::1::/128",
	  .why = "not an IPv6 address" },
	{ "test_rejects_ipv6_with_zone", "fe80::1%eth0/128",
	  .why = "not an IPv6 address" },
	{ "test_rejects_ipv6_group_of_five_digits", "fd000::/16",
	  .why = "not an IPv6 address" },
	{ "test_rejects_mapped_octal_octet", "::ffff:010.0.0.1/128",
	  .why = "not an IPv6 address" },
	{ "test_rejects_ipv6_prefix_length_with_leading_zero", "fd00::/08",
	  .why = "prefix length is not a decimal number" },

	/* accepted, and how they are judged */
	{ "test_accepts_ipv4_prefix", "10.0.0.0/8", "10.0.0.0/8" },
	{ "test_accepts_ipv4_default_route", "0.0.0.0/0", "0.0.0.0/0" },
	{ "test_accepts_bare_ipv4_as_32", "169.254.169.254", "169.254.169.254/32" },
	{ "test_accepts_ipv6_prefix", "fc00::/7", "fc00::/7" },
	{ "test_accepts_ipv6_default_route", "::/0", "::/0" },
	{ "test_accepts_uppercase_ipv6", "FD00:EC2::254/128", "fd00:ec2::254/128" },
	{ "test_accepts_bare_ipv6_as_128", "fd00:ec2::254", "fd00:ec2::254/128" },
	{ "test_folds_mapped_128_to_ipv4_32", "::ffff:169.254.169.254/128",
	  "169.254.169.254/32" },
	{ "test_folds_bare_mapped_to_ipv4_32", "::ffff:169.254.169.254", "169.254.169.254/32" },
	{ "test_folds_mapped_in_hex_to_ipv4_32", "::ffff:a9fe:a9fe/128", "169.254.169.254/32" },
	{ "test_folds_nat64_128_to_ipv4_32", "64:ff9b::a9fe:a9fe/128", "169.254.169.254/32" },
	{ "test_folds_nat64_dotted_to_ipv4_32", "64:ff9b::169.254.169.254/128",
	  "169.254.169.254/32" },
	{ "test_folds_mapped_104_to_ipv4_8", "::ffff:10.0.0.0/104", "10.0.0.0/8" },
	{ "test_folds_nat64_112_to_ipv4_16", "64:ff9b::10.1.0.0/112", "10.1.0.0/16" },
	{ "test_folds_whole_mapped_space_to_ipv4_default_route", "::ffff:0:0/96", "0.0.0.0/0" },
	{ "test_folds_whole_nat64_space_to_ipv4_default_route", "64:ff9b::/96", "0.0.0.0/0" },
	{ "test_keeps_prefix_shorter_than_96_as_ipv6", "::fffe:0:0/95", "::fffe:0:0/95" },
	{ "test_keeps_other_ipv6_ending_in_ipv4_as_ipv6", "64:ff9c::a9fe:a9fe/128",
	  "64:ff9c::a9fe:a9fe/128" },
};

static bool check_prefix(const struct prefix_case *c)
{
	char err[POLICY_ERR_LEN] = "", doc[256], want[POLICY_ERR_LEN], got[ADDR_STRLEN];
	struct policy p;
	int ret;

	snprintf(doc, sizeof(doc), RULE("'name': 'r', 'action': 'deny', 'cidrs': ['%s']"),
		 c->cidr);
	ret = load_doc(doc, &p, err);
	if (c->why) {
		if (!ret)
			policy_free(&p);
		snprintf(want, sizeof(want), "p.json: rules[0].cidrs[0]: \"%s\": %s", c->cidr,
			 c->why);
		return rejected_with(ret, err, want);
	}
	if (ret)
		return unmet("expected %s accepted as %s, got [%s]", c->cidr, c->want, err);
	addr_format(&p.rules[0].cidrs[0], true, got);
	policy_free(&p);
	if (strcmp(got, c->want))
		return unmet("expected %s read as %s, got %s", c->cidr, c->want, got);
	return true;
}

static void run_prefix_cases(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(prefix_cases); i++)
		report(prefix_cases[i].name, check_prefix(&prefix_cases[i]));
}

/* Destinations: how addr_parse_dest judges what a caller wrote. */
struct dest_case {
	const char *name;
	const char *dst;
	const char *want;	/* judged, as addr_format writes it; NULL: rejected */
};

static const struct dest_case dest_cases[] = {
	{ "test_dest_ipv4_is_judged_as_itself", "198.51.100.10", "198.51.100.10/32" },
	{ "test_dest_ipv6_is_judged_as_itself", "2001:db8::1", "2001:db8::1/128" },
	{ "test_dest_mapped_is_judged_as_ipv4", "::ffff:169.254.169.254", "169.254.169.254/32" },
	{ "test_dest_nat64_is_judged_as_ipv4", "64:ff9b::a9fe:a9fe", "169.254.169.254/32" },
	{ "test_dest_unspecified_ipv4_is_judged_as_loopback", "0.0.0.0", "127.0.0.1/32" },
	{ "test_dest_unspecified_ipv6_is_judged_as_loopback", "::", "::1/128" },
	{ "test_dest_mapped_unspecified_is_judged_as_loopback", "::ffff:0.0.0.0", "127.0.0.1/32" },
	{ "test_dest_nat64_unspecified_is_judged_as_loopback", "64:ff9b::", "127.0.0.1/32" },
	{ "test_dest_rejects_prefix_length", "10.0.0.0/8", NULL },
	{ "test_dest_rejects_octal_ipv4", "010.0.0.1", NULL },
};

static bool check_dest(const struct dest_case *c)
{
	struct addr_prefix d;
	char got[ADDR_STRLEN];
	int ret;

	ret = addr_parse_dest(c->dst, &d);
	if (!c->want)
		return ret == -EINVAL ? true : unmet("expected -EINVAL, got %d", ret);
	if (ret)
		return unmet("expected %s judged as %s, got %d", c->dst, c->want, ret);
	addr_format(&d, true, got);
	if (strcmp(got, c->want))
		return unmet("expected %s judged as %s, got %s", c->dst, c->want, got);
	return true;
}

static void run_dest_cases(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(dest_cases); i++)
		report(dest_cases[i].name, check_dest(&dest_cases[i]));
}

/* Policy files in a directory this test makes and removes. */
struct tmpdir {
	char path[64];
	char files[2][128];
	size_t nr;
};

static char *tmp_write(struct tmpdir *t, const char *name, const char *doc)
{
	char *path = t->files[t->nr++];
	char buf[sizeof(t->files[0])];	/* path and t->path share *t */
	FILE *f;

	snprintf(buf, sizeof(buf), "%s/%s", t->path, name);
	strcpy(path, buf);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	for (const char *c = doc; *c; c++)
		fputc(*c == '\'' ? '"' : *c, f);
	fclose(f);
	return path;
}

static void tmp_clean(struct tmpdir *t)
{
	for (size_t i = 0; i < t->nr; i++)
		unlink(t->files[i]);
	t->nr = 0;
}

/* Write a.json and b.json into t, load them in that order, remove them. */
static int load_two(struct tmpdir *t, const char *a_doc, const char *b_doc,
		    struct policy *p, char *err)
{
	char *files[2];
	int ret;

	files[0] = tmp_write(t, "a.json", a_doc);
	files[1] = tmp_write(t, "b.json", b_doc);
	ret = policy_load_files(files, 2, p, err, POLICY_ERR_LEN);
	tmp_clean(t);
	return ret;
}

#define DENY_A_B RULES("{'name': 'deny-a', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}," \
		       "{'name': 'deny-b', 'action': 'deny', 'cidrs': ['fc00::/7']}")

/* a.json then b.json, rejected with err; each %s in err is the directory. */
struct files_case {
	const char *name;
	const char *a, *b;
	const char *err;
};

static const struct files_case files_cases[] = {
	{ "test_rejects_duplicate_rule_name_across_files", DENY_A_B,
	  RULES("{'name': 'allow-c', 'action': 'allow', 'cidrs': ['10.1.0.0/16']},"
		"{'name': 'deny-b', 'action': 'deny', 'cidrs': ['10.2.0.0/16']}"),
	  "%s/b.json: rules[1].name: \"deny-b\": already defined in %s/a.json rules[1]" },
	{ "test_rejects_mode_disagreeing_between_files",
	  DOC(", 'mode': 'enforce'"), DOC(", 'mode': 'audit'"),
	  "%s/b.json: mode: disagrees with %s/a.json; all files must agree" },
	{ "test_rejects_default_action_disagreeing_between_files",
	  DOC(", 'defaultAction': 'allow'"), DOC(", 'mode': 'enforce', 'defaultAction': 'deny'"),
	  "%s/b.json: defaultAction: disagrees with %s/a.json; all files must agree" },
	{ "test_rejects_syntax_error_in_second_file_with_line_and_column", DENY_A_B,
	  "{\n  'apiVersion': 'odsbpf/v1',\n  'rules': [}\n}",
	  "%s/b.json:3:13: JSON syntax error: unexpected token near '}'" },
	{ "test_rejects_bad_rule_located_in_second_file", DENY_A_B,
	  RULES("{'name': 'ok', 'action': 'deny', 'cidrs': ['10.0.0.0/8']},"
		"{'name': 'bad', 'action': 'deny', 'cidrs': ['10.0.0.1/8']}"),
	  "%s/b.json: rules[1].cidrs[0]: \"10.0.0.1/8\": host bits set (did you mean 10.0.0.0/8?)" },
};

static bool check_files_rejected(struct tmpdir *t, const struct files_case *c)
{
	char err[POLICY_ERR_LEN] = "", want[POLICY_ERR_LEN];
	struct policy p;
	int ret;

	ret = load_two(t, c->a, c->b, &p, err);
	if (!ret)
		policy_free(&p);
	snprintf(want, sizeof(want), c->err, t->path, t->path);
	return rejected_with(ret, err, want);
}

/* Rules, settings and exemptions of two files add up. */
#define MERGE_A DOC(", 'mode': 'audit', 'exemptions': [{'namespace': 'x'}], 'rules': [" \
	"{'name': 'deny-a', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}]")
#define MERGE_B DOC(", 'defaultAction': 'deny', 'exemptions': [{'namespace': 'y'}], 'rules': [" \
	"{'name': 'allow-c', 'action': 'allow', 'cidrs': ['10.1.0.0/16']}," \
	"{'name': 'allow-d', 'action': 'allow', 'cidrs': ['10.2.0.0/16']}]")

static bool check_merged(struct tmpdir *t)
{
	char err[POLICY_ERR_LEN] = "", b_path[160];
	const struct policy_rule *r;
	struct policy p;
	bool ok = true;

	if (load_two(t, MERGE_A, MERGE_B, &p, err))
		return unmet("expected the files accepted, got [%s]", err);

	snprintf(b_path, sizeof(b_path), "%s/b.json", t->path);
	r = &p.rules[2];
	if (p.nr_rules != 3)
		ok = unmet("expected 3 rules, got %zu", p.nr_rules);
	else if (strcmp(p.rules[0].name, "deny-a") || strcmp(p.rules[1].name, "allow-c") ||
		 strcmp(r->name, "allow-d"))
		ok = unmet("expected deny-a, allow-c, allow-d, got %s, %s, %s", p.rules[0].name,
			   p.rules[1].name, r->name);
	else if (strcmp(r->file, b_path) || r->index != 1)
		ok = unmet("expected allow-d from %s rules[1], got %s rules[%zu]", b_path,
			   r->file, r->index);
	else if (p.mode != ODSBPF_MODE_AUDIT || p.default_action != ODSBPF_DENY)
		ok = unmet("expected audit from a.json and deny from b.json, got mode %d, defaultAction %d",
			   p.mode, p.default_action);
	else if (p.nr_exempt != 2 || strcmp(p.exempt_namespaces[0], "x") ||
		 strcmp(p.exempt_namespaces[1], "y"))
		ok = unmet("expected exemptions x and y, got %zu", p.nr_exempt);
	policy_free(&p);
	return ok;
}

static bool check_missing_file(struct tmpdir *t)
{
	char err[POLICY_ERR_LEN] = "", path[160], want[POLICY_ERR_LEN];
	char *files[] = { path };
	struct policy p;
	int ret;

	snprintf(path, sizeof(path), "%s/missing.json", t->path);
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	ret = policy_load_files(files, 1, &p, err, sizeof(err));
	if (!ret) {
		policy_free(&p);
		return unmet("expected [%s], got the file accepted", want);
	}
	if (ret != -ENOENT || strcmp(err, want))
		return unmet("expected -ENOENT with [%s], got %d with [%s]", want, ret, err);
	return true;
}

static bool check_no_files(void)
{
	char err[POLICY_ERR_LEN] = "";
	struct policy p;
	int ret;

	ret = policy_load_files(NULL, 0, &p, err, sizeof(err));
	if (!ret)
		policy_free(&p);
	return rejected_with(ret, err, "no policy files given");
}

/* Two files that each fit, with more rules together than rule ids. */
static bool check_too_many_rules_in_all_files(struct tmpdir *t)
{
	char err[POLICY_ERR_LEN] = "", want[POLICY_ERR_LEN];
	size_t n = POLICY_MAX_RULES - 1;
	struct policy p;
	char *doc, *s;
	int ret;

	doc = malloc(64 + 64 * n);
	if (!doc)
		abort();
	s = doc + sprintf(doc, "{'apiVersion': 'odsbpf/v1', 'rules': [");
	for (size_t i = 0; i < n; i++)
		s += sprintf(s, "%s{'name': 'r%zu', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}",
			     i ? "," : "", i);
	strcpy(s, "]}");
	ret = load_two(t, DENY_A_B, doc, &p, err);
	free(doc);
	if (!ret)
		policy_free(&p);
	snprintf(want, sizeof(want), "%s/b.json: rules: more than 65520 rules in all files",
		 t->path);
	return rejected_with(ret, err, want);
}

#define PORTS_16 "'2', '4', '6', '8', '10', '12', '14', '16', " \
		 "'18', '20', '22', '24', '26', '28', '30', '32'"
#define PORTS_17 PORTS_16 ", '34'"

/* The compiler names the file a rule came from. */
static bool check_compile_error_names_file(struct tmpdir *t)
{
	char err[POLICY_ERR_LEN] = "", want[POLICY_ERR_LEN];
	struct compiled_policy c;
	struct policy p;
	int ret;

	if (load_two(t, DENY_A_B,
		     RULE("'name': 'many', 'action': 'allow', 'cidrs': ['10.1.0.0/16'], "
			  "'ports': [" PORTS_17 "]"),
		     &p, err))
		return unmet("expected the files accepted, got [%s]", err);
	ret = compile_policy(&p, &c, err, sizeof(err));
	if (!ret)
		compiled_free(&c);
	policy_free(&p);
	snprintf(want, sizeof(want),
		 "%s/b.json: rules[0].cidrs: 10.1.0.0/16: the rules covering this prefix need more than 16 port/protocol exceptions",
		 t->path);
	return rejected_with(ret, err, want);
}

static void run_files_cases(void)
{
	struct tmpdir t = { .path = "/tmp/test_policy.XXXXXX" };

	if (!mkdtemp(t.path)) {
		perror("mkdtemp");
		exit(1);
	}
	for (size_t i = 0; i < ARRAY_SIZE(files_cases); i++)
		report(files_cases[i].name, check_files_rejected(&t, &files_cases[i]));
	report("test_files_merge_rules_settings_and_exemptions", check_merged(&t));
	report("test_rejects_missing_file", check_missing_file(&t));
	report("test_rejects_empty_file_list", check_no_files());
	report("test_rejects_more_rules_than_rule_ids_in_all_files",
	       check_too_many_rules_in_all_files(&t));
	report("test_compile_error_names_the_file_of_the_rule", check_compile_error_names_file(&t));
	tmp_clean(&t);
	if (rmdir(t.path))
		perror(t.path);
}

/*
 * Verdicts. Each row is judged by the reference semantics and by the
 * compiled entries, and both must name the expected action and rule.
 */
struct verdict_case {
	const char *name;
	const char *policy;	/* NULL: the built-in default policy */
	const char *dst;	/* as a caller writes it, judged by addr_parse_dest */
	__u16 port;
	int ipproto;
	int action;
	const char *rule;	/* "defaultAction" when no rule matched */
};

/* Each longer prefix overrides the shorter one, whatever its action. */
#define P_NESTED RULES( \
	"{'name': 'deny-private', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}," \
	"{'name': 'allow-team', 'action': 'allow', 'cidrs': ['10.1.0.0/16']}," \
	"{'name': 'deny-db', 'action': 'deny', 'cidrs': ['10.1.2.0/24']}")
#define P_NESTED_REVERSED RULES( \
	"{'name': 'deny-db', 'action': 'deny', 'cidrs': ['10.1.2.0/24']}," \
	"{'name': 'allow-team', 'action': 'allow', 'cidrs': ['10.1.0.0/16']}," \
	"{'name': 'deny-private', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}")
#define P_TIE_ALLOW_FIRST RULES( \
	"{'name': 'allow-10', 'action': 'allow', 'cidrs': ['10.0.0.0/8']}," \
	"{'name': 'deny-10', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}")
#define P_TIE_DENY_FIRST RULES( \
	"{'name': 'deny-10', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}," \
	"{'name': 'allow-10', 'action': 'allow', 'cidrs': ['10.0.0.0/8']}")
/* The same /8 written mapped and plain: still a tie. */
#define P_TIE_MAPPED RULES( \
	"{'name': 'allow-mapped', 'action': 'allow', 'cidrs': ['::ffff:10.0.0.0/104']}," \
	"{'name': 'deny-10', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}")
#define P_TIE_PORTS RULES( \
	"{'name': 'allow-https', 'action': 'allow', 'cidrs': ['10.0.0.0/8'], " \
	"'ports': ['443', '8443'], 'protocols': ['tcp']}," \
	"{'name': 'deny-400s', 'action': 'deny', 'cidrs': ['10.0.0.0/8'], 'ports': ['400-499']}," \
	"{'name': 'deny-ssh', 'action': 'deny', 'cidrs': ['10.0.0.0/8'], 'ports': ['22']}")
#define P_WEB DOC(", 'defaultAction': 'deny', 'rules': [" \
	"{'name': 'web', 'action': 'allow', 'cidrs': ['0.0.0.0/0'], " \
	"'ports': ['80', '443', '8000-9000'], 'protocols': ['tcp']}]")
#define P_PORT_EDGES DOC(", 'defaultAction': 'deny', 'rules': [" \
	"{'name': 'edges', 'action': 'allow', 'cidrs': ['::/0'], 'ports': ['0', '65535']}]")
#define P_PROTOCOLS RULES( \
	"{'name': 'no-icmp', 'action': 'deny', 'cidrs': ['0.0.0.0/0'], 'protocols': ['icmp']}," \
	"{'name': 'no-icmp6', 'action': 'deny', 'cidrs': ['::/0'], 'protocols': ['icmp']}," \
	"{'name': 'no-udp', 'action': 'deny', 'cidrs': ['10.0.0.0/8'], 'protocols': ['udp']}")
#define P_ANY_PROTOCOL RULES( \
	"{'name': 'deny-all', 'action': 'deny', 'cidrs': ['0.0.0.0/0']}")
#define P_ALL_PORTS DOC(", 'defaultAction': 'deny', 'rules': [" \
	"{'name': 'all-ports', 'action': 'allow', 'cidrs': ['0.0.0.0/0'], 'ports': ['0-65535']}]")
#define P_EMPTY_DENY DOC(", 'defaultAction': 'deny'")
#define P_EMPTY_ALLOW DOC(", 'defaultAction': 'allow'")
#define P_IMDS RULE("'name': 'deny-imds', 'action': 'deny', 'cidrs': ['169.254.169.254/32']")
#define P_IMDS_MAPPED RULE("'name': 'deny-imds', 'action': 'deny', " \
	"'cidrs': ['::ffff:169.254.169.254/128']")
#define P_IMDS_NAT64 RULE("'name': 'deny-imds', 'action': 'deny', " \
	"'cidrs': ['64:ff9b::a9fe:a9fe/128']")
#define P_ALL_V6 RULE("'name': 'deny-v6', 'action': 'deny', 'cidrs': ['::/0']")
#define P_V6_95 RULE("'name': 'deny-95', 'action': 'deny', 'cidrs': ['::fffe:0:0/95']")
#define P_LOOPBACK RULES( \
	"{'name': 'deny-lo4', 'action': 'deny', 'cidrs': ['127.0.0.0/8']}," \
	"{'name': 'deny-lo6', 'action': 'deny', 'cidrs': ['::1/128']}")
#define P_DNS RULES( \
	"{'name': 'deny-private', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}," \
	"{'name': 'allow-dns', 'action': 'allow', 'cidrs': ['10.96.0.10/32'], " \
	"'ports': ['53'], 'protocols': ['udp']}")
/* Three levels, the middle one opening ports. */
#define P_THREE RULES( \
	"{'name': 'outer', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}," \
	"{'name': 'middle', 'action': 'allow', 'cidrs': ['10.1.0.0/16'], " \
	"'ports': ['443', '8000-8999'], 'protocols': ['tcp']}," \
	"{'name': 'inner', 'action': 'deny', 'cidrs': ['10.1.2.0/24']}")
/* The same, the inner level closing one port only. */
#define P_THREE_INNER_PORT RULES( \
	"{'name': 'outer', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}," \
	"{'name': 'middle', 'action': 'allow', 'cidrs': ['10.1.0.0/16'], " \
	"'ports': ['443', '8000-8999'], 'protocols': ['tcp']}," \
	"{'name': 'inner', 'action': 'deny', 'cidrs': ['10.1.2.0/24'], 'ports': ['443']}")
#define P_THREE6 RULES( \
	"{'name': 'outer6', 'action': 'deny', 'cidrs': ['fc00::/7']}," \
	"{'name': 'middle6', 'action': 'allow', 'cidrs': ['fd00:1::/32'], 'ports': ['443']}," \
	"{'name': 'inner6', 'action': 'deny', 'cidrs': ['fd00:1:2::/48'], " \
	"'ports': ['443'], 'protocols': ['udp']}")

/* Two siblings inside one range: neither sees the other's ports. */
#define P_SIBLINGS RULES( \
	"{'name': 'private', 'action': 'deny', 'cidrs': ['10.0.0.0/8']}," \
	"{'name': 'team-a', 'action': 'allow', 'cidrs': ['10.1.0.0/16'], 'ports': ['443']}," \
	"{'name': 'team-b', 'action': 'allow', 'cidrs': ['10.2.0.0/16'], 'ports': ['80']}")
/* Runs that start on the same port but end apart, per protocol. */
#define P_SPLIT_RUNS DOC(", 'defaultAction': 'deny', 'rules': [" \
	"{'name': 'web', 'action': 'allow', 'cidrs': ['10.0.0.0/8'], 'ports': ['80-100']}," \
	"{'name': 'dns', 'action': 'deny', 'cidrs': ['10.1.0.0/16'], 'ports': ['90-100'], " \
	"'protocols': ['udp']}]")

#define ALLOW ODSBPF_ALLOW
#define DENY ODSBPF_DENY
#define TCP IPPROTO_TCP
#define UDP IPPROTO_UDP
#define ICMP IPPROTO_ICMP
#define ICMP6 IPPROTO_ICMPV6
#define SCTP IPPROTO_SCTP

static const struct verdict_case verdict_cases[] = {
	/* longest prefix */
	{ "test_longest_prefix_wins_shortest_level", P_NESTED, "10.200.0.1", 80, TCP,
	  DENY, "deny-private" },
	{ "test_longest_prefix_wins_allow_inside_deny", P_NESTED, "10.1.200.1", 80, TCP,
	  ALLOW, "allow-team" },
	{ "test_longest_prefix_wins_deny_inside_allow", P_NESTED, "10.1.2.3", 80, TCP,
	  DENY, "deny-db" },
	{ "test_longest_prefix_wins_whatever_the_rule_order", P_NESTED_REVERSED, "10.1.200.1",
	  80, TCP, ALLOW, "allow-team" },
	{ "test_longest_prefix_wins_reversed_innermost", P_NESTED_REVERSED, "10.1.2.3", 80,
	  TCP, DENY, "deny-db" },
	{ "test_no_rule_matching_leaves_default_action", P_NESTED, "11.0.0.1", 80, TCP,
	  ALLOW, "defaultAction" },

	/* ties */
	{ "test_deny_wins_tie_when_listed_after_allow", P_TIE_ALLOW_FIRST, "10.0.0.1", 80, TCP,
	  DENY, "deny-10" },
	{ "test_deny_wins_tie_when_listed_before_allow", P_TIE_DENY_FIRST, "10.0.0.1", 80, TCP,
	  DENY, "deny-10" },
	{ "test_deny_wins_tie_with_mapped_form_of_same_prefix", P_TIE_MAPPED, "10.0.0.1", 80,
	  TCP, DENY, "deny-10" },
	{ "test_deny_wins_tie_on_shared_port", P_TIE_PORTS, "10.0.0.1", 443, TCP,
	  DENY, "deny-400s" },
	{ "test_allow_decides_tie_when_no_deny_matches_port", P_TIE_PORTS, "10.0.0.1", 8443,
	  TCP, ALLOW, "allow-https" },
	{ "test_tie_rules_each_match_their_own_ports", P_TIE_PORTS, "10.0.0.1", 22, UDP,
	  DENY, "deny-ssh" },
	{ "test_tie_with_no_matching_rule_leaves_default", P_TIE_PORTS, "10.0.0.1", 80, TCP,
	  ALLOW, "defaultAction" },

	/* ports and ranges */
	{ "test_port_in_list_matches", P_WEB, "198.51.100.10", 443, TCP, ALLOW, "web" },
	{ "test_port_range_start_matches", P_WEB, "198.51.100.10", 8000, TCP, ALLOW, "web" },
	{ "test_port_range_end_matches", P_WEB, "198.51.100.10", 9000, TCP, ALLOW, "web" },
	{ "test_port_range_inside_matches", P_WEB, "198.51.100.10", 8500, TCP, ALLOW, "web" },
	{ "test_port_below_range_does_not_match", P_WEB, "198.51.100.10", 7999, TCP,
	  DENY, "defaultAction" },
	{ "test_port_above_range_does_not_match", P_WEB, "198.51.100.10", 9001, TCP,
	  DENY, "defaultAction" },
	{ "test_port_next_to_single_port_does_not_match", P_WEB, "198.51.100.10", 81, TCP,
	  DENY, "defaultAction" },
	{ "test_port_rule_protocol_restricts_it", P_WEB, "198.51.100.10", 80, UDP,
	  DENY, "defaultAction" },
	{ "test_port_0_matches", P_PORT_EDGES, "2001:db8::1", 0, TCP, ALLOW, "edges" },
	{ "test_port_65535_matches", P_PORT_EDGES, "2001:db8::1", 65535, UDP, ALLOW, "edges" },
	{ "test_port_65534_does_not_match_65535", P_PORT_EDGES, "2001:db8::1", 65534, UDP,
	  DENY, "defaultAction" },
	{ "test_port_1_does_not_match_0", P_PORT_EDGES, "2001:db8::1", 1, TCP,
	  DENY, "defaultAction" },

	/* protocols */
	{ "test_icmp_rule_matches_icmp", P_PROTOCOLS, "198.51.100.10", 0, ICMP,
	  DENY, "no-icmp" },
	{ "test_icmp_rule_matches_icmpv6", P_PROTOCOLS, "2001:db8::1", 0, ICMP6,
	  DENY, "no-icmp6" },
	{ "test_icmp_rule_ignores_tcp", P_PROTOCOLS, "198.51.100.10", 80, TCP,
	  ALLOW, "defaultAction" },
	{ "test_protocol_list_ignores_other_protocols", P_PROTOCOLS, "198.51.100.10", 80, SCTP,
	  ALLOW, "defaultAction" },
	{ "test_udp_rule_matches_udp", P_PROTOCOLS, "10.0.0.1", 53, UDP, DENY, "no-udp" },
	{ "test_protocol_miss_falls_to_shorter_prefix", P_PROTOCOLS, "10.0.0.1", 0, ICMP,
	  DENY, "no-icmp" },
	{ "test_rule_without_protocols_matches_sctp", P_ANY_PROTOCOL, "198.51.100.10", 80,
	  SCTP, DENY, "deny-all" },
	{ "test_rule_with_ports_never_matches_icmp", P_ALL_PORTS, "198.51.100.10", 0, ICMP,
	  DENY, "defaultAction" },
	{ "test_rule_with_ports_never_matches_sctp", P_ALL_PORTS, "198.51.100.10", 80, SCTP,
	  DENY, "defaultAction" },
	{ "test_rule_with_ports_and_no_protocols_matches_tcp", P_ALL_PORTS, "198.51.100.10", 0,
	  TCP, ALLOW, "all-ports" },
	{ "test_rule_with_ports_and_no_protocols_matches_udp", P_ALL_PORTS, "198.51.100.10",
	  65535, UDP, ALLOW, "all-ports" },

	/* defaultAction */
	{ "test_default_action_deny_without_rules", P_EMPTY_DENY, "198.51.100.10", 443, TCP,
	  DENY, "defaultAction" },
	{ "test_default_action_allow_without_rules", P_EMPTY_ALLOW, "2001:db8::1", 443, TCP,
	  ALLOW, "defaultAction" },
	{ "test_rule_of_other_family_does_not_match", P_ALL_V6, "198.51.100.10", 443, TCP,
	  ALLOW, "defaultAction" },

	/* how destinations are judged */
	{ "test_mapped_destination_judged_as_ipv4", P_IMDS, "::ffff:169.254.169.254", 80, TCP,
	  DENY, "deny-imds" },
	{ "test_nat64_destination_judged_as_ipv4", P_IMDS, "64:ff9b::a9fe:a9fe", 80, TCP,
	  DENY, "deny-imds" },
	{ "test_nat64_neighbour_judged_as_its_ipv4", P_IMDS, "64:ff9b::a9fe:a9ff", 80, TCP,
	  ALLOW, "defaultAction" },
	{ "test_other_prefix_ending_in_ipv4_stays_ipv6", P_IMDS, "64:ff9c::a9fe:a9fe", 80, TCP,
	  ALLOW, "defaultAction" },
	{ "test_mapped_rule_covers_ipv4_destination", P_IMDS_MAPPED, "169.254.169.254", 80,
	  TCP, DENY, "deny-imds" },
	{ "test_nat64_rule_covers_ipv4_destination", P_IMDS_NAT64, "169.254.169.254", 80, TCP,
	  DENY, "deny-imds" },
	{ "test_nat64_rule_covers_mapped_destination", P_IMDS_NAT64, "::ffff:169.254.169.254",
	  80, TCP, DENY, "deny-imds" },
	{ "test_ipv6_default_route_misses_mapped_destination", P_ALL_V6, "::ffff:192.0.2.1",
	  443, TCP, ALLOW, "defaultAction" },
	{ "test_ipv6_prefix_shorter_than_96_misses_mapped_destination", P_V6_95,
	  "::ffff:10.0.0.1", 443, TCP, ALLOW, "defaultAction" },
	{ "test_ipv6_prefix_shorter_than_96_covers_its_ipv6", P_V6_95, "::fffe:10.0.0.1", 443,
	  TCP, DENY, "deny-95" },
	{ "test_ipv6_default_route_covers_ipv6_destination", P_ALL_V6, "2001:db8::1", 443, TCP,
	  DENY, "deny-v6" },
	{ "test_unspecified_ipv4_judged_as_loopback", P_LOOPBACK, "0.0.0.0", 80, TCP,
	  DENY, "deny-lo4" },
	{ "test_unspecified_ipv6_judged_as_loopback", P_LOOPBACK, "::", 80, TCP,
	  DENY, "deny-lo6" },
	{ "test_mapped_unspecified_judged_as_loopback", P_LOOPBACK, "::ffff:0.0.0.0", 80, UDP,
	  DENY, "deny-lo4" },

	/* siblings, and runs that differ per protocol */
	{ "test_sibling_prefix_does_not_lend_its_ports", P_SIBLINGS, "10.2.0.1", 443, TCP,
	  DENY, "private" },
	{ "test_sibling_prefix_keeps_its_own_ports", P_SIBLINGS, "10.2.0.1", 80, TCP,
	  ALLOW, "team-b" },
	{ "test_first_sibling_keeps_its_own_ports", P_SIBLINGS, "10.1.0.1", 80, TCP,
	  DENY, "private" },
	{ "test_inner_udp_run_splits_outer_range", P_SPLIT_RUNS, "10.1.0.1", 95, UDP,
	  DENY, "dns" },
	{ "test_inner_udp_run_leaves_tcp_range_whole", P_SPLIT_RUNS, "10.1.0.1", 95, TCP,
	  ALLOW, "web" },
	{ "test_inner_udp_run_leaves_udp_range_start", P_SPLIT_RUNS, "10.1.0.1", 85, UDP,
	  ALLOW, "web" },

	/* a DNS server opened inside a denied range */
	{ "test_dns_allow_inside_deny_allows_udp_53", P_DNS, "10.96.0.10", 53, UDP,
	  ALLOW, "allow-dns" },
	{ "test_dns_allow_inside_deny_denies_tcp_80", P_DNS, "10.96.0.10", 80, TCP,
	  DENY, "deny-private" },
	{ "test_dns_allow_inside_deny_denies_icmp", P_DNS, "10.96.0.10", 53, ICMP,
	  DENY, "deny-private" },
	{ "test_dns_allow_inside_deny_denies_tcp_53", P_DNS, "10.96.0.10", 53, TCP,
	  DENY, "deny-private" },
	{ "test_dns_allow_inside_deny_denies_udp_54", P_DNS, "10.96.0.10", 54, UDP,
	  DENY, "deny-private" },
	{ "test_dns_allow_inside_deny_denies_neighbour", P_DNS, "10.96.0.11", 53, UDP,
	  DENY, "deny-private" },
	{ "test_dns_allow_reached_through_mapped_form", P_DNS, "::ffff:10.96.0.10", 53, UDP,
	  ALLOW, "allow-dns" },

	/* three levels */
	{ "test_three_levels_middle_opens_its_port", P_THREE, "10.1.0.5", 443, TCP,
	  ALLOW, "middle" },
	{ "test_three_levels_middle_opens_its_range_end", P_THREE, "10.1.0.5", 8999, TCP,
	  ALLOW, "middle" },
	{ "test_three_levels_middle_miss_falls_to_outer", P_THREE, "10.1.0.5", 80, TCP,
	  DENY, "outer" },
	{ "test_three_levels_middle_protocol_miss_falls_to_outer", P_THREE, "10.1.0.5", 443,
	  UDP, DENY, "outer" },
	{ "test_three_levels_inner_overrides_middle_port", P_THREE, "10.1.2.5", 443, TCP,
	  DENY, "inner" },
	{ "test_three_levels_outside_middle_is_outer", P_THREE, "10.2.0.1", 443, TCP,
	  DENY, "outer" },
	{ "test_three_levels_inner_port_closes", P_THREE_INNER_PORT, "10.1.2.5", 443, TCP,
	  DENY, "inner" },
	{ "test_three_levels_inner_miss_falls_to_middle", P_THREE_INNER_PORT, "10.1.2.5", 8000,
	  TCP, ALLOW, "middle" },
	{ "test_three_levels_inner_and_middle_miss_fall_to_outer", P_THREE_INNER_PORT,
	  "10.1.2.5", 80, TCP, DENY, "outer" },
	{ "test_three_levels_ipv6_middle_opens_tcp", P_THREE6, "fd00:1:2::1", 443, TCP,
	  ALLOW, "middle6" },
	{ "test_three_levels_ipv6_inner_closes_udp", P_THREE6, "fd00:1:2::1", 443, UDP,
	  DENY, "inner6" },
	{ "test_three_levels_ipv6_miss_falls_to_outer", P_THREE6, "fd00:1:2::1", 80, TCP,
	  DENY, "outer6" },
	{ "test_three_levels_ipv6_outside_middle_is_outer", P_THREE6, "fd00:2::1", 443, TCP,
	  DENY, "outer6" },
};

/* policies/default.json, as built into the binary. */
static const struct verdict_case default_policy_cases[] = {
	{ "test_default_policy_denies_imds", NULL, "169.254.169.254", 80, TCP,
	  DENY, "deny-cloud-metadata" },
	{ "test_default_policy_denies_aws_imds_ipv6", NULL, "fd00:ec2::254", 80, TCP,
	  DENY, "deny-aws-imds-ipv6" },
	{ "test_default_policy_denies_mapped_imds", NULL, "::ffff:169.254.169.254", 80, TCP,
	  DENY, "deny-cloud-metadata" },
	{ "test_default_policy_denies_nat64_imds", NULL, "64:ff9b::a9fe:a9fe", 80, TCP,
	  DENY, "deny-cloud-metadata" },
	{ "test_default_policy_denies_rfc1918", NULL, "10.1.2.3", 443, TCP,
	  DENY, "deny-rfc1918" },
	{ "test_default_policy_denies_rfc6598", NULL, "100.64.0.1", 443, UDP,
	  DENY, "deny-rfc6598" },
	{ "test_default_policy_denies_loopback", NULL, "127.0.0.5", 8080, TCP,
	  DENY, "deny-loopback" },
	{ "test_default_policy_denies_ipv6_loopback", NULL, "::1", 8080, TCP,
	  DENY, "deny-loopback" },
	{ "test_default_policy_denies_unspecified_as_loopback", NULL, "0.0.0.0", 8080, TCP,
	  DENY, "deny-loopback" },
	{ "test_default_policy_denies_ipv6_unspecified_as_loopback", NULL, "::", 8080, TCP,
	  DENY, "deny-loopback" },
	{ "test_default_policy_denies_metadata_over_icmp", NULL, "169.254.169.254", 0, ICMP,
	  DENY, "deny-cloud-metadata" },
	{ "test_default_policy_allows_public_ipv4", NULL, "198.51.100.10", 443, TCP,
	  ALLOW, "defaultAction" },
	{ "test_default_policy_allows_public_ipv6", NULL, "2001:db8::1", 443, TCP,
	  ALLOW, "defaultAction" },
};

static const char *action_name(int action)
{
	return action == ODSBPF_DENY ? "deny" : action == ODSBPF_ALLOW ? "allow" : "?";
}

static bool verdict_is(const char *who, const struct policy *p, struct verdict v,
		       const struct verdict_case *c)
{
	const char *rule = policy_rule_name(p, v.rule_id);

	if (v.action == c->action && !strcmp(rule, c->rule))
		return true;
	return unmet("%s: expected %s by %s, got %s by %s", who, action_name(c->action),
		     c->rule, action_name(v.action), rule);
}

static bool check_verdict(const struct verdict_case *c)
{
	char err[POLICY_ERR_LEN] = "";
	struct compiled_policy cp;
	struct addr_prefix dst;
	struct policy p;
	__u8 proto = proto_class(c->ipproto);
	bool ok;

	if (addr_parse_dest(c->dst, &dst))
		return unmet("destination %s does not parse", c->dst);
	if (load_doc(c->policy, &p, err))
		return unmet("policy rejected: %s", err);
	if (compile_policy(&p, &cp, err, sizeof(err))) {
		policy_free(&p);
		return unmet("compile_policy: %s", err);
	}
	ok = verdict_is("policy_evaluate", &p,
			policy_evaluate(&p, &dst, c->port, proto), c) &&
	     verdict_is("compiled_lookup", &p,
			compiled_lookup(&cp, &dst, c->port, proto), c);
	compiled_free(&cp);
	policy_free(&p);
	return ok;
}

static void run_verdict_cases(const struct verdict_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		report(cases[i].name, check_verdict(&cases[i]));
}

/* Prefixes whose covering rules need more exceptions than the kernel scans. */
static const struct reject_case compile_reject_cases[] = {
	{ "test_compile_rejects_prefix_needing_17_port_exceptions",
	  DOC(", 'defaultAction': 'deny', 'rules': ["
	      "{'name': 'private', 'action': 'deny', 'cidrs': ['10.0.0.0/8']},"
	      "{'name': 'many', 'action': 'allow', 'cidrs': ['10.1.0.0/16'], "
	      "'ports': [" PORTS_17 "]}]"),
	  "p.json: rules[1].cidrs: 10.1.0.0/16: the rules covering this prefix need more than 16 port/protocol exceptions" },
	{ "test_compile_rejects_ipv6_prefix_needing_17_port_exceptions",
	  RULE("'name': 'many6', 'action': 'deny', 'cidrs': ['fd00:1::/32'], "
	       "'ports': [" PORTS_17 "]"),
	  "p.json: rules[0].cidrs: fd00:1::/32: the rules covering this prefix need more than 16 port/protocol exceptions" },
	{ "test_compile_rejects_exceptions_adding_up_over_levels",
	  DOC(", 'defaultAction': 'deny', 'rules': ["
	      "{'name': 'outer', 'action': 'allow', 'cidrs': ['10.0.0.0/8'], "
	      "'ports': ['2', '4', '6', '8', '10', '12', '14', '16', '18']},"
	      "{'name': 'inner', 'action': 'allow', 'cidrs': ['10.1.0.0/16'], "
	      "'ports': ['20', '22', '24', '26', '28', '30', '32', '34', '36']}]"),
	  "p.json: rules[1].cidrs: 10.1.0.0/16: the rules covering this prefix need more than 16 port/protocol exceptions" },
};

static bool check_compile_rejected(const char *doc, const char *want)
{
	char err[POLICY_ERR_LEN] = "";
	struct compiled_policy c;
	struct policy p;
	int ret;

	if (load_doc(doc, &p, err))
		return unmet("expected the policy accepted, got [%s]", err);
	ret = compile_policy(&p, &c, err, sizeof(err));
	if (!ret)
		compiled_free(&c);
	policy_free(&p);
	return rejected_with(ret, err, want);
}

static void run_compile_reject_cases(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(compile_reject_cases); i++) {
		const struct reject_case *c = &compile_reject_cases[i];

		report(c->name, check_compile_rejected(c->doc, c->err));
	}
}

/* 65 separate ports: 131 boundaries, past what the compiler tabulates. */
static void test_compile_rejects_prefix_with_too_many_port_boundaries(void)
{
	char doc[1024], *s;

	s = doc + sprintf(doc, "{'apiVersion': 'odsbpf/v1', 'rules': [{'name': 'wide', "
			  "'action': 'deny', 'cidrs': ['10.0.0.0/8'], 'ports': [");
	for (int port = 2; port <= 130; port += 2)
		s += sprintf(s, "%s'%d'", port > 2 ? ", " : "", port);
	strcpy(s, "]}]}");
	report(__func__, check_compile_rejected(doc,
		"p.json: rules[0].cidrs: 10.0.0.0/8: the rules covering this prefix need more than 16 port/protocol exceptions"));
}

/* Ports 2, 4, ... 32 allowed by rule 0 over TCP and UDP, the rest denied. */
static bool even_ports_decided(const struct policy *p, const struct compiled_policy *c)
{
	static const __u8 protos[] = { ODSBPF_PROTO_TCP, ODSBPF_PROTO_UDP, ODSBPF_PROTO_ICMP };
	struct addr_prefix dst;

	addr_parse_dest("10.0.0.7", &dst);
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		for (unsigned int port = 0; port <= 40; port++) {
			bool open = protos[i] != ODSBPF_PROTO_ICMP && port % 2 == 0 &&
				    port >= 2 && port <= 32;
			struct verdict want = open ? (struct verdict){ ODSBPF_ALLOW, 0 } :
				(struct verdict){ ODSBPF_DENY, ODSBPF_RULE_DEFAULT };
			struct verdict ref = policy_evaluate(p, &dst, port, protos[i]);
			struct verdict got = compiled_lookup(c, &dst, port, protos[i]);

			if (ref.action == want.action && ref.rule_id == want.rule_id &&
			    got.action == want.action && got.rule_id == want.rule_id)
				continue;
			return unmet("port %u protos 0x%x: expected %s by %s, got %s by %s (policy_evaluate), %s by %s (compiled_lookup)",
				     port, protos[i], action_name(want.action),
				     policy_rule_name(p, want.rule_id), action_name(ref.action),
				     policy_rule_name(p, ref.rule_id), action_name(got.action),
				     policy_rule_name(p, got.rule_id));
		}
	}
	return true;
}

/* Exactly ODSBPF_MAX_SEGMENTS exceptions fit, and decide as the rules do. */
static void test_compile_accepts_prefix_with_16_port_exceptions(void)
{
	char err[POLICY_ERR_LEN] = "";
	struct compiled_policy c;
	struct policy p = {};
	bool ok;

	if (load_doc(DOC(", 'defaultAction': 'deny', 'rules': [{'name': 'many', "
			 "'action': 'allow', 'cidrs': ['10.0.0.0/24'], 'ports': [" PORTS_16 "]}]"),
		     &p, err))
		ok = unmet("expected the policy accepted, got [%s]", err);
	else if (compile_policy(&p, &c, err, sizeof(err)))
		ok = unmet("expected it compiled, got [%s]", err);
	else {
		ok = even_ports_decided(&p, &c);
		compiled_free(&c);
	}
	policy_free(&p);
	report(__func__, ok);
}

/*
 * The property: for random small policies whose prefixes overlap, the
 * compiled entries decide every destination, port and protocol exactly as
 * the reference semantics do, action and rule alike.
 */
#define PROP_SEED	20260101
#define PROP_POLICIES	400
#define PROP_QUERIES	100

/*
 * Nested on purpose, in both families and in mapped and NAT64 form. The
 * first PROP_DENSE are one chain, for policies that pile rules up on it.
 */
#define PROP_DENSE 7
static const char *const prop_prefixes[] = {
	"0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/16", "::ffff:10.1.0.0/112", "10.1.2.0/24",
	"10.1.2.3/32", "64:ff9b::a01:203/128",
	"10.1.2.0/25", "10.1.2.128/25", "10.2.0.0/16", "169.254.169.254/32", "::/0",
	"fc00::/7", "fd00::/8", "fd00:1::/32", "fd00:1:2::/48", "fd00:1:2::3/128",
	"2001:db8::/32",
};

static const char *const prop_ports[] = {
	"0", "22", "53", "80", "123", "443", "65535", "1-1024", "443-8443", "3000-3999",
	"8000-9000", "80-80", "1024-65535",
};

/* Every edge of the ports above, from both sides. */
static const __u16 prop_probe_ports[] = {
	0, 1, 21, 22, 23, 52, 53, 54, 79, 80, 81, 122, 123, 124, 442, 443, 444, 1023, 1024,
	1025, 2999, 3000, 3999, 4000, 7999, 8000, 8443, 8444, 9000, 9001, 65534, 65535,
};

/* Destinations as callers write them, to be judged. */
static const char *const prop_dests[] = {
	"0.0.0.0", "::", "::ffff:10.1.2.3", "64:ff9b::a01:203", "::ffff:0.0.0.0", "127.0.0.1",
	"::1", "11.0.0.1", "fd00:1:2::3", "2001:db9::1", "169.254.169.254",
};

static const __u8 prop_protos[] = {
	ODSBPF_PROTO_TCP, ODSBPF_PROTO_UDP, ODSBPF_PROTO_ICMP, ODSBPF_PROTO_OTHER,
};

static struct addr_prefix prop_bases[ARRAY_SIZE(prop_prefixes)];

#define PICK(v) ((v)[rand() % ARRAY_SIZE(v)])

struct sbuf {
	char text[4096];
	size_t len;
};

__attribute__((format(printf, 2, 3)))
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	size_t room = sizeof(b->text) - b->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->text + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		abort();	/* the generator outgrew its buffer */
	b->len += n;
}

static void gen_ports(struct sbuf *b)
{
	int n = 1 + rand() % 4;

	sb_add(b, ", 'ports': [");
	for (int i = 0; i < n; i++)
		sb_add(b, "%s'%s'", i ? ", " : "", PICK(prop_ports));
	sb_add(b, "]");
}

/* A random non-empty set of protocols; icmp only in a rule without ports. */
static void gen_protocols(struct sbuf *b, bool with_ports)
{
	static const char *const names[] = { "tcp", "udp", "icmp" };
	int nr = with_ports ? 2 : 3;
	int set = 1 + rand() % ((1 << nr) - 1);
	const char *sep = "";

	sb_add(b, ", 'protocols': [");
	for (int i = 0; i < nr; i++) {
		if (!(set & (1 << i)))
			continue;
		sb_add(b, "%s'%s'", sep, names[i]);
		sep = ", ";
	}
	sb_add(b, "]");
}

/* A rule over one or two of the first span prefixes of the pool. */
static void gen_rule(struct sbuf *b, int id, int span)
{
	bool with_ports = rand() % 2;

	sb_add(b, "%s{'name': 'r%d', 'action': '%s', 'cidrs': ['%s'", id ? ", " : "", id,
	       rand() % 2 ? "deny" : "allow", prop_prefixes[rand() % span]);
	if (rand() % 3 == 0)
		sb_add(b, ", '%s'", prop_prefixes[rand() % span]);
	sb_add(b, "]");
	if (with_ports)
		gen_ports(b);
	if (rand() % 5 < 2)
		gen_protocols(b, with_ports);
	sb_add(b, "}");
}

static void gen_policy(struct sbuf *b, int span)
{
	int n = 1 + rand() % 16;

	b->len = 0;
	sb_add(b, "{'apiVersion': 'odsbpf/v1', 'defaultAction': '%s', 'rules': [",
	       rand() % 2 ? "deny" : "allow");
	for (int i = 0; i < n; i++)
		gen_rule(b, i, span);
	sb_add(b, "]}");
}

/*
 * A destination near the pool's prefixes: inside one, with random host
 * bits, sometimes just outside it (one prefix bit flipped), sometimes one
 * of the written forms that are judged differently.
 */
static void gen_dest(struct addr_prefix *d, int span)
{
	struct addr_prefix raw;
	int bits;

	if (rand() % 8 == 0) {
		addr_parse_dest(PICK(prop_dests), d);
		return;
	}
	raw = prop_bases[rand() % span];
	bits = raw.is4 ? 32 : 128;
	for (int i = raw.len; i < bits; i++)
		if (rand() % 2)
			raw.addr[i / 8] |= 0x80 >> (i % 8);
	if (raw.len && rand() % 4 == 0) {
		int i = rand() % raw.len;

		raw.addr[i / 8] ^= 0x80 >> (i % 8);
	}
	if (raw.is4)
		addr_judge4(raw.addr, d);
	else
		addr_judge6(raw.addr, d);
}

struct prop_stats {
	int policies, skipped, checks, by_rule, by_port_rule, most_segments;
};

static void count_segments(const struct compiled_policy *c, struct prop_stats *st)
{
	for (size_t i = 0; i < c->nr_v4; i++)
		if (c->v4[i].val.nr_segments > st->most_segments)
			st->most_segments = c->v4[i].val.nr_segments;
	for (size_t i = 0; i < c->nr_v6; i++)
		if (c->v6[i].val.nr_segments > st->most_segments)
			st->most_segments = c->v6[i].val.nr_segments;
}

static bool prop_query(const struct policy *p, const struct compiled_policy *c,
		       const char *doc, int span, struct prop_stats *st)
{
	__u16 port = rand() % 4 ? PICK(prop_probe_ports) : rand() % 65536;
	__u8 proto = PICK(prop_protos);
	struct verdict ref, got;
	struct addr_prefix d;
	char dst[ADDR_STRLEN];

	gen_dest(&d, span);
	ref = policy_evaluate(p, &d, port, proto);
	got = compiled_lookup(c, &d, port, proto);
	st->checks++;
	if (ref.rule_id != ODSBPF_RULE_DEFAULT) {
		st->by_rule++;
		st->by_port_rule += p->rules[ref.rule_id].nr_ports > 0;
	}
	if (ref.action == got.action && ref.rule_id == got.rule_id)
		return true;
	addr_format(&d, false, dst);
	return unmet("dst %s port %u protos 0x%x: expected (policy_evaluate) %s by %s, got (compiled_lookup) %s by %s; policy %s",
		     dst, port, proto, action_name(ref.action), policy_rule_name(p, ref.rule_id),
		     action_name(got.action), policy_rule_name(p, got.rule_id), doc);
}

/* Compile one random policy and query it; false with a counterexample. */
static bool prop_check_policy(const char *doc, int span, struct prop_stats *st)
{
	char err[POLICY_ERR_LEN] = "";
	struct compiled_policy c;
	struct policy p;
	bool ok = true;
	int ret;

	if (load_doc(doc, &p, err))
		return unmet("generated policy rejected: [%s]; policy %s", err, doc);
	ret = compile_policy(&p, &c, err, sizeof(err));
	if (ret) {
		policy_free(&p);
		if (ret == -EINVAL && strstr(err, "port/protocol exceptions")) {
			st->skipped++;
			return true;
		}
		return unmet("compile_policy: %d [%s]; policy %s", ret, err, doc);
	}
	count_segments(&c, st);
	for (int q = 0; ok && q < PROP_QUERIES; q++)
		ok = prop_query(&p, &c, doc, span, st);
	compiled_free(&c);
	policy_free(&p);
	return ok;
}

static void prop_parse_bases(void)
{
	char why_not[128];

	for (size_t i = 0; i < ARRAY_SIZE(prop_prefixes); i++) {
		if (addr_parse_prefix(prop_prefixes[i], &prop_bases[i], why_not, sizeof(why_not))) {
			fprintf(stderr, "test_policy: %s: %s\n", prop_prefixes[i], why_not);
			abort();
		}
	}
}

static void test_compiled_lookup_matches_reference_on_random_policies(void)
{
	struct prop_stats st = {};
	struct sbuf b;
	bool ok = true;

	srand(PROP_SEED);
	prop_parse_bases();
	for (int i = 0; ok && i < PROP_POLICIES; i++) {
		/* half pile up on one chain, half spread over the whole pool */
		int span = i % 2 ? PROP_DENSE : (int)ARRAY_SIZE(prop_prefixes);

		gen_policy(&b, span);
		st.policies++;
		ok = prop_check_policy(b.text, span, &st);
	}
	fprintf(stderr, "test_policy: property: %d policies, %d skipped, %d checks, %d decided by a rule, %d by a rule with ports, at most %d segments\n",
		st.policies, st.skipped, st.checks, st.by_rule, st.by_port_rule, st.most_segments);
	if (ok && st.skipped * 2 > st.policies)
		ok = unmet("expected at most half of %d policies skipped for too many exceptions, got %d",
			   st.policies, st.skipped);
	else if (ok && (st.by_rule * 4 < st.checks || st.by_port_rule * 20 < st.checks))
		ok = unmet("expected a quarter of %d checks decided by a rule and a twentieth by a rule with ports, got %d and %d",
			   st.checks, st.by_rule, st.by_port_rule);
	report(__func__, ok);
}

/* Some editors start UTF-8 files with a byte-order mark: it is skipped. */
static bool check_accepts_bom(void)
{
	char err[POLICY_ERR_LEN] = "";
	struct policy p;

	if (policy_load_text("p.json", "\xef\xbb\xbf{\"apiVersion\": \"odsbpf/v1\"}", &p,
			     err, sizeof(err)))
		return unmet("rejected: %s", err);
	policy_free(&p);
	return true;
}

/* A resolver that knows two names, for the hosts tests. */
static const char *fake_api_address = "198.51.100.10";

static int fake_resolver(const char *name, struct addr_prefix **out, size_t *n)
{
	const char *addr = !strcmp(name, "api.example") ? fake_api_address :
			   !strcmp(name, "v6.example") ? "2001:db8::7" : NULL;

	*n = 0;
	*out = calloc(1, sizeof(**out));
	if (!addr || !*out || addr_parse_dest(addr, *out)) {
		free(*out);
		*out = NULL;
		return -ENOENT;
	}
	*n = 1;
	return 0;
}

/* Resolved hosts join their rule; unresolved ones add nothing; changes show. */
static bool check_hosts_join_their_rule(void)
{
	const char *doc = RULES("{'name': 'deny-api', 'action': 'deny',"
				" 'hosts': ['api.example', 'v6.example', 'nowhere.example']}");
	struct addr_prefix api, v6, other;
	struct compiled_policy c;
	char err[POLICY_ERR_LEN];
	struct verdict v;
	struct policy p;
	bool ok = true;

	addr_parse_dest("198.51.100.10", &api);
	addr_parse_dest("2001:db8::7", &v6);
	addr_parse_dest("198.51.100.11", &other);
	if (load_doc(doc, &p, err))
		return unmet("load: %s", err);
	hosts_set_resolver(fake_resolver);
	if (!hosts_resolve_policy(&p, false))
		ok = unmet("first resolution reported no change");
	else if (hosts_resolve_policy(&p, false))
		ok = unmet("the same answers reported a change");
	if (ok && compile_policy(&p, &c, err, sizeof(err)))
		ok = unmet("compile: %s", err);
	if (ok) {
		v = compiled_lookup(&c, &api, 443, ODSBPF_PROTO_TCP);
		if (v.action != ODSBPF_DENY || v.rule_id != 0)
			ok = unmet("api.example's address not denied by the rule");
		v = compiled_lookup(&c, &v6, 443, ODSBPF_PROTO_TCP);
		if (ok && v.action != ODSBPF_DENY)
			ok = unmet("v6.example's address not denied");
		v = compiled_lookup(&c, &other, 443, ODSBPF_PROTO_TCP);
		if (ok && v.action != ODSBPF_ALLOW)
			ok = unmet("a neighbour of the resolved address was denied");
		compiled_free(&c);
	}
	fake_api_address = "198.51.100.12";
	if (ok && !hosts_resolve_policy(&p, false))
		ok = unmet("a new address was not reported as a change");
	hosts_set_resolver(NULL);
	fake_api_address = "198.51.100.10";
	policy_free(&p);
	return ok;
}

int main(void)
{
	run_reject_cases();
	test_rejects_more_rules_than_rule_ids();
	test_rejected_load_leaves_output_untouched();
	test_minimal_policy_enforces_and_allows_by_default();
	test_accepts_audit_mode_and_deny_default();
	test_accepts_port_bounds_and_ranges();
	run_proto_cases();
	test_accepts_names_of_63_lowercase_digits_dash_underscore_dot();
	test_accepts_exemptions_by_namespace();
	run_prefix_cases();
	run_dest_cases();
	run_files_cases();

	run_verdict_cases(verdict_cases, ARRAY_SIZE(verdict_cases));
	run_verdict_cases(default_policy_cases, ARRAY_SIZE(default_policy_cases));

	run_compile_reject_cases();
	test_compile_rejects_prefix_with_too_many_port_boundaries();
	test_compile_accepts_prefix_with_16_port_exceptions();
	test_compiled_lookup_matches_reference_on_random_policies();
	report("test_hosts_join_their_rule_and_changes_are_seen",
	       check_hosts_join_their_rule());
	report("test_accepts_a_byte_order_mark", check_accepts_bom());
	return nr_failed ? 1 : 0;
}
