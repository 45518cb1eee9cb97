// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Unit tests of the audit log files: the hash chain, rotation by size and
 * by age (on a fake clock), gzip in a thread that rotation does not wait
 * for, retention by the age in a rotated file's name, mode 0600, and
 * picking the chain up again after a restart. Everything happens in a
 * temp directory. Prints PASS/FAIL lines.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "audit_log.h"

static int failures;
static char dir[64];
static __u64 fake_now;

static __u64 fake_clock(void)
{
	return fake_now;
}

static void check(const char *name, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
		return;
	}
	failures++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void empty_dir(void)
{
	struct dirent *de;
	char path[512];
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

static char *path_of(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* A chained JSON line, as event_emit() writes one. */
static int emit(struct audit_log *l, int n)
{
	json_t *ev = json_pack("{s:s, s:i, s:{}}", "timestamp", "2026-01-01T00:00:00Z",
			       "n", n, "metadata");
	char *line;
	size_t len;
	int err;

	audit_chain_stamp(&l->chain, json_object_get(ev, "metadata"));
	line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(ev);
	len = strlen(line);
	line[len] = '\n';
	err = audit_log_append(l, line, len + 1);
	free(line);
	return err;
}

/* Every line of the log's files, in order, as one string. */
static char *read_all(const char *path, size_t *nr_files)
{
	char **files, *all = calloc(1, 1), *line;
	size_t n, total = 0;
	ssize_t len;

	if (audit_log_files(path, &files, &n))
		return all;
	for (size_t i = 0; i < n; i++) {
		struct audit_reader *r = audit_reader_open(files[i]);

		while (r && (len = audit_reader_line(r, &line)) >= 0) {
			all = realloc(all, total + len + 2);
			memcpy(all + total, line, len);
			total += len;
			all[total++] = '\n';
			all[total] = '\0';
		}
		audit_reader_close(r);
	}
	if (nr_files)
		*nr_files = n;
	audit_files_free(files, n);
	return all;
}

static long long seq_of(const char *line)
{
	json_t *ev = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
	json_t *seq = json_object_get(json_object_get(ev, "metadata"), "seq");
	long long v = json_is_integer(seq) ? json_integer_value(seq) : -1;

	json_decref(ev);
	return v;
}

static const char *prev_hash_of(const char *line, char *buf)
{
	json_t *ev = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
	const char *ph = json_string_value(json_object_get(json_object_get(ev, "metadata"),
							   "prev_hash"));

	snprintf(buf, AUDIT_HASH_HEX_LEN + 1, "%s", ph ? ph : "");
	json_decref(ev);
	return buf;
}

/* Does every line hold seq first, first + 1, ... and the hash of the last? */
static bool chain_holds(const char *all, long long first, const char *key)
{
	const char *line = all, *nl;
	unsigned char h[AUDIT_HASH_LEN];
	char hex[AUDIT_HASH_HEX_LEN + 1], ph[AUDIT_HASH_HEX_LEN + 1];
	long long want = first;
	bool have_prev = false;

	for (; (nl = strchr(line, '\n')); line = nl + 1, want++) {
		if (seq_of(line) != want)
			return false;
		if (have_prev && strcmp(prev_hash_of(line, ph), hex))
			return false;
		audit_hash_line(key, line, nl - line, h);
		audit_hash_hex(h, hex);
		have_prev = true;
	}
	return want > first;
}

static void test_chain_starts_with_zeros_and_links_each_line(void)
{
	char zeros[AUDIT_HASH_HEX_LEN + 1];
	struct audit_log l = {};
	unsigned char want[AUDIT_HASH_LEN];
	char hex[AUDIT_HASH_HEX_LEN + 1], ph[AUDIT_HASH_HEX_LEN + 1];
	char *all, *second;
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;

	empty_dir();
	memset(zeros, '0', AUDIT_HASH_HEX_LEN);
	zeros[AUDIT_HASH_HEX_LEN] = '\0';
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 1);
	emit(&l, 2);
	audit_log_close(&l);
	all = read_all(path_of("audit.log"), NULL);
	second = strchr(all, '\n') + 1;
	SHA256((unsigned char *)all, second - 1 - all, want);
	audit_hash_hex(want, hex);
	check("test_chain_starts_with_zeros_and_links_each_line",
	      seq_of(all) == 1 && !strcmp(prev_hash_of(all, ph), zeros) &&
	      seq_of(second) == 2 && !strcmp(prev_hash_of(second, ph), hex),
	      "got %s", all);
	free(all);
}

static void test_chain_is_hmac_under_the_key(void)
{
	static const char key[] = "an-audit-key-of-some-length-0123456789";
	unsigned char want[AUDIT_HASH_LEN], got[AUDIT_HASH_LEN];
	unsigned int n = sizeof(want);

	setenv(AUDIT_KEY_ENV, key, 1);
	HMAC(EVP_sha256(), key, strlen(key), (const unsigned char *)"line", 4, want, &n);
	audit_hash_line(audit_key(), "line", 4, got);
	check("test_chain_is_hmac_under_the_key", !memcmp(want, got, sizeof(want)),
	      "HMAC differs");
	setenv(AUDIT_KEY_ENV, "", 1);
	check("test_an_empty_key_means_sha256", audit_key() == NULL, "key \"\" taken");
	unsetenv(AUDIT_KEY_ENV);
}

static void test_rotation_by_size_gzips_and_keeps_the_chain(void)
{
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	size_t files = 0, gz = 0;
	char **list, *all;
	size_t n;

	empty_dir();
	o.rotate_size = 400;
	audit_log_open(&l, path_of("audit.log"), &o, true);
	for (int i = 0; i < 40; i++)
		emit(&l, i);
	/* No wait for the compression thread: closing the log waits. */
	audit_log_close(&l);
	all = read_all(path_of("audit.log"), &files);
	if (!audit_log_files(path_of("audit.log"), &list, &n)) {
		for (size_t i = 0; i < n; i++)
			gz += strstr(list[i], ".gz") != NULL;
		audit_files_free(list, n);
	}
	check("test_rotation_by_size_gzips_and_keeps_the_chain",
	      files > 5 && gz == files - 1 && chain_holds(all, 1, NULL),
	      "%zu files, %zu gzipped, chain %s", files, gz,
	      chain_holds(all, 1, NULL) ? "holds" : "broken");
	free(all);
}

/* Emit lines from n on until one rotates the file; returns the next n. */
static int emit_until_rotated(struct audit_log *l, int n)
{
	__u64 before;

	do {
		before = l->size;
		emit(l, n++);
	} while (l->size >= before && n < 10000);
	return n;
}

/* The oldest file of the log at "audit.log" when it is rotated, or "". */
static void oldest_rotated(char *buf, size_t len)
{
	char **list;
	size_t n;

	buf[0] = '\0';
	if (audit_log_files(path_of("audit.log"), &list, &n))
		return;
	if (n > 1)
		snprintf(buf, len, "%s", list[0]);
	audit_files_free(list, n);
}

static size_t count_lines(const char *all)
{
	size_t n = 0;

	for (; (all = strchr(all, '\n')); all++)
		n++;
	return n;
}

/*
 * A compressor that holds still until the test lets it go: it leaves a
 * partial NAME.gz.tmp, as a compression under way does, says it has
 * started and waits to be released (10 s at most, so that a log that
 * compresses in its writer's thread fails the test instead of hanging).
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started, released, timed_out;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

static struct timespec in_10s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 10;
	return t;
}

static int gated_gzip(const char *src)
{
	struct timespec deadline = in_10s();
	char tmp[600];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.gz.tmp", src);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0 && write(fd, "\x1f\x8b", 2) != 2)
		perror("write");
	close(fd);
	pthread_mutex_lock(&gate.lock);
	gate.started = true;
	pthread_cond_broadcast(&gate.cond);
	while (!gate.released && !gate.timed_out)
		gate.timed_out = pthread_cond_timedwait(&gate.cond, &gate.lock,
							&deadline) == ETIMEDOUT;
	pthread_mutex_unlock(&gate.lock);
	return audit_gzip_file(src);
}

/* Compress through the gate, closed. */
static void gate_close(void)
{
	gate.started = gate.released = gate.timed_out = false;
	audit_compress = gated_gzip;
}

/* Wait until the gated compressor has started; false if it does not. */
static bool gate_wait_started(void)
{
	struct timespec deadline = in_10s();
	bool started;

	pthread_mutex_lock(&gate.lock);
	while (!gate.started &&
	       pthread_cond_timedwait(&gate.cond, &gate.lock, &deadline) != ETIMEDOUT)
		;
	started = gate.started;
	pthread_mutex_unlock(&gate.lock);
	return started;
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.released = true;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/*
 * The write that rotates returns while the rotated file is still being
 * compressed; meanwhile the file is read once, from its plain name, not
 * from its NAME.gz.tmp; waiting for the compression leaves only NAME.gz.
 */
static void test_rotation_does_not_wait_for_gzip(void)
{
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	char rotated[512], gz[520], tmp[530], *all;
	bool plain_after_write, started, read_once, only_gz_after;
	size_t files = 0;
	int n;

	empty_dir();
	gate_close();
	o.rotate_size = 400;
	audit_log_open(&l, path_of("audit.log"), &o, true);
	n = emit_until_rotated(&l, 0);
	oldest_rotated(rotated, sizeof(rotated));
	snprintf(gz, sizeof(gz), "%s.gz", rotated);
	snprintf(tmp, sizeof(tmp), "%s.gz.tmp", rotated);
	plain_after_write = *rotated && !strstr(rotated, ".gz") && access(gz, F_OK);

	started = gate_wait_started();
	all = read_all(path_of("audit.log"), &files);
	read_once = started && !access(tmp, F_OK) && files == 2 &&
		    count_lines(all) == (size_t)n && chain_holds(all, 1, NULL);
	free(all);

	gate_open();
	audit_log_wait_compression(&l);
	only_gz_after = access(rotated, F_OK) && !access(gz, F_OK) && access(tmp, F_OK);
	audit_log_close(&l);
	audit_compress = audit_gzip_file;
	check("test_rotation_does_not_wait_for_gzip",
	      plain_after_write && read_once && only_gz_after && !gate.timed_out,
	      "plain after the write %d, read once while compressing %d, only .gz after the wait %d, compressor held past 10 s %d",
	      plain_after_write, read_once, only_gz_after, gate.timed_out);
}

static void test_rotation_by_age_on_a_fake_clock(void)
{
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	size_t before = 0, after = 0;
	char *all;

	empty_dir();
	audit_clock = fake_clock;
	fake_now = 1800000000ull * NS_PER_SEC;
	o.rotate_age_ns = 3600 * NS_PER_SEC;
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 1);
	fake_now += 3599 * NS_PER_SEC;
	audit_log_tick(&l);
	free(read_all(path_of("audit.log"), &before));
	fake_now += 2 * NS_PER_SEC;
	audit_log_tick(&l);
	emit(&l, 2);
	audit_log_close(&l);
	all = read_all(path_of("audit.log"), &after);
	check("test_rotation_by_age_on_a_fake_clock",
	      before == 1 && after == 2 && chain_holds(all, 1, NULL),
	      "%zu files before the hour, %zu after", before, after);
	free(all);
}

static void touch_rotated(const char *stamp)
{
	char name[128];
	int fd;

	snprintf(name, sizeof(name), "audit.log.%s.gz", stamp);
	fd = open(path_of(name), O_WRONLY | O_CREAT, 0600);
	close(fd);
}

static void test_retention_deletes_only_older_files(void)
{
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	bool old_gone, young_kept, edge_kept, other_kept;

	empty_dir();
	audit_clock = fake_clock;
	/* 2027-01-01T00:00:00Z */
	fake_now = 1798761600ull * NS_PER_SEC;
	touch_rotated("2025-12-31T23-59-59.999Z");	/* 366 days old: goes */
	touch_rotated("2026-01-01T00-00-00.000Z");	/* exactly 365 days: stays */
	touch_rotated("2026-06-01T00-00-00.000Z");	/* young: stays */
	close(open(path_of("audit.log.keep-me"), O_WRONLY | O_CREAT, 0600));
	audit_log_open(&l, path_of("audit.log"), &o, true);
	audit_log_close(&l);
	old_gone = access(path_of("audit.log.2025-12-31T23-59-59.999Z.gz"), F_OK);
	edge_kept = !access(path_of("audit.log.2026-01-01T00-00-00.000Z.gz"), F_OK);
	young_kept = !access(path_of("audit.log.2026-06-01T00-00-00.000Z.gz"), F_OK);
	other_kept = !access(path_of("audit.log.keep-me"), F_OK);
	check("test_retention_deletes_only_older_files",
	      old_gone && edge_kept && young_kept && other_kept,
	      "old gone %d, 365-day kept %d, young kept %d, unrelated kept %d",
	      old_gone, edge_kept, young_kept, other_kept);
}

static void test_files_are_mode_0600(void)
{
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	struct stat cur, old;
	char **list;
	size_t n;

	empty_dir();
	close(open(path_of("audit.log"), O_WRONLY | O_CREAT, 0644));
	chmod(path_of("audit.log"), 0644);
	o.rotate_size = 100;
	audit_log_open(&l, path_of("audit.log"), &o, true);
	stat(path_of("audit.log"), &cur);	/* narrowed at once */
	emit(&l, 1);
	emit(&l, 2);
	audit_log_close(&l);
	old.st_mode = 0;
	if (!audit_log_files(path_of("audit.log"), &list, &n)) {
		if (n)
			stat(list[0], &old);
		audit_files_free(list, n);
	}
	check("test_files_are_mode_0600",
	      (cur.st_mode & 0777) == 0600 && (old.st_mode & 0777) == 0600,
	      "current %o, rotated %o", cur.st_mode & 0777, old.st_mode & 0777);
}

static void test_chain_resumes_after_a_restart(void)
{
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	char *all;

	empty_dir();
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 1);
	emit(&l, 2);
	audit_log_close(&l);
	memset(&l, 0, sizeof(l));
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 3);
	audit_log_close(&l);
	all = read_all(path_of("audit.log"), NULL);
	check("test_chain_resumes_after_a_restart", chain_holds(all, 1, NULL),
	      "chain broken: %s", all);
	free(all);
}

