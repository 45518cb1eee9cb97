// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "audit_log.h"
#include "event.h"
#include "log.h"

/* Longest tail read back to find the last line when a log is opened. */
#define TAIL_WINDOW		(256 * 1024)
/* How often retention is applied besides at each rotation. */
#define SWEEP_EVERY_NS		(3600 * NS_PER_SEC)
/* "2026-01-02T03-04-05.678Z" */
#define ROTATED_STAMP_LEN	24

static __u64 realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

__u64 (*audit_clock)(void) = realtime_ns;

const char *audit_key(void)
{
	const char *key = getenv(AUDIT_KEY_ENV);

	return key && *key ? key : NULL;
}

/*
 * The digest and the MAC are fetched once per thread and their contexts
 * reused: the one-shot SHA256() and HMAC() fetch them on every call, a
 * cost larger than hashing a line. The agent log's pump is a thread of
 * its own, hence one set per thread.
 */
struct line_hasher {
	EVP_MD *md;
	EVP_MD_CTX *md_ctx;
	EVP_MAC *mac;
	EVP_MAC_CTX *mac_ctx;
	char *key;		/* the key mac_ctx holds; NULL: none yet */
};

static __thread struct line_hasher hasher;

static bool hasher_sha256(struct line_hasher *h, const char *line, size_t len,
			  unsigned char out[AUDIT_HASH_LEN])
{
	if (!h->md)
		h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!h->md_ctx)
		h->md_ctx = EVP_MD_CTX_new();
	return h->md && h->md_ctx &&
	       EVP_DigestInit_ex2(h->md_ctx, h->md, NULL) &&
	       EVP_DigestUpdate(h->md_ctx, line, len) &&
	       EVP_DigestFinal_ex(h->md_ctx, out, NULL);
}

/* A context keyed once; a changed key sets it up again. */
static bool hasher_key(struct line_hasher *h, const char *key)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};

	if (h->key && !strcmp(h->key, key))
		return EVP_MAC_init(h->mac_ctx, NULL, 0, NULL);
	free(h->key);
	h->key = NULL;
	if (!h->mac)
		h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!h->mac_ctx && h->mac)
		h->mac_ctx = EVP_MAC_CTX_new(h->mac);
	if (!h->mac_ctx ||
	    !EVP_MAC_init(h->mac_ctx, (const unsigned char *)key, strlen(key), params))
		return false;
	h->key = strdup(key);
	return h->key != NULL;
}

static bool hasher_hmac(struct line_hasher *h, const char *key, const char *line,
			size_t len, unsigned char out[AUDIT_HASH_LEN])
{
	size_t n;

	return hasher_key(h, key) &&
	       EVP_MAC_update(h->mac_ctx, (const unsigned char *)line, len) &&
	       EVP_MAC_final(h->mac_ctx, out, &n, AUDIT_HASH_LEN) &&
	       n == AUDIT_HASH_LEN;
}

void audit_hash_line(const char *key, const char *line, size_t len,
		     unsigned char out[AUDIT_HASH_LEN])
{
	unsigned int n = AUDIT_HASH_LEN;

	if (key ? hasher_hmac(&hasher, key, line, len, out) :
		  hasher_sha256(&hasher, line, len, out))
		return;
	/* Out of memory for the contexts: the slow one-shot way. */
	if (key)
		HMAC(EVP_sha256(), key, strlen(key), (const unsigned char *)line,
		     len, out, &n);
	else
		SHA256((const unsigned char *)line, len, out);
}

void audit_hash_hex(const unsigned char hash[AUDIT_HASH_LEN], char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < AUDIT_HASH_LEN; i++) {
		out[2 * i] = digits[hash[i] >> 4];
		out[2 * i + 1] = digits[hash[i] & 0xf];
	}
	out[AUDIT_HASH_HEX_LEN] = '\0';
}

void audit_chain_stamp(const struct audit_chain *c, json_t *meta)
{
	char hex[AUDIT_HASH_HEX_LEN + 1];

	if (c->seq) {
		audit_hash_hex(c->hash, hex);
	} else {
		memset(hex, '0', AUDIT_HASH_HEX_LEN);
		hex[AUDIT_HASH_HEX_LEN] = '\0';
	}
	json_object_set_new(meta, "seq", json_integer(c->seq + 1));
	json_object_set_new(meta, "prev_hash", json_string(hex));
}

