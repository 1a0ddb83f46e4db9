#!/usr/bin/env bash
# Runs every fuzz target for a bounded time on the stable toolchain.
#
#   bash fuzz/run.sh [seconds-per-target] [target...]
#
# Default 60 s per target. Crashing inputs are saved under fuzz/artifacts/<target>/ and make the script
# fail; replay one with
#   cargo run --manifest-path fuzz/Cargo.toml --bin classbill-fuzz -- --replay TARGET FILE
# With nightly and cargo-fuzz installed, the same targets also run under libFuzzer:
#   cargo fuzz run TARGET --features libfuzzer
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

seconds="${1:-60}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/classbill-target}"

cargo build --manifest-path Cargo.toml --bin classbill-fuzz
"$CARGO_TARGET_DIR/debug/classbill-fuzz" --seconds "$seconds" "$@"
