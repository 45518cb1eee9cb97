// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

static const uint8_t mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };
static const uint8_t nat64_prefix[12] = { 0x00, 0x64, 0xff, 0x9b };

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Does the 16-byte address start with the 96 bits of an IPv4 embedding? */
static bool embeds_ip4(const uint8_t ip6[16])
{
	return !memcmp(ip6, mapped_prefix, 12) || !memcmp(ip6, nat64_prefix, 12);
}

void addr_judge4(const uint8_t ip4[4], struct addr_prefix *out)
{
	memset(out, 0, sizeof(*out));
	out->is4 = true;
	out->len = 32;
	memcpy(out->addr, ip4, 4);
	if (is_zero(ip4, 4)) {
		out->addr[0] = 127;
		out->addr[3] = 1;
	}
}

void addr_judge6(const uint8_t ip6[16], struct addr_prefix *out)
{
	if (embeds_ip4(ip6)) {
		addr_judge4(ip6 + 12, out);
		return;
	}
	memset(out, 0, sizeof(*out));
	out->len = 128;
	memcpy(out->addr, ip6, 16);
	if (is_zero(ip6, 16))
		out->addr[15] = 1;
}

/* Decimal without sign, leading zeros or excess; -1 when malformed. */
static int parse_len(const char *s, int max)
{
	int v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return max + 1;
	}
	return v;
}

/* glibc's inet_pton already refuses octal, hex and short forms. */
static bool ip4_has_leading_zero(const char *s)
{
	for (const char *p = s; *p; p++) {
		bool starts_octet = p == s || p[-1] == '.';

		if (starts_octet && p[0] == '0' && p[1] >= '0' && p[1] <= '9')
			return true;
	}
	return false;
}

static bool host_bits_set(const uint8_t *addr, int len, int bits)
{
	for (int i = len; i < bits; i++)
		if (addr[i / 8] & (0x80 >> (i % 8)))
			return true;
	return false;
}

static void mask_to(uint8_t *addr, int len, int bits)
{
	for (int i = len; i < bits; i++)
		addr[i / 8] &= ~(0x80 >> (i % 8));
}

static int parse_address(const char *text, struct addr_prefix *out,
			 char *why, size_t why_len)
{
	memset(out, 0, sizeof(*out));
	if (strchr(text, ':')) {
		if (inet_pton(AF_INET6, text, out->addr) != 1) {
			snprintf(why, why_len, "not an IPv6 address");
			return -EINVAL;
		}
		out->len = 128;
		return 0;
	}
	/* Before inet_pton, which refuses these too but cannot say why. */
	if (ip4_has_leading_zero(text)) {
		snprintf(why, why_len, "leading zero in an IPv4 octet (octal to some parsers)");
		return -EINVAL;
	}
	if (inet_pton(AF_INET, text, out->addr) != 1) {
		snprintf(why, why_len, "not an IPv4 address in dotted-quad form");
		return -EINVAL;
	}
	out->is4 = true;
	out->len = 32;
	return 0;
}

/* An IPv6 prefix of /96 or longer inside an IPv4 embedding is IPv4. */
static void fold_embedded_ip4(struct addr_prefix *p)
{
	if (p->is4 || p->len < 96 || !embeds_ip4(p->addr))
		return;
	p->is4 = true;
	p->len -= 96;
	memmove(p->addr, p->addr + 12, 4);
	memset(p->addr + 4, 0, 12);
}

int addr_parse_prefix(const char *text, struct addr_prefix *out,
		      char *why, size_t why_len)
{
	char buf[ADDR_STRLEN];
	char *slash;
	int len, bits, err;

	if (strlen(text) >= sizeof(buf)) {
		snprintf(why, why_len, "too long for an address");
		return -EINVAL;
	}
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';

	err = parse_address(buf, out, why, why_len);
	if (err)
		return err;
	bits = out->is4 ? 32 : 128;
	if (!slash)
		goto fold;

	len = parse_len(slash + 1, bits);
	if (len < 0) {
		snprintf(why, why_len, "prefix length is not a decimal number");
		return -EINVAL;
	}
	if (len > bits) {
		snprintf(why, why_len, "prefix longer than %d", bits);
		return -EINVAL;
	}
	if (host_bits_set(out->addr, len, bits)) {
		struct addr_prefix masked = *out;
		char hint[ADDR_STRLEN];

		masked.len = len;
		mask_to(masked.addr, len, bits);
		addr_format(&masked, true, hint);
		snprintf(why, why_len, "host bits set (did you mean %s?)", hint);
		return -EINVAL;
	}
	out->len = len;
fold:
	fold_embedded_ip4(out);
	return 0;
}

int addr_parse_dest(const char *text, struct addr_prefix *out)
{
	struct addr_prefix raw;
	char why[128];
	int err;

	err = parse_address(text, &raw, why, sizeof(why));
	if (err)
		return err;
	if (raw.is4)
		addr_judge4(raw.addr, out);
	else
		addr_judge6(raw.addr, out);
	return 0;
}

bool addr_contains(const struct addr_prefix *p, const struct addr_prefix *a)
{
	int full = p->len / 8, rest = p->len % 8;

	if (p->is4 != a->is4 || a->len < p->len)
		return false;
	if (memcmp(p->addr, a->addr, full))
		return false;
	if (!rest)
		return true;
	return !((p->addr[full] ^ a->addr[full]) & (0xff00 >> rest));
}

void addr_format(const struct addr_prefix *p, bool with_len, char *buf)
{
	inet_ntop(p->is4 ? AF_INET : AF_INET6, p->addr, buf, ADDR_STRLEN);
	if (with_len)
		sprintf(buf + strlen(buf), "/%d", p->len);
}

void addr_format16(const uint8_t ip6[16], char *buf)
{
	if (!memcmp(ip6, mapped_prefix, 12))
		inet_ntop(AF_INET, ip6 + 12, buf, ADDR_STRLEN);
	else
		inet_ntop(AF_INET6, ip6, buf, ADDR_STRLEN);
}
