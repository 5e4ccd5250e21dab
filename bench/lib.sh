# Helpers for the bench/*.sh scripts (sourced, not run): settings, the release build, the
# temporary folder, the server under test, PostgreSQL, keeping other work on the machine out of
# the figures, reading wrk's output, and the summary.
#
# Sourcing it moves to the top of the working tree. A script then sets PORT and its other
# settings, and calls what it uses: release_build, bench_setup (the temporary folder, the
# clean-up on exit and the server's environment), pg_settings and machine_settings.

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C

SCRIPT="bench/${0##*/}"

log() { printf '%s\n' "$*" >&2; }
die() { log "$SCRIPT: $*"; exit 1; }

# --- settings ----------------------------------------------------------------------------

is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
# $1: the variable's name, $2: its value.
need_count() { is_count "$2" || die "$1 must be a positive whole number"; }

need_tools() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is missing (apt-get install wrk curl python3 postgresql-client)"
    done
}

TARGET_DIR=${CARGO_TARGET_DIR:-target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR="$PWD/$TARGET_DIR"
TIPLINE="$TARGET_DIR/release/tipline"
BENCH_SQL="$TARGET_DIR/release/examples/bench_sql"

# cargo build --release "$@" (--bin NAME and --example NAME only), unless BENCH_SKIP_BUILD=1;
# then every binary named must be there.
release_build() {
    if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
        log "==> cargo build --release $*"
        cargo build --release "$@" >&2
    fi
    while (($# >= 2)); do
        case $1 in
            --bin) [[ -x $TARGET_DIR/release/$2 ]] || die "$TARGET_DIR/release/$2 is missing" ;;
            --example) [[ -x $TARGET_DIR/release/examples/$2 ]] || die "$TARGET_DIR/release/examples/$2 is missing" ;;
            *) die "release_build: $1 is not --bin or --example" ;;
        esac
        shift 2
    done
}

# The source measured: the commit, and whether the working tree differs from it.
source_commit() {
    local commit
    if commit=$(git rev-parse --short HEAD 2>/dev/null); then
        git diff --quiet HEAD -- 2>/dev/null || commit+=" (modified)"
    else
        commit=unknown
    fi
    printf '%s' "$commit"
}

# --- the temporary folder and the clean-up -----------------------------------------------

server_pid=""
# A job of the script's own to end on exit (e.g. a wrk running in the background), or empty.
background_pid=""
pg_created=0

# $1: a name for the temporary folder. Needs PORT.
bench_setup() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/tipline-bench-$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    BASE_URL="http://127.0.0.1:$PORT"
    export TIPLINE_DATA_DIR="$tmp/data"
    export TIPLINE_BIND="127.0.0.1:$PORT"
    export RUST_LOG=warn
    mkdir -p "$TIPLINE_DATA_DIR"
    port_free || die "something already answers on $BASE_URL; set BENCH_PORT"
}

