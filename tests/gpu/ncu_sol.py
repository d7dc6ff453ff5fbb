#!/usr/bin/env python3
"""How full one training step keeps the GPU: per-kernel speed-of-light figures from ncu, weighted by time.

The input is ncu's CSV of one command (a launch per row group, one row per metric), here the last training step of
tests/bench/bench_cuda (which brackets that step with cudaProfilerStart/Stop), caches as the step leaves them:
  ncu --clock-control none --cache-control none --profile-from-start off --csv --metrics M \
    ./bench_cuda 1 8 softmax 128 bf16 > FILE
with M = gpu__time_duration.sum,sm__throughput.avg.pct_of_peak_sustained_elapsed,
gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed,dram__throughput.avg.pct_of_peak_sustained_elapsed
(one comma-separated list).
For each kernel ncu reports the busiest SM unit (sm__throughput: the tensor, FMA, ALU and load/store pipes, in % of
their peak) and the busiest memory unit (gpu__compute_memory_throughput: L1, L2, DRAM), each over the kernel's whole
duration. The larger of the two is how close the kernel came to some hardware limit. Weighted by kernel time it says
how much of the GPU the kernels used while they ran; what it cannot see is the time between kernels (ncu serialises
them), which nsys or nvidia-smi's utilisation measures. Why it exists: issue 10's packing target (8 tiny runs on one
GPU at 4x one run's rate) holds only if one run leaves at least three quarters of the GPU idle.
  python3 ncu_sol.py FILE [ROWS]     (ROWS: kernels listed, by time; default 20)
"""
import csv
import sys
from collections import defaultdict

TIME = "gpu__time_duration.sum"
SM = "sm__throughput.avg.pct_of_peak_sustained_elapsed"
MEM = "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed"
DRAM = "dram__throughput.avg.pct_of_peak_sustained_elapsed"
TO_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6, "s": 1e6}


def number(text):
    return float(text.replace(",", ""))


def launches(path):
    """{launch id: {'name': kernel, metric: value}} with times in us"""
    rows = defaultdict(dict)
    with open(path, newline="", errors="replace") as f:
        lines = [line for line in f if line.startswith('"')]  # ncu's own messages start with ==PROF==
    for r in csv.DictReader(lines):
        if "Metric Name" not in r or not r.get("ID"):
            continue
        k = rows[r["ID"]]
        k["name"] = r["Kernel Name"].split("(")[0].replace("void ", "")
        value = r["Metric Value"]
        if value in ("", "n/a"):
            continue
        if r["Metric Name"] == TIME:
            unit = r["Metric Unit"]
            if unit not in TO_US:
                sys.exit(f"ncu_sol: {path}: unknown time unit '{unit}'")
            k[TIME] = number(value) * TO_US[unit]
        else:
            k[r["Metric Name"]] = number(value)
    return [k for k in rows.values() if TIME in k and SM in k and MEM in k]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ks = launches(sys.argv[1])
    if not ks:
        sys.exit(f"ncu_sol: {sys.argv[1]}: no launch with {TIME}, {SM} and {MEM}")
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    total = sum(k[TIME] for k in ks)

    def mean(f):
        return sum(k[TIME] * f(k) for k in ks) / total

    sol = lambda k: max(k[SM], k[MEM])
    print(f"{len(ks)} launches, {total / 1e3:.3f} ms of kernel time")
    print(f"time-weighted: SM {mean(lambda k: k[SM]):.1f}%  memory {mean(lambda k: k[MEM]):.1f}%  "
          f"DRAM {mean(lambda k: k.get(DRAM, 0.0)):.1f}%  max(SM, memory) {mean(sol):.1f}%")
    for cut in (40, 60, 80):
        share = sum(k[TIME] for k in ks if sol(k) >= cut) / total
        print(f"  kernel time at >= {cut}% of a limit: {100 * share:.1f}%")
    by = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    for k in ks:
        b = by[k["name"]]
        b[0] += 1
        b[1] += k[TIME]
        b[2] += k[TIME] * k[SM]
        b[3] += k[TIME] * k[MEM]
        b[4] += k[TIME] * k.get(DRAM, 0.0)
    print(f"{'kernel':<58} {'calls':>5} {'us':>9} {'share':>6} {'SM%':>5} {'mem%':>5} {'DRAM%':>5}")
    for name, (n, t, s, m, d) in sorted(by.items(), key=lambda x: -x[1][1])[:top]:
        print(f"{name[:58]:<58} {n:>5} {t:>9.1f} {100 * t / total:>5.1f}% {s / t:>5.1f} {m / t:>5.1f} {d / t:>5.1f}")


if __name__ == "__main__":
    main()
