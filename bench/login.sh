#!/usr/bin/env bash
# Login throughput, /readyz latency under a login flood, and the server's peak memory.
# What the figures mean and the targets: docs/BENCHMARKS.md.
#
#   bash bench/login.sh                 # progress on stderr, Markdown summary on stdout
#
# Needs wrk and curl (apt-get install wrk curl), a Rust toolchain, and Linux (/proc).
#
# Environment:
#   BENCH_RUNS            repetitions; the summary gives medians (default 3)
#   BENCH_DATABASE_URL    postgres://USER:PASS@HOST/DB: run on PostgreSQL (use a throwaway
#                         database) instead of a fresh SQLite file; each run then also measures
#                         the PostgreSQL baseline (bench/login_floor.sql, needs psql and pgbench)
#   BENCH_TOTP            1 (default): the flood's accounts are caseworkers with a confirmed
#                         TOTP second factor, and each login sends a current code; 0: admins
#                         made on the command line without one (each login then answers an
#                         enrolment token)
#   BENCH_ACCOUNTS        accounts each flood is spread over (default 4096 with TOTP, each
#                         flood with its own, since a code is taken once; 128 without)
#   BENCH_PROBE_DELAY_MS  pause between two /readyz probes in ms (default 5; 0 = back to back)
#   BENCH_HONOUR_RETRY_AFTER  1 (default): after a 503 (hashing queue full) the flood's next
#                         login waits 1 s, as Retry-After asks; 0: it is sent at once
#   BENCH_PORT            port on 127.0.0.1 for the server (default 18080)
#   BENCH_SCHED_TRACE     seconds (default 0: none): in each run, record the scheduler (perf
#                         sched, needs root and perf) for this long while the /readyz probe runs
#                         inside the flood, and print which threads its slow requests waited for
#                         (bench/probe_trace.py; the summary lists them)
#   BENCH_SKIP_BUILD=1    use the binaries already built instead of running cargo build
#   BENCH_KEEP=1          keep the temporary folder (wrk outputs, server log); it is always
#                         kept when the script fails
# TIPLINE_DB_POOL_SIZE and the other TIPLINE_* settings are passed on to the server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_RUNS:-3}
TOTP=${BENCH_TOTP:-1}
if [[ $TOTP == 1 ]]; then ACCOUNTS=${BENCH_ACCOUNTS:-4096}; else ACCOUNTS=${BENCH_ACCOUNTS:-128}; fi
PROBE_DELAY_MS=${BENCH_PROBE_DELAY_MS:-5}
SCHED_TRACE=${BENCH_SCHED_TRACE:-0}
PORT=${BENCH_PORT:-18080}

RAW_SECS=10            # argon2_rate duration
IDLE_SECS=10           # /readyz probe on the idle server
FLOOD_SECS=20          # login flood
FLOOD_THREADS=2
FLOOD_CONNECTIONS=64
FLOOD_TIMEOUT=30s      # a queued login waits well over wrk's default 2 s
CPU_START=3            # the CPU shares are read from this many seconds into the flood alone ...
CPU_SECS=14            # ... for this long
PROBE_START=3          # /readyz probe starts this many seconds into the flood ...
PROBE_SECS=15          # ... and runs this long, ending before the flood does

PASSWORD="bench-password-0123456789"

need_count BENCH_RUNS "$RUNS"
need_count BENCH_ACCOUNTS "$ACCOUNTS"
need_count BENCH_PORT "$PORT"
[[ $PROBE_DELAY_MS =~ ^[0-9]+$ ]] || die "BENCH_PROBE_DELAY_MS must be a whole number of ms"
[[ $SCHED_TRACE =~ ^[0-9]+$ ]] || die "BENCH_SCHED_TRACE must be a whole number of seconds"
((SCHED_TRACE < PROBE_SECS - 2)) || die "BENCH_SCHED_TRACE must be under $((PROBE_SECS - 2)) s (the probe's length)"
((ACCOUNTS >= FLOOD_THREADS)) || die "BENCH_ACCOUNTS must be at least $FLOOD_THREADS"
[[ $TOTP == 0 || $TOTP == 1 ]] || die "BENCH_TOTP must be 0 or 1"
((TOTP == 1 || ACCOUNTS <= 1000)) || die "BENCH_ACCOUNTS must be at most 1000 without TOTP"

