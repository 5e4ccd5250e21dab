#!/usr/bin/env bash
# Anonymous report submissions per second (POST /api/v1/reports without a token), on
# PostgreSQL and on SQLite, each next to a baseline measured in the same run: the same SQL the
# service issues for one submission, replayed directly against the database. The service is
# measured twice per run: with the submission token bucket off (TIPLINE_RATE_SUBMIT=off) and on,
# set high (TIPLINE_RATE_SUBMIT=1000000 a minute, so it never refuses but every submission takes a
# token from the database). Every measurement of the service ends by checking its work: every
# acknowledged submission is stored and the audit chain verifies (check_work in bench/lib.sh).
# What the figures mean and the targets: docs/BENCHMARKS.md.
#
#   bash bench/intake.sh                # progress on stderr, Markdown summary on stdout
#
# Needs wrk, curl, python3, psql and pgbench (PostgreSQL's client tools), a Rust toolchain,
# Linux, and for the PostgreSQL half a server where the user may create databases.
#
# Environment:
#   BENCH_RUNS          repetitions; the summary gives medians (default 3)
#   BENCH_BACKENDS      which halves to run: "postgres sqlite" (default), "postgres" or "sqlite"
#   BENCH_PG_URL        the PostgreSQL server, without a database name
#                       (default postgres://postgres@127.0.0.1:5432)
#   BENCH_PG_DB         the throwaway database this script creates, recreates for every
#                       measurement and drops at the end (default tipline_bench_intake; the
#                       name must start with tipline_bench)
#   BENCH_SECONDS       length of each measurement (default 20)
#   BENCH_CONNECTIONS   concurrent connections: wrk's -c, pgbench's -c, the baseline's threads
#                       (default 16)
#   BENCH_PORT          port on 127.0.0.1 for the server (default 18081)
#   BENCH_IDLE_PCT      before each measurement, wait until the CPUs are at least this idle over
#                       2 s (default 90; 0 = do not wait) ...
#   BENCH_IDLE_WAIT     ... for at most this many seconds (default 600)
#   BENCH_MAX_FOREIGN   a measurement during which other processes kept more than this many
#                       cores busy on average is repeated (default 0.10) ...
#   BENCH_ATTEMPTS      ... up to this many times in all (default 5)
#   BENCH_SKIP_BUILD=1  use the binaries already built instead of running cargo build
#   BENCH_KEEP=1        keep the temporary folder (outputs, server log); it is always kept when
#                       the script fails
# The build honours CARGO_TARGET_DIR. TIPLINE_DB_POOL_SIZE and the other TIPLINE_* settings are
# passed on to the server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_RUNS:-3}
BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
SECONDS_EACH=${BENCH_SECONDS:-20}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
PORT=${BENCH_PORT:-18081}
WRK_THREADS=2
BODY_FILE=bench/intake.json

need_count BENCH_RUNS "$RUNS"
need_count BENCH_SECONDS "$SECONDS_EACH"
need_count BENCH_CONNECTIONS "$CONNECTIONS"
need_count BENCH_PORT "$PORT"
((CONNECTIONS >= WRK_THREADS)) || die "BENCH_CONNECTIONS must be at least $WRK_THREADS"
machine_settings
do_pg=0 do_sqlite=0
for backend in $BACKENDS; do
    case $backend in
        postgres) do_pg=1 ;;
        sqlite) do_sqlite=1 ;;
        *) die "BENCH_BACKENDS: unknown backend $backend (postgres, sqlite)" ;;
    esac
done
((do_pg + do_sqlite > 0)) || die "BENCH_BACKENDS names no backend"
((do_pg == 0)) || pg_settings tipline_bench_intake

need_tools wrk curl awk sort python3
((do_pg == 0)) || need_tools psql pgbench
[[ -r $BODY_FILE ]] || die "$BODY_FILE is missing"

commit=$(source_commit)
release_build --bin tipline --example bench_sql --example sqlite_intake_baseline
SQLITE_BASELINE="$TARGET_DIR/release/examples/sqlite_intake_baseline"

bench_setup intake
export BENCH_BODY_FILE="$PWD/$BODY_FILE"

# A fresh, migrated PostgreSQL database, and a checkpoint so that no earlier writes are
# flushed during the measurement.
fresh_pg() {
    create_pg_db
    pg_admin -c "CHECKPOINT" >&2
}

