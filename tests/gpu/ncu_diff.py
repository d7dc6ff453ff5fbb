#!/usr/bin/env python3
"""Per-kernel GPU time of two builds side by side, from ncu's per-kernel summaries.

Each input is the output of
  ncu --clock-control none --metrics gpu__time_duration.sum --print-summary per-kernel -c N CMD
run on the same command with each build (ab.sh does it with NCU=1). Kernels are keyed by name and
grid, so a kernel launched at two shapes is two rows; the time of a row is its invocations x its
mean. Prints the totals, then the rows by the larger of the two times, with the difference. This
is how the ninth pass found why the bf16 MLP interior was slower: its GELU kernel took 120 us a
call where the one it replaced took 71.
  python3 ncu_diff.py A.txt B.txt [ROWS]   (ROWS: how many rows, default 40)
"""
import re
import sys

HEAD = re.compile(r"\s{2}(\S.*?) \((\d+), (\d+), (\d+)\)x\((\d+), \d+, \d+\), .*Invocations (\d+)")
TIME = re.compile(r"\s+gpu__time_duration\.sum\s+(\S+)\s+\S+\s+\S+\s+(\S+)")
SCALE = {"ns": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3, "s": 1e6}


def parse(path):
    """{kernel name and grid: (invocations, total us)}"""
    rows, key, calls = {}, None, 0
    for line in open(path, errors="replace"):
        m = HEAD.match(line)
        if m:
            name = re.sub(r"\(.*", "", m.group(1)).replace("void ", "")
            key, calls = f"{name} g{m.group(2)}x{m.group(3)}x{m.group(4)}", int(m.group(6))
            continue
        m = TIME.match(line)
        if m and key:
            unit = m.group(1)
            if unit not in SCALE:
                sys.exit(f"ncu_diff: {path}: unknown time unit '{unit}'")
            mean = float(m.group(2).replace(",", "")) * SCALE[unit]
            c0, t0 = rows.get(key, (0, 0.0))
            rows[key] = (c0 + calls, t0 + calls * mean)
            key = None
    if not rows:
        sys.exit(f"ncu_diff: {path}: no per-kernel summary (ncu --print-summary per-kernel)")
    return rows


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    a, b = parse(sys.argv[1]), parse(sys.argv[2])
    show = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    ta, tb = sum(v[1] for v in a.values()), sum(v[1] for v in b.values())
    print(f"total kernel time: A {ta:.0f} us, B {tb:.0f} us, B - A {tb - ta:+.0f} us ({tb / ta:.3f}x)")
    print(f"{'kernel and grid':72} {'A calls':>7} {'A us':>9} {'B calls':>7} {'B us':>9} {'B - A':>8}")
    keys = sorted(set(a) | set(b), key=lambda k: -max(a.get(k, (0, 0))[1], b.get(k, (0, 0))[1]))
    for k in keys[:show]:
        (ca, xa), (cb, xb) = a.get(k, (0, 0.0)), b.get(k, (0, 0.0))
        print(f"{k[:72]:72} {ca:7d} {xa:9.0f} {cb:7d} {xb:9.0f} {xb - xa:+8.0f}")


if __name__ == "__main__":
    main()
