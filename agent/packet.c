// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "enforcer.h"
#include "log.h"
#include "packet.h"
#include "packet.skel.h"
#include "sock.skel.h"

#define NL_BUF_SIZE	(64 * 1024)
#define NL_RCVBUF	(4 * 1024 * 1024)
#define XDP_PIN_PREFIX	"link_xdp_"

const char *packet_outcome_name(unsigned int outcome)
{
	static const char *const names[ODSBPF_PKT_NR] = {
		[ODSBPF_PKT_ALLOWED] = "allowed",
		[ODSBPF_PKT_DENIED] = "denied",
		[ODSBPF_PKT_AUDITED] = "audited",
		[ODSBPF_PKT_NEIGHBOUR] = "neighbour",
		[ODSBPF_PKT_REPLY] = "reply",
		[ODSBPF_PKT_UNPARSEABLE] = "unparseable",
		[ODSBPF_PKT_TOO_DEEP] = "too_deep",
		[ODSBPF_PKT_SOURCE_ROUTED] = "source_routed",
		[ODSBPF_PKT_UNSUPPORTED] = "unsupported",
	};

	return outcome < ODSBPF_PKT_NR ? names[outcome] : "unknown";
}

/*
 * Every map the packet object shares with the socket object (same name)
 * is handed the socket object's fd, so both read one policy, count in one
 * array and report on one ring buffer. Maps of the packet layer alone
 * are created as usual.
 */
static int reuse_enforcer_maps(struct packet_layer *pl)
{
	struct bpf_object *sock = pl->enf->skel->obj;
	struct bpf_map *m, *theirs;
	int err;

	bpf_object__for_each_map(m, pl->skel->obj) {
		if (bpf_map__is_internal(m))
			continue;
		theirs = bpf_object__find_map_by_name(sock, bpf_map__name(m));
		if (!theirs)
			continue;
		err = bpf_map__reuse_fd(m, bpf_map__fd(theirs));
		if (err) {
			pr_err("cannot share map %s with the packet programs: %s",
			       bpf_map__name(m), strerror(-err));
			return err;
		}
	}
	return 0;
}

int packet_open(struct packet_layer *pl, struct enforcer *enf)
{
	int err;

	memset(pl, 0, sizeof(*pl));
	pl->nl_fd = -1;
	pl->enf = enf;
	pl->skel = packet_bpf__open();
	if (!pl->skel) {
		err = -errno;
		pr_err("cannot open the packet programs: %s", strerror(-err));
		return err;
	}
	err = reuse_enforcer_maps(pl);
	if (err)
		return err;
	err = packet_bpf__load(pl->skel);
	if (err) {
		pr_err("cannot load the packet programs into the kernel: %s (run with -vv for the verifier log)",
		       strerror(-err));
		return err;
	}
	return 0;
}

int packet_attach_cgroup(struct packet_layer *pl, int cgroup_fd,
			 const char *cgroup_path)
{
	struct bpf_program *prog = pl->skel->progs.cgroup_skb_egress;
	int err;

	pl->skb_link = enforcer_attach_prog(pl->enf, prog, cgroup_fd);
	if (!pl->skb_link) {
		err = -errno;
		pr_err("cannot attach %s to cgroup %s: %s", bpf_program__name(prog),
		       cgroup_path, strerror(-err));
		return err;
	}
	return 0;
}

static int split_patterns(struct packet_layer *pl, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tok += strspn(tok, " \t");
		tok[strcspn(tok, " \t")] = '\0';
		if (!*tok)
			continue;
		if (pl->nr_patterns == PACKET_MAX_PATTERNS) {
			pr_err("--xdp-ifaces: more than %d patterns", PACKET_MAX_PATTERNS);
			err = -EINVAL;
			break;
		}
		pl->patterns[pl->nr_patterns] = strdup(tok);
		if (!pl->patterns[pl->nr_patterns++]) {
			err = -ENOMEM;
			break;
		}
	}
	free(copy);
	if (!err && !pl->nr_patterns) {
		pr_err("--xdp-ifaces \"%s\": no interface pattern in it", list);
		err = -EINVAL;
	}
	return err;
}

