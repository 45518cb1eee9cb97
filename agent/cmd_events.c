// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * odsbpf events: read the audit log (its rotated and gzipped files first,
 * oldest first), filter, print as a table or as the JSON lines
 * themselves; with -f, go on printing lines as they are written, across
 * rotations.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "addr.h"
#include "audit_log.h"
#include "commands.h"
#include "log.h"
#include "pipeline.h"

static const char events_help[] =
"usage: odsbpf events [OPTIONS]\n"
"\n"
"Print the denials of the audit log, oldest first: its rotated files\n"
"(plain or gzipped) in order, then the log itself.\n"
"\n"
"  -l, --audit-log FILE  the log to read (default " DEFAULT_AUDIT_LOG ")\n"
"  -f, --follow          then print new lines as they come, across rotations\n"
"      --since WHEN      only from WHEN: a duration back (90s, 10m, 2h, 7d)\n"
"                        or an RFC 3339 time (2026-01-02T03:04:05Z)\n"
"      --until WHEN      only up to WHEN (not with --follow)\n"
"      --namespace NS    only pods of namespace NS\n"
"      --pod NAME        only the pod NAME\n"
"      --verdict V       only status V: denied or audited (also applied,\n"
"                        rejected, lost with --all)\n"
"      --dst CIDR        only destinations in CIDR, as the policy judged them\n"
"      --rule NAME       only denials by rule NAME\n"
"  -n, --lines N         only the last N that match (then follow, with -f)\n"
"  -a, --all             also the agent's own lines (start, stop, policy loads)\n"
"  -o, --output FORMAT   table (default: fits 120 columns) or json (the lines\n"
"                        as written, one object per line)\n"
"  -h, --help            this help\n"
"\n"
"In the table, SUPP is the number of like denials the rate limit held back\n"
"before this one (for events.lost lines: the events the ring buffer lost).\n"
"\n"
"examples:\n"
"  odsbpf events --since 10m --namespace shop\n"
"  odsbpf events -f --verdict denied --dst 169.254.0.0/16\n"
"  odsbpf events -o json --rule deny-cloud-metadata | jq .metadata.pod\n";

struct events_opts {
	const char *audit_log;
	bool follow, json, all;
	__u64 since_ns, until_ns;	/* 0: unbounded */
	const char *namespace, *pod, *verdict, *rule;
	bool has_dst;
	struct addr_prefix dst;
	long last_n;			/* -1: all */
};

/* "10m" back from now, or an RFC 3339 time. */
static int parse_when(const char *text, __u64 *ns)
{
	struct timespec now;
	__u64 back;

	if (!audit_parse_rfc3339(text, ns, NULL))
		return 0;
	if (parse_duration(text, &back))
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &now);
	*ns = (__u64)now.tv_sec * NS_PER_SEC + now.tv_nsec - back;
	return 0;
}

static int parse_dst(const char *text, struct addr_prefix *out)
{
	char why[128];

	if (!addr_parse_prefix(text, out, why, sizeof(why)))
		return 0;
	pr_err("events: --dst \"%s\": %s", text, why);
	return -EINVAL;
}

static int parse_lines(const char *text, long *n)
{
	char *end;

	errno = 0;
	*n = strtol(text, &end, 10);
	if (errno || end == text || *end || *n < 0) {
		pr_err("events: -n \"%s\": expected a count", text);
		return -EINVAL;
	}
	return 0;
}

enum {
	OPT_SINCE = 256, OPT_UNTIL, OPT_NAMESPACE, OPT_POD, OPT_VERDICT,
	OPT_DST, OPT_RULE,
};

static bool valid_status(const char *s)
{
	static const char *const known[] = { "denied", "audited", "applied",
					     "rejected", "lost" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(s, known[i]))
			return true;
	return false;
}

