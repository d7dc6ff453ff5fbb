#!/usr/bin/env bash
# Rebuilds the study's token shard: the C sources (*.c, *.h) under kernel/, mm/,
# fs/ and lib/ of Debian 12's linux-source-6.1 package, as bytes, with
# `scalelab data prepare` -> data/linux-kmfl.bin (64,737,041 bytes, 3,056
# documents). The study used package version 6.1.192-3 (tarball sha256
# cacdc383...50759a1); another version of the package may give another shard,
# and the script then says so and fails.
#   docs/results/wsfr-study/make_shard.sh [OUT]     (default data/linux-kmfl.bin)
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
S=${SCALELAB:-$root/scalelab}
out=${1:-$root/data/linux-kmfl.bin}
want=d8cef6e718b5cd426b37c9189508fff6d4f0677050df1055cfb467183558f018
tarball=/usr/src/linux-source-6.1.tar.xz
[ -x "$S" ] || { echo "make_shard: $S not built (run make)" >&2; exit 1; }
if [ ! -f "$tarball" ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-source-6.1 > /dev/null
fi
echo "make_shard: $(dpkg-query -W linux-source-6.1 2>/dev/null || echo 'linux-source-6.1 (version unknown)'), tarball sha256 $(sha256sum "$tarball" | cut -d' ' -f1)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsfr-shard.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xJf "$tarball" -C "$tmp" --wildcards 'linux-source-6.1/kernel/*.[ch]' 'linux-source-6.1/mm/*.[ch]' \
  'linux-source-6.1/fs/*.[ch]' 'linux-source-6.1/lib/*.[ch]'
src=$tmp/linux-source-6.1
mkdir -p "$(dirname "$out")"
"$S" data prepare --from "$src/kernel" --from "$src/mm" --from "$src/fs" --from "$src/lib" --out "$out"
have=$(sha256sum "$out" | cut -d' ' -f1)
if [ "$have" = "$want" ]; then echo "make_shard: $out sha256 $have: the study's shard"
else echo "make_shard: $out sha256 $have differs from the study's $want (another package version?)" >&2; exit 1; fi
