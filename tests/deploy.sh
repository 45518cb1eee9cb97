#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# deploy/daemonset: the manifests as kustomize renders them, validated
# against the Kubernetes schemas (tests/k8s) and read for what the agent
# needs; the image's runtime libraries against `ldd build/odsbpf` and its
# build steps against the README; and the agent run the way the DaemonSet
# runs it, on a test cgroup: its args, its capabilities and nothing more,
# its volumes, and a read-only root. Tools come from tests/tools.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tools.sh"

DS="$ROOT/deploy/daemonset"
WORK=$(mktemp -d /tmp/odsbpf-deploy.XXXXXX)
trap 'sandbox_teardown; rm -rf "$WORK"' EXIT
RENDERED="$WORK/rendered.yaml"

manifests() {
	node "$ROOT/tests/k8s/manifests.mjs" "$MODULES" "$@"
}

test_manifests_parse() {
	local f why=""

	for f in "$DS"/*.yaml; do
		manifests "$f" json >/dev/null 2>"$WORK/parse.err" ||
			why="$why $(basename "$f"): $(head -c 200 "$WORK/parse.err")"
	done
	[ -z "$why" ] && pass manifests_parse || fail manifests_parse "$why"
}

test_kustomize_build() {
	if "$KUBECTL" kustomize "$DS" >"$RENDERED" 2>"$WORK/kustomize.err" &&
	   manifests "$RENDERED" json >"$WORK/rendered.json"; then
		pass kustomize_build_renders_the_manifests
		return 0
	fi
	fail kustomize_build_renders_the_manifests "$(head -c 300 "$WORK/kustomize.err")"
	return 1
}

test_validators() {
	local why

	why=$(manifests "$RENDERED" schema) && pass manifests_match_the_kubernetes_schemas ||
		fail manifests_match_the_kubernetes_schemas "$why"
	why=$(manifests "$RENDERED" strict) && pass manifests_have_no_unknown_fields ||
		fail manifests_have_no_unknown_fields "$why"
}

test_daemonset_checks() {
	local name why

	while IFS=$'\t' read -r name why; do
		[ -z "$why" ] && pass "$name" || fail "$name" "$why"
	done < <(python3 "$ROOT/tests/k8s/daemonset_checks.py" "$WORK/rendered.json" \
		"$ROOT/policies/default.json")
}

# ---- the image ----

runtime_packages() {
	sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' "$DS/Dockerfile" | tr ' ' '\n'
}

# The Debian package of every library ldd lists for build/odsbpf.
linked_packages() {
	ldd "$ODSBPF" | awk '/=>/ { print $3 }' | while read -r lib; do
		dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"
	done | cut -d: -f1 | sort -u
}

test_runtime_libraries() {
	local linked runtime closure missing extra

	linked=$(linked_packages)
	runtime=$(runtime_packages)
	apt_lists_ready
	# shellcheck disable=SC2086
	closure=$(apt-cache depends --recurse --no-recommends --no-suggests \
		--no-conflicts --no-breaks --no-replaces --no-enhances $runtime |
		grep -v '^ ' | sort -u)
	missing=$(comm -23 <(echo "$linked") <(echo "$closure"))
	extra=$(comm -13 <(echo "$linked") <(echo "$runtime" | sort -u))
	if [ -z "$runtime" ] || [ -z "$linked" ]; then
		fail runtime_image_installs_every_linked_library "no RUNTIME_PACKAGES in the Dockerfile, or no ldd output"
	elif [ -n "$missing" ]; then
		fail runtime_image_installs_every_linked_library "$(echo $missing) not installed by: $(echo $runtime)"
	else
		pass runtime_image_installs_every_linked_library
	fi
	[ -z "$extra" ] && pass runtime_image_installs_only_linked_libraries ||
		fail runtime_image_installs_only_linked_libraries "$(echo $extra) provide no library build/odsbpf links"
}

readme_deploy_section() {
	awk '/^## / { on = ($0 == "## Deploy on Kubernetes") } on' "$ROOT/README.md"
}

# The build stage's RUN lines: each is a command the README gives, and
# run in a clean copy of the tree they build an agent that runs.
test_build_steps() {
	local steps step src="$WORK/src" why=""

	steps=$(awk '/^FROM .* AS build/ { b = 1; next } /^FROM/ { b = 0 }
		     b && /^RUN / { sub(/^RUN /, ""); print }' "$DS/Dockerfile")
	while read -r step; do
		readme_deploy_section | grep -qE "^$step( +#.*)?$" ||
			why="$why \"$step\" is not a command of the README's \"Deploy on Kubernetes\";"
	done <<<"$steps"
	[ -n "$steps" ] || why="no RUN step in the build stage"
	mkdir -p "$src"
	# What a build context holds: the tree as it is, less what git ignores.
	(cd "$ROOT" && git ls-files -z -co --exclude-standard | grep -zv '^build/' |
		tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -x -C "$src"
	while [ -z "$why" ] && read -r step; do
		(cd "$src" && sh -c "$step") >"$WORK/build.log" 2>&1 ||
			why="\"$step\" failed: $(tail -c 300 "$WORK/build.log")"
	done <<<"$steps"
	[ -z "$why" ] && ! "$src/build/odsbpf" agent --help >/dev/null 2>&1 &&
		why="the built build/odsbpf does not run"
	grep -q '^COPY --from=build /src/build/odsbpf /usr/local/bin/odsbpf$' "$DS/Dockerfile" &&
		grep -q '^ENTRYPOINT \["/usr/local/bin/odsbpf"\]$' "$DS/Dockerfile" ||
		why="$why the runtime stage does not run the built build/odsbpf;"
	[ -z "$why" ] && pass dockerfile_build_steps_are_the_readme_commands ||
		fail dockerfile_build_steps_are_the_readme_commands "$why"
}

# ---- the agent as the DaemonSet runs it ----

# pod_start CAPS...: the agent with the DaemonSet's args and volumes, in a
# mount namespace of its own whose root is read-only, the volumes bind
# mounts of test directories (read-only where the manifest says), with
# only CAPS in its bounding set and no_new_privs, as allowPrivilegeEscalation:
# false sets. Serves on 127.0.0.1:$PORT; sets POD_PID.
pod_start() {
	local pod="$SANDBOX_TMP/pod" caps="-all" kind path source mode args=() mounts=""

	for c in "$@"; do caps="$caps,+${c,,}"; done
	while read -r kind path source mode; do
		case "$kind" in
		mount)
			case "$source" in
			hostPath:/sys/fs/bpf) source="$SANDBOX_TMP/bpffs" ;;
			hostPath:/sys/fs/cgroup) source="$(cgroup2_root)" ;;
			hostPath:/var/log/pods) source="$SANDBOX_TMP/pods" ;;
			hostPath:/var/log/odsbpf) source="$SANDBOX_TMP/audit" ;;
			configMap:*) source="$SANDBOX_TMP/configmap" ;;
			emptyDir:) source="$SANDBOX_TMP/state" ;;
			*) echo "no test source for $source" >&2; return 1 ;;
			esac
			mounts="$mounts $source $pod$path $mode" ;;
		arg)
			case "$path" in
			--listen=*) path="--listen=127.0.0.1:$PORT" ;;
			--*=/*) path="${path%%=*}=$pod${path#*=}" ;;
			esac
			args+=("$path") ;;
		esac
	done < <(python3 "$ROOT/tests/k8s/pod_plan.py" "$WORK/rendered.json" \
		POD_IP=127.0.0.1 NODE_NAME=test-node \
		PODS_CGROUP="${CGROUP#"$(cgroup2_root)"/}")

	unshare --mount --propagation private -- sh -ec '
		caps=$1 mounts=$2; shift 2
		echo "$mounts" | xargs -n 3 | while read -r src dst mode; do
			mkdir -p "$dst"
			mount --bind "$src" "$dst"
			[ "$mode" = rw ] || mount -o remount,bind,ro "$dst"
		done
		mount -o remount,bind,ro /
		exec setpriv --bounding-set "$caps" --inh-caps=-all --no-new-privs -- "$@"
	' sh "$caps" "$mounts" "$ODSBPF" "${args[@]}" >>"$SANDBOX_TMP/pod.out" 2>>"$SANDBOX_TMP/pod.err" &
	POD_PID=$!	# the agent's, after the execs
	SANDBOX_PIDS="$SANDBOX_PIDS $POD_PID"
}

pod_stop() {
	kill -TERM "$POD_PID" 2>/dev/null
	wait "$POD_PID" 2>/dev/null
}

# Wait up to 10 s for the pod's agent to be ready, or to exit.
pod_ready() {
	for _ in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" = 200 ] &&
			return 0
		kill -0 "$POD_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

metric() {
	curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

workload() {
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CGROUP" \
		nsenter --net="/run/netns/$SANDBOX_NS" "$PROBE" "$@" 2>&1 |
		sed -n 's/^result=//p'
}

test_pod_enforces() {
	local got

	pod_start BPF NET_ADMIN PERFMON SYS_ADMIN
	if ! pod_ready; then
		fail daemonset_agent_enforces_in_its_security_context "not ready: $(tail -c 300 "$SANDBOX_TMP/pod.err")"
		pod_stop
		return
	fi
	got=$(workload connect tcp 169.254.169.254 80)
	if [ "$got" != EPERM ]; then
		fail daemonset_agent_enforces_in_its_security_context "metadata connect got '$got'"
	elif ! wait_for_line "$SANDBOX_TMP/audit/audit.log" '"rule":"deny-cloud-metadata"'; then
		fail daemonset_agent_enforces_in_its_security_context "no denial in the audit log volume"
	else
		pass daemonset_agent_enforces_in_its_security_context
	fi
	pod_stop
}

# CAP_SYS_ADMIN also passes the kernel's checks for BPF, NET_ADMIN and
# PERFMON, so each of those is shown needed beside the other two alone:
# without it the kernel refuses to load the programs. SYS_ADMIN is shown
# needed by a restart: without it the new agent cannot adopt the pinned
# policy (BPF_MAP_GET_FD_BY_ID), and its generation starts again at 1.
test_each_capability_is_needed() {
	local three="BPF NET_ADMIN PERFMON" cap gen

	for cap in $three; do
		# shellcheck disable=SC2046
		pod_start $(tr ' ' '\n' <<<"$three" | grep -vx "$cap")
		if pod_ready; then
			fail "daemonset_needs_capability_$cap" "ready without it (and without SYS_ADMIN)"
		else
			pass "daemonset_needs_capability_$cap"
		fi
		pod_stop
	done

	# shellcheck disable=SC2086
	pod_start $three SYS_ADMIN
	pod_ready && gen=$(metric odsbpf_policy_generation)
	pod_stop
	# shellcheck disable=SC2086
	pod_start $three
	if [ -z "$gen" ]; then
		fail daemonset_needs_capability_SYS_ADMIN "not ready with all four: $(tail -c 200 "$SANDBOX_TMP/pod.err")"
	elif ! pod_ready; then
		fail daemonset_needs_capability_SYS_ADMIN "not ready: $(tail -c 200 "$SANDBOX_TMP/pod.err")"
	elif [ "$(metric odsbpf_policy_generation)" = $((gen + 1)) ]; then
		fail daemonset_needs_capability_SYS_ADMIN "adopted the pinned policy without it"
	else
		pass daemonset_needs_capability_SYS_ADMIN
	fi
	pod_stop
}

test_pod() {
	local why

	why=$(cannot_enforce_reason)
	if [ -n "$why" ]; then
		skip daemonset_agent_runs "$why"
		return
	fi
	sandbox_up || { fail daemonset_pod_setup "cannot make the test namespace"; return; }
	trap 'sandbox_teardown; rm -rf "$WORK"' EXIT	# sandbox_up set its own
	sandbox_addr 169.254.169.254
	CGROUP=$(sandbox_cgroup pod) || { fail daemonset_pod_setup "cannot make a cgroup"; return; }
	mkdir -p "$SANDBOX_TMP"/{bpffs,pods,audit,configmap,state}
	mount -t bpf bpf "$SANDBOX_TMP/bpffs"
	python3 -c 'import json, sys
for d in json.load(open(sys.argv[1])):
    if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("odsbpf-policy"):
        for k, v in d["data"].items():
            open(sys.argv[2] + "/" + k, "w").write(v)' "$WORK/rendered.json" "$SANDBOX_TMP/configmap"
	PORT=$(free_port)

	test_pod_enforces
	test_each_capability_is_needed
	"$ODSBPF" agent --uninstall --pin-root "$SANDBOX_TMP/bpffs/odsbpf" \
		--state-dir "$SANDBOX_TMP/state" 2>/dev/null
}

main() {
	KUBECTL=$(tool_kubectl 2>"$WORK/tools.err") &&
		MODULES=$(tool_k8s_validators 2>>"$WORK/tools.err") || {
		fail deploy_tools "$(cat "$WORK/tools.err")"
		return
	}
	test_manifests_parse
	if test_kustomize_build; then
		test_validators
		test_daemonset_checks
		test_pod
	fi
	test_runtime_libraries
	test_build_steps
}

main
