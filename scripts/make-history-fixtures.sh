#!/usr/bin/env bash
# Regenerates harness/tests/fixtures/history/: six real results.json files of short nightly-
# like comparisons on this machine, run back to back, for the history tests (which inject
# regressions and noise into copies of them). Needs root, perf, nbdkit and fio.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/harness/tests/fixtures/history"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
rm -rf "$out" && mkdir -p "$out"
for n in 1 2 3 4 5 6; do
    run=$(mktemp -d)
    "$root/target/release/unwindbench" compare --unwind fp,dwarf:4k --runtime 2s --ramp 1s \
        --repeat 1 --quiet --out "$run" >/dev/null
    mkdir -p "$out/night-$n"
    cp "$run/results.json" "$out/night-$n/results.json"
    rm -rf "$run"
done
echo "history fixtures written to $out"
