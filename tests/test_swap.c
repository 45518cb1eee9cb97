// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Policy swaps under load: a client in the test cgroup sends to a denied
 * and an allowed address in a tight loop while the policy is swapped
 * thousands of times.
 *
 *   test_swap CGROUP      (run inside the test's network namespace, where
 *                          10.0.0.1 and 198.51.100.10 are bound)
 *
 * Prints PASS/FAIL lines for the test runner.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "compile.h"
#include "enforcer.h"
#include "log.h"
#include "policy.h"

#define SWAPS 1000

/* Two versions that agree on both destinations, written differently. */
static const char agree_a[] =
	"{\"apiVersion\":\"odsbpf/v1\",\"defaultAction\":\"allow\",\"rules\":["
	"{\"name\":\"deny-ten\",\"action\":\"deny\",\"cidrs\":[\"10.0.0.0/8\"]}]}";
static const char agree_b[] =
	"{\"apiVersion\":\"odsbpf/v1\",\"defaultAction\":\"deny\",\"rules\":["
	"{\"name\":\"allow-test-net\",\"action\":\"allow\",\"cidrs\":[\"198.51.100.0/24\"]},"
	"{\"name\":\"deny-one\",\"action\":\"deny\",\"cidrs\":[\"10.0.0.1/32\"],\"ports\":[\"1-60000\"]}]}";

/* Two versions that disagree on both: C denies X only, D denies Y only. */
static const char disagree_c[] =
	"{\"apiVersion\":\"odsbpf/v1\",\"defaultAction\":\"allow\",\"rules\":["
	"{\"name\":\"deny-x\",\"action\":\"deny\",\"cidrs\":[\"10.0.0.1/32\"]}]}";
static const char disagree_d[] =
	"{\"apiVersion\":\"odsbpf/v1\",\"defaultAction\":\"deny\",\"rules\":["
	"{\"name\":\"allow-x\",\"action\":\"allow\",\"cidrs\":[\"10.0.0.1/32\"]}]}";

struct version {
	struct policy pol;
	struct compiled_policy compiled;
};

static int load_version(const char *text, struct version *v)
{
	char err[POLICY_ERR_LEN];

	if (policy_load_text("test", text, &v->pol, err, sizeof(err)) ||
	    compile_policy(&v->pol, &v->compiled, err, sizeof(err))) {
		fprintf(stderr, "test_swap: %s\n", err);
		return -1;
	}
	return 0;
}

static int send_to(int fd, const char *ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(53) };

	inet_pton(AF_INET, ip, &sin.sin_addr);
	return sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, sizeof(sin)) < 0 ? -errno : 0;
}

static volatile sig_atomic_t client_stop;

static void on_stop(int sig)
{
	(void)sig;
	client_stop = 1;
}

/*
 * The client: until SIGUSR1, send to X (10.0.0.1) and Y (198.51.100.10).
 * Counts the rounds where X did not fail with EPERM or Y did not go
 * through, which is wrong while the versions agree. Writes
 * "WRONG ROUNDS" to out_fd.
 */
static void run_client(const char *cgroup, int out_fd)
{
	long rounds = 0, wrong = 0;
	int fd;

	signal(SIGUSR1, on_stop);
	if (cgroup_enter(cgroup, 0))
		_exit(2);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	while (!client_stop && rounds < 50000000) {
		int x = send_to(fd, "10.0.0.1"), y = send_to(fd, "198.51.100.10");

		rounds++;
		wrong += x != -EPERM || y != 0;
	}
	dprintf(out_fd, "%ld %ld\n", wrong, rounds);
	_exit(0);
}

static pid_t start_client(const char *cgroup, int *read_fd)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		run_client(cgroup, p[1]);
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

/* Which version (0: C, 1: D) each policy id was; filled as installed. */
static unsigned char version_of[2 * SWAPS + 16];
static long mixed, judged;
static bool checking;	/* only the disagreeing phase is checked */

