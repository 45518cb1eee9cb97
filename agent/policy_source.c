// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "policy_source.h"

#define MAX_POLICY_BYTES (16 << 20)

static void to_hex(const unsigned char *bytes, size_t n, char *hex)
{
	for (size_t i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", bytes[i]);
	hex[2 * n] = '\0';
}

char *policy_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	struct stat st;
	size_t n;

	if (!f)
		return NULL;
	if (fstat(fileno(f), &st))
		goto out;
	if (S_ISDIR(st.st_mode) || st.st_size > MAX_POLICY_BYTES) {
		/* the agent takes a directory; a check, files */
		errno = S_ISDIR(st.st_mode) ? EISDIR : EFBIG;
		goto out;
	}
	buf = malloc(st.st_size + 1);
	if (!buf)
		goto out;
	n = fread(buf, 1, st.st_size, f);
	buf[n] = '\0';
	if (len)
		*len = n;
out:
	fclose(f);
	return buf;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_policy_name(const char *name)
{
	size_t len = strlen(name);

	return name[0] != '.' && len > 5 && !strcmp(name + len - 5, ".json");
}

/*
 * kubelet swaps dir/..data to a new timestamped directory; resolving it
 * once gives one consistent set of files.
 */
static void resolve_configmap(const char *dir, char *out, size_t len)
{
	char data[PATH_MAX], real[PATH_MAX];

	snprintf(data, sizeof(data), "%s/..data", dir);
	if (realpath(data, real))
		snprintf(out, len, "%s", real);
	else
		snprintf(out, len, "%s", dir);
}

/* Sorted names of the policy files in dir. */
static int list_names(const char *dir, char **names, size_t *n)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d)) && *n < POLICY_SOURCE_MAX_FILES) {
		if (!is_policy_name(de->d_name))
			continue;
		names[*n] = strdup(de->d_name);
		if (!names[*n]) {
			closedir(d);
			return -ENOMEM;
		}
		(*n)++;
	}
	closedir(d);
	qsort(names, *n, sizeof(*names), name_cmp);
	return 0;
}

/* SHA-256 over each file's name and bytes, in order. */
static void hash_source(struct policy_source *src)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		return;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (size_t i = 0; i < src->n; i++) {
		const char *base = strrchr(src->names[i], '/');

		base = base ? base + 1 : src->names[i];
		EVP_DigestUpdate(ctx, base, strlen(base) + 1);
		EVP_DigestUpdate(ctx, src->texts[i], strlen(src->texts[i]) + 1);
	}
	EVP_DigestFinal_ex(ctx, md, &md_len);
	EVP_MD_CTX_free(ctx);
	to_hex(md, md_len, src->hash);
}

static int read_one(const char *dir, const char *shown_dir, const char *name,
		    struct policy_source *src, char *err, size_t err_len)
{
	char path[PATH_MAX];
	size_t i = src->n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	src->texts[i] = policy_read_file(path, NULL);
	if (!src->texts[i]) {
		int e = errno;

		snprintf(err, err_len, "%s/%s: cannot read: %s", shown_dir, name, strerror(e));
		return -e;
	}
	snprintf(path, sizeof(path), "%s/%s%s", dir, name, POLICY_SIG_SUFFIX);
	src->sigs[i] = policy_read_file(path, NULL);
	if (asprintf(&src->names[i], "%s/%s", shown_dir, name) < 0) {
		src->names[i] = NULL;
		return -ENOMEM;
	}
	src->n++;
	return 0;
}

int policy_source_read_dir(const char *dir, struct policy_source *src,
			   char *err, size_t err_len)
{
	char *names[POLICY_SOURCE_MAX_FILES];
	char real[PATH_MAX];
	size_t n;
	int ret;

	memset(src, 0, sizeof(*src));
	resolve_configmap(dir, real, sizeof(real));
	ret = list_names(real, names, &n);
	if (ret) {
		snprintf(err, err_len, "%s: cannot read the policy directory: %s", dir,
			 strerror(-ret));
		return ret;
	}
	if (!n) {
		snprintf(err, err_len, "%s: no *.json policy file", dir);
		return -ENOENT;
	}
	for (size_t i = 0; i < n && !ret; i++)
		ret = read_one(real, dir, names[i], src, err, err_len);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	if (ret) {
		policy_source_free(src);
		return ret;
	}
	hash_source(src);
	return 0;
}

