// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * XDP nanoseconds per packet through BPF_PROG_TEST_RUN: odsbpf's XDP
 * program against a bare XDP_PASS program and, where given, xdp-filter's
 * program as xdp-tools loaded it on a test veth.
 *
 *   bench_xdp --policy FILE --pass-obj OBJ --label N
 *             [--xdp-filter-id ID --addrs FILE] [--repeats R] [--runs K]
 *
 * FILE is compiled and installed as the agent would, with its default
 * event rate limit, and the packet programs load on those maps. With
 * --xdp-filter-id, every address of FILE (one a line) goes into
 * xdp-filter's filter_ipv4 map as a destination to drop, as
 * `xdp-filter ip ADDR --mode dst` would put it. Then R times, for each
 * program in turn, a TCP SYN to the allowed and to the denied destination
 * and an ACK to the allowed one run K times each; the kernel reports the
 * mean ns per run. JSON lines.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bench.h"
#include "compile.h"
#include "enforcer.h"
#include "log.h"
#include "packet.h"
#include "packet.skel.h"
#include "policy.h"

/* xdp-filter's map value: MAP_FLAG_DST in its common_kern_user.h. */
#define XDPFILT_FLAG_DST	(1 << 1)

/*
 * The frames: a SYN to each destination, and an ACK to the allowed one,
 * which the parser reads through but no policy judges (TCP past its SYN):
 * what the parse alone costs.
 */
#define NR_FRAMES	3
static const char *const dests[NR_FRAMES] = { "allowed", "denied", "parse-only" };
static const char *const dest_ips[NR_FRAMES] = { "10.255.254.1", "10.255.255.1",
						 "10.255.254.1" };

struct opts {
	const char *policy;
	const char *pass_obj;
	const char *label;
	const char *addrs;
	int xdp_filter_id;
	int repeats;
	int runs;
};

/* Ethernet, IPv4 and TCP (SYN, or ACK) from the client's address to dst. */
struct syn_frame {
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
	__u8 pad[6];		/* to the 60-byte minimum frame */
} __attribute__((packed));

static __u16 ip_checksum(const void *hdr, size_t len)
{
	const __u16 *w = hdr;
	__u32 sum = 0;

	for (size_t i = 0; i < len / 2; i++)
		sum += w[i];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

static void build_frame(struct syn_frame *f, const char *dst, bool syn)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->eth.h_dest, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	memcpy(f->eth.h_source, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	f->eth.h_proto = htons(ETH_P_IP);
	f->ip.version = 4;
	f->ip.ihl = 5;
	f->ip.ttl = 64;
	f->ip.protocol = IPPROTO_TCP;
	f->ip.tot_len = htons(sizeof(f->ip) + sizeof(f->tcp));
	inet_pton(AF_INET, "10.255.253.1", &f->ip.saddr);
	inet_pton(AF_INET, dst, &f->ip.daddr);
	f->ip.check = ip_checksum(&f->ip, sizeof(f->ip));
	f->tcp.source = htons(40000);
	f->tcp.dest = htons(80);
	f->tcp.doff = 5;
	f->tcp.syn = syn;
	f->tcp.ack = !syn;
	f->tcp.window = htons(65535);
}

/* One sample: mean ns per run of K runs, and the program's verdict. */
static int run_sample(int prog_fd, const struct syn_frame *f, int runs,
		      __u32 *ns, __u32 *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = f, .data_size_in = sizeof(*f),
		    .repeat = runs);

	if (bpf_prog_test_run_opts(prog_fd, &t))
		return -errno;
	*ns = t.duration;
	*retval = t.retval;
	return 0;
}

/* The map of xdp-filter's program named name, as an fd; -1 if none. */
static int prog_map(int prog_fd, const char *name)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), ids[16];

	info.nr_map_ids = 16;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -1;
	for (__u32 i = 0; i < info.nr_map_ids && i < 16; i++) {
		struct bpf_map_info mi = {};
		__u32 mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &mi, &mlen) &&
		    !strcmp(mi.name, name))
			return fd;
		if (fd >= 0)
			close(fd);
	}
	return -1;
}

/* Every address of the file, as a destination xdp-filter drops. */
static int fill_xdp_filter(int prog_fd, const char *addrs)
{
	int ncpu = libbpf_num_possible_cpus(), map = prog_map(prog_fd, "filter_ipv4");
	__u64 vals[ncpu > 0 ? ncpu : 1];
	char line[64];
	long n = 0;
	FILE *f;

	if (map < 0 || ncpu <= 0) {
		fprintf(stderr, "bench_xdp: xdp-filter's filter_ipv4 map not found\n");
		return -1;
	}
	for (int i = 0; i < ncpu; i++)
		vals[i] = XDPFILT_FLAG_DST;
	f = fopen(addrs, "r");
	while (f && fgets(line, sizeof(line), f)) {
		__u32 key;

		line[strcspn(line, "\n")] = '\0';
		if (inet_pton(AF_INET, line, &key) != 1)
			continue;
		if (bpf_map_update_elem(map, &key, vals, BPF_ANY)) {
			fprintf(stderr, "bench_xdp: xdp-filter takes no more than %ld addresses: %s\n",
				n, strerror(errno));
			fclose(f);
			close(map);
			return -1;
		}
		n++;
	}
	if (f)
		fclose(f);
	close(map);
	return f ? 0 : -1;
}

