#!/usr/bin/env bash
# Regenerates harness/tests/fixtures/prices/: a real, small price list of this machine (the
# modes of the end-to-end comparison test, few pairs, a short capacity recording), which that
# test hands to `compare --prices` so that the model runs without a minute of measuring.
# Needs root, perf and gcc. Prices are this machine's: regenerate on a new machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/harness/tests/fixtures/prices"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
rm -rf "$out" && mkdir -p "$out"
"$root/target/release/unwindbench" calibrate --unwind none,fp,dwarf:4k --pairs 8 \
    --capacity-duration 12s --quiet --out "$out" >/dev/null
echo "price fixture written to $out"
