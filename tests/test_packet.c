// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The packet programs on crafted frames, through BPF_PROG_TEST_RUN: each
 * case names a frame, the outcome XDP must reach and the one cgroup_skb
 * must reach (the same frame from its IP header on), and the rule an
 * event must name when the packet is judged and denied. The verdict,
 * the counter of the outcome and the event (or its absence) are checked.
 * Nothing is attached and nothing is sent: test runs touch no interface.
 *
 *   test_packet           PASS/FAIL lines on stdout, nothing else; the
 *                         XDP cost per packet on stderr
 *   test_packet --bench   the XDP cost per packet on stdout
 *
 * Frames are written in a small language, one token per header:
 *
 *   vlan | svlan                     802.1Q | 802.1ad tag
 *   ether=0x88cc                     any other ethertype
 *   arp[,plen=N]                     ARP request (IPv4 over Ethernet)
 *   ip4=DST[,mf][,off=N][,p=PROTO][,opt=HEX][,ihl=N][,ver=N]
 *   ip6=DST[,hop=N][,ver=N]
 *   hbh | dst[,len=N] | rt=SEGMENTS_LEFT | frag=OFF[,m][,p=PROTO] | ah | mh | esp | none
 *   tcp=DPORT,FLAGS (S, SA, A, R) | udp=DPORT | icmp=TYPE | icmp6=TYPE | proto=N
 *   pay=N                            N bytes of payload
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "commands.h"
#include "compile.h"
#include "enforcer.h"
#include "log.h"
#include "packet.h"
#include "packet.skel.h"
#include "policy.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define FRAME_MAX	4000
#define NA		-1		/* the layer never sees such a frame */
#define MAX_EVENTS	16

/* Outcomes, short, for the table. */
#define ALLOWED		ODSBPF_PKT_ALLOWED
#define DENIED		ODSBPF_PKT_DENIED
#define AUDITED		ODSBPF_PKT_AUDITED
#define NEIGHBOUR	ODSBPF_PKT_NEIGHBOUR
#define REPLY		ODSBPF_PKT_REPLY
#define UNPARSEABLE	ODSBPF_PKT_UNPARSEABLE
#define TOO_DEEP	ODSBPF_PKT_TOO_DEEP
#define SOURCE_ROUTED	ODSBPF_PKT_SOURCE_ROUTED
#define UNSUPPORTED	ODSBPF_PKT_UNSUPPORTED

/* default.json, plus port rules that only some ports or protocols match. */
static const char test_rules[] =
	"{\"apiVersion\":\"odsbpf/v1\",\"rules\":["
	"{\"name\":\"allow-test-dns\",\"action\":\"allow\",\"cidrs\":[\"10.96.0.10/32\"],"
	"\"ports\":[\"53\"],\"protocols\":[\"udp\",\"tcp\"]},"
	"{\"name\":\"deny-test-web\",\"action\":\"deny\",\"cidrs\":[\"203.0.113.0/24\"],"
	"\"ports\":[\"80\"],\"protocols\":[\"tcp\"]}]}";

static const char audit_rules[] =
	"{\"apiVersion\":\"odsbpf/v1\",\"mode\":\"audit\",\"rules\":["
	"{\"name\":\"would-deny-metadata\",\"action\":\"deny\","
	"\"cidrs\":[\"169.254.169.254/32\"]}]}";

struct pkt_case {
	const char *name;
	const char *frame;
	int xdp;		/* outcome at XDP */
	int skb;		/* outcome at cgroup_skb, or NA */
	const char *rule;	/* of the event a denial raises */
};

