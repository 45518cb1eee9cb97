// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
/*
 * Unit tests of pod identity: kubelet cgroup names of both drivers, every
 * runtime and QoS class; pod log directory names; service-account tokens;
 * and the scan and cache on a fake node laid out in a temp directory
 * (a directory's inode number stands for a cgroup id, as in cgroupfs).
 * Prints PASS/FAIL lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podid.h"

#define UID "3f1e2d4c-1111-4a2b-9c3d-000000000001"
#define UID_SD "3f1e2d4c_1111_4a2b_9c3d_000000000001"
#define CID "4b5e57f6eb2f42b9039b3d1e13929295f231749c510cbe341cd68036d9af97e2"

static int failures;

static void check(const char *name, bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
		return;
	}
	failures++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* name | cgroup path | pod uid ("" none) | container id | runtime | pod level */
static const struct {
	const char *name, *path, *uid, *cid, *runtime;
	bool pod_level;
} paths[] = {
	{ "systemd_containerd_burstable",
	  "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_SD ".slice/cri-containerd-" CID ".scope",
	  UID, CID, "containerd", false },
	{ "systemd_crio_besteffort",
	  "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UID_SD ".slice/crio-" CID ".scope",
	  UID, CID, "cri-o", false },
	{ "systemd_docker_guaranteed",
	  "kubepods.slice/kubepods-pod" UID_SD ".slice/docker-" CID ".scope",
	  UID, CID, "docker", false },
	{ "systemd_pod_level", "kubepods.slice/kubepods-pod" UID_SD ".slice", UID, "", NULL, true },
	{ "systemd_crio_conmon_is_not_a_container",
	  "kubepods.slice/kubepods-pod" UID_SD ".slice/crio-conmon-" CID ".scope", UID, "", NULL, false },
	{ "cgroupfs_containerd_burstable", "kubepods/burstable/pod" UID "/" CID, UID, CID, NULL, false },
	{ "cgroupfs_crio_besteffort", "kubepods/besteffort/pod" UID "/crio-" CID, UID, CID, "cri-o", false },
	{ "cgroupfs_guaranteed", "kubepods/pod" UID "/" CID, UID, CID, NULL, false },
	{ "nested_below_a_container", "kubepods/pod" UID "/" CID "/inner/deeper", UID, CID, NULL, false },
	{ "static_pod_uid", "kubepods/pod0123456789abcdef0123456789abcdef/" CID,
	  "0123456789abcdef0123456789abcdef", CID, NULL, false },
	{ "under_a_prefix", "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
	  "kubelet-kubepods-besteffort-pod" UID_SD ".slice", UID, "", NULL, true },
	{ "not_a_pod", "system.slice/containerd.service", "", "", NULL, false },
	{ "podman_is_not_a_pod", "machine.slice/podman-1234.scope", "", "", NULL, false },
	{ "bad_uid", "kubepods/podXYZ/" CID, "", "", NULL, false },
	{ "short_container_id", "kubepods/pod" UID "/cri-containerd-abc.scope", UID, "", NULL, false },
};

static void test_cgroup_paths(void)
{
	char name[128];

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct podid_path pp;
		bool in_pod = podid_parse_cgroup_path(paths[i].path, &pp);

		snprintf(name, sizeof(name), "test_cgroup_path_%s", paths[i].name);
		check(name, in_pod == !!*paths[i].uid && !strcmp(pp.pod_uid, paths[i].uid) &&
		      !strcmp(pp.container_id, paths[i].cid) &&
		      (pp.runtime ? paths[i].runtime && !strcmp(pp.runtime, paths[i].runtime)
				  : !paths[i].runtime) &&
		      pp.pod_level == paths[i].pod_level,
		      "got pod \"%s\" container \"%s\" runtime %s pod_level %d",
		      pp.pod_uid, pp.container_id, pp.runtime ? pp.runtime : "-", pp.pod_level);
	}
}

static void test_log_dirs(void)
{
	char ns[64], pod[64], uid[PODID_UID_LEN];
	bool ok = podid_parse_log_dir("shop_web-0.canary_" UID, ns, sizeof(ns), pod,
				      sizeof(pod), uid);

	check("test_log_dir_names_namespace_pod_and_uid",
	      ok && !strcmp(ns, "shop") && !strcmp(pod, "web-0.canary") && !strcmp(uid, UID),
	      "got %d %s %s %s", ok, ns, pod, uid);
	check("test_log_dir_without_a_pod_name_is_refused",
	      !podid_parse_log_dir("shop_" UID, ns, sizeof(ns), pod, sizeof(pod), uid) &&
	      !podid_parse_log_dir("shop__" UID, ns, sizeof(ns), pod, sizeof(pod), uid) &&
	      !podid_parse_log_dir("_web_" UID, ns, sizeof(ns), pod, sizeof(pod), uid),
	      "accepted");
	check("test_log_dir_with_a_bad_uid_is_refused",
	      !podid_parse_log_dir("shop_web_not-a-uid", ns, sizeof(ns), pod, sizeof(pod), uid),
	      "accepted");
}

