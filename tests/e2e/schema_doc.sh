#!/usr/bin/env bash
# docs/schema.md documents every table and every column of a fresh store: a column
# added to the schema without a line in the doc fails here.
set -u
S=${SCALELAB:?}
root=${SCALELAB_ROOT:?}
doc=$root/docs/schema.md
command -v sqlite3 >/dev/null || { echo "skip: the sqlite3 program is not installed"; exit 77; }
"$S" init --db s.db >/dev/null || { echo "FAIL: init"; exit 1; }
fails=0 n=0
for t in $(sqlite3 s.db "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"); do
  grep -q "^## $t " "$doc" || { echo "FAIL: table $t has no section in docs/schema.md"; fails=$((fails + 1)); }
  # the table's section: from its heading to the next one
  section=$(awk -v t="$t" '$0 ~ "^## " {on = ($2 == t)} on' "$doc")
  for c in $(sqlite3 s.db "SELECT name FROM pragma_table_info('$t')"); do
    n=$((n + 1))
    grep -qE "^\| ([a-z_]+, )*$c(, [a-z_]+)* \|" <<<"$section" ||
      { echo "FAIL: column $t.$c is not documented in docs/schema.md"; fails=$((fails + 1)); }
  done
done
[ $fails -eq 0 ] && echo "schema_doc: $n columns documented"
exit $((fails > 0))
