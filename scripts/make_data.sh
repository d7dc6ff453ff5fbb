#!/usr/bin/env bash
# make data [DATA_FROM=folder]: prepare a real text corpus as a byte-level shard.
#   no argument: the C sources (*.c, *.h) of Debian's linux-source-6.1 package,
#                without generated register headers -> data/linux-c.bin
#   a folder:    every text file under it -> data/<folder name>.bin
# DATA_OUT=file overrides the output path. Train on it with
#   --set data.source=file:data/linux-c.bin
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scalelab=${SCALELAB:-$root/scalelab}
[ -x "$scalelab" ] || { echo "make_data: $scalelab not built (run make)" >&2; exit 1; }
mkdir -p "$root/data"

if [ $# -ge 1 ] && [ -n "$1" ]; then
  from=$1
  [ -d "$from" ] || { echo "make_data: DATA_FROM=$from is not a folder" >&2; exit 1; }
  out=${DATA_OUT:-$root/data/$(basename "$(cd "$from" && pwd)").bin}
  exec "$scalelab" data prepare --from "$from" --out "$out"
fi

out=${DATA_OUT:-$root/data/linux-c.bin}
tarball=/usr/src/linux-source-6.1.tar.xz
if [ ! -f "$tarball" ]; then
  echo "make_data: installing Debian's linux-source-6.1 (apt-get)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-source-6.1 >/dev/null
fi
[ -f "$tarball" ] || { echo "make_data: $tarball missing after installing linux-source-6.1" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/scalelab-linux.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "make_data: unpacking the C sources of $tarball"
tar -xJf "$tarball" -C "$tmp" --wildcards '*.c' '*.h'
# Generated register dumps (AMD asic_reg, *_sh_mask.h, *_offset.h, *_reg*.h) are
# huge tables of #defines, not code anyone wrote: leave them out.
find "$tmp" -type d -name asic_reg -prune -exec rm -rf {} +
find "$tmp" -type f \( -name '*_reg*.h' -o -name '*_sh_mask.h' -o -name '*_offset.h' \) -delete
"$scalelab" data prepare --from "$tmp" --out "$out"
