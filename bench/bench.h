/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Copyright (c) 2026 The odsbpf authors */
/* What the benchmark drivers share: a clock, the agent's event settings. */
#ifndef ODSBPF_BENCH_H
#define ODSBPF_BENCH_H

#include <time.h>
#include <bpf/libbpf.h>

#include "enforcer.h"
#include "pipeline.h"
#include "sock.skel.h"

static inline __u64 bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/*
 * The agent's default event rate limit (PIPELINE_RATE a second, bursts of
 * PIPELINE_BURST), so that a stream of denials costs in the benchmark what
 * it costs under the agent: past the burst, a bucket update and a count,
 * not a ring-buffer record.
 */
static inline int bench_agent_rate_limit(struct enforcer *enf)
{
	__u64 interval = 1000000000ull / PIPELINE_RATE;
	struct odsbpf_settings s = {
		.rl_interval_ns = interval,
		.rl_tolerance_ns = interval * (PIPELINE_BURST - 1),
	};
	__u32 zero = 0;

	return bpf_map__update_elem(enf->skel->maps.odsbpf_settings, &zero,
				    sizeof(zero), &s, sizeof(s), BPF_ANY);
}

#endif