static int load_pass(const char *path, struct bpf_object **obj)
{
	struct bpf_program *prog;

	*obj = bpf_object__open_file(path, NULL);
	if (!*obj || bpf_object__load(*obj)) {
		fprintf(stderr, "bench_xdp: cannot load %s\n", path);
		return -1;
	}
	prog = bpf_object__find_program_by_name(*obj, "xdp_pass");
	return prog ? bpf_program__fd(prog) : -1;
}

static int install(const char *file, struct enforcer *enf)
{
	char *files[] = { (char *)file }, err[POLICY_ERR_LEN];
	struct compiled_policy c;
	struct policy pol;
	int ret;

	if (policy_load_files(files, 1, &pol, err, sizeof(err)) ||
	    compile_policy(&pol, &c, err, sizeof(err))) {
		fprintf(stderr, "bench_xdp: %s\n", err);
		return -1;
	}
	ret = enforcer_open(enf, NULL) || enforcer_install(enf, &c) ||
	      bench_agent_rate_limit(enf) ? -1 : 0;
	compiled_free(&c);
	policy_free(&pol);
	return ret;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "pass-obj", required_argument, NULL, 'o' },
		{ "label", required_argument, NULL, 'l' },
		{ "xdp-filter-id", required_argument, NULL, 'x' },
		{ "addrs", required_argument, NULL, 'a' },
		{ "repeats", required_argument, NULL, 'r' },
		{ "runs", required_argument, NULL, 'k' },
		{}
	};
	int c;

	o->repeats = 15;
	o->runs = 200000;
	o->label = "0";
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': o->policy = optarg; break;
		case 'o': o->pass_obj = optarg; break;
		case 'l': o->label = optarg; break;
		case 'x': o->xdp_filter_id = atoi(optarg); break;
		case 'a': o->addrs = optarg; break;
		case 'r': o->repeats = atoi(optarg); break;
		case 'k': o->runs = atoi(optarg); break;
		default: return -1;
		}
	}
	if (o->xdp_filter_id && !o->addrs)
		return -1;
	return o->policy && o->pass_obj && o->repeats > 0 && o->runs > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct packet_layer pkt = PACKET_LAYER_INIT;
	const char *names[3] = { "odsbpf", "xdp-pass", "xdp-filter" };
	struct bpf_object *pass = NULL;
	struct syn_frame frames[NR_FRAMES];
	struct enforcer enf = {};
	int fds[3] = { -1, -1, -1 }, ret = 1;
	struct opts o = {};

	log_init();
	if (parse_opts(argc, argv, &o)) {
		fprintf(stderr, "usage: bench_xdp --policy FILE --pass-obj OBJ --label N [--xdp-filter-id ID --addrs FILE] [--repeats R] [--runs K]\n");
		return 2;
	}
	if (install(o.policy, &enf) || packet_open(&pkt, &enf))
		goto out;
	fds[0] = bpf_program__fd(pkt.skel->progs.xdp_veth);
	fds[1] = load_pass(o.pass_obj, &pass);
	if (fds[1] < 0)
		goto out;
	if (o.xdp_filter_id) {
		fds[2] = bpf_prog_get_fd_by_id(o.xdp_filter_id);
		if (fds[2] < 0 || fill_xdp_filter(fds[2], o.addrs))
			goto out;
	}
	for (int d = 0; d < NR_FRAMES; d++)
		build_frame(&frames[d], dest_ips[d], d < 2);

	for (int rep = 0; rep < o.repeats; rep++) {
		for (int k = 0; k < 3; k++) {
			int p = (rep + k) % 3;	/* no program always goes first */

			for (int d = 0; d < NR_FRAMES && fds[p] >= 0; d++) {
				__u32 ns = 0, retval = 0;
				int err = run_sample(fds[p], &frames[d], o.runs, &ns, &retval);

				if (err) {
					fprintf(stderr, "bench_xdp: test run of %s: %s\n",
						names[p], strerror(-err));
					goto out;
				}
				printf("{\"bench\":\"xdp\",\"n\":%s,\"config\":\"%s\",\"dest\":\"%s\","
				       "\"rep\":%d,\"runs\":%d,\"ns_per_pkt\":%u,\"verdict\":\"%s\"}\n",
				       o.label, names[p], dests[d], rep, o.runs, ns,
				       retval == XDP_PASS ? "pass" :
				       retval == XDP_DROP ? "drop" : "other");
			}
		}
		fflush(stdout);
	}
	ret = 0;
out:
	if (fds[2] >= 0)
		close(fds[2]);
	bpf_object__close(pass);
	packet_close(&pkt);
	enforcer_close(&enf);
	return ret;
}
