// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/* odsbpf policy check | explain: validate and question policy files. */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "addr.h"
#include "commands.h"
#include "log.h"
#include "policy_source.h"

static const char policy_help[] =
"usage: odsbpf policy check FILE...\n"
"       odsbpf policy explain FILE... --dst IP[:PORT] [--proto tcp|udp|icmp] [-o text|json]\n"
"       odsbpf policy sign FILE... [--key-file KEY]\n"
"\n"
"check    validate and compile FILEs (merged as the agent merges them);\n"
"         exit 0 when valid, 1 with one located error line when not\n"
"explain  the verdict for one destination and the rule that decides it,\n"
"         computed from the compiled maps the kernel would use\n"
"sign     write FILE.sig, the HMAC-SHA256 of FILE under the key (from\n"
"         --key-file, else $ODSBPF_POLICY_KEY; at least 32 characters)\n"
"\n"
"  -d, --dst IP[:PORT]   destination; IPv6 with a port as [ADDR]:PORT\n"
"  -P, --proto P         tcp (default), udp or icmp\n"
"  -o, --output FORMAT   text (default) or json\n"
"  -k, --key-file FILE   sign: the key, first line of FILE\n"
"\n"
"examples:\n"
"  odsbpf policy check policies/default.json\n"
"  odsbpf policy explain policies/default.json --dst 169.254.169.254:80\n"
"  odsbpf policy explain base.json dns.json --dst 10.96.0.10:53 --proto udp\n"
"  odsbpf policy sign policies/default.json --key-file /etc/odsbpf/key\n";

struct policy_opts {
	const char *dst;
	const char *proto;
	const char *key_file;
	bool json;
	char **files;
	size_t nr_files;
};

static int parse_policy_opts(int argc, char **argv, struct policy_opts *o)
{
	static const struct option longopts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "proto", required_argument, NULL, 'P' },
		{ "output", required_argument, NULL, 'o' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, "d:P:o:k:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->dst = optarg; break;
		case 'P': o->proto = optarg; break;
		case 'k': o->key_file = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				pr_err("policy: -o \"%s\": expected text or json", optarg);
				return EXIT_USAGE;
			}
			o->json = !strcmp(optarg, "json");
			break;
		case 'v': verbose_more(); break;
		case 'h':
			fputs(policy_help, stdout);
			return EXIT_OK;
		default:
			bad_option("policy", argv);
			return EXIT_USAGE;
		}
	}
	o->files = argv + optind;
	o->nr_files = argc - optind;
	if (!o->nr_files) {
		pr_err("policy: no policy file given");
		return EXIT_USAGE;
	}
	return -1;
}

static int policy_check(struct policy_opts *o)
{
	struct compiled_policy c;
	struct policy pol;

	/* A check validates; it does not ask DNS about the hosts. */
	if (load_policy(o->files, o->nr_files, false, &pol, &c))
		return EXIT_REJECTED;
	printf("ok: %zu rule%s; %zu IPv4 and %zu IPv6 trie entries (with the /0 entry that carries defaultAction); mode %s, defaultAction %s\n",
	       pol.nr_rules, pol.nr_rules == 1 ? "" : "s", c.nr_v4, c.nr_v6,
	       pol.mode == ODSBPF_MODE_AUDIT ? "audit" : "enforce",
	       pol.default_action == ODSBPF_DENY ? "deny" : "allow");
	compiled_free(&c);
	policy_free(&pol);
	return EXIT_OK;
}