static const struct pkt_case cases[] = {
	/* The policy, through both layers */
	{ "tcp_syn_to_public_is_allowed", "ip4=198.51.100.10 tcp=443,S", ALLOWED, ALLOWED },
	{ "udp_to_public_ipv6_is_allowed", "ip6=2001:db8::10 udp=53", ALLOWED, ALLOWED },
	{ "tcp_syn_to_metadata_is_dropped", "ip4=169.254.169.254 tcp=80,S", DENIED, DENIED,
	  "deny-cloud-metadata" },
	{ "udp_to_private_is_dropped", "ip4=10.0.0.1 udp=53", DENIED, DENIED, "deny-rfc1918" },
	{ "tcp_syn_to_ipv6_metadata_is_dropped", "ip6=fd00:ec2::254 tcp=80,S", DENIED, DENIED,
	  "deny-aws-imds-ipv6" },
	{ "v4_mapped_metadata_is_judged_as_ipv4", "ip6=::ffff:169.254.169.254 tcp=80,S",
	  DENIED, DENIED, "deny-cloud-metadata" },
	{ "nat64_metadata_is_judged_as_ipv4", "ip6=64:ff9b::a9fe:a9fe udp=53", DENIED, DENIED,
	  "deny-cloud-metadata" },
	{ "unspecified_destination_is_judged_as_loopback", "ip4=0.0.0.0 udp=9", DENIED, DENIED,
	  "deny-loopback" },
	{ "port_exception_allows_dns", "ip4=10.96.0.10 udp=53", ALLOWED, ALLOWED },
	{ "port_exception_is_only_that_port", "ip4=10.96.0.10 udp=54", DENIED, DENIED,
	  "deny-rfc1918" },
	{ "port_rule_denies_its_port", "ip4=203.0.113.5 tcp=80,S", DENIED, DENIED,
	  "deny-test-web" },
	{ "port_rule_allows_other_ports", "ip4=203.0.113.5 tcp=443,S", ALLOWED, ALLOWED },
	{ "gre_to_private_is_dropped", "ip4=10.0.0.1 proto=47", DENIED, DENIED, "deny-rfc1918" },
	{ "gre_to_public_is_allowed", "ip4=198.51.100.10 proto=47", ALLOWED, ALLOWED },
	{ "esp_to_ula_is_dropped", "ip6=fd12::1 esp", DENIED, DENIED, "deny-ula" },

	/*
	 * TCP past its SYN: XDP lets it through as a reply; cgroup_skb sees
	 * no kernel TCP socket behind it (a test run's socket is none) and
	 * judges it as crafted.
	 */
	{ "tcp_ack_to_metadata", "ip4=169.254.169.254 tcp=80,A", REPLY, DENIED,
	  "deny-cloud-metadata" },
	{ "tcp_syn_ack_to_private", "ip4=10.0.0.1 tcp=40000,SA", REPLY, DENIED, "deny-rfc1918" },
	{ "tcp_rst_to_private", "ip4=10.0.0.1 tcp=40000,R", REPLY, DENIED, "deny-rfc1918" },

	/* ICMP: requests judged, replies and errors let through */
	{ "icmp_echo_to_metadata_is_dropped", "ip4=169.254.169.254 icmp=8", DENIED, DENIED,
	  "deny-cloud-metadata" },
	{ "icmp_timestamp_to_private_is_dropped", "ip4=10.0.0.1 icmp=13", DENIED, DENIED,
	  "deny-rfc1918" },
	{ "icmp_echo_reply_to_metadata_is_a_reply", "ip4=169.254.169.254 icmp=0", REPLY, REPLY },
	{ "icmp_unreachable_to_private_is_a_reply", "ip4=10.0.0.1 icmp=3", REPLY, REPLY },
	{ "icmpv6_echo_to_metadata_is_dropped", "ip6=fd00:ec2::254 icmp6=128", DENIED, DENIED,
	  "deny-aws-imds-ipv6" },
	{ "icmpv6_echo_reply_to_link_local_is_a_reply", "ip6=fe80::1 icmp6=129", REPLY, REPLY },
	{ "icmpv6_packet_too_big_to_ula_is_a_reply", "ip6=fd12::1 icmp6=2", REPLY, REPLY },

	/* Neighbours: ARP and NDP work though link-local is denied */
	{ "ndp_solicitation_to_multicast_passes", "ip6=ff02::1:ff00:1,hop=255 icmp6=135",
	  NEIGHBOUR, NEIGHBOUR },
	{ "ndp_solicitation_to_link_local_passes", "ip6=fe80::1,hop=255 icmp6=135",
	  NEIGHBOUR, NEIGHBOUR },
	{ "ndp_advertisement_to_link_local_passes", "ip6=fe80::1,hop=255 icmp6=136",
	  NEIGHBOUR, NEIGHBOUR },
	{ "ndp_router_solicitation_passes", "ip6=ff02::2,hop=255 icmp6=133", NEIGHBOUR, NEIGHBOUR },
	{ "ndp_below_hop_limit_255_is_judged", "ip6=fe80::1,hop=64 icmp6=135", DENIED, DENIED,
	  "deny-link-local" },
	{ "arp_request_passes", "arp", NEIGHBOUR, NA },
	{ "arp_with_bad_address_lengths_is_dropped", "arp,plen=16", UNPARSEABLE, NA },

	/* VLAN tags, up to two */
	{ "vlan_tagged_public_passes", "vlan ip4=198.51.100.10 udp=53", ALLOWED, NA },
	{ "vlan_tagged_metadata_is_dropped", "vlan ip4=169.254.169.254 tcp=80,S", DENIED, NA,
	  "deny-cloud-metadata" },
	{ "qinq_metadata_is_dropped", "svlan vlan ip4=169.254.169.254 udp=53", DENIED, NA,
	  "deny-cloud-metadata" },
	{ "qinq_public_ipv6_passes", "svlan vlan ip6=2001:db8::10 udp=53", ALLOWED, NA },
	{ "triple_tags_are_too_deep", "svlan vlan vlan ip4=198.51.100.10 udp=53", TOO_DEEP, NA },
	{ "vlan_tagged_arp_passes", "vlan arp", NEIGHBOUR, NA },

	/* Ethertypes the parser does not know */
	{ "lldp_is_unsupported", "ether=0x88cc pay=32", UNSUPPORTED, NA },
	{ "mpls_is_unsupported", "ether=0x8847 pay=40", UNSUPPORTED, NA },
	{ "ieee_802_3_length_frame_is_unsupported", "ether=0x0040 pay=64", UNSUPPORTED, NA },

	/* IPv4 headers */
	{ "ipv4_router_alert_option_is_judged", "ip4=198.51.100.10,opt=94040000 udp=53",
	  ALLOWED, ALLOWED },
	{ "ipv4_options_to_metadata_are_judged", "ip4=169.254.169.254,opt=0101940400 udp=53",
	  DENIED, DENIED, "deny-cloud-metadata" },
	{ "ipv4_forty_bytes_of_options_are_judged",
	  "ip4=169.254.169.254,opt=0727040000000000000000000000000000000000000000000000000000000000000000000000000000 udp=53",
	  DENIED, DENIED, "deny-cloud-metadata" },
	{ "ipv4_loose_source_route_is_dropped", "ip4=198.51.100.10,opt=830704a9fea9fe00 udp=53",
	  SOURCE_ROUTED, SOURCE_ROUTED },
	{ "ipv4_strict_source_route_is_dropped", "ip4=198.51.100.10,opt=01890704a9fea9fe udp=53",
	  SOURCE_ROUTED, SOURCE_ROUTED },
	{ "ipv4_option_longer_than_the_header_is_dropped",
	  "ip4=198.51.100.10,opt=94080000 udp=53", UNPARSEABLE, UNPARSEABLE },
	{ "ipv4_option_length_below_two_is_dropped", "ip4=198.51.100.10,opt=94010000 udp=53",
	  UNPARSEABLE, UNPARSEABLE },
	{ "ipv4_header_length_below_five_words_is_dropped", "ip4=198.51.100.10,ihl=4 udp=53",
	  UNPARSEABLE, UNPARSEABLE },
	{ "ipv4_ethertype_with_version_6_is_dropped", "ip4=198.51.100.10,ver=6 udp=53",
	  UNPARSEABLE, UNPARSEABLE },

	/* Fragments: the first judged with its ports, later ones by address */
	{ "first_fragment_to_public_is_allowed", "ip4=198.51.100.10,mf udp=53", ALLOWED, ALLOWED },
	{ "first_fragment_to_metadata_is_dropped", "ip4=169.254.169.254,mf udp=53", DENIED, DENIED,
	  "deny-cloud-metadata" },
	{ "later_fragment_to_metadata_is_dropped", "ip4=169.254.169.254,off=185,p=17 pay=64",
	  DENIED, DENIED, "deny-cloud-metadata" },
	{ "later_fragment_to_an_address_with_an_allowed_port_passes",
	  "ip4=10.96.0.10,off=185,p=17 pay=64", ALLOWED, ALLOWED },
	{ "later_fragment_of_a_protocol_denied_on_every_port_is_dropped",
	  "ip4=10.96.0.10,off=185,p=47 pay=64", DENIED, DENIED, "deny-rfc1918" },
	{ "later_fragment_to_an_address_denied_on_one_port_passes",
	  "ip4=203.0.113.5,off=185,p=6 pay=64", ALLOWED, ALLOWED },
	{ "tiny_first_fragment_without_the_tcp_header_is_dropped",
	  "ip4=198.51.100.10,mf,p=6 pay=8", UNPARSEABLE, UNPARSEABLE },
	{ "ipv6_first_fragment_is_judged_with_ports", "ip6=2001:db8::10 frag=0,m udp=53",
	  ALLOWED, ALLOWED },
	{ "ipv6_first_fragment_to_metadata_is_dropped", "ip6=fd00:ec2::254 frag=0,m udp=53",
	  DENIED, DENIED, "deny-aws-imds-ipv6" },
	{ "ipv6_later_fragment_to_metadata_is_dropped", "ip6=fd00:ec2::254 frag=100,p=17 pay=64",
	  DENIED, DENIED, "deny-aws-imds-ipv6" },
	{ "ipv6_later_fragment_to_public_passes", "ip6=2001:db8::10 frag=100,p=17 pay=64",
	  ALLOWED, ALLOWED },
	{ "ipv6_tiny_first_fragment_is_dropped", "ip6=2001:db8::10 frag=0,m,p=6 pay=8",
	  UNPARSEABLE, UNPARSEABLE },

	/* IPv6 extension headers, each, and chains */
	{ "ipv6_hop_by_hop_then_udp_to_metadata", "ip6=fd00:ec2::254 hbh udp=53", DENIED, DENIED,
	  "deny-aws-imds-ipv6" },
	{ "ipv6_destination_options_then_tcp_to_public", "ip6=2001:db8::10 dst tcp=443,S",
	  ALLOWED, ALLOWED },
	{ "ipv6_routing_header_with_no_segment_left_is_judged", "ip6=fd00:ec2::254 rt=0 udp=53",
	  DENIED, DENIED, "deny-aws-imds-ipv6" },
	{ "ipv6_routing_header_with_segments_left_is_dropped", "ip6=2001:db8::10 rt=1 udp=53",
	  SOURCE_ROUTED, SOURCE_ROUTED },
	{ "ipv6_authentication_header_then_udp_to_metadata", "ip6=fd00:ec2::254 ah udp=53",
	  DENIED, DENIED, "deny-aws-imds-ipv6" },
	{ "ipv6_mobility_header_to_public_passes", "ip6=2001:db8::10 mh none", ALLOWED, ALLOWED },
	{ "ipv6_no_next_header_to_ula_is_dropped", "ip6=fd12::1 none", DENIED, DENIED,
	  "deny-ula" },
	{ "ipv6_large_destination_options_then_udp_to_metadata",
	  "ip6=fd00:ec2::254 dst,len=255 udp=53", DENIED, DENIED, "deny-aws-imds-ipv6" },
	{ "ipv6_chain_of_eight_headers_is_followed",
	  "ip6=fd00:ec2::254 hbh dst rt=0 ah dst dst dst dst udp=53", DENIED, DENIED,
	  "deny-aws-imds-ipv6" },
	{ "ipv6_chain_of_nine_headers_is_too_deep",
	  "ip6=2001:db8::10 hbh dst rt=0 ah dst dst dst dst dst udp=53", TOO_DEEP, TOO_DEEP },
	{ "ipv6_ethertype_with_version_4_is_dropped", "ip6=2001:db8::10,ver=4 udp=53",
	  UNPARSEABLE, UNPARSEABLE },
};

