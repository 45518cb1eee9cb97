// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * odsbpf audit verify: walk the hash chain of audit log files (plain or
 * gzipped, rotated ones first) and name the first line removed, changed,
 * reordered or inserted, or say "ok N lines".
 *
 * Line n holds seq n and the hash of line n - 1. Where a link breaks,
 * the lines around it tell what happened: a line whose successor links
 * to its predecessor was inserted (or moved, when a later line links to
 * it); a link that breaks while seq runs on names the changed line; a
 * seq that jumps with no link means lines were removed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "audit_log.h"
#include "commands.h"
#include "log.h"

static const char audit_help[] =
"usage: odsbpf audit verify [-v] LOG...\n"
"\n"
"Check the hash chain of audit log files: every line's metadata.prev_hash\n"
"must be the hash of the line before it, and metadata.seq must count up by\n"
"one. Plain and gzipped files are read; rotated files (LOG.<time>.gz) are\n"
"put before the file they were rotated from, whatever order they are given\n"
"in. Hashes are HMAC-SHA256 under $" AUDIT_KEY_ENV " when it is set, else\n"
"SHA-256. Prints \"ok N lines\", or the first line removed, changed,\n"
"reordered or inserted.\n"
"\n"
"  -v, --verbose   also print the range of seq numbers checked\n"
"  -h, --help      this help\n"
"\n"
"exit status: 0 the chain holds, 1 it is broken, 2 bad command line,\n"
"3 a file cannot be read.\n"
"\n"
"examples:\n"
"  odsbpf audit verify /var/log/odsbpf/audit.log*\n"
"  ODSBPF_AUDIT_KEY=... odsbpf audit verify audit.log.2026-01-02T00-00-00.000Z.gz audit.log\n";

/* One line as the chain sees it. */
struct link {
	char *text;
	size_t len;
	long long seq;			/* -1: none */
	char prev_hash[AUDIT_HASH_HEX_LEN + 1];	/* "": none */
	char hash[AUDIT_HASH_HEX_LEN + 1];	/* of this line */
	const char *file;
	size_t lineno;
};

/* The lines around the one being judged: before[1], before[0], cur, after. */
#define WINDOW 5
enum { PREV2, PREV, CUR, NEXT, NEXT2 };

struct chain_reader {
	char **files;
	size_t nr_files, file;
	struct audit_reader *r;
	size_t lineno;
	const char *key;
	int err;			/* -errno when a file cannot be read */
};

static void link_free(struct link *l)
{
	free(l->text);
	memset(l, 0, sizeof(*l));
	l->seq = -1;
}

static void parse_link(struct link *l, const char *key)
{
	json_t *ev = json_loadb(l->text, l->len, 0, NULL);
	json_t *meta = json_object_get(ev, "metadata");
	json_t *seq = json_object_get(meta, "seq");
	const char *ph = json_string_value(json_object_get(meta, "prev_hash"));
	unsigned char h[AUDIT_HASH_LEN];

	l->seq = json_is_integer(seq) ? json_integer_value(seq) : -1;
	if (ph && strlen(ph) == AUDIT_HASH_HEX_LEN)
		strcpy(l->prev_hash, ph);
	json_decref(ev);
	audit_hash_line(key, l->text, l->len, h);
	audit_hash_hex(h, l->hash);
}

/* A plain rotated file gone since it was named: the agent gzipped it. */
static struct audit_reader *open_compressed(const char *file)
{
	struct audit_reader *r;
	char *gz;
	int err;

	if (asprintf(&gz, "%s.gz", file) < 0)
		return NULL;
	r = audit_reader_open(gz);
	err = errno;
	free(gz);
	errno = err;
	return r;
}

