#!/usr/bin/env bash
# scripts/make_data.sh with a folder (what `make data DATA_FROM=folder` runs);
# the Linux-source default is too large for a test and is not run here.
set -u
fail() { echo "FAIL: $*"; exit 1; }
mkdir -p corpus/sub
printf 'alpha\n' > corpus/a.txt
printf 'beta\n' > corpus/sub/b.c
SCALELAB=$SCALELAB DATA_OUT=$PWD/out.bin "$SCALELAB_ROOT/scripts/make_data.sh" "$PWD/corpus" > log 2>&1 || fail "make_data: $(cat log)"
grep -q "2 files read, 0 skipped" log || fail "report: $(cat log)"
python3 -c "
d = open('out.bin', 'rb').read()
assert d[:8] == b'SLTOKENS' and d[32:] == b'alpha\n\x00beta\n', d
" || fail "shard"
"$SCALELAB_ROOT/scripts/make_data.sh" "$PWD/no-such-folder" 2>err; [ $? -ne 0 ] || fail "missing folder accepted"
grep -q "is not a folder" err || fail "missing folder msg: $(cat err)"
echo ok
