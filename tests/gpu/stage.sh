#!/usr/bin/env bash
# Builds the CUDA binaries here, statically linked against SQLite, libyaml, GSL
# and OpenBLAS (make STATIC=1), and copies what the GPU machine needs into one
# folder: scalelab, test_backend, bench_cuda (packed in bins.tar.xz), their libgomp/libcmocka, the
# example configs, run_on_device.sh, the PyTorch peer (tests/bench/peer_torch.py) and the
# packing bench (tests/bench/bench_pack.sh, which writes its own sweep specs). That folder travels to the device (the
# device tool's `carry`; it must be an ignored path of the checkout that is sent).
#   tests/gpu/stage.sh DEST_DIR [BUILD_DIR]        (BUILD_DIR default build-dev)
set -eu
dest=${1:?usage: tests/gpu/stage.sh DEST_DIR [BUILD_DIR]}
build=${2:-build-dev}
root=$(cd "$(dirname "$0")/../.." && pwd)
# Linked again each time: make does not see that an earlier link of the same targets (a plain
# `make CUDA=1` into the same build folder) lacked STATIC=1, and such a binary needs this
# machine's shared SQLite/GSL/cmocka paths, so it would not start on the GPU machine.
rm -f "$root/$build/scalelab" "$root/$build/tests/test_backend" "$root/$build/bench/bench_cuda"
make -C "$root" --no-print-directory -j2 BUILD="$build" STATIC=1 CUDA=1 \
  "$build/scalelab" "$build/tests/test_backend" "$build/bench/bench_cuda"
rm -rf "$dest"
mkdir -p "$dest/lib" "$dest/configs"
cp "$root/$build/scalelab" "$root/$build/tests/test_backend" "$root/$build/bench/bench_cuda" "$dest/"
# Static OpenBLAS makes each binary ~26 MB; the carry limit is 64 MiB: pack them
# (xz shares the common code across the three). run_on_device.sh unpacks them.
strip "$dest/scalelab" "$dest/test_backend" "$dest/bench_cuda"
(cd "$dest" && tar cJf bins.tar.xz scalelab test_backend bench_cuda && rm scalelab test_backend bench_cuda)
cp "$root/$build"/lib/* "$dest/lib/"
cp "$root"/configs/*.yaml "$dest/configs/"
cp "$root/tests/gpu/run_on_device.sh" "$root/tests/gpu/variants.sh" "$root/tests/gpu/ab.sh" "$root/tests/gpu/step_gaps.sh" "$root/tests/gpu/ncu_diff.py" "$root/tests/gpu/hgmma_regs.py" "$root/tests/gpu/ncu_sol.py" "$root/tests/bench/peer_torch.py" "$root/tests/bench/bench_pack.sh" "$dest/"
git -C "$root" rev-parse --short HEAD > "$dest/COMMIT"
du -sh "$dest"
