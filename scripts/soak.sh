#!/usr/bin/env bash
# The long soak: N short comparisons back to back (default 100; each about 15 s here), as a
# nightly job runs them for months. After each run it records what the harness still held
# as it exited (descriptors, threads, children), the processes it left behind, the files in
# its run folder and the temp folder, the dirty page cache and its peak memory, and fails
# when any of them grows (see harness/tests/soak.rs). The table goes to stdout and to
# reports/soak-<UTC timestamp>.md, updated after every run. Needs root, like the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-100}"
mkdir -p reports
table="reports/soak-$(date -u +%Y%m%dT%H%M%SZ).md"
echo "soak: $runs runs; table in $table" >&2
UNWINDBENCH_SOAK_RUNS="$runs" UNWINDBENCH_SOAK_TABLE="$PWD/$table" \
    cargo test --release --test soak -- --ignored long_soak --nocapture
