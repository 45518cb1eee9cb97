// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Copyright (c) 2026 The odsbpf authors */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>

#include "agent_state.h"
#include "log.h"

static json_t *time_string(time_t t)
{
	char buf[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *status_json(const struct agent_status *s)
{
	json_t *policy = json_pack("{s:i, s:s, s:s, s:o, s:i, s:i, s:i, s:s, s:b}",
				   "id", s->policy_id, "hash", s->policy_hash,
				   "source", s->policy_source,
				   "loaded_at", time_string(s->loaded_at),
				   "rules", (int)s->rules, "prefixes_ipv4", (int)s->prefixes4,
				   "prefixes_ipv6", (int)s->prefixes6,
				   "mode", s->audit_mode ? "audit" : "enforce",
				   "signed", s->signed_policy);

	json_t *j = json_pack("{s:i, s:o, s:s, s:s, s:o, s:O}", "pid", s->pid,
			      "started_at", time_string(s->started_at), "cgroup", s->cgroup,
			      "pin_dir", s->pin_dir, "policy", policy, "kernel_features",
			      s->features ? s->features : json_null());

	/* The interfaces XDP is on and the mode the driver took. */
	if (j && s->xdp)
		json_object_set(j, "xdp", s->xdp);
	return j;
}

void agent_status_write(const char *dir, const struct agent_status *s)
{
	char path[512], tmp[520];
	json_t *j = status_json(s);

	if (mkdir(dir, 0755) && errno != EEXIST)
		goto fail;
	snprintf(path, sizeof(path), "%s/status.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!j || json_dump_file(j, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ||
	    rename(tmp, path))
		goto fail;
	json_decref(j);
	return;
fail:
	pr_warn("cannot write the agent state in %s: %s", dir, strerror(errno));
	json_decref(j);
}

void agent_status_remove(const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/status.json", dir);
	unlink(path);
}