# A fresh, migrated SQLite file.
fresh_sqlite() {
    rm -f "$TIPLINE_DATA_DIR"/bench.db "$TIPLINE_DATA_DIR"/bench.db-wal "$TIPLINE_DATA_DIR"/bench.db-shm
    DATABASE_URL="sqlite://$TIPLINE_DATA_DIR/bench.db" tipline migrate >/dev/null
    sync
}

# Plaintext bytes of the sealed fields of the body, for the summary.
read -r NARRATIVE_BYTES CONTACT_BYTES < <(python3 -c '
import json, sys
body = json.load(open(sys.argv[1], encoding="utf-8"))
print(len(body["narrative"].encode()), len(body.get("contact", "").encode()))
' "$BODY_FILE")

# The pgbench script: the statements the service runs for one submission of the body, written
# by the service's own queries.
if ((do_pg)); then
    bench_sql intake-pg "$PWD/$BODY_FILE" >"$tmp/intake_pg.sql" || die "bench_sql failed"
fi

# --- measurements ------------------------------------------------------------------------

# The service under wrk; sets svc_rate, svc_ok, svc_p99, svc_errors. $1: output prefix.
measure_service() {
    local out=$1
    start_server
    wait_idle
    cpu_mark
    run_wrk "$out-wrk.txt" "-t$WRK_THREADS" "-c$CONNECTIONS" "-d${SECONDS_EACH}s" --timeout 30s --latency \
        -s bench/intake.lua "$BASE_URL/api/v1/reports"
    foreign=$(foreign_cores)
    stop_server
    svc_rate=$(awk '$1 == "submissions_per_sec" { print $2 }' "$out-wrk.txt")
    [[ -n $svc_rate ]] || { cat "$out-wrk.txt" >&2; die "bench/intake.lua printed no submissions_per_sec"; }
    svc_ok=$(awk '$1 == "submissions_ok" { print $2 }' "$out-wrk.txt")
    svc_p99=$(percentile_ms "$out-wrk.txt" 99%) || die "no p99 in $out-wrk.txt"
    svc_errors=$(non_2xx "$out-wrk.txt")
    grep -E '^status |Socket errors' "$out-wrk.txt" | sed 's/^/    wrk: /' >&2 || true
}

# (a) The PostgreSQL baseline: pgbench replays the service's SQL on a fresh database. Sets base.
pg_baseline() {
    local out=$1 failed
    fresh_pg
    # The script appends to the audit trail after its newest entry: the service writes a first one.
    DATABASE_URL="$PG_URL/$PG_DB" tipline audit verify >/dev/null
    wait_idle
    cpu_mark
    pgbench -n -M prepared "-c$CONNECTIONS" -j2 "-T$SECONDS_EACH" -f "$tmp/intake_pg.sql" \
        -d "$PG_URL/$PG_DB" >"$out-pgbench.txt" 2>&1 || { cat "$out-pgbench.txt" >&2; die "pgbench failed"; }
    base=$(awk '$1 == "tps" { print $3; exit }' "$out-pgbench.txt")
    [[ -n $base ]] || { cat "$out-pgbench.txt" >&2; die "pgbench printed no tps"; }
    failed=$(awk -F': *' '$1 == "number of failed transactions" { split($2, a, " "); print a[1] }' "$out-pgbench.txt")
    [[ ${failed:-0} == 0 ]] || { cat "$out-pgbench.txt" >&2; die "pgbench had failed transactions"; }
    foreign=$(foreign_cores)
    log "    PostgreSQL baseline: $base tx/s (other processes: $foreign cores)"
}

# (b) The service on a fresh PostgreSQL database, the bucket $2 (off, or a rate a minute). Sets svc_*.
pg_service() {
    local out=$1
    fresh_pg
    DATABASE_URL="$PG_URL/$PG_DB" TIPLINE_RATE_SUBMIT=$2 measure_service "$out-pg-$2"
    check_work "$PG_URL/$PG_DB" 0 "$svc_ok"
    log "    PostgreSQL service, bucket $2: $svc_rate submissions/s, p99 $svc_p99 ms, $svc_errors non-2xx (other processes: $foreign cores)"
}

# (a) The SQLite baseline: the same SQL from a native loop with the service's pragmas. Sets base.
sqlite_baseline() {
    local out=$1
    fresh_sqlite
    wait_idle
    cpu_mark
    (cd "$tmp" && exec "$SQLITE_BASELINE" "$TIPLINE_DATA_DIR/bench.db" --threads "$CONNECTIONS" \
        --seconds "$SECONDS_EACH" --body "$BENCH_BODY_FILE") \
        >"$out-sqlite-base.txt" 2>"$out-sqlite-base.err" \
        || { cat "$out-sqlite-base.err" >&2; die "sqlite_intake_baseline failed"; }
    base=$(awk -F= '$1 == "sqlite_baseline_tx_per_sec" { print $2 }' "$out-sqlite-base.txt")
    [[ -n $base ]] || die "sqlite_intake_baseline printed no rate"
    base_p99=$(awk -F= '$1 == "sqlite_baseline_p99_ms" { print $2 }' "$out-sqlite-base.txt")
    [[ -n $base_p99 ]] || die "sqlite_intake_baseline printed no p99"
    foreign=$(foreign_cores)
    log "    SQLite baseline: $base tx/s, p99 per transaction $base_p99 ms (other processes: $foreign cores)"
}

# (b) The service on a fresh SQLite file, the bucket $2 (off, or a rate a minute). Sets svc_*.
sqlite_service() {
    local out=$1
    fresh_sqlite
    DATABASE_URL="sqlite://$TIPLINE_DATA_DIR/bench.db" TIPLINE_RATE_SUBMIT=$2 measure_service "$out-sqlite-$2"
    check_work "sqlite://$TIPLINE_DATA_DIR/bench.db" 0 "$svc_ok"
    log "    SQLite service, bucket $2: $svc_rate submissions/s, p99 $svc_p99 ms, $svc_errors non-2xx (other processes: $foreign cores)"
}

# The bucket's rate when on: high enough never to refuse, so what is measured is its cost.
BUCKET_ON=1000000

pg_base=() pg_svc=() pg_ratio=() pg_p99=() pg_errors=() pg_on=() pg_on_ratio=() pg_on_p99=()
sq_base=() sq_base_p99=() sq_svc=() sq_ratio=() sq_p99=() sq_errors=() sq_on=() sq_on_ratio=() sq_on_p99=()
checks=()

for ((run = 1; run <= RUNS; run++)); do
    out="$tmp/run$run"
    # Odd runs measure the baseline first, even runs the service first, so that a drift in the
    # machine's state does not always favour the same side.
    if ((run % 2)); then order="baseline service on"; else order="on service baseline"; fi
    log "==> run $run of $RUNS ($order)"
    if ((do_pg)); then
        for side in $order; do
            case $side in
                baseline) measure_undisturbed pg_baseline "$out"; b=$base ;;
                service) measure_undisturbed pg_service "$out" off; off=$svc_rate off_p99=$svc_p99 off_errors=$svc_errors ;;
                on) measure_undisturbed pg_service "$out" "$BUCKET_ON"; on=$svc_rate on_p99=$svc_p99 on_errors=$svc_errors ;;
            esac
            [[ $side == baseline ]] || checks+=("run $run, PostgreSQL, bucket ${side/service/off}: $checked")
        done
        pg_base+=("$b") pg_svc+=("$off") pg_ratio+=("$(ratio "$off" "$b")")
        pg_p99+=("$off_p99") pg_errors+=("$((off_errors + on_errors))")
        pg_on+=("$on") pg_on_ratio+=("$(ratio "$on" "$off")") pg_on_p99+=("$on_p99")
        log "    PostgreSQL: service ÷ baseline $(ratio "$off" "$b"); bucket on ÷ off $(ratio "$on" "$off")"
    fi
    if ((do_sqlite)); then
        for side in $order; do
            case $side in
                baseline) measure_undisturbed sqlite_baseline "$out"; b=$base b_p99=$base_p99 ;;
                service) measure_undisturbed sqlite_service "$out" off; off=$svc_rate off_p99=$svc_p99 off_errors=$svc_errors ;;
                on) measure_undisturbed sqlite_service "$out" "$BUCKET_ON"; on=$svc_rate on_p99=$svc_p99 on_errors=$svc_errors ;;
            esac
            [[ $side == baseline ]] || checks+=("run $run, SQLite, bucket ${side/service/off}: $checked")
        done
        sq_base+=("$b") sq_base_p99+=("$b_p99") sq_svc+=("$off") sq_ratio+=("$(ratio "$off" "$b")")
        sq_p99+=("$off_p99") sq_errors+=("$((off_errors + on_errors))")
        sq_on+=("$on") sq_on_ratio+=("$(ratio "$on" "$off")") sq_on_p99+=("$on_p99")
        log "    SQLite: service ÷ baseline $(ratio "$off" "$b"); bucket on ÷ off $(ratio "$on" "$off")"
    fi
