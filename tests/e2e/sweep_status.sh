#!/usr/bin/env bash
# Live progress in `sweep status` while a real sweep runs: each running run with its
# step / total steps, tokens and current loss; the next pending runs with their FLOPs;
# an ETA before any run has finished; "no scheduler running" once the scheduler is
# killed (-9); `--watch` on a pseudo-terminal (redraws, ends cleanly on Ctrl-C) and into
# a pipe (prints once); and after `sweep cancel` the same counts in the scheduler's
# closing line, the cancel's own line and `sweep status`.
# Robust on a loaded machine: every wait polls the store with a generous deadline.
set -u
# KEEP_GOING=1 reports every failed check instead of stopping at the first (to see
# each one fail against an older scalelab); the script still exits 1.
failed=0
fail() { echo "FAIL: $*"; failed=1; [ -n "${KEEP_GOING:-}" ] || exit 1; }
S=$SCALELAB
export SCALELAB_DB=$PWD/t.db
q() { sqlite3 -cmd ".timeout 10000" "$SCALELAB_DB" "$1" 2>/dev/null; }  # a trainer may hold the write lock a moment
# poll CMD until it succeeds, at most $1 seconds
until_ok() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -ge "$deadline" ] && return 1; sleep 0.2; done
}
# Runs far too long to end during the test (millions of tokens each), so that no run is
# done while the ETA is checked; the cancel ends them. Widths differ: FLOPs differ.
cat > s.yaml <<'Y'
name: live
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 20000000, warmup_steps: 4, eval_every: 100000, eval_tokens: 256}
grid:
  model.d_model: [16, 32]
  train.lr: [1.0e-3, 3.0e-3]
Y
OPENBLAS_NUM_THREADS=1 $S sweep run s.yaml --jobs 2 --threads-per-job 1 > run1.txt 2>&1 &
sched=$!
# on a failure, stop the scheduler and the trainers (long runs) before leaving
trap '$S sweep cancel live > /dev/null 2>&1; kill $sched 2>/dev/null' EXIT

# 1. running runs listed with step and loss, from their metric rows
logged() { [ "$(q "SELECT count(DISTINCT run) FROM metrics")" = 2 ]; }
until_ok 300 logged || fail "no two runs logged metrics: $(cat run1.txt)"
$S sweep status live > st1.txt || fail "status: $(cat st1.txt)"
cat st1.txt
n=$(grep -cE "^  running: run [0-9]+  step [0-9]+/[0-9]+  tokens [0-9.e+]+/2e\+07  loss [0-9]+\.[0-9]+  [0-9.e+]+ tok/s  device cpu  host [^ ]+  pid [0-9]+" st1.txt)
[ "$n" = 2 ] || fail "two running runs with step, tokens, loss, tok/s, device and host: $(cat st1.txt)"
grep -qE "^  next:    run [0-9]+  [0-9.e+]+ training FLOPs  2e\+07 tokens$" st1.txt || fail "next pending runs: $(cat st1.txt)"
[ "$(grep -c '^  next:' st1.txt)" = 2 ] || fail "two pending runs listed: $(cat st1.txt)"

# 2. an ETA before any run finished (no run is done: they are far too long)
[ "$(q "SELECT count(*) FROM runs WHERE status = 'done'")" = 0 ] || fail "a run finished: make the runs longer"
grep -qE "^ETA: [0-9]+:[0-9]{2}:[0-9]{2} \([0-9.e+]+ training FLOPs left at [0-9.e+]+ FLOP/s; scheduler pid $sched on " st1.txt ||
  fail "no ETA before the first run ended: $(cat st1.txt)"
$S sweep status live --json > st1.json || fail "status --json"
python3 - st1.json <<'P' || fail "status --json: $(cat st1.json)"
import json, sys
s = json.load(open(sys.argv[1]))
# the keys that existed before stay
for k in ("sweep", "total", "counts", "running", "slurm", "best_loss", "best_run", "eta_seconds"): assert k in s, k
assert s["counts"]["done"] == 0 and s["counts"]["running"] == 2, s["counts"]
assert isinstance(s["eta_seconds"], (int, float)) and s["eta_seconds"] > 0, s["eta_seconds"]
assert s["scheduler"]["running"] is True, s["scheduler"]
for r in s["running"]:
    assert r["step"] > 0 and r["total_steps"] >= r["step"] and r["tokens"] > 0 and r["loss"] > 0, r
    assert r["planned_tokens"] == 2e7 and r["tokens_per_second"] > 0 and r["device"] == "cpu" and r["host"], r
    assert r["total_steps"] == 156250, r  # 2e7 tokens / (4 x 32) per step
pend = s["next_pending"]
assert len(pend) == 2 and all(p["training_flops"] > 0 for p in pend), pend
# the ETA weighs runs by their FLOPs: the work left is what the FLOPs say
left = sum(p["training_flops"] for p in pend) + sum(r["training_flops"] - r["flops_done"] for r in s["running"])
assert abs(s["flops_left"] - left) <= 1e-6 * left, (s["flops_left"], left)
P

