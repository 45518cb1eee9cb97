// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The workload of the packet-layer tests: traffic no socket hook sees.
 * Prints what happened as one line: "result=reply" (the answer came
 * back), "result=timeout" (none within a second), or "result=EPERM" and
 * the like when the send itself failed.
 *
 *   pkt_probe ping ADDR
 *       an ICMP or ICMPv6 echo request from a raw socket
 *   pkt_probe frame IFACE SRC_IP DST_MAC DST_IP PORT
 *       a UDP datagram to DST_IP:PORT in an Ethernet frame written whole
 *       with AF_PACKET; the answer is the ICMP port unreachable it earns
 *
 * Only ever run inside a network namespace a test made, aimed at
 * addresses bound in it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/udp.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS		1000
#define PROBE_ID	0x0d5b

static int result(const char *what)
{
	printf("result=%s\n", what);
	return strcmp(what, "reply") ? 1 : 0;
}

static int result_errno(void)
{
	const char *name = strerrorname_np(errno);

	return result(name ? name : "error");
}

static __u16 checksum(const void *data, size_t len)
{
	const __u8 *p = data;
	__u32 sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons(~sum);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait for an answer that match() accepts, on the raw ICMP socket fd. */
static int await(int fd, bool (*match)(const __u8 *buf, ssize_t n, const void *arg),
		 const void *arg)
{
	long long deadline = now_ms() + WAIT_MS;
	__u8 buf[2048];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			return result("timeout");
		n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0 && match(buf, n, arg))
			return result("reply");
	}
}

/* IPv4 raw sockets hand over the IP header; IPv6 ones start at ICMPv6. */
static bool echo_reply4(const __u8 *buf, ssize_t n, const void *arg)
{
	const struct iphdr *ip = (const void *)buf;
	const struct icmphdr *icmp;

	(void)arg;
	if (n < (ssize_t)sizeof(*ip) || n < ip->ihl * 4 + (ssize_t)sizeof(*icmp))
		return false;
	icmp = (const void *)(buf + ip->ihl * 4);
	return icmp->type == ICMP_ECHOREPLY && ntohs(icmp->un.echo.id) == PROBE_ID;
}

static bool echo_reply6(const __u8 *buf, ssize_t n, const void *arg)
{
	const struct icmp6_hdr *icmp = (const void *)buf;

	(void)arg;
	return n >= (ssize_t)sizeof(*icmp) && icmp->icmp6_type == ICMP6_ECHO_REPLY &&
	       ntohs(icmp->icmp6_id) == PROBE_ID;
}

static int do_ping(const char *addr)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct icmphdr req = { .type = ICMP_ECHO };
	bool v6 = strchr(addr, ':');
	int fd;

	req.un.echo.id = htons(PROBE_ID);
	req.un.echo.sequence = htons(1);
	if (v6 ? inet_pton(AF_INET6, addr, &sin6.sin6_addr) != 1 :
		 inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "pkt_probe: bad address %s\n", addr);
		return 2;
	}
	fd = v6 ? socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6) :
		  socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (fd < 0)
		return result_errno();
	if (v6)
		req.type = ICMP6_ECHO_REQUEST;	/* the kernel sums ICMPv6 */
	else
		req.checksum = checksum(&req, sizeof(req));
	if (sendto(fd, &req, sizeof(req), 0,
		   v6 ? (struct sockaddr *)&sin6 : (struct sockaddr *)&sin,
		   v6 ? sizeof(sin6) : sizeof(sin)) < 0)
		return result_errno();
	return await(fd, v6 ? echo_reply6 : echo_reply4, NULL);
}

struct frame_target {
	struct in_addr dst;
	__u16 port;
};

/* ICMP port unreachable quoting our datagram. */
static bool port_unreachable(const __u8 *buf, ssize_t n, const void *arg)
{
	const struct frame_target *t = arg;
	const struct iphdr *ip = (const void *)buf, *inner;
	const struct icmphdr *icmp;
	const struct udphdr *udp;
	ssize_t off;

	if (n < (ssize_t)sizeof(*ip))
		return false;
	off = ip->ihl * 4;
	icmp = (const void *)(buf + off);
	inner = (const void *)(buf + off + sizeof(*icmp));
	if (n < off + (ssize_t)(sizeof(*icmp) + sizeof(*inner) + sizeof(*udp)))
		return false;
	udp = (const void *)((const __u8 *)inner + inner->ihl * 4);
	if ((const __u8 *)(udp + 1) > buf + n)
		return false;
	return icmp->type == ICMP_DEST_UNREACH && inner->daddr == t->dst.s_addr &&
	       ntohs(udp->dest) == t->port;
}

static int parse_mac(const char *text, __u8 mac[6])
{
	return sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
		      &mac[3], &mac[4], &mac[5]) == 6 ? 0 : -1;
}

/* Ethernet, IPv4 and UDP headers and 8 bytes of payload, all ours. */
static size_t build_frame(__u8 *f, const __u8 src_mac[6], const __u8 dst_mac[6],
			  struct in_addr src, const struct frame_target *t)
{
	struct ether_header *eth = (void *)f;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	size_t len = sizeof(*eth) + sizeof(*ip) + sizeof(*udp) + 8;

	memset(f, 0, len);
	memcpy(eth->ether_dhost, dst_mac, 6);
	memcpy(eth->ether_shost, src_mac, 6);
	eth->ether_type = htons(ETHERTYPE_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(len - sizeof(*eth));
	ip->id = htons(PROBE_ID);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = src.s_addr;
	ip->daddr = t->dst.s_addr;
	ip->check = checksum(ip, sizeof(*ip));
	udp->source = htons(40000);
	udp->dest = htons(t->port);
	udp->len = htons(sizeof(*udp) + 8);
	return len;
}

static int do_frame(char **argv)
{
	struct frame_target t = { .port = atoi(argv[5]) };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_halen = 6 };
	struct ifreq ifr = {};
	__u8 frame[128], dst_mac[6];
	struct in_addr src;
	int pfd, icmp_fd;
	size_t len;

	if (inet_pton(AF_INET, argv[2], &src) != 1 || parse_mac(argv[3], dst_mac) ||
	    inet_pton(AF_INET, argv[4], &t.dst) != 1) {
		fprintf(stderr, "pkt_probe: bad frame arguments\n");
		return 2;
	}
	pfd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	icmp_fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (pfd < 0 || icmp_fd < 0)
		return result_errno();
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(pfd, SIOCGIFHWADDR, &ifr) < 0)
		return result_errno();
	sll.sll_ifindex = if_nametoindex(argv[1]);
	memcpy(sll.sll_addr, dst_mac, 6);
	len = build_frame(frame, (__u8 *)ifr.ifr_hwaddr.sa_data, dst_mac, src, &t);
	if (sendto(pfd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return result_errno();
	return await(icmp_fd, port_unreachable, &t);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "ping"))
		return do_ping(argv[2]);
	if (argc == 7 && !strcmp(argv[1], "frame"))
		return do_frame(argv + 1);
	fprintf(stderr, "usage: pkt_probe ping ADDR | frame IFACE SRC_IP DST_MAC DST_IP PORT\n");
	return 2;
}
