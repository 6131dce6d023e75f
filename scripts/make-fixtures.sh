#!/usr/bin/env bash
# Regenerates the real fixtures under harness/tests/fixtures/ (see the README there for what
# each file is and the exact commands). Needs root (or perf_event_paranoid <= 1), gcc, perf,
# nbdkit and fio. Run from anywhere:  scripts/make-fixtures.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fx="$root/harness/tests/fixtures"
mkdir -p "$fx/bin" "$fx/perf" "$fx/fio"
cd "$fx"

# The program with known stacks, with frame pointers and debug info.
gcc -O1 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline \
    -o bin/callchain "$root/workloads/programs/callchain.c"

# perf.data fixtures of that program (per-process, so they stay small; user space only, so
# their stacks do not depend on the kernel and boot that analyzes them).
perf record -q -e cpu-clock:u -F 1999 --call-graph fp -o perf/callchain-fp.data -- bin/callchain 400
perf record -q -e cpu-clock:u -F 999 --call-graph dwarf,4096 -o perf/callchain-dwarf4k.data -- bin/callchain 200
# Pipe format, as `perf record -o -` streams it.
perf record -q -F 999 --call-graph fp -o - -- bin/callchain 200 > perf/callchain-fp.pipe.data
# A recording that loses data: a one-page ring buffer holds three 1 KiB stack copies, and at
# 30 kHz perf cannot drain it in time, so the kernel drops records (LOST) and perf adds its
# end-of-run LOST_SAMPLES. Whether a drop happens is a race: retry until one did.
for attempt in 1 2 3 4 5 6 7 8; do
    perf record -q -m 1 -F 30000 --call-graph dwarf,1024 -o perf/callchain-lost.data -- bin/callchain 40
    perf report -i perf/callchain-lost.data --stats 2>/dev/null | grep -q "LOST events" && break
done
chmod 644 perf/*.data
# A recording with AUX trace data, derived from the above (see the script's header).
python3 "$root/scripts/derive-fixtures.py"

# The vDSO those recordings name, from perf's build-id cache into the fixtures' own
# (debug/.build-id/xx/rest/vdso, the cache's layout): it belongs to the kernel that recorded,
# and a machine booted with another kernel has a different one (analyze --buildid-dir).
rm -rf debug
for id in $(for f in perf/*.data; do perf buildid-list -i "$f" 2>/dev/null; done |
            awk '$2 == "[vdso]" { print $1 }' | sort -u); do
    mkdir -p "debug/.build-id/${id:0:2}/${id:2}"
    cp -L "$HOME/.debug/.build-id/${id:0:2}/${id:2}/vdso" "debug/.build-id/${id:0:2}/${id:2}/vdso"
    chmod 644 "debug/.build-id/${id:0:2}/${id:2}/vdso"
done

# perf script's text of the call-graph fixtures: what `perf script | inferno-collapse-perf`
# folds, for the parity tests.
for f in callchain-fp callchain-dwarf4k; do
    perf script -i "perf/$f.data" > "perf/$f.script" 2>/dev/null
done

# perf's own view of each recording, the oracle for the statistics tests: record counts by
# type, the sum of the LOST records' counts, the end-of-run LOST_SAMPLES sum, samples per comm.
for f in perf/*.data; do
    out="${f%.data}.expected"
    {
        perf report -i "$f" --stats 2>/dev/null |
            awk '/^ *[A-Z_0-9]+ events:/ && !seen[$1]++ { print "records", $1, $3 }'
        perf report -D -i "$f" 2>/dev/null |
            awk '/PERF_RECORD_LOST:/ { sub(/.*lost:/, ""); s += $1 } END { print "lost_in_chunks", s + 0 }'
        perf report -D -i "$f" 2>/dev/null |
            awk '/PERF_RECORD_LOST_SAMPLES/ { sub(/.*lost samples :/, ""); s += $1 } END { print "lost_samples", s + 0 }'
        perf script -i "$f" -F comm -G 2>/dev/null | sort | uniq -c | awk '{ print "comm", $2, $1 }'
    } > "$out"
done

# fio JSON fixtures from the real nbd engine against nbdkit's null plugin.
sock=$(mktemp -d)/nbd.sock
nbdkit --foreground --exit-with-parent -U "$sock" null 1G &
trap 'kill %1 2>/dev/null || true' EXIT
for i in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
common=(--ioengine=nbd "--uri=nbd+unix:///?socket=$sock" --direct=1 --time_based=1
        --runtime=2 --ramp_time=1 --group_reporting=1 --output-format=json)
fio "${common[@]}" --name=randrw --rw=randrw --iodepth=64 --numjobs=4 --size=64m \
    --offset_increment=64m --output=fio/randrw.json
fio "${common[@]}" --name=randread --rw=randread --bs=4k --iodepth=1 --output=fio/randread.json
echo "fixtures written to $fx"
