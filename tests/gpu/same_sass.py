#!/usr/bin/env python3
"""Whether a CUDA change leaves the machine code as it was, without a GPU.

    tests/gpu/same_sass.py REV kernels/cuda/flash.cu [more .cu files]

Builds each file at REV (from `git archive`, in a temporary folder) and as it is in the working
tree, with `nvcc -cubin -O3 -std=c++17 -arch=sm_90` (the flags of the Makefile's device code;
sm_90a, at both revisions, for a file whose working-tree version includes wgmma.h),
then compares every kernel's machine code (the .text section of each kernel in the cubin, an
ELF file) byte for byte. Prints a line per kernel: "same", or how many of its 16-byte
instructions differ; exits 1 if any kernel differs or is only on one side.

Why: a refactor of a kernel whose machine code is byte-identical needs no GPU to show that it
runs as fast as before; one whose PTX alone is compared may still differ after ptxas (register
naming changes its allocation). Kernel names in an anonymous namespace carry a hash of the
build folder; it is dropped before the names are matched. Run it from the repository root.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile

NVCC = os.environ.get("NVCC", "nvcc")
FLAGS = ["-cubin", "-O3", "-std=c++17", "-arch=sm_90", "-I.", "-DSCALELAB_CUDA=1"]


def kernels(cubin):
    """{kernel name: machine code} from the .text.<name> sections of a cubin (64-bit ELF)."""
    d = open(cubin, "rb").read()
    if d[:4] != b"\x7fELF" or d[4] != 2:
        sys.exit(f"same_sass: {cubin}: not a 64-bit ELF file")
    shoff = struct.unpack_from("<Q", d, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", d, shoff + i * shentsize) for i in range(shnum)]
    names = hdrs[shstrndx][4]
    out = {}
    for name_off, kind, _, _, off, size, *_ in hdrs:
        name = d[names + name_off:d.index(b"\0", names + name_off)].decode()
        if name.startswith(".text.") and kind != 8:  # 8: no bits in the file
            # _GLOBAL__N__<folder hash>_<len>_<file>_cu_<8 hex>: both hashes can move between builds
            key = re.sub(r"_GLOBAL__N__[0-9a-f]+_", "_GLOBAL__N__", name[6:])
            out[re.sub(r"(_GLOBAL__N__\d+_\w+?_cu_)[0-9a-f]{8}", r"\1", key)] = d[off:off + size]
    return out


def build(src_dir, path, out):
    # wgmma exists only for sm_90a: the files that include wgmma.h in the working tree are built for it
    # at both revisions (the Makefile's SM90A_OBJ), so that the two builds compare like with like
    flags = FLAGS
    if os.path.exists(path) and '#include "kernels/cuda/wgmma.h"' in open(path).read():
        flags = [f if f != "-arch=sm_90" else "-arch=sm_90a" for f in FLAGS]
    r = subprocess.run([NVCC, *flags, "-o", out, path], cwd=src_dir, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"same_sass: nvcc failed on {path} in {src_dir}:\n{r.stderr}")
    return kernels(out)


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    rev, files = argv[1], argv[2:]
    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        old = os.path.join(tmp, "rev")
        os.mkdir(old)
        archive = subprocess.run(["git", "archive", rev], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        for f in files:
            a = build(old, f, os.path.join(tmp, "a.cubin"))
            b = build(".", f, os.path.join(tmp, "b.cubin"))
            for k in sorted(set(a) | set(b)):
                short = k if len(k) < 90 else k[:87] + "..."
                if k not in a or k not in b:
                    print(f"{f}: only {'in the working tree' if k in b else 'at ' + rev}: {short}")
                    differ += 1
                elif a[k] == b[k]:
                    print(f"{f}: same ({len(a[k]) // 16} instructions): {short}")
                else:
                    n = min(len(a[k]), len(b[k])) // 16
                    d = sum(a[k][16 * i:16 * i + 16] != b[k][16 * i:16 * i + 16] for i in range(n))
                    print(f"{f}: DIFF {d} of {n} instructions (sizes {len(a[k])}, {len(b[k])} bytes): {short}")
                    differ += 1
    print(f"{differ} kernel(s) differ" if differ else "machine code identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
