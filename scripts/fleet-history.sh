#!/usr/bin/env bash
# The fleet's cross-host step (.github/workflows/unwindbench-fleet.yml, or any CI): reads the
# folders every host's scripts/fleet-measure.sh left, as downloaded from the CI's artifacts,
# runs `unwindbench history` over all of them and writes the cross-host table.
#
#   scripts/fleet-history.sh DOWNLOAD_DIR OUT_DIR
#
# DOWNLOAD_DIR holds one folder per host, unwindbench-HOST/ (the artifact names). OUT_DIR
# gets history.md, history.html (the trend page), history.json, charts/ and fleet.md: the
# hosts (measured, skipped with the reason, or silent), the regressions, and a table of every
# metric's latest value per host. fleet.md is appended to $GITHUB_STEP_SUMMARY when set.
#
# The binary: $UNWINDBENCH when set, otherwise built with cargo (target/release/unwindbench).
#
# Exit status: 0 fine (also when no host could measure: fleet.md says why); 4 a regression
# on some host; 1 history failed or bad arguments.
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 DOWNLOAD_DIR OUT_DIR" >&2
    exit 1
fi
downloads=$1
out=$2
root=$(cd "$(dirname "$0")/.." && pwd)
# No folder at all: no host left an artifact (every job failed before uploading).
if [ ! -d "$downloads" ]; then
    echo "fleet-history: $downloads does not exist: no host left an artifact" >&2
fi
mkdir -p "$out"

if [ -n "${UNWINDBENCH:-}" ]; then
    ub=$UNWINDBENCH
elif command -v cargo >/dev/null 2>&1; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    ub="$root/target/release/unwindbench"
else
    ub="$root/target/release/unwindbench"
fi
if [ ! -x "$ub" ]; then
    echo "fleet-history: no unwindbench binary at $ub (set UNWINDBENCH, or install Rust)" >&2
    exit 1
fi

# One line of a file, for a table cell.
oneline() { tr '\n|' '  ' < "$1" | sed 's/[[:space:]]*$//'; }

measured=()
hosts_table="$out/hosts.md.part"
: > "$hosts_table"
for dir in "$downloads"/unwindbench-*/; do
    [ -d "$dir" ] || continue
    dir=${dir%/}
    host=${dir##*/unwindbench-}
    runs=$(find "$dir" -name results.json -type f | wc -l | tr -d ' ')
    machines=$(find "$dir" -name results.json -type f -exec grep -ho '"hostname": *"[^"]*"' {} + 2>/dev/null |
        sed 's/.*"\([^"]*\)"$/\1/' | sort -u | paste -sd, - | sed 's/,/, /g' || true)
    if [ -f "$dir/skipped.txt" ]; then
        state="skipped: $(oneline "$dir/skipped.txt")"
    elif [ "$runs" -gt 0 ]; then
        state="measured"
    else
        state="nothing measured, no reason left (the job failed: see its log)"
    fi
    [ "$runs" -eq 0 ] || measured+=("$dir")
    echo "| $host | $state | $runs | ${machines:-–} |" >> "$hosts_table"
done
[ -s "$hosts_table" ] || echo "| – | no host left an artifact in $downloads | 0 | – |" > "$hosts_table"

status=0
if ((${#measured[@]})); then
    "$ub" history "${measured[@]}" --out "$out" --fail-on-regression || status=$?
    if [ "$status" -ne 0 ] && [ "$status" -ne 4 ]; then
        echo "fleet-history: unwindbench history failed (exit $status)" >&2
    fi
fi

# The latest value of every metric per host, one column per host (and workload) of
# history.md: its sections are "## HOST — WORKLOAD (N runs)" and a table each.
cross_host_table() {
    awk '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    /^## .* — .* \([0-9]+ runs\)$/ {
        g++
        title[g] = substr($0, 4)
        name = substr($0, 4, index($0, " — ") - 4)
        short = name; sub(/ .*/, "", short)
        seen[short]++
        head[g] = seen[short] > 1 ? short " [" seen[short] "]" : short
        in_group = 1
        next
    }
    /^## / { in_group = 0; next }
    in_group && /^\| / && !/^\| mode \|/ {
        n = split($0, f, "|")
        if (n < 8) next
        key = trim(f[2]) " | " trim(f[3])
        if (!(key in known)) { known[key] = 1; keys[++nk] = key }
        cell = trim(f[4]); v = trim(f[7])
        if (cell == "") cell = "–"
        if (v == "REGRESSED") cell = cell " **REGRESSED**"
        else if (v == "improved") cell = cell " (improved)"
        val[key, g] = cell
    }
    END {
        if (g == 0) exit
        printf "| mode | metric |"
        for (i = 1; i <= g; i++) printf " %s |", head[i]
        printf "\n|---|---|"
        for (i = 1; i <= g; i++) printf "---|"
        printf "\n"
        for (k = 1; k <= nk; k++) {
            printf "| %s |", keys[k]
            for (i = 1; i <= g; i++) printf " %s |", ((keys[k], i) in val) ? val[keys[k], i] : "–"
            printf "\n"
        }
        printf "\nColumns:"
        for (i = 1; i <= g; i++) printf "%s %s = %s", (i > 1 ? ";" : ""), head[i], title[i]
        printf ".\n"
    }' "$1"
}

fleet="$out/fleet.md"
{
    echo "## unwindbench across hosts — $(date -u +%Y-%m-%d)"
    echo
    echo "| host | tonight | runs | machine |"
    echo "|---|---|---|---|"
    cat "$hosts_table"
    echo
    if ((${#measured[@]} == 0)); then
        echo "No host measured: nothing to compare."
    elif [ ! -f "$out/history.md" ] || { [ "$status" -ne 0 ] && [ "$status" -ne 4 ]; }; then
        echo "The history failed (exit $status): see the job's log."
    else
        # history.md's verdict: "**No regressions.**", or its list of them.
        awk '/^\*\*No regressions/ { print; exit }
             /^## Regressions/ { p = 1; sub(/^## /, "### "); print; print ""; next }
             p && /^## / { exit }
             p && NF { print }' "$out/history.md"
        echo
        echo "### Latest value per host"
        echo
        cross_host_table "$out/history.md"
        echo
        echo "Trend page: history.html (with a chart per host, workload and metric) in the fleet-history artifact."
    fi
} > "$fleet"
rm -f "$hosts_table"

[ -z "${GITHUB_STEP_SUMMARY:-}" ] || cat "$fleet" >> "$GITHUB_STEP_SUMMARY"
cat "$fleet"
exit "$status"
