# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# The tools tests/deploy.sh and tests/e2e_http.sh check with, set up on
# first use under build/tools from Debian's and npm's registries. Nothing
# is installed system-wide but Node.js when it is missing:
#
#   promtool   extracted from Debian's prometheus package (installing it
#              would start a Prometheus server)
#   kubectl    for `kubectl kustomize`: the machine's, else extracted from
#              Debian's kubernetes-client (kubectl 1.20, kustomize 2.0.3)
#   k8s        the manifest validators of tests/k8s/package-lock.json
#
# Each function prints the tool's path, or fails saying why on stderr.

# shellcheck shell=bash
TOOLS="$ROOT/build/tools"

apt_lists_ready() {
	ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq >/dev/null 2>&1
}

# deb_file PACKAGE PATH: one file of a Debian package, unpacked under
# build/tools/PACKAGE.
deb_file() {
	local pkg=$1 path=$2 dir="$TOOLS/$1"

	if [ ! -x "$dir$path" ]; then
		mkdir -p "$dir" && apt_lists_ready &&
			(cd "$dir" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
			{ echo "cannot download Debian's $pkg" >&2; return 1; }
		dpkg-deb --fsys-tarfile "$dir"/"$pkg"_*.deb | tar -x -C "$dir" ".$path" ||
			{ echo "no $path in Debian's $pkg" >&2; return 1; }
		rm -f "$dir"/"$pkg"_*.deb
	fi
	echo "$dir$path"
}

tool_promtool() {
	command -v promtool || deb_file prometheus /usr/bin/promtool
}

tool_kubectl() {
	if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1; then
		command -v kubectl
	else
		deb_file kubernetes-client /usr/bin/kubectl
	fi
}

# The node_modules directory of tests/k8s, installed with `npm ci`.
tool_k8s_validators() {
	local dir="$TOOLS/k8s" src="$ROOT/tests/k8s"

	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		apt_lists_ready && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null 2>&1 ||
			{ echo "cannot install Debian's nodejs and npm" >&2; return 1; }
	fi
	if ! cmp -s "$src/package-lock.json" "$dir/package-lock.json" ||
	   [ ! -d "$dir/node_modules" ]; then
		rm -rf "$dir" && mkdir -p "$dir" &&
			cp "$src/package.json" "$src/package-lock.json" "$dir/" &&
			(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
			{ echo "npm ci of tests/k8s failed" >&2; rm -rf "$dir"; return 1; }
	fi
	echo "$dir/node_modules"
}

# A TCP port free on 127.0.0.1 now, for a server the test starts.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