# 3. --watch: into a pipe it prints once (and says so); on a terminal it redraws until Ctrl-C
$S sweep status live --watch 0.2 > w.txt 2> w.err || fail "--watch into a file: $(cat w.err)"
[ "$(grep -c '^sweep live: ' w.txt)" = 1 ] && grep -q "not a terminal; printing the status once" w.err ||
  fail "--watch into a file: $(cat w.txt w.err)"
python3 - "$S" <<'P' || fail "--watch on a terminal"
import os, pty, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "sweep", "status", "live", "--watch", "0.2"])
out, t0 = b"", time.time()
while out.count(b"\x1b[H\x1b[2J") < 3 and time.time() - t0 < 120:
    try: out += os.read(fd, 65536)
    except OSError: break
assert out.count(b"\x1b[H\x1b[2J") >= 3, out[-500:]
assert b"  running: run " in out, out[-500:]
os.kill(pid, signal.SIGINT)
_, st = os.waitpid(pid, 0)
assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st
P

# 4. "no scheduler running" once the scheduler is killed outright
kill -9 $sched; wait $sched 2>/dev/null
$S sweep status live > st2.txt || fail "status after the kill"
grep -q "^ETA: - (no scheduler running: pid $sched on .* is gone or silent (heartbeat [0-9]* s ago); " st2.txt || fail "after kill -9: $(cat st2.txt)"
$S sweep status live --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["eta_seconds"] is None and s["scheduler"]["running"] is False, s' || fail "status --json after the kill"

# a scheduler on another host counts by its heartbeat: fresh is alive, 200 s old is not
q "UPDATE schedulers SET host = 'elsewhere', heartbeat = (julianday('now') - 2440587.5) * 86400 WHERE sweep = 'live'"
$S sweep status live > st2b.txt || fail "status with a scheduler elsewhere"
grep -q "^ETA: .*scheduler pid $sched on elsewhere)$" st2b.txt || fail "a fresh heartbeat from elsewhere: $(cat st2b.txt)"
q "UPDATE schedulers SET heartbeat = (julianday('now') - 2440587.5) * 86400 - 200 WHERE sweep = 'live'"
$S sweep status live > st2c.txt || fail "status with a stale scheduler elsewhere"
grep -q "^ETA: - (no scheduler running: pid $sched on elsewhere is gone or silent (heartbeat 200 s ago); " st2c.txt ||
  fail "a stale heartbeat from elsewhere: $(cat st2c.txt)"

# 5. a scheduler again (it adopts the orphaned trainers), then a cancel: every count agrees
OPENBLAS_NUM_THREADS=1 $S sweep run s.yaml --jobs 2 --threads-per-job 1 > run2.txt 2>&1 &
sched=$!
alive() { $S sweep status live --json 2>/dev/null | python3 -c '
import json, sys; s = json.load(sys.stdin); sys.exit(0 if s["scheduler"]["running"] and s["counts"]["running"] == 2 else 1)'; }
until_ok 300 alive || fail "the second scheduler did not take over: $(cat run2.txt)"
$S sweep cancel live > cancel.txt 2>&1 || fail "cancel: $(cat cancel.txt)"
until_ok 120 eval '! kill -0 $sched 2>/dev/null' || fail "the scheduler did not stop"
wait $sched
$S sweep status live > st3.txt || fail "status after the cancel"
cat run2.txt cancel.txt st3.txt
python3 - run2.txt cancel.txt st3.txt <<'P' || fail "counts disagree"
import re, sys
run, cancel, status = (open(p).read() for p in sys.argv[1:])
m = re.search(r"^sweep live: (\d+)/(\d+) done, (\d+) failed, (\d+) diverged, (\d+) cancelled, (\d+) pending", run, re.M)
assert m, run
done, total, failed, diverged, cancelled, pending = map(int, m.groups())
sched = {"done": done, "failed": failed, "diverged": diverged, "cancelled": cancelled, "pending": pending}
def counts(text):
    m = re.search(r"^sweep live: (\d+) runs: (.*)$", text, re.M)
    assert m, text
    return int(m.group(1)), {k: int(v) for v, k in re.findall(r"(\d+) (\w+)", m.group(2))}
for name, text in (("status", status), ("cancel", cancel)):
    n, c = counts(text)
    assert n == total, (name, n, total)
    for k, v in sched.items(): assert c[k] == v, (name, k, c[k], "scheduler said", v)
    assert c["running"] == 0, (name, c)
assert cancelled == total - done and pending == 0, sched
m = re.search(r"^sweep live: (\d+) runs? cancelled", cancel, re.M)
assert m and int(m.group(1)) == cancelled, cancel
P
[ "$(q "SELECT count(*) FROM runs WHERE status = 'cancelled'")" = 4 ] || fail "store: $(q 'SELECT id, status FROM runs')"
trap - EXIT
[ $failed = 0 ] || exit 1
echo "all sweep_status checks passed"
