#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# `make bench`: every benchmark, one table. Installs the baselines' Debian
# packages when missing, generates the policies (10, 1k, 10k and 100k
# CIDRs), runs each benchmark script in namespaces and cgroups of its
# own, then bench/report.py prints the table, writes bench/results.json
# and the plot, and puts both in docs/benchmarks.md.
#
# BENCH_QUICK=1 runs fewer repeats, a smoke run whose numbers go only to
# the screen and build/bench-quick.json. BENCH_SIZES overrides the policy
# sizes.
cd "$(dirname "$0")/.." || exit 1

SIZES=${BENCH_SIZES:-"10 1000 10000 100000"}
if [ -n "${BENCH_QUICK:-}" ]; then
	export BENCH_REPEATS=3 BENCH_LOAD_REPEATS=1 BENCH_SWAPS=3 BENCH_RELOADS=2
	export BENCH_EVENT_ROUNDS=1 BENCH_FLOOD=300000
fi

TMP="" SAMPLER=""
cleanup() {
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null && wait "$SAMPLER" 2>/dev/null
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

why_not() {
	[ "$(id -u)" = 0 ] || { echo "not root"; return; }
	grep -q ' - cgroup2 ' /proc/self/mountinfo || { echo "no cgroup2 hierarchy mounted"; return; }
	[ -x build/odsbpf ] || { echo "build/odsbpf not built (run make)"; return; }
	[ -r /sys/kernel/btf/vmlinux ] || { echo "no kernel BTF"; return; }
}

machine() {
	python3 - "$@" <<'PY'
import json, os, platform, subprocess, sys, time


def first(path, key):
    for line in open(path):
        if line.startswith(key):
            return line.split(":", 1)[1].strip()


def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()


release = dict(l.rstrip().split("=", 1) for l in open("/etc/os-release") if "=" in l)
mem_kib = int(first("/proc/meminfo", "MemTotal").split()[0])
print(json.dumps({
    "bench": "machine", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "kernel": platform.release(), "cpu": first("/proc/cpuinfo", "model name"),
    "cpus": os.cpu_count(), "mem_gib": round(mem_kib / 2**20, 1),
    "os": release["PRETTY_NAME"].strip('"'),
    "commit": git("rev-parse", "--short", "HEAD") +
              ("+changes" if git("status", "--porcelain") else ""),
    "sizes": [int(s) for s in sys.argv[1:]]}))
PY
}

# Load average every 5 s while the benchmarks run: how shared the machine was.
sample_load() {
	while :; do
		printf '{"bench":"load","t":%d,"loadavg1":%s}\n' "$(date +%s)" \
			"$(cut -d' ' -f1 /proc/loadavg)" >>"$TMP/load.jsonl"
		sleep 5
	done
}

# step NAME CMD...: run one benchmark script; a failure is noted, not fatal.
step() {
	local name=$1

	shift
	echo "bench: == $name" >&2
	if ! "$@" >>"$TMP/raw.jsonl" 2>>"$TMP/$name.err"; then
		tail -c 400 "$TMP/$name.err" | python3 -c 'import json, sys
print(json.dumps({"bench": "failed", "step": sys.argv[1], "why": sys.stdin.read()}))' \
			"$name" >>"$TMP/raw.jsonl"
		echo "bench: $name failed: $(tail -c 400 "$TMP/$name.err")" >&2
		FAILED=1
	fi
	grep '^bench:' "$TMP/$name.err" | tail -n 3 >&2
}

main() {
	local why n

	bench/setup.sh || exit 1
	why=$(why_not)
	if [ -n "$why" ]; then
		echo "bench: cannot run: $why" >&2
		exit 1
	fi
	TMP=$(mktemp -d /tmp/odsbpf-bench-run.XXXXXX)
	FAILED=0
	# shellcheck disable=SC2086
	machine $SIZES >"$TMP/raw.jsonl"
	sample_load &
	SAMPLER=$!

	echo "bench: generating policies of $SIZES CIDRs" >&2
	for n in $SIZES; do
		python3 bench/gen_policy.py "$n" "$TMP/policies/$n" &&
			python3 bench/gen_policy.py "$n" "$TMP/policies/hosts-$n" --hosts || exit 1
	done
	# The smallest policy also feeds the events benchmark.
	[ -d "$TMP/policies/10" ] || python3 bench/gen_policy.py 10 "$TMP/policies/10"

	# shellcheck disable=SC2086
	{
		step connect bench/connect.sh "$TMP/policies" $SIZES
		step swap bench/swap.sh "$TMP/policies" $SIZES
		step agent bench/agent.sh "$TMP/policies" $SIZES
		step events bench/events.sh "$TMP/policies"
		if [ -f build/packet.skel.h ] && [ -x build/bench_xdp ]; then
			step xdp bench/xdp.sh "$TMP/policies" $SIZES
		else
			printf '{"bench":"failed","step":"xdp","why":"%s"}\n' \
				"the packet programs are not built (build/packet.skel.h)" >>"$TMP/raw.jsonl"
		fi
	}
	kill "$SAMPLER" 2>/dev/null && wait "$SAMPLER" 2>/dev/null
	SAMPLER=""
	cat "$TMP/load.jsonl" >>"$TMP/raw.jsonl" 2>/dev/null

	if [ -n "${BENCH_QUICK:-}" ]; then
		python3 bench/report.py "$TMP/raw.jsonl" --quick --json build/bench-quick.json \
			--svg build/bench-quick.svg --md /dev/null || exit 1
	else
		python3 bench/report.py "$TMP/raw.jsonl" --json bench/results.json \
			--svg docs/benchmarks-growth.svg --md docs/benchmarks.md || exit 1
	fi
	[ "$FAILED" = 0 ]
}

main