/* Frames cut at every length before the parser has what it needs. */
static const struct trunc_case {
	const char *name;
	const char *frame;
	bool skb;		/* cgroup_skb sees it too */
	int whole;		/* the outcome of the whole frame */
} truncations[] = {
	{ "truncated_ipv4_tcp_is_dropped_at_every_offset", "ip4=198.51.100.10 tcp=443,S",
	  true, ALLOWED },
	{ "truncated_ipv4_options_udp_is_dropped_at_every_offset",
	  "ip4=198.51.100.10,opt=0194040000 udp=53", true, ALLOWED },
	{ "truncated_ipv4_icmp_is_dropped_at_every_offset", "ip4=198.51.100.10 icmp=8",
	  true, ALLOWED },
	{ "truncated_qinq_ipv4_udp_is_dropped_at_every_offset",
	  "svlan vlan ip4=198.51.100.10 udp=53", false, ALLOWED },
	{ "truncated_ipv6_extension_chain_is_dropped_at_every_offset",
	  "ip6=2001:db8::10 hbh dst frag=0,m udp=53", true, ALLOWED },
	{ "truncated_ipv6_routing_ah_tcp_is_dropped_at_every_offset",
	  "ip6=2001:db8::10 rt=0 ah tcp=443,S", true, ALLOWED },
	{ "truncated_icmpv6_is_dropped_at_every_offset", "ip6=2001:db8::10 icmp6=128",
	  true, ALLOWED },
	{ "truncated_ndp_is_dropped_at_every_offset", "ip6=fe80::1,hop=255 icmp6=135",
	  true, NEIGHBOUR },
	{ "truncated_arp_is_dropped_at_every_offset", "arp", false, NEIGHBOUR },
};

