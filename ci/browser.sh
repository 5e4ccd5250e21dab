#!/usr/bin/env bash
# The reporter website in a real browser (SPEC §16): Debian's chromium and chromedriver
# (packages chromium and chromium-driver), driven by ci/browser_test.py (Python standard library
# only), with axe-core for the accessibility check. Nothing is downloaded at test time but the
# pinned axe-core package from the npm registry (once; kept in .browser-ci/).
#
# Usage: bash ci/browser.sh [PATH_TO_TIPLINE_BINARY]   (default: target/debug/tipline)
# Screenshots: BROWSER_SHOTS (default: target/browser-shots).
set -euo pipefail

AXE_VERSION="4.14.1"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
BIN="${1:-target/debug/tipline}"
[[ "$BIN" = /* ]] || BIN="$ROOT/$BIN"
if [[ ! -x "$BIN" ]]; then
    echo "browser.sh: no tipline binary at $BIN (build it with cargo build)" >&2
    exit 2
fi
for tool in chromium chromedriver; do
    if ! command -v "$tool" >/dev/null; then
        echo "browser.sh: $tool is missing (apt-get install -y chromium chromium-driver)" >&2
        exit 2
    fi
done

CACHE="$ROOT/.browser-ci"
AXE="$CACHE/axe-core-$AXE_VERSION/axe.min.js"
if [[ ! -s "$AXE" ]]; then
    mkdir -p "$CACHE/axe-core-$AXE_VERSION"
    (cd "$CACHE" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
    tar -xzf "$CACHE/axe-core-$AXE_VERSION.tgz" -C "$CACHE/axe-core-$AXE_VERSION" --strip-components=1 package/axe.min.js
fi

export BROWSER_SHOTS="${BROWSER_SHOTS:-$ROOT/target/browser-shots}"
python3 "$ROOT/ci/browser_test.py" "$BIN" "$AXE"
