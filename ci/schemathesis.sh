#!/usr/bin/env bash
# Contract fuzzing: runs Schemathesis over every operation of api-spec/openapi.yaml against a
# live Tipline, once without a token, once with a receipt token and once with an access token of
# each role (reporter, caseworker, admin), with every check (and those of
# ci/schemathesis_hooks.py) and with both valid and invalid (negative) data. Any finding makes
# the script exit non-zero.
#
# Usage: bash ci/schemathesis.sh [PATH_TO_TIPLINE_BINARY]   (default: target/debug/tipline)
#
# Environment (all optional):
#   ST_VENV          virtualenv holding Schemathesis; created (and the pinned version
#                    installed) if it lacks it. Default: .venv-ci
#   ST_PORT          port the service listens on (127.0.0.1). Default: 18090
#   ST_MAX_EXAMPLES  test cases per operation and phase. Default: 50
#   ST_SEED          Hypothesis seed, to replay a run. Default: random
#   ST_REPORT_DIR    where the JUnit reports and the server log are kept. Default: a temp dir
#   ST_RUNS          which runs to do. Default: "anonymous receipt reporter caseworker admin"
#   ST_POSTGRES      a PostgreSQL server URL without a database, e.g.
#                    postgres://postgres@127.0.0.1:5432: the service then runs on a throwaway
#                    database created there (and dropped at the end) instead of on SQLite.
set -euo pipefail

SCHEMATHESIS_VERSION="4.32.5"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

