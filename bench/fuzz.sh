#!/usr/bin/env bash
# A short run of every fuzz target (cargo-fuzz on the nightly toolchain).
# Usage: bash bench/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
# Needs: rustup toolchain nightly, and `cargo install cargo-fuzz`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-60}"
targets=(submission cursor token)
for target in "${targets[@]}"; do
    echo "== fuzz target $target for ${seconds}s"
    (cd fuzz && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048)
done
echo "all fuzz targets ran ${seconds}s each without a crash"
