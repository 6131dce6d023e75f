#!/usr/bin/env bash
# The test suite, as CI runs it: installs what is missing, then formatting, lints, the layout
# checks (no import circles, no function over 100 lines) and every test (unit, fixtures, and
# short end-to-end runs of the real perf, nbdkit and fio).
# Needs root (system-wide perf). Takes a few minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
python3 scripts/module-graph.py --files
python3 scripts/long-functions.py 100
cargo test --release