done

# --- summary -----------------------------------------------------------------------------

pg_version=""
((do_pg == 0)) || pg_version=$(pg_server_version)

cat <<EOF

### $(date -u +%Y-%m-%d) · commit $commit · intake

$(machine)${pg_version:+, PostgreSQL $pg_version}. $RUNS run(s): the median, then each run in order; ratios are taken within each run.
$CONNECTIONS connections for $SECONDS_EACH s per measurement; body \`$BODY_FILE\` (narrative $NARRATIVE_BYTES bytes, contact $CONTACT_BYTES bytes).
Cores that other processes kept busy during each measurement, in order: $(each %.2f "${foreign_seen[@]}") (a measurement above $MAX_FOREIGN is repeated, up to $ATTEMPTS times).

| figure | median | runs | target |
| --- | ---: | --- | --- |
EOF
if ((do_pg)); then
    m=$(median "${pg_ratio[@]}")
    cat <<EOF
| PostgreSQL baseline, pgbench tx/s | $(fmt %.1f "$(median "${pg_base[@]}")") | $(each %.1f "${pg_base[@]}") | |
| PostgreSQL service submissions/s (2xx only) | $(fmt %.1f "$(median "${pg_svc[@]}")") | $(each %.1f "${pg_svc[@]}") | |
| PostgreSQL service ÷ baseline | $(fmt %.3f "$m") | $(each %.3f "${pg_ratio[@]}") | ≥ 0.70: $(meets "$m" ">=" 0.70) |
| PostgreSQL service p99 latency (ms) | $(fmt %.1f "$(median "${pg_p99[@]}")") | $(each %.1f "${pg_p99[@]}") | |
| PostgreSQL service submissions/s, bucket on ($BUCKET_ON a minute) | $(fmt %.1f "$(median "${pg_on[@]}")") | $(each %.1f "${pg_on[@]}") | |
| PostgreSQL bucket on ÷ bucket off | $(fmt %.3f "$(median "${pg_on_ratio[@]}")") | $(each %.3f "${pg_on_ratio[@]}") | |
| PostgreSQL service p99 latency, bucket on (ms) | $(fmt %.1f "$(median "${pg_on_p99[@]}")") | $(each %.1f "${pg_on_p99[@]}") | |
| PostgreSQL non-2xx answers, both measurements (sum) | $(sum "${pg_errors[@]}") | $(each %d "${pg_errors[@]}") | 0 |
EOF
fi
if ((do_sqlite)); then
    m=$(median "${sq_ratio[@]}")
    cat <<EOF
| SQLite baseline, native loop tx/s | $(fmt %.1f "$(median "${sq_base[@]}")") | $(each %.1f "${sq_base[@]}") | |
| SQLite service submissions/s (2xx only) | $(fmt %.1f "$(median "${sq_svc[@]}")") | $(each %.1f "${sq_svc[@]}") | |
| SQLite service ÷ baseline | $(fmt %.3f "$m") | $(each %.3f "${sq_ratio[@]}") | ≥ 0.60: $(meets "$m" ">=" 0.60) |
| SQLite baseline p99 per transaction, lock wait included (ms) | $(fmt %.1f "$(median "${sq_base_p99[@]}")") | $(each %.1f "${sq_base_p99[@]}") | |
| SQLite service p99 latency (ms) | $(fmt %.1f "$(median "${sq_p99[@]}")") | $(each %.1f "${sq_p99[@]}") | |
| SQLite service submissions/s, bucket on ($BUCKET_ON a minute) | $(fmt %.1f "$(median "${sq_on[@]}")") | $(each %.1f "${sq_on[@]}") | |
| SQLite bucket on ÷ bucket off | $(fmt %.3f "$(median "${sq_on_ratio[@]}")") | $(each %.3f "${sq_on_ratio[@]}") | |
| SQLite service p99 latency, bucket on (ms) | $(fmt %.1f "$(median "${sq_on_p99[@]}")") | $(each %.1f "${sq_on_p99[@]}") | |
| SQLite non-2xx answers, both measurements (sum) | $(sum "${sq_errors[@]}") | $(each %d "${sq_errors[@]}") | 0 |
EOF
fi
printf '\nChecked after each measurement of the service:\n'
printf -- '- %s\n' "${checks[@]}"
