#!/usr/bin/env bash
# Installs what unwindbench needs and builds it.
#   perf (linux-perf), nbdkit, fio (with its nbd engine, from libnbd), nbdfuse and losetup (the
#   loop target), nbd-client, gcc,
#   hyperfine (for scripts/bench-*.sh), libc6-dbg (libc's symbol table, to name its frames),
#   debuginfod (the server the tests name frames from), check-jsonschema (into build/venv, for
#   the CI workflow's schema check); and the debug packages of nbdkit, fio
#   and libnbd where the distribution's debug archive is configured.
# Debian and Ubuntu are supported; elsewhere it says what to install. Needs root for the
# packages (it uses sudo when not root). Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have perf || need+=(perf)
have nbdkit || need+=(nbdkit)
have fio || need+=(fio)
have nbd-client || need+=(nbd-client)
have gcc || need+=(gcc)
have g++ || need+=(g++)
have hyperfine || need+=(hyperfine)
have nbdinfo || need+=(libnbd-bin)
# nbdfuse (--target loop: a loop device over the file it serves) ships in libnbd-bin on
# Debian 12; later releases split it into its own package. losetup comes with util-linux's
# mount package.
have nbdfuse || need+=(nbdfuse)
have losetup || need+=(mount)
[ -x /usr/bin/time ] || need+=(time)
have debuginfod || need+=(debuginfod)
# libc's own symbol table (the distribution strips it into libc6-dbg): without it, libc's
# local functions (`__libc_start_call_main`, a stack bottom) have no names.
libc_has_symbols() {
    local libc id
    libc=$(ldd /bin/true 2>/dev/null | awk '/libc\.so/ { print $3 }')
    [ -n "$libc" ] || return 0
    id=$(readelf -n "$libc" 2>/dev/null | awk '/Build ID/ { print $3 }')
    [ -z "$id" ] || readelf -S "$libc" | grep -q '\.symtab' ||
        [ -e "/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" ]
}
libc_has_symbols || need+=(libc6-dbg)
# python3 with its venv module: check-jsonschema (below) lives in a virtual environment.
have python3 || need+=(python3)
{ have python3 && python3 -c 'import ensurepip' 2>/dev/null; } || need+=(python3-venv)

if ((${#need[@]})); then
    . /etc/os-release 2>/dev/null || true
    case "${ID:-} ${ID_LIKE:-}" in
        *debian*|*ubuntu*)
            pkgs=()
            for n in "${need[@]}"; do
                case "$n" in
                    perf)
                        if [ "${ID:-}" = ubuntu ]; then
                            pkgs+=(linux-tools-common "linux-tools-$(uname -r)")
                        else
                            pkgs+=(linux-perf)
                        fi ;;
                    nbdfuse)
                        if apt-cache policy nbdfuse 2>/dev/null | grep -q 'Candidate: [0-9]'; then
                            pkgs+=(nbdfuse)
                        else
                            pkgs+=(libnbd-bin)
                        fi ;;
                    *) pkgs+=("$n") ;;
                esac
            done
            sudo=""
            [ "$(id -u)" -eq 0 ] || sudo=sudo
            echo "setup: installing ${pkgs[*]}"
            $sudo apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
            ;;
        *)
            echo "setup: this distribution (${PRETTY_NAME:-unknown}) is not one setup.sh knows." >&2
            echo "setup: install these yourself, then rerun: ${need[*]}" >&2
            echo "setup: (perf from your kernel's tools package; fio built with libnbd for its nbd engine)" >&2
            exit 1 ;;
    esac
fi

# Debug packages (Debian's -dbgsym, Ubuntu's ddebs) give the workload's own functions their
# names; without them frames are named by function boundaries (nbdkit+0x1a2b0). Installed
# only where apt knows them (the debug archive is in its sources); said once otherwise.
if have apt-cache; then
    dbg=()
    for p in nbdkit-dbgsym fio-dbgsym libnbd0-dbgsym; do
        base=${p%-dbgsym}
        dpkg -s "$p" >/dev/null 2>&1 && continue
        dpkg -s "$base" >/dev/null 2>&1 || continue
        apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' && dbg+=("$p")
    done
    if ((${#dbg[@]})); then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        echo "setup: installing debug packages ${dbg[*]}"
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${dbg[@]}" >/dev/null ||
            echo "setup: the debug packages could not be installed; frames without symbols are named by function boundaries" >&2
    elif ! dpkg -s nbdkit-dbgsym >/dev/null 2>&1; then
        echo "setup: no debug archive in apt's sources (Debian: deb.debian.org/debian-debug, Ubuntu: ddebs.ubuntu.com): nbdkit, fio and libnbd frames are named by function boundaries, or by debuginfod where DEBUGINFOD_URLS is set" >&2
    fi
fi

if ! have cargo; then
    echo "setup: Rust is not installed: see https://rustup.rs, then rerun scripts/setup.sh" >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ] && [ "$(cat /proc/sys/kernel/perf_event_paranoid)" -gt -1 ]; then
    echo "setup: note: system-wide recording needs root or: sudo sysctl kernel.perf_event_paranoid=-1" >&2
fi
# check-jsonschema checks .github/workflows/ against GitHub's schema (tests/ci_workflow.rs);
# in a virtual environment under build/, since Debian's pip installs nothing system-wide.
if [ ! -x build/venv/bin/check-jsonschema ]; then
    echo "setup: installing check-jsonschema into build/venv"
    python3 -m venv --clear build/venv
    build/venv/bin/pip install --quiet --disable-pip-version-check 'check-jsonschema==0.39.0'
fi
cargo build --release --quiet
echo "setup: ready. Check the machine with: cargo run --release -- doctor"