/*
 * Under C only X is denied, by rule 0 (deny-x); under D only Y, by the
 * default. An event that fits neither version of its policy id would be
 * a connection judged by a mix of both.
 */
static int check_event(void *ctx, const struct odsbpf_event *e)
{
	static const unsigned char x[16] = { [10] = 0xff, [11] = 0xff, 10, 0, 0, 1 };
	bool is_x = !memcmp(e->judged, x, 16);
	bool ok;

	(void)ctx;
	if (!checking || e->policy_id >= sizeof(version_of))
		return 0;
	if (version_of[e->policy_id] == 0)
		ok = is_x && e->rule_id == 0;
	else
		ok = !is_x && e->rule_id == ODSBPF_RULE_DEFAULT;
	judged++;
	mixed += !ok;
	if (!ok && mixed <= 3)
		fprintf(stderr, "test_swap: denial under policy %u (version %c) of %s by rule %u\n",
			e->policy_id, version_of[e->policy_id] ? 'D' : 'C',
			is_x ? "X" : "Y", e->rule_id);
	return 0;
}

static int swap_many(struct enforcer *enf, struct version *a, struct version *b)
{
	for (int i = 0; i < SWAPS; i++) {
		if (enforcer_install(enf, i % 2 ? &b->compiled : &a->compiled))
			return -1;
		if (enf->policy_id < sizeof(version_of))
			version_of[enf->policy_id] = i % 2;
		enforcer_poll(enf, 0);
	}
	return 0;
}

static void report(const char *name, bool ok, const char *fmt, long a, long b)
{
	if (ok) {
		printf("PASS %s\n", name);
		return;
	}
	printf("FAIL %s: ", name);
	printf(fmt, a, b);
	printf("\n");
}

static int run_phase(struct enforcer *enf, const char *cgroup, struct version *a,
		     struct version *b, long *wrong, long *rounds)
{
	int read_fd;
	pid_t client = start_client(cgroup, &read_fd);

	if (client < 0)
		return -1;
	usleep(20000);
	if (swap_many(enf, a, b)) {
		kill(client, SIGKILL);
		return -1;
	}
	stop_client(client, read_fd, wrong, rounds);
	enforcer_poll(enf, 0);
	return 0;
}

int main(int argc, char **argv)
{
	struct version a, b, c, d;
	struct enforcer enf;
	long wrong, rounds;
	int cg_fd;

	if (argc != 2 || load_version(agree_a, &a) || load_version(agree_b, &b) ||
	    load_version(disagree_c, &c) || load_version(disagree_d, &d))
		return 2;
	cg_fd = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (cg_fd < 0 || enforcer_open(&enf, NULL) || enforcer_install(&enf, &a.compiled) ||
	    enforcer_attach(&enf, cg_fd, argv[1]) || enforcer_listen(&enf, check_event, NULL))
		return 2;

	if (run_phase(&enf, argv[1], &a, &b, &wrong, &rounds))
		return 2;
	report("test_swaps_between_agreeing_versions_give_no_wrong_verdict",
	       wrong == 0 && rounds > 0, "%ld wrong verdicts in %ld rounds", wrong, rounds);
	fprintf(stderr, "test_swap: %d swaps, %ld rounds of two sends\n", SWAPS, rounds);

	/* version_of: ids from now on alternate C, D starting at the next id. */
	/* The client starts under C, so the policy in force is C's too. */
	memset(version_of, 0, sizeof(version_of));
	if (enforcer_install(&enf, &c.compiled))
		return 2;
	enforcer_poll(&enf, 0);
	checking = true;
	if (run_phase(&enf, argv[1], &c, &d, &wrong, &rounds))
		return 2;
	report("test_each_send_is_judged_wholly_by_one_version",
	       mixed == 0 && judged > 0, "%ld of %ld denials fit neither version", mixed, judged);

	enforcer_close(&enf);
	close(cg_fd);
	return 0;
}