static int nr_failed;
static char why[1024];

__attribute__((format(printf, 1, 2)))
static bool unmet(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return false;
}

static void report(const char *layer, const char *name, bool ok)
{
	if (ok) {
		printf("PASS %s%s\n", layer, name);
		return;
	}
	printf("FAIL %s%s: %s\n", layer, name, why);
	nr_failed++;
}

/* ---- frames ---- */

struct frame {
	__u8 b[FRAME_MAX];
	size_t len;
	size_t l3;		/* where cgroup_skb's view starts */
	__u16 l3_type;		/* its ethertype */
	__u8 dst[16];		/* the first IP destination, IPv4 v4-mapped */
	bool ok;
};

static __u8 *put(struct frame *f, size_t n)
{
	__u8 *p = f->b + f->len;

	if (f->len + n > sizeof(f->b)) {
		f->ok = false;
		return f->b;	/* scratch; the frame is refused */
	}
	memset(p, 0, n);
	f->len += n;
	return p;
}

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v;
}

/* The value of "key=value" among a token's comma-separated parts. */
static const char *opt(const char *tok, const char *key)
{
	static char val[128];
	size_t klen = strlen(key);

	for (const char *p = tok; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (!strncmp(p, key, klen) && (p[klen] == '=' || p[klen] == ',' || !p[klen])) {
			const char *v = p[klen] == '=' ? p + klen + 1 : "";
			size_t n = strcspn(v, ",");

			snprintf(val, sizeof(val), "%.*s", (int)n, v);
			return val;
		}
	}
	return NULL;
}