/* "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80" -> address text and port. */
static int split_dst(const char *dst, char *addr, size_t len, long *port)
{
	const char *colon, *end = NULL;
	char *stop;

	*port = -1;
	if (dst[0] == '[') {
		end = strchr(dst, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -1;
		colon = end[1] ? end + 1 : NULL;
		dst++;
	} else {
		colon = strchr(dst, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;	/* bare IPv6, no port */
		end = colon;
	}
	if (!end)
		end = dst + strlen(dst);
	if ((size_t)(end - dst) >= len)
		return -1;
	memcpy(addr, dst, end - dst);
	addr[end - dst] = '\0';
	if (colon) {
		*port = strtol(colon + 1, &stop, 10);
		if (!colon[1] || *stop || *port < 0 || *port > 65535)
			return -1;
	}
	return 0;
}

static int parse_proto(const char *name, __u8 *out)
{
	if (!name || !strcmp(name, "tcp"))
		*out = ODSBPF_PROTO_TCP;
	else if (!strcmp(name, "udp"))
		*out = ODSBPF_PROTO_UDP;
	else if (!strcmp(name, "icmp"))
		*out = ODSBPF_PROTO_ICMP;
	else
		return -1;
	return 0;
}

static void print_explain(const struct policy_opts *o, const struct policy *pol,
			  const struct addr_prefix *judged, long port,
			  struct verdict v)
{
	const char *action = v.action == ODSBPF_DENY ? "deny" : "allow";
	const char *rule = policy_rule_name(pol, v.rule_id);
	char judged_text[ADDR_STRLEN];

	addr_format(judged, false, judged_text);
	if (o->json) {
		json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "dst", o->dst,
					"judged_as", judged_text, "verdict", action,
					"rule", rule);

		if (v.rule_id < pol->nr_rules) {
			json_object_set_new(out, "file", json_string(pol->rules[v.rule_id].file));
			json_object_set_new(out, "index", json_integer(pol->rules[v.rule_id].index));
		}
		json_object_set_new(out, "mode", json_string(
			pol->mode == ODSBPF_MODE_AUDIT ? "audit" : "enforce"));
		json_dumpf(out, stdout, JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(out);
		return;
	}
	printf("%s %s", action, judged_text);
	if (port >= 0)
		printf(" port %ld", port);
	if (v.rule_id < pol->nr_rules)
		printf(": rule \"%s\" (%s rules[%zu])\n", rule,
		       pol->rules[v.rule_id].file, pol->rules[v.rule_id].index);
	else
		printf(": no rule matches, defaultAction decides\n");
	if (pol->mode == ODSBPF_MODE_AUDIT && v.action == ODSBPF_DENY)
		printf("audit mode: let through and logged as audited\n");
}

static int policy_explain(struct policy_opts *o)
{
	struct compiled_policy c;
	struct addr_prefix judged;
	struct policy pol;
	char addr[ADDR_STRLEN];
	struct verdict v;
	long port;
	__u8 proto;

	if (!o->dst) {
		pr_err("policy explain: --dst IP[:PORT] is required");
		return EXIT_USAGE;
	}
	if (split_dst(o->dst, addr, sizeof(addr), &port) ||
	    addr_parse_dest(addr, &judged)) {
		pr_err("policy explain: --dst \"%s\": expected IP, IP:PORT or [IPv6]:PORT", o->dst);
		return EXIT_USAGE;
	}
	if (parse_proto(o->proto, &proto)) {
		pr_err("policy explain: --proto \"%s\": expected tcp, udp or icmp", o->proto);
		return EXIT_USAGE;
	}
	if (load_policy(o->files, o->nr_files, true, &pol, &c))
		return EXIT_REJECTED;

	v = compiled_lookup(&c, &judged, port < 0 ? 0 : port, proto);
	print_explain(o, &pol, &judged, port, v);
	compiled_free(&c);
	policy_free(&pol);
	return EXIT_OK;
}

/* Sign each file; the key's length is checked as the agent checks it. */
static int policy_sign(struct policy_opts *o)
{
	char err[POLICY_ERR_LEN];
	char *key = policy_key_load(o->key_file, err, sizeof(err));

	if (!key) {
		pr_err("policy sign: %s", err);
		return EXIT_USAGE;
	}
	/* A signature vouches for a policy: an invalid one is not signed. */
	for (size_t i = 0; i < o->nr_files; i++) {
		struct compiled_policy c;
		struct policy pol;

		if (load_policy(&o->files[i], 1, false, &pol, &c)) {
			pr_err("policy sign: %s is not a valid policy; nothing signed", o->files[i]);
			free(key);
			return EXIT_REJECTED;
		}
		compiled_free(&c);
		policy_free(&pol);
	}
	for (size_t i = 0; i < o->nr_files; i++) {
		if (policy_sign_file(o->files[i], key, err, sizeof(err))) {
			pr_err("policy sign: %s", err);
			free(key);
			return EXIT_FAILED;
		}
		printf("signed %s -> %s%s\n", o->files[i], o->files[i], POLICY_SIG_SUFFIX);
	}
	free(key);
	return EXIT_OK;
}

int cmd_policy(int argc, char **argv)
{
	struct policy_opts o = {};
	const char *sub;
	int ret;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(policy_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	sub = argv[1];
	if (strcmp(sub, "check") && strcmp(sub, "explain") && strcmp(sub, "sign")) {
		pr_err("policy: unknown subcommand \"%s\"; expected check, explain or sign", sub);
		return EXIT_USAGE;
	}
	ret = parse_policy_opts(argc - 1, argv + 1, &o);
	if (ret >= 0)
		return ret;
	if (!strcmp(sub, "check"))
		return policy_check(&o);
	if (!strcmp(sub, "explain"))
		return policy_explain(&o);
	if (!strcmp(sub, "sign"))
		return policy_sign(&o);
	pr_err("policy: unknown subcommand \"%s\"; expected check, explain or sign", sub);
	return EXIT_USAGE;
}