void audit_chain_advance(struct audit_chain *c, const char *line, size_t len)
{
	c->seq++;
	audit_hash_line(audit_key(), line, len, c->hash);
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Make a rename or unlink in dir durable. */
static void sync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int audit_parse_rfc3339(const char *text, __u64 *ns, const char **end)
{
	int y, mo, d, h, mi, s, used = 0, zh, zm;
	long long frac = 0, offset = 0;
	const char *p;
	struct tm tm = {};

	if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s,
		   &used) != 6 || used != 19)
		return -EINVAL;
	p = text + used;
	if (*p == '.') {
		int digits = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 9)
				frac = frac * 10 + (*p - '0');
		if (!digits)
			return -EINVAL;
		for (; digits < 9; digits++)
			frac *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') &&
		   sscanf(p + 1, "%2d:%2d", &zh, &zm) == 2 && p[3] == ':') {
		offset = (zh * 3600 + zm * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (end)
		*end = p;
	else if (*p)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	*ns = ((__u64)timegm(&tm) - offset) * NS_PER_SEC + frac;
	return 0;
}

/* ---- names of rotated files ---- */

bool audit_rotated_time(const char *base, const char *name, __u64 *ns)
{
	size_t blen = strlen(base);
	const char *stamp = name + blen + 1, *rest;
	int y, mo, d, h, mi, s, ms;
	struct tm tm = {};

	if (strncmp(name, base, blen) || name[blen] != '.')
		return false;
	if (strlen(stamp) < ROTATED_STAMP_LEN)
		return false;
	rest = stamp + ROTATED_STAMP_LEN;
	if (*rest && strcmp(rest, ".gz"))
		return false;
	if (sscanf(stamp, "%4d-%2d-%2dT%2d-%2d-%2d.%3dZ", &y, &mo, &d, &h, &mi,
		   &s, &ms) != 7 || stamp[ROTATED_STAMP_LEN - 1] != 'Z')
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	*ns = (__u64)timegm(&tm) * NS_PER_SEC + (__u64)ms * 1000000;
	return true;
}

static void format_rotated(const char *path, __u64 ns, char *buf, size_t len)
{
	time_t sec = ns / NS_PER_SEC;
	struct tm tm;
	char stamp[32];

	gmtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H-%M-%S", &tm);
	snprintf(buf, len, "%s.%s.%03lluZ", path, stamp,
		 (ns % NS_PER_SEC) / 1000000);
}

static bool exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st);
}

