#!/usr/bin/env bash
# Anonymous report submissions per second (POST /api/v1/reports without a token), on
# PostgreSQL and on SQLite, each next to a baseline measured in the same run that owes nothing
# to the service's design: the database inserting rows shaped like one submission (a report of
# about 1 KiB, its key and an audit event) in one transaction, with no lock. On PostgreSQL,
# pgbench runs bench/intake_baseline.sql on the tables of bench/intake_baseline_tables.sql; on
# SQLite, examples/sqlite_intake_baseline.rs loops with one connection per thread (WAL,
# synchronous=FULL, SQLite's own locking and busy timeout). The service runs with every token
# bucket on, set high (TIPLINE_RATE_*=1000000 a minute: nothing is refused, but every submission
# takes a token from the database). While wrk runs, bench/sequenced.py polls the audit trail, to
# measure the time from a submission's commit until its audit event is sequenced (SPEC §15).
# Every measurement ends by checking its work: the baseline's three tables hold a row each for
# every transaction it counted; the service stored every acknowledged submission and the audit
# chain verifies (check_work in bench/lib.sh). What the figures mean and the targets:
# docs/BENCHMARKS.md.
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
#   BENCH_BUCKET_OFF=1  also measure the service with the submission bucket off
#                       (TIPLINE_RATE_SUBMIT=off), for the bucket's cost
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
# passed on to the server, except the TIPLINE_RATE_* buckets, which the script sets.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_RUNS:-3}
BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
SECONDS_EACH=${BENCH_SECONDS:-20}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
PORT=${BENCH_PORT:-18081}
BUCKET_OFF=${BENCH_BUCKET_OFF:-0}
WRK_THREADS=2
BODY_FILE=bench/intake.json
# How long the audit trail is still polled after wrk ends, so that the events committed at the
# end of the load are seen being sequenced (the target is 1 s).
SETTLE_SECONDS=3

need_count BENCH_RUNS "$RUNS"
need_count BENCH_SECONDS "$SECONDS_EACH"
need_count BENCH_CONNECTIONS "$CONNECTIONS"
need_count BENCH_PORT "$PORT"
[[ $BUCKET_OFF == 0 || $BUCKET_OFF == 1 ]] || die "BENCH_BUCKET_OFF must be 0 or 1"
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
release_build --bin tipline --example sqlite_intake_baseline
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

# --- measurements ------------------------------------------------------------------------

# The rate of every token bucket of the service when on: high enough never to refuse, so what is
# measured is their cost.
BUCKET_ON=1000000

# The service under wrk on DATABASE_URL $2, with the buckets $3: "on" (every bucket at
# BUCKET_ON a minute) or "off" (the submission bucket off, the others on), while
# bench/sequenced.py polls the audit trail. Sets svc_rate, svc_ok, svc_p99, svc_errors and
# seq_entries, seq_unseen, seq_p50, seq_p99, seq_max. $1: output prefix.
measure_service() {
    local out=$1 url=$2 submit=$BUCKET_ON t0 t1
    [[ $3 == on ]] || submit=off
    DATABASE_URL=$url TIPLINE_RATE_SUBMIT=$submit TIPLINE_RATE_REGISTER=$BUCKET_ON \
        TIPLINE_RATE_RECEIPT_FAILURES=$BUCKET_ON TIPLINE_RATE_UPLOAD=$BUCKET_ON start_server
    python3 bench/sequenced.py poll "$url" "$out-polls.txt" &
    background_pid=$!
    wait_idle
    cpu_mark
    t0=$(date +%s.%N)
    run_wrk "$out-wrk.txt" "-t$WRK_THREADS" "-c$CONNECTIONS" "-d${SECONDS_EACH}s" --timeout 30s --latency \
        -s bench/intake.lua "$BASE_URL/api/v1/reports"
    t1=$(date +%s.%N)
    foreign=$(foreign_cores)
    sleep "$SETTLE_SECONDS"
    kill -TERM "$background_pid" 2>/dev/null || true
    wait "$background_pid" || die "bench/sequenced.py poll failed"
    background_pid=""
    stop_server
    svc_rate=$(awk '$1 == "submissions_per_sec" { print $2 }' "$out-wrk.txt")
    [[ -n $svc_rate ]] || { cat "$out-wrk.txt" >&2; die "bench/intake.lua printed no submissions_per_sec"; }
    svc_ok=$(awk '$1 == "submissions_ok" { print $2 }' "$out-wrk.txt")
    svc_p99=$(percentile_ms "$out-wrk.txt" 99%) || die "no p99 in $out-wrk.txt"
    svc_errors=$(non_2xx "$out-wrk.txt")
    grep -E '^status |Socket errors' "$out-wrk.txt" | sed 's/^/    wrk: /' >&2 || true
    python3 bench/sequenced.py report "$url" "$out-polls.txt" "$t0" "$t1" >"$out-sequenced.txt" \
        || die "bench/sequenced.py report failed"
    seq_entries=$(awk '$1 == "sequenced_entries" { print $2 }' "$out-sequenced.txt")
    seq_unseen=$(awk '$1 == "sequenced_unseen" { print $2 }' "$out-sequenced.txt")
    seq_p50=$(awk '$1 == "sequenced_p50_ms" { print $2 }' "$out-sequenced.txt")
    seq_p99=$(awk '$1 == "sequenced_p99_ms" { print $2 }' "$out-sequenced.txt")
    seq_max=$(awk '$1 == "sequenced_max_ms" { print $2 }' "$out-sequenced.txt")
    [[ -n $seq_p99 ]] || die "bench/sequenced.py printed no p99"
    # Every acknowledged submission wrote an audit event during the load.
    ((seq_entries >= svc_ok)) || die "check: $seq_entries audit events in the load but $svc_ok submissions acknowledged"
    log "    audit events of the load: $seq_entries, commit to sequenced p50 $seq_p50 ms, p99 $seq_p99 ms, max $seq_max ms, never seen sequenced $seq_unseen"
}