static long num(const char *tok, const char *key, long dflt)
{
	const char *v = opt(tok, key);

	return v && *v ? strtol(v, NULL, 0) : dflt;
}

/* The IPv4 protocol or IPv6 next header a token starts with. */
static int proto_of(const char *tok)
{
	static const struct { const char *name; int proto; } protos[] = {
		{ "hbh", 0 }, { "icmp6", 58 }, { "icmp", 1 }, { "tcp", 6 }, { "udp", 17 },
		{ "rt", 43 }, { "frag", 44 }, { "esp", 50 }, { "ah", 51 }, { "none", 59 },
		{ "dst", 60 }, { "mh", 135 },
	};

	if (!tok)
		return 59;
	if (!strncmp(tok, "proto=", 6))
		return atoi(tok + 6);
	for (size_t i = 0; i < ARRAY_SIZE(protos); i++) {
		size_t n = strlen(protos[i].name);

		if (!strncmp(tok, protos[i].name, n) && (tok[n] == '=' || tok[n] == ',' || !tok[n]))
			return protos[i].proto;
	}
	return 59;
}

static int ethertype_of(const char *tok)
{
	if (!tok)
		return 0;
	if (!strncmp(tok, "ip4", 3))
		return ETH_P_IP;
	if (!strncmp(tok, "ip6", 3))
		return ETH_P_IPV6;
	if (!strncmp(tok, "arp", 3))
		return ETH_P_ARP;
	if (!strncmp(tok, "vlan", 4))
		return ETH_P_8021Q;
	if (!strncmp(tok, "svlan", 5))
		return ETH_P_8021AD;
	if (!strncmp(tok, "ether=", 6))
		return strtol(tok + 6, NULL, 0);
	return 0;
}

static void build_ip4(struct frame *f, const char *tok, const char *next)
{
	const char *hex = opt(tok, "opt");
	__u8 opts[40] = {}, *ip;
	size_t optlen = 0;
	char addr[64];

	for (; hex && hex[0] && hex[1] && optlen < sizeof(opts); hex += 2) {
		unsigned int byte;

		sscanf(hex, "%2x", &byte);
		opts[optlen++] = byte;
	}
	optlen = (optlen + 3) & ~3u;
	if (!f->l3)
		f->l3 = f->len, f->l3_type = ETH_P_IP;
	ip = put(f, 20 + optlen);
	ip[0] = num(tok, "ver", 4) << 4 | num(tok, "ihl", 5 + optlen / 4);
	put16(ip + 6, (opt(tok, "mf") ? 0x2000 : 0) | num(tok, "off", 0));
	ip[8] = 64;
	ip[9] = num(tok, "p", proto_of(next));
	ip[12] = 10, ip[13] = 244, ip[14] = 1, ip[15] = 7;
	snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(tok + 4, ","), tok + 4);
	if (inet_pton(AF_INET, addr, ip + 16) != 1)
		f->ok = false;
	memcpy(ip + 20, opts, optlen);
	f->dst[10] = f->dst[11] = 0xff;
	memcpy(f->dst + 12, ip + 16, 4);
}

static void build_ip6(struct frame *f, const char *tok, const char *next)
{
	__u8 *ip;
	char addr[64];

	if (!f->l3)
		f->l3 = f->len, f->l3_type = ETH_P_IPV6;
	ip = put(f, 40);
	ip[0] = num(tok, "ver", 6) << 4;
	ip[6] = proto_of(next);
	ip[7] = num(tok, "hop", 64);
	inet_pton(AF_INET6, "2001:db8:ff::7", ip + 8);
	snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(tok + 4, ","), tok + 4);
	if (inet_pton(AF_INET6, addr, ip + 24) != 1)
		f->ok = false;
	memcpy(f->dst, ip + 24, 16);
}