need_tools wrk curl awk sort
[[ -z ${BENCH_DATABASE_URL:-} ]] || need_tools psql pgbench nice
((SCHED_TRACE == 0)) || need_tools perf python3 pgrep
[[ -r /proc/self/status ]] || die "needs Linux (/proc/PID/status)"

commit=$(source_commit)
release_build --bin tipline --example argon2_rate --example bench_sql
ARGON2_RATE="$TARGET_DIR/release/examples/argon2_rate"

# --- the server --------------------------------------------------------------------------

bench_setup login
if [[ -n ${BENCH_DATABASE_URL:-} ]]; then
    export DATABASE_URL=$BENCH_DATABASE_URL
    database="PostgreSQL"
else
    export DATABASE_URL="sqlite://$tmp/data/tipline.db"
    database="SQLite"
fi
export BENCH_ACCOUNTS=$ACCOUNTS BENCH_FLOOD_THREADS=$FLOOD_THREADS BENCH_PASSWORD=$PASSWORD
export BENCH_PROBE_DELAY_MS=$PROBE_DELAY_MS

# Before each flood with TOTP: bench/login.lua's codes file for the flood's own accounts, with
# their codes from the step before this one to four minutes ahead (bench/staff_login.py's RFC
# 6238 code).
floods=0
next_flood() {
    ((TOTP)) || return 0
    python3 - "$tmp/totp-secrets.txt" "$floods" "$ACCOUNTS" >"$BENCH_TOTP_CODES" <<'PY'
import base64, sys, time
sys.path.insert(0, "bench")
from staff_login import code_at
secrets_file, flood, accounts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = open(secrets_file).read().split()[2 * flood * accounts:2 * (flood + 1) * accounts]
base = int(time.time()) // 30 - 1
print("totp_base = %d" % base)
print("totp_accounts = {")
for email, secret in zip(lines[0::2], lines[1::2]):
    secret = base64.b32decode(secret + "=" * (-len(secret) % 8))
    print('{email="%s", codes={%s}},' % (email, ",".join('"%s"' % code_at(secret, base + k) for k in range(10))))
print("}")
PY
    floods=$((floods + 1))
}

if ((TOTP)); then
    # Each flood (two a run) has its own accounts: a TOTP code is taken once (SPEC §12.1).
    log "==> creating $((ACCOUNTS * 2 * RUNS)) caseworkers with TOTP (bench-totp-00000@example.org ...) on $database"
    tipline migrate >/dev/null
    printf '%s\n' "$PASSWORD" | "$TARGET_DIR/release/examples/bench_sql" staff-accounts $((ACCOUNTS * 2 * RUNS)) \
        >"$tmp/totp-secrets.txt" || die "bench_sql staff-accounts failed"
    export BENCH_TOTP_CODES="$tmp/totp-codes.lua"
else
    log "==> creating $ACCOUNTS accounts (bench000@example.org ...) on $database"
    existing=0
    for ((i = 0; i < ACCOUNTS; i++)); do
        email=$(printf 'bench%03d@example.org' "$i")
        if ! output=$(printf '%s\n' "$PASSWORD" | tipline admin create --email "$email" \
            --password-stdin --display-name "Bench $i" 2>&1); then
            if [[ $output == *"already exists"* ]]; then
                existing=$((existing + 1))
            else
                printf '%s\n' "$output" >&2
                die "admin create failed for $email"
            fi
        fi
    done
    ((existing == 0)) \
        || log "note: $existing accounts already existed; they must have the password this script uses"
fi

