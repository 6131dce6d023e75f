#!/usr/bin/env bash
# Rebuilds the workload's own binaries with frame pointers, as on the reference system
# (Fedora 38 builds everything with them; Debian does not): libnbd, nbdkit and fio from
# Debian's source packages, compiled with
#     -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer
# into build/fp/prefix/. Then `unwindbench compare --fp-built ...` runs those instead of the
# system's. libc is not rebuilt: frame-pointer chains still end early inside it (the thread
# start, start_thread, has no frame pointer), which the report's audit shows.
#
# Not part of CI. Needs root for the build dependencies (apt-get). Takes roughly 10 minutes
# on a 2-core machine (see README.md for the measured time).
#
#   scripts/build-fp-workloads.sh          # fetch, build, install into build/fp/prefix
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/build/fp"
prefix="$work/prefix"
mkdir -p "$work/src" "$prefix" "$work/apt/lists/partial" "$work/apt/cache/archives/partial"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "build-fp: installing build tools and headers"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    dpkg-dev build-essential pkg-config libxml2-dev libgnutls28-dev libaio-dev \
    zlib1g-dev >/dev/null

# A private apt configuration with a deb-src entry, so `apt-get source` works without
# touching the system's sources (which have no deb-src here).
. /etc/os-release
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}
cat > "$work/apt/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror ${VERSION_CODENAME} main
SRC
apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache"
          -o "Debug::NoLocking=1")
apt-get "${apt_opts[@]}" update -qq
cd "$work/src"
fetched=()
for pkg in libnbd nbdkit fio; do
    if ls -d "$pkg"-*/ >/dev/null 2>&1 \
        || apt-get "${apt_opts[@]}" source -qq "$pkg" >"$pkg.fetch.log" 2>&1; then
        fetched+=("$pkg")
    else
        # Some mirrors (this project's CI machine's among them) serve a package's .dsc but
        # not its tarballs; say which, and build the others.
        echo "build-fp: cannot fetch the $pkg source package ($(grep -m1 -o '[0-9]\{3\}  *Not Found' "$pkg.fetch.log" || echo 'see build/fp/src/'"$pkg"'.fetch.log')); its system build stays in use" >&2
    fi
done
has() { [[ " ${fetched[*]} " == *" $1 "* ]]; }

export CFLAGS="-O2 -g -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer"
export CXXFLAGS="$CFLAGS"
# The rebuilt fio must load the rebuilt libnbd, not the system's.
export LDFLAGS="-L$prefix/lib -Wl,-rpath,$prefix/lib"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
jobs=$(nproc)

start=$(date +%s)
has libnbd && { echo "build-fp: libnbd"
(cd libnbd-*/ && ./configure --prefix="$prefix" --disable-ocaml --disable-python \
    --disable-golang --disable-rust --disable-fuse --without-libfuse \
    >../libnbd.configure.log 2>&1 && make -j"$jobs" >../libnbd.make.log 2>&1 && make install >/dev/null); }
has nbdkit && { echo "build-fp: nbdkit"
(cd nbdkit-*/ && ./configure --prefix="$prefix" --disable-perl --disable-python \
    --disable-ocaml --disable-rust --disable-ruby --disable-tcl --disable-lua \
    --disable-golang --disable-valgrind --without-libvirt --without-libguestfs \
    >../nbdkit.configure.log 2>&1 && make -j"$jobs" >../nbdkit.make.log 2>&1 && make install >/dev/null); }
has fio && { echo "build-fp: fio"
(cd fio-*/ && ./configure --prefix="$prefix" --extra-cflags="$CFLAGS -I$prefix/include" --enable-libnbd \
    >../fio.configure.log 2>&1 && make -j"$jobs" >../fio.make.log 2>&1 && make install >/dev/null); }
echo "build-fp: built ${fetched[*]} in $(( $(date +%s) - start )) s into $prefix"
if [ -x "$prefix/bin/fio" ]; then
    "$prefix/bin/fio" --enghelp=nbd | grep -q uri || { echo "build-fp: fio has no nbd engine" >&2; exit 1; }
fi
echo "build-fp: ready; use: cargo run --release -- compare --fp-built"
