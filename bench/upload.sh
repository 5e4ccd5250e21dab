#!/usr/bin/env bash
# Evidence file uploads (SPEC §11): the throughput of one 100 MiB upload through the service
# (HTTP in, SHA-256, sealed chunk by chunk, written, fsynced, recorded) next to the machine's
# raw "encrypt and write with fsync" rate in the same run (examples/seal_baseline.rs: the same
# AEAD, no HTTP, no hashing, no database); the server's peak RSS above idle during ten
# concurrent 100 MiB uploads; and the time and peak memory of cleaning a 12-megapixel JPEG
# (examples/clean_jpeg.rs). What the figures mean and the targets: docs/BENCHMARKS.md.
#
#   bash bench/upload.sh              # progress on stderr, Markdown summary on stdout
#
# Environment: BENCH_RUNS (default 3), BENCH_MIB (100), BENCH_PARALLEL (10), BENCH_PORT
# (18084), BENCH_SKIP_BUILD=1, BENCH_KEEP=1, and BENCH_IDLE_PCT, BENCH_IDLE_WAIT as in
# bench/lib.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_RUNS:-3}
MIB=${BENCH_MIB:-100}
PARALLEL=${BENCH_PARALLEL:-10}
PORT=${BENCH_PORT:-18084}
need_count BENCH_RUNS "$RUNS"
need_count BENCH_MIB "$MIB"
need_count BENCH_PARALLEL "$PARALLEL"
need_count BENCH_PORT "$PORT"
machine_settings
need_tools curl awk sort python3 sha256sum

commit=$(source_commit)
release_build --bin tipline --example seal_baseline --example clean_jpeg
bench_setup upload
export DATABASE_URL="sqlite://$TIPLINE_DATA_DIR/bench.db"
export TIPLINE_ATTACHMENT_MAX_BYTES=$(((MIB + 1) << 20))
export TIPLINE_ATTACHMENT_MAX_TOTAL_BYTES=$(((MIB + 1) << 21))
# The buckets stay on, set high: every upload and submission takes its token.
export TIPLINE_RATE_SUBMIT=1000000 TIPLINE_RATE_UPLOAD=1000000 TIPLINE_RATE_RECEIPT_FAILURES=1000000

file="$tmp/evidence.bin"
log "==> a ${MIB} MiB file of random bytes"
head -c "$((MIB << 20))" /dev/urandom >"$file"
want_sha=$(sha256sum "$file" | awk '{ print $1 }')

# A new anonymous report and a receipt token for it: "REPORT_ID TOKEN".
new_report() {
    local created receipt
    created=$(curl -fsS -H 'Content-Type: application/json' \
        -d '{"kind":"station","narrative":"a letter and photos","country":"NL"}' "$BASE_URL/api/v1/reports")
    receipt=$(json_field receipt <<<"$created")
    printf '%s %s\n' "$(json_field id <<<"$created")" \
        "$(curl -fsS -H 'Content-Type: application/json' -d "{\"receipt\":\"$receipt\"}" "$BASE_URL/api/v1/auth/receipt" | json_field access_token)"
}

# Uploads $file to report $1 with token $2, streaming it from disk (-T), and prints the seconds
# it took; the answer goes to $3.
upload() {
    curl -fsS -o "$3" -w '%{time_total}\n' -X POST -T "$file" -H "Authorization: Bearer $2" \
        -H 'Content-Type: application/octet-stream' -H 'X-Filename: evidence.bin' \
        "$BASE_URL/api/v1/reports/$1/attachments"
}