# PostgreSQL: the baseline's tables (bench/login_floor_tables.sql), with one of the accounts.
if [[ $database == PostgreSQL ]]; then
    psql -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f bench/login_floor_tables.sql >&2 \
        || die "bench/login_floor_tables.sql failed"
    floor_uid=$(db_number "$DATABASE_URL" "SELECT id FROM login_floor.users")
    [[ -n $floor_uid ]] || die "bench/login_floor_tables.sql copied no account"
fi

# --- measurements ------------------------------------------------------------------------

# Raw argon2 verifications per second (examples/argon2_rate, RAW_SECS), the server idle; its
# output and errors go to OUT.txt and OUT.err.
raw_rate() {
    local out=$1 rate
    "$ARGON2_RATE" "$RAW_SECS" >"$out.txt" 2>"$out.err" || { cat "$out.err" >&2; die "argon2_rate failed"; }
    rate=$(awk -F= '$1 == "argon2_verify_per_sec" { print $2 }' "$out.txt")
    [[ -n $rate ]] || die "argon2_rate printed no rate"
    printf '%s\n' "$rate"
}

# The /readyz probe, paced by bench/readyz.lua unless BENCH_PROBE_DELAY_MS is 0.
probe_readyz() {
    local seconds=$1 out=$2
    local script=()
    ((PROBE_DELAY_MS == 0)) || script=(-s bench/readyz.lua)
    run_wrk "$out" -t1 -c1 "-d${seconds}s" --latency "${script[@]}" "$BASE_URL/readyz"
}

# BENCH_SCHED_TRACE: perf sched records every core from 2 s into the probe (the probe's wrk
# found by its command line), in the background; read_sched_trace waits for it and keeps
# bench/probe_trace.py's account in OUT-trace.txt.
start_sched_trace() {
    local out=$1
    (
        sleep 2
        pgrep -n -f -- "-c1 .*$BASE_URL/readyz" >"$out-probe.pid" || exit 1
        perf sched record -a -o "$out-sched.data" -- sleep "$SCHED_TRACE" >"$out-sched.log" 2>&1
    ) &
    trace_pid=$!
}

read_sched_trace() {
    local out=$1
    wait "$trace_pid" || {
        cat "$out-sched.log" >&2 2>/dev/null || true
        die "the scheduler trace failed (the probe's wrk not found, or perf sched record failed)"
    }
    perf sched timehist -i "$out-sched.data" -w >"$out-timehist.txt" 2>>"$out-sched.log" \
        || die "perf sched timehist failed"
    python3 bench/probe_trace.py "$out-timehist.txt" "$(cat "$out-probe.pid")" >"$out-trace.txt" \
        || die "bench/probe_trace.py failed"
    rm -f "$out-sched.data"
    traces+=("run $run:" "$(cat "$out-trace.txt")")
    sed 's/^/    trace: /' "$out-trace.txt" >&2
}

# pgbench writing a login's rows (bench/login_floor.sql) at RATE a second for SECS seconds, in
# the background (its pid in pgbench_pid, its output in OUT-pgbench.txt); floor_writes_done
# waits for it and checks that no transaction failed.
floor_writes() {
    local out=$1 rate=$2 secs=$3
    PGOPTIONS="-c search_path=login_floor" pgbench -n -M prepared -c2 -j1 -R "$rate" -T "$secs" \
        -D "uid=$floor_uid" -f bench/login_floor.sql "$DATABASE_URL" >"$out-pgbench.txt" 2>&1 &
    pgbench_pid=$!
}

floor_writes_done() {
    local out=$1 failed
    wait "$pgbench_pid" || { cat "$out-pgbench.txt" >&2; die "pgbench failed in the PostgreSQL baseline"; }
    failed=$(awk -F': *' '$1 == "number of failed transactions" { split($2, a, " "); print a[1] }' "$out-pgbench.txt")
    [[ $failed == 0 ]] || { cat "$out-pgbench.txt" >&2; die "the PostgreSQL baseline had failed transactions"; }
}