static int parse_one(struct events_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'l': o->audit_log = arg; return 0;
	case 'f': o->follow = true; return 0;
	case 'a': o->all = true; return 0;
	case OPT_NAMESPACE: o->namespace = arg; return 0;
	case OPT_POD: o->pod = arg; return 0;
	case OPT_VERDICT:
		o->verdict = arg;
		if (valid_status(arg))
			return 0;
		pr_err("events: --verdict \"%s\": expected denied, audited, applied, rejected or lost", arg);
		return -EINVAL;
	case OPT_RULE: o->rule = arg; return 0;
	case 'n': return parse_lines(arg, &o->last_n);
	case OPT_DST:
		o->has_dst = true;
		return parse_dst(arg, &o->dst);
	case OPT_SINCE:
	case OPT_UNTIL:
		if (!parse_when(arg, c == OPT_SINCE ? &o->since_ns : &o->until_ns))
			return 0;
		pr_err("events: --%s \"%s\": expected a duration (10m) or an RFC 3339 time",
		       c == OPT_SINCE ? "since" : "until", arg);
		return -EINVAL;
	case 'o':
		if (!strcmp(arg, "json") || !strcmp(arg, "table")) {
			o->json = !strcmp(arg, "json");
			return 0;
		}
		pr_err("events: -o \"%s\": expected table or json", arg);
		return -EINVAL;
	}
	return -ENOENT;	/* not an option of ours: the caller names it */
}