# The rows of each of the baseline's three tables on DATABASE_URL $1, as "reports keys audit".
baseline_rows() {
    local table n counts=()
    for table in base_reports base_report_keys base_audit; do
        n=$(db_number "$1" "SELECT count(*) FROM $table") || die "check: cannot count $table"
        counts+=("$n")
    done
    printf '%s' "${counts[*]}"
}

# The baseline stored a report, a key and an audit row for each of the $2 transactions it
# counted, on DATABASE_URL $1. Sets checked.
check_baseline() {
    local reports keys audit
    read -r reports keys audit <<<"$(baseline_rows "$1")"
    ((reports == keys && keys == audit && reports >= $2)) \
        || die "check: the baseline counted $2 transactions but stored $reports reports, $keys keys, $audit audit rows"
    checked="$reports reports = keys = audit rows ≥ $2 transactions counted"
    log "    check: $checked"
}

# A random base64 text of $1 bytes, as sealed content is stored.
random_text() { head -c "$1" /dev/urandom | base64 -w0; }

# (a) The PostgreSQL baseline: pgbench inserting the three rows per transaction into tables of
# its own, in a fresh database of its own. Sets base.
pg_baseline() {
    local out=$1 failed processed
    base_p99=""
    drop_pg_db
    pg_created=1
    pg_admin -c "CREATE DATABASE \"$PG_DB\"" >&2
    pg_bench_db -f bench/intake_baseline_tables.sql >&2
    pg_admin -c "CHECKPOINT" >&2
    wait_idle
    cpu_mark
    # 768 random bytes are 1 024 characters of base64, 60 are 80.
    pgbench -n -M prepared "-c$CONNECTIONS" -j2 "-T$SECONDS_EACH" -D "body=$(random_text 768)" \
        -D "wrapped=$(random_text 60)" -f bench/intake_baseline.sql \
        -d "$PG_URL/$PG_DB" >"$out-pgbench.txt" 2>&1 || { cat "$out-pgbench.txt" >&2; die "pgbench failed"; }
    foreign=$(foreign_cores)
    base=$(awk '$1 == "tps" { print $3; exit }' "$out-pgbench.txt")
    [[ -n $base ]] || { cat "$out-pgbench.txt" >&2; die "pgbench printed no tps"; }
    failed=$(awk -F': *' '$1 == "number of failed transactions" { split($2, a, " "); print a[1] }' "$out-pgbench.txt")
    [[ ${failed:-0} == 0 ]] || { cat "$out-pgbench.txt" >&2; die "pgbench had failed transactions"; }
    processed=$(awk -F': *' '$1 == "number of transactions actually processed" { print $2 }' "$out-pgbench.txt")
    [[ -n $processed ]] || { cat "$out-pgbench.txt" >&2; die "pgbench printed no count of transactions"; }
    check_baseline "$PG_URL/$PG_DB" "$processed"
    log "    PostgreSQL baseline: $base tx/s (other processes: $foreign cores)"
}

# (b) The service on a fresh PostgreSQL database, the buckets $2 (on, off). Sets svc_*, seq_*.
pg_service() {
    local out=$1
    fresh_pg
    measure_service "$out-pg-$2" "$PG_URL/$PG_DB" "$2"
    check_work "$PG_URL/$PG_DB" 0 "$svc_ok"
    log "    PostgreSQL service, buckets $2: $svc_rate submissions/s, p99 $svc_p99 ms, $svc_errors non-2xx (other processes: $foreign cores)"
}

