#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# The Debian packages of the baselines the benchmarks measure odsbpf
# against, installed when missing: iptables (both backends), nftables,
# xdp-tools (xdp-filter), and the tools the scripts drive.
set -eu

PACKAGES="iptables nftables xdp-tools iproute2 util-linux python3 bpftool"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "bench/setup: missing Debian packages:$missing; run as root or install them" >&2
	exit 1
fi
echo "bench/setup: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
