/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Addresses and prefixes as the policy judges them. Every IPv4 destination
 * lives in one space, whatever form it was written in: a.b.c.d,
 * ::ffff:a.b.c.d (v4-mapped) and 64:ff9b::a.b.c.d (NAT64). 0.0.0.0 and ::
 * reach the local host and are judged as 127.0.0.1 and ::1.
 */
#ifndef ODSBPF_ADDR_H
#define ODSBPF_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An address or prefix; network order bytes, IPv4 in addr[0..3]. */
struct addr_prefix {
	bool is4;
	uint8_t len;		/* 0..32 for IPv4, 0..128 for IPv6 */
	uint8_t addr[16];
};

/* Longest text addr_format() writes, with its terminating NUL. */
#define ADDR_STRLEN 64

/*
 * Parse "ADDR/LEN" or a bare "ADDR" (a single host) strictly: the forms
 * inet_pton accepts, no leading zeros in IPv4 octets or in the length, no
 * host bits set. Mapped and NAT64 prefixes of length 96 or more become
 * the IPv4 prefix they carry. Returns 0, or -EINVAL with a reason in why.
 */
int addr_parse_prefix(const char *text, struct addr_prefix *out,
		      char *why, size_t why_len);

/*
 * Parse one destination address (no length) and turn it into the address
 * the policy judges. Returns 0 or -EINVAL.
 */
int addr_parse_dest(const char *text, struct addr_prefix *out);

/* Turn a raw 16-byte IPv6 address into the address the policy judges. */
void addr_judge6(const uint8_t ip6[16], struct addr_prefix *out);

/* Judge an IPv4 address (network order bytes). */
void addr_judge4(const uint8_t ip4[4], struct addr_prefix *out);

/* Does prefix p contain address or prefix a (same family, a->len >= p->len)? */
bool addr_contains(const struct addr_prefix *p, const struct addr_prefix *a);

/* "a.b.c.d/n" or "x::y/n" into buf (at least ADDR_STRLEN bytes). */
void addr_format(const struct addr_prefix *p, bool with_len, char *buf);

/*
 * Print a 16-byte address as it would be written: v4-mapped as a.b.c.d,
 * anything else as IPv6.
 */
void addr_format16(const uint8_t ip6[16], char *buf);

#endif