# (a) The SQLite baseline: the native loop on a fresh file of its own. Sets base, base_p99.
sqlite_baseline() {
    local out=$1 db="$TIPLINE_DATA_DIR/baseline.db" committed
    rm -f "$db" "$db-wal" "$db-shm"
    wait_idle
    cpu_mark
    (cd "$tmp" && exec "$SQLITE_BASELINE" "$db" --threads "$CONNECTIONS" --seconds "$SECONDS_EACH") \
        >"$out-sqlite-base.txt" 2>"$out-sqlite-base.err" \
        || { cat "$out-sqlite-base.err" >&2; die "sqlite_intake_baseline failed"; }
    foreign=$(foreign_cores)
    base=$(awk -F= '$1 == "sqlite_baseline_tx_per_sec" { print $2 }' "$out-sqlite-base.txt")
    [[ -n $base ]] || die "sqlite_intake_baseline printed no rate"
    base_p99=$(awk -F= '$1 == "sqlite_baseline_p99_ms" { print $2 }' "$out-sqlite-base.txt")
    [[ -n $base_p99 ]] || die "sqlite_intake_baseline printed no p99"
    committed=$(awk -F= '$1 == "sqlite_baseline_committed" { print $2 }' "$out-sqlite-base.txt")
    [[ -n $committed ]] || die "sqlite_intake_baseline printed no count of transactions"
    check_baseline "sqlite://$db" "$committed"
    log "    SQLite baseline: $base tx/s, p99 per transaction $base_p99 ms (other processes: $foreign cores)"
}

# (b) The service on a fresh SQLite file, the buckets $2 (on, off). Sets svc_*, seq_*.
sqlite_service() {
    local out=$1
    fresh_sqlite
    measure_service "$out-sqlite-$2" "sqlite://$TIPLINE_DATA_DIR/bench.db" "$2"
    check_work "sqlite://$TIPLINE_DATA_DIR/bench.db" 0 "$svc_ok"
    log "    SQLite service, buckets $2: $svc_rate submissions/s, p99 $svc_p99 ms, $svc_errors non-2xx (other processes: $foreign cores)"
}

# Per backend (pg, sq), one value per run of: the baseline, its p99 (SQLite), the service with
# the buckets on, its ratio to the baseline, its p99, its non-2xx answers, the time from commit to
# sequenced (p50, p99, max, events never seen sequenced); with BENCH_BUCKET_OFF=1, the service
# with the submission bucket off and on ÷ off.
for b in pg sq; do
    for f in base base_p99 svc ratio p99 errors seq_p50 seq_p99 seq_max seq_unseen off off_ratio; do
        declare -a "${b}_$f=()"
    done
done
checks=()

# Appends $3 to the array ${1}_$2.
push() { local -n array="${1}_$2"; array+=("$3"); }

# One run on backend $1 (pg: PostgreSQL, sq: SQLite), the measurements in the order $2.
run_backend() {
    local b=$1 order=$2 side name base_fn svc_fn b_rate="" b_p99="" on="" off="" errors=0
    if [[ $b == pg ]]; then name=PostgreSQL base_fn=pg_baseline svc_fn=pg_service; else name=SQLite base_fn=sqlite_baseline svc_fn=sqlite_service; fi
    for side in $order; do
        case $side in
            baseline)
                measure_undisturbed "$base_fn" "$out"
                b_rate=$base b_p99=${base_p99:-}
                checks+=("run $run, $name baseline: $checked")
                ;;
            service)
                measure_undisturbed "$svc_fn" "$out" on
                on=$svc_rate errors=$((errors + svc_errors))
                push "$b" p99 "$svc_p99"
                push "$b" seq_p50 "$seq_p50"
                push "$b" seq_p99 "$seq_p99"
                push "$b" seq_max "$seq_max"
                push "$b" seq_unseen "$seq_unseen"
                checks+=("run $run, $name service, buckets on: $checked; $seq_entries audit events of the load, $seq_unseen never seen sequenced")
                ;;
            off)
                measure_undisturbed "$svc_fn" "$out" off
                off=$svc_rate errors=$((errors + svc_errors))
                checks+=("run $run, $name service, submission bucket off: $checked")
                ;;
        esac
    done
    push "$b" base "$b_rate"
    push "$b" base_p99 "$b_p99"
    push "$b" svc "$on"
    push "$b" ratio "$(ratio "$on" "$b_rate")"
    push "$b" errors "$errors"
    if ((BUCKET_OFF)); then
        push "$b" off "$off"
        push "$b" off_ratio "$(ratio "$on" "$off")"
    fi
    log "    $name: service ÷ baseline $(ratio "$on" "$b_rate")"
}

