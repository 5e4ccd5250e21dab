# Helpers for the bench/*.sh scripts (sourced, not run): the server under test.
#
# Needs: log, die, tmp (the temporary folder the server runs in), TIPLINE (the binary),
# BASE_URL, and server_pid (empty while no server runs).

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
