#!/usr/bin/env bash
# `scalelab data prepare`: a small tree in, a shard out; exit codes, messages, --json.
set -u
fail() { echo "FAIL: $*"; exit 1; }
S=$SCALELAB

$S data prepare --help | grep -q "usage: scalelab data prepare" || fail "--help"
$S data >/dev/null 2>&1; [ $? -eq 2 ] || fail "bare 'data' should be a usage error"
$S data frobnicate 2>err; [ $? -eq 2 ] || fail "unknown subcommand exit"
grep -q "unknown subcommand 'frobnicate'" err || fail "subcommand msg: $(cat err)"
$S data prepare --out x.bin 2>err; [ $? -eq 2 ] || fail "no --from exit"
grep -q -- "--from PATH is required" err || fail "no --from msg"

mkdir -p tree/src tree/include other
printf 'int main(void) { return 0; }\n' > tree/src/main.c
printf '#define X 1\n' > tree/include/x.h
printf 'notes\n' > other/README
head -c 4096 /dev/urandom > tree/src/blob.o
: > tree/empty.c

$S data prepare --from tree other --out shard.bin --json > out.json || fail "prepare"
python3 - <<'PY' || fail "json/shard check"
import json, struct
r = json.load(open("out.json"))
assert r["files_read"] == 3 and r["files_skipped"] == 2 and r["documents"] == 3, r
body = b"#define X 1\n" + b"\0" + b"int main(void) { return 0; }\n" + b"\0" + b"notes\n"
assert r["bytes"] == len(body) - 2, r
data = open("shard.bin", "rb").read()
magic, version, vocab, width, _, count = struct.unpack("<8sIIIIQ", data[:32])
assert (magic, version, vocab, width, count) == (b"SLTOKENS", 1, 256, 1, len(body)), (magic, version, vocab, width, count)
assert data[32:] == body, data[32:]
PY

# The text report; a second run gives identical bytes.
$S data prepare --from tree --from other --out shard2.bin > report.txt || fail "prepare 2"
grep -q "3 files read, 2 skipped (binary or empty), 3 documents" report.txt || fail "report: $(cat report.txt)"
cmp -s shard.bin shard2.bin || fail "not deterministic"

# Failure leaves the old output untouched.
$S data prepare --from tree missing-dir --out shard.bin 2>err; [ $? -eq 1 ] || fail "missing input exit"
grep -q "scalelab: data prepare: missing-dir: No such file or directory" err || fail "missing msg: $(cat err)"
cmp -s shard.bin shard2.bin || fail "failed prepare changed the output"
ls shard.bin.tmp.* >/dev/null 2>&1 && fail "temporary file left behind"

# Only binary input: an error.
$S data prepare --from tree/src/blob.o --out none.bin 2>err; [ $? -eq 1 ] || fail "binary-only exit"
grep -q "no text files" err || fail "binary-only msg: $(cat err)"
[ -e none.bin ] && fail "binary-only wrote output"
echo ok