/* One token after the network header: an extension header or L4. */
static void build_l4(struct frame *f, const char *tok, const char *next)
{
	__u8 *h;

	if (!strncmp(tok, "tcp=", 4)) {
		const char *flags = strchr(tok, ',') ? strchr(tok, ',') + 1 : "S";

		h = put(f, 20);
		put16(h, 40000);
		put16(h + 2, atoi(tok + 4));
		h[12] = 5 << 4;
		h[13] = (strchr(flags, 'S') ? 0x02 : 0) | (strchr(flags, 'A') ? 0x10 : 0) |
			(strchr(flags, 'R') ? 0x04 : 0);
	} else if (!strncmp(tok, "udp=", 4)) {
		h = put(f, 8);
		put16(h, 40000);
		put16(h + 2, atoi(tok + 4));
	} else if (!strncmp(tok, "icmp", 4)) {
		h = put(f, 8);
		h[0] = atoi(strchr(tok, '=') + 1);
	} else if (!strncmp(tok, "proto=", 6) || !strcmp(tok, "esp")) {
		put(f, 8);
	} else if (!strncmp(tok, "pay=", 4)) {
		put(f, atoi(tok + 4));
	} else if (!strncmp(tok, "frag=", 5)) {
		h = put(f, 8);
		h[0] = num(tok, "p", proto_of(next));
		put16(h + 2, atoi(tok + 5) << 3 | (opt(tok, "m") ? 1 : 0));
	} else if (!strcmp(tok, "ah")) {
		h = put(f, 16);		/* (2 + 2) * 4 bytes */
		h[0] = proto_of(next);
		h[1] = 2;
	} else if (!strcmp(tok, "none")) {
		;
	} else {		/* hbh, dst, rt, mh: (len + 1) * 8 bytes */
		long len = num(tok, "len", 0);

		h = put(f, (len + 1) * 8);
		h[0] = proto_of(next);
		h[1] = len;
		if (!strncmp(tok, "rt=", 3)) {
			h[2] = 4;	/* segment routing */
			h[3] = atoi(tok + 3);
		}
		/* Options of hbh and dst are left zero: Pad1 each. */
	}
}

static void build_arp(struct frame *f, const char *tok)
{
	__u8 *a = put(f, 28);

	put16(a, 1);
	put16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = num(tok, "plen", 4);
	put16(a + 6, 1);
}

/* Turn a frame description into bytes; false when it does not parse. */
static bool build(const char *spec, struct frame *f)
{
	char copy[512], *toks[33], *save = NULL;
	size_t n = 0, i = 0;
	__u8 *eth;

	memset(f, 0, sizeof(*f));
	f->ok = true;
	snprintf(copy, sizeof(copy), "%s", spec);
	for (char *t = strtok_r(copy, " ", &save); t && n < ARRAY_SIZE(toks) - 1;
	     t = strtok_r(NULL, " ", &save))
		toks[n++] = t;
	toks[n] = NULL;

	eth = put(f, ETH_HLEN);
	memcpy(eth, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
	put16(eth + 12, ethertype_of(toks[0]));
	for (; i < n && (!strcmp(toks[i], "vlan") || !strcmp(toks[i], "svlan")); i++) {
		__u8 *tag = put(f, 4);

		put16(tag, 100 + i);
		put16(tag + 2, ethertype_of(toks[i + 1]));
	}
	for (; i < n; i++) {
		const char *t = toks[i], *next = toks[i + 1];

		if (!strncmp(t, "ip4=", 4))
			build_ip4(f, t, next);
		else if (!strncmp(t, "ip6=", 4))
			build_ip6(f, t, next);
		else if (!strncmp(t, "arp", 3))
			build_arp(f, t);
		else if (strncmp(t, "ether=", 6))
			build_l4(f, t, next);
	}
	if (!f->l3)
		f->l3 = f->len;
	return f->ok;
}

/* ---- running the programs ---- */

struct harness {
	struct enforcer enf;
	struct packet_layer pl;
	struct policy pol;
	struct odsbpf_event events[MAX_EVENTS];
	int nr_events;
};

static int on_event(void *ctx, const struct odsbpf_event *e)
{
	struct harness *h = ctx;

	if (h->nr_events < MAX_EVENTS)
		h->events[h->nr_events] = *e;
	h->nr_events++;
	return 0;
}

static int prog_fd(struct harness *h, bool xdp)
{
	return bpf_program__fd(xdp ? h->pl.skel->progs.xdp_veth :
				     h->pl.skel->progs.cgroup_skb_egress);
}

/* Run one frame through one program; the return value, or -errno. */
static int run(struct harness *h, bool xdp, const void *data, size_t len, int repeat,
	       __u32 *duration)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = len,
		    .repeat = repeat);
	int err = bpf_prog_test_run_opts(prog_fd(h, xdp), &opts);

	if (err)
		return -errno;
	if (duration)
		*duration = opts.duration;
	return opts.retval;
}

static __u64 counter(struct harness *h, bool xdp, int outcome)
{
	return enforcer_counter(&h->enf, (xdp ? ODSBPF_CNT_XDP_ALLOWED :
						ODSBPF_CNT_SKB_ALLOWED) + outcome);
}

static void drain(struct harness *h)
{
	enforcer_poll(&h->enf, 0);
}