static void test_chain_resumes_from_a_rotated_file(void)
{
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	char *all;

	empty_dir();
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 1);
	emit(&l, 2);
	audit_log_rotate(&l);	/* the live file is empty now */
	audit_log_close(&l);
	memset(&l, 0, sizeof(l));
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 3);
	audit_log_close(&l);
	all = read_all(path_of("audit.log"), NULL);
	check("test_chain_resumes_from_a_rotated_file", chain_holds(all, 1, NULL),
	      "chain broken: %s", all);
	free(all);
}

static void test_a_torn_last_line_is_ended_first(void)
{
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	char *all, *last, hex[AUDIT_HASH_HEX_LEN + 1], ph[AUDIT_HASH_HEX_LEN + 1];
	int fd;

	empty_dir();
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 1);
	audit_log_close(&l);
	/* The chain goes on from the last whole line, not the torn one. */
	audit_hash_hex(l.chain.hash, hex);
	fd = open(path_of("audit.log"), O_WRONLY | O_APPEND);
	if (write(fd, "{\"torn", 6) != 6)
		perror("write");
	close(fd);
	memset(&l, 0, sizeof(l));
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 2);
	audit_log_close(&l);
	all = read_all(path_of("audit.log"), NULL);
	last = strstr(all, "{\"torn\n");
	check("test_a_torn_last_line_is_ended_first",
	      last && seq_of(last + 7) == 2 && !strcmp(prev_hash_of(last + 7, ph), hex),
	      "log: %s", all);
	free(all);
}

