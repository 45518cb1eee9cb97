// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * odsbpf status: what is loaded and attached (read from the pins, so it
 * works while no agent runs), the policy in force, map fill, counters,
 * and the kernel features the agent found.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "agent_state.h"
#include "commands.h"
#include "log.h"
#include "odsbpf.h"

#define DEFAULT_PIN_ROOT "/sys/fs/bpf/odsbpf"

static const char status_help[] =
"usage: odsbpf status [--pin-root DIR] [--state-dir DIR] [-o text|json]\n"
"\n"
"Show what odsbpf has loaded and attached (from its pins, whether or not\n"
"an agent runs), the policy in force, how full the policy maps are, the\n"
"counters, and the kernel features the agent probed.\n"
"\n"
"  --pin-root DIR        bpffs directory of the pins (default " DEFAULT_PIN_ROOT ")\n"
"  --state-dir DIR       the agent's state (default " DEFAULT_STATE_DIR ")\n"
"  -o, --output FORMAT   text (default) or json\n"
"\n"
"exit status: 0 when every hook is attached, 1 when some is not, 3 when\n"
"nothing is pinned.\n"
"\n"
"examples:\n"
"  odsbpf status\n"
"  odsbpf status -o json | jq .counters\n";

static const char *const counter_names[ODSBPF_CNT_MAX] = {
	[ODSBPF_CNT_ALLOWED] = "allowed",
	[ODSBPF_CNT_DENIED] = "denied",
	[ODSBPF_CNT_AUDITED] = "audited",
	[ODSBPF_CNT_EVENTS_LOST] = "events_lost",
	[ODSBPF_CNT_NO_POLICY] = "no_policy",
	[ODSBPF_CNT_EXEMPT] = "exempt",
	[ODSBPF_CNT_SUPPRESSED] = "suppressed",
	[ODSBPF_CNT_SKB_ALLOWED] = "cgroup_skb_allowed",
	[ODSBPF_CNT_SKB_DENIED] = "cgroup_skb_denied",
	[ODSBPF_CNT_SKB_AUDITED] = "cgroup_skb_audited",
	[ODSBPF_CNT_SKB_NEIGHBOUR] = "cgroup_skb_neighbour",
	[ODSBPF_CNT_SKB_REPLY] = "cgroup_skb_reply",
	[ODSBPF_CNT_SKB_UNPARSEABLE] = "cgroup_skb_unparseable",
	[ODSBPF_CNT_SKB_TOO_DEEP] = "cgroup_skb_too_deep",
	[ODSBPF_CNT_SKB_SOURCE_ROUTED] = "cgroup_skb_source_routed",
	[ODSBPF_CNT_SKB_UNSUPPORTED] = "cgroup_skb_unsupported",
	[ODSBPF_CNT_XDP_ALLOWED] = "xdp_allowed",
	[ODSBPF_CNT_XDP_DENIED] = "xdp_denied",
	[ODSBPF_CNT_XDP_AUDITED] = "xdp_audited",
	[ODSBPF_CNT_XDP_NEIGHBOUR] = "xdp_neighbour",
	[ODSBPF_CNT_XDP_REPLY] = "xdp_reply",
	[ODSBPF_CNT_XDP_UNPARSEABLE] = "xdp_unparseable",
	[ODSBPF_CNT_XDP_TOO_DEEP] = "xdp_too_deep",
	[ODSBPF_CNT_XDP_SOURCE_ROUTED] = "xdp_source_routed",
	[ODSBPF_CNT_XDP_UNSUPPORTED] = "xdp_unsupported",
};

static const char *const hook_names[] = { "connect4", "connect6", "sendmsg4",
					  "sendmsg6", "cgroup_skb_egress" };

struct status_opts {
	const char *pin_root;
	const char *state_dir;
	bool json;
};