static bool name_matches(const struct packet_layer *pl, const char *name)
{
	for (size_t i = 0; i < pl->nr_patterns; i++)
		if (!fnmatch(pl->patterns[i], name, 0))
			return true;
	return false;
}

static struct packet_iface *find_iface(const struct packet_layer *pl, int ifindex)
{
	for (size_t i = 0; i < pl->nr_ifaces; i++)
		if (pl->ifaces[i].ifindex == ifindex)
			return &pl->ifaces[i];
	return NULL;
}

/* The record of ifindex, made on first sight. */
static struct packet_iface *iface_slot(struct packet_layer *pl, int ifindex)
{
	struct packet_iface *ifc = find_iface(pl, ifindex), *grown;

	if (ifc)
		return ifc;
	grown = realloc(pl->ifaces, (pl->nr_ifaces + 1) * sizeof(*grown));
	if (!grown)
		return NULL;
	pl->ifaces = grown;
	ifc = &pl->ifaces[pl->nr_ifaces++];
	*ifc = (struct packet_iface){ .ifindex = ifindex, .link_fd = -1 };
	return ifc;
}

static void xdp_pin_path(const struct packet_layer *pl, int ifindex, char *out,
			 size_t len)
{
	snprintf(out, len, "%s/" XDP_PIN_PREFIX "%d", pl->enf->pin_dir, ifindex);
}

/* The XDP link an earlier agent pinned for ifindex, with our program in. */
static int adopt_xdp_link(struct packet_layer *pl, int ifindex, const char *path)
{
	int prog_fd = bpf_program__fd(pl->skel->progs.xdp_veth);
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_LINK_TYPE_XDP ||
	    (int)info.xdp.ifindex != ifindex || bpf_link_update(fd, prog_fd, NULL)) {
		/* Its interface went while no agent watched: the pin is stale. */
		close(fd);
		unlink(path);
		return -ENOENT;
	}
	return fd;
}

/*
 * Native mode first, since it is the fast one and veth has it; generic
 * mode when the driver refuses (no XDP support, an MTU too large...).
 */
static int create_xdp_link(struct packet_layer *pl, struct packet_iface *ifc)
{
	int prog_fd = bpf_program__fd(pl->skel->progs.xdp_veth);
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);
	int fd, native_err;

	fd = bpf_link_create(prog_fd, ifc->ifindex, BPF_XDP, &opts);
	if (fd >= 0)
		return fd;
	native_err = errno;
	opts.flags = XDP_FLAGS_SKB_MODE;
	fd = bpf_link_create(prog_fd, ifc->ifindex, BPF_XDP, &opts);
	if (fd < 0)
		return -errno;
	pr_info("XDP on %s: the driver refused native mode (%s); generic mode instead",
		ifc->name, strerror(native_err));
	return fd;
}

/* Which mode the kernel says the program runs in on ifindex. */
static bool xdp_is_native(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	return !bpf_xdp_query(ifindex, 0, &q) && q.attach_mode == XDP_ATTACHED_DRV;
}

static void xdp_attach(struct packet_layer *pl, struct packet_iface *ifc)
{
	bool adopted = false;
	char path[512] = "";
	int fd = -ENOENT;

	if (pl->enf->pin_dir[0]) {
		xdp_pin_path(pl, ifc->ifindex, path, sizeof(path));
		fd = adopt_xdp_link(pl, ifc->ifindex, path);
		adopted = fd >= 0;
	}
	if (fd < 0)
		fd = create_xdp_link(pl, ifc);
	if (fd < 0) {
		pr_warn("cannot attach XDP to %s (ifindex %d): %s; its traffic is judged by the other layers only",
			ifc->name, ifc->ifindex, strerror(-fd));
		return;
	}
	if (path[0] && !adopted && bpf_obj_pin(fd, path))
		pr_warn("cannot pin the XDP link of %s at %s: %s; it stops with the agent",
			ifc->name, path, strerror(errno));
	ifc->link_fd = fd;
	ifc->native = xdp_is_native(ifc->ifindex);
	pr_info("XDP on %s (ifindex %d): %s mode%s", ifc->name, ifc->ifindex,
		ifc->native ? "native" : "generic", adopted ? ", adopted" : "");
}

