#!/usr/bin/env bash
# The abandoned-hash flood (SPEC §12.3): 2 000 logins for random emails with 128-character
# passwords, each client hanging up the moment its request is sent; then a real caseworker logs
# in with the device token of an earlier sign-in and a current TOTP code, and must be answered
# within 1 s; and the server's peak RSS must stay within 64 MiB of its
# RSS when idle. On SQLite and on PostgreSQL. Ends by checking its work on each backend: the
# caseworker's session is stored and the audit chain verifies.
#
#   bash bench/flood.sh                 # progress on stderr, Markdown summary on stdout
#
# Environment: BENCH_FLOOD (logins, default 2000), BENCH_BACKENDS ("sqlite postgres"),
# BENCH_PG_URL (postgres://postgres@127.0.0.1:5432), BENCH_PG_DB (tipline_bench_flood),
# BENCH_PORT (18084), BENCH_SKIP_BUILD=1, BENCH_KEEP=1, CARGO_TARGET_DIR.
# Needs curl, python3 and, for PostgreSQL, psql and a server where the user may create databases.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FLOOD=${BENCH_FLOOD:-2000}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
PORT=${BENCH_PORT:-18084}
PASSWORD="bench-password-0123456789"
need_count BENCH_FLOOD "$FLOOD"
need_count BENCH_PORT "$PORT"
need_tools curl python3
[[ -r /proc/self/status ]] || die "needs Linux (/proc/PID/status)"

commit=$(source_commit)
release_build --bin tipline
bench_setup flood

# Sends $1 logins for random emails with 128-character passwords to 127.0.0.1:$PORT, each on its
# own connection, closed as soon as the request is written (no answer is read).
abandon_logins() {
    python3 - "$PORT" "$1" <<'PY'
import json, secrets, socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
for _ in range(count):
    body = json.dumps({"email": secrets.token_hex(8) + "@example.org", "password": secrets.token_hex(64)})
    request = ("POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(request)
PY
}

rows=() checks=()
for backend in $BACKENDS; do
    case $backend in
        sqlite) export DATABASE_URL="sqlite://$tmp/data/flood.db" ;;
        postgres)
            need_tools psql
            pg_settings tipline_bench_flood
            create_pg_db
            export DATABASE_URL="$PG_URL/$PG_DB"
            ;;
        *) die "BENCH_BACKENDS: unknown backend $backend (sqlite, postgres)" ;;
    esac
    log "==> $backend"
    printf '%s\n' "$PASSWORD" | tipline admin create --email bench-admin@example.org --password-stdin >/dev/null
    start_server
    admin=$(login bench-admin@example.org "$PASSWORD")
    [[ -n $admin ]] || die "the admin's login failed"
    curl -fsS -o /dev/null -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
        -d "{\"email\":\"bench-worker@example.org\",\"password\":\"$PASSWORD\",\"role\":\"caseworker\",\"display_name\":\"Bench\"}" \
        "$BASE_URL/api/v1/users" || die "could not create the caseworker"
    # The caseworker's first sign-in (enrolling TOTP) gives the device token; then wait for the
    # next 30 s TOTP step, so that the timed login has an unused code without waiting for one.
    device=$(login bench-worker@example.org "$PASSWORD" device_token)
    [[ -n $device ]] || die "the caseworker's first login failed"
    sleep "$(python3 -c 'import time; print(30.2 - time.time() % 30)')"
    sessions_before=$(db_number "$DATABASE_URL" "SELECT count(*) FROM sessions")
    sleep 2
    idle=$(memory_mib "$server_pid" VmRSS)
    started=$(date +%s.%N)
    abandon_logins "$FLOOD"
    sent=$(date +%s.%N)
    rm -f "$tmp/login_503s"
    worker=$(DEVICE_TOKEN=$device login bench-worker@example.org "$PASSWORD") || die "the caseworker's login failed after the flood"
    answered=$(date +%s.%N)
    [[ -n $worker ]] || die "the caseworker's login failed after the flood"
    busy=$( (cat "$tmp/login_503s" 2>/dev/null || true) | wc -l)
    peak=$(memory_mib "$server_pid" VmHWM)
    stop_server
    sessions=$(db_number "$DATABASE_URL" "SELECT count(*) FROM sessions")
    ((sessions - sessions_before >= 1)) || die "check: the caseworker's session is not stored"
    verify=$(tipline audit verify) || die "check: tipline audit verify: $verify"
    failed=$(db_number "$DATABASE_URL" "SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed'")
    checks+=("$backend: $((sessions - sessions_before)) session stored ≥ 1 login answered 200; audit verify: $verify")
    send_s=$(awk -v a="$started" -v b="$sent" 'BEGIN { printf "%.2f", b - a }')
    login_s=$(awk -v a="$sent" -v b="$answered" 'BEGIN { printf "%.3f", b - a }')
    growth=$(awk -v a="$peak" -v b="$idle" 'BEGIN { printf "%.1f", a - b }')
    log "    $FLOOD abandoned logins sent in $send_s s; caseworker login ${login_s} s after $busy 503(s); RSS idle $idle MiB, peak $peak MiB; $failed logins hashed and failed"
    rows+=("| $backend | $send_s | $failed | $busy | $login_s | $(meets "$login_s" "<=" 1) | $idle | $peak | $growth | $(meets "$growth" "<=" 64) |")
    if [[ $backend == postgres ]]; then
        drop_pg_db
        pg_created=0
    fi
done

cat <<EOF

### $(date -u +%Y-%m-%d) · commit $commit · abandoned-hash flood

$(machine). $FLOOD logins for random emails with 128-character passwords, each on its own
connection closed right after the request was written; then the caseworker's login, with the
device token of an earlier sign-in and a TOTP code.

| backend | flood sent in (s) | abandoned logins hashed anyway | caseworker's 503s (retried after Retry-After) | caseworker login until 200 (s) | ≤ 1 s | RSS idle (MiB) | peak RSS, VmHWM (MiB) | peak − idle (MiB) | ≤ 64 MiB |
| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |
$(printf '%s\n' "${rows[@]}")

Checked after each backend:
$(printf -- '- %s\n' "${checks[@]}")
EOF
