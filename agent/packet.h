/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/*
 * The packet layers as the agent sees them: load the packet programs on
 * the enforcer's maps (one policy for every layer), attach cgroup_skb/
 * egress beside the socket hooks, and keep XDP on every host-side veth
 * whose name matches a pattern, following links as they come and go
 * through rtnetlink.
 */
#ifndef ODSBPF_PACKET_H
#define ODSBPF_PACKET_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <jansson.h>

#define PACKET_MAX_PATTERNS	16
#define PACKET_DEFAULT_XDP_IFACES	"veth*,cali*,lxc*,eni*"

struct enforcer;
struct packet_bpf;
struct bpf_link;

/* An interface XDP is on, or was on: its name stays for late events. */
struct packet_iface {
	int ifindex;
	char name[IF_NAMESIZE];
	int link_fd;		/* the XDP link; -1 once detached */
	bool native;		/* driver mode; else generic (skb) mode */
};

/* A layer that packet_close() may take before packet_open() ran. */
#define PACKET_LAYER_INIT { .nl_fd = -1 }

struct packet_layer {
	struct packet_bpf *skel;
	struct enforcer *enf;		/* its maps; its pin directory */
	struct bpf_link *skb_link;
	int nl_fd;			/* rtnetlink link events; -1: no XDP */
	char *patterns[PACKET_MAX_PATTERNS];
	size_t nr_patterns;
	struct packet_iface *ifaces;
	size_t nr_ifaces;
};

/*
 * Load the packet programs on the maps of an open enforcer. Returns 0 or
 * -errno, having said why.
 */
int packet_open(struct packet_layer *pl, struct enforcer *enf);

/*
 * cgroup_skb/egress on the cgroup; pinned and adopted like the socket
 * hooks when the enforcer pins.
 */
int packet_attach_cgroup(struct packet_layer *pl, int cgroup_fd,
			 const char *cgroup_path);

/*
 * XDP on every host-side veth (a veth whose peer is in another network
 * namespace) whose name matches one of the comma-separated fnmatch
 * patterns, now and as links appear; native mode where the driver takes
 * it, generic otherwise. Returns 0 or -errno (bad patterns, no netlink).
 */
int packet_xdp_start(struct packet_layer *pl, const char *patterns);

/* The rtnetlink socket to poll for link changes; -1 before xdp_start. */
int packet_fd(const struct packet_layer *pl);

/*
 * Act on the link changes waiting on packet_fd(); never blocks. Returns
 * how many of them put XDP on an interface or took it off.
 */
int packet_process(struct packet_layer *pl);

/* The name of an interface XDP is or was on, for events; NULL if unknown. */
const char *packet_ifname(void *pl, __u32 ifindex);

/* [{"interface", "ifindex", "mode"}...] of the interfaces XDP is on. */
json_t *packet_xdp_json(const struct packet_layer *pl);

/*
 * Release what the agent holds. Pinned links stay, and with them the
 * enforcement; links that are not pinned (odsbpf exec) go.
 */
void packet_close(struct packet_layer *pl);

/* Name of a packet outcome, as status and metrics show it. */
const char *packet_outcome_name(unsigned int outcome);

#endif