/* A rotated file past its retention stays while it is being compressed. */
static void test_retention_spares_a_file_being_compressed(void)
{
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	char rotated[512], gz[520];
	bool kept, gone_after;

	empty_dir();
	gate_close();
	audit_clock = fake_clock;
	fake_now = 1800000000ull * NS_PER_SEC;
	o.retention_ns = NS_PER_SEC;
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 1);
	audit_log_rotate(&l);
	oldest_rotated(rotated, sizeof(rotated));
	snprintf(gz, sizeof(gz), "%s.gz", rotated);
	gate_wait_started();
	fake_now += 2 * 3600 * NS_PER_SEC;	/* past retention and the hourly sweep */
	audit_log_tick(&l);
	kept = *rotated && !access(rotated, F_OK);

	gate_open();
	audit_log_wait_compression(&l);
	fake_now += 2 * 3600 * NS_PER_SEC;
	audit_log_tick(&l);
	gone_after = access(rotated, F_OK) && access(gz, F_OK);
	audit_log_close(&l);
	audit_compress = audit_gzip_file;
	check("test_retention_spares_a_file_being_compressed", kept && gone_after,
	      "kept while compressing %d, deleted once compressed %d", kept, gone_after);
}

/* A rotated file left plain, with a partial .gz.tmp, is compressed at start. */
static void test_a_crash_mid_compression_is_finished_at_start(void)
{
	static const char name[] = "audit.log.2027-01-15T07-59-00.000Z";
	struct audit_log_opts o = AUDIT_LOG_OPTS_DEFAULT;
	struct audit_log l = {};
	char rotated[512], gz[520], tmp[530], *all;
	bool finished;
	int fd;

	empty_dir();
	audit_clock = fake_clock;
	fake_now = 1800000000ull * NS_PER_SEC;
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 1);
	emit(&l, 2);
	audit_log_close(&l);
	snprintf(rotated, sizeof(rotated), "%s", path_of(name));
	snprintf(gz, sizeof(gz), "%s.gz", rotated);
	snprintf(tmp, sizeof(tmp), "%s.gz.tmp", rotated);
	rename(path_of("audit.log"), rotated);
	fd = open(tmp, O_WRONLY | O_CREAT, 0600);
	if (write(fd, "\x1f\x8b", 2) != 2)
		perror("write");
	close(fd);

	memset(&l, 0, sizeof(l));
	audit_log_open(&l, path_of("audit.log"), &o, true);
	emit(&l, 3);
	audit_log_wait_compression(&l);
	finished = access(rotated, F_OK) && !access(gz, F_OK) && access(tmp, F_OK);
	audit_log_close(&l);
	all = read_all(path_of("audit.log"), NULL);
	check("test_a_crash_mid_compression_is_finished_at_start",
	      finished && count_lines(all) == 3 && chain_holds(all, 1, NULL),
	      "compressed %d, log: %s", finished, all);
	free(all);
}