static int parse_status_opts(int argc, char **argv, struct status_opts *o)
{
	static const struct option longopts[] = {
		{ "pin-root", required_argument, NULL, 'P' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	o->pin_root = DEFAULT_PIN_ROOT;
	o->state_dir = DEFAULT_STATE_DIR;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'P': o->pin_root = optarg; break;
		case 'S': o->state_dir = optarg; break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "text")) {
				pr_err("status: -o \"%s\": expected text or json", optarg);
				return EXIT_USAGE;
			}
			o->json = !strcmp(optarg, "json");
			break;
		case 'h':
			fputs(status_help, stdout);
			return EXIT_OK;
		default:
			bad_option("status", argv);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		pr_err("status: unexpected argument \"%s\"", argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

/* One pinned link: its program and the cgroup it is attached to. */
static json_t *link_json(const char *pin_dir, const char *hook)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/link_%s", pin_dir, hook);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return json_pack("{s:s, s:b}", "hook", hook, "attached", 0);
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return json_pack("{s:s, s:b}", "hook", hook, "attached", 0);
	}
	close(fd);
	return json_pack("{s:s, s:b, s:i, s:I}", "hook", hook, "attached", 1,
			 "prog_id", info.prog_id, "cgroup_id",
			 (json_int_t)info.cgroup.cgroup_id);
}

static int open_pinned(const char *pin_dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return bpf_obj_get(path);
}

static long count_keys(int fd, size_t key_size)
{
	unsigned char key[32], next[32];
	void *prev = NULL;
	long n = 0;

	if (key_size > sizeof(key))
		return -1;
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		n++;
	}
	return n;
}

/* Entries of the active generation's trie of one family, by capacity. */
static json_t *fill_json(const char *pin_dir, const char *outer, size_t key_size)
{
	int active_fd = open_pinned(pin_dir, "odsbpf_active");
	int outer_fd = open_pinned(pin_dir, outer);
	struct odsbpf_active active = {};
	__u32 zero = 0, inner_id;
	long used = -1;
	int fd;

	if (active_fd >= 0 && outer_fd >= 0 &&
	    !bpf_map_lookup_elem(active_fd, &zero, &active) &&
	    !bpf_map_lookup_elem(outer_fd, &active.gen, &inner_id)) {
		fd = bpf_map_get_fd_by_id(inner_id);
		if (fd >= 0) {
			used = count_keys(fd, key_size);
			close(fd);
		}
	}
	if (active_fd >= 0)
		close(active_fd);
	if (outer_fd >= 0)
		close(outer_fd);
	return json_pack("{s:I, s:i}", "entries", (json_int_t)used, "capacity",
			 ODSBPF_MAX_PREFIXES);
}

