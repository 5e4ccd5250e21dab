#!/usr/bin/env bash
# The reporter website (SPEC §16): report submissions per second through the form
# (POST /en/report) next to JSON submissions per second through the API (POST /api/v1/reports)
# in the same run, on the same kind of fresh SQLite database, with the same report
# (bench/intake.json, as a form); and the weight of the report form (HTML + CSS + fonts).
# What the figures mean and the target: docs/BENCHMARKS.md.
#
#   bash bench/pages.sh              # progress on stderr, Markdown summary on stdout
#
# Environment: BENCH_RUNS (default 3), BENCH_SECONDS (20), BENCH_CONNECTIONS (16),
# BENCH_PORT (18083), BENCH_SKIP_BUILD=1, BENCH_KEEP=1, and BENCH_IDLE_PCT, BENCH_IDLE_WAIT,
# BENCH_MAX_FOREIGN, BENCH_ATTEMPTS as in bench/intake.sh (bench/lib.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_RUNS:-3}
SECONDS_EACH=${BENCH_SECONDS:-20}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
PORT=${BENCH_PORT:-18083}
WRK_THREADS=2
BODY_FILE=bench/intake.json

need_count BENCH_RUNS "$RUNS"
need_count BENCH_SECONDS "$SECONDS_EACH"
need_count BENCH_CONNECTIONS "$CONNECTIONS"
need_count BENCH_PORT "$PORT"
machine_settings
need_tools wrk curl awk sort python3

commit=$(source_commit)
release_build --bin tipline
bench_setup pages
export BENCH_BODY_FILE="$PWD/$BODY_FILE"
export BENCH_FORM_FILE="$tmp/form.txt"
# The submission bucket (SPEC §12.3) would refuse a benchmark's rate: both paths run without it.
export TIPLINE_RATE_SUBMIT=${TIPLINE_RATE_SUBMIT:-off}

fresh_sqlite() {
    rm -f "$TIPLINE_DATA_DIR"/bench.db "$TIPLINE_DATA_DIR"/bench.db-wal "$TIPLINE_DATA_DIR"/bench.db-shm
    export DATABASE_URL="sqlite://$TIPLINE_DATA_DIR/bench.db"
    tipline migrate >/dev/null
    sync
}

# The form body: bench/intake.json as the report form sends it, with a fresh form token.
write_form() {
    local token
    token=$(curl -fsS "$BASE_URL/en/report" | sed -n 's/.*name="form_token" value="\([^"]*\)".*/\1/p' | head -n 1)
    [[ -n $token ]] || die "no form token on /en/report"
    python3 - "$BODY_FILE" "$token" >"$BENCH_FORM_FILE" <<'PY'
import json, sys, urllib.parse
body = json.load(open(sys.argv[1], encoding="utf-8"))
pairs = [("form_token", sys.argv[2]), ("kind", body["kind"])]
pairs += [("tactics", t) for t in body.get("tactics", [])]
for name in ("narrative", "country", "city", "contact"):
    if name in body:
        pairs.append((name, body[name]))
for name, value in body.get("consent", {}).items():
    if value:
        pairs.append((f"consent.{name}", "true"))
sys.stdout.write(urllib.parse.urlencode(pairs))
PY
}

# $1: output prefix, $2: page or api. Sets rate, ok, p99, errors, foreign.
measure() {
    local out=$1 kind=$2 script path
    fresh_sqlite
    start_server
    if [[ $kind == page ]]; then script=bench/pages.lua path=/en/report; write_form; else script=bench/intake.lua path=/api/v1/reports; fi
    wait_idle
    cpu_mark
    run_wrk "$out-wrk.txt" "-t$WRK_THREADS" "-c$CONNECTIONS" "-d${SECONDS_EACH}s" --timeout 30s --latency \
        -s "$script" "$BASE_URL$path"
    foreign=$(foreign_cores)
    stop_server
    rate=$(awk '$1 == "submissions_per_sec" { print $2 }' "$out-wrk.txt")
    [[ -n $rate ]] || { cat "$out-wrk.txt" >&2; die "$script printed no submissions_per_sec"; }
    ok=$(awk '$1 == "submissions_ok" { print $2 }' "$out-wrk.txt")
    p99=$(percentile_ms "$out-wrk.txt" 99%) || die "no p99 in $out-wrk.txt"
    errors=$(non_2xx "$out-wrk.txt")
    stored=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from reports").fetchone()[0])' "$TIPLINE_DATA_DIR/bench.db")
    ((stored >= ok)) || die "$kind: $ok answers were 2xx but only $stored reports are stored"
}