cleanup() {
    local status=$?
    if [[ -n $background_pid ]] && alive "$background_pid"; then
        kill -TERM "$background_pid" 2>/dev/null || true
    fi
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

# --- the server under test ---------------------------------------------------------------

# A process that exists and is not a zombie waiting to be reaped.
alive() {
    [[ -n $1 && -r /proc/$1/status ]] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

stop_server() {
    [[ -n $server_pid ]] || return 0
    if alive "$server_pid"; then
        kill -TERM "$server_pid" 2>/dev/null || true
        # The server lets requests in flight finish, for up to 30 s.
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

# The binaries run in the temporary folder, so that no .env in the working tree applies.
tipline() { (cd "$tmp" && exec "$TIPLINE" "$@"); }
bench_sql() { (cd "$tmp" && exec "$BENCH_SQL" "$@"); }

port_free() { ! curl -fsS -o /dev/null --max-time 2 "$BASE_URL/readyz" 2>/dev/null; }

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

# The kB field $2 (VmRSS, VmHWM) of /proc/$1/status, in MiB.
memory_mib() {
    awk -v field="$2:" '$1 == field { printf "%.1f", $2 / 1024; found = 1 } END { exit !found }' \
        "/proc/$1/status"
}

# A JSON field of standard input; empty when absent or null.
json_field() {
    python3 -c '
import json, sys
value = json.load(sys.stdin).get(sys.argv[1])
print("" if value is None else value)
' "$1"
}

# An access token for $1 (email) with the password $2: with a current TOTP code, enrolling a
# second factor at the account's first sign-in (SPEC §12.1; see bench/staff_login.py). A 503
# (the hashing queue is full) is retried after its Retry-After, up to 10 times; each 503 adds a
# line to $tmp/login_503s. $3, when given, names another field of the answer to print instead
# (device_token); $DEVICE_TOKEN, when set, is sent as the device token of an earlier sign-in.
login() {
    LOGIN_503_FILE=${tmp:+$tmp/login_503s} TOTP_STATE_DIR=${TOTP_STATE_DIR:-${tmp:+$tmp/totp}} python3 "$(dirname "${BASH_SOURCE[0]}")/staff_login.py" "$BASE_URL" "$1" "$2" "${3:-access_token}" || true
}

# --- every load script ends by checking its own work --------------------------------------

# The single number that the SQL $2 returns on the database DATABASE_URL $1 (PostgreSQL or SQLite).
db_number() {
    case $1 in
        postgres://* | postgresql://*) psql -X -At -v ON_ERROR_STOP=1 -d "$1" -c "$2" ;;
        sqlite://*) python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "${1#sqlite://}" "$2" ;;
        *) die "db_number: not a database URL this script knows" ;;
    esac
}

# After a run on the database DATABASE_URL $1, with the server stopped. $2: reports before the
# run; $3: submissions acknowledged (201). Optional: $4 PATCHes acknowledged (200), $5 PATCHes
# sent, $6 report.triage entries before the run. Checks that every acknowledged submission is
# stored, that the triage entries the run added lie between the PATCHes acknowledged and those
# sent (wrk ends a run with requests in flight: the server may have committed a PATCH whose
# answer wrk never read, so the two counts differ by at most the connections), and that the
# audit chain verifies (tipline audit verify). Dies on the first failure; sets checked, a line
# that says what was checked.
check_work() {
    local url=$1 before=$2 acknowledged=$3 patched=${4:-} sent=${5:-} triage_before=${6:-0} stored triaged verify
    stored=$(db_number "$url" "SELECT count(*) FROM reports") || die "check: cannot count the reports"
    ((stored - before >= acknowledged)) \
        || die "check: $((stored - before)) reports stored but $acknowledged submissions acknowledged"
    checked="$((stored - before)) reports stored ≥ $acknowledged acknowledged"
    if [[ -n $patched ]]; then
        triaged=$(db_number "$url" "SELECT count(*) FROM audit_log WHERE action = 'report.triage'") \
            || die "check: cannot count the triage entries"
        triaged=$((triaged - triage_before))
        ((patched <= triaged && triaged <= sent)) \
            || die "check: $triaged report.triage audit entries, but $patched PATCHes answered 200 of $sent sent"
        checked+="; $patched PATCH 200s ≤ $triaged report.triage entries ≤ $sent PATCHes sent"
    fi
    verify=$(DATABASE_URL="$url" tipline audit verify) || die "check: tipline audit verify: $verify"
    checked+="; audit verify: $verify"
    log "    check: $checked"
}

# --- PostgreSQL --------------------------------------------------------------------------

# BENCH_PG_URL and BENCH_PG_DB; $1: the database's default name.
pg_settings() {
    PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
    PG_URL=${PG_URL%/}
    PG_DB=${BENCH_PG_DB:-$1}
    [[ $PG_DB =~ ^tipline_bench[a-z0-9_]*$ ]] || die "BENCH_PG_DB must start with tipline_bench (lower case, digits, _)"
    [[ $PG_URL =~ ^postgres(ql)?:// ]] || die "BENCH_PG_URL must be a postgres:// URL without a database name"
    [[ ${PG_URL#*://} != */* ]] || die "BENCH_PG_URL must not name a database; set BENCH_PG_DB"
}

# psql on the maintenance database of the server, for CREATE/DROP DATABASE and CHECKPOINT.
pg_admin() { psql -X -q -v ON_ERROR_STOP=1 -d "$PG_URL/postgres" "$@"; }
pg_bench_db() { psql -X -q -v ON_ERROR_STOP=1 -d "$PG_URL/$PG_DB" "$@"; }
drop_pg_db() { pg_admin -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >&2; }

# A fresh database PG_DB, migrated by the service; dropped again on exit.
create_pg_db() {
    drop_pg_db
    pg_created=1
    pg_admin -c "CREATE DATABASE \"$PG_DB\"" >&2
    DATABASE_URL="$PG_URL/$PG_DB" tipline migrate >/dev/null
}

pg_server_version() { psql -X -At -d "$PG_URL/postgres" -c "SHOW server_version" 2>/dev/null | awk '{ print $1 }'; }

# --- keeping other work on the machine out of the figures --------------------------------
#
# Before a measurement, wait_idle waits until the CPUs are idle. Around it, cpu_mark and
# foreign_cores tell how much CPU processes other than the benchmark's own used meanwhile:
# the machine's busy time (/proc/stat) minus the time of this script's processes (its reaped
# children, and the server while it runs) and of PostgreSQL's processes (all of them: the
# server is shared, so another client's queries count as the benchmark's). A measurement that
# others disturbed is repeated (see measure_undisturbed).

# BENCH_IDLE_PCT, BENCH_IDLE_WAIT, BENCH_MAX_FOREIGN and BENCH_ATTEMPTS.
machine_settings() {
    IDLE_PCT=${BENCH_IDLE_PCT:-90}
    IDLE_WAIT=${BENCH_IDLE_WAIT:-600}
    MAX_FOREIGN=${BENCH_MAX_FOREIGN:-0.10}
    ATTEMPTS=${BENCH_ATTEMPTS:-5}
    [[ $IDLE_PCT =~ ^[0-9]+$ ]] && ((IDLE_PCT <= 100)) || die "BENCH_IDLE_PCT must be a whole number from 0 to 100"
    [[ $IDLE_WAIT =~ ^[0-9]+$ ]] || die "BENCH_IDLE_WAIT must be a whole number of seconds"
    [[ $MAX_FOREIGN =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "BENCH_MAX_FOREIGN must be a number of cores, e.g. 0.10"
    need_count BENCH_ATTEMPTS "$ATTEMPTS"
    CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
    foreign_seen=()
}

# Percentage of CPU time idle over the next $1 seconds (all cores).
idle_pct() {
    local a b
    a=$(awk '$1 == "cpu" { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    sleep "$1"
    b=$(awk '$1 == "cpu" { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ")
        if (y[2] > x[2]) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print 100 }'
}

# Waits until the CPUs are at least IDLE_PCT % idle over 2 s, for at most IDLE_WAIT seconds.
# Sets idle_now.
wait_idle() {
    local waited=0
    ((IDLE_PCT > 0)) || { idle_now=-1; return 0; }
    idle_now=$(idle_pct 2)
    while ((idle_now < IDLE_PCT && waited < IDLE_WAIT)); do
        ((waited > 0)) || log "    waiting for the machine to go idle (${idle_now} % idle; want ${IDLE_PCT} %)"
        sleep 3
        waited=$((waited + 5))
        idle_now=$(idle_pct 2)
    done
    ((idle_now >= IDLE_PCT)) || log "    warning: the machine is still busy (${idle_now} % idle); measuring anyway"
}

# Busy CPU ticks of the whole machine.
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# CPU ticks of: this shell's reaped children, the server and the background job (with its
# children) while they run, and every PostgreSQL process (with what the postmaster reaped from
# its exited backends).
own_ticks() {
    local pids=() pid
    [[ -z ${server_pid:-} ]] || pids+=("$server_pid")
    # A job of the script's own running in the background, and its children.
    if [[ -n ${background_pid:-} ]]; then
        pids+=("$background_pid")
        while read -r pid; do pids+=("$pid"); done < <(pgrep -P "$background_pid" 2>/dev/null || true)
    fi
    while read -r pid; do pids+=("$pid"); done < <(pgrep -x postgres 2>/dev/null || true)
    {
        # Fields after "(comm)": 1 state, 12 utime, 13 stime, 14 cutime, 15 cstime.
        sed 's/^.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'
        for pid in "${pids[@]}"; do
            sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }' || true
        done
    } | awk '{ s += $1 } END { print s + 0 }'
}

cpu_mark() {
    mark_busy=$(busy_ticks)
    mark_own=$(own_ticks)
    mark_wall=$(date +%s.%N)
}

# Average number of cores that other processes kept busy since cpu_mark.
foreign_cores() {
    local busy own wall
    busy=$(busy_ticks)
    own=$(own_ticks)
    wall=$(date +%s.%N)
    awk -v b0="$mark_busy" -v b1="$busy" -v o0="$mark_own" -v o1="$own" -v w0="$mark_wall" -v w1="$wall" \
        -v hz="$CLK_TCK" 'BEGIN {
            f = ((b1 - b0) - (o1 - o0)) / hz / (w1 - w0)
            printf "%.2f", (f < 0 ? 0 : f) }'
}

# Runs "$@" (a function that measures once and sets foreign) until others kept at most
# MAX_FOREIGN cores busy during it, at most ATTEMPTS times. Appends foreign to foreign_seen.
measure_undisturbed() {
    local attempt
    for ((attempt = 1; ; attempt++)); do
        "$@"
        if awk -v f="$foreign" -v m="$MAX_FOREIGN" 'BEGIN { exit !(f <= m) }'; then
            break
        fi
        if ((attempt >= ATTEMPTS)); then
            log "    warning: other processes kept $foreign cores busy in all $ATTEMPTS attempts; keeping the last"
            break
        fi
        log "    other processes kept $foreign cores busy meanwhile (at most $MAX_FOREIGN allowed); measuring again"
    done
    foreign_seen+=("$foreign")
}

# --- wrk's output ------------------------------------------------------------------------

# A percentile of wrk's --latency distribution in ms; $1: the output, $2: 50%, 99%, ...
percentile_ms() {
    awk -v p="$2" '
        $1 == p {
            value = $2
            match(value, /^[0-9.]+/)
            number = substr(value, 1, RLENGTH) + 0
            unit = substr(value, RLENGTH + 1)
            if (unit == "us") factor = 0.001
            else if (unit == "ms") factor = 1
            else if (unit == "s") factor = 1000
            else if (unit == "m") factor = 60000
            else if (unit == "h") factor = 3600000
            else exit 1
            printf "%.3f", number * factor
            found = 1
        }
        END { exit !found }
    ' "$1"
}

# "Non-2xx or 3xx responses: N" (wrk prints the line only when N > 0).
non_2xx() { awk -F': *' '$1 ~ /Non-2xx or 3xx responses/ { n = $2 } END { print n + 0 }' "$1"; }

# Dies, showing wrk's output in the file $1, unless wrk finished its run.
wrk_done() { grep -q '^Requests/sec:' "$1" || { cat "$1" >&2; die "wrk failed (${1##*/})"; }; }

# wrk "${@:2}" with its output in the file $1.
run_wrk() {
    local out=$1
    shift
    wrk "$@" >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed on ${*: -1}"; }
    wrk_done "$out"
}

# --- the summary -------------------------------------------------------------------------

median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2
        print m }'
}
fmt() { awk -v v="$2" -v f="$1" 'BEGIN { if (v == "nan") print v; else printf f, v }'; }
# Every value in $2... in the format $1, separated by " / ".
each() {
    local f=$1 out="" v
    shift
    for v in "$@"; do out+="${out:+ / }$(fmt "$f" "$v")"; done
    printf '%s' "$out"
}
meets() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (v == "nan") print "?"; else if ((op == ">=" && v >= t) || (op == "<=" && v <= t)) print "met"; else print "not met" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }
sum() { printf '%s\n' "$@" | awk '{ s += $1 } END { print s + 0 }'; }

# CPU, cores, memory and kernel.
machine() {
    local cpu mem_gib
    cpu=$(awk -F': *' '$1 ~ /^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
    mem_gib=$(awk '$1 == "MemTotal:" { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
    printf '%s, %s cores, %s GiB, %s' "${cpu:-unknown CPU}" "$(nproc)" "$mem_gib" "$(uname -sr)"
}
