#!/usr/bin/env bash
# `tipline audit verify` over a large audit trail (SPEC §15: at least 200 000 entries/s per
# core), on PostgreSQL and on SQLite. For each backend the script migrates a fresh database,
# inserts BENCH_ENTRIES events into audit_pending by SQL (as writers leave them), lets the
# service's sequencer move them into the trail and the Merkle tree (`tipline audit checkpoint`
# sequences everything pending first, then prints the signed checkpoint), and then times the
# command line's `tipline audit verify`, which recomputes every chain hash, every leaf and the
# tree's root: wall time, the CPU time of the tipline process, and on PostgreSQL the CPU time of
# the database's processes. Every verify must say the trail is intact, with as many entries as
# the trail holds and a tree of that size; at the end `tipline audit verify --checkpoint` must
# find that the trail extends the checkpoint printed after sequencing. What the figures mean and
# the target: docs/BENCHMARKS.md, "Audit verification".
#
#   bash bench/audit.sh                 # progress on stderr, Markdown summary on stdout
#
# Needs python3 and, for PostgreSQL, psql, a Rust toolchain, GNU time (/usr/bin/time) and Linux.
#
# Environment:
#   BENCH_ENTRIES       events in the trail (default 1000000)
#   BENCH_RUNS          timed verifications per backend; the summary gives medians (default 3)
#   BENCH_BACKENDS      "postgres sqlite" (default), "postgres" or "sqlite"
#   BENCH_PG_URL        the PostgreSQL server, without a database name
#                       (default postgres://postgres@127.0.0.1:5432)
#   BENCH_PG_DB         the throwaway database this script creates and drops at the end
#                       (default tipline_bench_audit; the name must start with tipline_bench)
#   BENCH_IDLE_PCT, BENCH_IDLE_WAIT, BENCH_MAX_FOREIGN, BENCH_ATTEMPTS
#                       waiting for an idle machine and repeating a disturbed measurement, as in
#                       bench/intake.sh
#   BENCH_SKIP_BUILD=1  use the binary already built instead of running cargo build
#   BENCH_KEEP=1        keep the temporary folder (outputs, the SQLite file); it is always kept
#                       when the script fails
# The build honours CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENTRIES=${BENCH_ENTRIES:-1000000}
RUNS=${BENCH_RUNS:-3}
BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
PORT=${BENCH_PORT:-18082}
TARGET=200000

need_count BENCH_ENTRIES "$ENTRIES"
need_count BENCH_RUNS "$RUNS"
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
((do_pg == 0)) || pg_settings tipline_bench_audit
need_tools awk sort python3
((do_pg == 0)) || need_tools psql
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing (apt-get install time)"

commit=$(source_commit)
release_build --bin tipline
bench_setup audit

# The events: report submissions spread over the past, each with its own target and request.
PG_FILL="INSERT INTO audit_pending (at, actor_role, action, target_type, target_id, details, request_id)
SELECT timestamp '2026-01-01' + g * interval '1 millisecond', 'anonymous', 'report.create', 'report',
       gen_random_uuid()::text, '{\"kind\":\"incident\",\"source\":\"anonymous\"}', gen_random_uuid()::text
FROM generate_series(1, $ENTRIES) AS g"
SQLITE_FILL="WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $ENTRIES)
INSERT INTO audit_pending (at, actor_role, action, target_type, target_id, details, request_id)
SELECT strftime('%Y-%m-%d %H:%M:%f', '2026-01-01', '+' || (n / 1000.0) || ' seconds'), 'anonymous',
       'report.create', 'report', lower(hex(randomblob(16))), '{\"kind\":\"incident\",\"source\":\"anonymous\"}',
       lower(hex(randomblob(16)))
FROM g"

# Runs the SQL $2 (no result) on DATABASE_URL $1.
db_exec() {
    case $1 in
        postgres://*) psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "$2" >&2 ;;
        sqlite://*) python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute(sys.argv[2])
db.commit()' "${1#sqlite://}" "$2" ;;
    esac
}

# CPU ticks of every PostgreSQL process (with what the postmaster reaped from its exited
# backends).
pg_ticks() {
    local pid
    while read -r pid; do
        sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || true
    done < <(pgrep -x postgres 2>/dev/null || true) | awk '{ s += $1 } END { print s + 0 }'
}

