/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Where policy text comes from: a directory laid out as kubelet mounts a
 * ConfigMap, read once into memory so that what is verified, hashed and
 * parsed is the same bytes; HMAC-SHA256 signatures beside each file.
 */
#ifndef ODSBPF_POLICY_SOURCE_H
#define ODSBPF_POLICY_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#define POLICY_SOURCE_MAX_FILES	256
#define POLICY_KEY_MIN_LEN	32
#define POLICY_HASH_HEX_LEN	65	/* SHA-256 in hex, with the NUL */
#define POLICY_SIG_SUFFIX	".sig"

struct policy_source {
	size_t n;
	char *names[POLICY_SOURCE_MAX_FILES];	/* paths, for messages */
	char *texts[POLICY_SOURCE_MAX_FILES];	/* contents, NUL-terminated */
	char *sigs[POLICY_SOURCE_MAX_FILES];	/* FILE.sig contents, or NULL */
	char hash[POLICY_HASH_HEX_LEN];		/* over names and contents */
};

/*
 * Read every *.json of dir (and its .sig when present). In a ConfigMap
 * mount the files are read through one resolution of the ..data link, so
 * a swap in the middle cannot mix old and new files. Returns 0, or a
 * negative errno with one line in err.
 */
int policy_source_read_dir(const char *dir, struct policy_source *src,
			   char *err, size_t err_len);

/* One text held in memory (the built-in default), under a name. */
int policy_source_from_text(const char *name, const char *text,
			    struct policy_source *src);

/*
 * Every file must carry a signature made with key; compared in constant
 * time. Returns 0, or -EPERM naming the first file that fails.
 */
int policy_source_verify(const struct policy_source *src, const char *key,
			 char *err, size_t err_len);

void policy_source_free(struct policy_source *src);

/*
 * A whole file, NUL-terminated, at most 16 MiB; NULL with errno set
 * (EISDIR for a directory, EFBIG past the limit).
 */
char *policy_read_file(const char *path, size_t *len);

/* HMAC-SHA256 of data under key, as lowercase hex (65 bytes with NUL). */
int policy_hmac_hex(const char *key, const void *data, size_t len, char *hex);

/* Write FILE.sig for file under key. */
int policy_sign_file(const char *file, const char *key, char *err,
		     size_t err_len);

/* The signing key from a file (first line) or, when path is NULL, from
 * ODSBPF_POLICY_KEY. Returns a malloc'd string or NULL with err set. */
char *policy_key_load(const char *path, char *err, size_t err_len);

#endif