static bool passes(int outcome)
{
	return outcome == ALLOWED || outcome == AUDITED || outcome == NEIGHBOUR ||
	       outcome == REPLY;
}

static bool check_event(struct harness *h, bool xdp, const struct frame *f,
			const char *rule, int verdict)
{
	const struct odsbpf_event *e = &h->events[0];
	const char *got;

	if (h->nr_events != 1)
		return unmet("%d events, expected 1 naming %s", h->nr_events, rule);
	got = policy_rule_name(&h->pol, e->rule_id);
	if (strcmp(got, rule))
		return unmet("event names rule %s, expected %s", got, rule);
	if (e->layer != (xdp ? ODSBPF_LAYER_XDP : ODSBPF_LAYER_CGROUP_SKB) ||
	    e->hook != (xdp ? ODSBPF_HOOK_XDP : ODSBPF_HOOK_CGROUP_SKB))
		return unmet("event has layer %u hook %u", e->layer, e->hook);
	if (e->verdict != verdict)
		return unmet("event verdict %u, expected %d", e->verdict, verdict);
	if (memcmp(e->daddr, f->dst, 16))
		return unmet("event's destination is not the frame's");
	if (xdp && !e->ifindex)
		return unmet("XDP event without an interface");
	return true;
}

/*
 * Run frame f through one layer and check the verdict, the one counter
 * that moved, and the event: one naming rule for a judged denial or an
 * audited packet, none otherwise.
 */
static bool expect(struct harness *h, bool xdp, const struct frame *f, size_t len,
		   int outcome, const char *rule, bool event)
{
	int want = passes(outcome) ? (xdp ? XDP_PASS : 1) : (xdp ? XDP_DROP : 0);
	__u64 before = counter(h, xdp, outcome);
	static __u8 skb[FRAME_MAX];
	const __u8 *data = f->b;
	size_t size = len;
	int got;

	/* cgroup_skb test runs take an Ethernet header and start after it. */
	if (!xdp) {
		memcpy(skb, f->b, ETH_HLEN - 2);
		put16(skb + ETH_HLEN - 2, f->l3_type);
		memcpy(skb + ETH_HLEN, f->b + f->l3, len - f->l3);
		data = skb;
		size = ETH_HLEN + len - f->l3;
	}
	drain(h);
	h->nr_events = 0;
	got = run(h, xdp, data, size, 1, NULL);
	drain(h);
	if (got < 0)
		return unmet("test run failed: %s", strerror(-got));
	if (got != want)
		return unmet("returned %d, expected %d (%s)", got, want,
			     packet_outcome_name(outcome));
	if (counter(h, xdp, outcome) != before + 1)
		return unmet("counter %s did not move", packet_outcome_name(outcome));
	if (event)
		return check_event(h, xdp, f, rule,
				   outcome == AUDITED ? ODSBPF_VERDICT_AUDITED :
							ODSBPF_VERDICT_DENIED);
	if (h->nr_events)
		return unmet("%d events, expected none", h->nr_events);
	return true;
}

/* A denial and a source-routed drop raise an event; nothing else does. */
static bool raises_event(int outcome)
{
	return outcome == DENIED || outcome == SOURCE_ROUTED;
}

/* The rule a case's event names: the policy's, or the source route's. */
static const char *rule_of(const struct pkt_case *c, int outcome)
{
	return outcome == SOURCE_ROUTED ? "source-route" : c->rule;
}

static void run_cases(struct harness *h)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct pkt_case *c = &cases[i];
		struct frame f;
		bool ok;

		if (!build(c->frame, &f)) {
			unmet("frame \"%s\" does not build", c->frame);
			report("xdp.", c->name, false);
			continue;
		}
		ok = expect(h, true, &f, f.len, c->xdp, rule_of(c, c->xdp),
			    raises_event(c->xdp));
		report("xdp.", c->name, ok);
		if (c->skb == NA)
			continue;
		ok = expect(h, false, &f, f.len, c->skb, rule_of(c, c->skb),
			    raises_event(c->skb));
		report("skb.", c->name, ok);
	}
}

static void run_truncations(struct harness *h)
{
	for (size_t i = 0; i < ARRAY_SIZE(truncations); i++) {
		const struct trunc_case *c = &truncations[i];
		bool ok = true;
		struct frame f;

		if (!build(c->frame, &f)) {
			unmet("frame \"%s\" does not build", c->frame);
			report("", c->name, false);
			continue;
		}
		/*
		 * Test runs refuse less than an Ethernet header, and at
		 * cgroup_skb less than a base IP header, as the stack never
		 * hands the hook less.
		 */
		for (size_t len = ETH_HLEN; ok && len < f.len; len++) {
			size_t skb_min = f.l3 + (f.l3_type == ETH_P_IP ? 20 : 40);

			ok = expect(h, true, &f, len, UNPARSEABLE, NULL, false);
			if (ok && c->skb && len >= skb_min)
				ok = expect(h, false, &f, len, UNPARSEABLE, NULL, false);
			if (!ok) {
				char at[64];

				snprintf(at, sizeof(at), " (cut at byte %zu of %zu)", len, f.len);
				strncat(why, at, sizeof(why) - strlen(why) - 1);
			}
		}
		if (ok)
			ok = expect(h, true, &f, f.len, c->whole, NULL, false);
		report("", c->name, ok);
	}
}