baseline=() service=() ratios=() peaks=() idles=()
acknowledged=0
start_server
for run in $(seq 1 "$RUNS"); do
    log "==> run $run of $RUNS"
    wait_idle
    sync
    baseline+=("$("$TARGET_DIR/release/examples/seal_baseline" "$file" "$tmp/sealed.out")")
    rm -f "$tmp/sealed.out"
    read -r report token < <(new_report)
    sync
    wait_idle
    seconds=$(upload "$report" "$token" "$tmp/answer.json")
    [[ $(json_field sha256 <"$tmp/answer.json") == "$want_sha" ]] || die "the upload's SHA-256 differs from the file's"
    acknowledged=$((acknowledged + 1))
    service+=("$(awk -v m="$MIB" -v s="$seconds" 'BEGIN { printf "%.1f", m / s }')")
    ratios+=("$(ratio "${service[-1]}" "${baseline[-1]}")")
    log "    baseline ${baseline[-1]} MiB/s, service ${service[-1]} MiB/s"

    # Ten at once, each to its own report; the server's RSS sampled every 20 ms.
    reports=() tokens=()
    for i in $(seq 1 "$PARALLEL"); do
        read -r report token < <(new_report)
        reports+=("$report") tokens+=("$token")
    done
    wait_idle
    idle=$(memory_mib "$server_pid" VmRSS)
    pids=()
    for i in $(seq 0 $((PARALLEL - 1))); do
        upload "${reports[$i]}" "${tokens[$i]}" "$tmp/parallel-$i.json" >/dev/null &
        pids+=($!)
    done
    peak=$idle
    while :; do
        now=$(memory_mib "$server_pid" VmRSS)
        peak=$(awk -v a="$peak" -v b="$now" 'BEGIN { print (b > a ? b : a) }')
        running=0
        for pid in "${pids[@]}"; do alive "$pid" && running=1; done
        ((running)) || break
        sleep 0.02
    done
    for pid in "${pids[@]}"; do wait "$pid" || die "a parallel upload failed"; done
    for i in $(seq 0 $((PARALLEL - 1))); do
        [[ $(json_field sha256 <"$tmp/parallel-$i.json") == "$want_sha" ]] || die "parallel upload $i: SHA-256 differs"
    done
    acknowledged=$((acknowledged + PARALLEL))
    idles+=("$idle") peaks+=("$(awk -v p="$peak" -v i="$idle" 'BEGIN { printf "%.1f", p - i }')")
    log "    ${PARALLEL} at once: idle ${idle} MiB, peak +${peaks[-1]} MiB"
done

# The work was done: every acknowledged upload is stored, and the last one reads back whole.
stored=$(db_number "$DATABASE_URL" "SELECT count(*) FROM attachments")
((stored >= acknowledged)) || die "check: $stored files stored but $acknowledged uploads acknowledged"
curl -fsS -o "$tmp/back.bin" -H "Authorization: Bearer ${tokens[-1]}" \
    "$BASE_URL/api/v1/reports/${reports[-1]}/attachments/$(json_field id <"$tmp/parallel-$((PARALLEL - 1)).json")"
[[ $(sha256sum "$tmp/back.bin" | awk '{ print $1 }') == "$want_sha" ]] || die "check: the file read back differs"
rm -f "$tmp/back.bin"
verify=$(tipline audit verify >/dev/null 2>&1 && echo passed || echo FAILED)
[[ $verify == passed ]] || die "check: audit verify failed"
stop_server

log "==> cleaning a 12-megapixel JPEG"
clean_report=$("$TARGET_DIR/release/examples/clean_jpeg")

cat <<EOF
$(machine). $RUNS run(s) at commit $commit: the median, then each run in order.
A ${MIB} MiB file of random bytes (stored sealed only: no cleaner reads it), uploaded with
\`curl -T\` over loopback; the service on SQLite with the upload bucket on, set high.

| figure | median | runs | target |
| --- | ---: | --- | --- |
| raw encrypt + write + fsync (MiB/s) | $(median "${baseline[@]}") | $(each %.1f "${baseline[@]}") | |
| one upload through the service (MiB/s) | $(median "${service[@]}") | $(each %.1f "${service[@]}") | |
| service ÷ raw | $(median "${ratios[@]}") | $(each %.3f "${ratios[@]}") | ≥ 0.5: $(meets "$(median "${ratios[@]}")" '>=' 0.5) |
| server RSS at idle (MiB) | $(median "${idles[@]}") | $(each %.1f "${idles[@]}") | |
| peak RSS above idle, ${PARALLEL} uploads at once (MiB) | $(median "${peaks[@]}") | $(each %.1f "${peaks[@]}") | ≤ 64: $(meets "$(median "${peaks[@]}")" '<=' 64) |

Checked: $stored files stored ≥ $acknowledged uploads acknowledged; every answer's SHA-256 is
the file's; the last file reads back whole; audit verify $verify.

Cleaning a 12-megapixel JPEG (\`examples/clean_jpeg.rs\`):

$clean_report
EOF
