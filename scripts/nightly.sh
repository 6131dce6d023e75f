#!/usr/bin/env bash
# The nightly benchmark: one short comparison (compare --preset nightly: nbd-null, none, fp
# and DWARF 8K, 20 s, 3 repeats, after the price list; about 7 minutes), stored under a dated
# folder, then the history of all nights with regression detection, and a Markdown summary
# for the CI job's page or a PR comment.
#
#   scripts/nightly.sh            # nights under reports/nightly/ (or $UNWINDBENCH_NIGHTS)
#
# Exit status: 0 fine; 4 a regression (history --fail-on-regression); otherwise the
# comparison's own (3: some measurements failed, 130: interrupted). The summary is written
# in every case: reports/nightly/summary.md, and appended to $GITHUB_STEP_SUMMARY when set.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
nights=${UNWINDBENCH_NIGHTS:-$root/reports/nightly}
mkdir -p "$nights"
run="$nights/$(date -u +%Y-%m-%d)"
[ -e "$run" ] && run="$run-$(date -u +%H%M%S)"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" || exit 1
ub="$root/target/release/unwindbench"

"$ub" compare --preset nightly --out "$run" --quiet >/dev/null
compare_status=$?
"$ub" history "$nights" --out "$nights/history" --fail-on-regression
history_status=$?

summary="$nights/summary.md"
{
    echo "## unwindbench nightly — $(basename "$run")"
    echo
    if [ -f "$run/report.md" ]; then
        sed -n '/^| type/,/^$/p' "$run/report.md"
    else
        echo "The comparison wrote no report (exit $compare_status)."
    fi
    echo
    if [ -f "$nights/history/history.md" ]; then
        sed -n '/^\*\*No regressions/p;/^## Regressions/,/^## /p' "$nights/history/history.md" | sed '$d'
        grep -q '^\*\*No regressions' "$nights/history/history.md" && echo
    fi
    echo "Run folder: \`$run\`; history: \`$nights/history/history.html\`."
} > "$summary"
[ -n "${GITHUB_STEP_SUMMARY:-}" ] && cat "$summary" >> "$GITHUB_STEP_SUMMARY"
cat "$summary"

if [ "$history_status" -eq 4 ]; then exit 4; fi
exit "$compare_status"
