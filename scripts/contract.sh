#!/usr/bin/env bash
# API contract check: schemathesis generates requests from the running server's own OpenAPI document and
# checks that no response is a 5xx and that every response matches the documented schema.
#
#   bash scripts/contract.sh [max-examples-per-operation] [max-seconds] [schemathesis options...]
#
# Defaults: 10 examples per operation, 300 s for the whole run. It builds the binary, starts `classbill demo`
# (a fresh SQLite file with demo data and an administrator token; CONTRACT_DATA=empty serves an empty
# installation instead), installs schemathesis (pinned, from PyPI) into a virtual environment under /var/tmp on
# first use, and runs it with every request authenticated as that administrator.
#
# Exit status: non-zero when a response was a 5xx, or (unless CONTRACT_ALLOW_SCHEMA_MISMATCH=1) when a
# response did not match its schema. The run's reports (JUnit, NDJSON) stay in the printed directory.
#
# Environment:
#   CARGO_TARGET_DIR                build directory (default /var/tmp/classbill-target)
#   SCHEMATHESIS_VENV               virtual environment to use (default /var/tmp/classbill-schemathesis)
#   CONTRACT_SEED                   schemathesis seed, for a reproducible run (default fixed)
#   CONTRACT_ALLOW_SCHEMA_MISMATCH  1 = report schema mismatches but fail only on 5xx
#   CONTRACT_DATA                   demo (default) or empty
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

max_examples="${1:-10}"
max_seconds="${2:-300}"
shift 2 || shift $#
# Further arguments go to the main schemathesis pass, e.g. `--exclude-path /billing-runs`.
extra=("$@")
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/classbill-target}"
venv="${SCHEMATHESIS_VENV:-/var/tmp/classbill-schemathesis}"
schemathesis_version="4.32.5"
seed="${CONTRACT_SEED:-20261202}"

log() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$schemathesis_version"; then
    log "installing schemathesis $schemathesis_version into $venv"
    command -v python3 >/dev/null || die "python3 is needed to run schemathesis"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

log "building classbill"
cargo build --quiet -p classbill
binary="$CARGO_TARGET_DIR/debug/classbill"

work=$(mktemp -d /var/tmp/classbill-contract.XXXXXX)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

database="sqlite://$work/contract.db"
export CLASSBILL_LOG="${CLASSBILL_LOG:-warn}"
# A free port: bind port 0 once and take what the kernel gave.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
if [ "${CONTRACT_DATA:-demo}" = empty ]; then
    "$binary" --database "$database" migrate
    printf 'contract-password-%s\n' "$RANDOM$RANDOM" |
        "$binary" --database "$database" users add --login admin --role admin --password-stdin
    token=$("$binary" --database "$database" tokens create --login admin)
    "$binary" --database "$database" serve --listen "127.0.0.1:$port" --no-worker --no-scheduler \
        >"$work/server.log" 2>&1 &
    server_pid=$!
else
    # The demo installation: classes, customers, invoices and xDRs exist, so requests naming small ids reach
    # the code behind the 404. It prints the administrator's token.
    "$binary" --database "$database" demo --listen "127.0.0.1:$port" >"$work/server.log" 2>&1 &
    server_pid=$!
fi
for _ in $(seq 1 300); do
    if curl -fsS "$base/api/v1/openapi.json" >/dev/null 2>&1; then
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || die "the server did not start: $(cat "$work/server.log")"
    sleep 0.2
done
curl -fsS "$base/api/v1/openapi.json" >/dev/null || die "the server does not answer on $base"
if [ -z "${token:-}" ]; then
    token=$(sed -n 's/^ *token: *\([^ ]*\).*/\1/p' "$work/server.log" | head -1)
    [ -n "$token" ] || die "the demo printed no token: $(cat "$work/server.log")"
fi

log "schemathesis: $max_examples examples per operation, at most $max_seconds s"
started=$(date +%s)
status=0
# Requests on /users/{id}… may delete, demote or revoke the very administrator the run authenticates as, after
# which every other operation answers 401. They run last, in a pass of their own.
run_pass() {
    local name=$1 seconds=$2
    shift 2
    # From the run's own directory: schemathesis keeps its example database in ./.schemathesis.
    (cd "$work" && "$venv/bin/schemathesis" run "$base/api/v1/openapi.json" \
        --checks not_a_server_error,response_schema_conformance \
        --header "Authorization: Bearer $token" \
        --max-examples "$max_examples" \
        --max-time "$seconds" \
        --request-timeout 30 \
        --seed "$seed" \
        --workers 1 \
        --no-shrink \
        --report junit,ndjson \
        --report-junit-path "$work/report/$name.xml" \
        --report-ndjson-path "$work/report/$name.ndjson" \
        --report-dir "$work/report" \
        "$@") | tee "$work/$name.log" || status=$?
}
run_pass main $((max_seconds * 9 / 10)) --exclude-path-regex '^/users/\{id\}' "${extra[@]}"
run_pass own-credentials $((max_seconds / 10 + 1)) --include-path-regex '^/users/\{id\}'
log "schemathesis finished in $(($(date +%s) - started)) s (exit $status); reports and server log in $work"

# Every request and response is in the NDJSON reports: count them by status and list each 5xx in full.
failures_5xx=$(python3 - "$work"/report/main.ndjson "$work"/report/own-credentials.ndjson <<'PY'
import base64, collections, json, sys

codes = collections.Counter()
errors = []
for path in sys.argv[1:]:
    try:
        lines = open(path, encoding="utf-8")
    except OSError:
        continue
    for line in lines:
        event = json.loads(line).get("ScenarioFinished")
        if not event:
            continue
        for interaction in event["recorder"].get("interactions", {}).values():
            response = interaction.get("response") or {}
            status = response.get("status_code")
            codes[status] += 1
            if isinstance(status, int) and status >= 500:
                request = interaction["request"]
                body = (request.get("body") or {}).get("$base64")
                content = (response.get("content") or {}).get("$base64")
                errors.append((request["method"], request["uri"],
                               base64.b64decode(body).decode("utf-8", "replace") if body else "",
                               status, base64.b64decode(content).decode("utf-8", "replace") if content else ""))
print(f"requests: {sum(codes.values())}; by status: "
      + ", ".join(f"{code}: {count}" for code, count in sorted(codes.items(), key=lambda c: str(c[0]))),
      file=sys.stderr)
for method, uri, body, status, content in errors[:50]:
    print(f"  {status} {method} {uri}\n    request body: {body[:500]}\n    response: {content[:500]}", file=sys.stderr)
print(len(errors))
PY
)
log "responses with a 5xx status: $failures_5xx"
if [ "$failures_5xx" -gt 0 ]; then
    die "the server answered 5xx; see $work/report and $work/server.log"
fi
if [ "$status" -ne 0 ] && [ "${CONTRACT_ALLOW_SCHEMA_MISMATCH:-0}" != 1 ]; then
    die "responses did not match the OpenAPI document; see $work/report"
fi
log "contract check passed"
