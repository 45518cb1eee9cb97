// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The workload of the end-to-end tests and of `make run`: makes one
 * network syscall and prints what the kernel answered, as
 * "result=ok", "result=EPERM", "result=ECONNREFUSED"...
 *
 *   probe [--comm NAME] connect tcp|udp ADDR PORT
 *   probe [--comm NAME] sendto udp ADDR PORT       (unconnected)
 *   probe [--comm NAME] fastopen ADDR PORT         (sendto MSG_FASTOPEN)
 *   probe [--comm NAME] flood tcp|udp ADDR PORT N  (N connects, one socket)
 *   probe listen ADDR PORT                         (TCP, greets each client)
 *
 * Only ever run inside a network namespace a test made, aimed at
 * addresses bound in it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define GREETING "odsbpf-probe\n"

static socklen_t parse_sockaddr(const char *addr, const char *port,
				struct sockaddr_storage *ss)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(atoi(port));
		return sizeof(*in4);
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(atoi(port));
		return sizeof(*in6);
	}
	fprintf(stderr, "probe: bad address %s\n", addr);
	exit(2);
}

static int report(int ret)
{
	const char *name;

	if (ret >= 0) {
		printf("result=ok\n");
		return 0;
	}
	name = strerrorname_np(errno);
	printf("result=%s\n", name ? name : "error");
	return 1;
}

static int open_socket(int family, int type)
{
	struct timeval tv = { .tv_sec = 3 };
	int fd = socket(family, type, 0);

	if (fd < 0) {
		perror("probe: socket");
		exit(2);
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* After an allowed TCP connect, read the listener's greeting if any. */
static void read_greeting(int fd)
{
	char buf[64] = "";
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	if (n > 0 && !strcmp(buf, GREETING))
		printf("greeting=yes\n");
}

static int do_connect(const char *proto, const char *addr, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_sockaddr(addr, port, &ss);
	int type = !strcmp(proto, "udp") ? SOCK_DGRAM : SOCK_STREAM;
	int fd = open_socket(ss.ss_family, type);
	int ret = connect(fd, (struct sockaddr *)&ss, len);
	int rc = report(ret);

	if (!ret && type == SOCK_STREAM)
		read_greeting(fd);
	close(fd);
	return rc;
}

static int do_sendto(const char *addr, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_sockaddr(addr, port, &ss);
	int fd = open_socket(ss.ss_family, SOCK_DGRAM);
	int rc = report(sendto(fd, "x", 1, 0, (struct sockaddr *)&ss, len));

	close(fd);
	return rc;
}

static int do_fastopen(const char *addr, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_sockaddr(addr, port, &ss);
	int fd = open_socket(ss.ss_family, SOCK_STREAM);
	int rc = report(sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&ss, len));

	close(fd);
	return rc;
}

/*
 * N connects on one socket, in a bounded loop: a denied connect leaves
 * the socket unconnected, so it can try again. Prints the tally, then
 * result=EPERM when every one was denied.
 */
static int do_flood(const char *proto, const char *addr, const char *port,
		    const char *count)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_sockaddr(addr, port, &ss);
	int type = !strcmp(proto, "udp") ? SOCK_DGRAM : SOCK_STREAM;
	int fd = open_socket(ss.ss_family, type);
	long n = atol(count), eperm = 0, other = 0;

	for (long i = 0; i < n; i++) {
		if (!connect(fd, (struct sockaddr *)&ss, len)) {
			other++;
			break;	/* connected: the rest would not be judged */
		}
		if (errno == EPERM)
			eperm++;
		else
			other++;
	}
	close(fd);
	printf("attempts=%ld eperm=%ld other=%ld\n", eperm + other, eperm, other);
	printf("result=%s\n", eperm == n ? "EPERM" : "mixed");
	return eperm == n ? 1 : 0;
}

static int do_listen(const char *addr, const char *port)
{
	struct sockaddr_storage ss;
	socklen_t len = parse_sockaddr(addr, port, &ss);
	int one = 1, fd = socket(ss.ss_family, SOCK_STREAM, 0);

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 64)) {
		perror("probe: listen");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int c = accept(fd, NULL, NULL);

		if (c < 0)
			continue;
		if (write(c, GREETING, strlen(GREETING)) < 0)
			perror("probe: write");
		close(c);
	}
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "--comm")) {
		prctl(PR_SET_NAME, argv[2]);
		argc -= 2;
		argv += 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "connect"))
		return do_connect(argv[2], argv[3], argv[4]);
	if (argc == 5 && !strcmp(argv[1], "sendto"))
		return do_sendto(argv[3], argv[4]);
	if (argc == 4 && !strcmp(argv[1], "fastopen"))
		return do_fastopen(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "listen"))
		return do_listen(argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "flood"))
		return do_flood(argv[2], argv[3], argv[4], argv[5]);
	fprintf(stderr, "usage: probe [--comm NAME] connect tcp|udp ADDR PORT | sendto udp ADDR PORT | fastopen ADDR PORT | listen ADDR PORT | flood tcp|udp ADDR PORT N\n");
	return 2;
}
