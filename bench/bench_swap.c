// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * A policy file to a flipped generation, step by step, while a client
 * checks that enforcement never lapses.
 *
 *   bench_swap --policy-a A --policy-b B --cgroup CG --netns PATH
 *              --label N [--swaps K]
 *
 * A and B hold the same CIDRs under other rule names (bench/gen_policy.py),
 * so both deny 10.255.255.1 and allow 10.255.254.1. A is installed and the
 * programs attached to CG; then K times the other file is read, parsed and
 * validated, compiled, and installed (new tries filled, staged in the
 * outer maps, the active index flipped), each step timed. One more outer
 * map write, of a slot with the trie it already holds, times the RCU
 * grace period the kernel waits out on every map-in-map update.
 *
 * Meanwhile a client in CG and the namespace PATH connect()s a UDP socket
 * to both destinations in a loop; a round where the denied one is not
 * refused or the allowed one is, is an enforcement gap. JSON lines on
 * stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cgroup.h"
#include "compile.h"
#include "enforcer.h"
#include "log.h"
#include "policy.h"
#include "sock.skel.h"

#define CLIENT_MAX_ROUNDS	100000000L
#define CLIENT_MAX_SECONDS	300

struct opts {
	char *files[2];
	const char *cgroup;
	const char *netns;
	const char *label;
	int swaps;
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static volatile sig_atomic_t client_stop;

static void on_stop(int sig)
{
	(void)sig;
	client_stop = 1;
}

static int udp_connect(int fd, const char *ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9) };

	inet_pton(AF_INET, ip, &sin.sin_addr);
	return connect(fd, (struct sockaddr *)&sin, sizeof(sin)) ? -errno : 0;
}

/* Until SIGUSR1 (or its bounds), then "WRONG ROUNDS" on out_fd. */
static void run_client(const struct opts *o, int out_fd)
{
	time_t deadline = time(NULL) + CLIENT_MAX_SECONDS;
	long rounds = 0, wrong = 0;
	int ns_fd, fd;

	signal(SIGUSR1, on_stop);
	ns_fd = open(o->netns, O_RDONLY);
	if (cgroup_enter(o->cgroup, 0) || ns_fd < 0 || setns(ns_fd, CLONE_NEWNET))
		_exit(2);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	while (!client_stop && rounds < CLIENT_MAX_ROUNDS) {
		int denied = udp_connect(fd, "10.255.255.1");
		int allowed = udp_connect(fd, "10.255.254.1");

		wrong += denied != -EPERM || allowed != 0;
		if (++rounds % 65536 == 0 && time(NULL) > deadline)
			break;
	}
	dprintf(out_fd, "%ld %ld\n", wrong, rounds);
	_exit(0);
}

static pid_t start_client(const struct opts *o, int *read_fd)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		run_client(o, p[1]);
	}
	close(p[1]);
	*read_fd = p[0];
	return pid;
}

static void stop_client(pid_t pid, int read_fd, long *wrong, long *rounds)
{
	FILE *f;

	kill(pid, SIGUSR1);
	waitpid(pid, NULL, 0);
	f = fdopen(read_fd, "r");
	if (!f || fscanf(f, "%ld %ld", wrong, rounds) != 2)
		*wrong = *rounds = -1;
	if (f)
		fclose(f);
}

/*
 * One write of the inactive IPv4 slot with the trie it already holds:
 * nothing changes but the wait, the kernel's synchronize_rcu() after
 * every map-in-map update. Returns ms, or -1.
 */
static double rcu_wait_ms(struct enforcer *enf)
{
	int outer = bpf_map__fd(enf->skel->maps.odsbpf_pol4), inner;
	__u32 slot = !enf->active_gen, id;
	struct timespec t0;
	double ms = -1;

	if (bpf_map_lookup_elem(outer, &slot, &id))
		return -1;
	inner = bpf_map_get_fd_by_id(id);
	if (inner < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!bpf_map_update_elem(outer, &slot, &inner, BPF_ANY))
		ms = ms_since(&t0);
	close(inner);
	return ms;
}

