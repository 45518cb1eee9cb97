#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# The one test runner: every suite prints PASS/FAIL/SKIP lines; this
# counts them, ends with "N passed, N failed, N skipped" and exits 1 when
# anything failed. A suite that dies without a result line fails too.
cd "$(dirname "$0")/.." || exit 1

SUITES="build/test_policy tests/e2e_socket.sh tests/e2e_agent.sh
	build/test_audit_log build/test_podid tests/e2e_pods.sh tests/e2e_flood.sh
	tests/e2e_audit.sh build/test_packet tests/e2e_packet.sh
	tests/e2e_http.sh tests/deploy.sh"

passed=0 failed=0 skipped=0
for suite in $SUITES; do
	echo "== $suite"
	out=$("./$suite" 2>"/tmp/odsbpf-suite.$$.err")
	rc=$?
	echo "$out"
	p=$(grep -c '^PASS ' <<<"$out") f=$(grep -c '^FAIL ' <<<"$out")
	s=$(grep -c '^SKIP ' <<<"$out")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "FAIL $suite: exited $rc; stderr: $(tail -c 600 "/tmp/odsbpf-suite.$$.err")"
		f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
done
rm -f "/tmp/odsbpf-suite.$$.err"

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
