// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * What connect() costs under odsbpf and under what a team would pick
 * instead, measured round robin in one process so that the machine's
 * noise falls on every configuration alike.
 *
 *   bench_connect --policy FILE --attach CGROUP [--attach-all CGROUP2]
 *                 --label N --config NAME:NETNS:CGROUP:PROTOS...
 *                 [--repeats R] [--sample-ms MS]
 *
 * Loads FILE into the socket programs and attaches them to CGROUP, as
 * `odsbpf exec` does (nothing pinned), with the agent's default event
 * rate limit; with --attach-all, a second copy of the programs and
 * cgroup_skb/egress go on CGROUP2, as the agent runs them. Then R times,
 * for each config in turn, joins its network namespace and cgroup and
 * times connect() to the allowed and to the denied destination
 * (bench/gen_policy.py), for each
 * protocol of PROTOS ("tcp", "udp" or "tcp+udp"); each repeat starts one
 * config later than the one before:
 *
 *   tcp  a new socket per attempt; connect() to a port with no listener,
 *        so one SYN goes out through every hook and chain and a RST comes
 *        back (ECONNREFUSED), or the policy refuses (EPERM, or the RST of
 *        an iptables/nftables reject). Only connect() is timed.
 *   udp  connect() over and over on one socket: the syscall alone, no
 *        packet; what the socket hook adds at its purest.
 *
 * One JSON line per sample on stdout: ns per connect() and the outcome.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "bench.h"
#include "cgroup.h"
#include "compile.h"
#include "enforcer.h"
#include "log.h"
#include "packet.h"
#include "policy.h"

#define MAX_CONFIGS	8
#define DEST_PORT	9	/* nothing listens there */
#define MIN_OPS		3	/* per sample, however slow */
#define MAX_OPS		200000	/* per sample, however fast */
#define UDP_BATCH	32	/* connects timed together */

static const char *const dests[] = { "allowed", "denied" };
static const char *const dest_ips[] = { "10.255.254.1", "10.255.255.1" };

struct config {
	char *name;
	char *netns;
	char *cgroup;
	bool tcp, udp;
	int netns_fd;
};

struct opts {
	const char *policy;
	const char *attach;
	const char *attach_all;
	const char *label;
	struct config configs[MAX_CONFIGS];
	int nr_configs;
	int repeats;
	int sample_ms;
};

/* One sample's tally. */
struct sample {
	long ops;
	__u64 ns;
	int first_err;		/* errno of the first attempt, 0: success */
	long differing;		/* attempts whose outcome was not first_err's */
};

static void tally(struct sample *s, int err)
{
	if (!s->ops)
		s->first_err = err;
	else if (err != s->first_err)
		s->differing++;
}

static void sample_tcp(const struct sockaddr_in *sin, int sample_ms,
		       struct sample *s)
{
	/* A SYN that nothing answers fails the attempt after 1 s. */
	struct timeval timeout = { .tv_sec = 1 };
	__u64 budget = sample_ms * 1000000ull;

	while ((s->ns < budget || s->ops < MIN_OPS) && s->ops < MAX_OPS) {
		int fd = socket(AF_INET, SOCK_STREAM, 0), err;
		__u64 t0;

		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout,
					 sizeof(timeout))) {
			perror("bench_connect: socket");
			exit(1);
		}
		t0 = bench_now_ns();
		err = connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) ? errno : 0;
		s->ns += bench_now_ns() - t0;
		close(fd);
		tally(s, err);
		s->ops++;
	}
}

static void sample_udp(const struct sockaddr_in *sin, int sample_ms,
		       struct sample *s)
{
	__u64 budget = sample_ms * 1000000ull;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0) {
		perror("bench_connect: socket");
		exit(1);
	}
	while ((s->ns < budget || s->ops < MIN_OPS) && s->ops < MAX_OPS) {
		int errs[UDP_BATCH];
		__u64 t0 = bench_now_ns();

		for (int i = 0; i < UDP_BATCH; i++)
			errs[i] = connect(fd, (const struct sockaddr *)sin,
					  sizeof(*sin)) ? errno : 0;
		s->ns += bench_now_ns() - t0;
		for (int i = 0; i < UDP_BATCH; i++) {
			tally(s, errs[i]);
			s->ops++;
		}
	}
	close(fd);
}

static const char *err_name(int err)
{
	switch (err) {
	case 0: return "ok";
	case EPERM: return "EPERM";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EINPROGRESS: return "timeout";
	default: return strerror(err);
	}
}

/* Sockets made after this belong to the config's namespace and cgroup. */
static int enter_config(const struct config *c)
{
	if (setns(c->netns_fd, CLONE_NEWNET)) {
		fprintf(stderr, "bench_connect: cannot enter %s: %s\n", c->netns,
			strerror(errno));
		return -1;
	}
	if (cgroup_enter(c->cgroup, 0)) {
		fprintf(stderr, "bench_connect: cannot enter %s\n", c->cgroup);
		return -1;
	}
	return 0;
}

