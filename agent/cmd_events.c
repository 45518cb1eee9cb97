// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/* odsbpf events: read the audit log, as JSON lines or as a table. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "commands.h"
#include "log.h"

static const char events_help[] =
"usage: odsbpf events [--audit-log FILE] [-o table|json]\n"
"\n"
"Print the events of the audit log, oldest first.\n"
"\n"
"  -l, --audit-log FILE  the log to read (default " DEFAULT_AUDIT_LOG ")\n"
"  -o, --output FORMAT   table (default) or json (one object per line)\n"
"  -h, --help            this help\n"
"\n"
"examples:\n"
"  odsbpf events\n"
"  odsbpf events -o json --audit-log /tmp/denials.log | jq .metadata.rule\n";

struct events_opts {
	const char *audit_log;
	bool json;
};

static int parse_events_opts(int argc, char **argv, struct events_opts *o)
{
	static const struct option longopts[] = {
		{ "audit-log", required_argument, NULL, 'l' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	o->audit_log = DEFAULT_AUDIT_LOG;
	while ((c = getopt_long(argc, argv, "l:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			o->audit_log = optarg;
			break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "table")) {
				pr_err("events: -o \"%s\": expected table or json", optarg);
				return EXIT_USAGE;
			}
			o->json = !strcmp(optarg, "json");
			break;
		case 'h':
			fputs(events_help, stdout);
			return EXIT_OK;
		default:
			fputs("see 'odsbpf events --help'\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		pr_err("events: unexpected argument \"%s\"", argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

static const char *str_field(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "-";
}

/* "2026-01-01T00:00:00.123456789Z" -> "2026-01-01T00:00:00.123Z" */
static void short_time(const char *ts, char *buf, size_t len)
{
	const char *dot = strchr(ts, '.');

	if (dot && strlen(dot) > 4)
		snprintf(buf, len, "%.*sZ", (int)(dot - ts + 4), ts);
	else
		snprintf(buf, len, "%s", ts);
}

/* IPv6 destinations print as [addr]:port, as a URL would write them. */
static void format_dest(json_t *m, char *buf, size_t len)
{
	const char *ip = str_field(m, "dst_ip");
	json_t *port = json_object_get(m, "dst_port");

	if (!json_is_integer(port))
		snprintf(buf, len, "%s", ip);
	else if (strchr(ip, ':'))
		snprintf(buf, len, "[%s]:%lld", ip, json_integer_value(port));
	else
		snprintf(buf, len, "%s:%lld", ip, json_integer_value(port));
}

static void print_row(json_t *ev)
{
	json_t *m = json_object_get(ev, "metadata");
	const char *action = str_field(ev, "action");
	char when[40], dest[80], process[48];

	short_time(str_field(ev, "timestamp"), when, sizeof(when));
	if (!strncmp(action, "egress.", 7)) {
		format_dest(m, dest, sizeof(dest));
		snprintf(process, sizeof(process), "%.24s[%lld]", str_field(m, "comm"),
			 json_integer_value(json_object_get(m, "pid")));
	} else {
		/* the agent's own lines: what they concern instead of a destination */
		snprintf(dest, sizeof(dest), "%.30s", json_object_get(m, "source") ?
			 str_field(m, "source") : str_field(m, "cgroup"));
		snprintf(process, sizeof(process), "odsbpf[%lld]",
			 json_integer_value(json_object_get(m, "pid")));
	}
	printf("%-24s %-8s %-16s %-6s %-30s %-28s %s\n", when,
	       str_field(ev, "status"), action, str_field(m, "protocol"), dest,
	       process, str_field(m, "rule"));
}

int cmd_events(int argc, char **argv)
{
	struct events_opts o = {};
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	int ret;
	FILE *f;

	ret = parse_events_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;
	f = fopen(o.audit_log, "re");
	if (!f) {
		pr_err("cannot open the audit log %s: %s", o.audit_log, strerror(errno));
		return EXIT_FAILED;
	}
	if (!o.json)
		printf("%-24s %-8s %-16s %-6s %-30s %-28s %s\n", "TIME", "STATUS",
		       "ACTION", "PROTO", "DESTINATION", "PROCESS", "RULE");
	while (getline(&line, &cap, f) > 0) {
		json_error_t jerr;
		json_t *ev;

		lineno++;
		ev = json_loads(line, 0, &jerr);
		if (!ev) {
			pr_warn("%s:%zu: not a JSON line, skipped", o.audit_log, lineno);
			continue;
		}
		if (o.json)
			fputs(line, stdout);
		else
			print_row(ev);
		json_decref(ev);
	}
	free(line);
	fclose(f);
	return EXIT_OK;
}