BIN="${1:-target/debug/tipline}"
[[ "$BIN" = /* ]] || BIN="$ROOT/$BIN"
if [[ ! -x "$BIN" ]]; then
    echo "schemathesis.sh: no tipline binary at $BIN (build it with cargo build)" >&2
    exit 2
fi

SPEC="$ROOT/api-spec/openapi.yaml"
VENV="${ST_VENV:-$ROOT/.venv-ci}"
PORT="${ST_PORT:-18090}"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-50}"
BASE="http://127.0.0.1:$PORT"
API="$BASE/api/v1"

banner() {
    printf '\n==== %s ====\n' "$*"
}

# --- Schemathesis, pinned, in a virtualenv -------------------------------------------------
ST="$VENV/bin/st"
if ! "$ST" --version 2>/dev/null | grep -qx "st, version $SCHEMATHESIS_VERSION"; then
    banner "installing schemathesis==$SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$ST" --version
PY="$VENV/bin/python"
# Schemathesis 4.32.5 reads every string of a 2xx JSON body that starts with http:// as a
# possible link, and its run ends with an internal error when such a string does not parse
# (Python's urlsplit: "Invalid IPv6 URL"). Free text the fuzzer stored, a station's name for
# one, can be such a string. ci/schemathesis_run.py runs Schemathesis with that link
# inference skipping the strings it cannot parse; every check still runs.
ST_CMD=("$PY" "$ROOT/ci/schemathesis_run.py")

# --- A fresh service ------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/tipline-st.XXXXXX")"
REPORT_DIR="${ST_REPORT_DIR:-$TMP/reports}"
mkdir -p "$REPORT_DIR"
SERVER_LOG="$REPORT_DIR/server.log"
SERVER_PID=""

PG_DB=""

cleanup() {
    local rc=$?
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "$PG_DB" ]]; then
        psql "$ST_POSTGRES/postgres" -qXc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null \
            || echo "schemathesis.sh: could not drop the database $PG_DB" >&2
    fi
    if [[ $rc -ne 0 && -f "$SERVER_LOG" ]]; then
        echo "--- last lines of the server log ($SERVER_LOG) ---" >&2
        tail -n 40 "$SERVER_LOG" >&2 || true
    fi
    if [[ -z "${ST_REPORT_DIR:-}" && $rc -eq 0 ]]; then
        rm -rf "$TMP"
    else
        echo "reports and server log kept in $REPORT_DIR" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n "${ST_POSTGRES:-}" ]]; then
    ST_POSTGRES="${ST_POSTGRES%/}"
    PG_DB="tipline_st_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    psql "$ST_POSTGRES/postgres" -qXc "CREATE DATABASE $PG_DB" >/dev/null
    export DATABASE_URL="$ST_POSTGRES/$PG_DB"
    banner "PostgreSQL: throwaway database $PG_DB"
else
    export DATABASE_URL="sqlite://$TMP/tipline.db"
fi
export TIPLINE_DATA_DIR="$TMP"
export TIPLINE_BIND="127.0.0.1:$PORT"
export TIPLINE_ALLOW_REGISTRATION=true
# Fuzzing sends far more registrations, submissions and wrong receipts than a real tipline gets:
# the token buckets (429, documented) would answer most of them and hide the code behind them.
export TIPLINE_RATE_SUBMIT=off TIPLINE_RATE_REGISTER=off TIPLINE_RATE_RECEIPT_FAILURES=off
export RUST_LOG="${RUST_LOG:-warn}"

ADMIN_EMAIL="st-admin@example.org"
PASSWORD="schemathesis fuzzing passphrase"

banner "starting tipline on $BASE"
printf '%s\n' "$PASSWORD" | "$BIN" admin create --email "$ADMIN_EMAIL" --password-stdin >/dev/null
"$BIN" serve >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "tipline exited before it was ready" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$BASE/readyz" >/dev/null

# --- Accounts, tokens and a little data -----------------------------------------------------
# post PATH JSON [TOKEN]: POST to the API, print the body, fail unless the status is 2xx.
post() {
    local auth=()
    [[ -n "${3:-}" ]] && auth=(-H "Authorization: Bearer $3")
    curl -fsS -X POST "$API$1" -H 'Content-Type: application/json' "${auth[@]}" -d "$2"
}
# field NAME: print one top-level field of the JSON document on standard input.
field() {
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
# Staff sign in with a second factor (SPEC §12.1): bench/staff_login.py enrols one at the first
# sign-in and computes the TOTP codes (standard library only). login EMAIL [FIELD].
export TOTP_STATE_DIR="$TMP/totp"
login() {
    "$PY" "$ROOT/bench/staff_login.py" "$BASE" "$1" "$PASSWORD" "${2:-access_token}"
}
# Reporters have no email (SPEC §14): they register themselves and log in by the account name
# they were given.
login_account() {
    post /auth/login "{\"account\":\"$1\",\"password\":\"$PASSWORD\"}" | field access_token
}
# session ROLE: a fresh access token for the st- account of that role.
session() {
    if [[ "$1" == reporter ]]; then login_account "$REPORTER_ACCOUNT"; else login "st-$1@example.org"; fi
}

banner "creating accounts and data"
# st-admin, st-caseworker and a registered reporter are the callers of the runs. st-target is an
# account for the fuzzer to hit (read, change, revoke, log in as), so that no run ends its own
# session through another operation than logout.
ADMIN_TOKEN="$(login st-admin@example.org)"
new_user() {
    post /users "{\"email\":\"$1\",\"password\":\"$PASSWORD\",\"role\":\"$2\",\"display_name\":\"$3\"}" "$ADMIN_TOKEN" | field id
}
CASEWORKER_ID="$(new_user st-caseworker@example.org caseworker 'ST Caseworker')"
REPORTER="$(post /auth/register "{\"password\":\"$PASSWORD\",\"display_name\":\"ST Reporter\"}")"
REPORTER_ID="$(field id <<<"$REPORTER")"
REPORTER_ACCOUNT="$(field account <<<"$REPORTER")"
TARGET_ID="$(new_user st-target@example.org caseworker 'ST Target')"
CASEWORKER_TOKEN="$(login st-caseworker@example.org)"
REPORTER_TOKEN="$(login_account "$REPORTER_ACCOUNT")"
TARGET_REFRESH="$(login st-target@example.org refresh_token)"

PUBLIC_STATION_ID="$(post /stations '{"name":"ST station, Rotterdam","country":"NL","city":"Rotterdam","visibility":"public","sources":[{"title":"ST source","url":"https://example.org/st","published_on":"2022-09-12"}]}' "$CASEWORKER_TOKEN" | field id)"
INTERNAL_STATION_ID="$(post /stations '{"name":"ST internal station","country":"CA","notes":"ST notes"}' "$CASEWORKER_TOKEN" | field id)"
ANONYMOUS_REPORT="$(post /reports "{\"kind\":\"incident\",\"tactics\":[\"threat_to_family\"],\"narrative\":\"ST anonymous report\",\"country\":\"NL\",\"station_id\":\"$PUBLIC_STATION_ID\"}")"
ANONYMOUS_REPORT_ID="$(field id <<<"$ANONYMOUS_REPORT")"
RECEIPT="$(field receipt <<<"$ANONYMOUS_REPORT")"
# A signed form token of the reporter website, so that its form posts get past the token check.
FORM_TOKEN="$(curl -fsS "$BASE/en/report" | sed -n 's/.*name="form_token" value="\([^"]*\)".*/\1/p' | head -n 1)"
[[ -n $FORM_TOKEN ]] || { echo "no form token on /en/report" >&2; exit 1; }
REPORTER_REPORT_ID="$(post /reports '{"kind":"station","narrative":"ST reporter report","country":"CA"}' "$REPORTER_TOKEN" | field id)"
INTAKE_REPORT_ID="$(post /reports '{"kind":"incident","tactics":["surveillance"],"narrative":"ST intake report","country":"DE"}' "$CASEWORKER_TOKEN" | field id)"
post /reports/"$ANONYMOUS_REPORT_ID"/messages '{"body":"ST message"}' "$CASEWORKER_TOKEN" >/dev/null
post /reports/"$ANONYMOUS_REPORT_ID"/notes '{"body":"ST note"}' "$CASEWORKER_TOKEN" >/dev/null
post /reports/"$REPORTER_REPORT_ID"/messages '{"body":"ST reply"}' "$REPORTER_TOKEN" >/dev/null
CASE_ID="$(post /cases "{\"title\":\"ST case\",\"summary\":\"ST summary\",\"assignee_id\":\"$CASEWORKER_ID\",\"report_ids\":[\"$ANONYMOUS_REPORT_ID\"]}" "$CASEWORKER_TOKEN" | field id)"
post /cases/"$CASE_ID"/stations "{\"station_id\":\"$PUBLIC_STATION_ID\",\"relation\":\"mentioned\",\"confidence\":\"low\",\"note\":\"ST link\"}" "$CASEWORKER_TOKEN" >/dev/null
echo "stations $PUBLIC_STATION_ID $INTERNAL_STATION_ID; reports $ANONYMOUS_REPORT_ID $REPORTER_REPORT_ID $INTAKE_REPORT_ID; case $CASE_ID"

# --- Schemathesis -----------------------------------------------------------------------------
# Configuration. Schemathesis's checks expect the statuses most APIs use. Where this API's
# contract (api-spec/openapi.yaml) documents another status for a rule that no JSON Schema can
# express, the check is told that status, for the operations the rule applies to and with the
# reason next to it. Nothing else is relaxed: every other status, and every schema, header and
# content type, is checked.
CONFIG="$TMP/schemathesis.toml"
# Schemathesis's defaults, plus 413 for every operation: a body over 64 KiB is 413 before any
# field rule, and texts within their limits in characters can exceed it once encoded (JSON
# escapes take up to 12 bytes a character). And 422, which the check unexplained_422
# (ci/schemathesis_hooks.py) then judges field by field: valid data may be refused only for
# the fields of its operation's list there (an opaque cursor, a reference to another record,
# a date that must not be in the future, a URL the WHATWG parser refuses, a triage field that
# depends on the stored status). And 410: a fuzzed withdrawal with `erase` (valid data) shreds
# the report, and from then on every read or write of its content is 410 (SPEC §13).
POSITIVE='"2xx", "3xx", "401", "403", "404", "409", "410", "429", "5xx", "413", "422"'
NEGATIVE='"400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx", "413"'
MISSING_HEADER='"400", "401", "403", "406", "415", "422"'
cat >"$CONFIG" <<TOML
# Schemathesis would otherwise sign up through POST /auth/register and send that account's
# token everywhere; each run here chooses its token (or none) itself.
[auth]
auto-signup = false

# Replay data (for "st replay") goes with the reports, not into the working tree.
[cache]
directory = "$REPORT_DIR/cache"

[checks.positive_data_acceptance]
expected-statuses = [$POSITIVE]
[checks.negative_data_rejection]
expected-statuses = [$NEGATIVE]

# Optimistic concurrency (RFC 9110, RFC 6585): a missing If-Match is 428, and one of the ETag
# form (the schema's pattern) that is not the record's current version is 412: no schema knows
# the stored version. One not of that form is 400, which the negative check already expects.
[[operations]]
include-name = ["PATCH /api/v1/reports/{id}", "PATCH /api/v1/cases/{id}", "PATCH /api/v1/stations/{id}"]
checks.positive_data_acceptance.expected-statuses = [$POSITIVE, "412"]
checks.missing_required_header.expected-statuses = [$MISSING_HEADER, "428"]

# Test data. Ids and secrets drawn at random almost never exist, so the fuzzer also draws
# (about half the time) those of the records made above, to get past the 404s and 401s.
[dictionaries.users]
values = ["$TARGET_ID", "$REPORTER_ID", "$CASEWORKER_ID"]
[dictionaries.caseworkers]
values = ["$CASEWORKER_ID", "$TARGET_ID"]
[dictionaries.reports]
values = ["$ANONYMOUS_REPORT_ID", "$REPORTER_REPORT_ID", "$INTAKE_REPORT_ID"]
[dictionaries.cases]
values = ["$CASE_ID"]
[dictionaries.stations]
values = ["$PUBLIC_STATION_ID", "$INTERNAL_STATION_ID"]
[dictionaries.public-stations]
values = ["$PUBLIC_STATION_ID"]
[dictionaries.receipts]
values = ["$RECEIPT"]
[dictionaries.form-tokens]
values = ["$FORM_TOKEN"]
[dictionaries.refresh-tokens]
values = ["$TARGET_REFRESH"]
[dictionaries.emails]
values = ["st-target@example.org"]
[dictionaries.accounts]
values = ["$REPORTER_ACCOUNT"]
[dictionaries.passwords]
values = ["$PASSWORD"]

[[operations]]
include-path-regex = '^/api/v1/users/\{id\}'
parameters = { "path.id" = { dictionary = "users", probability = 0.5 } }

[[operations]]
include-path-regex = '^/api/v1/reports/\{id\}'
parameters = { "path.id" = { dictionary = "reports", probability = 0.5 }, "body.assignee_id" = { dictionary = "caseworkers", probability = 0.5 }, "body.duplicate_of" = { dictionary = "reports", probability = 0.5 } }

[[operations]]
include-path-regex = '^/api/v1/cases/\{id\}'
parameters = { "path.id" = { dictionary = "cases", probability = 0.5 }, "path.report_id" = { dictionary = "reports", probability = 0.5 }, "path.station_id" = { dictionary = "stations", probability = 0.5 }, "body.report_id" = { dictionary = "reports", probability = 0.5 }, "body.station_id" = { dictionary = "stations", probability = 0.5 }, "body.assignee_id" = { dictionary = "caseworkers", probability = 0.5 } }

[[operations]]
include-name = "POST /api/v1/cases"
parameters = { "body.assignee_id" = { dictionary = "caseworkers", probability = 0.5 }, "body.report_ids[*]" = { dictionary = "reports", probability = 0.5 } }

[[operations]]
include-path-regex = '^/api/v1/stations/\{id\}'
parameters = { "path.id" = { dictionary = "stations", probability = 0.5 } }

[[operations]]
include-name = "POST /api/v1/reports"
parameters = { "body.station_id" = { dictionary = "public-stations", probability = 0.5 } }

[[operations]]
include-name = ["GET /api/v1/reports", "GET /api/v1/cases", "GET /api/v1/audit"]
parameters = { "query.station_id" = { dictionary = "stations", probability = 0.5 }, "query.case_id" = { dictionary = "cases", probability = 0.5 }, "query.assignee" = { dictionary = "caseworkers", probability = 0.3 }, "query.actor_id" = { dictionary = "users", probability = 0.5 } }

[[operations]]
include-name = "POST /api/v1/auth/receipt"
parameters = { "body.receipt" = { dictionary = "receipts", probability = 0.5 } }

[[operations]]
include-name = ["POST /{lang}/report", "POST /{lang}/follow-up"]
parameters = { "body.form_token" = { dictionary = "form-tokens", probability = 0.7 }, "body.receipt" = { dictionary = "receipts", probability = 0.5 } }

[[operations]]
include-name = "POST /api/v1/auth/refresh"
parameters = { "body.refresh_token" = { dictionary = "refresh-tokens", probability = 0.5 } }

[[operations]]
include-name = "POST /api/v1/auth/login"
parameters = { "body.email" = { dictionary = "emails", probability = 0.5 }, "body.account" = { dictionary = "accounts", probability = 0.5 }, "body.password" = { dictionary = "passwords", probability = 0.5 } }
TOML

# One worker: Hypothesis parses source code while it runs, which CPython 3.11 does not do safely
# from several threads at once ("AST constructor recursion depth mismatch"). The too_slow health
# check is about how fast examples are generated (the text patterns are long), not about the API.
ST_ARGS=(
    --config-file "$CONFIG"
    run "$SPEC"
    --url "$BASE"
    --checks all
    --mode all
    --max-examples "$MAX_EXAMPLES"
    --workers 1
    --request-timeout 30
    --generation-database none
    --suppress-health-check too_slow
    --no-color
)
[[ -n "${ST_SEED:-}" ]] && ST_ARGS+=(--seed "$ST_SEED")

FAILED=()
# fuzz NAME [TOKEN] [EXTRA ST ARGS...]
fuzz() {
    local name="$1" token="$2"
    shift 2
    local auth=()
    [[ -n "$token" ]] && auth=(-H "Authorization: Bearer $token")
    banner "schemathesis: $name"
    if "${ST_CMD[@]}" "${ST_ARGS[@]}" "${auth[@]}" "$@" \
        --report junit --report-junit-path "$REPORT_DIR/$name.xml"; then
        echo "schemathesis: $name: no findings"
    else
        FAILED+=("$name")
    fi
}

START=$SECONDS
for run in ${ST_RUNS:-anonymous receipt reporter caseworker admin}; do
    case "$run" in
        anonymous)
            # Every operation, logout included, without a token.
            fuzz anonymous ""
            ;;
        receipt)
            # A receipt token, as the holder of the anonymous report made above gets it.
            fuzz receipt "$(post /auth/receipt "{\"receipt\":\"$RECEIPT\"}" | field access_token)"
            ;;
        reporter | caseworker | admin)
            # POST /auth/logout ends the session of the token it is called with, which would turn
            # every later request of the run into a 401. So it gets a run of its own, on a session
            # of its own; the main run of the role covers every other operation, on a fresh one.
            # A single operation has no sequences to test: that run skips the stateful phase
            # (which would otherwise stop at the spec's links to operations left out).
            fuzz "$run-logout" "$(session "$run")" --include-path /api/v1/auth/logout \
                --phases examples,coverage,fuzzing
            fuzz "$run" "$(session "$run")" --exclude-path /api/v1/auth/logout
            ;;
        *)
            echo "schemathesis.sh: unknown run $run" >&2
            exit 2
            ;;
    esac
done

banner "schemathesis finished in $((SECONDS - START)) s"
if ((${#FAILED[@]})); then
    echo "schemathesis found problems in: ${FAILED[*]}" >&2
    exit 1
fi
echo "schemathesis: no findings in any run"