static void measure(const struct opts *o, const struct config *c, int rep,
		    const char *proto)
{
	bool tcp = !strcmp(proto, "tcp");

	for (int d = 0; d < 2; d++) {
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_port = htons(DEST_PORT) };
		struct sample s = {};

		inet_pton(AF_INET, dest_ips[d], &sin.sin_addr);
		if (tcp)
			sample_tcp(&sin, o->sample_ms, &s);
		else
			sample_udp(&sin, o->sample_ms, &s);
		printf("{\"bench\":\"connect\",\"n\":%s,\"config\":\"%s\",\"proto\":\"%s\","
		       "\"dest\":\"%s\",\"rep\":%d,\"ops\":%ld,\"ns_per_op\":%.1f,"
		       "\"outcome\":\"%s\",\"differing\":%ld}\n",
		       o->label, c->name, proto, dests[d], rep, s.ops,
		       (double)s.ns / s.ops, err_name(s.first_err), s.differing);
	}
	fflush(stdout);
}

static int run(const struct opts *o)
{
	for (int rep = 0; rep < o->repeats; rep++) {
		/* Each repeat starts one config later: no config always goes first. */
		for (int k = 0; k < o->nr_configs; k++) {
			const struct config *c = &o->configs[(rep + k) % o->nr_configs];

			if (enter_config(c))
				return -1;
			if (c->tcp)
				measure(o, c, rep, "tcp");
			if (c->udp)
				measure(o, c, rep, "udp");
		}
	}
	return 0;
}

/* NAME:NETNS:CGROUP:PROTOS */
static int parse_config(char *arg, struct config *c)
{
	char *protos;

	c->name = strtok(arg, ":");
	c->netns = strtok(NULL, ":");
	c->cgroup = strtok(NULL, ":");
	protos = strtok(NULL, ":");
	if (!c->name || !c->netns || !c->cgroup || !protos)
		return -1;
	c->tcp = strstr(protos, "tcp");
	c->udp = strstr(protos, "udp");
	c->netns_fd = open(c->netns, O_RDONLY | O_CLOEXEC);
	if (c->netns_fd < 0) {
		fprintf(stderr, "bench_connect: %s: %s\n", c->netns, strerror(errno));
		return -1;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "attach", required_argument, NULL, 'a' },
		{ "attach-all", required_argument, NULL, 'A' },
		{ "label", required_argument, NULL, 'l' },
		{ "config", required_argument, NULL, 'c' },
		{ "repeats", required_argument, NULL, 'r' },
		{ "sample-ms", required_argument, NULL, 's' },
		{}
	};
	int c;

	o->repeats = 15;
	o->sample_ms = 30;
	o->label = "0";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': o->policy = optarg; break;
		case 'a': o->attach = optarg; break;
		case 'A': o->attach_all = optarg; break;
		case 'l': o->label = optarg; break;
		case 'r': o->repeats = atoi(optarg); break;
		case 's': o->sample_ms = atoi(optarg); break;
		case 'c':
			if (o->nr_configs == MAX_CONFIGS ||
			    parse_config(optarg, &o->configs[o->nr_configs++]))
				return -1;
			break;
		default:
			return -1;
		}
	}
	return o->policy && o->attach && o->nr_configs && o->repeats > 0 ? 0 : -1;
}

/* The programs of one odsbpf config and the cgroup they are on. */
struct attached {
	struct enforcer enf;
	struct packet_layer pkt;
	int cg_fd;
};

/*
 * The policy, compiled and in force on a cgroup: the socket programs,
 * and cgroup_skb/egress beside them when with_skb (as the agent runs).
 */
static int enforce(const char *policy, const char *cgroup, bool with_skb,
		   struct attached *at)
{
	char *files[] = { (char *)policy }, err[POLICY_ERR_LEN];
	struct compiled_policy compiled;
	struct policy pol;
	int ret;

	if (policy_load_files(files, 1, &pol, err, sizeof(err)) ||
	    compile_policy(&pol, &compiled, err, sizeof(err))) {
		fprintf(stderr, "bench_connect: %s\n", err);
		return -1;
	}
	at->cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = at->cg_fd < 0 || enforcer_open(&at->enf, NULL) ||
	      enforcer_install(&at->enf, &compiled) ||
	      bench_agent_rate_limit(&at->enf) ||
	      enforcer_attach(&at->enf, at->cg_fd, cgroup) ? -1 : 0;
	if (!ret && with_skb)
		ret = packet_open(&at->pkt, &at->enf) ||
		      packet_attach_cgroup(&at->pkt, at->cg_fd, cgroup) ? -1 : 0;
	compiled_free(&compiled);
	policy_free(&pol);
	return ret;
}

static void release(struct attached *at)
{
	packet_close(&at->pkt);
	enforcer_close(&at->enf);
	if (at->cg_fd >= 0)
		close(at->cg_fd);
}

int main(int argc, char **argv)
{
	struct attached sock = { .pkt = PACKET_LAYER_INIT, .cg_fd = -1 };
	struct attached all = { .pkt = PACKET_LAYER_INIT, .cg_fd = -1 };
	struct opts o = {};
	int ret;

	log_init();
	if (parse_opts(argc, argv, &o)) {
		fprintf(stderr, "usage: bench_connect --policy FILE --attach CGROUP [--attach-all CGROUP] --label N --config NAME:NETNS:CGROUP:tcp+udp... [--repeats R] [--sample-ms MS]\n");
		return 2;
	}
	if (enforce(o.policy, o.attach, false, &sock) ||
	    (o.attach_all && enforce(o.policy, o.attach_all, true, &all)))
		return 1;
	ret = run(&o) ? 1 : 0;
	release(&all);
	release(&sock);
	return ret;
}