/* Let go of ifindex's link; with unpin, enforcement there ends too. */
static void xdp_release(struct packet_layer *pl, struct packet_iface *ifc, bool unpin)
{
	char path[512];

	if (ifc->link_fd < 0)
		return;
	if (unpin && pl->enf->pin_dir[0]) {
		xdp_pin_path(pl, ifc->ifindex, path, sizeof(path));
		unlink(path);
	}
	close(ifc->link_fd);
	ifc->link_fd = -1;
}

/* What one RTM_NEWLINK or RTM_DELLINK says of a link. */
struct link_msg {
	int ifindex;
	const char *name;
	bool veth;
	bool peer_elsewhere;	/* IFLA_LINK_NETNSID: the peer's netns differs */
	bool deleted;
};

static void parse_linkinfo(struct rtattr *info, struct link_msg *lm)
{
	int len = RTA_PAYLOAD(info);

	for (struct rtattr *a = RTA_DATA(info); RTA_OK(a, len); a = RTA_NEXT(a, len))
		if (a->rta_type == IFLA_INFO_KIND)
			lm->veth = !strncmp(RTA_DATA(a), "veth", RTA_PAYLOAD(a));
}

static bool parse_link_msg(struct nlmsghdr *nh, struct link_msg *lm)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = IFLA_PAYLOAD(nh);

	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return false;
	*lm = (struct link_msg){ .ifindex = ifi->ifi_index,
				 .deleted = nh->nlmsg_type == RTM_DELLINK };
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		switch (a->rta_type) {
		case IFLA_IFNAME:
			lm->name = RTA_DATA(a);
			break;
		case IFLA_LINKINFO:
			parse_linkinfo(a, lm);
			break;
		case IFLA_LINK_NETNSID:
			lm->peer_elsewhere = true;
			break;
		}
	}
	return lm->name != NULL;
}

/*
 * Bring one link in line: XDP on it when it qualifies, off when not.
 * Returns whether XDP went on or off somewhere.
 */
static bool on_link(struct packet_layer *pl, const struct link_msg *lm)
{
	bool wanted = !lm->deleted && lm->veth && lm->peer_elsewhere &&
		      name_matches(pl, lm->name);
	struct packet_iface *ifc = find_iface(pl, lm->ifindex);

	if (!wanted) {
		if (!ifc || ifc->link_fd < 0)
			return false;
		if (lm->deleted)
			pr_info("XDP: %s (ifindex %d) is gone", ifc->name, ifc->ifindex);
		else
			pr_info("XDP off %s (ifindex %d): it no longer qualifies for --xdp-ifaces",
				lm->name, lm->ifindex);
		xdp_release(pl, ifc, true);
		return true;
	}
	ifc = iface_slot(pl, lm->ifindex);
	if (!ifc) {
		pr_warn("no memory to track %s: XDP not attached", lm->name);
		return false;
	}
	snprintf(ifc->name, sizeof(ifc->name), "%s", lm->name);
	if (ifc->link_fd >= 0)
		return false;
	xdp_attach(pl, ifc);
	return ifc->link_fd >= 0;
}

/* Act on a batch of netlink messages; returns how many changed XDP. */
static int handle_messages(struct packet_layer *pl, char *buf, int n, bool *done)
{
	struct link_msg lm;
	int changed = 0;

	for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, n);
	     nh = NLMSG_NEXT(nh, n)) {
		if (nh->nlmsg_type == NLMSG_DONE || nh->nlmsg_type == NLMSG_ERROR) {
			if (done)
				*done = true;
			break;
		}
		if ((nh->nlmsg_type == RTM_NEWLINK || nh->nlmsg_type == RTM_DELLINK) &&
		    parse_link_msg(nh, &lm))
			changed += on_link(pl, &lm);
	}
	return changed;
}