page_rates=() api_rates=() ratios=() page_p99=() api_p99=() page_errors=() api_errors=()
for ((run = 1; run <= RUNS; run++)); do
    order="api page"
    ((run % 2)) || order="page api"
    for kind in $order; do
        log "==> run $run/$RUNS: $kind"
        measure_undisturbed measure "$tmp/run$run-$kind" "$kind"
        log "    $kind: $rate submissions/s, p99 $p99 ms, non-2xx $errors"
        if [[ $kind == page ]]; then page_rates+=("$rate") page_p99+=("$p99") page_errors+=("$errors")
        else api_rates+=("$rate") api_p99+=("$p99") api_errors+=("$errors"); fi
    done
    ratios+=("$(ratio "${page_rates[-1]}" "${api_rates[-1]}")")
done

# Page weight: what a browser fetches for the report form (the page and its stylesheet; the
# pages use the system's fonts, so no font is fetched).
fresh_sqlite
start_server
weights=()
for lang in en zh-Hans zh-Hant ug bo; do
    html=$(curl -fsS "$BASE_URL/$lang/report" | wc -c)
    weights+=("$lang $html")
done
css=$(curl -fsS "$BASE_URL/assets/style.css" | wc -c)
css_gz=$(curl -fsS "$BASE_URL/assets/style.css" | gzip -9 | wc -c)
html_gz=$(curl -fsS "$BASE_URL/en/report" | gzip -9 | wc -c)
stop_server

median_ratio=$(median "${ratios[@]}")
printf '### %s · commit %s · pages\n\n' "$(date -u +%F)" "$commit"
printf '%s. %s run(s): the median, then each run in order; ratios are taken within each run.\n' "$(machine)" "$RUNS"
printf 'SQLite, %s connections for %s s per measurement; body `%s` (as a form for the page).\n' "$CONNECTIONS" "$SECONDS_EACH" "$BODY_FILE"
printf 'Cores that other processes kept busy during each measurement, in order: %s.\n\n' "$(each '%.2f' "${foreign_seen[@]}")"
printf '| figure | median | runs | target |\n| --- | ---: | --- | --- |\n'
printf '| API JSON submissions/s (2xx only) | %s | %s | |\n' "$(fmt '%.1f' "$(median "${api_rates[@]}")")" "$(each '%.1f' "${api_rates[@]}")"
printf '| page form submissions/s (2xx only) | %s | %s | |\n' "$(fmt '%.1f' "$(median "${page_rates[@]}")")" "$(each '%.1f' "${page_rates[@]}")"
printf '| page ÷ API | %s | %s | ≥ 0.80: %s |\n' "$median_ratio" "$(each '%s' "${ratios[@]}")" "$(meets "$median_ratio" '>=' 0.8)"
printf '| API p99 latency (ms) | %s | %s | |\n' "$(fmt '%.1f' "$(median "${api_p99[@]}")")" "$(each '%.1f' "${api_p99[@]}")"
printf '| page p99 latency (ms) | %s | %s | |\n' "$(fmt '%.1f' "$(median "${page_p99[@]}")")" "$(each '%.1f' "${page_p99[@]}")"
printf '| non-2xx answers (sum, API / page) | %s / %s | | 0 |\n\n' "$(sum "${api_errors[@]}")" "$(sum "${page_errors[@]}")"
printf 'Report form weight (bytes, uncompressed; the service sends no compression): '
for w in "${weights[@]}"; do printf '%s HTML %s; ' ${w}; done
printf 'stylesheet %s (%s gzip -9); fonts 0 (system fonts). English form + stylesheet: %s bytes (HTML %s gzip -9).\n' \
    "$css" "$css_gz" "$(( $(echo "${weights[0]}" | awk '{print $2}') + css ))" "$html_gz"
