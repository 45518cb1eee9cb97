#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# Install the Debian packages odsbpf builds and tests with, when missing,
# and any packages named as arguments (bench/setup.sh names its own).
# Called by `make`, so `make run` and `make test` work on a fresh machine.
set -eu

PACKAGES="make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
libjansson-dev libssl-dev libmicrohttpd-dev pkg-config iproute2 util-linux
python3 clang-format curl procps $*"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing; run as root or install them" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
