/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The packet parser of both packet layers: from an Ethernet frame (XDP) or
 * an IP packet (cgroup_skb) to the addresses and ports the policy judges,
 * or to the named reason the packet is not judged.
 *
 * Every header is read through load(), which checks the bounds; every
 * loop has a fixed bound. What cannot be taken to a verdict within those
 * bounds comes back as PARSE_UNPARSEABLE, PARSE_TOO_DEEP,
 * PARSE_SOURCE_ROUTED or PARSE_UNSUPPORTED, which the programs drop:
 * nothing the parser does not understand is passed.
 */
#ifndef ODSBPF_PARSE_BPF_H
#define ODSBPF_PARSE_BPF_H

#include "policy.bpf.h"

/* vmlinux.h carries types, not the kernel's #defines. */
#define ETH_HLEN	14
#define ETH_P_IP	0x0800
#define ETH_P_ARP	0x0806
#define ETH_P_8021Q	0x8100
#define ETH_P_8021AD	0x88a8
#define ETH_P_IPV6	0x86dd

#define IPOPT_END	0
#define IPOPT_NOOP	1
#define IPOPT_LSRR	0x83
#define IPOPT_SSRR	0x89
#define IP_OFFSET	0x1fff		/* fragment offset bits of frag_off */

#define NEXTHDR_HOP	0
#define NEXTHDR_ROUTING	43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH	51
#define NEXTHDR_ICMPV6	58
#define NEXTHDR_DEST	60
#define NEXTHDR_MOBILITY 135
#define NEXTHDR_HIP	139
#define NEXTHDR_SHIM6	140

#define TCP_FLAG_SYN	0x02
#define TCP_FLAG_ACK	0x10

/* No header starts further in than this; frames are at most a page. */
#define PARSE_MAX_OFF	8192

/* Option bytes of an IPv4 header (ihl 15) at most. */
#define IP4_MAX_OPT_LEN	40

/*
 * What the parser found. PARSE_JUDGE: the policy decides on the packet.
 * Every other value is already the packet's outcome, and equal to the
 * enum odsbpf_pkt_outcome it is counted as.
 */
enum parse_result {
	PARSE_JUDGE = ODSBPF_PKT_ALLOWED,
	PARSE_NEIGHBOUR = ODSBPF_PKT_NEIGHBOUR,
	PARSE_REPLY = ODSBPF_PKT_REPLY,
	PARSE_UNPARSEABLE = ODSBPF_PKT_UNPARSEABLE,
	PARSE_TOO_DEEP = ODSBPF_PKT_TOO_DEEP,
	PARSE_SOURCE_ROUTED = ODSBPF_PKT_SOURCE_ROUTED,
	PARSE_UNSUPPORTED = ODSBPF_PKT_UNSUPPORTED,
};

/* Headers as they are on the wire, without the kernel's bitfields. */
struct wire_vlan {
	__be16 tci;
	__be16 proto;
};

struct wire_arp {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 addrs[20];		/* sender and target, Ethernet and IPv4 */
};

struct wire_ip4 {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__be32 saddr;
	__be32 daddr;
};

struct wire_ip6 {
	__be32 ver_class_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u32 saddr[4];
	__u32 daddr[4];
};

/* The first bytes of every IPv6 extension header, and of the routing one. */
struct wire_ext {
	__u8 nexthdr;
	__u8 hdrlen;
	__u8 type;		/* routing header: routing type */
	__u8 segments_left;	/* routing header: hops still to visit */
};

struct wire_frag6 {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;	/* offset in 8-byte units << 3, flags below */
	__be32 id;
};

struct wire_tcp {
	__be16 sport;
	__be16 dport;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff;
	__u8 flags;
	__be16 window;
	__be16 check;
	__be16 urg_ptr;
};

/* UDP, ICMP and ICMPv6 all fit in eight bytes. */
struct wire_l4_8 {
	union {
		struct {
			__be16 sport;
			__be16 dport;
		};
		struct {
			__u8 type;
			__u8 code;
		};
	};
	__be16 word2;
	__be16 word3;
};

/* Where the parser reads: a frame at XDP, a packet at cgroup_skb. */
struct cursor {
	void *ctx;
	__u64 off;		/* start of the next header */
	bool xdp;		/* constant per program: how to read */
};

