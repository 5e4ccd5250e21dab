#!/usr/bin/env bash
# Latency of the staff queue (GET /api/v1/reports with two filters) on PostgreSQL holding
# 10 000 and then 1 000 000 reports: the first page, and a page deep into the results reached
# by following next_cursor. What the figures mean and the targets: docs/BENCHMARKS.md.
#
#   bash bench/queue.sh                 # progress and query plans on stderr, Markdown summary on stdout
#
# Needs wrk, curl, python3 and psql, a Rust toolchain, Linux, and a PostgreSQL server where the
# user may create databases. The 1 000 000-report database takes about 2.5 GB on the server
# while the script runs.
#
# Environment:
#   BENCH_RUNS          wrk measurements of each page at each size; the summary gives medians
#                       (default 3)
#   BENCH_SIZES         report counts, smallest first (default "10000 1000000"); the targets
#                       compare the last with the first
#   BENCH_PG_URL        the PostgreSQL server, without a database name
#                       (default postgres://postgres@127.0.0.1:5432)
#   BENCH_PG_DB         the throwaway database this script creates for each size and drops at
#                       the end (default tipline_bench_queue; the name must start with
#                       tipline_bench)
#   BENCH_FILTER        the queue filters, as a query string (default status=new&country=NL;
#                       status, kind, country, priority and tactic are understood by the
#                       EXPLAIN step)
#   BENCH_DEPTH         how many pages to follow next_cursor for the deep page (default 100)
#   BENCH_SECONDS       length of each wrk measurement (default 15)
#   BENCH_PORT          port on 127.0.0.1 for the server (default 18082)
#   BENCH_IDLE_PCT      before each measurement, wait until the CPUs are at least this idle over
#                       2 s (default 90; 0 = do not wait) ...
#   BENCH_IDLE_WAIT     ... for at most this many seconds (default 600)
#   BENCH_MAX_FOREIGN   a measurement during which other processes kept more than this many
#                       cores busy on average is repeated (default 0.10) ...
#   BENCH_ATTEMPTS      ... up to this many times in all (default 5)
#   BENCH_SKIP_BUILD=1  use the binaries already built instead of running cargo build
#   BENCH_KEEP=1        keep the temporary folder (wrk outputs, plans, server log); it is
#                       always kept when the script fails
# The build honours CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
checks=()

RUNS=${BENCH_RUNS:-3}
SIZES=${BENCH_SIZES:-10000 1000000}
FILTER=${BENCH_FILTER:-status=new&country=NL}
DEPTH=${BENCH_DEPTH:-100}
SECONDS_EACH=${BENCH_SECONDS:-15}
PORT=${BENCH_PORT:-18082}
LIMIT=50
WARMUP_SECS=3
ADMIN_EMAIL=bench-admin@example.org
ADMIN_PASSWORD="bench-password-0123456789"