/* The next line of the chain, across files; false at the end. */
static bool next_link(struct chain_reader *c, struct link *l)
{
	char *line;
	ssize_t len;

	for (;;) {
		if (!c->r) {
			if (c->file == c->nr_files)
				return false;
			c->r = audit_reader_open(c->files[c->file]);
			c->lineno = 0;
			if (!c->r && errno == ENOENT)
				c->r = open_compressed(c->files[c->file]);
			if (!c->r) {
				c->err = -errno;
				pr_err("cannot read %s: %s", c->files[c->file], strerror(errno));
				c->file = c->nr_files;	/* said once: stop here */
				return false;
			}
		}
		len = audit_reader_line(c->r, &line);
		if (len >= 0)
			break;
		audit_reader_close(c->r);
		c->r = NULL;
		c->file++;
	}
	l->text = strndup(line, len);
	l->len = len;
	l->file = c->files[c->file];
	l->lineno = ++c->lineno;
	parse_link(l, c->key);
	return true;
}

/* Does b follow a as the chain says it must? */
static bool links(const struct link *a, const struct link *b)
{
	return a->text && b->text && a->seq >= 0 && b->seq == a->seq + 1 &&
	       !strcmp(b->prev_hash, a->hash);
}

static int report(const struct link *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int report(const struct link *l, const char *fmt, ...)
{
	va_list ap;

	printf("%s:%zu: seq %lld: ", l->file, l->lineno, l->seq);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return EXIT_REJECTED;
}

/* cur breaks the chain after prev: say what happened. */
static int diagnose(const struct link *w)
{
	const struct link *prev = &w[PREV], *cur = &w[CUR];

	if (links(prev, &w[NEXT])) {
		if (links(cur, &w[NEXT2]))
			return report(cur, "reordered: it belongs after %s:%zu (seq %lld)",
				      w[NEXT].file, w[NEXT].lineno, w[NEXT].seq);
		return report(cur, "inserted: the line after it follows %s:%zu (seq %lld)",
			      prev->file, prev->lineno, prev->seq);
	}
	if (cur->seq == prev->seq + 1) {
		if (links(cur, &w[NEXT]))
			return report(prev, "changed: its hash is not the prev_hash of %s:%zu",
				      cur->file, cur->lineno);
		return report(cur, "changed: its prev_hash is not the hash of %s:%zu%s",
			      prev->file, prev->lineno,
			      w[NEXT].text ? "" : " (or that line was changed)");
	}
	if (cur->seq > prev->seq + 1) {
		if (!strcmp(cur->prev_hash, prev->hash))
			return report(cur, "changed: seq should be %lld", prev->seq + 1);
		return report(cur, "%lld line(s) removed before it (seq %lld to %lld missing after %s:%zu)",
			      cur->seq - prev->seq - 1, prev->seq + 1, cur->seq - 1,
			      prev->file, prev->lineno);
	}
	if (cur->seq == prev->seq && links(&w[PREV2], cur))
		return report(prev, "inserted: seq %lld repeats and %s:%zu follows the line before it",
			      prev->seq, cur->file, cur->lineno);
	return report(cur, "reordered: it comes after seq %lld (%s:%zu)", prev->seq,
		      prev->file, prev->lineno);
}

/* The first line of all: only a chain's very first line is checkable. */
static int check_first(const struct link *l)
{
	static const char zeros[AUDIT_HASH_HEX_LEN + 1] =
		"0000000000000000000000000000000000000000000000000000000000000000";

	if (l->seq == 1 && strcmp(l->prev_hash, zeros))
		return report(l, "changed: the first line of a chain has a prev_hash of zeros");
	return 0;
}

static int check_line(const struct link *w)
{
	const struct link *cur = &w[CUR];

	if (cur->seq < 1 || !cur->prev_hash[0])
		return report(cur, "changed or inserted: no metadata.seq and prev_hash (not an audit line, or torn)");
	if (!w[PREV].text)
		return check_first(cur);
	if (links(&w[PREV], cur))
		return 0;
	return diagnose(w);
}

static int verify_chain(struct chain_reader *c, unsigned long long *lines,
			long long *first, long long *last)
{
	struct link w[WINDOW] = {};
	int ret = 0;

	for (int i = 0; i < WINDOW; i++)
		w[i].seq = -1;
	/* Fill cur, next and next2, then slide one line at a time. */
	for (int i = CUR; i < WINDOW; i++)
		next_link(c, &w[i]);
	while (!ret && w[CUR].text && !c->err) {
		ret = check_line(w);
		if (!*lines)
			*first = w[CUR].seq;
		*last = w[CUR].seq;
		(*lines)++;
		link_free(&w[PREV2]);
		memmove(&w[PREV2], &w[PREV], (WINDOW - 1) * sizeof(w[0]));
		memset(&w[NEXT2], 0, sizeof(w[0]));
		w[NEXT2].seq = -1;
		next_link(c, &w[NEXT2]);
	}
	for (int i = 0; i < WINDOW; i++)
		link_free(&w[i]);
	if (c->err)
		return EXIT_FAILED;
	return ret;
}

/* Rotated files (NAME.<time>[.gz]) sort before NAME, then by time. */
static int file_order(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);
	__u64 t;

	if (lx < ly && !strncmp(x, y, lx) && audit_rotated_time(x, y, &t))
		return 1;
	if (ly < lx && !strncmp(y, x, ly) && audit_rotated_time(y, x, &t))
		return -1;
	return strcmp(x, y);
}