/* ---- policies ---- */

static int install(struct harness *h, const char *extra)
{
	char *names[] = { DEFAULT_POLICY_NAME, "test.json" };
	char *texts[] = { (char *)default_policy_json, (char *)extra };
	struct compiled_policy c;
	char err[POLICY_ERR_LEN];
	bool with_default = extra == test_rules;
	int ret;

	policy_free(&h->pol);
	ret = policy_load_texts(with_default ? names : names + 1,
				with_default ? texts : texts + 1, with_default ? 2 : 1,
				&h->pol, err, sizeof(err));
	if (!ret)
		ret = compile_policy(&h->pol, &c, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "test_packet: %s\n", err);
		return ret;
	}
	ret = enforcer_install(&h->enf, &c);
	compiled_free(&c);
	return ret;
}

/* Before any policy the programs fail closed. */
static void test_no_policy_fails_closed(struct harness *h)
{
	struct frame f;
	int got;

	build("ip4=198.51.100.10 udp=53", &f);
	got = run(h, true, f.b, f.len, 1, NULL);
	drain(h);
	report("", "no_policy_fails_closed",
	       got == XDP_DROP || unmet("XDP returned %d before any policy", got));
}

/*
 * Audit mode: cgroup_skb reports and lets through; XDP, further down the
 * same path, stays quiet about that flow but reports one it alone saw.
 */
static void test_audit_mode(struct harness *h)
{
	struct frame seen, unseen;

	if (install(h, audit_rules)) {
		unmet("cannot install the audit policy");
		report("", "audit_mode_policy_installs", false);
		return;
	}
	build("ip4=169.254.169.254 icmp=8", &seen);
	build("ip4=169.254.169.254 udp=9", &unseen);
	report("", "audit_mode_cgroup_skb_lets_through_and_reports",
	       expect(h, false, &seen, seen.len, AUDITED, "would-deny-metadata", true));
	report("", "audit_mode_xdp_is_quiet_about_a_flow_cgroup_skb_let_through",
	       expect(h, true, &seen, seen.len, AUDITED, NULL, false));
	report("", "audit_mode_xdp_reports_a_flow_only_it_saw",
	       expect(h, true, &unseen, unseen.len, AUDITED, "would-deny-metadata", true));
}

/* ---- cost ---- */

/* Mean ns per run of one frame through XDP, rings drained between batches. */
static int xdp_cost(struct harness *h, const char *spec, __u32 *ns)
{
	const int batches = 200, per_batch = 1000;
	unsigned long long total = 0;
	struct frame f;
	__u32 d;

	build(spec, &f);
	for (int i = 0; i < batches; i++) {
		if (run(h, true, f.b, f.len, per_batch, &d) < 0)
			return -1;
		total += d;
		drain(h);
	}
	*ns = total / batches;
	return 0;
}

static void measure(struct harness *h, FILE *out)
{
	__u32 allowed, denied;

	if (xdp_cost(h, "ip4=198.51.100.10 tcp=443,S", &allowed) ||
	    xdp_cost(h, "ip4=169.254.169.254 tcp=80,S", &denied)) {
		fprintf(stderr, "test_packet: cannot measure: %s\n", strerror(errno));
		return;
	}
	fprintf(out, "xdp ns/packet: allowed %u, denied %u (BPF_PROG_TEST_RUN, 200000 runs each, default.json)\n",
		allowed, denied);
}

static int setup(struct harness *h)
{
	if (enforcer_open(&h->enf, NULL) || packet_open(&h->pl, &h->enf) ||
	    enforcer_listen(&h->enf, on_event, h))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct harness h;
	bool bench = argc > 1 && !strcmp(argv[1], "--bench");

	log_init();
	if (setup(&h)) {
		printf("FAIL packet_programs_load: see stderr\n");
		return 1;
	}
	if (!bench)
		test_no_policy_fails_closed(&h);
	if (install(&h, test_rules)) {
		printf("FAIL test_policy_installs: see stderr\n");
		return 1;
	}
	if (bench) {
		measure(&h, stdout);
	} else {
		run_cases(&h);
		run_truncations(&h);
		measure(&h, stderr);
		test_audit_mode(&h);
	}
	policy_free(&h.pol);
	packet_close(&h.pl);
	enforcer_close(&h.enf);
	return nr_failed ? 1 : 0;
}
