#!/usr/bin/env bash
# Mixed traffic on PostgreSQL: 70 % queue reads, 20 % anonymous submissions, 10 % triage, at 64
# connections for 60 s, several runs; the error count (target 0), throughput, latency and the
# server's RSS idle and under load. Results and the command: docs/BENCHMARKS.md. Each run ends by
# checking its own work: every acknowledged submission is stored, one report.triage audit entry
# per PATCH answered 200 (and none beyond the PATCHes sent), and the audit chain verifies
# (check_work in bench/lib.sh).
#
#   bash bench/mixed.sh            # progress on stderr, Markdown summary on stdout
#
# Environment: BENCH_RUNS (default 3), BENCH_SECONDS (60), BENCH_CONNECTIONS (64),
# BENCH_FILL (reports loaded before each run, default 50000), BENCH_PORT (18083),
# BENCH_PG_URL (postgres://postgres@127.0.0.1:5432), BENCH_PG_DB (tipline_bench_mixed),
# BENCH_SKIP_BUILD=1, BENCH_KEEP=1, CARGO_TARGET_DIR.
# Needs wrk, curl, psql, python3 and a PostgreSQL server where the user may create databases.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_RUNS:-3}
SECONDS_EACH=${BENCH_SECONDS:-60}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
FILL=${BENCH_FILL:-50000}
PORT=${BENCH_PORT:-18083}
THREADS=2
PASSWORD="bench-password-0123456789"

need_count BENCH_RUNS "$RUNS"
need_count BENCH_SECONDS "$SECONDS_EACH"
need_count BENCH_CONNECTIONS "$CONNECTIONS"
need_count BENCH_FILL "$FILL"
need_count BENCH_PORT "$PORT"
pg_settings tipline_bench_mixed
need_tools wrk curl psql python3

release_build --bin tipline
bench_setup mixed
export DATABASE_URL="$PG_URL/$PG_DB"
# The load is far above a real tipline's submission rate: the token bucket would answer most of
# it 429 (bench/intake.sh measures the buckets on).
export TIPLINE_RATE_SUBMIT=${TIPLINE_RATE_SUBMIT:-off}

checks=() rps=() errors=() p50=() p99=() rss_idle=() rss_peak=()
for ((run = 1; run <= RUNS; run++)); do
    log "== run $run/$RUNS: fresh database with $FILL reports"
    create_pg_db
    pg_bench_db -v n="$FILL" -f bench/queue_fill.sql >&2
    reports_before=$(db_number "$DATABASE_URL" "SELECT count(*) FROM reports")
    triage_before=$(db_number "$DATABASE_URL" "SELECT count(*) FROM audit_log WHERE action = 'report.triage'")
    printf '%s\n' "$PASSWORD" | tipline admin create --email bench-admin@example.org --password-stdin >/dev/null
    start_server
    admin=$(login bench-admin@example.org "$PASSWORD")
    curl -fsS -o /dev/null -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d "{\"email\":\"bench-worker@example.org\",\"password\":\"$PASSWORD\",\"role\":\"caseworker\",\"display_name\":\"Bench\"}" \
        "$BASE_URL/api/v1/users" || die "could not create the caseworker"
    worker=$(login bench-worker@example.org "$PASSWORD")
    [[ -n $worker ]] || die "login failed"
    pg_bench_db -Atc "SELECT id FROM reports WHERE status = 'new' AND version = 1 ORDER BY random()" >"$tmp/ids"
    sleep 2
    rss_idle+=("$(memory_mib "$server_pid" VmRSS)")
    log "   wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_EACH}s (70 % reads, 20 % submissions, 10 % triage)"
    BENCH_TOKEN=$worker BENCH_IDS="$tmp/ids" BENCH_THREADS=$THREADS run_wrk "$tmp/wrk.$run" \
        -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --timeout 30s --latency -s bench/mixed.lua "$BASE_URL"
    cat "$tmp/wrk.$run" >&2
    rss_peak+=("$(memory_mib "$server_pid" VmHWM)")
    rps+=("$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.$run")")
    bad=$(awk '$1 == "status" && ($2 < 200 || $2 >= 300) { n += $3 } END { print n + 0 }' "$tmp/wrk.$run")
    socket=$(awk '/Socket errors/ { gsub(",", ""); n = $4 + $6 + $8 + $10 } END { print n + 0 }' "$tmp/wrk.$run")
    errors+=("$((bad + socket))")
    p50+=("$(percentile_ms "$tmp/wrk.$run" 50%)")
    p99+=("$(percentile_ms "$tmp/wrk.$run" 99%)")
    stop_server
    submitted=$(awk '$1 == "acknowledged" && $2 == "submit" { print $3 }' "$tmp/wrk.$run")
    patched=$(awk '$1 == "acknowledged" && $2 == "triage" { print $3 }' "$tmp/wrk.$run")
    patches_sent=$(awk '$1 == "kind" && $2 == "triage" { print $3 }' "$tmp/wrk.$run")
    [[ -n $submitted && -n $patched && -n $patches_sent ]] || die "bench/mixed.lua printed no acknowledged counts"
    check_work "$DATABASE_URL" "$reports_before" "$submitted" "$patched" "$patches_sent" "$triage_before"
    checks+=("run $run: $checked")
done

cat <<SUMMARY
| figure | median | runs | target |
| --- | ---: | --- | --- |
| requests/s (all kinds) | $(fmt %.1f "$(median "${rps[@]}")") | $(each %.1f "${rps[@]}") | |
| latency p50 (ms) | $(fmt %.2f "$(median "${p50[@]}")") | $(each %.2f "${p50[@]}") | |
| latency p99 (ms) | $(fmt %.2f "$(median "${p99[@]}")") | $(each %.2f "${p99[@]}") | |
| errors: non-2xx + socket errors | $(sum "${errors[@]}") (sum) | $(each %d "${errors[@]}") | 0 |
| server RSS idle (MiB) | $(fmt %.1f "$(median "${rss_idle[@]}")") | $(each %.1f "${rss_idle[@]}") | |
| server peak RSS under load, VmHWM (MiB) | $(fmt %.1f "$(median "${rss_peak[@]}")") | $(each %.1f "${rss_peak[@]}") | |

Checked after each run (PostgreSQL):
$(printf -- '- %s\n' "${checks[@]}")
SUMMARY