/* Every link there is now, through a socket of its own. */
static int dump_links(struct packet_layer *pl)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.ifi = { .ifi_family = AF_UNSPEC },
	};
	char *buf = malloc(NL_BUF_SIZE);
	bool done = false;
	int fd, n, err = 0;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 || !buf) {
		err = fd < 0 ? -errno : -ENOMEM;
		goto out;
	}
	if (send(fd, &req, sizeof(req), 0) < 0) {
		err = -errno;
		goto out;
	}
	while (!done) {
		n = recv(fd, buf, NL_BUF_SIZE, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		handle_messages(pl, buf, n, &done);
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return err;
}

/*
 * Pins of XDP links this agent did not take up: interfaces that went, or
 * no longer match, while no agent watched. Removing the pin detaches.
 */
static void remove_stale_xdp_pins(struct packet_layer *pl)
{
	const char *dir = pl->enf->pin_dir;
	size_t plen = strlen(XDP_PIN_PREFIX);
	struct packet_iface *ifc;
	struct dirent *de;
	char path[512];
	DIR *d;

	if (!dir[0] || !(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, XDP_PIN_PREFIX, plen))
			continue;
		ifc = find_iface(pl, atoi(de->d_name + plen));
		if (ifc && ifc->link_fd >= 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		pr_info("removing the stale XDP link pin %s", path);
		unlink(path);
	}
	closedir(d);
}

/* Subscribe first, then list: a link made in between is seen twice, not missed. */
static int open_link_monitor(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd, size = NL_RCVBUF;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	/* Room for a burst of pods starting at once; best effort. */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int packet_xdp_start(struct packet_layer *pl, const char *patterns)
{
	int err = split_patterns(pl, patterns);

	if (err)
		return err;
	pl->nl_fd = open_link_monitor();
	if (pl->nl_fd < 0) {
		err = pl->nl_fd;
		pr_err("cannot listen for link changes (rtnetlink): %s", strerror(-err));
		return err;
	}
	err = dump_links(pl);
	if (err) {
		pr_err("cannot list the network interfaces (rtnetlink): %s", strerror(-err));
		return err;
	}
	remove_stale_xdp_pins(pl);
	pr_info("XDP follows the host-side veths matching %s", patterns);
	return 0;
}

int packet_fd(const struct packet_layer *pl)
{
	return pl->nl_fd;
}

int packet_process(struct packet_layer *pl)
{
	int n, changed = 0;
	char *buf;

	if (pl->nl_fd < 0)
		return 0;
	buf = malloc(NL_BUF_SIZE);
	if (!buf)
		return 0;
	for (;;) {
		n = recv(pl->nl_fd, buf, NL_BUF_SIZE, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			/* The kernel dropped some: list every link again. */
			pr_warn("link notifications overflowed; listing the interfaces again");
			dump_links(pl);
			changed++;
			continue;
		}
		if (n <= 0)
			break;
		changed += handle_messages(pl, buf, n, NULL);
	}
	free(buf);
	return changed;
}

const char *packet_ifname(void *ctx, __u32 ifindex)
{
	struct packet_iface *ifc = find_iface(ctx, ifindex);

	return ifc ? ifc->name : NULL;
}

json_t *packet_xdp_json(const struct packet_layer *pl)
{
	json_t *list = json_array();

	for (size_t i = 0; list && i < pl->nr_ifaces; i++) {
		const struct packet_iface *ifc = &pl->ifaces[i];

		if (ifc->link_fd < 0)
			continue;
		json_array_append_new(list, json_pack("{s:s, s:i, s:s}", "interface",
						      ifc->name, "ifindex", ifc->ifindex,
						      "mode", ifc->native ? "native" : "generic"));
	}
	return list;
}

void packet_close(struct packet_layer *pl)
{
	for (size_t i = 0; i < pl->nr_ifaces; i++)
		xdp_release(pl, &pl->ifaces[i], false);
	free(pl->ifaces);
	for (size_t i = 0; i < pl->nr_patterns; i++)
		free(pl->patterns[i]);
	if (pl->nl_fd >= 0)
		close(pl->nl_fd);
	bpf_link__destroy(pl->skb_link);
	packet_bpf__destroy(pl->skel);
	memset(pl, 0, sizeof(*pl));
	pl->nl_fd = -1;
}