/* File to flipped generation, each step timed; one JSON line. */
static int swap_once(const struct opts *o, struct enforcer *enf, int i)
{
	char *file = o->files[(i + 1) % 2], err[POLICY_ERR_LEN];
	double parse_ms, compile_ms, install_ms;
	struct compiled_policy c;
	struct timespec t0;
	struct policy pol;
	int ret;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (policy_load_files(&file, 1, &pol, err, sizeof(err))) {
		fprintf(stderr, "bench_swap: %s\n", err);
		return -1;
	}
	parse_ms = ms_since(&t0);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = compile_policy(&pol, &c, err, sizeof(err));
	compile_ms = ms_since(&t0);
	if (ret) {
		fprintf(stderr, "bench_swap: %s\n", err);
		policy_free(&pol);
		return -1;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = enforcer_install(enf, &c);
	install_ms = ms_since(&t0);
	if (!ret)
		printf("{\"bench\":\"swap\",\"n\":%s,\"rep\":%d,\"prefixes\":%zu,"
		       "\"parse_ms\":%.2f,\"compile_ms\":%.2f,\"install_ms\":%.2f,"
		       "\"total_ms\":%.2f,\"rcu_ms\":%.2f}\n",
		       o->label, i, c.nr_v4 + c.nr_v6, parse_ms, compile_ms,
		       install_ms, parse_ms + compile_ms + install_ms, rcu_wait_ms(enf));
	fflush(stdout);
	compiled_free(&c);
	policy_free(&pol);
	return ret;
}

static int install_first(const struct opts *o, struct enforcer *enf, int cg_fd)
{
	char err[POLICY_ERR_LEN];
	struct compiled_policy c;
	struct policy pol;
	int ret;

	if (policy_load_files(o->files, 1, &pol, err, sizeof(err)) ||
	    compile_policy(&pol, &c, err, sizeof(err))) {
		fprintf(stderr, "bench_swap: %s\n", err);
		return -1;
	}
	ret = enforcer_open(enf, NULL) || enforcer_install(enf, &c) ||
	      enforcer_attach(enf, cg_fd, o->cgroup) ? -1 : 0;
	compiled_free(&c);
	policy_free(&pol);
	return ret;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "policy-a", required_argument, NULL, 'a' },
		{ "policy-b", required_argument, NULL, 'b' },
		{ "cgroup", required_argument, NULL, 'c' },
		{ "netns", required_argument, NULL, 'n' },
		{ "label", required_argument, NULL, 'l' },
		{ "swaps", required_argument, NULL, 's' },
		{}
	};
	int c;

	o->swaps = 10;
	o->label = "0";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': o->files[0] = optarg; break;
		case 'b': o->files[1] = optarg; break;
		case 'c': o->cgroup = optarg; break;
		case 'n': o->netns = optarg; break;
		case 'l': o->label = optarg; break;
		case 's': o->swaps = atoi(optarg); break;
		default: return -1;
		}
	}
	return o->files[0] && o->files[1] && o->cgroup && o->netns &&
	       o->swaps > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct enforcer enf = {};
	long wrong, rounds;
	struct opts o = {};
	int cg_fd, read_fd, ret = 0;
	pid_t client;

	log_init();
	if (parse_opts(argc, argv, &o)) {
		fprintf(stderr, "usage: bench_swap --policy-a A --policy-b B --cgroup CG --netns PATH --label N [--swaps K]\n");
		return 2;
	}
	cg_fd = open(o.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0 || install_first(&o, &enf, cg_fd))
		return 1;

	client = start_client(&o, &read_fd);
	if (client < 0)
		return 1;
	usleep(50000);
	for (int i = 0; i < o.swaps && !ret; i++)
		ret = swap_once(&o, &enf, i);
	stop_client(client, read_fd, &wrong, &rounds);
	printf("{\"bench\":\"swap_gap\",\"n\":%s,\"swaps\":%d,\"wrong\":%ld,\"rounds\":%ld}\n",
	       o.label, o.swaps, wrong, rounds);

	enforcer_close(&enf);
	close(cg_fd);
	return ret ? 1 : 0;
}
