#!/usr/bin/env bash
# Time and peak memory of cleaning a 12-megapixel phone photo (SPEC §11): the upright path
# (segments walked, pixels untouched) and the turned one (decoded, turned, encoded again). The
# photo is made in memory by examples/clean_jpeg.rs; no server, no database.
#
#   bash bench/clean.sh                 # key=value lines on stdout
#
# Environment: BENCH_RUNS (cleanings of each path, the median is printed; default 5),
# BENCH_SKIP_BUILD=1, CARGO_TARGET_DIR.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RUNS=${BENCH_RUNS:-5}
need_count BENCH_RUNS "$RUNS"
[[ -r /proc/self/status ]] || die "needs Linux (/proc/PID/status)"

release_build --example clean_jpeg
log "==> cleaning a 12-megapixel JPEG, $RUNS runs of each path (commit $(source_commit))"
"$TARGET_DIR/release/examples/clean_jpeg" "$RUNS"
