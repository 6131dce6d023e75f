#!/usr/bin/env bash
# One host's night of the fleet (.github/workflows/unwindbench-fleet.yml, or any CI): checks
# that this runner can record system-wide with perf, runs scripts/nightly.sh, and leaves in
# OUTDIR what the cross-host job (scripts/fleet-history.sh) reads.
#
#   scripts/fleet-measure.sh HOST OUTDIR
#
# HOST names the host (the CI matrix entry; the artifact is unwindbench-HOST). OUTDIR gets:
#   host.txt                   who ran, where, when (always, so a failed job still says so)
#   skipped.txt                why nothing was measured (no perf, not permitted, setup failed)
#   YYYY-MM-DD/                the night's run folder (report.md, report.html, results.json)
#   earlier nights             results.json and report.md of the nights before, when kept
#   summary.md, history/       scripts/nightly.sh's summary and this host's own history
#
# Previous nights: with UNWINDBENCH_FLEET_STORE set (a persistent folder on a self-hosted
# runner, e.g. /var/lib/unwindbench/fleet), the nights accumulate in STORE/HOST and every
# night's results.json is copied into OUTDIR, so the history sees them all. Without it (a
# fresh runner) OUTDIR holds tonight's run only.
#
# UNWINDBENCH_SETUP=failure (the outcome of the setup step) records a skip instead of
# measuring on a runner where scripts/setup.sh failed.
#
# Exit status: 0 measured or skipped (skipped.txt says why); otherwise nightly.sh's status
# except 4 (a regression: the cross-host history reports it, once for all hosts).
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 HOST OUTDIR" >&2
    exit 2
fi
host=$1
out=$2
case "$host" in
    ''|*/*|.|..) echo "fleet-measure: HOST must be a plain name, not '$host'" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

{
    echo "host: $host"
    echo "machine: $(uname -n)"
    echo "kernel: $(uname -r)"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "user id: $(id -u)"
} > "$out/host.txt"

# Writes the reason, says it on the job's page, and ends the job successfully.
skip() {
    echo "$1" > "$out/skipped.txt"
    echo "fleet-measure: $host skipped: $1" >&2
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        printf '## unwindbench on %s: skipped\n\n%s\n' "$host" "$1" >> "$GITHUB_STEP_SUMMARY"
    fi
    exit 0
}

# Why this runner cannot record system-wide, or nothing when it can.
why_not() {
    if [ "${UNWINDBENCH_SETUP:-}" = failure ]; then
        echo "scripts/setup.sh failed on this runner (see the setup step's log)"
        return
    fi
    if ! command -v perf >/dev/null 2>&1; then
        echo "perf is not installed (Debian: linux-perf; Ubuntu: linux-tools-\$(uname -r))"
        return
    fi
    local said
    if ! said=$(perf --version 2>&1); then
        echo "perf does not run: $(printf '%s\n' "$said" | grep -v '^[[:space:]]*$' | head -n 1)"
        return
    fi
    local paranoid
    paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo unknown)
    if [ "$(id -u)" -ne 0 ]; then
        case "$paranoid" in
            -*|0) ;;
            *)
                echo "not root and kernel.perf_event_paranoid = $paranoid: perf record -a is not permitted (run the runner as root, or sysctl kernel.perf_event_paranoid=-1)"
                return ;;
        esac
    fi
    # Containers may forbid perf_event_open whatever the user and the setting.
    if ! said=$(perf stat -a -e cpu-clock -- true 2>&1 >/dev/null); then
        echo "perf cannot sample system-wide here: $(printf '%s\n' "$said" | grep -v '^[[:space:]]*$' | head -n 1)"
        return
    fi
}

reason=$(why_not)
[ -z "$reason" ] || skip "$reason"

if [ -n "${UNWINDBENCH_FLEET_STORE:-}" ]; then
    nights="$UNWINDBENCH_FLEET_STORE/$host"
else
    nights="$out"
fi
mkdir -p "$nights"
before=$(ls -1 "$nights")

status=0
UNWINDBENCH_NIGHTS="$nights" "$root/scripts/nightly.sh" || status=$?

if [ "$nights" != "$out" ]; then
    # Tonight's run folder whole; of every earlier night the files the history reads.
    for night in "$nights"/*/; do
        night=${night%/}
        name=$(basename "$night")
        [ -f "$night/results.json" ] || continue
        mkdir -p "$out/$name"
        if ! printf '%s\n' "$before" | grep -qxF "$name"; then
            cp -R "$night/." "$out/$name/"
        else
            cp "$night/results.json" "$out/$name/"
            [ ! -f "$night/report.md" ] || cp "$night/report.md" "$out/$name/"
        fi
    done
    [ ! -f "$nights/summary.md" ] || cp "$nights/summary.md" "$out/"
    if [ -d "$nights/history" ]; then
        mkdir -p "$out/history"
        cp -R "$nights/history/." "$out/history/"
    fi
fi

if [ "$status" -eq 4 ]; then
    echo "fleet-measure: $host regressed against its own past (see the history job)" >&2
    exit 0
fi
exit "$status"
