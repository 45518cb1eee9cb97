#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Copyright (c) 2026 The odsbpf authors
#
# The audit log end to end: the agent writes it with small rotation
# limits (4 KiB), so denials from fake pods rotate it again and again;
# the rotated files must be gzipped, mode 0600, kept or deleted by the
# age in their names. `odsbpf audit verify` must pass the untouched
# files, across rotations and a restart, and name the line of each kind
# of tampering. `odsbpf events` must filter, read rotated files in order,
# and follow the log across rotations.
. "$(dirname "$0")/fakenode.sh"

SECOND=198.51.100.20
ROTATE=(--rate-limit 0 --audit-log-rotate-size 4K)

ago() { date -u -d "$1 ago" +%Y-%m-%dT%H-%M-%S.000Z; }

# deny N CGROUP [ADDR]: N denied connects from a pod.
deny() {
	in_cgroup "$2" "$PROBE" flood tcp "${3:-$DENIED}" 8080 "$1" >/dev/null
}

# Every line, oldest first. A rotated file may still be plain while the
# worker compresses it (then X, X.gz.tmp, then X.gz): each is read once.
all_lines() {
	local f

	for f in $(ls "$LOG".* 2>/dev/null | sed -e 's/\.gz\.tmp$//' -e 's/\.gz$//' | sort -u); do
		cat "$f" 2>/dev/null || zcat "$f.gz"
	done
	cat "$LOG"
}

egress_lines() { all_lines 2>/dev/null | grep -c '"action":"egress\.'; }