# The PostgreSQL baseline, with the server stopped: argon2_rate on every core at the hashing
# threads' priority (nice 19) while pgbench writes, at RATE logins a second, the rows a login
# must leave (bench/login_floor.sql: one transaction each, no read, no lock). What hashing keeps
# of the CPU there is the most a login flood could keep with the database on this machine,
# before any HTTP, reads or locks. Writes OUT.txt (argon2_rate), OUT-cpu.txt (the CPU shares,
# bench/cpu_share.py) and OUT-pgbench.txt.
floor_run() {
    local out=$1 rate=$2 argon2_pid
    floor_writes "$out" "$rate" $((RAW_SECS + 2))
    sleep 1
    nice -n 19 "$ARGON2_RATE" "$RAW_SECS" >"$out.txt" 2>"$out.err" &
    argon2_pid=$!
    python3 bench/cpu_share.py "$argon2_pid" "$CPU_START" $((RAW_SECS - CPU_START - 1)) >"$out-cpu.txt" \
        || die "bench/cpu_share.py failed in the PostgreSQL baseline"
    wait "$argon2_pid" || { cat "$out.err" >&2; die "argon2_rate failed in the PostgreSQL baseline"; }
    floor_writes_done "$out"
}

# The /readyz probe beside the least work a login flood brings, with the server up and idle:
# argon2_rate on every core at nice 19, as the hashing threads, and on PostgreSQL pgbench writing
# a login's rows at RATE a second (bench/login_floor.sql). Writes OUT.txt (the probe's wrk).
probe_beside_floor() {
    local out=$1 rate=$2 argon2_pid
    [[ $database != PostgreSQL ]] || floor_writes "$out" "$rate" $((PROBE_SECS + 3))
    nice -n 19 "$ARGON2_RATE" $((PROBE_SECS + 2)) >"$out-argon2.txt" 2>"$out-argon2.err" &
    argon2_pid=$!
    sleep 1
    probe_readyz "$PROBE_SECS" "$out.txt"
    wait "$argon2_pid" || { cat "$out-argon2.err" >&2; die "argon2_rate failed beside the probe"; }
    [[ $database != PostgreSQL ]] || floor_writes_done "$out"
}

flood=("-t$FLOOD_THREADS" "-c$FLOOD_CONNECTIONS" "-d${FLOOD_SECS}s" --timeout "$FLOOD_TIMEOUT" --latency
    -s bench/login.lua "$BASE_URL/api/v1/auth/login")

traces=() checks=() raw=() raw_before=() raw_after=() logins_alone=() logins=() flood_rps=() idle_p99=() flood_p99=() alone_ratio=() login_ratio=() p99_ratio=()
cpu_hashing=() cpu_service=() cpu_postgres=() cpu_wrk=() cpu_rest=() hash_efficiency=()
quiet_p99=() quiet_ratio=() floor_raw=() floor_ratio=() floor_tps=() floor_postgres=() floor_pgbench=() floor_pg_ms=() flood_pg_ms=()
rss_before=() rss_peak=() rss_growth=() rss_anon=() rss_file=() flood_errors=() probe_errors=()

