#!/usr/bin/env bash
# Mixed traffic on PostgreSQL: 70 % queue reads, 20 % anonymous submissions, 10 % triage, at 64
# connections for 60 s, several runs; the error count (target 0), throughput, latency and the
# server's RSS idle and under load. Results and the command: docs/BENCHMARKS.md.
#
#   bash bench/mixed.sh            # progress on stderr, Markdown summary on stdout
#
# Environment: BENCH_RUNS (default 3), BENCH_SECONDS (60), BENCH_CONNECTIONS (64),
# BENCH_FILL (reports loaded before each run, default 50000), BENCH_PORT (18083),
# BENCH_PG_URL (postgres://postgres@127.0.0.1:5432), BENCH_SKIP_BUILD=1, CARGO_TARGET_DIR.
# Needs wrk, curl, psql, python3 and a PostgreSQL server where the user may create databases.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C

RUNS=${BENCH_RUNS:-3}
SECONDS_EACH=${BENCH_SECONDS:-60}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
FILL=${BENCH_FILL:-50000}
PORT=${BENCH_PORT:-18083}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
DB=tipline_bench_mixed
THREADS=2
TARGET=${CARGO_TARGET_DIR:-target}
BIN="$TARGET/release/tipline"
BASE="http://127.0.0.1:$PORT"
PASSWORD="bench-password-0123456789"

log() { printf '%s\n' "$*" >&2; }
for tool in wrk curl psql python3; do command -v "$tool" >/dev/null || { log "$tool is missing"; exit 1; }; done
if [[ ${BENCH_SKIP_BUILD:-} != 1 ]]; then
    cargo build --release --bin tipline >&2
fi
[[ -x $BIN ]] || { log "no binary at $BIN"; exit 1; }

tmp=$(mktemp -d)
server_pid=""
cleanup() {
    [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    psql -X -q -d "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

rss_kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; printf "%.2f\n", v }'; }

declare -a rps errors p50 p99 rss_idle rss_peak
for run in $(seq 1 "$RUNS"); do
    log "== run $run/$RUNS: fresh database with $FILL reports"
    psql -X -q -d "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
    export DATABASE_URL="$PG_URL/$DB" TIPLINE_DATA_DIR="$tmp/data" TIPLINE_BIND="127.0.0.1:$PORT" RUST_LOG=warn
    rm -rf "$tmp/data"
    "$BIN" migrate >&2
    psql -X -q -v ON_ERROR_STOP=1 -v n="$FILL" -f bench/queue_fill.sql -d "$DATABASE_URL" >&2
    printf '%s\n' "$PASSWORD" | "$BIN" admin create --email bench-admin@example.org --password-stdin >/dev/null
    "$BIN" serve 2>"$tmp/server.log" &
    server_pid=$!
    for _ in $(seq 1 100); do curl -sf "$BASE/readyz" >/dev/null && break; sleep 0.1; done
    admin=$(curl -sf -H 'Content-Type: application/json' -d "{\"email\":\"bench-admin@example.org\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/auth/login" | json_field access_token)
    curl -sf -o /dev/null -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d "{\"email\":\"bench-worker@example.org\",\"password\":\"$PASSWORD\",\"role\":\"caseworker\",\"display_name\":\"Bench\"}" "$BASE/api/v1/users"
    worker=$(curl -sf -H 'Content-Type: application/json' -d "{\"email\":\"bench-worker@example.org\",\"password\":\"$PASSWORD\"}" "$BASE/api/v1/auth/login" | json_field access_token)
    psql -X -At -d "$DATABASE_URL" -c "SELECT id FROM reports WHERE status = 'new' AND version = 1 ORDER BY random()" >"$tmp/ids"
    sleep 2
    rss_idle+=("$(rss_kib "$server_pid" VmRSS)")
    log "   wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_EACH}s (70 % reads, 20 % submissions, 10 % triage)"
    BENCH_TOKEN=$worker BENCH_IDS="$tmp/ids" BENCH_THREADS=$THREADS \
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --timeout 30s --latency -s bench/mixed.lua "$BASE" >"$tmp/wrk.$run"
    cat "$tmp/wrk.$run" >&2
    rss_peak+=("$(rss_kib "$server_pid" VmHWM)")
    rps+=("$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.$run")")
    bad=$(awk '$1 == "status" && ($2 < 200 || $2 >= 300) { n += $3 } END { print n + 0 }' "$tmp/wrk.$run")
    socket=$(awk '/Socket errors/ { gsub(",", ""); n = $4 + $6 + $8 + $10 } END { print n + 0 }' "$tmp/wrk.$run")
    errors+=("$((bad + socket))")
    p50+=("$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.$run" | to_ms)")
    p99+=("$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.$run" | to_ms)")
    kill -TERM "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
done

total_errors=0; for e in "${errors[@]}"; do total_errors=$((total_errors + e)); done
cat <<SUMMARY
| figure | median | runs | target |
| --- | ---: | --- | --- |
| requests/s (all kinds) | $(printf '%s\n' "${rps[@]}" | median) | ${rps[*]} | |
| latency p50 (ms) | $(printf '%s\n' "${p50[@]}" | median) | ${p50[*]} | |
| latency p99 (ms) | $(printf '%s\n' "${p99[@]}" | median) | ${p99[*]} | |
| errors: non-2xx + socket errors | $total_errors (sum) | ${errors[*]} | 0 |
| server RSS idle (MiB) | $(printf '%s\n' "${rss_idle[@]}" | median | awk '{ printf "%.1f", $1 / 1024 }') | ${rss_idle[*]} KiB | |
| server peak RSS under load, VmHWM (MiB) | $(printf '%s\n' "${rss_peak[@]}" | median | awk '{ printf "%.1f", $1 / 1024 }') | ${rss_peak[*]} KiB | |
SUMMARY
