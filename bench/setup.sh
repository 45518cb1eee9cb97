#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# The Debian packages of the baselines the benchmarks measure odsbpf
# against, installed when missing: iptables (both backends), nftables,
# xdp-tools (xdp-filter), and the tools the scripts drive.
set -eu

exec "$(dirname "$0")/../scripts/install-deps.sh" iptables nftables xdp-tools bpftool