for ((run = 1; run <= RUNS; run++)); do
    out="$tmp/run$run"
    log "==> run $run of $RUNS"
    sessions_before=$(db_number "$DATABASE_URL" "SELECT count(*) FROM sessions")
    start_server

    # (a) raw argon2 verifications per second, with the server idle.
    r_before=$(raw_rate "$out-raw-before")
    threads=$(sed -n 's/.* \([0-9][0-9]*\) threads .*/\1/p' "$out-raw-before.err")

    # (b) /readyz latency on the idle server.
    probe_readyz "$IDLE_SECS" "$out-idle.txt"
    idle=$(percentile_ms "$out-idle.txt" 99%) || die "no p99 in $out-idle.txt"

    # (c) the login flood alone: logins/s against the raw rate, and who had the CPU during it
    # (bench/cpu_share.py, from CPU_START s into the flood for CPU_SECS s).
    before=$(memory_mib "$server_pid" VmRSS)
    next_flood
    python3 bench/cpu_share.py "$server_pid" "$CPU_START" "$CPU_SECS" >"$out-cpu.txt" &
    cpu_pid=$!
    run_wrk "$out-alone.txt" "${flood[@]}"
    wait "$cpu_pid" || die "bench/cpu_share.py failed"
    alone=$(awk '$1 == "logins_per_sec" { print $2 }' "$out-alone.txt")
    [[ -n $alone ]] || { cat "$out-alone.txt" >&2; die "bench/login.lua printed no logins_per_sec"; }
    for part in hashing service postgres wrk rest; do
        share=$(awk -F= -v k="$part" '$1 == k { print $2 }' "$out-cpu.txt")
        [[ -n $share ]] || die "bench/cpu_share.py printed no $part"
        declare -n shares="cpu_$part"
        shares+=("$share")
        unset -n shares
    done

    # (a') the raw rate again, once the flood's last logins are done: the baseline of this run
    # is the mean of the two, so a machine whose speed drifts (a shared host) moves both sides.
    sleep 1
    r_after=$(raw_rate "$out-raw-after")
    r=$(awk -v a="$r_before" -v b="$r_after" 'BEGIN { print (a + b) / 2 }')

    # (d) the login flood again, with a /readyz probe running inside it.
    next_flood
    wrk "${flood[@]}" >"$out-flood.txt" 2>&1 &
    background_pid=$!
    sleep "$PROBE_START"
    ((SCHED_TRACE == 0)) || start_sched_trace "$out"
    probe_readyz "$PROBE_SECS" "$out-probe.txt"
    ((SCHED_TRACE == 0)) || read_sched_trace "$out"
    wait "$background_pid" || { cat "$out-flood.txt" >&2; die "wrk failed on the login flood"; }
    background_pid=""
    peak=$(memory_mib "$server_pid" VmHWM)
    # What the RSS is made of now: the heap and stacks, and file pages mapped in (on SQLite, the
    # database's memory map, `PRAGMA mmap_size`, which the kernel reclaims like a file cache).
    anon=$(memory_mib "$server_pid" RssAnon)
    file=$(memory_mib "$server_pid" RssFile)
    # (e) the probe beside the least work of a flood, the server idle, at the flood's login rate.
    alone_rate=$(awk -v a="$alone" 'BEGIN { printf "%.0f", a }')
    probe_beside_floor "$out-quiet" "$alone_rate"
    quiet=$(percentile_ms "$out-quiet.txt" 99%) || die "no p99 in $out-quiet.txt"
    quiet_p99+=("$quiet") quiet_ratio+=("$(ratio "$quiet" "$idle")")
    log "    /readyz p99 beside the least work of a flood: ${quiet} ms"
    stop_server
    wrk_done "$out-flood.txt"
    # Every login answered 200 started a session, and the audit chain verifies.
    acknowledged=$(( $(awk '$1 == "logins_ok" { print $2 }' "$out-alone.txt") + $(awk '$1 == "logins_ok" { print $2 }' "$out-flood.txt") ))
    sessions=$(db_number "$DATABASE_URL" "SELECT count(*) FROM sessions")
    ((sessions - sessions_before >= acknowledged)) \
        || die "check: $((sessions - sessions_before)) sessions stored but $acknowledged logins answered 200"
    verify=$(tipline audit verify) || die "check: tipline audit verify: $verify"
    checks+=("run $run ($database): $((sessions - sessions_before)) sessions stored ≥ $acknowledged logins answered 200; audit verify: $verify")
    log "    check: ${checks[-1]}"

    # (f) PostgreSQL: the baseline of the database's share, at this run's login rate.
    if [[ $database == PostgreSQL ]]; then
        floor_run "$out-floor" "$alone_rate"
        f_raw=$(awk -F= '$1 == "argon2_verify_per_sec" { print $2 }' "$out-floor.txt")
        f_tps=$(awk '$1 == "tps" { print $3; exit }' "$out-floor-pgbench.txt")
        f_pg=$(awk -F= '$1 == "postgres" { print $2 }' "$out-floor-cpu.txt")
        [[ -n $f_raw && -n $f_tps && -n $f_pg ]] || die "the PostgreSQL baseline printed no rate, tps or share"
        floor_raw+=("$f_raw") floor_ratio+=("$(ratio "$f_raw" "$r")") floor_tps+=("$f_tps") floor_postgres+=("$f_pg")
        floor_pgbench+=("$(awk -F= '$1 == "pgbench" { print $2 }' "$out-floor-cpu.txt")")
        # CPU ms of PostgreSQL's processes per login: the share of all cores over the rate.
        floor_pg_ms+=("$(awk -v s="$f_pg" -v c="$(nproc)" -v r="$f_tps" 'BEGIN { print s / 100 * c * 1000 / r }')")
        flood_pg_ms+=("$(awk -v s="${cpu_postgres[-1]}" -v c="$(nproc)" -v r="$alone" 'BEGIN { print s / 100 * c * 1000 / r }')")
        log "    PostgreSQL baseline: argon2 ${f_raw}/s at nice 19 beside ${f_tps} login writes/s; PostgreSQL ${f_pg} % of all cores (${cpu_postgres[-1]} % in the flood alone)"
    fi

    l=$(awk '$1 == "logins_per_sec" { print $2 }' "$out-flood.txt")
    [[ -n $l ]] || { cat "$out-flood.txt" >&2; die "bench/login.lua printed no logins_per_sec"; }
    rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$out-flood.txt")
    busy=$(percentile_ms "$out-probe.txt" 99%) || die "no p99 in $out-probe.txt"
    errors=$(( $(non_2xx "$out-alone.txt") + $(non_2xx "$out-flood.txt") ))
    probe_bad=$(( $(non_2xx "$out-idle.txt") + $(non_2xx "$out-probe.txt") + $(non_2xx "$out-quiet.txt") ))
    login_p99=$(percentile_ms "$out-flood.txt" 99% | awk '{ printf "%.0f", $1 }' || true)

    raw+=("$r") raw_before+=("$r_before") raw_after+=("$r_after") logins_alone+=("$alone") logins+=("$l") flood_rps+=("$rps") idle_p99+=("$idle") flood_p99+=("$busy")
    # Logins per second of the hashing threads' CPU, against raw verifications per second of one
    # core (argon2_rate runs $threads threads on as many cores).
    hash_efficiency+=("$(awk -v l="$alone" -v h="${cpu_hashing[-1]}" -v c="$(nproc)" -v r="$r" -v t="$threads" \
        'BEGIN { if (h > 0) print (l / (h / 100 * c)) / (r / t); else print 0 }')")
    alone_ratio+=("$(ratio "$alone" "$r")") login_ratio+=("$(ratio "$l" "$r")") p99_ratio+=("$(ratio "$busy" "$idle")")
    rss_before+=("$before") rss_peak+=("$peak") rss_anon+=("$anon") rss_file+=("$file") rss_growth+=("$(awk -v a="$peak" -v b="$before" 'BEGIN { print a - b }')")
    flood_errors+=("$errors") probe_errors+=("$probe_bad")

    log "    raw argon2 ${r}/s (${r_before} before the flood, ${r_after} after); logins ${alone}/s alone, ${l}/s with the probe (wrk ${rps} req/s, ${errors} non-2xx in both floods, login p99 ${login_p99:-?} ms)"
    log "    /readyz p99 idle ${idle} ms, in the flood ${busy} ms (${probe_bad} non-2xx); RSS ${before} MiB before, peak ${peak} MiB (now ${anon} MiB anonymous, ${file} MiB file pages)"
    grep -E '^status |Socket errors' "$out-flood.txt" | sed 's/^/    flood: /' >&2 || true
    ((errors == 0)) || log "    warning: the flood had non-2xx answers; logins/s counts only 2xx"
