#!/usr/bin/env bash
# Key rotation and the retention sweeper on PostgreSQL (SPEC §13), each while the service takes
# a steady stream of anonymous submissions. The script fills a fresh database with BENCH_REPORTS
# reports (bench/queue_fill.sql) whose report keys are real: made by the service's own
# Keyring::new_data_key under the keyring of the run (`bench_sql report-keys`). It starts the
# service, and measures intake p99 in BENCH_WINDOW-second wrk windows (bench/intake.lua,
# BENCH_CONNECTIONS connections, each waiting BENCH_DELAY_MS before each request):
#
#   1. idle: BENCH_IDLE_WINDOWS windows, nothing else running;
#   2. `tipline keys rotate` (its own process, default options unless BENCH_ROTATE_ARGS): windows
#      back to back for as long as it runs; report keys re-wrapped per second of its wall time;
#   3. `tipline retention sweep` (the code of every instance's sweeper thread, in a process of
#      its own) over BENCH_SHRED closed reports made due: windows as above; reports shredded per
#      second.
#
# Each p99 is the median of its windows' p99s, and its ratio is to the idle one (target ≤ 2).
# Then the script checks the work: every report key under the new key, the shredded reports are
# tombstones without keys, every acknowledged submission is stored, and the audit trail
# verifies. (That re-wrapped keys open is the API tests' job: tests/api/keys.rs.)
#
#   bash bench/keys.sh               # progress on stderr, Markdown summary on stdout
#
# Environment:
#   BENCH_REPORTS        reports in the database (default 1000000)
#   BENCH_SHRED          closed reports made due for the sweeper (default 50000)
#   BENCH_CONNECTIONS    wrk connections (default 4); BENCH_DELAY_MS (default 20)
#   BENCH_WINDOW         seconds per wrk window (default 10); BENCH_IDLE_WINDOWS (default 3)
#   BENCH_ROTATE_ARGS    options for `tipline keys rotate` (default none: --batch 500, no pause)
#   BENCH_PG_URL, BENCH_PG_DB (default tipline_bench_keys), BENCH_PORT (default 18083),
#   BENCH_SKIP_BUILD, BENCH_KEEP, BENCH_IDLE_PCT, BENCH_IDLE_WAIT: as in bench/intake.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REPORTS=${BENCH_REPORTS:-1000000}
SHRED=${BENCH_SHRED:-50000}
CONNECTIONS=${BENCH_CONNECTIONS:-4}
export BENCH_DELAY_MS=${BENCH_DELAY_MS:-20}
WINDOW=${BENCH_WINDOW:-10}
IDLE_WINDOWS=${BENCH_IDLE_WINDOWS:-3}
ROTATE_ARGS=${BENCH_ROTATE_ARGS:-}
PORT=${BENCH_PORT:-18083}

for v in REPORTS SHRED CONNECTIONS BENCH_DELAY_MS WINDOW IDLE_WINDOWS; do need_count "$v" "${!v}"; done
machine_settings
pg_settings tipline_bench_keys
need_tools wrk curl awk sort python3 psql
commit=$(source_commit)
release_build --bin tipline --example bench_sql
BENCH_SQL=$TARGET_DIR/release/examples/bench_sql
bench_setup keys
export BENCH_BODY_FILE=$PWD/bench/intake.json
url="$PG_URL/$PG_DB"

log "==> filling $PG_DB with $REPORTS reports"
create_pg_db
pg_bench_db -v n="$REPORTS" -f bench/queue_fill.sql >&2
# Nothing due yet: the sweeper phase makes BENCH_SHRED closed reports due.
pg_bench_db -c "UPDATE reports SET status_changed_at = now() AT TIME ZONE 'UTC'" >&2
pg_bench_db -c "TRUNCATE report_keys" >&2
pg_bench_db -At -c "SELECT id FROM reports" | DATABASE_URL=$url bench_sql report-keys \
    | pg_bench_db -c "COPY report_keys (report_id, key_id, wrapped, master_key_id, created_at) FROM STDIN WITH (FORMAT csv)" >&2
pg_bench_db -c "VACUUM ANALYZE" >&2
old_key=$(db_number "$url" "SELECT min(master_key_id) FROM report_keys")
[[ $(db_number "$url" "SELECT count(*) FROM report_keys WHERE master_key_id = '$old_key'") == "$REPORTS" ]] \
    || die "the report keys are not all under one key"
before=$(db_number "$url" "SELECT count(*) FROM reports")

DATABASE_URL=$url TIPLINE_RATE_SUBMIT=off TIPLINE_RETAIN_CLOSED_DAYS=0 TIPLINE_RETAIN_WITHDRAWN_DAYS=0 start_server

acknowledged=0
# One wrk window; appends its p99 to the array named $1.
window() {
    local out="$tmp/wrk-$2.txt" p99 ok
    run_wrk "$out" -t2 "-c$CONNECTIONS" "-d${WINDOW}s" --timeout 30s --latency -s bench/intake.lua "$BASE_URL/api/v1/reports"
    p99=$(percentile_ms "$out" 99%) || die "no p99 in $out"
    ok=$(awk '$1 == "submissions_ok" { print $2 }' "$out")
    acknowledged=$((acknowledged + ok))
    [[ $(non_2xx "$out") == 0 ]] || die "non-2xx answers in $out"
    eval "$1+=(\"$p99\")"
    log "    window $2: p99 $p99 ms, $ok submissions"
}

