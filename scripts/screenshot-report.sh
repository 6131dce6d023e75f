#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium and saves a full-page screenshot, to check
# by eye that the page (tables, footnotes, charts) lays out as intended.
#   scripts/screenshot-report.sh RUN_DIR [OUT.png]      (default OUT: RUN_DIR/report.png)
# Needs Debian's chromium (apt-get install chromium). Runs as root, hence --no-sandbox; the
# page is the run's own file and loads nothing from the network.
set -euo pipefail
run_dir=${1:?usage: scripts/screenshot-report.sh RUN_DIR [OUT.png]}
out=${2:-$run_dir/report.png}
page="$(cd "$run_dir" && pwd)/report.html"
[ -f "$page" ] || { echo "error: no report.html in $run_dir: run compare (or report RUN_DIR) first" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "error: chromium is not installed: apt-get install chromium" >&2; exit 1; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# A tall window: the screenshot is the window, and the report is one long page.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$profile" --window-size=1400,4200 \
    --screenshot="$(realpath -m "$out")" "file://$page" 2>/dev/null
[ -s "$out" ] || { echo "error: chromium wrote no screenshot" >&2; exit 1; }
echo "wrote $out"
