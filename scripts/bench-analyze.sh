#!/usr/bin/env bash
# Times `unwindbench analyze` against `perf script | inferno-collapse-perf` on the same
# recordings, side by side, in one run: wall time (hyperfine, median of 3 after a warm-up),
# MB/s and peak RSS (/usr/bin/time -v). samply is included when installed.
#
#   scripts/bench-analyze.sh                 # records a 10 s nbd-null run with fp and dwarf:8k
#   scripts/bench-analyze.sh FP.data DWARF.data
#
# Needs root for recording. Installs inferno's collapse tool with `cargo install` if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
ub=$PWD/target/release/unwindbench
work=$(mktemp -d -t bench-analyze.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ $# -eq 2 ]; then
    files=("$1" "$2")
else
    echo "recording 10 s of nbd-null with fp and dwarf:8k ..."
    "$ub" compare --unwind fp,dwarf:8k --runtime 10s --ramp 2s --repeat 1 --keep-data \
        --quiet --out "$work/run" >/dev/null
    files=("$work/run/r1-fp/perf.data" "$work/run/r1-dwarf-8k/perf.data")
fi

if ! command -v inferno-collapse-perf >/dev/null; then
    echo "installing inferno-collapse-perf (cargo install inferno) ..."
    cargo install --quiet --locked inferno --version 0.12.8
fi
export PATH="$HOME/.cargo/bin:$PATH"
have_samply=0
command -v samply >/dev/null && have_samply=1

peak_rss_mib() { # command... -> peak RSS of the command and its children, MiB
    /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ { printf "%.0f", $2 / 1024 }'
}

printf '\n%-10s %-34s %9s %10s %9s %10s\n' file tool "median s" "MB/s" "peak MiB" "vs ours"
for f in "${files[@]}"; do
    mb=$(( $(stat -c %s "$f") / 1000000 ))
    name=$(basename "$(dirname "$f")")
    cmds=("$ub analyze $f --out $work/ours"
          "perf script -i $f 2>/dev/null | inferno-collapse-perf > $work/theirs.folded")
    labels=("unwindbench analyze" "perf script | inferno-collapse-perf")
    if [ $have_samply = 1 ]; then
        cmds+=("samply import $f --save-only -o $work/samply.json")
        labels+=("samply import (no symbols)")
    fi
    hyperfine --style none --warmup 1 --runs 3 --export-json "$work/h.json" "${cmds[@]}" >/dev/null 2>&1
    ours=""
    for i in "${!cmds[@]}"; do
        t=$(python3 -c "import json,sys; print(json.load(open('$work/h.json'))['results'][$i]['median'])")
        rss=$(peak_rss_mib bash -c "${cmds[$i]}")
        [ -z "$ours" ] && ours=$t
        printf '%-10s %-34s %9.2f %10.0f %9s %9.1fx\n' "$name" "${labels[$i]}" "$t" \
            "$(python3 -c "print($mb / $t)")" "$rss" "$(python3 -c "print($t / $ours)")"
    done
    echo "           ($mb MB)"
done
