#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test tier that can run here.
set -euo pipefail
cd "$(dirname "$0")/.."
ORCA_SETUP_NO_BUILD=1 ./scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace -- --test-threads=2