/* A free name for a file rotated now: a later millisecond if taken. */
static void pick_rotated_name(const char *path, char *buf, size_t len)
{
	__u64 ns = audit_clock();
	char gz[4200];

	for (;;) {
		format_rotated(path, ns, buf, len);
		snprintf(gz, sizeof(gz), "%s.gz", buf);
		if (!exists(buf) && !exists(gz))
			return;
		ns += 1000000;
	}
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void audit_files_free(char **files, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
}

static int push_file(char ***files, size_t *n, const char *dir, const char *name)
{
	char **grown = realloc(*files, (*n + 1) * sizeof(**files));

	if (!grown)
		return -ENOMEM;
	*files = grown;
	if (asprintf(&grown[*n], "%s/%s", dir, name) < 0)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* The rotated files of path, sorted by name; a plain one hides its .gz. */
static int list_rotated(const char *path, char ***files, size_t *n)
{
	char *dcopy = strdup(path), *bcopy = strdup(path), *dir, *base;
	struct dirent *de;
	int err = 0;
	__u64 ns;
	DIR *d;

	*files = NULL;
	*n = 0;
	if (!dcopy || !bcopy) {
		err = -ENOMEM;
		goto out;
	}
	dir = dirname(dcopy);
	base = basename(bcopy);
	d = opendir(dir);
	if (!d) {
		err = -errno;
		goto out;
	}
	while (!err && (de = readdir(d)))
		if (audit_rotated_time(base, de->d_name, &ns))
			err = push_file(files, n, dir, de->d_name);
	closedir(d);
	qsort(*files, *n, sizeof(**files), name_cmp);
	for (size_t i = 0; i + 1 < *n; i++) {
		size_t len = strlen((*files)[i]);

		if (!strncmp((*files)[i], (*files)[i + 1], len) &&
		    !strcmp((*files)[i + 1] + len, ".gz")) {
			free((*files)[i + 1]);
			memmove(&(*files)[i + 1], &(*files)[i + 2],
				(*n - i - 2) * sizeof(**files));
			(*n)--;
		}
	}
out:
	free(dcopy);
	free(bcopy);
	return err;
}

int audit_log_files(const char *path, char ***files, size_t *n)
{
	int err = list_rotated(path, files, n);
	char **grown;

	if (err)
		return err;
	if (!exists(path))
		return 0;
	grown = realloc(*files, (*n + 1) * sizeof(**files));
	if (!grown || !(grown[*n] = strdup(path))) {
		if (grown)
			*files = grown;
		audit_files_free(*files, *n);
		return -ENOMEM;
	}
	*files = grown;
	(*n)++;
	return 0;
}

/* ---- reading plain and gzipped files ---- */

struct audit_reader {
	gzFile gz;
	char *buf;
	size_t cap;
};

struct audit_reader *audit_reader_open(const char *path)
{
	struct audit_reader *r = calloc(1, sizeof(*r));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	/* A directory reads as empty: it must not verify as "ok 0 lines". */
	if (fd >= 0 && !fstat(fd, &st) && S_ISDIR(st.st_mode)) {
		close(fd);
		fd = -1;
		errno = EISDIR;
	}
	if (!r || fd < 0) {
		int err = fd < 0 ? errno : ENOMEM;

		if (fd >= 0)
			close(fd);
		free(r);
		errno = err;
		return NULL;
	}
	/* zlib reads a file that is not gzip as it is. */
	r->gz = gzdopen(fd, "rb");
	if (!r->gz) {
		close(fd);
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	gzbuffer(r->gz, 128 * 1024);
	return r;
}

ssize_t audit_reader_line(struct audit_reader *r, char **line)
{
	size_t len = 0;

	for (;;) {
		if (r->cap - len < 4096) {
			char *grown = realloc(r->buf, r->cap + 65536);

			if (!grown)
				return -1;
			r->buf = grown;
			r->cap += 65536;
		}
		if (!gzgets(r->gz, r->buf + len, r->cap - len))
			break;
		len += strlen(r->buf + len);
		if (len && r->buf[len - 1] == '\n') {
			r->buf[--len] = '\0';
			*line = r->buf;
			return len;
		}
	}
	if (!len)
		return -1;
	*line = r->buf;		/* a last line without its newline */
	return len;
}

void audit_reader_close(struct audit_reader *r)
{
	if (!r)
		return;
	gzclose(r->gz);
	free(r->buf);
	free(r);
}

/* ---- writing ---- */

int audit_gzip_file(const char *src)
{
	char dst[4200], tmp[4210], buf[65536];
	int in, out, err = 0;
	gzFile gz;
	ssize_t n;

	snprintf(dst, sizeof(dst), "%s.gz", src);
	snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		err = -errno;
		goto close_in;
	}
	gz = gzdopen(dup(out), "wb6");
	if (!gz) {
		err = -ENOMEM;
		goto close_out;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (gzwrite(gz, buf, n) != n) {
			err = -EIO;
			break;
		}
	if (n < 0)
		err = -errno;
	if (gzclose(gz) != Z_OK && !err)
		err = -EIO;
	if (!err && fdatasync(out))
		err = -errno;
close_out:
	close(out);
	if (!err && rename(tmp, dst))
		err = -errno;
	if (err)
		unlink(tmp);
	else
		unlink(src);
close_in:
	close(in);
	if (!err)
		sync_dir_of(dst);
	return err;
}

int (*audit_compress)(const char *src) = audit_gzip_file;

/* ---- compressing rotated files in a thread ---- */

/* The compression thread's nice: the event loop comes first. */
#define COMPRESS_NICE		10

/*
 * Rotated files waiting for gzip, and the thread that compresses them,
 * oldest first. queue[0] stays queued while it is being compressed, so
 * that retention can tell it from a file at rest.
 */
struct audit_compressor {
	pthread_mutex_t lock;
	pthread_cond_t queued;	/* a file was queued, or stop was set */
	pthread_cond_t idle;	/* the queue is empty */
	char **queue;
	size_t n;
	bool stop;		/* compress what is queued, then end */
	pthread_t thread;
};

static void compress_now(const char *src)
{
	int err = audit_compress(src);

	if (err)
		pr_warn("cannot compress the rotated log %s: %s", src, strerror(-err));
}

static void *compressor_main(void *arg)
{
	struct audit_compressor *c = arg;
	char *src;

	/* Linux's nice is per thread; failing, it runs at the agent's. */
	setpriority(PRIO_PROCESS, gettid(), COMPRESS_NICE);
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->n && !c->stop)
			pthread_cond_wait(&c->queued, &c->lock);
		if (!c->n)
			break;
		src = c->queue[0];
		/* Not held while compressing, nor while logging a failure. */
		pthread_mutex_unlock(&c->lock);
		compress_now(src);
		pthread_mutex_lock(&c->lock);
		c->n--;
		memmove(c->queue, c->queue + 1, c->n * sizeof(*c->queue));
		free(src);
		if (!c->n)
			pthread_cond_broadcast(&c->idle);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/*
 * The log's compression thread, started at its first rotation. Signals
 * stay with the agent's main thread: the thread blocks them all.
 */
static struct audit_compressor *compressor_start(struct audit_log *l)
{
	struct audit_compressor *c = calloc(1, sizeof(*c));
	sigset_t all, old;
	int err;

	if (!c) {
		err = ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->queued, NULL);
	pthread_cond_init(&c->idle, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&c->thread, NULL, compressor_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_cond_destroy(&c->idle);
		pthread_cond_destroy(&c->queued);
		pthread_mutex_destroy(&c->lock);
		free(c);
		goto fail;
	}
	l->gz = c;
	return c;
fail:
	pr_warn("cannot start a thread to compress the rotated files of %s, compressing them while writing: %s",
		l->path, strerror(err));
	return NULL;
}

static bool compressor_push(struct audit_compressor *c, const char *src)
{
	char *copy = strdup(src), **grown;

	if (!copy)
		return false;
	pthread_mutex_lock(&c->lock);
	grown = realloc(c->queue, (c->n + 1) * sizeof(*c->queue));
	if (grown) {
		c->queue = grown;
		c->queue[c->n++] = copy;
		pthread_cond_signal(&c->queued);
	}
	pthread_mutex_unlock(&c->lock);
	if (!grown)
		free(copy);
	return grown != NULL;
}

/* Hand a rotated file to the thread; without one, compress it here. */
static void compress_later(struct audit_log *l, const char *src)
{
	struct audit_compressor *c = l->gz ? l->gz : compressor_start(l);

	if (!c || !compressor_push(c, src))
		compress_now(src);
}

/* Is file (rotated, plain or .gz) queued or being compressed? */
static bool compressing(struct audit_log *l, const char *file)
{
	struct audit_compressor *c = l->gz;
	bool found = false;

	if (!c)
		return false;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->n && !found; i++) {
		size_t len = strlen(c->queue[i]);

		found = !strncmp(file, c->queue[i], len) &&
			(!file[len] || !strcmp(file + len, ".gz"));
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

void audit_log_wait_compression(struct audit_log *l)
{
	struct audit_compressor *c = l->gz;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	while (c->n)
		pthread_cond_wait(&c->idle, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

/* Compress what is queued, then end the thread. */
static void compressor_stop(struct audit_log *l)
{
	struct audit_compressor *c = l->gz;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->queued);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->idle);
	pthread_cond_destroy(&c->queued);
	pthread_mutex_destroy(&c->lock);
	free(c->queue);
	free(c);
	l->gz = NULL;
}

/*
 * Delete rotated files whose last line is older than the retention,
 * except those still queued for compression.
 */
static void sweep(struct audit_log *l)
{
	__u64 now = audit_clock(), t;
	char **files;
	size_t n;

	l->next_sweep_ns = now + SWEEP_EVERY_NS;
	if (!l->o.retention_ns || list_rotated(l->path, &files, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		char *slash = strrchr(files[i], '/');
		char *bcopy = strdup(l->path);

		if (bcopy && audit_rotated_time(basename(bcopy), slash + 1, &t) &&
		    t + l->o.retention_ns < now && !compressing(l, files[i])) {
			if (unlink(files[i]))
				pr_warn("cannot delete %s, past its retention: %s",
					files[i], strerror(errno));
			else
				pr_info("deleted %s: past its retention", files[i]);
		}
		free(bcopy);
	}
	audit_files_free(files, n);
}

/* After a crash: queue rotated files left plain, drop partial .gz. */
static void finish_rotations(struct audit_log *l)
{
	char **files, tmp[4210];
	size_t n;

	if (list_rotated(l->path, &files, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(files[i]);

		if (len > 3 && !strcmp(files[i] + len - 3, ".gz"))
			continue;
		snprintf(tmp, sizeof(tmp), "%s.gz.tmp", files[i]);
		unlink(tmp);
		compress_later(l, files[i]);
	}
	audit_files_free(files, n);
}

/* The timestamp the text starts with: a JSON line's, or a text line's. */
static __u64 line_time(const char *text)
{
	json_t *ev = text[0] == '{' ?
		json_loads(text, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
	const char *ts = ev ? json_string_value(json_object_get(ev, "timestamp")) : text;
	const char *end;
	__u64 ns = 0;

	if (ts && audit_parse_rfc3339(ts, &ns, &end))
		ns = 0;
	json_decref(ev);
	return ns;
}

/* Take the chain's tail from a line: its seq, and its hash. */
static void chain_from_line(struct audit_log *l, const char *file,
			    const char *line, size_t len)
{
	json_t *ev = json_loadb(line, len, 0, NULL);
	json_t *seq = json_object_get(json_object_get(ev, "metadata"), "seq");

	if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
		pr_warn("%s: the last line has no metadata.seq: the hash chain starts again at seq 1",
			file);
	} else {
		l->chain.seq = json_integer_value(seq);
		audit_hash_line(audit_key(), line, len, l->chain.hash);
	}
	json_decref(ev);
}

/* The last complete line of the newest rotated file, for the chain. */
static void chain_from_rotated(struct audit_log *l)
{
	struct audit_reader *r;
	char **files, *line, *last = NULL;
	ssize_t len;
	size_t n;

	if (list_rotated(l->path, &files, &n) || !n)
		return;
	r = audit_reader_open(files[n - 1]);
	while (r && (len = audit_reader_line(r, &line)) >= 0) {
		free(last);
		last = strndup(line, len);
	}
	if (last)
		chain_from_line(l, files[n - 1], last, strlen(last));
	free(last);
	audit_reader_close(r);
	audit_files_free(files, n);
}

/*
 * The current file's first line (for rotation by age) and last complete
 * line (for the chain). A file that does not end in a newline was torn
 * by a crash: the next write ends that line first.
 */
static void recover_tail(struct audit_log *l)
{
	size_t win = l->size < TAIL_WINDOW ? l->size : TAIL_WINDOW;
	int fd = open(l->path, O_RDONLY | O_CLOEXEC);
	char *buf = malloc(win + 1), *end, *start;
	ssize_t got;

	if (!buf || fd < 0) {
		pr_warn("cannot read back the log %s: its hash chain starts again", l->path);
		goto out;
	}
	got = pread(fd, buf, win, 0);
	if (got > 0) {
		buf[got] = '\0';
		l->born_ns = line_time(buf);
	}
	got = pread(fd, buf, win, l->size - win);
	if (got != (ssize_t)win)
		goto out;
	buf[win] = '\0';
	l->torn = buf[win - 1] != '\n';
	end = memrchr(buf, '\n', win);
	if (!end)
		goto out;
	*end = '\0';
	start = memrchr(buf, '\n', end - buf);
	start = start ? start + 1 : buf;
	if (start == buf && win < l->size)
		pr_warn("%s: the last line is longer than %d bytes", l->path, TAIL_WINDOW);
	else if (l->chained)
		chain_from_line(l, l->path, start, end - start);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
}

static int open_file(struct audit_log *l)
{
	struct stat st;
	int err;

	l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0) {
		err = -errno;
		pr_err("cannot open the log %s: %s", l->path, strerror(-err));
		return err;
	}
	/* A file made by someone else, more widely readable, is narrowed. */
	if (fstat(l->fd, &st) || ((st.st_mode & 0777) != 0600 && fchmod(l->fd, 0600))) {
		err = -errno;
		pr_err("cannot make the log %s mode 0600: %s", l->path, strerror(-err));
		close(l->fd);
		return err;
	}
	l->size = st.st_size;
	l->born_ns = 0;
	l->torn = false;
	l->open = true;
	return 0;
}

int audit_log_open(struct audit_log *l, const char *path,
		   const struct audit_log_opts *o, bool chained)
{
	char *copy = strdup(path);
	int err = 0;

	if (!copy)
		return -ENOMEM;
	if (mkdir(dirname(copy), 0700) && errno != EEXIST)
		err = -errno;
	free(copy);
	if (err) {
		pr_err("cannot create the directory of the log %s: %s", path,
		       strerror(-err));
		return err;
	}
	l->path = strdup(path);
	if (!l->path)
		return -ENOMEM;
	l->o = *o;
	l->chained = chained;
	err = open_file(l);
	if (err) {
		free(l->path);
		l->path = NULL;
		return err;
	}
	/* The chain first: the newest rotated file may be one left plain. */
	if (l->size)
		recover_tail(l);
	else if (chained)
		chain_from_rotated(l);
	finish_rotations(l);
	sweep(l);
	return 0;
}

int audit_log_rotate(struct audit_log *l)
{
	char rotated[4200];
	int err = 0;

	if (!l->path)
		return -EBADF;
	if (l->open) {
		fdatasync(l->fd);
		close(l->fd);
		l->open = false;
	}
	l->unsynced_since_ns = 0;
	pick_rotated_name(l->path, rotated, sizeof(rotated));
	if (rename(l->path, rotated)) {
		err = -errno;
		pr_err("cannot rotate the log %s: %s", l->path, strerror(-err));
	}
	if (open_file(l))
		return -EIO;
	sync_dir_of(l->path);
	if (!err)
		compress_later(l, rotated);
	sweep(l);
	return err;
}

static bool rotation_due(const struct audit_log *l, size_t incoming, __u64 now)
{
	if (!l->size)
		return false;
	if (l->o.rotate_size && l->size + incoming > l->o.rotate_size)
		return true;
	return l->o.rotate_age_ns && l->born_ns && now >= l->born_ns + l->o.rotate_age_ns;
}

static void sync_if_due(struct audit_log *l, __u64 now)
{
	if (!l->unsynced_since_ns || now < l->unsynced_since_ns + l->o.fsync_ns)
		return;
	if (fdatasync(l->fd))
		pr_warn("cannot fdatasync the log %s: %s", l->path, strerror(errno));
	l->unsynced_since_ns = 0;
}

/*
 * The longest run of whole lines at the head of lines that the file takes
 * before it is due a rotation by size; when not even one fits, the first
 * line alone (the write rotates first, as it would for that line).
 */
static size_t fitting_run(const struct audit_log *l, const char *lines, size_t len)
{
	size_t room, fit = 0;
	const char *nl;

	if (!l->o.rotate_size || l->size + len <= l->o.rotate_size)
		return len;
	room = l->size < l->o.rotate_size ? l->o.rotate_size - l->size : 0;
	while ((nl = memchr(lines + fit, '\n', len - fit)) &&
	       (size_t)(nl + 1 - lines) <= room)
		fit = nl + 1 - lines;
	if (fit)
		return fit;
	nl = memchr(lines, '\n', len);
	return nl ? (size_t)(nl + 1 - lines) : len;
}

/* Write lines (whole, chained already) in one write, rotating first when due. */
static int write_run(struct audit_log *l, const char *lines, size_t len, __u64 now)
{
	int err;

	if (!l->open && open_file(l))
		return -EIO;
	if (rotation_due(l, len, now))
		audit_log_rotate(l);
	if (!l->open)
		return -EIO;
	if (l->torn && !write_all(l->fd, "\n", 1)) {
		l->size++;
		l->torn = false;
	}
	/* One write per run of lines, O_APPEND: lines are never interleaved. */
	err = write_all(l->fd, lines, len);
	if (err) {
		pr_warn("cannot write to the log %s: %s", l->path, strerror(-err));
		return err;
	}
	l->size += len;
	if (!l->born_ns)
		l->born_ns = now;
	if (!l->unsynced_since_ns)
		l->unsynced_since_ns = now;
	return 0;
}

int audit_log_write(struct audit_log *l, const char *lines, size_t len)
{
	__u64 now;
	int err = 0;

	if (!l->path || !len)
		return 0;
	now = audit_clock();
	while (len && !err) {
		size_t n = fitting_run(l, lines, len);

		err = write_run(l, lines, n, now);
		lines += n;
		len -= n;
	}
	if (l->open)
		sync_if_due(l, now);
	return err;
}

int audit_log_append(struct audit_log *l, const char *line, size_t len)
{
	audit_chain_advance(&l->chain, line, len - 1);
	return audit_log_write(l, line, len);
}

void audit_log_tick(struct audit_log *l)
{
	__u64 now = audit_clock();

	if (!l->open)
		return;
	sync_if_due(l, now);
	if (rotation_due(l, 0, now))
		audit_log_rotate(l);
	if (now >= l->next_sweep_ns)
		sweep(l);
}

void audit_log_close(struct audit_log *l)
{
	if (l->open) {
		fdatasync(l->fd);
		close(l->fd);
	}
	l->open = false;
	compressor_stop(l);
	free(l->path);
	l->path = NULL;
}

/* ---- the agent's own log ---- */

static struct {
	struct audit_log log;
	int stderr_fd;		/* the real stderr */
	int pipe_fd;		/* what the agent writes to stderr */
	pthread_t pump;
	bool running;
} agent_log;

static void agent_log_line(const char *text, size_t len)
{
	char ts[48], *line;
	int n;

	event_format_time(audit_clock(), ts, sizeof(ts));
	n = asprintf(&line, "%s %.*s\n", ts, (int)len, text);
	if (n < 0)
		return;
	audit_log_append(&agent_log.log, line, n);
	free(line);
}

/* Copy stderr through to the real one, and line by line to the file. */
static void *agent_log_pump(void *arg)
{
	char buf[4096];
	size_t have = 0;

	(void)arg;
	for (;;) {
		ssize_t n = read(agent_log.pipe_fd, buf + have, sizeof(buf) - have);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		write_all(agent_log.stderr_fd, buf + have, n);
		have += n;
		while ((nl = memchr(buf, '\n', have))) {
			agent_log_line(buf, nl - buf);
			have -= nl + 1 - buf;
			memmove(buf, nl + 1, have);
		}
		if (have == sizeof(buf)) {
			agent_log_line(buf, have);
			have = 0;
		}
	}
	if (have)
		agent_log_line(buf, have);
	return NULL;
}

int agent_log_start(const char *path, const struct audit_log_opts *o)
{
	int fds[2], err;

	err = audit_log_open(&agent_log.log, path, o, false);
	if (err)
		return err;
	agent_log.stderr_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (agent_log.stderr_fd < 0 || pipe2(fds, O_CLOEXEC)) {
		err = -errno;
		goto close_log;
	}
	agent_log.pipe_fd = fds[0];
	fflush(stderr);
	if (dup2(fds[1], STDERR_FILENO) < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		goto close_log;
	}
	close(fds[1]);
	err = -pthread_create(&agent_log.pump, NULL, agent_log_pump, NULL);
	if (err) {
		dup2(agent_log.stderr_fd, STDERR_FILENO);
		close(fds[0]);
		goto close_log;
	}
	agent_log.running = true;
	return 0;
close_log:
	if (agent_log.stderr_fd >= 0)
		close(agent_log.stderr_fd);
	audit_log_close(&agent_log.log);
	pr_err("cannot start the agent log %s: %s", path, strerror(-err));
	return err;
}

void agent_log_stop(void)
{
	if (!agent_log.running)
		return;
	fflush(stderr);
	/* The pipe's last writer goes: the pump reads to the end and stops. */
	dup2(agent_log.stderr_fd, STDERR_FILENO);
	pthread_join(agent_log.pump, NULL);
	close(agent_log.pipe_fd);
	close(agent_log.stderr_fd);
	audit_log_close(&agent_log.log);
	agent_log.running = false;
}