int policy_source_from_text(const char *name, const char *text,
			    struct policy_source *src)
{
	memset(src, 0, sizeof(*src));
	src->names[0] = strdup(name);
	src->texts[0] = strdup(text);
	if (!src->names[0] || !src->texts[0]) {
		policy_source_free(src);
		return -ENOMEM;
	}
	src->n = 1;
	hash_source(src);
	return 0;
}

void policy_source_free(struct policy_source *src)
{
	for (size_t i = 0; i < POLICY_SOURCE_MAX_FILES; i++) {
		free(src->names[i]);
		free(src->texts[i]);
		free(src->sigs[i]);
	}
	memset(src, 0, sizeof(*src));
}

int policy_hmac_hex(const char *key, const void *data, size_t len, char *hex)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t mac_len = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key),
		       data, len, mac, sizeof(mac), &mac_len))
		return -EIO;
	to_hex(mac, mac_len, hex);
	return 0;
}

/* The first token of a .sig file: 64 hex digits. */
static bool sig_matches(const char *sig, const char *expected_hex)
{
	char got[POLICY_HASH_HEX_LEN] = "";
	size_t n = 0;

	while (*sig == ' ' || *sig == '\t')
		sig++;
	while (n < sizeof(got) - 1 && sig[n] && sig[n] != '\n' && sig[n] != ' ')
		got[n] = sig[n], n++;
	if (n != POLICY_HASH_HEX_LEN - 1)
		return false;
	return !CRYPTO_memcmp(got, expected_hex, n);
}

int policy_source_verify(const struct policy_source *src, const char *key,
			 char *err, size_t err_len)
{
	char hex[POLICY_HASH_HEX_LEN];

	for (size_t i = 0; i < src->n; i++) {
		if (!src->sigs[i]) {
			snprintf(err, err_len, "%s: unsigned: no %s%s beside it",
				 src->names[i], strrchr(src->names[i], '/') ?
				 strrchr(src->names[i], '/') + 1 : src->names[i],
				 POLICY_SIG_SUFFIX);
			return -EPERM;
		}
		if (policy_hmac_hex(key, src->texts[i], strlen(src->texts[i]), hex)) {
			snprintf(err, err_len, "%s: cannot compute HMAC-SHA256", src->names[i]);
			return -EIO;
		}
		if (!sig_matches(src->sigs[i], hex)) {
			snprintf(err, err_len,
				 "%s: signature does not match (file changed, or signed with another key)",
				 src->names[i]);
			return -EPERM;
		}
	}
	return 0;
}

int policy_sign_file(const char *file, const char *key, char *err, size_t err_len)
{
	char hex[POLICY_HASH_HEX_LEN], path[PATH_MAX];
	size_t len;
	char *text = policy_read_file(file, &len);
	int fd, ret = 0;

	if (!text) {
		snprintf(err, err_len, "%s: cannot read: %s", file, strerror(errno));
		return -errno;
	}
	if (policy_hmac_hex(key, text, len, hex)) {
		free(text);
		snprintf(err, err_len, "%s: cannot compute HMAC-SHA256", file);
		return -EIO;
	}
	free(text);
	snprintf(path, sizeof(path), "%s%s", file, POLICY_SIG_SUFFIX);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%s\n", hex) < 0) {
		ret = -errno;
		snprintf(err, err_len, "%s: cannot write: %s", path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

char *policy_key_load(const char *path, char *err, size_t err_len)
{
	char *key;

	if (path) {
		key = policy_read_file(path, NULL);
		if (!key) {
			snprintf(err, err_len, "%s: cannot read the key: %s", path, strerror(errno));
			return NULL;
		}
		key[strcspn(key, "\r\n")] = '\0';
	} else {
		const char *env = getenv("ODSBPF_POLICY_KEY");

		if (!env || !*env) {
			snprintf(err, err_len, "no signing key: set ODSBPF_POLICY_KEY or give --key-file");
			return NULL;
		}
		key = strdup(env);
		if (!key)
			return NULL;
	}
	if (strlen(key) < POLICY_KEY_MIN_LEN) {
		snprintf(err, err_len, "the policy key is %zu characters; at least %d are required",
			 strlen(key), POLICY_KEY_MIN_LEN);
		free(key);
		return NULL;
	}
	return key;
}