/* A parsed packet: what the policy needs, and what the events show. */
struct packet {
	__u32 saddr[4];		/* network order, IPv4 v4-mapped */
	__u32 daddr[4];
	__u16 sport;		/* host order, 0 without ports */
	__u16 dport;
	__u8 family;		/* AF_INET or AF_INET6 */
	__u8 l4;		/* IPPROTO_* of the payload: the last next header */
	__u8 hop_limit;		/* IPv6 only */
	bool later_fragment;	/* no L4 header: judged by address */
};

/*
 * Copy len bytes at off into to; false when they are not all in the
 * packet. XDP reads the frame in place; cgroup_skb asks the kernel, as
 * the skb's headers need not all be in its linear part.
 */
static __always_inline bool load(const struct cursor *c, __u64 off, void *to,
				 __u32 len)
{
	if (off > PARSE_MAX_OFF)
		return false;
	/*
	 * Keep clang from redoing the sum unchecked: the verifier needs the
	 * bound on the very register added to the packet pointer.
	 */
	barrier_var(off);
	if (c->xdp) {
		struct xdp_md *x = c->ctx;
		void *data = (void *)(long)x->data;
		void *end = (void *)(long)x->data_end;
		void *at = data + off;

		if (at + len > end)
			return false;
		__builtin_memcpy(to, at, len);
		return true;
	}
	return bpf_skb_load_bytes(c->ctx, off, to, len) == 0;
}

/* Ports and the TCP/ICMP facts that tell an opening from a reply. */
static __always_inline enum parse_result parse_l4(struct cursor *c,
						  struct packet *p)
{
	struct wire_tcp tcp;
	struct wire_l4_8 h;

