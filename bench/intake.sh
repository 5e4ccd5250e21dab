#!/usr/bin/env bash
# Anonymous report submissions per second (POST /api/v1/reports without a token), on
# PostgreSQL and on SQLite, each next to a baseline measured in the same run: the same SQL the
# service issues for one submission, replayed directly against the database.
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
#   BENCH_SKIP_BUILD=1  use the binaries already built instead of running cargo build
#   BENCH_KEEP=1        keep the temporary folder (outputs, server log); it is always kept when
#                       the script fails
# The build honours CARGO_TARGET_DIR. TIPLINE_DB_POOL_SIZE and the other TIPLINE_* settings are
# passed on to the server.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C

RUNS=${BENCH_RUNS:-3}
BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
PG_DB=${BENCH_PG_DB:-tipline_bench_intake}
SECONDS_EACH=${BENCH_SECONDS:-20}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
PORT=${BENCH_PORT:-18081}
WRK_THREADS=2
BODY_FILE=bench/intake.json

BASE_URL="http://127.0.0.1:$PORT"
PG_URL=${PG_URL%/}

log() { printf '%s\n' "$*" >&2; }
die() { log "bench/intake.sh: $*"; exit 1; }

is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_count "$RUNS" || die "BENCH_RUNS must be a positive whole number"
is_count "$SECONDS_EACH" || die "BENCH_SECONDS must be a positive whole number"
is_count "$CONNECTIONS" || die "BENCH_CONNECTIONS must be a positive whole number"
is_count "$PORT" || die "BENCH_PORT must be a port number"
((CONNECTIONS >= WRK_THREADS)) || die "BENCH_CONNECTIONS must be at least $WRK_THREADS"
[[ $PG_DB =~ ^tipline_bench[a-z0-9_]*$ ]] || die "BENCH_PG_DB must start with tipline_bench (lower case, digits, _)"
[[ $PG_URL =~ ^postgres(ql)?:// ]] || die "BENCH_PG_URL must be a postgres:// URL without a database name"
[[ ${PG_URL#*://} != */* ]] || die "BENCH_PG_URL must not name a database; set BENCH_PG_DB"
do_pg=0 do_sqlite=0
for backend in $BACKENDS; do
    case $backend in
        postgres) do_pg=1 ;;
        sqlite) do_sqlite=1 ;;
        *) die "BENCH_BACKENDS: unknown backend $backend (postgres, sqlite)" ;;
    esac
done
((do_pg + do_sqlite > 0)) || die "BENCH_BACKENDS names no backend"

tools=(wrk curl awk sort python3)
((do_pg == 0)) || tools+=(psql pgbench)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install wrk curl python3 postgresql-client)"
done
[[ -r $BODY_FILE ]] || die "$BODY_FILE is missing"

target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir="$PWD/$target_dir"
TIPLINE="$target_dir/release/tipline"
SQLITE_BASELINE="$target_dir/release/examples/sqlite_intake_baseline"

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "==> cargo build --release --examples --bin tipline"
    cargo build --release --examples --bin tipline >&2
fi
[[ -x $TIPLINE ]] || die "$TIPLINE is missing"
((do_sqlite == 0)) || [[ -x $SQLITE_BASELINE ]] || die "$SQLITE_BASELINE is missing"

# --- set-up and clean-up -----------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tipline-bench-intake.XXXXXX")
server_pid=""
pg_created=0

alive() {
    [[ -n $1 && -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

stop_server() {
    [[ -n $server_pid ]] || return 0
    if alive "$server_pid"; then
        kill -TERM "$server_pid" 2>/dev/null || true
        local _
        for _ in $(seq 1 400); do
            alive "$server_pid" || break
            sleep 0.1
        done
        if alive "$server_pid"; then
            log "warning: the server did not stop within 40 s of SIGTERM; killing it"
            kill -KILL "$server_pid" 2>/dev/null || true
        fi
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# psql on the maintenance database of the server, for CREATE/DROP DATABASE and CHECKPOINT.
pg_admin() { psql -X -q -v ON_ERROR_STOP=1 -d "$PG_URL/postgres" "$@"; }
pg_bench_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$PG_URL/$PG_DB" "$@"; }

drop_pg_db() {
    pg_admin -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >&2
}

cleanup() {
    local status=$?
    stop_server
    if ((pg_created)); then
        drop_pg_db || log "warning: could not drop the database $PG_DB"
    fi
    if [[ $status -ne 0 || ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $tmp (outputs, server.log)"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export TIPLINE_DATA_DIR="$tmp/data"
export TIPLINE_BIND="127.0.0.1:$PORT"
export RUST_LOG=warn
export BENCH_BODY_FILE="$PWD/$BODY_FILE"
mkdir -p "$TIPLINE_DATA_DIR"

# The binaries run in the temporary folder, so that no .env in the working tree applies.
tipline() { (cd "$tmp" && exec "$TIPLINE" "$@"); }

port_free() { ! curl -fsS -o /dev/null --max-time 2 "$BASE_URL/readyz" 2>/dev/null; }
port_free || die "something already answers on $BASE_URL; set BENCH_PORT"

start_server() {
    port_free || die "something already answers on $BASE_URL; set BENCH_PORT"
    (cd "$tmp" && exec "$TIPLINE" serve) >>"$tmp/server.log" 2>&1 &
    server_pid=$!
    local _
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null --max-time 2 "$BASE_URL/readyz" 2>/dev/null; then
            return 0
        fi
        if ! alive "$server_pid"; then
            tail -n 20 "$tmp/server.log" >&2 || true
            die "the server exited before it was ready"
        fi
        sleep 0.2
    done
    die "the server was not ready within 60 s"
}

# A fresh, migrated PostgreSQL database, and a checkpoint so that no earlier writes are
# flushed during the measurement.
fresh_pg() {
    drop_pg_db
    pg_created=1
    pg_admin -c "CREATE DATABASE \"$PG_DB\"" >&2
    DATABASE_URL="$PG_URL/$PG_DB" tipline migrate >/dev/null
    pg_admin -c "CHECKPOINT" >&2
}

# A fresh, migrated SQLite file.
fresh_sqlite() {
    rm -f "$TIPLINE_DATA_DIR"/bench.db "$TIPLINE_DATA_DIR"/bench.db-wal "$TIPLINE_DATA_DIR"/bench.db-shm
    DATABASE_URL="sqlite://$TIPLINE_DATA_DIR/bench.db" tipline migrate >/dev/null
    sync
}

# --- what one submission stores ------------------------------------------------------------

# Plaintext bytes of the sealed fields of the body.
read -r NARRATIVE_BYTES CONTACT_BYTES < <(python3 -c '
import json, sys
body = json.load(open(sys.argv[1], encoding="utf-8"))
print(len(body["narrative"].encode()), len(body.get("contact", "").encode()))
' "$BODY_FILE")
# A value sealed like the service seals it: "v1." + base64url(24-byte nonce, ciphertext, 16-byte tag).
sealed() {
    python3 -c '
import base64, os, sys
print("v1." + base64.urlsafe_b64encode(os.urandom(int(sys.argv[1]) + 40)).decode().rstrip("="))
' "$1"
}
PG_VARS=(
    -D "narrative=$(sealed "$NARRATIVE_BYTES")"
    -D "contact=$(sealed "$CONTACT_BYTES")"
    -D "wrapped=$(sealed 32)"
    -D "master_key_id=$(python3 -c 'import os; print(os.urandom(8).hex())')"
)

# --- measurements ------------------------------------------------------------------------

p99_ms() {
    awk '
        $1 == "99%" {
            value = $2
            match(value, /^[0-9.]+/)
            number = substr(value, 1, RLENGTH) + 0
            unit = substr(value, RLENGTH + 1)
            if (unit == "us") factor = 0.001
            else if (unit == "ms") factor = 1
            else if (unit == "s") factor = 1000
            else if (unit == "m") factor = 60000
            else exit 1
            printf "%.3f", number * factor
            found = 1
        }
        END { exit !found }
    ' "$1"
}
non_2xx() {
    awk -F': *' '$1 ~ /Non-2xx or 3xx responses/ { n = $2 } END { print n + 0 }' "$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }
load1() { awk '{ print $1 }' /proc/loadavg; }

# The service under wrk; sets svc_rate, svc_p99, svc_errors. $1: output prefix.
measure_service() {
    local out=$1
    start_server
    wrk "-t$WRK_THREADS" "-c$CONNECTIONS" "-d${SECONDS_EACH}s" --latency -s bench/intake.lua \
        "$BASE_URL/api/v1/reports" >"$out-wrk.txt" 2>&1 || { cat "$out-wrk.txt" >&2; die "wrk failed"; }
    stop_server
    grep -q '^Requests/sec:' "$out-wrk.txt" || { cat "$out-wrk.txt" >&2; die "wrk failed"; }
    svc_rate=$(awk '$1 == "submissions_per_sec" { print $2 }' "$out-wrk.txt")
    [[ -n $svc_rate ]] || { cat "$out-wrk.txt" >&2; die "bench/intake.lua printed no submissions_per_sec"; }
    svc_ok=$(awk '$1 == "submissions_ok" { print $2 }' "$out-wrk.txt")
    svc_p99=$(p99_ms "$out-wrk.txt") || die "no p99 in $out-wrk.txt"
    svc_errors=$(non_2xx "$out-wrk.txt")
    grep -E '^status |Socket errors' "$out-wrk.txt" | sed 's/^/    wrk: /' >&2 || true
}

pg_base=() pg_svc=() pg_ratio=() pg_p99=() pg_errors=()
sq_base=() sq_svc=() sq_ratio=() sq_p99=() sq_errors=()
loads=()

for ((run = 1; run <= RUNS; run++)); do
    out="$tmp/run$run"
    log "==> run $run of $RUNS (load average $(load1))"
    loads+=("$(load1)")

    if ((do_pg)); then
        # (a) the PostgreSQL baseline: pgbench replays the service's SQL.
        fresh_pg
        pg_bench_db -c "INSERT INTO audit_log (seq, at, action, details, prev_hash, hash)
            VALUES (1, now() AT TIME ZONE 'UTC', 'bench.start', '{}', repeat('0', 64), md5('a') || md5('b'))" >&2
        pgbench -n -M prepared "-c$CONNECTIONS" -j2 "-T$SECONDS_EACH" "${PG_VARS[@]}" -f bench/intake_pg.sql \
            -d "$PG_URL/$PG_DB" >"$out-pgbench.txt" 2>&1 || { cat "$out-pgbench.txt" >&2; die "pgbench failed"; }
        b=$(awk '$1 == "tps" { print $3; exit }' "$out-pgbench.txt")
        [[ -n $b ]] || { cat "$out-pgbench.txt" >&2; die "pgbench printed no tps"; }
        failed=$(awk -F': *' '$1 == "number of failed transactions" { split($2, a, " "); print a[1] }' "$out-pgbench.txt")
        [[ ${failed:-0} == 0 ]] || { cat "$out-pgbench.txt" >&2; die "pgbench had failed transactions"; }

        # (b) the service on a fresh database.
        fresh_pg
        DATABASE_URL="$PG_URL/$PG_DB" measure_service "$out-pg"
        stored=$(pg_bench_db -Atc "SELECT count(*) FROM reports")
        ((stored >= svc_ok)) || die "PostgreSQL holds $stored reports but the service answered 2xx $svc_ok times"
        verify=$(DATABASE_URL="$PG_URL/$PG_DB" tipline audit verify) || die "audit verify: $verify"

        pg_base+=("$b") pg_svc+=("$svc_rate") pg_ratio+=("$(ratio "$svc_rate" "$b")")
        pg_p99+=("$svc_p99") pg_errors+=("$svc_errors")
        log "    PostgreSQL: baseline ${b} tx/s; service ${svc_rate}/s (p99 ${svc_p99} ms, ${svc_errors} non-2xx, $stored reports stored); ratio $(ratio "$svc_rate" "$b")"
        log "    $verify"
    fi

    if ((do_sqlite)); then
        # (a) the SQLite baseline: the same SQL from a native loop with the service's pragmas.
        fresh_sqlite
        (cd "$tmp" && exec "$SQLITE_BASELINE" "$TIPLINE_DATA_DIR/bench.db" --threads "$CONNECTIONS" \
            --seconds "$SECONDS_EACH" --narrative-bytes "$NARRATIVE_BYTES" --contact-bytes "$CONTACT_BYTES") \
            >"$out-sqlite-base.txt" 2>"$out-sqlite-base.err" \
            || { cat "$out-sqlite-base.err" >&2; die "sqlite_intake_baseline failed"; }
        b=$(awk -F= '$1 == "sqlite_baseline_tx_per_sec" { print $2 }' "$out-sqlite-base.txt")
        [[ -n $b ]] || die "sqlite_intake_baseline printed no rate"

        # (b) the service on a fresh file.
        fresh_sqlite
        DATABASE_URL="sqlite://$TIPLINE_DATA_DIR/bench.db" measure_service "$out-sqlite"
        verify=$(DATABASE_URL="sqlite://$TIPLINE_DATA_DIR/bench.db" tipline audit verify) || die "audit verify: $verify"

        sq_base+=("$b") sq_svc+=("$svc_rate") sq_ratio+=("$(ratio "$svc_rate" "$b")")
        sq_p99+=("$svc_p99") sq_errors+=("$svc_errors")
        log "    SQLite: baseline ${b} tx/s; service ${svc_rate}/s (p99 ${svc_p99} ms, ${svc_errors} non-2xx); ratio $(ratio "$svc_rate" "$b")"
        log "    $verify"
    fi
done

# --- summary -----------------------------------------------------------------------------

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
        print m }'
}
fmt() { awk -v v="$2" -v f="$1" 'BEGIN { if (v == "nan") print v; else printf f, v }'; }
each() {
    local f=$1 out="" v
    shift
    for v in "$@"; do out+="${out:+ / }$(fmt "$f" "$v")"; done
    printf '%s' "$out"
}
meets() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (v == "nan") print "?"; else if ((op == ">=" && v >= t) || (op == "<=" && v <= t)) print "met"; else print "not met" }'; }
sum() { printf '%s\n' "$@" | awk '{ s += $1 } END { print s + 0 }'; }

cores=$(nproc)
cpu=$(awk -F': *' '$1 ~ /^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
mem_gib=$(awk '$1 == "MemTotal:" { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
pg_version=""
((do_pg == 0)) || pg_version=$(psql -X -At -d "$PG_URL/postgres" -c "SHOW server_version" 2>/dev/null | awk '{ print $1 }')
if commit=$(git rev-parse --short HEAD 2>/dev/null); then
    git diff --quiet HEAD -- 2>/dev/null || commit+=" (modified)"
else
    commit=unknown
fi

cat <<EOF

### $(date -u +%Y-%m-%d) · commit $commit · intake

${cpu:-unknown CPU}, $cores cores, $mem_gib GiB, $(uname -sr)${pg_version:+, PostgreSQL $pg_version}. $RUNS run(s): the median, then each run in order; ratios are taken within each run.
$CONNECTIONS connections for $SECONDS_EACH s per measurement; body \`$BODY_FILE\` (narrative $NARRATIVE_BYTES bytes, contact $CONTACT_BYTES bytes); 1-minute load average at the start of each run: $(each %.2f "${loads[@]}").

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
| PostgreSQL non-2xx answers (sum) | $(sum "${pg_errors[@]}") | $(each %d "${pg_errors[@]}") | 0 |
EOF
fi
if ((do_sqlite)); then
    m=$(median "${sq_ratio[@]}")
    cat <<EOF
| SQLite baseline, native loop tx/s | $(fmt %.1f "$(median "${sq_base[@]}")") | $(each %.1f "${sq_base[@]}") | |
| SQLite service submissions/s (2xx only) | $(fmt %.1f "$(median "${sq_svc[@]}")") | $(each %.1f "${sq_svc[@]}") | |
| SQLite service ÷ baseline | $(fmt %.3f "$m") | $(each %.3f "${sq_ratio[@]}") | ≥ 0.60: $(meets "$m" ">=" 0.60) |
| SQLite service p99 latency (ms) | $(fmt %.1f "$(median "${sq_p99[@]}")") | $(each %.1f "${sq_p99[@]}") | |
| SQLite non-2xx answers (sum) | $(sum "${sq_errors[@]}") | $(each %d "${sq_errors[@]}") | 0 |
EOF
fi