# Runs "$@" in the background, its output in $tmp/$2.txt, with wrk windows back to back for as
# long as it runs; their p99s go to the array named $1. Sets phase_secs, its wall time.
during() {
    local array=$1 name=$2 start n=0
    shift 2
    start=$(date +%s.%N)
    "$@" >"$tmp/$name.txt" 2>&1 &
    background_pid=$!
    while alive "$background_pid"; do
        n=$((n + 1))
        window "$array" "$name-$n"
    done
    wait "$background_pid" || { cat "$tmp/$name.txt" >&2; die "$name failed"; }
    background_pid=""
    phase_secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
}

log "==> idle"
wait_idle
idle=()
for i in $(seq 1 "$IDLE_WINDOWS"); do window idle "idle-$i"; done
idle_p99=$(median "${idle[@]}")

log "==> tipline keys rotate $ROTATE_ARGS"
during_rotation=()
# shellcheck disable=SC2086
DATABASE_URL=$url during during_rotation rotate tipline keys rotate $ROTATE_ARGS
rotate_secs=$phase_secs
grep -v '^re-wrapped so far' "$tmp/rotate.txt" | sed 's/^/    /' >&2
rewrapped=$(sed -n 's/.*: re-wrapped \([0-9]*\) report keys.*/\1/p' "$tmp/rotate.txt")
[[ -n $rewrapped ]] || die "the rotation printed no count"
new_key=$(sed -n 's/.* key \([0-9a-f]*\): re-wrapped.*/\1/p' "$tmp/rotate.txt")
rewraps_per_sec=$(awk -v n="$rewrapped" -v s="$rotate_secs" 'BEGIN { printf "%.0f", n / s }')
rotation_p99=$(median "${during_rotation[@]}")

log "==> tipline retention sweep over $SHRED due reports"
pg_bench_db -c "UPDATE reports SET status_changed_at = (now() AT TIME ZONE 'UTC') - interval '1000 days'
                 WHERE id IN (SELECT id FROM reports WHERE status = 'closed' ORDER BY id LIMIT $SHRED)" >&2
during_sweep=()
DATABASE_URL=$url TIPLINE_RETAIN_CLOSED_DAYS=730 during during_sweep sweep tipline retention sweep
sweep_secs=$phase_secs
shredded=$(sed -n 's/^\([0-9]*\) report(s) shredded$/\1/p' "$tmp/sweep.txt")
[[ $shredded == "$SHRED" ]] || { cat "$tmp/sweep.txt" >&2; die "the sweep shredded ${shredded:-?} of $SHRED"; }
shred_per_sec=$(awk -v n="$shredded" -v s="$sweep_secs" 'BEGIN { printf "%.0f", n / s }')
sweep_p99=$(median "${during_sweep[@]}")

log "==> checking the work"
stop_server
left=$(db_number "$url" "SELECT count(*) FROM report_keys WHERE master_key_id <> '$new_key'")
[[ $left == 0 ]] || die "check: $left report keys are not under the new key $new_key"
tombstones=$(db_number "$url" "SELECT count(*) FROM reports r WHERE shredded_at IS NOT NULL
                                AND NOT EXISTS (SELECT 1 FROM report_keys k WHERE k.report_id = r.id)")
[[ $tombstones == "$SHRED" ]] || die "check: $tombstones keyless tombstones, expected $SHRED"
check_work "$url" "$before" "$acknowledged"

ratio_rotation=$(ratio "$rotation_p99" "$idle_p99")
ratio_sweep=$(ratio "$sweep_p99" "$idle_p99")
cat <<SUMMARY
### Key rotation and retention sweep ($(machine); commit $commit; PostgreSQL $(pg_server_version))

$REPORTS reports; intake: $CONNECTIONS connections, $BENCH_DELAY_MS ms between requests on each; windows of $WINDOW s; p99 = median of the windows' p99s.

| phase | work | rate | intake p99 | ratio to idle (target ≤ 2) | windows' p99s (ms) |
| --- | --- | --- | --- | --- | --- |
| idle | – | – | $(fmt %.2f "$idle_p99") ms | 1 | $(each %.2f "${idle[@]}") |
| \`keys rotate $ROTATE_ARGS\` | $rewrapped report keys in $rotate_secs s | **$rewraps_per_sec re-wraps/s** | $(fmt %.2f "$rotation_p99") ms | **$ratio_rotation** | $(each %.2f "${during_rotation[@]}") |
| \`retention sweep\` | $shredded reports in $sweep_secs s | **$shred_per_sec shredded/s** | $(fmt %.2f "$sweep_p99") ms | **$ratio_sweep** | $(each %.2f "${during_sweep[@]}") |

Checked: $checked.
SUMMARY
