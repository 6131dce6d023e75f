#!/usr/bin/env bash
# Regenerates harness/tests/fixtures/history/: six real results.json files of short nightly-
# like comparisons on this machine, run back to back, for the history tests (which inject
# regressions and noise into copies of them). Needs root, perf, nbdkit and fio.
#
#   scripts/make-history-fixtures.sh               the nights, then history-mixed/
#   scripts/make-history-fixtures.sh --mixed-only  history-mixed/ only, from the nights there
#
# The committed nights are version 1 of results.json (made before version 2): they are the
# fixture that proves old runs are still read. Regenerating them writes the current version,
# after which history-mixed/ can no longer be made; --mixed-only keeps them.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/harness/tests/fixtures/history"
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
if [ "${1:-}" != "--mixed-only" ]; then
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
fi

# history-mixed/: the same nights as a host upgraded from results.json version 1 to 2 would
# have them: nights 1-3 as recorded (version 1), nights 4-6 rewritten in the current schema
# by `unwindbench report` (the copies carry no flame graphs, so their links are empty).
mixed="$root/harness/tests/fixtures/history-mixed"
if ! grep -q '"schema_version": 1,' "$out/night-1/results.json"; then
    echo "the nights in $out are not version 1: history-mixed/ left as it is" >&2
    exit 0
fi
rm -rf "$mixed"/night-* && mkdir -p "$mixed"
for n in 1 2 3 4 5 6; do
    mkdir -p "$mixed/night-$n"
    cp "$out/night-$n/results.json" "$mixed/night-$n/results.json"
    if [ "$n" -ge 4 ]; then
        tmp=$(mktemp -d)
        cp "$out/night-$n/results.json" "$tmp/results.json"
        "$root/target/release/unwindbench" report "$tmp" >/dev/null 2>&1
        cp "$tmp/results.json" "$mixed/night-$n/results.json"
        rm -rf "$tmp"
    fi
done
echo "mixed-version history fixtures written to $mixed"
