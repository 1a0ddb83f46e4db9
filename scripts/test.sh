#!/usr/bin/env bash
# Classbill's one test command, for developers and CI alike:
#
#   bash scripts/test.sh [extra arguments for cargo test]
#
# It installs what the tests need when it is missing, checks formatting,
# lints and the dependency policy, starts a private PostgreSQL server for the
# run and runs every test of the workspace. Storage tests run against SQLite and that server; they
# never skip PostgreSQL.
#
# Environment:
#   CARGO_TARGET_DIR   build directory (default /var/tmp/classbill-target,
#                      kept between runs so dependencies are built once)
#   CLASSBILL_PG_BIN   directory holding initdb/postgres, if not the usual one
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/classbill-target}"

log() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

as_root() {
    if is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "root rights are needed to run: $*"
    fi
}

# --- what the tests need ---------------------------------------------------

APT_UPDATED=0

# ensure_package PACKAGE CHECK [ARGS...]
# Installs the Debian package PACKAGE unless the command CHECK succeeds.
ensure_package() {
    local package=$1
    shift
    if "$@" >/dev/null 2>&1; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "the tests need the '$package' package and apt-get is not available; install it by hand"
    log "installing $package"
    if [ "$APT_UPDATED" -eq 0 ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "$package"
    "$@" >/dev/null 2>&1 || die "'$package' was installed, but '$*' still fails"
}

# Prints the directory holding the PostgreSQL server binaries: the same
# search as the testkit does ($CLASSBILL_PG_BIN, the newest
# /usr/lib/postgresql/*/bin, then PATH).
pg_bin_dir() {
    local dir best=""
    if [ -n "${CLASSBILL_PG_BIN:-}" ]; then
        [ -x "$CLASSBILL_PG_BIN/initdb" ] && [ -x "$CLASSBILL_PG_BIN/postgres" ] || return 1
        printf '%s\n' "$CLASSBILL_PG_BIN"
        return 0
    fi
    while IFS= read -r dir; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then best=$dir; fi
    done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V)
    if [ -z "$best" ] && dir=$(command -v initdb 2>/dev/null); then
        dir=$(dirname "$dir")
        if [ -x "$dir/postgres" ]; then best=$dir; fi
    fi
    [ -n "$best" ] || return 1
    printf '%s\n' "$best"
}

# Debian's package would otherwise create and start a system-wide server on
# port 5432 that nothing here uses.
no_default_pg_cluster() {
    as_root mkdir -p /etc/postgresql-common/createcluster.d
    printf 'create_main_cluster = false\n' |
        as_root tee /etc/postgresql-common/createcluster.d/classbill.conf >/dev/null
}

# PostgreSQL refuses to run as root; as root it runs as this system user.
postgres_user_exists() { id -u postgres >/dev/null 2>&1; }

ensure_dependencies() {
    pg_bin_dir >/dev/null || no_default_pg_cluster
    ensure_package postgresql pg_bin_dir
    if is_root && ! postgres_user_exists; then
        log "creating the postgres system user"
        useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
            --shell /usr/sbin/nologin postgres
    fi
    # The web UI's browser test drives headless Chromium through chromedriver.
    ensure_package chromium command -v chromium
    ensure_package chromium-driver command -v chromedriver
    # Invoice PDFs are checked through their text layer.
    ensure_package poppler-utils command -v pdftotext
    # The API contract run installs schemathesis into a virtual environment and polls the server with curl.
    ensure_package python3-venv python3 -c 'import ensurepip, venv'
    ensure_package curl command -v curl
    # `classbill bench` drives the API with wrk from a second process; its test runs it briefly.
    ensure_package wrk command -v wrk
}

ensure_rust_component() {
    local component=$1
    shift
    if ! "$@" >/dev/null 2>&1; then
        command -v rustup >/dev/null 2>&1 || die "'$*' fails and rustup is not available"
        log "adding the $component component"
        rustup component add "$component"
    fi
}