need_count BENCH_RUNS "$RUNS"
need_count BENCH_DEPTH "$DEPTH"
need_count BENCH_SECONDS "$SECONDS_EACH"
need_count BENCH_PORT "$PORT"
machine_settings
read -r -a sizes <<<"$SIZES"
((${#sizes[@]} > 0)) || die "BENCH_SIZES names no size"
for n in "${sizes[@]}"; do need_count "BENCH_SIZES ($n)" "$n"; done
[[ $FILTER =~ ^[A-Za-z0-9_=\&.:-]+$ ]] || die "BENCH_FILTER must be a plain query string such as status=new&country=NL"
pg_settings tipline_bench_queue

need_tools wrk curl awk sort python3 psql

commit=$(source_commit)
release_build --bin tipline --example bench_sql

bench_setup queue
export DATABASE_URL="$PG_URL/$PG_DB"
# queue_fill.sql makes closed reports up to three years old: keep them all, so that the server's
# retention sweeper does not shred a quarter of the queue while it is measured.
export TIPLINE_RETAIN_CLOSED_DAYS=0 TIPLINE_RETAIN_WITHDRAWN_DAYS=0

# The SELECT list of the queue, as the service's query writes it.
QUEUE_SELECT=$(bench_sql queue-select) || die "bench_sql failed"

# For one queue page: $1 the filter query string, $2 the cursor (empty for the first page),
# $3 what to print:
#   sql     the SQL tipline::triage::queue::query builds, as diesel writes it for PostgreSQL,
#           with the values filled in (for EXPLAIN when the statement itself was not caught)
#   params  the values the service binds, in its order, as SQL literals ($1, $2, …)
#   count   a query for the number of reports that match the filters
queue_sql() {
    python3 - "$1" "$2" "$LIMIT" "$3" "$QUEUE_SELECT" <<'PY'
import base64, json, sys, urllib.parse

filters, cursor, limit, mode, select = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
def lit(v):
    return "'" + str(v).replace("'", "''") + "'"
params = dict(urllib.parse.parse_qsl(filters))
conditions = []
values = []
# The order of tipline::triage::queue::query.
for name in ["status", "kind", "tactic", "country", "priority"]:
    if name not in params:
        continue
    value = params.pop(name)
    if name == "country":
        value = value.upper()
    values.append(lit(value))
    if name == "tactic":
        conditions.append('("reports"."id" = ANY(SELECT "report_tactics"."report_id" FROM "report_tactics" '
                          f'WHERE ("report_tactics"."tactic" = {lit(value)})))')
    else:
        conditions.append(f'("reports"."{name}" = {lit(value)})')
for name in ["sort", "order", "limit"]:
    if params.get(name) not in (None, "created_at", "desc", str(limit)):
        sys.exit(f"EXPLAIN covers sort=created_at&order=desc only, not {name}={params[name]}")
    params.pop(name, None)
if params:
    sys.exit("EXPLAIN does not cover the filter(s) " + ", ".join(params))
if cursor:
    position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    at, rid = lit(position["created_at"]), lit(position["id"])
    values += [at, rid]
    conditions.append(f"(reports.created_at, reports.id) < ({at}, {rid})")
values.append(str(limit + 1))
if mode == "params":
    print(", ".join(values))
    sys.exit(0)
where = " AND ".join(conditions)
if mode == "count":
    print('SELECT count(*) FROM "reports"' + (f" WHERE {where}" if where else ""))
    sys.exit(0)
print(select + (f" WHERE {where}" if where else "")
      + f' ORDER BY "reports"."created_at" DESC, "reports"."id" DESC LIMIT {limit + 1}')
PY
}

# The queue statement as the service sends it for $1 (a path), caught in pg_stat_activity
# while wrk requests that path for up to 5 s. $2: the number of values it binds; the statement
# ends with "LIMIT $<that number>", which also tells it from a page with other filters and
# from a text pg_stat_activity cut short. Empty when not caught.
catch_statement() {
    local path=$1 binds=$2 pid query=""
    wrk -t1 -c1 -d5s -H "Authorization: Bearer $token" "$BASE_URL$path" >/dev/null 2>&1 &
    pid=$!
    while alive "$pid"; do
        query=$(pg_bench_db -Atc "SELECT query FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
              AND query LIKE 'SELECT %FROM \"reports\"%ORDER BY%LIMIT \$$binds' LIMIT 1" 2>/dev/null) || true
        [[ -z $query ]] || break
        sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf '%s' "$query"
}

# One wrk measurement of $path into $out, after a short warm-up; sets p50, p99, rps, foreign.
measure_page() {
    local bad status
    wait_idle
    if ! alive "$server_pid"; then
        status=0
        wait "$server_pid" 2>/dev/null || status=$?
        log "    the server had exited (status $status); starting it again"
        tail -n 20 "$tmp/server.log" >&2 || true
        server_pid=""
        start_server
    fi
    # A fresh token: waiting for an idle machine may outlast one.
    token=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
    [[ -n $token ]] || die "login failed"
    run_wrk "$out" -t1 -c1 "-d${WARMUP_SECS}s" -H "Authorization: Bearer $token" "$BASE_URL$path"
    cpu_mark
    run_wrk "$out" -t1 -c1 "-d${SECONDS_EACH}s" --latency -H "Authorization: Bearer $token" "$BASE_URL$path"
    foreign=$(foreign_cores)
    bad=$(non_2xx "$out")
    ((bad == 0)) || { cat "$out" >&2; die "$bad non-2xx answers on $path"; }
    p50=$(percentile_ms "$out" 50%) || die "no p50 in $out"
    p99=$(percentile_ms "$out" 99%) || die "no p99 in $out"
    rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$out")
}

first_p50=() first_p99=() deep_p50=() deep_p99=() depth_reached=() fill_secs=() matching=()
declare -A first_p99_runs deep_p99_runs first_p50_runs deep_p50_runs

for n in "${sizes[@]}"; do
    log "==> $n reports: a fresh database $PG_DB"
    create_pg_db
    started=$(date +%s.%N)
    pg_bench_db -v n="$n" -f bench/queue_fill.sql >&2
    pg_admin -c "CHECKPOINT" >&2
    secs=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    fill_secs+=("$secs")
    log "    filled in $secs s: $(pg_bench_db -Atc "SELECT count(*) FROM reports") reports, $(pg_bench_db -Atc "SELECT count(*) FROM report_tactics") tactics rows, database $(pg_bench_db -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))")"

    start_server
    printf '%s\n' "$ADMIN_PASSWORD" | tipline admin create --email "$ADMIN_EMAIL" --password-stdin \
        --display-name "Bench admin" >/dev/null
    token=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
    [[ -n $token ]] || die "login failed"

    first_path="/api/v1/reports?limit=$LIMIT&$FILTER"
    # Follow next_cursor DEPTH pages down (or to the last page).
    deep_path=$first_path cursor="" pages=0
    while ((pages < DEPTH)); do
        next=$(curl -fsS --max-time 30 -H "Authorization: Bearer $token" "$BASE_URL$deep_path" | json_field next_cursor) \
            || die "GET $deep_path failed"
        [[ -n $next ]] || break
        cursor=$next
        deep_path="$first_path&cursor=$cursor"
        pages=$((pages + 1))
    done
    depth_reached+=("$((pages + 1))")
    sql=$(queue_sql "$FILTER" "" count) || die "cannot count the reports that match $FILTER"
    total=$(pg_bench_db -Atc "$sql")
    matching+=("$total")
    log "    $total reports match $FILTER; the deep page is page $((pages + 1))"

    # The plans, with the values of this database: the statement the service sent, caught in
    # pg_stat_activity and run again with the same values (PREPARE, EXPLAIN EXECUTE), or, if it
    # was not caught, the SQL the code builds.
    for page in first deep; do
        if [[ $page == first ]]; then c="" path=$first_path; else c=$cursor path=$deep_path; fi
        [[ $page == first || -n $c ]] || continue
        plan="$tmp/plan-$n-$page.txt"
        if ! params=$(queue_sql "$FILTER" "$c" params 2>"$tmp/sql.err"); then
            log "    no EXPLAIN for the $page page: $(cat "$tmp/sql.err")"
            continue
        fi
        binds=$(awk -F', ' '{ print NF }' <<<"$params")
        statement=$(catch_statement "$path" "$binds")
        log "    EXPLAIN (ANALYZE, BUFFERS), $page page, $n reports:"
        if [[ -n $statement ]]; then
            log "    the statement the service sent (pg_stat_activity): $statement"
            log "    with the values: $params"
            pg_bench_db -c "PREPARE queue_page AS $statement" \
                -c "EXPLAIN (ANALYZE, BUFFERS) EXECUTE queue_page($params)" >"$plan" 2>&1 \
                || { cat "$plan" >&2; die "EXPLAIN failed"; }
        else
            sql=$(queue_sql "$FILTER" "$c" sql)
            log "    the statement was not caught in pg_stat_activity; the SQL the code builds: $sql"
            pg_bench_db -c "EXPLAIN (ANALYZE, BUFFERS) $sql" >"$plan" 2>&1 \
                || { cat "$plan" >&2; die "EXPLAIN failed"; }
        fi
        sed 's/^/      /' "$plan" >&2
    done

    for ((run = 1; run <= RUNS; run++)); do
        for page in first deep; do
            if [[ $page == first ]]; then path=$first_path; else path=$deep_path; fi
            out="$tmp/n$n-run$run-$page.txt"
            measure_undisturbed measure_page
            log "    run $run, $page page: p50 $p50 ms, p99 $p99 ms ($rps requests/s; other processes: $foreign cores)"
            if [[ $page == first ]]; then
                first_p50_runs[$n]+="$p50 " first_p99_runs[$n]+="$p99 "
            else
                deep_p50_runs[$n]+="$p50 " deep_p99_runs[$n]+="$p99 "
            fi
        done
    done
    stop_server
    # Queue reads write nothing: the fill is all there and the audit chain still verifies.
    check_work "$PG_URL/$PG_DB" "$n" 0
    checks+=("$n reports: $checked")
    drop_pg_db
    pg_created=0
done

# --- summary -----------------------------------------------------------------------------

pg_version=$(pg_server_version)
printf '\nChecked after each size (PostgreSQL):\n' >&2
printf -- '- %s\n' "${checks[@]}" >&2
shared_buffers=$(psql -X -At -d "$PG_URL/postgres" -c "SHOW shared_buffers" 2>/dev/null)

cat <<EOF

### $(date -u +%Y-%m-%d) · commit $commit · queue

$(machine), PostgreSQL ${pg_version:-?} (shared_buffers $shared_buffers). $RUNS run(s) per page and size: the median, then each run in order.
\`GET /api/v1/reports?limit=$LIMIT&$FILTER\` as an admin, one connection, $SECONDS_EACH s per measurement after a ${WARMUP_SECS} s warm-up; the deep page is reached by following \`next_cursor\` (at most $DEPTH pages).
Cores that other processes kept busy during each measurement, in order: $(each %.2f "${foreign_seen[@]}") (a measurement above $MAX_FOREIGN is repeated, up to $ATTEMPTS times).

| reports | fill (s) | matching reports | first page p50 (ms) | first page p99 (ms): median (runs) | deep page (number) | deep page p50 (ms) | deep page p99 (ms): median (runs) |
| ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |
EOF
i=0
for n in "${sizes[@]}"; do
    read -r -a f50 <<<"${first_p50_runs[$n]}"
    read -r -a f99 <<<"${first_p99_runs[$n]}"
    read -r -a d50 <<<"${deep_p50_runs[$n]}"
    read -r -a d99 <<<"${deep_p99_runs[$n]}"
    first_p50+=("$(median "${f50[@]}")") first_p99+=("$(median "${f99[@]}")")
    deep_p50+=("$(median "${d50[@]}")") deep_p99+=("$(median "${d99[@]}")")
    printf '| %s | %s | %s | %s | %s (%s) | %s | %s | %s (%s) |\n' "$n" "${fill_secs[$i]}" "${matching[$i]}" \
        "$(fmt %.2f "${first_p50[$i]}")" "$(fmt %.2f "${first_p99[$i]}")" "$(each %.2f "${f99[@]}")" \
        "${depth_reached[$i]}" "$(fmt %.2f "${deep_p50[$i]}")" "$(fmt %.2f "${deep_p99[$i]}")" "$(each %.2f "${d99[@]}")"
    i=$((i + 1))
done

last=$((${#sizes[@]} - 1))
big=${sizes[$last]} small=${sizes[0]}
rf=$(ratio "${first_p99[$last]}" "${first_p99[0]}")
rd=$(ratio "${deep_p99[$last]}" "${deep_p99[0]}")
cat <<EOF

| target | figure | result |
| --- | ---: | --- |
| first page p99 at $big ≤ 20 ms | $(fmt %.2f "${first_p99[$last]}") ms | $(meets "${first_p99[$last]}" "<=" 20) |
| deep page p99 at $big ≤ 20 ms | $(fmt %.2f "${deep_p99[$last]}") ms | $(meets "${deep_p99[$last]}" "<=" 20) |
| first page p99, $big ÷ $small ≤ 1.5 | $rf | $(meets "$rf" "<=" 1.5) |
| deep page p99, $big ÷ $small ≤ 1.5 | $rd | $(meets "$rd" "<=" 1.5) |
EOF
