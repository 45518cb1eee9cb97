/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Audit log files: lines appended to a file of mode 0600, a line or a
 * run of whole lines per write(2); a hash chain through the lines (metadata.seq and
 * metadata.prev_hash); rotation by size and age; gzip of rotated files;
 * deletion of rotated files past their retention, never before. And the
 * other side: listing a log's files in order and reading plain or
 * gzipped files line by line, for `odsbpf events` and `audit verify`.
 *
 * A rotated file is named PATH.YYYY-MM-DDTHH-MM-SS.mmmZ.gz after the
 * moment it was rotated (UTC), so names sort in the order written and
 * retention counts from a file's last line. Rotation renames the file
 * and returns; a thread of the log's own gzips it (through NAME.gz.tmp,
 * then renamed to NAME.gz, then NAME removed), so for a while a rotated
 * file is there plain, or plain and gzipped: readers take the plain one.
 */
#ifndef ODSBPF_AUDIT_LOG_H
#define ODSBPF_AUDIT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <jansson.h>

#define AUDIT_KEY_ENV		"ODSBPF_AUDIT_KEY"
#define AUDIT_HASH_LEN		32	/* SHA-256 */
#define AUDIT_HASH_HEX_LEN	(2 * AUDIT_HASH_LEN)

#define NS_PER_SEC		1000000000ull
#define NS_PER_DAY		(86400 * NS_PER_SEC)

/* Defaults, as the README documents them. */
#define AUDIT_ROTATE_SIZE	(100ull << 20)		/* 100 MiB */
#define AUDIT_ROTATE_AGE_NS	NS_PER_DAY
#define AUDIT_RETENTION_NS	(365 * NS_PER_DAY)
#define AGENT_LOG_RETENTION_NS	(90 * NS_PER_DAY)
#define AUDIT_FSYNC_NS		NS_PER_SEC

struct audit_log_opts {
	__u64 rotate_size;	/* bytes; 0: never by size */
	__u64 rotate_age_ns;	/* 0: never by age */
	__u64 retention_ns;	/* rotated files older are deleted; 0: kept */
	__u64 fsync_ns;		/* fdatasync at most this long after a write;
				 * 0: after every line */
};

#define AUDIT_LOG_OPTS_DEFAULT {				\
	.rotate_size = AUDIT_ROTATE_SIZE,			\
	.rotate_age_ns = AUDIT_ROTATE_AGE_NS,			\
	.retention_ns = AUDIT_RETENTION_NS,			\
	.fsync_ns = AUDIT_FSYNC_NS,				\
}

/*
 * The hash chain: line n carries seq n and the hex hash of line n - 1
 * exactly as written, without its newline; the first line of a chain
 * carries 64 zeros. The hash is HMAC-SHA256 under $ODSBPF_AUDIT_KEY
 * when it is set and not empty, else SHA-256.
 */
struct audit_chain {
	unsigned long long seq;			/* of the last line; 0: none */
	unsigned char hash[AUDIT_HASH_LEN];	/* of the last line */
};

struct audit_compressor;

/* A log file and its chain. Zero-initialised it is closed, chain empty. */
struct audit_log {
	bool open;
	bool chained;		/* JSON lines: the chain resumes on open */
	bool torn;		/* the file ends in a partial line */
	int fd;
	char *path;
	struct audit_log_opts o;
	__u64 size;
	__u64 born_ns;		/* time of the file's first line; 0: empty */
	__u64 unsynced_since_ns;	/* 0: nothing to fdatasync */
	__u64 next_sweep_ns;
	struct audit_chain chain;
	struct audit_compressor *gz;	/* rotated files queued for gzip;
					 * NULL until the first rotation */
};

/* Wall clock, ns since the epoch; tests replace it. */
extern __u64 (*audit_clock)(void);

/*
 * Compress a rotated file src into src.gz through src.gz.tmp, then
 * remove src. Returns 0 or -errno. The log's compression thread calls
 * it through audit_compress, which tests replace.
 */
int audit_gzip_file(const char *src);
extern int (*audit_compress)(const char *src);

/* The chain's key from the environment: NULL (SHA-256) or the key. */
const char *audit_key(void);

/* Hash one line (no newline) under key (NULL: plain SHA-256). */
void audit_hash_line(const char *key, const char *line, size_t len,
		     unsigned char out[AUDIT_HASH_LEN]);
void audit_hash_hex(const unsigned char hash[AUDIT_HASH_LEN], char *out);

/* Put the next seq and prev_hash into an event's metadata. */
void audit_chain_stamp(const struct audit_chain *c, json_t *meta);
/* The line stamped last was written: it is the chain's new tail. */
void audit_chain_advance(struct audit_chain *c, const char *line, size_t len);

/*
 * Open path for appending (directory made 0700, file 0600). A chained
 * log picks up its chain from the last line of the file, or of the
 * newest rotated file when the file is empty. Finishes what a crash left
 * (rotated files not yet compressed: queued for the compression thread)
 * and deletes files past retention.
 */
int audit_log_open(struct audit_log *l, const char *path,
		   const struct audit_log_opts *o, bool chained);

/*
 * Append one line (len includes its newline), rotating first when the
 * file is due. The chain advances even when no file is open.
 */
int audit_log_append(struct audit_log *l, const char *line, size_t len);

/*
 * Append whole lines (each ending in a newline) whose chain has already
 * advanced over them: one write for the run, split only where a rotation
 * by size falls between two lines, as line by line it would.
 */
int audit_log_write(struct audit_log *l, const char *lines, size_t len);

/* Periodic work: fdatasync when due, rotation by age, retention. */
void audit_log_tick(struct audit_log *l);

/*
 * Rename the file to its rotated name, open a new one and queue the
 * rotated file for compression; does not wait for it. Returns 0 or
 * -errno.
 */
int audit_log_rotate(struct audit_log *l);

/* Wait until every rotated file queued so far is compressed (or failed). */
void audit_log_wait_compression(struct audit_log *l);

/* Close the file, and wait for the compression of rotated files. */
void audit_log_close(struct audit_log *l);

/*
 * The files of the log at path, oldest first: rotated files (plain or
 * gzipped), then path itself when it exists. Caller frees with
 * audit_files_free(). Returns 0 or -errno.
 */
int audit_log_files(const char *path, char ***files, size_t *n);
void audit_files_free(char **files, size_t n);

/*
 * RFC 3339 ("2026-01-02T03:04:05Z", with an optional fraction and a Z or
 * +HH:MM zone) -> ns since the epoch. With end, a prefix of text is
 * parsed and *end points after it; without, all of text must be.
 * Returns 0 or -EINVAL.
 */
int audit_parse_rfc3339(const char *text, __u64 *ns, const char **end);

/* Parse a rotated file's name: its rotation time. */
bool audit_rotated_time(const char *base, const char *name, __u64 *ns);

/* Read a plain or gzipped file line by line. */
struct audit_reader;
struct audit_reader *audit_reader_open(const char *path);
/* Next line without its newline, NUL-terminated; -1 at the end. */
ssize_t audit_reader_line(struct audit_reader *r, char **line);
void audit_reader_close(struct audit_reader *r);

/*
 * The agent's own log: everything the agent writes to stderr is also
 * appended to path, one timestamped line per line, under o's rotation and
 * retention. Returns 0 or -errno; stop restores stderr.
 */
int agent_log_start(const char *path, const struct audit_log_opts *o);
void agent_log_stop(void);

#endif