	if (p->l4 == IPPROTO_TCP) {
		if (!load(c, c->off, &tcp, sizeof(tcp)))
			return PARSE_UNPARSEABLE;
		p->sport = bpf_ntohs(tcp.sport);
		p->dport = bpf_ntohs(tcp.dport);
		/* Only a SYN opens a connection; the rest belong to one. */
		if ((tcp.flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
			return PARSE_REPLY;
		return PARSE_JUDGE;
	}
	if (p->l4 != IPPROTO_UDP && p->l4 != IPPROTO_ICMP &&
	    p->l4 != NEXTHDR_ICMPV6)
		return PARSE_JUDGE;	/* judged by address and protocol */

	if (!load(c, c->off, &h, sizeof(h)))
		return PARSE_UNPARSEABLE;
	if (p->l4 == IPPROTO_UDP) {
		p->sport = bpf_ntohs(h.sport);
		p->dport = bpf_ntohs(h.dport);
		return PARSE_JUDGE;
	}
	if (p->l4 == IPPROTO_ICMP) {
		switch (h.type) {
		case 0:		/* echo reply */
		case 3:		/* destination unreachable */
		case 11:	/* time exceeded */
		case 12:	/* parameter problem */
		case 14:	/* timestamp reply */
			return PARSE_REPLY;
		}
		return PARSE_JUDGE;
	}
	switch (h.type) {
	case 1:		/* destination unreachable */
	case 2:		/* packet too big */
	case 3:		/* time exceeded */
	case 4:		/* parameter problem */
	case 129:	/* echo reply */
		return PARSE_REPLY;
	case 133:	/* router solicitation */
	case 134:	/* router advertisement */
	case 135:	/* neighbour solicitation */
	case 136:	/* neighbour advertisement */
	case 137:	/* redirect */
		/* Receivers drop neighbour discovery from off the link. */
		if (p->hop_limit == 255)
			return PARSE_NEIGHBOUR;
		return PARSE_JUDGE;
	}
	return PARSE_JUDGE;
}

/*
 * Walk the len option bytes at off: a loose or strict source route means
 * the destination field is only the next hop, so the packet cannot be
 * judged by it. The walk goes byte by byte and acts where the next option
 * starts, so that i is a constant in each round and only next varies.
 */
static __always_inline enum parse_result walk_ip4_options(struct cursor *c,
							  __u64 off, __u64 len)
{
	__u64 next = 0;		/* where the next option starts */

	if (len > IP4_MAX_OPT_LEN)
		return PARSE_UNPARSEABLE;
	for (__u64 i = 0; i < IP4_MAX_OPT_LEN; i++) {
		__u8 type, opt_len;

		if (i >= len)
			break;
		if (i != next)
			continue;	/* inside the option before */
		if (!load(c, off + i, &type, 1))
			return PARSE_UNPARSEABLE;
		if (type == IPOPT_END)
			break;
		if (type == IPOPT_NOOP) {
			next = i + 1;
			continue;
		}
		if (i + 2 > len || !load(c, off + i + 1, &opt_len, 1))
			return PARSE_UNPARSEABLE;
		if (opt_len < 2 || i + opt_len > len)
			return PARSE_UNPARSEABLE;
		if (type == IPOPT_LSRR || type == IPOPT_SSRR)
			return PARSE_SOURCE_ROUTED;
		next = i + opt_len;
	}
	return PARSE_JUDGE;
}

/*
 * The walk is a global function, one per program type: the verifier
 * checks it once rather than once for every way the parser reaches it.
 * (This header is therefore included by one object file only.)
 */
__noinline int ip4_options_skb(struct __sk_buff *skb, __u64 off, __u64 len)
{
	struct cursor c = { .ctx = skb, .xdp = false };

	return walk_ip4_options(&c, off, len);
}

__noinline int ip4_options_xdp(struct xdp_md *ctx, __u64 off, __u64 len)
{
	struct cursor c = { .ctx = ctx, .xdp = true };

	return walk_ip4_options(&c, off, len);
}

static __always_inline enum parse_result check_ip4_options(struct cursor *c,
							   __u64 off, __u64 len)
{
	if (c->xdp)
		return ip4_options_xdp(c->ctx, off, len);
	return ip4_options_skb(c->ctx, off, len);
}

static __always_inline enum parse_result parse_ip4(struct cursor *c,
						   struct packet *p)
{
	struct wire_ip4 ip;
	enum parse_result r;
	__u64 hlen;

	if (!load(c, c->off, &ip, sizeof(ip)))
		return PARSE_UNPARSEABLE;
	hlen = (ip.ver_ihl & 0x0f) * 4;
	if (ip.ver_ihl >> 4 != 4 || hlen < sizeof(ip))
		return PARSE_UNPARSEABLE;
	/* Addresses first: a source-routed drop is reported by them. */
	p->family = AF_INET;
	ip4_to_mapped(p->saddr, ip.saddr);
	ip4_to_mapped(p->daddr, ip.daddr);
	p->l4 = ip.protocol;
	if (hlen > sizeof(ip)) {
		r = check_ip4_options(c, c->off + sizeof(ip), hlen - sizeof(ip));
		if (r != PARSE_JUDGE)
			return r;
	}

	c->off += hlen;
	if (bpf_ntohs(ip.frag_off) & IP_OFFSET) {
		p->later_fragment = true;
		return PARSE_JUDGE;
	}
	return parse_l4(c, p);
}

/* Is this next-header value an extension header (RFC 7045), not a payload? */
static __always_inline bool ipv6_ext(__u8 nexthdr)
{
	switch (nexthdr) {
	case NEXTHDR_HOP:
	case NEXTHDR_ROUTING:
	case NEXTHDR_FRAGMENT:
	case NEXTHDR_AUTH:
	case NEXTHDR_DEST:
	case NEXTHDR_MOBILITY:
	case NEXTHDR_HIP:
	case NEXTHDR_SHIM6:
		return true;
	}
	return false;
}

/*
 * One extension header at c->off: advance past it and set *nexthdr.
 * PARSE_JUDGE with p->later_fragment set ends the walk: a later fragment
 * holds no more headers.
 */
static __always_inline enum parse_result skip_ipv6_ext(struct cursor *c,
						       struct packet *p,
						       __u8 *nexthdr)
{
	struct wire_frag6 frag;
	struct wire_ext ext;

	if (*nexthdr == NEXTHDR_FRAGMENT) {
		if (!load(c, c->off, &frag, sizeof(frag)))
			return PARSE_UNPARSEABLE;
		*nexthdr = frag.nexthdr;
		c->off += sizeof(frag);
		if (bpf_ntohs(frag.frag_off) & 0xfff8)
			p->later_fragment = true;
		return PARSE_JUDGE;
	}
	if (!load(c, c->off, &ext, sizeof(ext)))
		return PARSE_UNPARSEABLE;
	/* A hop still to visit: the destination field is not the last one. */
	if (*nexthdr == NEXTHDR_ROUTING && ext.segments_left)
		return PARSE_SOURCE_ROUTED;
	if (*nexthdr == NEXTHDR_AUTH)
		c->off += (ext.hdrlen + 2) * 4;
	else
		c->off += (ext.hdrlen + 1) * 8;
	*nexthdr = ext.nexthdr;
	return PARSE_JUDGE;
}

static __always_inline enum parse_result parse_ip6(struct cursor *c,
						   struct packet *p)
{
	enum parse_result r;
	struct wire_ip6 ip;
	__u8 nexthdr;

	if (!load(c, c->off, &ip, sizeof(ip)))
		return PARSE_UNPARSEABLE;
	if ((bpf_ntohl(ip.ver_class_flow) >> 28) != 6)
		return PARSE_UNPARSEABLE;
	p->family = AF_INET6;
	copy6(p->saddr, ip.saddr);
	copy6(p->daddr, ip.daddr);
	p->hop_limit = ip.hop_limit;
	nexthdr = ip.nexthdr;
	c->off += sizeof(ip);

	for (int i = 0; i < ODSBPF_MAX_IPV6_EXT; i++) {
		if (!ipv6_ext(nexthdr))
			break;
		r = skip_ipv6_ext(c, p, &nexthdr);
		if (r != PARSE_JUDGE)
			return r;
		if (p->later_fragment) {
			p->l4 = nexthdr;
			return PARSE_JUDGE;
		}
	}
	if (ipv6_ext(nexthdr))
		return PARSE_TOO_DEEP;
	p->l4 = nexthdr;
	return parse_l4(c, p);
}

/* ARP is let through unjudged, but only a well-formed IPv4-over-Ethernet one. */
static __always_inline enum parse_result parse_arp(struct cursor *c)
{
	struct wire_arp arp;

	if (!load(c, c->off, &arp, sizeof(arp)))
		return PARSE_UNPARSEABLE;
	if (arp.ptype != bpf_htons(ETH_P_IP) || arp.hlen != 6 || arp.plen != 4)
		return PARSE_UNPARSEABLE;
	return PARSE_NEIGHBOUR;
}

/* The network header at c->off, by its ethertype (host order). */
static __always_inline enum parse_result parse_l3(struct cursor *c, __u64 proto,
						  struct packet *p)
{
	switch (proto) {
	case ETH_P_IP:
		return parse_ip4(c, p);
	case ETH_P_IPV6:
		return parse_ip6(c, p);
	case ETH_P_ARP:
		return parse_arp(c);
	case ETH_P_8021Q:
	case ETH_P_8021AD:
		return PARSE_TOO_DEEP;
	default:
		return PARSE_UNSUPPORTED;
	}
}

/*
 * The entry points, and the network layer of a frame, are global
 * functions too: the verifier checks the network layer once, not once
 * per number of VLAN tags before it. Each returns an enum parse_result.
 */
__noinline int parse_l3_xdp(struct xdp_md *ctx, __u64 off, __u64 proto,
			    struct packet *p)
{
	struct cursor c = { .ctx = ctx, .off = off, .xdp = true };

	if (!p)
		return PARSE_UNPARSEABLE;
	return parse_l3(&c, proto, p);
}

/* XDP: an Ethernet frame with up to ODSBPF_MAX_VLAN_TAGS tags. */
__noinline int parse_xdp(struct xdp_md *ctx, struct packet *p)
{
	struct cursor c = { .ctx = ctx, .off = ETH_HLEN, .xdp = true };
	struct wire_vlan tag;
	__be16 proto;

	if (!load(&c, 12, &proto, sizeof(proto)))
		return PARSE_UNPARSEABLE;
	for (int i = 0; i < ODSBPF_MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (!load(&c, c.off, &tag, sizeof(tag)))
			return PARSE_UNPARSEABLE;
		proto = tag.proto;
		c.off += sizeof(tag);
	}
	return parse_l3_xdp(ctx, c.off, bpf_ntohs(proto), p);
}

/* cgroup_skb: the packet starts at its IP header; the version says which. */
__noinline int parse_skb(struct __sk_buff *skb, struct packet *p)
{
	struct cursor c = { .ctx = skb, .off = 0, .xdp = false };
	__u8 version;

	if (!p || !load(&c, 0, &version, 1))
		return PARSE_UNPARSEABLE;
	switch (version >> 4) {
	case 4:
		return parse_l3(&c, ETH_P_IP, p);
	case 6:
		return parse_l3(&c, ETH_P_IPV6, p);
	default:
		return PARSE_UNPARSEABLE;
	}
}

#endif /* ODSBPF_PARSE_BPF_H */