static int parse_events_opts(int argc, char **argv, struct events_opts *o)
{
	static const struct option longopts[] = {
		{ "audit-log", required_argument, NULL, 'l' },
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "namespace", required_argument, NULL, OPT_NAMESPACE },
		{ "pod", required_argument, NULL, OPT_POD },
		{ "verdict", required_argument, NULL, OPT_VERDICT },
		{ "dst", required_argument, NULL, OPT_DST },
		{ "rule", required_argument, NULL, OPT_RULE },
		{ "lines", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	int c;

	o->audit_log = DEFAULT_AUDIT_LOG;
	o->last_n = -1;
	while ((c = getopt_long(argc, argv, "l:fn:ao:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(events_help, stdout);
			return EXIT_OK;
		}
		int err = parse_one(o, c, optarg);

		if (err == -ENOENT)
			bad_option("events", argv);
		if (err)
			return EXIT_USAGE;
	}
	if (optind < argc) {
		pr_err("events: unexpected argument \"%s\"", argv[optind]);
		return EXIT_USAGE;
	}
	if (o->follow && o->until_ns) {
		pr_err("events: --until and --follow do not go together");
		return EXIT_USAGE;
	}
	return -1;
}

/* ---- which lines ---- */

static const char *str_field(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static bool same(const char *want, const char *got)
{
	return !want || (got && !strcmp(want, got));
}

/* Denials, and lost events, unless --all asks for the agent's lines too. */
static bool wanted_kind(const struct events_opts *o, const char *action)
{
	if (o->all)
		return true;
	return action && (!strncmp(action, "egress.", 7) || !strcmp(action, "events.lost"));
}

static bool dst_matches(const struct events_opts *o, json_t *meta)
{
	const char *ip = str_field(meta, "judged_ip");
	struct addr_prefix a;

	if (!ip)
		ip = str_field(meta, "dst_ip");
	if (!ip || addr_parse_dest(ip, &a))
		return false;
	return a.is4 == o->dst.is4 && addr_contains(&o->dst, &a);
}

static bool matches(const struct events_opts *o, json_t *ev)
{
	json_t *meta = json_object_get(ev, "metadata");
	const char *ts = str_field(ev, "timestamp");
	__u64 ns = 0;

	if (!wanted_kind(o, str_field(ev, "action")))
		return false;
	if ((o->since_ns || o->until_ns) && (!ts || audit_parse_rfc3339(ts, &ns, NULL)))
		return false;
	if ((o->since_ns && ns < o->since_ns) || (o->until_ns && ns > o->until_ns))
		return false;
	if (!same(o->namespace, str_field(meta, "namespace")) ||
	    !same(o->pod, str_field(meta, "pod")) ||
	    !same(o->verdict, str_field(ev, "status")) ||
	    !same(o->rule, str_field(meta, "rule")))
		return false;
	return !o->has_dst || dst_matches(o, meta);
}

/* ---- the table ---- */

/* Column widths: with one space between, a row is 120 columns at most. */
#define W_TIME		14
#define W_POD		23
#define W_PROCESS	16
#define W_DEST		22
#define W_RULE		20
#define W_VERDICT	7
#define W_LAYER		6
#define W_SUPP		5

/*
 * Print text in a cell of width columns: control characters become '?',
 * a UTF-8 character counts one column, and what does not fit ends in an
 * ellipsis.
 */
static void put_cell(const char *text, int width, bool last)
{
	const unsigned char *p = (const unsigned char *)(text ? text : "-");
	int total = 0, keep, cols = 0;

	for (const unsigned char *q = p; *q; q++)
		total += (*q & 0xc0) != 0x80;
	keep = total > width ? width - 1 : total;
	for (; *p; p++) {
		bool starts = (*p & 0xc0) != 0x80;

		if (starts && cols == keep)
			break;
		cols += starts;
		putchar(*p < 0x20 || *p == 0x7f ? '?' : *p);
	}
	if (total > width) {
		fputs("\u2026", stdout);
		cols++;
	}
	if (!last)
		printf("%*s", width - cols + 1, "");
}

/* 1234 -> "1234", 123456 -> "123k", 1234567 -> "1.2M" */
static void compact(json_int_t n, char *buf, size_t len)
{
	if (n <= 0)
		snprintf(buf, len, "-");
	else if (n < 100000)
		snprintf(buf, len, "%lld", (long long)n);
	else if (n < 10000000)
		snprintf(buf, len, "%lldk", (long long)n / 1000);
	else
		snprintf(buf, len, "%.1fM", n / 1e6);
}

static void format_time(const char *ts, char *buf, size_t len)
{
	/* "2026-12-04T16:08:55.803458077Z" -> "12-04 16:08:55" (UTC) */
	if (ts && strlen(ts) >= 19)
		snprintf(buf, len, "%.5s %.8s", ts + 5, ts + 11);
	else
		snprintf(buf, len, "-");
}

static void format_pod(json_t *m, char *buf, size_t len)
{
	const char *ns = str_field(m, "namespace"), *pod = str_field(m, "pod");
	const char *uid = str_field(m, "pod_uid");

	if (ns && pod)
		snprintf(buf, len, "%s/%s", ns, pod);
	else if (uid)
		snprintf(buf, len, "?/pod-uid %.8s", uid);	/* no log dir yet */
	else
		snprintf(buf, len, "-");
}

static void format_dest(json_t *m, char *buf, size_t len)
{
	const char *ip = str_field(m, "dst_ip");
	json_t *port = json_object_get(m, "dst_port");

	if (!ip)
		snprintf(buf, len, "-");
	else if (!json_is_integer(port))
		snprintf(buf, len, "%s", ip);
	else if (strchr(ip, ':'))
		snprintf(buf, len, "[%s]:%lld", ip, json_integer_value(port));
	else
		snprintf(buf, len, "%s:%lld", ip, json_integer_value(port));
}

static const char *short_layer(const char *layer)
{
	if (layer && !strcmp(layer, "cgroup_skb"))
		return "skb";
	return layer;
}

static void print_header(void)
{
	put_cell("TIME (UTC)", W_TIME, false);
	put_cell("NAMESPACE/POD", W_POD, false);
	put_cell("PROCESS", W_PROCESS, false);
	put_cell("DESTINATION", W_DEST, false);
	put_cell("RULE", W_RULE, false);
	put_cell("VERDICT", W_VERDICT, false);
	put_cell("LAYER", W_LAYER, false);
	printf("%*s\n", W_SUPP, "SUPP");
}

static void print_row(json_t *ev)
{
	json_t *m = json_object_get(ev, "metadata");
	const char *action = str_field(ev, "action");
	char when[32], pod[320], dest[96], process[64], supp[16];
	json_t *pid = json_object_get(m, "pid");
	bool egress = action && !strncmp(action, "egress.", 7);

	format_time(str_field(ev, "timestamp"), when, sizeof(when));
	format_pod(m, pod, sizeof(pod));
	format_dest(m, dest, sizeof(dest));
	if (egress && json_is_integer(pid))
		snprintf(process, sizeof(process), "%.15s[%lld]",
			 str_field(m, "comm") ? str_field(m, "comm") : "?",
			 json_integer_value(pid));
	else if (!egress && json_is_integer(pid))
		snprintf(process, sizeof(process), "odsbpf[%lld]", json_integer_value(pid));
	else
		snprintf(process, sizeof(process), "-");
	if (!egress && (action && strcmp(action, "events.lost")))
		snprintf(dest, sizeof(dest), "%s", action);
	compact(json_integer_value(json_object_get(m, egress ? "suppressed" : "lost")),
		supp, sizeof(supp));

	put_cell(when, W_TIME, false);
	put_cell(pod, W_POD, false);
	put_cell(process, W_PROCESS, false);
	put_cell(dest, W_DEST, false);
	put_cell(str_field(m, "rule"), W_RULE, false);
	put_cell(str_field(ev, "status"), W_VERDICT, false);
	put_cell(short_layer(str_field(m, "layer")), W_LAYER, false);
	printf("%*s\n", W_SUPP, supp);
}

/* ---- output, with -n holding back all but the last N ---- */

struct output {
	const struct events_opts *o;
	char **held;		/* ring of the last N lines, with -n */
	long next, count;
	unsigned char last[AUDIT_HASH_LEN];	/* the last line taken */
	bool have_last;
};

static void print_line(const struct output *out, const char *line, json_t *ev)
{
	if (out->o->json)
		puts(line);
	else
		print_row(ev);
}

static void take_line(struct output *out, const char *file, size_t lineno,
		      const char *line)
{
	json_t *ev = json_loads(line, 0, NULL);

	audit_hash_line(NULL, line, strlen(line), out->last);
	out->have_last = true;
	if (!ev) {
		pr_warn("%s:%zu: not a JSON line, skipped", file, lineno);
		return;
	}
	if (matches(out->o, ev)) {
		if (out->held) {
			free(out->held[out->next]);
			out->held[out->next] = strdup(line);
			out->next = (out->next + 1) % out->o->last_n;
			out->count++;
		} else {
			print_line(out, line, ev);
		}
	}
	json_decref(ev);
}

/* From here on lines print as they come: let out what -n held. */
static void release_held(struct output *out)
{
	long n = out->count < out->o->last_n ? out->count : out->o->last_n;

	for (long i = 0; out->held && i < n; i++) {
		long at = (out->next - n + i + out->o->last_n) % out->o->last_n;
		json_t *ev = json_loads(out->held[at], 0, NULL);

		if (ev)
			print_line(out, out->held[at], ev);
		json_decref(ev);
	}
	for (long i = 0; out->held && i < out->o->last_n; i++)
		free(out->held[i]);
	free(out->held);
	out->held = NULL;
	fflush(stdout);
}

/* ---- reading ---- */

/*
 * A rotated file, even when the agent has just compressed it away: a
 * plain rotated name may be gone, as NAME.gz, by the time it is opened.
 */
static struct audit_reader *open_rotated(const char *file)
{
	struct audit_reader *r = audit_reader_open(file);
	char gz[4200];

	if (r || errno != ENOENT)
		return r;
	snprintf(gz, sizeof(gz), "%s.gz", file);
	return audit_reader_open(gz);
}

/* Where the line last taken is in file (its number), or 0. */
static size_t find_last(const struct output *out, const char *file)
{
	struct audit_reader *r = open_rotated(file);
	unsigned char h[AUDIT_HASH_LEN];
	size_t lineno = 0, found = 0;
	ssize_t len;
	char *line;

	while (r && (len = audit_reader_line(r, &line)) >= 0) {
		lineno++;
		audit_hash_line(NULL, line, len, h);
		if (!memcmp(h, out->last, sizeof(h)))
			found = lineno;
	}
	audit_reader_close(r);
	return found;
}

/* Take the lines of a rotated (or any finished) file after the first skip. */
static int read_rotated(struct output *out, const char *file, size_t skip)
{
	struct audit_reader *r = open_rotated(file);
	size_t lineno = 0;
	char *line;

	if (!r) {
		pr_err("cannot read %s: %s", file, strerror(errno));
		return -errno;
	}
	while (audit_reader_line(r, &line) >= 0)
		if (++lineno > skip)
			take_line(out, file, lineno, line);
	audit_reader_close(r);
	return 0;
}

/* The live file: read by hand, so a half-written last line waits. */
struct live {
	const char *path;
	char *base;		/* its name, to recognise rotated siblings */
	int fd;
	char *buf;
	size_t len, cap;
	size_t lineno;
	__u64 newest;		/* rotation time of the newest file told */
};

static void read_live(struct output *out, struct live *lv)
{
	for (;;) {
		ssize_t n;
		char *nl;

		if (lv->cap - lv->len < 65536) {
			char *grown = realloc(lv->buf, lv->cap + 131072);

			if (!grown)
				return;
			lv->buf = grown;
			lv->cap += 131072;
		}
		n = read(lv->fd, lv->buf + lv->len, lv->cap - lv->len - 1);
		if (n <= 0)
			return;
		lv->len += n;
		while ((nl = memchr(lv->buf, '\n', lv->len))) {
			*nl = '\0';
			take_line(out, lv->path, ++lv->lineno, lv->buf);
			lv->len -= nl + 1 - lv->buf;
			memmove(lv->buf, nl + 1, lv->len);
		}
		fflush(stdout);
	}
}

static int open_live(struct live *lv)
{
	lv->fd = open(lv->path, O_RDONLY | O_CLOEXEC);
	lv->len = 0;
	lv->lineno = 0;
	return lv->fd < 0 ? -errno : 0;
}

/* Has the log been rotated away from under our fd? */
static bool rotated(const struct live *lv)
{
	struct stat now, ours;

	if (stat(lv->path, &now))
		return false;	/* renamed, not yet made again */
	return lv->fd < 0 || fstat(lv->fd, &ours) ||
	       now.st_ino != ours.st_ino || now.st_dev != ours.st_dev;
}

/*
 * Tell the files rotated since the newest told, in order. The first may
 * be the one we were reading: then only what follows the last line taken
 * from it is new.
 */
static int catch_up(struct output *out, struct live *lv)
{
	char **files, *slash;
	bool first = true;
	size_t n;
	__u64 t;
	int err = audit_log_files(lv->path, &files, &n);

	for (size_t i = 0; !err && i < n; i++) {
		slash = strrchr(files[i], '/');
		if (!audit_rotated_time(lv->base, slash ? slash + 1 : files[i], &t) ||
		    t <= lv->newest)
			continue;
		err = read_rotated(out, files[i], first && out->have_last ?
				   find_last(out, files[i]) : 0);
		lv->newest = t;
		first = false;
	}
	if (n)
		audit_files_free(files, n);
	return err;
}

/*
 * Open the live file, after telling what was rotated before it. When the
 * file opened is rotated meanwhile, catch_up() told it (or the next one
 * will): close it and report -EAGAIN.
 */
static int switch_to_live(struct output *out, struct live *lv)
{
	int err = open_live(lv);

	if (err)
		return err;
	err = catch_up(out, lv);
	if (!err && rotated(lv)) {
		close(lv->fd);
		lv->fd = -1;
		return -EAGAIN;
	}
	return err;
}

static volatile sig_atomic_t stop_following;

static void on_stop(int sig)
{
	(void)sig;
	stop_following = 1;
}

static int watch_dir(const char *path)
{
	char *copy = strdup(path);
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), err = 0;

	if (!copy || fd < 0)
		err = -ENOMEM;
	else if (inotify_add_watch(fd, dirname(copy), IN_MODIFY | IN_CREATE | IN_MOVED_TO |
				   IN_MOVED_FROM | IN_CLOSE_WRITE) < 0)
		err = -errno;
	free(copy);
	if (err) {
		pr_err("cannot watch the directory of %s: %s", path, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

/*
 * Watch the log's directory: a write, a rotation (rename, then a new
 * file) and the new file's writes all show there. The old file is read
 * to its end before it is let go, and files rotated faster than we look
 * are read from their rotated names, so no line is skipped or repeated.
 */
static int follow(struct output *out, struct live *lv)
{
	struct sigaction sa = { .sa_handler = on_stop };
	struct pollfd pfd = { .events = POLLIN };
	char buf[4096];

	pfd.fd = watch_dir(lv->path);
	if (pfd.fd < 0)
		return pfd.fd;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!stop_following) {
		if (lv->fd >= 0)
			read_live(out, lv);
		if (rotated(lv)) {
			/* Renamed before we looked: nothing more is written to it. */
			if (lv->fd >= 0) {
				read_live(out, lv);
				close(lv->fd);
				lv->fd = -1;
			}
			if (switch_to_live(out, lv) != -ENOENT)
				continue;
		}
		if (poll(&pfd, 1, 1000) > 0)
			while (read(pfd.fd, buf, sizeof(buf)) > 0)
				;
	}
	close(pfd.fd);
	return 0;
}

static int read_history(struct output *out, struct live *lv)
{
	int err = 0;

	/* Every rotated file is newer than 0: catch_up() reads them all. */
	for (int tries = 0; tries < 100; tries++) {
		err = switch_to_live(out, lv);
		if (err != -EAGAIN)
			break;
	}
	if (err == -ENOENT && out->o->follow)
		return catch_up(out, lv);	/* the log is not there yet */
	if (err) {
		pr_err("cannot read the audit log %s: %s", lv->path, strerror(-err));
		return err;
	}
	read_live(out, lv);
	return 0;
}

/*
 * -n 0: only what comes next. Reading starts after the live file's last
 * whole line, which is remembered: were the file rotated before we look
 * again, catch_up() knows where in it to go on.
 */
static int skip_history(struct output *out, struct live *lv)
{
	char **files, *slash, *buf, *nl, *start;
	off_t size, from;
	ssize_t got;
	size_t n;
	__u64 t;
	int err = audit_log_files(lv->path, &files, &n);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++) {
		slash = strrchr(files[i], '/');
		if (audit_rotated_time(lv->base, slash ? slash + 1 : files[i], &t))
			lv->newest = t;
	}
	audit_files_free(files, n);
	if (open_live(lv))
		return 0;	/* not there yet: all of it will be new */
	size = lseek(lv->fd, 0, SEEK_END);
	from = size > 262144 ? size - 262144 : 0;
	buf = malloc(size - from + 1);
	got = buf ? pread(lv->fd, buf, size - from, from) : -1;
	if (got > 0 && (nl = memrchr(buf, '\n', got))) {
		*nl = '\0';
		start = memrchr(buf, '\n', nl - buf);
		start = start ? start + 1 : buf;
		audit_hash_line(NULL, start, nl - start, out->last);
		out->have_last = true;
		lseek(lv->fd, from + (nl + 1 - buf), SEEK_SET);
	} else {
		lseek(lv->fd, 0, SEEK_SET);
	}
	free(buf);
	return 0;
}

static bool is_directory(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

int cmd_events(int argc, char **argv)
{
	struct events_opts o = {};
	struct output out = { .o = &o };
	struct live lv = { .fd = -1 };
	char *copy;
	int ret;

	ret = parse_events_opts(argc, argv, &o);
	if (ret >= 0)
		return ret;
	if (is_directory(o.audit_log)) {
		pr_err("events: %s is a directory; name the log file (--audit-log DIR/audit.log)",
		       o.audit_log);
		return EXIT_USAGE;
	}
	copy = strdup(o.audit_log);
	lv.path = o.audit_log;
	lv.base = copy ? strdup(basename(copy)) : NULL;
	free(copy);
	if (!lv.base)
		return EXIT_FAILED;
	if (o.last_n > 0)
		out.held = calloc(o.last_n, sizeof(char *));
	if (!o.json)
		print_header();
	ret = o.last_n ? read_history(&out, &lv) : skip_history(&out, &lv);
	release_held(&out);
	if (!ret && o.follow)
		ret = follow(&out, &lv);
	if (lv.fd >= 0)
		close(lv.fd);
	free(lv.buf);
	free(lv.base);
	return ret ? EXIT_FAILED : EXIT_OK;
}