done

# --- summary -----------------------------------------------------------------------------

cores=$(nproc)
threads=${threads:-$cores}  # argon2_rate's threads, the size of the service's hashing semaphore
hashing_mib=$(awk -v c="$threads" 'BEGIN { printf "%.0f", c * 19456 / 1024 }')
m_alone_ratio=$(median "${alone_ratio[@]}")
m_login_ratio=$(median "${login_ratio[@]}")
m_p99_ratio=$(median "${p99_ratio[@]}")
total_errors=$(sum "${flood_errors[@]}")
total_probe_errors=$(sum "${probe_errors[@]}")

quiet_what=""
[[ $database != PostgreSQL ]] || quiet_what=", and pgbench writing the logins' rows (bench/login_floor.sql) at the flood's rate"
# PostgreSQL: the baseline's rows, appended to the table.
floor_rows=""
if ((${#floor_raw[@]} > 0)); then
    floor_rows+=$'\n'"| PostgreSQL baseline: login transactions/s, pgbench writing a login's rows (bench/login_floor.sql) at the flood alone's rate | $(fmt %.1f "$(median "${floor_tps[@]}")") | $(each %.1f "${floor_tps[@]}") | |"
    floor_rows+=$'\n'"| … raw argon2id verifications/s beside it, at nice 19 | $(fmt %.1f "$(median "${floor_raw[@]}")") | $(each %.1f "${floor_raw[@]}") | |"
    floor_rows+=$'\n'"| … ÷ the run's raw rate: the most a login flood could keep for hashing with the database here | $(fmt %.3f "$(median "${floor_ratio[@]}")") | $(each %.3f "${floor_ratio[@]}") | |"
    floor_rows+=$'\n'"| … PostgreSQL's processes, % of all cores | $(fmt %.1f "$(median "${floor_postgres[@]}")") | $(each %.1f "${floor_postgres[@]}") | |"
    floor_rows+=$'\n'"| … pgbench, % of all cores | $(fmt %.1f "$(median "${floor_pgbench[@]}")") | $(each %.1f "${floor_pgbench[@]}") | |"
    floor_rows+=$'\n'"| PostgreSQL's CPU per login (ms): in the baseline | $(fmt %.2f "$(median "${floor_pg_ms[@]}")") | $(each %.2f "${floor_pg_ms[@]}") | |"
    floor_rows+=$'\n'"| PostgreSQL's CPU per login (ms): in the service's flood alone | $(fmt %.2f "$(median "${flood_pg_ms[@]}")") | $(each %.2f "${flood_pg_ms[@]}") | |"
fi

cat <<EOF

### $(date -u +%Y-%m-%d) · commit $commit · $database

$(machine). $RUNS run(s): the median, then each run in order; ratios are taken within each run.
Flood: $FLOOD_CONNECTIONS connections for $FLOOD_SECS s over $ACCOUNTS accounts$( ((TOTP)) && printf ' (caseworkers with TOTP, each login with a current code; each flood its own accounts)' || printf ' (admins without a second factor: each login answers an enrolment token)'); /readyz probe: 1 connection, ${PROBE_DELAY_MS} ms between requests.

| figure | median | runs | target |
| --- | ---: | --- | --- |
| raw argon2id verifications/s ($threads threads), before the flood | $(fmt %.1f "$(median "${raw_before[@]}")") | $(each %.1f "${raw_before[@]}") | |
| raw argon2id verifications/s, after the flood alone | $(fmt %.1f "$(median "${raw_after[@]}")") | $(each %.1f "${raw_after[@]}") | |
| raw argon2id verifications/s, the run's baseline (mean of the two) | $(fmt %.1f "$(median "${raw[@]}")") | $(each %.1f "${raw[@]}") | |
| service logins/s, flood alone (2xx only) | $(fmt %.1f "$(median "${logins_alone[@]}")") | $(each %.1f "${logins_alone[@]}") | |
| logins/s ÷ raw verifications/s, flood alone | $(fmt %.3f "$m_alone_ratio") | $(each %.3f "${alone_ratio[@]}") | ≥ 0.90: $(meets "$m_alone_ratio" ">=" 0.90) |
| CPU in the flood alone, % of all cores: the hashing threads | $(fmt %.1f "$(median "${cpu_hashing[@]}")") | $(each %.1f "${cpu_hashing[@]}") | |
| … the service's other threads (HTTP, database work, sequencer) | $(fmt %.1f "$(median "${cpu_service[@]}")") | $(each %.1f "${cpu_service[@]}") | |
| … PostgreSQL's processes | $(fmt %.1f "$(median "${cpu_postgres[@]}")") | $(each %.1f "${cpu_postgres[@]}") | |
| … \`wrk\` | $(fmt %.1f "$(median "${cpu_wrk[@]}")") | $(each %.1f "${cpu_wrk[@]}") | |
| … everything else (kernel threads, interrupts, other programs) | $(fmt %.1f "$(median "${cpu_rest[@]}")") | $(each %.1f "${cpu_rest[@]}") | |
| logins per hashing-thread CPU second ÷ raw verifications per core second | $(fmt %.3f "$(median "${hash_efficiency[@]}")") | $(each %.3f "${hash_efficiency[@]}") | |
| service logins/s, flood with the \`/readyz\` probe (2xx only) | $(fmt %.1f "$(median "${logins[@]}")") | $(each %.1f "${logins[@]}") | |
| logins/s ÷ raw verifications/s, flood with the probe | $(fmt %.3f "$m_login_ratio") | $(each %.3f "${login_ratio[@]}") | |
| \`/readyz\` p99 idle (ms) | $(fmt %.2f "$(median "${idle_p99[@]}")") | $(each %.2f "${idle_p99[@]}") | |
| \`/readyz\` p99 during the flood (ms) | $(fmt %.2f "$(median "${flood_p99[@]}")") | $(each %.2f "${flood_p99[@]}") | |
| flood p99 ÷ idle p99 | $(fmt %.3f "$m_p99_ratio") | $(each %.3f "${p99_ratio[@]}") | ≤ 2: $(meets "$m_p99_ratio" "<=" 2) |
| \`/readyz\` p99 beside the least work of a flood, the server idle: argon2 on every core at nice 19${quiet_what} (ms) | $(fmt %.2f "$(median "${quiet_p99[@]}")") | $(each %.2f "${quiet_p99[@]}") | |
| … ÷ idle p99 | $(fmt %.3f "$(median "${quiet_ratio[@]}")") | $(each %.3f "${quiet_ratio[@]}") | |
| server RSS before the flood (MiB) | $(fmt %.1f "$(median "${rss_before[@]}")") | $(each %.1f "${rss_before[@]}") | |
| server peak RSS after both floods, VmHWM (MiB) | $(fmt %.1f "$(median "${rss_peak[@]}")") | $(each %.1f "${rss_peak[@]}") | bounded |
| of the RSS after both floods: anonymous (heap, stacks) (MiB) | $(fmt %.1f "$(median "${rss_anon[@]}")") | $(each %.1f "${rss_anon[@]}") | |
| of the RSS after both floods: file pages mapped in (MiB) | $(fmt %.1f "$(median "${rss_file[@]}")") | $(each %.1f "${rss_file[@]}") | |
| peak RSS − RSS before the flood (MiB) | $(fmt %.1f "$(median "${rss_growth[@]}")") | $(each %.1f "${rss_growth[@]}") | hashing needs at most $threads × 19 MiB = $hashing_mib MiB |
| non-2xx answers in the floods (sum) | $total_errors | $(each %d "${flood_errors[@]}") | 0 |
| non-2xx \`/readyz\` answers, idle, in the flood and beside its least work (sum) | $total_probe_errors | $(each %d "${probe_errors[@]}") | 0 |${floor_rows}

Checked after each run:
$(printf -- '- %s\n' "${checks[@]}")
EOF
if ((SCHED_TRACE > 0)); then
    printf '\nScheduler trace of the probe in the flood (%s s a run, bench/probe_trace.py):\n\n```\n' "$SCHED_TRACE"
    printf '%s\n' "${traces[@]}"
    printf '```\n'
fi