# --- a private PostgreSQL server for the run -------------------------------

PG_BIN=""
PG_ROOT=""
PG_WATCHDOG=""
PG_AS=()

# Runs a PostgreSQL binary as the account that owns the server.
pg_run() { (cd "$PG_ROOT" && "${PG_AS[@]}" "$@"); }

stop_postgres() {
    [ -n "$PG_ROOT" ] && [ -d "$PG_ROOT" ] || return 0
    local pid_file="$PG_ROOT/data/postmaster.pid" pid
    if [ -f "$pid_file" ]; then
        if ! pg_run "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -m immediate -w -t 20 stop \
            >/dev/null 2>&1; then
            pid=$(head -n 1 "$pid_file" 2>/dev/null || true)
            if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
        fi
    fi
    rm -rf -- "$PG_ROOT"
}

cleanup() {
    if [ -n "$PG_WATCHDOG" ]; then
        kill -KILL "$PG_WATCHDOG" 2>/dev/null || true
        wait "$PG_WATCHDOG" 2>/dev/null || true
    fi
    stop_postgres
}

# A port nothing listens on right now (the server start is retried if it was
# taken in the meantime).
free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    return 1
}

start_postgres() {
    local port attempt
    PG_BIN=$(pg_bin_dir) || die "no PostgreSQL server binaries found"
    PG_ROOT=$(mktemp -d /tmp/classbill-pg-run.XXXXXX)
    if is_root; then
        chown postgres:postgres "$PG_ROOT"
        PG_AS=(runuser -u postgres --)
    fi

    # Stops the server should this script be killed without running its traps.
    (
        trap - EXIT
        trap '' INT TERM HUP
        while kill -0 "$$" 2>/dev/null; do sleep 1; done
        stop_postgres
    ) </dev/null >/dev/null 2>&1 &
    PG_WATCHDOG=$!

    log "starting PostgreSQL from $PG_BIN"
    if ! pg_run "$PG_BIN/initdb" -D "$PG_ROOT/data" -U postgres --auth=trust \
        --encoding=UTF8 --no-locale --no-sync >"$PG_ROOT/initdb.log" 2>&1; then
        cat "$PG_ROOT/initdb.log" >&2
        die "initdb failed"
    fi

    for attempt in 1 2 3 4 5; do
        port=$(free_port) || die "no free TCP port found for PostgreSQL"
        if pg_run "$PG_BIN/pg_ctl" -D "$PG_ROOT/data" -l "$PG_ROOT/server.log" -w -t 30 \
            -o "-h 127.0.0.1 -p $port -k $PG_ROOT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null; then
            export CLASSBILL_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
            export CLASSBILL_PG_BIN="$PG_BIN"
            log "PostgreSQL is ready on 127.0.0.1:$port"
            return 0
        fi
        if ! grep -q 'could not bind' "$PG_ROOT/server.log" 2>/dev/null; then
            tail -n 40 "$PG_ROOT/server.log" >&2 || true
            die "PostgreSQL did not start"
        fi
        log "port $port was taken (attempt $attempt), trying another"
    done
    die "PostgreSQL did not start: no port could be bound"
}

# --- the run ---------------------------------------------------------------

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_dependencies
ensure_rust_component rustfmt cargo fmt --version
ensure_rust_component clippy cargo clippy --version

locked=()
if [ -f Cargo.lock ]; then locked=(--locked); fi

log "cargo fmt --all -- --check"
cargo fmt --all -- --check

log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings

log "dependency policy (cargo deny: bans, licenses, sources)"
bash scripts/deny.sh

start_postgres

log "cargo test --workspace ${locked[*]} $*"
cargo test --workspace "${locked[@]}" "$@"

# The running server against its own OpenAPI document (bounded in time; see docs/reliability.md).
log "API contract (schemathesis, 5 examples per operation, 180 s)"
bash scripts/contract.sh 5 180
