#!/usr/bin/env python3
"""Flags a register operand of an asynchronous warpgroup MMA (HGMMA) that is overwritten
before the wait that ends the product, in cuobjdump -sass output:

    python3 hgmma_regs.py KERNEL.sass        (exit 1 when something is flagged)

Why: wgmma reads its register A operand (4 registers) and its accumulators asynchronously,
until `wgmma.wait_group` (SASS: WARPGROUP.DEPBAR). A write to one of them in between changes
the product. The first wgmma flash forward here held Q in registers as S's A operand and ptxas
(CUDA 13.0) reused them inside the loop (RESULTS.md, eleventh pass); flash_wg.cu now reads Q
by descriptor and keeps P and the accumulators live past each wait. This scans, from each
HGMMA with a register A, the instructions that follow in program order (up to 400, stopping
at the first WARPGROUP.DEPBAR; a back edge is not followed: the flash kernels wait before their
loops end) for a write to those registers. Destinations are read as the first operand of each
instruction that writes one (stores, branches and barriers write none), widened by .64 / .128
suffixes."""
import re
import sys

NO_DEST = ("ST", "STS", "STG", "STL", "RED", "BRA", "BAR", "EXIT", "RET", "CALL", "WARPSYNC", "BSYNC",
           "BSSY", "NOP", "WARPGROUP", "HGMMA", "DEPBAR", "MEMBAR", "FENCE", "ERRBAR", "CCTL", "LDGDEPBAR",
           "ARRIVES", "SYNCS", "UCGABAR_ARV", "UCGABAR_WAIT", "BPT", "YIELD", "JMP", "PREEXIT", "ISETP",
           "FSETP", "PLOP3", "R2UR", "VOTEU", "UMOV", "ULDC", "UIADD3", "ULOP3", "USHF", "UISETP", "USEL")


def parse(path):
    """(kernel, index, opcode, operands) for every SASS instruction."""
    out, kernel = [], "?"
    for line in open(path):
        m = re.search(r"Function : (\S+)", line)
        if m:
            kernel = m.group(1)
            continue
        m = re.match(r"\s*/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
        if not m:
            continue
        text = re.sub(r"^@!?U?P\w+\s+", "", m.group(2).strip())
        parts = text.split(None, 1)
        ops = [o.strip() for o in parts[1].split(",")] if len(parts) > 1 else []
        out.append((kernel, int(m.group(1), 16), parts[0], ops))
    return out


def regs(op, width):
    m = re.match(r"-?\|?R(\d+)", op)
    return set(range(int(m.group(1)), int(m.group(1)) + width)) if m and op.lstrip("-|") != "RZ" else set()


def width_of(opcode):
    return 4 if ".128" in opcode else 2 if ".64" in opcode else 1


def main():
    ins = parse(sys.argv[1])
    flagged = hgmmas = 0
    for i, (k, addr, opc, ops) in enumerate(ins):
        if not opc.startswith("HGMMA") or len(ops) < 2 or not ops[1].startswith("R"):
            continue
        hgmmas += 1
        a = regs(ops[1], 4)
        for k2, addr2, opc2, ops2 in ins[i + 1:i + 400]:
            if k2 != k or opc2.startswith("WARPGROUP.DEPBAR"):
                break
            if opc2.split(".")[0] in NO_DEST or not ops2:
                continue
            hit = regs(ops2[0], width_of(opc2)) & a
            if hit:
                flagged += 1
                print(f"{k}: HGMMA at {addr:#x} reads R{min(a)}..R{max(a)}; {opc2} at {addr2:#x} writes R{min(hit)} "
                      f"before its wait")
    print(f"{hgmmas} HGMMA with a register A operand; {flagged} writes to one before its wait")
    sys.exit(1 if flagged else 0)


main()