/*
 * A glob taken while the agent compresses a rotated file NAME can also
 * name NAME.gz.tmp (partial) or NAME.gz: NAME holds every line, so those
 * are dropped. Returns the files left.
 */
static int drop_compression_copies(int argc, char **argv)
{
	int n = 0;

	for (int i = 0; i < argc; i++) {
		bool copy = false;

		for (int j = 0; j < argc && !copy; j++) {
			size_t len = strlen(argv[j]);

			copy = j != i && !strncmp(argv[i], argv[j], len) &&
			       (!strcmp(argv[i] + len, ".gz") ||
				!strcmp(argv[i] + len, ".gz.tmp"));
		}
		if (!copy)
			argv[n++] = argv[i];
	}
	return n;
}

static int verify(int argc, char **argv, bool verbose)
{
	struct chain_reader c = { .key = audit_key() };
	unsigned long long lines = 0;
	long long first = 0, last = 0;
	int ret;

	argc = drop_compression_copies(argc, argv);
	c.files = argv;
	c.nr_files = argc;
	qsort(argv, argc, sizeof(*argv), file_order);
	ret = verify_chain(&c, &lines, &first, &last);
	audit_reader_close(c.r);
	if (ret == EXIT_REJECTED)
		fprintf(stderr, "odsbpf: the chain was checked with %s\n", c.key ?
			"HMAC-SHA256 under $" AUDIT_KEY_ENV " (was the log written with this key?)" :
			"SHA-256, $" AUDIT_KEY_ENV " not set (was the log written with a key?)");
	if (ret)
		return ret;
	printf("ok %llu lines\n", lines);
	if (verbose && lines)
		fprintf(stderr, "odsbpf: seq %lld to %lld, in %d file(s); the newest line is checked only once another follows it\n",
			first, last, argc);
	return EXIT_OK;
}

int cmd_audit(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool verbose = false;
	int c;

	if (argc < 2 || strcmp(argv[1], "verify")) {
		if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
			fputs(audit_help, stdout);
			return EXIT_OK;
		}
		pr_err("audit: expected \"verify\"; see 'odsbpf audit --help'");
		return EXIT_USAGE;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose = true;
			break;
		case 'h':
			fputs(audit_help, stdout);
			return EXIT_OK;
		default:
			bad_option("audit", argv);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		pr_err("audit verify: name at least one log file");
		return EXIT_USAGE;
	}
	return verify(argc - optind, argv + optind, verbose);
}
