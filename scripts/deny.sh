#!/usr/bin/env bash
# Dependency policy check: licenses, bans (wildcards) and sources of every crate in Cargo.lock, against
# deny.toml at the repository root.
#
#   bash scripts/deny.sh
#
# Installs cargo-deny with `cargo install --locked` when it is missing (about 6 minutes on 2 cores, once per
# machine). Advisories are checked too, but only when a local copy of the RustSec advisory database is
# present (the database cannot be fetched on the build machines): a directory laid out like cargo-deny's own
# $CARGO_HOME/advisory-dbs/ (one clone per database, named as cargo-deny names it), there or at
# CLASSBILL_ADVISORY_DB.
#
# Environment:
#   CARGO_DENY_VERSION      version to install when missing (default: the one this policy was written with)
#   CLASSBILL_ADVISORY_DB   directory of local advisory database clones (optional)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_DENY_VERSION="${CARGO_DENY_VERSION:-0.20.2}"
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$CARGO_HOME/bin:$PATH"

log() { printf '\n==> %s\n' "$*" >&2; }

if ! cargo deny --version >/dev/null 2>&1; then
    log "installing cargo-deny $CARGO_DENY_VERSION (once per machine, a few minutes)"
    started=$(date +%s)
    # Its own build directory: the workspace's CARGO_TARGET_DIR holds debug builds that this never reuses.
    env -u CARGO_TARGET_DIR cargo install --locked --version "$CARGO_DENY_VERSION" cargo-deny
    log "cargo-deny installed in $(($(date +%s) - started)) s"
fi

log "cargo deny check bans licenses sources"
cargo deny check bans licenses sources

advisory_db="${CLASSBILL_ADVISORY_DB:-}"
if [ -z "$advisory_db" ] && [ -d "$CARGO_HOME/advisory-dbs" ]; then
    advisory_db="$CARGO_HOME/advisory-dbs"
fi
# Only a directory that holds a database clone counts; cargo-deny leaves an empty one behind after a failed fetch.
if [ -n "$advisory_db" ] && [ -n "$(find "$advisory_db" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -1)" ]; then
    log "cargo deny check advisories (local database at $advisory_db, not fetched)"
    config=$(mktemp)
    trap 'rm -f "$config"' EXIT
    cat deny.toml >"$config"
    printf '\n[advisories]\ndb-path = "%s"\n' "$advisory_db" >>"$config"
    cargo deny --config "$config" --offline check advisories
else
    log "advisories skipped: no local advisory database (set CLASSBILL_ADVISORY_DB to check them)"
fi