# wait until the log's files hold at least N egress lines
wait_egress() {
	for _ in $(seq 50); do
		[ "$(egress_lines)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

plant_old_files() {
	for age in "400 days" "300 days"; do
		echo '{"old":"'"$age"'"}' | gzip >"$LOG.$(ago "$age").gz"
	done
	for age in "100 days" "80 days"; do
		echo "old agent log $age" | gzip >"$SANDBOX_TMP/agent.log.$(ago "$age").gz"
	done
	chmod 600 "$SANDBOX_TMP"/*.gz
	OLD_AUDIT=$(ls "$LOG".*.gz)
}

test_rotation() {
	local rotated bad

	deny 60 "$WEB"
	deny 20 "$DB" "$SECOND"
	wait_egress 80
	rotated=$(ls "$LOG".*.gz 2>/dev/null | wc -l)
	[ "$rotated" -ge 8 ] && pass log_rotates_past_its_size ||
		fail log_rotates_past_its_size "$rotated rotated files"
	bad=$(for f in "$LOG".*.gz; do gzip -t "$f" 2>/dev/null || echo "$f"; done)
	[ -z "$bad" ] && pass rotated_files_are_gzipped ||
		fail rotated_files_are_gzipped "not gzip: $bad"
	bad=$(find "$SANDBOX_TMP" -maxdepth 1 -name 'audit.log*' ! -perm 600)
	[ -z "$bad" ] && [ "$(stat -c %a "$SANDBOX_TMP/agent.log")" = 600 ] &&
		pass log_files_are_mode_0600 || fail log_files_are_mode_0600 "$(ls -l $bad)"
	[ "$(ls "$LOG".*.gz | head -1)" = "$(ls "$LOG".*"$(ago "300 days" | cut -c1-10)"*)" ] &&
		[ ! -e "$(echo "$OLD_AUDIT" | head -1)" ] &&
		pass retention_deletes_audit_files_past_one_year_only ||
		fail retention_deletes_audit_files_past_one_year_only "$(ls "$LOG".* | head -3)"
	[ "$(ls "$SANDBOX_TMP"/agent.log.*.gz | wc -l)" = 1 ] &&
		ls "$SANDBOX_TMP"/agent.log."$(ago "80 days" | cut -c1-10)"* >/dev/null 2>&1 &&
		pass retention_deletes_agent_log_files_past_90_days_only ||
		fail retention_deletes_agent_log_files_past_90_days_only "$(ls "$SANDBOX_TMP"/agent.log*)"
	rm "$LOG".*"$(ago "300 days" | cut -c1-10)"*	# not part of the chain
}

# expect_verify NAME WANT FILES...: verify's first line must start WANT.
expect_verify() {
	local name=$1 want=$2 got

	shift 2
	got=$("$ODSBPF" audit verify "$@" 2>/dev/null | head -1)
	case "$got" in
	"$want"*) pass "$name" ;;
	*) fail "$name" "verify said '$got', expected '$want...'" ;;
	esac
}

# tamper NAME WANT SED-SCRIPT: edit a plain copy of the whole log, verify it.
tamper() {
	local t="$SANDBOX_TMP/tamper/$1.log"

	mkdir -p "$SANDBOX_TMP/tamper" && all_lines >"$t"
	sed -i "$3" "$t"
	expect_verify "$1" "$t:$2" "$t"
}

seq_at() {
	all_lines | sed -n "$1p" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["seq"])'
}

test_verify() {
	local n gz

	n=$(all_lines | wc -l)
	expect_verify verify_passes_an_untouched_log "ok $n lines" "$LOG"*
	expect_verify verify_orders_rotated_files_itself "ok $n lines" "$LOG" $(ls -r "$LOG".*.gz)

	tamper verify_names_a_changed_line "10: seq $(seq_at 10): changed" \
		'10s/"dst_port":8080/"dst_port":8081/'
	tamper verify_names_a_removed_line "10: seq $(seq_at 11): 1 line(s) removed" '10d'
	tamper verify_names_reordered_lines "10: seq $(seq_at 11): reordered" '10{h;d};11G'
	tamper verify_names_an_inserted_line "11: seq $(seq_at 10): inserted" '10p'
	tamper verify_names_a_line_whose_seq_changed "10: seq 99999: changed" \
		'10s/"seq":[0-9]*/"seq":99999/'

	# A changed line inside a rotated, gzipped file is found as well.
	mkdir -p "$SANDBOX_TMP/tamper/gz" && cp "$LOG".*.gz "$LOG" "$SANDBOX_TMP/tamper/gz/"
	gz=$(ls "$SANDBOX_TMP/tamper/gz/"*.gz | sed -n 3p)
	zcat "$gz" | sed '2s/"pid":[0-9]*/"pid":1/' | gzip >"$gz.new" && mv "$gz.new" "$gz"
	expect_verify verify_reads_gzipped_files "$gz:2: seq" "$SANDBOX_TMP/tamper/gz/"*
}

test_restart_and_key() {
	local n last

	stop_agent
	last=$(all_lines | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["seq"])')
	ODSBPF_AUDIT_KEY=$KEY start_agent "${ROTATE[@]}" ||
		{ fail restart_setup "$(tail -c 600 "$SANDBOX_TMP/agent.err")"; return; }
	deny 30 "$WEB"
	wait_egress 110
	# Lines before the restart are SHA-256, after it HMAC: the key shows where.
	"$ODSBPF" audit verify "$LOG"* 2>/dev/null | grep -q ": seq $((last + 1)): changed" &&
		pass verify_without_the_key_fails_where_the_key_begins ||
		fail verify_without_the_key_fails_where_the_key_begins \
			"$("$ODSBPF" audit verify "$LOG"* 2>/dev/null); expected seq $((last + 1))"
	"$ODSBPF" audit verify "$LOG"* 2>&1 | grep -q 'written with a key' &&
		pass verify_says_which_hash_it_used ||
		fail verify_says_which_hash_it_used "no hint about the key"
	stop_agent
	# A keyed log from the start: verify passes only with the key.
	rm -f "$LOG"*
	ODSBPF_AUDIT_KEY=$KEY start_agent "${ROTATE[@]}" ||
		{ fail restart_setup "$(tail -c 600 "$SANDBOX_TMP/agent.err")"; return; }
	deny 30 "$WEB"
	wait_egress 30
	stop_agent
	ODSBPF_AUDIT_KEY=$KEY start_agent "${ROTATE[@]}" ||
		{ fail restart_setup "$(tail -c 600 "$SANDBOX_TMP/agent.err")"; return; }
	deny 10 "$WEB"
	wait_egress 40
	n=$(all_lines | wc -l)
	ODSBPF_AUDIT_KEY=$KEY expect_verify chain_continues_across_rotation_and_restart \
		"ok $n lines" "$LOG"*
	expect_verify keyed_chain_does_not_verify_without_the_key "$(ls "$LOG".*.gz | head -1):2" "$LOG"*
	# An attacker without the key re-chains a change with SHA-256: caught.
	mkdir -p "$SANDBOX_TMP/tamper" && all_lines >"$SANDBOX_TMP/tamper/rechained.log"
	python3 - "$SANDBOX_TMP/tamper/rechained.log" <<'EOF'
import hashlib, json, sys
lines = open(sys.argv[1]).read().splitlines()
lines[9] = lines[9].replace('"dst_port":8080', '"dst_port":9')
for i in range(10, len(lines)):
    ev = json.loads(lines[i])
    ev["metadata"]["prev_hash"] = hashlib.sha256(lines[i - 1].encode()).hexdigest()
    lines[i] = json.dumps(ev, separators=(",", ":"), ensure_ascii=False)
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
EOF
	ODSBPF_AUDIT_KEY=$KEY expect_verify keyed_chain_catches_a_line_rechained_without_the_key \
		"$SANDBOX_TMP/tamper/rechained.log:11: seq" "$SANDBOX_TMP/tamper/rechained.log"
}

# events_json ARGS...: `odsbpf events -o json` on the log.
events_json() { "$ODSBPF" events --audit-log "$LOG" -o json "$@"; }

expect_count() {
	local name=$1 want=$2 got

	shift 2
	got=$(events_json "$@" | wc -l)
	[ "$got" = "$want" ] && pass "$name" || fail "$name" "$got lines, expected $want"
}

test_events() {
	local total width

	total=$(all_lines | grep -c '"action":"egress\.')
	[ "$(events_json | python3 -c '
import json, sys
seqs = [json.loads(l)["metadata"]["seq"] for l in sys.stdin]
print(len(seqs) if seqs == sorted(seqs) else -1)')" = "$total" ] &&
		pass events_reads_rotated_gzipped_files_in_order ||
		fail events_reads_rotated_gzipped_files_in_order "not $total lines in seq order"
	expect_count events_filters_by_namespace "$total" --namespace shop
	expect_count events_filters_by_pod 20 --pod db-0
	expect_count events_filters_by_destination 20 --dst "$SECOND/32"
	expect_count events_filters_by_destination_prefix "$total" --dst 198.51.100.0/24
	expect_count events_filters_by_rule "$total" --rule deny-test-net-2
	expect_count events_filters_by_an_unknown_rule 0 --rule no-such-rule
	expect_count events_filters_by_verdict "$total" --verdict denied
	expect_count events_filters_by_verdict_audited 0 --verdict audited
	expect_count events_since_ten_minutes "$total" --since 10m
	expect_count events_since_a_later_time 0 --since "$(date -u -d '1 hour' +%Y-%m-%dT%H:%M:%SZ)"
	expect_count events_until_an_earlier_time 0 --until "$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%SZ)"
	expect_count events_last_n 3 -n 3 --pod web-0
	"$ODSBPF" events --audit-log "$LOG" --all -o json | grep -q '"action":"agent.start"' &&
		pass events_all_shows_the_agent_lines ||
		fail events_all_shows_the_agent_lines "no agent.start line"

	"$ODSBPF" events --audit-log "$LOG" >"$SANDBOX_TMP/table.txt"
	width=$(awk '{ print length($0) }' "$SANDBOX_TMP/table.txt" | sort -n | tail -1)
	head -1 "$SANDBOX_TMP/table.txt" | grep -q '^TIME (UTC) *NAMESPACE/POD *PROCESS *DESTINATION *RULE *VERDICT LAYER *SUPP$' &&
		[ "$width" -le 120 ] && [ "$(wc -l <"$SANDBOX_TMP/table.txt")" = $((total + 1)) ] &&
		pass events_table_fits_120_columns ||
		fail events_table_fits_120_columns "widest line $width: $(head -2 "$SANDBOX_TMP/table.txt")"
	grep -q ' shop/db-0  *probe\[[0-9]*\]  *198.51.100.20:8080  *deny-test-net-2  *denied  socket ' \
		"$SANDBOX_TMP/table.txt" && pass events_table_shows_pod_process_destination_rule ||
		fail events_table_shows_pod_process_destination_rule "$(tail -2 "$SANDBOX_TMP/table.txt")"
	"$ODSBPF" events --audit-log "$LOG" --dst 10.0.0.1/8 2>&1 | grep -q 'host bits' &&
		pass events_rejects_a_bad_cidr || fail events_rejects_a_bad_cidr "no error"
}

# follow_check NAME N STOPPED: follow the log while N denials rotate it many
# times; with STOPPED, the follower is stopped meanwhile and must catch up
# from the rotated files. Every line must come once, in order.
follow_check() {
	local name=$1 n=$2 out="$SANDBOX_TMP/$1.out" pid before

	before=$(ls "$LOG".*.gz | wc -l)
	"$ODSBPF" events --audit-log "$LOG" -f -n 0 -o json >"$out" 2>"$out.err" &
	pid=$!
	SANDBOX_PIDS="$SANDBOX_PIDS $pid"
	sleep 0.3
	[ "$3" = stopped ] && kill -STOP "$pid"
	deny "$n" "$WEB"
	wait_egress $(($(egress_lines) + n))
	[ "$3" = stopped ] && kill -CONT "$pid"
	wait_for 50 sh -c '[ "$(grep -c "\"action\":\"egress\." "$1")" -ge "$2" ]' sh "$out" "$n"
	sleep 0.3	# anything more would be a repeat
	kill "$pid"
	wait "$pid" 2>/dev/null
	python3 - "$out" "$n" <<'EOF' && [ "$(ls "$LOG".*.gz | wc -l)" -gt $((before + 5)) ] &&
import json, sys
n = int(sys.argv[2])
seqs = [json.loads(l)["metadata"]["seq"] for l in open(sys.argv[1])]
sys.exit(0 if len(seqs) == n and seqs == list(range(seqs[0], seqs[0] + n)) else 1)
EOF
		pass "$name" ||
		fail "$name" "$(grep -c . "$out") lines of $n, $(($(ls "$LOG".*.gz | wc -l) - before)) rotations; $(head -c 300 "$out.err")"
}

test_follow() {
	follow_check events_follow_goes_on_across_rotations 200 running
	follow_check events_follow_catches_up_after_falling_behind 60 stopped
}

main() {
	local why

	why=$(cannot_enforce_reason)
	if [ -n "$why" ]; then
		skip e2e_audit "$why"
		return 0
	fi
	node_up || { fail e2e_audit_setup "cannot make the test namespace and cgroup"; return; }
	sandbox_addr "$SECOND"
	sandbox_start "$PROBE" listen "$SECOND" 8080
	fake_pod shop web-0 3f1e2d4c-7777-4a2b-9c3d-000000000007 && WEB=$POD_CT &&
		fake_pod shop db-0 3f1e2d4c-8888-4a2b-9c3d-000000000008 && DB=$POD_CT ||
		{ fail e2e_audit_setup "cannot make the pods"; return; }
	KEY="test-audit-key-0123456789abcdef0123456789"
	plant_old_files

	start_agent "${ROTATE[@]}" ||
		{ fail e2e_audit_agent_starts "$(head -c 600 "$SANDBOX_TMP/agent.err")"; return; }
	test_rotation
	test_events
	test_follow
	test_verify
	test_restart_and_key
	stop_agent
}

main
