#!/usr/bin/env bash
# Soak test of the local scheduler's crash safety (issue 13, Done 3). Not part of
# `make test`: `make soak` runs it (KILLS=N, SCALELAB=binary, SOAK_DIR=folder).
#
# A small CPU sweep is first trained once without interruption (the reference).
# Then, round after round, the same sweep is run in a fresh store and folder while
# random kill -9s hit it: the scheduler alone, the scheduler's process group, one
# running trainer, or the scheduler and every trainer at once. After each kill the
# same `sweep run` is started again (as a user would), until it finishes by itself.
# Each round is then checked: every run done exactly once (one `done:` in its
# train.log, status done), its metrics hold every step exactly once (no duplicated
# or missing row), its final losses equal the reference's bit for bit, and
# PRAGMA integrity_check says ok; and no more failed attempts were counted than
# trainers were killed under a live scheduler (the only kills that are failures).
# Rounds repeat until at least KILLS kills were made.
# The last line: "soak: kills=... lost=... duplicated=... mismatches=... spurious_failures=...";
# exit 0 only when all four are 0.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
S=${SCALELAB:-$root/build/scalelab}
KILLS=${KILLS:-100}
JOBS=${JOBS:-2}
work=${SOAK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/scalelab-soak.XXXXXX")}
mkdir -p "$work" && cd "$work" || exit 1
[ -x "$S" ] || { echo "soak: no binary at $S (make first)"; exit 1; }
command -v sqlite3 >/dev/null || { echo "soak: needs the sqlite3 program"; exit 1; }
echo "soak: binary $S, folder $work, target $KILLS kills, --jobs $JOBS"
cat > soak.yaml <<'Y'
name: soak
base:
  model: {d_model: 16, n_layer: 1, n_head: 2, mixer: power, p: 2, chunk: 16}
  train: {context: 32, batch_size: 4, tokens: 393216, warmup_steps: 8, eval_every: 256, eval_tokens: 256}
  data: {source: "synthetic:recall"}
grid:
  model.d_model: [16, 32]
  train.lr: [1.0e-3, 2.0e-3, 3.0e-3]
retries: 1000
Y
flags=(--jobs "$JOBS" --threads-per-job 1)
losses() { # DB: "hash train eval ctx" per run, exact (%.17g)
  sqlite3 "$1" "SELECT config_hash, printf('%.17g %.17g %.17g', final_train_loss, final_eval_loss, best_context_loss)
                FROM runs ORDER BY config_hash"
}
echo "soak: reference (uninterrupted)"
"$S" sweep run soak.yaml --db ref.db --runs-dir ref-runs "${flags[@]}" > ref.txt 2>&1 || { cat ref.txt; exit 1; }
losses ref.db > ref.losses
n_runs=$(wc -l < ref.losses)

kills=0 k_sched=0 k_group=0 k_trainer=0 k_all=0 lost=0 duplicated=0 mismatches=0 rounds=0 bad=0 spurious=0
live_trainers() { # folder -> PIDs of live trainers of this round
  for f in "$1"/soak/*/pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f" 2>/dev/null)
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q " train " && echo "$p"
  done
}
while [ $kills -lt "$KILLS" ]; do
  rounds=$((rounds + 1))
  db=r$rounds.db dir=r$rounds-runs
  round_kills=0 round_trainer_kills=0
  sched=""
  while :; do
    if [ -z "$sched" ]; then
      setsid "$S" sweep run soak.yaml --db "$db" --runs-dir "$dir" "${flags[@]}" >> "r$rounds.txt" 2>&1 &
      sched=$!
    fi
    # a random moment: 0.05 .. 1.5 s
    sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.3f", 0.05 + 1.45 * r / 32767 }')"
    if ! kill -0 $sched 2>/dev/null; then   # it ended by itself: finished (0) or gave up
      wait $sched; rc=$?
      [ $rc = 0 ] && break
      echo "soak: round $rounds: sweep run exited $rc"; tail -5 "r$rounds.txt"; bad=1; break
    fi
    kind=$((RANDOM % 4))
    case $kind in
    0) kill -9 $sched 2>/dev/null; k_sched=$((k_sched + 1)) ;;
    1) kill -9 -- -$sched 2>/dev/null; k_group=$((k_group + 1)) ;;
    2) t=$(live_trainers "$dir" | shuf -n 1)  # the scheduler lives on and retries the run itself
       if [ -n "$t" ]; then kill -9 "$t" 2>/dev/null; k_trainer=$((k_trainer + 1)) round_trainer_kills=$((round_trainer_kills + 1))
       else kind=0; kill -9 $sched 2>/dev/null; k_sched=$((k_sched + 1)); fi
       ;;
    3) pids=$(live_trainers "$dir"); kill -9 $sched $pids 2>/dev/null; k_all=$((k_all + 1)) ;;
    esac
    kills=$((kills + 1)) round_kills=$((round_kills + 1))
    echo "round $rounds kill $round_kills kind $kind scheduler $sched trainers ${t:-} ${pids:-}" | tr '\n' ' ' >> kills.log
    echo >> kills.log
    if [ $kind != 2 ]; then wait $sched 2>/dev/null; sched=""; fi
    # A trainer killed in uninterruptible sleep (an fsync) dies a little later: had the
    # next scheduler adopted it meanwhile, its death would count as a failed attempt
    # that no trainer kill explains. Wait until the victims are dead (or zombies).
    for v in ${pids:-}; do
      for _ in $(seq 1 400); do
        st=$(sed -n 's/^[0-9]* (.*) \(.\).*/\1/p' "/proc/$v/stat" 2>/dev/null)
        [ -z "$st" ] || [ "$st" = Z ] && break
        sleep 0.025
      done
    done
    t="" pids=""
  done 2>> jobs.log   # bash's "Killed" notices of the schedulers we killed
  # orphans of the last kills that finished after the final scheduler: none may remain
  for _ in $(seq 1 200); do [ -z "$(live_trainers "$dir")" ] && break; sleep 0.05; done
  # --- checks of this round
  q() { sqlite3 "$db" "$1"; }
  not_done=$(q "SELECT count(*) FROM runs WHERE status <> 'done'")
  lost=$((lost + not_done))
  for d in "$dir"/soak/*/; do
    n=$(grep -c '^done:' "$d/train.log")
    [ "$n" = 1 ] || { echo "soak: round $rounds: $d ended done $n times"; duplicated=$((duplicated + 1)); }
  done
  dup=$(q "SELECT count(*) FROM (SELECT run, step FROM metrics GROUP BY run, step HAVING count(*) > 1)")
  gaps=$(q "SELECT count(*) FROM (SELECT run FROM metrics GROUP BY run HAVING count(*) <> max(step) OR min(step) <> 1)")
  dup_pos=$(q "SELECT count(*) FROM (SELECT run, step, position FROM position_loss GROUP BY 1, 2, 3 HAVING count(*) > 1)")
  duplicated=$((duplicated + dup + dup_pos))
  [ "$gaps" = 0 ] || { echo "soak: round $rounds: $gaps runs with missing metric steps"; lost=$((lost + gaps)); }
  losses "$db" > "r$rounds.losses"
  mm=$(diff ref.losses "r$rounds.losses" | grep -c '^>')
  [ "$mm" = 0 ] || { echo "soak: round $rounds: final losses differ from the reference:"; diff ref.losses "r$rounds.losses"; }
  mismatches=$((mismatches + mm))
  ic=$(q "PRAGMA integrity_check")
  [ "$ic" = ok ] || { echo "soak: round $rounds: integrity_check: $ic"; bad=1; }
  # Failed attempts: only a trainer killed under a live scheduler is one (kill kind 2).
  # More than that means a healthy trainer was counted failed (a lock conflict, a stop).
  failures=$(cat "$dir"/soak/*/failures 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
  extra=$((failures - round_trainer_kills))
  [ $extra -gt 0 ] || extra=0
  [ $extra = 0 ] || echo "soak: round $rounds: $failures failed attempts counted for $round_trainer_kills trainer kills"
  spurious=$((spurious + extra))
  attempts=$(q "SELECT sum(attempt) FROM runs")
  echo "soak: round $rounds: $round_kills kills, $n_runs runs, $not_done not done, attempts $attempts, integrity $ic"
  [ $bad = 1 ] && break
done
echo "soak: kills=$kills (scheduler $k_sched, process group $k_group, trainer $k_trainer, everything $k_all)" \
     "rounds=$rounds runs=$((rounds * n_runs)) lost=$lost duplicated=$duplicated mismatches=$mismatches" \
     "spurious_failures=$spurious" \
     "integrity=$([ $bad = 0 ] && echo ok || echo FAILED)"
[ $lost = 0 ] && [ $duplicated = 0 ] && [ $mismatches = 0 ] && [ $spurious = 0 ] && [ $bad = 0 ]