static void test_rfc3339_and_rotated_names_parse(void)
{
	__u64 a = 0, b = 0, c = 0, d = 0;
	bool ok = !audit_parse_rfc3339("2026-01-02T03:04:05Z", &a, NULL) &&
		  !audit_parse_rfc3339("2026-01-02T04:04:05.5+01:00", &b, NULL) &&
		  audit_parse_rfc3339("2026-01-02 03:04:05", &c, NULL) &&
		  audit_rotated_time("audit.log", "audit.log.2026-01-02T03-04-05.500Z.gz", &d);

	check("test_rfc3339_and_rotated_names_parse",
	      ok && a == 1767323045ull * NS_PER_SEC && b == a + NS_PER_SEC / 2 && d == b &&
	      !audit_rotated_time("audit.log", "audit.log.2026-01-02T03-04-05.500Z.gz.tmp", &d) &&
	      !audit_rotated_time("audit.log", "audit.logx", &d),
	      "a=%llu b=%llu d=%llu", a, b, d);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/odsbpf-test-audit.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 2;
	}
	unsetenv(AUDIT_KEY_ENV);
	test_chain_starts_with_zeros_and_links_each_line();
	test_chain_is_hmac_under_the_key();
	test_rotation_by_size_gzips_and_keeps_the_chain();
	test_files_are_mode_0600();
	test_chain_resumes_after_a_restart();
	test_chain_resumes_from_a_rotated_file();
	test_a_torn_last_line_is_ended_first();
	test_rfc3339_and_rotated_names_parse();
	test_rotation_does_not_wait_for_gzip();
	/* On a fake clock from here on. */
	test_rotation_by_age_on_a_fake_clock();
	test_retention_deletes_only_older_files();
	test_retention_spares_a_file_being_compressed();
	test_a_crash_mid_compression_is_finished_at_start();
	empty_dir();
	rmdir(dir);
	return failures ? 1 : 0;
}