for ((run = 1; run <= RUNS; run++)); do
    out="$tmp/run$run"
    # Odd runs measure the baseline first, even runs the service first, so that a drift in the
    # machine's state does not always favour the same side.
    if ((run % 2)); then order="baseline service"; else order="service baseline"; fi
    if ((BUCKET_OFF)); then
        if ((run % 2)); then order+=" off"; else order="off $order"; fi
    fi
    log "==> run $run of $RUNS ($order)"
    ((do_pg == 0)) || run_backend pg "$order"
    ((do_sqlite == 0)) || run_backend sq "$order"
done

# --- summary -----------------------------------------------------------------------------

pg_version=""
((do_pg == 0)) || pg_version=$(pg_server_version)

# The median of a list that may hold "inf" (events never seen sequenced).
median_inf() { if printf '%s\n' "$@" | grep -qx inf; then median "$(printf '%s\n' "$@" | sed 's/^inf$/1e99/')"; else median "$@"; fi; }
ms_or_inf() { awk -v v="$1" 'BEGIN { if (v + 0 >= 1e98) print "inf"; else printf "%.1f", v }'; }

cat <<EOF2

### $(date -u +%Y-%m-%d) · commit $commit · intake

$(machine)${pg_version:+, PostgreSQL $pg_version}. $RUNS run(s): the median, then each run in order; ratios are taken within each run.
$CONNECTIONS connections for $SECONDS_EACH s per measurement; body \`$BODY_FILE\` (narrative $NARRATIVE_BYTES bytes, contact $CONTACT_BYTES bytes); every token bucket at $BUCKET_ON a minute.
Cores that other processes kept busy during each measurement, in order: $(each %.2f "${foreign_seen[@]}") (a measurement above $MAX_FOREIGN is repeated, up to $ATTEMPTS times).

| figure | median | runs | target |
| --- | ---: | --- | --- |
EOF2
# The rows of backend $1 (pg, sq), named $2, with the ratio target $3.
summary_rows() {
    local b=$1 name=$2 target=$3 what m
    local -n base=${b}_base base_p99=${b}_base_p99 svc=${b}_svc ratios=${b}_ratio p99=${b}_p99 errors=${b}_errors
    local -n seq_p50=${b}_seq_p50 seq_p99=${b}_seq_p99 seq_max=${b}_seq_max unseen=${b}_seq_unseen
    local -n off=${b}_off off_ratio=${b}_off_ratio
    if [[ $b == pg ]]; then what="pgbench tx/s, three INSERTs a transaction"; else what="native loop tx/s, three INSERTs a transaction"; fi
    m=$(median "${ratios[@]}")
    echo "| $name baseline, $what | $(fmt %.1f "$(median "${base[@]}")") | $(each %.1f "${base[@]}") | |"
    [[ $b == pg ]] || echo "| $name baseline p99 per transaction, lock wait included (ms) | $(fmt %.1f "$(median "${base_p99[@]}")") | $(each %.1f "${base_p99[@]}") | |"
    echo "| $name service submissions/s (2xx only) | $(fmt %.1f "$(median "${svc[@]}")") | $(each %.1f "${svc[@]}") | |"
    echo "| $name service ÷ baseline | $(fmt %.3f "$m") | $(each %.3f "${ratios[@]}") | ≥ $target: $(meets "$m" ">=" "$target") |"
    echo "| $name service p99 latency (ms) | $(fmt %.1f "$(median "${p99[@]}")") | $(each %.1f "${p99[@]}") | |"
    m=$(median_inf "${seq_p99[@]}")
    echo "| $name commit to sequenced, p50 (ms) | $(ms_or_inf "$(median_inf "${seq_p50[@]}")") | $(each %s "${seq_p50[@]}") | |"
    echo "| $name commit to sequenced, p99 (ms) | $(ms_or_inf "$m") | $(each %s "${seq_p99[@]}") | ≤ 1000: $(meets "$m" "<=" 1000) |"
    echo "| $name commit to sequenced, max (ms) | $(ms_or_inf "$(median_inf "${seq_max[@]}")") | $(each %s "${seq_max[@]}") | |"
    echo "| $name audit events never seen sequenced (sum) | $(sum "${unseen[@]}") | $(each %d "${unseen[@]}") | 0 |"
    if ((BUCKET_OFF)); then
        echo "| $name service submissions/s, submission bucket off | $(fmt %.1f "$(median "${off[@]}")") | $(each %.1f "${off[@]}") | |"
        echo "| $name buckets on ÷ submission bucket off | $(fmt %.3f "$(median "${off_ratio[@]}")") | $(each %.3f "${off_ratio[@]}") | |"
    fi
    echo "| $name non-2xx answers (sum) | $(sum "${errors[@]}") | $(each %d "${errors[@]}") | 0 |"
}
((do_pg == 0)) || summary_rows pg PostgreSQL 0.70
((do_sqlite == 0)) || summary_rows sq SQLite 0.60
printf '\nChecked after each measurement:\n'
printf -- '- %s\n' "${checks[@]}"
