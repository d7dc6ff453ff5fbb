#!/usr/bin/env bash
# The progress display: on a terminal (script(1) gives `sweep run` a pseudo-terminal)
# one status line redrawn in place with carriage returns, events printed above it;
# into a pipe, plain lines only (no carriage return, no escape sequence), one per event.
set -u
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
command -v script >/dev/null || skip "script (util-linux) is not installed"
S=$SCALELAB
cp "$SCALELAB_ROOT/configs/sweep-tiny.yaml" tiny.yaml
# script needs a standard input to copy to the terminal; CI may run us with none at all
SCALELAB_DB=$PWD/tty.db script -qec "$S sweep run tiny.yaml --jobs 2" /dev/null < /dev/null > tty.out ||
  fail "sweep run on a terminal: $(cat tty.out)"
python3 - tty.out <<'P' || fail "terminal output"
import re, sys
raw = open(sys.argv[1], "rb").read().decode()
# What a terminal shows: \r goes to column 0, ESC[K clears to the end of the line.
screen, row, col = [""], 0, 0
for tok in re.findall(r"\x1b\[K|\r|\n|[^\r\n\x1b]+", raw):
    if tok == "\r": col = 0
    elif tok == "\n": row += 1; col = 0; screen += [""] * (row + 1 - len(screen))
    elif tok == "\x1b[K": screen[row] = screen[row][:col]
    else: screen[row] = screen[row][:col] + tok + screen[row][col + len(tok):]; col += len(tok)
screen = [l for l in screen if l]
status = [l for l in screen if l.startswith("[tiny-grid] ")]
redraws = len(re.findall(r"\r\x1b\[K\[tiny-grid\] \d+/6 done", raw))
events = [l for l in screen if re.match(r"run \d+ (started|done)", l)]
print("\n".join(screen))
assert redraws >= 12, f"the status line was drawn {redraws} times, expected one per event (12)"
assert status == ["[tiny-grid] 6/6 done, 0 running, 0 failed, 0 diverged, ETA 0:00:00"], status
assert len(events) == 12, events
assert screen[-1].startswith("sweep tiny-grid: 6/6 done, 0 failed"), screen[-1]
P

SCALELAB_DB=$PWD/pipe.db $S sweep run tiny.yaml --jobs 2 --runs-dir pipe-runs 2>&1 | cat > pipe.out
[ "${PIPESTATUS[0]}" = 0 ] || fail "sweep run into a pipe: $(cat pipe.out)"
cat pipe.out
python3 - pipe.out <<'P' || fail "pipe output"
import re, sys
raw = open(sys.argv[1], "rb").read().decode()
assert "\r" not in raw and "\x1b" not in raw, repr(raw[:300])
lines = raw.splitlines()
ev = [l for l in lines if re.fullmatch(r"\[tiny-grid\] run \d+ (started \(pid \d+, cpu\)|done, loss [0-9.]+ \([0-9.]+ s\)) "
                                         r"\(\d/6 done, \d running, 0 failed, ETA [-0-9:]+\)", l)]
assert len(ev) == 12, lines
assert len(lines) == 14, lines  # the planned line, 12 events, the summary
P
echo "all sweep_tty checks passed"
