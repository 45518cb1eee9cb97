// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include "cgroup.h"
#include "log.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape_octal(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*out++ = (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

int cgroup2_mount(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], mnt[4096], fstype[64];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");

		/* id parent major:minor root mount-point ... - fstype ... */
		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			continue;
		if (sscanf(sep + 3, "%63s", fstype) != 1 || strcmp(fstype, "cgroup2"))
			continue;
		unescape_octal(mnt);
		if (strlen(mnt) >= len) {
			err = -ENAMETOOLONG;
			break;
		}
		strcpy(buf, mnt);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

bool cgroup_is_root(const char *path)
{
	char parent[4096];
	struct statfs sfs;

	if (statfs(path, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC)
		return false;
	/* The root is the one whose parent is not on the same cgroup2 fs. */
	snprintf(parent, sizeof(parent), "%s/..", path);
	return statfs(parent, &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC;
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	int fd, err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0)
		err = -errno;
	close(fd);
	return err;
}

int cgroup_enter(const char *path, pid_t pid)
{
	char text[32];

	snprintf(text, sizeof(text), "%d", (int)pid);
	return write_file(path, "cgroup.procs", text);
}

bool cgroup_populated(const char *path)
{
	char file[4096], line[128];
	bool populated = false;
	FILE *f;

	snprintf(file, sizeof(file), "%s/cgroup.events", path);
	f = fopen(file, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strcmp(line, "populated 1\n"))
			populated = true;
	fclose(f);
	return populated;
}

/* For kernels before 5.14, which lack cgroup.kill. */
static void kill_listed(const char *path)
{
	char file[4096];
	FILE *f;
	int pid;

	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	f = fopen(file, "re");
	if (!f)
		return;
	while (fscanf(f, "%d", &pid) == 1)
		kill(pid, SIGKILL);
	fclose(f);
}

int cgroup_destroy(const char *path)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };

	if (cgroup_populated(path)) {
		pr_info("ending what the command left running in %s", path);
		if (write_file(path, "cgroup.kill", "1"))
			kill_listed(path);
	}
	for (int i = 0; i < 500 && cgroup_populated(path); i++)
		nanosleep(&pause, NULL);
	if (rmdir(path)) {
		int err = -errno;

		pr_warn("cannot remove cgroup %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}