static void test_tokens(void)
{
	/* {"sub":"system:serviceaccount:shop:web"} and {"sub":"alice"} */
	static const char sa[] =
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2hvcDp3ZWIifQ.c2ln";
	static const char user[] = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";
	char out[128] = "";
	int err = podid_token_subject(sa, strlen(sa), out, sizeof(out));

	check("test_token_names_its_service_account",
	      !err && !strcmp(out, "system:serviceaccount:shop:web"), "got %d %s", err, out);
	check("test_token_of_a_user_names_no_service_account",
	      podid_token_subject(user, strlen(user), out, sizeof(out)) == -EINVAL, "accepted");
	check("test_garbage_token_is_refused",
	      podid_token_subject("no dots", 7, out, sizeof(out)) == -EINVAL &&
	      podid_token_subject("a.!!!.b", 7, out, sizeof(out)) == -EINVAL, "accepted");
}

static char root[64];

static char *at(const char *rel)
{
	static char path[1024];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return path;
}

static void mkdirs(const char *rel)
{
	char path[1024], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static __u64 id_of(const char *rel)
{
	struct stat st;

	return stat(at(rel), &st) ? 0 : st.st_ino;
}

#define CT "cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_SD \
	".slice/cri-containerd-" CID ".scope"
#define CT2 "cgroup/kubepods/besteffort/pod3f1e2d4c-2222-4a2b-9c3d-000000000002/" CID

static void test_scan_of_a_fake_node(void)
{
	struct podid_opts o = { .cgroup_root = at("cgroup"), .pods_log_dir = NULL };
	char logs[1024];
	struct podid p;
	struct podid_info id;
	bool found;
	unsigned long gen;

	snprintf(logs, sizeof(logs), "%s/pods", root);
	o.pods_log_dir = logs;
	mkdirs(CT);
	mkdirs("cgroup/system.slice");
	mkdirs("pods/shop_web-0_" UID);
	podid_init(&p, &o);
	o.cgroup_root = NULL;

	found = podid_lookup(&p, id_of(CT), 0, &id);
	check("test_scan_names_namespace_pod_and_container",
	      found && id.namespace && !strcmp(id.namespace, "shop") && !strcmp(id.pod, "web-0") &&
	      !strcmp(id.container_id, CID) && !strcmp(id.runtime, "containerd") &&
	      id.pod_cgroup_id == id_of("cgroup/kubepods.slice/kubepods-burstable.slice/"
					"kubepods-burstable-pod" UID_SD ".slice"),
	      "found %d ns %s", found, found && id.namespace ? id.namespace : "-");
	check("test_scan_knows_a_cgroup_is_no_pod",
	      !podid_lookup(&p, id_of("cgroup/system.slice"), 0, &id), "called it a pod");

	/* A pod that starts after the scan: a miss rescans (once a second). */
	mkdirs(CT2);
	gen = p.generation;
	p.scanned_ns = 0;
	found = podid_lookup(&p, id_of(CT2), 0, &id);
	check("test_a_miss_rescans_and_finds_a_new_pod",
	      found && !strcmp(id.pod_uid, "3f1e2d4c-2222-4a2b-9c3d-000000000002") &&
	      !id.namespace && p.generation != gen,
	      "found %d namespace %s", found, found && id.namespace ? id.namespace : "-");

	/* Its log directory comes next: the next miss names it. */
	mkdirs("pods/kube-system_coredns-0_3f1e2d4c-2222-4a2b-9c3d-000000000002");
	gen = p.generation;
	p.scanned_ns = 0;
	found = podid_lookup(&p, id_of(CT2), 0, &id);
	check("test_a_pod_is_named_once_its_log_dir_appears",
	      found && id.namespace && !strcmp(id.namespace, "kube-system") && p.generation != gen,
	      "found %d namespace %s", found, found && id.namespace ? id.namespace : "-");

	gen = p.generation;
	podid_scan(&p);
	check("test_an_unchanged_node_keeps_its_generation", p.generation == gen,
	      "generation moved");
	podid_free(&p);
}

static void remove_tree(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", path);
}

int main(void)
{
	test_cgroup_paths();
	test_log_dirs();
	test_tokens();
	snprintf(root, sizeof(root), "/tmp/odsbpf-test-podid.XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 2;
	}
	test_scan_of_a_fake_node();
	remove_tree(root);
	return failures ? 1 : 0;
}