static json_t *counters_json(const char *pin_dir)
{
	int ncpu = libbpf_num_possible_cpus(), fd = open_pinned(pin_dir, "odsbpf_counters");
	json_t *out = json_object();

	if (fd < 0 || ncpu <= 0)
		goto done;
	for (__u32 i = 0; i < ODSBPF_CNT_MAX; i++) {
		__u64 vals[ncpu], sum = 0;
		char fallback[32];

		if (bpf_map_lookup_elem(fd, &i, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			sum += vals[c];
		snprintf(fallback, sizeof(fallback), "counter_%u", i);
		json_object_set_new(out, counter_names[i] ? counter_names[i] : fallback,
				    json_integer(sum));
	}
done:
	if (fd >= 0)
		close(fd);
	return out;
}

static json_t *agent_json(const char *state_dir)
{
	char path[512];
	json_error_t jerr;
	json_t *state;

	snprintf(path, sizeof(path), "%s/status.json", state_dir);
	state = json_load_file(path, 0, &jerr);
	if (!state)
		return json_pack("{s:b, s:s}", "running", 0, "state",
				 "no status.json here: is --state-dir right?");
	json_object_set_new(state, "running", json_boolean(
		!kill(json_integer_value(json_object_get(state, "pid")), 0)));
	return state;
}

static void print_text(json_t *st)
{
	json_t *agent = json_object_get(st, "agent"), *pol = json_object_get(agent, "policy");
	json_t *links = json_object_get(st, "hooks"), *v;
	const char *key;
	size_t i;

	printf("pins:     %s\n", json_string_value(json_object_get(st, "pin_dir")));
	printf("agent:    %s", json_is_true(json_object_get(agent, "running")) ? "running" :
	       json_object_get(agent, "state") ? json_string_value(json_object_get(agent, "state")) :
	       "not running (the pinned programs go on enforcing)");
	if (json_object_get(agent, "pid"))
		printf(" (pid %lld, cgroup %s)", json_integer_value(json_object_get(agent, "pid")),
		       json_string_value(json_object_get(agent, "cgroup")));
	printf("\n");
	if (pol)
		printf("policy:   id %lld, %lld rules, mode %s, %s, loaded %s from %s\n          sha256 %s\n",
		       json_integer_value(json_object_get(pol, "id")),
		       json_integer_value(json_object_get(pol, "rules")),
		       json_string_value(json_object_get(pol, "mode")),
		       json_is_true(json_object_get(pol, "signed")) ? "signed" : "unsigned",
		       json_string_value(json_object_get(pol, "loaded_at")),
		       json_string_value(json_object_get(pol, "source")),
		       json_string_value(json_object_get(pol, "hash")));
	json_array_foreach(links, i, v) {
		printf("hook:     %-18s ", json_string_value(json_object_get(v, "hook")));
		if (json_is_true(json_object_get(v, "attached")))
			printf("attached, prog %lld, cgroup id %lld\n",
			       json_integer_value(json_object_get(v, "prog_id")),
			       json_integer_value(json_object_get(v, "cgroup_id")));
		else
			printf("not attached\n");
	}
	json_array_foreach(json_object_get(agent, "xdp"), i, v)
		printf("xdp:      %-18s ifindex %lld, %s mode\n",
		       json_string_value(json_object_get(v, "interface")),
		       json_integer_value(json_object_get(v, "ifindex")),
		       json_string_value(json_object_get(v, "mode")));
	json_object_foreach(json_object_get(st, "maps"), key, v)
		printf("map:      %-18s %lld of %lld entries\n", key,
		       json_integer_value(json_object_get(v, "entries")),
		       json_integer_value(json_object_get(v, "capacity")));
	json_object_foreach(json_object_get(st, "counters"), key, v)
		printf("counter:  %-26s %lld\n", key, json_integer_value(v));
	json_object_foreach(json_object_get(agent, "kernel_features"), key, v) {
		if (json_is_string(v))
			printf("kernel:   %s\n", json_string_value(v));
		else
			printf("feature:  %-18s %-4s %s\n", key,
			       json_is_true(json_object_get(v, "ok")) ? "yes" : "NO",
			       json_string_value(json_object_get(v, "why")));
	}
}

int cmd_status(int argc, char **argv)
{
	struct status_opts o = {};
	char pin_dir[256];
	json_t *st, *hooks;
	int ret, attached = 0;

	ret = parse_status_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;
	snprintf(pin_dir, sizeof(pin_dir), "%s/v%d", o.pin_root, ODSBPF_LAYOUT_VERSION);
	if (access(pin_dir, F_OK)) {
		if (o.json)
			printf("{\"error\": \"nothing pinned in %s\"}\n", pin_dir);
		else
			pr_err("status: nothing pinned in %s: no agent has run here (or --pin-root differs)",
			       pin_dir);
		return EXIT_FAILED;
	}

	hooks = json_array();
	for (size_t i = 0; i < sizeof(hook_names) / sizeof(hook_names[0]); i++) {
		json_t *l = link_json(pin_dir, hook_names[i]);

		attached += json_is_true(json_object_get(l, "attached"));
		json_array_append_new(hooks, l);
	}
	st = json_pack("{s:s, s:i, s:o, s:o, s:{s:o, s:o}, s:o}", "pin_dir", pin_dir,
		       "layout_version", ODSBPF_LAYOUT_VERSION, "agent", agent_json(o.state_dir),
		       "hooks", hooks, "maps",
		       "policy_ipv4", fill_json(pin_dir, "odsbpf_pol4", sizeof(struct odsbpf_lpm4_key)),
		       "policy_ipv6", fill_json(pin_dir, "odsbpf_pol6", sizeof(struct odsbpf_lpm6_key)),
		       "counters", counters_json(pin_dir));
	if (o.json) {
		json_dumpf(st, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		print_text(st);
	}
	json_decref(st);
	/* The four socket hooks are required; cgroup_skb is optional. */
	return attached >= 4 ? EXIT_OK : EXIT_REJECTED;
}