# One timed `tipline audit verify` on DATABASE_URL $1, output prefix $2. Sets v_entries, v_wall,
# v_cpu (tipline's user + system seconds), v_db_cpu (PostgreSQL's), foreign.
verify_once() {
    local url=$1 out=$2 expected pg0 pg1 line tree user sys
    expected=$(( $(db_number "$url" "SELECT count(*) FROM audit_log") + $(db_number "$url" "SELECT count(*) FROM audit_pending") ))
    wait_idle
    cpu_mark
    pg0=$(pg_ticks)
    (cd "$tmp" && DATABASE_URL="$url" exec /usr/bin/time -f '%e %U %S' -o "$out-time.txt" "$TIPLINE" audit verify) \
        >"$out-verify.txt" 2>"$out-verify.err" || { cat "$out-verify.txt" "$out-verify.err" >&2; die "tipline audit verify failed"; }
    pg1=$(pg_ticks)
    foreign=$(foreign_cores)
    line=$(grep '^audit trail' "$out-verify.txt" || true)
    [[ $line =~ ^audit\ trail\ intact:\ ([0-9]+)\ entries,.*tree\ size\ ([0-9]+), ]] \
        || die "check: tipline audit verify: ${line:-no verdict}"
    v_entries=${BASH_REMATCH[1]} tree=${BASH_REMATCH[2]}
    ((v_entries == expected && tree == expected)) \
        || die "check: verify walked $v_entries entries (tree size $tree) of the $expected in the trail"
    read -r v_wall user sys <"$out-time.txt" || die "no timing in $out-time.txt"
    v_cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
    if [[ $url == postgres://* ]]; then
        v_db_cpu=$(awk -v a="$pg0" -v b="$pg1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }')
    else
        v_db_cpu=0
    fi
    log "    verify: $v_entries entries intact in $v_wall s; CPU: tipline $v_cpu s, PostgreSQL $v_db_cpu s (other processes: $foreign cores)"
}

rows=()
checks=()
# Fills, sequences and verifies on DATABASE_URL $1, named $2.
bench_backend() {
    local url=$1 name=$2 out="$tmp/$3" t0 t1 fill_s seq_s run before
    local walls=() cpus=() db_cpus=() rates=() per_core=() cores=()
    log "==> $name: $ENTRIES events"
    DATABASE_URL="$url" tipline migrate >/dev/null
    before=$(db_number "$url" "SELECT count(*) FROM audit_log")
    t0=$(date +%s.%N)
    db_exec "$url" "$(if [[ $url == postgres://* ]]; then echo "$PG_FILL"; else echo "$SQLITE_FILL"; fi)"
    t1=$(date +%s.%N)
    fill_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    log "    $ENTRIES events inserted into audit_pending in $fill_s s; sequencing"
    t0=$(date +%s.%N)
    (cd "$tmp" && DATABASE_URL="$url" exec "$TIPLINE" audit checkpoint) >"$out-checkpoint.txt" \
        || die "tipline audit checkpoint failed"
    t1=$(date +%s.%N)
    seq_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    (($(db_number "$url" "SELECT count(*) FROM audit_pending") == 0)) || die "check: events left pending after sequencing"
    (($(db_number "$url" "SELECT count(*) FROM audit_log") == before + ENTRIES)) || die "check: the trail does not hold the $ENTRIES events"
    log "    sequenced in $seq_s s ($(awk -v n="$ENTRIES" -v s="$seq_s" 'BEGIN { printf "%.0f", n / s }') events/s)"
    # Sequencing inserted and deleted a million rows: vacuum, so that the first verify does not
    # pay for setting their hint bits.
    [[ $url != postgres://* ]] || psql -X -q -v ON_ERROR_STOP=1 -d "$url" -c "VACUUM ANALYZE" >&2
    for ((run = 1; run <= RUNS; run++)); do
        measure_undisturbed verify_once "$url" "$out-run$run"
        walls+=("$v_wall") cpus+=("$v_cpu") db_cpus+=("$v_db_cpu")
        rates+=("$(awk -v n="$v_entries" -v w="$v_wall" 'BEGIN { printf "%.0f", n / w }')")
        cores+=("$(awk -v c="$v_cpu" -v d="$v_db_cpu" -v w="$v_wall" 'BEGIN { printf "%.2f", (c + d) / w }')")
        # What one core does: entries over the wall time, or over the CPU time when verify kept
        # more than one core busy.
        per_core+=("$(awk -v n="$v_entries" -v c="$v_cpu" -v d="$v_db_cpu" -v w="$v_wall" \
            'BEGIN { t = c + d; if (t < w) t = w; printf "%.0f", n / t }')")
    done
    # The trail still extends the checkpoint printed after sequencing.
    (cd "$tmp" && DATABASE_URL="$url" exec "$TIPLINE" audit verify --checkpoint "$out-checkpoint.txt") \
        >"$out-extends.txt" 2>&1 || { cat "$out-extends.txt" >&2; die "check: tipline audit verify --checkpoint failed"; }
    grep -q '^it extends the checkpoint of size' "$out-extends.txt" || { cat "$out-extends.txt" >&2; die "check: no extends line"; }
    checks+=("$name: every verify intact with every entry of the trail and a tree of that size; the trail extends the checkpoint of size $(sed -n 2p "$out-checkpoint.txt")")
    local m
    m=$(median "${per_core[@]}")
    rows+=("| $name | $v_entries | $fill_s | $seq_s | $(fmt %.2f "$(median "${walls[@]}")") ($(each %.2f "${walls[@]}")) | $(fmt %.2f "$(median "${cpus[@]}")") | $(fmt %.2f "$(median "${db_cpus[@]}")") | $(fmt %.2f "$(median "${cores[@]}")") | $(fmt %.0f "$(median "${rates[@]}")") | $(fmt %.0f "$m") ($(each %.0f "${per_core[@]}")) | $(meets "$m" ">=" "$TARGET") |")
}

if ((do_pg)); then
    drop_pg_db
    pg_created=1
    pg_admin -c "CREATE DATABASE \"$PG_DB\"" >&2
    bench_backend "$PG_URL/$PG_DB" PostgreSQL pg
fi
if ((do_sqlite)); then
    bench_backend "sqlite://$tmp/audit.db" SQLite sqlite
fi

pg_version=""
((do_pg == 0)) || pg_version=$(pg_server_version)

cat <<EOF

### $(date -u +%Y-%m-%d) · commit $commit · audit verification

$(machine)${pg_version:+, PostgreSQL $pg_version}. $RUNS timed \`tipline audit verify\` per backend: the median, then each run in order.
Cores that other processes kept busy during each verification, in order: $(each %.2f "${foreign_seen[@]}") (a measurement above $MAX_FOREIGN is repeated, up to $ATTEMPTS times).

| backend | entries | fill (s) | sequencing (s) | verify wall (s) | tipline CPU (s) | PostgreSQL CPU (s) | cores used | entries/s | entries/s per core | ≥ $TARGET per core |
| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |
EOF
printf '%s\n' "${rows[@]}"
printf '\nChecked:\n'
printf -- '- %s\n' "${checks[@]}"
