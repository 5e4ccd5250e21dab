# Helpers for bench/intake.sh and bench/queue.sh (sourced, not run): keep other work on the
# machine out of the figures.
#
# Before a measurement, wait_idle waits until the CPUs are idle. Around it, cpu_mark and
# foreign_cores tell how much CPU processes other than the benchmark's own used meanwhile:
# the machine's busy time (/proc/stat) minus the time of this script's processes (its reaped
# children, and the server while it runs) and of PostgreSQL's processes (all of them: the
# server is shared, so another client's queries count as the benchmark's). A measurement that
# others disturbed is repeated (see measure_undisturbed).
#
# Needs: log, IDLE_PCT, IDLE_WAIT, MAX_FOREIGN, ATTEMPTS, and server_pid (may be empty).

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

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

# CPU ticks of: this shell's reaped children, the server while it runs, and every PostgreSQL
# process (with what the postmaster reaped from its exited backends).
own_ticks() {
    local pids=() pid
    [[ -z ${server_pid:-} ]] || pids+=("$server_pid")
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
