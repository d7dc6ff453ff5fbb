#!/usr/bin/env bash
# make install puts the binary, the man page and bash completion under PREFIX (DESTDIR
# honoured); make uninstall removes exactly those; the completion offers commands and
# a command's options as its --help lists them.
set -u
root=${SCALELAB_ROOT:?SCALELAB_ROOT must name the source tree}
S=${SCALELAB:?}
build=$(basename "$(dirname "$S")")
# make install builds `all` first; in the sanitizer pass that would relink build-asan
# with the default flags, so only the normal build is installed.
[ "$build" = build ] || { echo "skip: make install is checked in the normal build's pass, not in $build"; exit 77; }
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
dest=$PWD/dest
make -s -C "$root" BUILD="$build" DESTDIR="$dest" PREFIX=/usr/local install >make.log 2>&1 || { cat make.log; fail "make install failed"; }
for f in bin/scalelab share/man/man1/scalelab.1 share/bash-completion/completions/scalelab; do
  [ -f "$dest/usr/local/$f" ] || fail "make install did not install $f"
done
"$dest/usr/local/bin/scalelab" --version | grep -q '^scalelab ' || fail "the installed binary does not run"
if command -v man >/dev/null; then
  man -l "$dest/usr/local/share/man/man1/scalelab.1" 2>/dev/null | grep -q "recommend" || fail "man page does not render"
fi
# completion: a shell with the installed binary first on PATH
out=$(PATH="$dest/usr/local/bin:$PATH" bash -c '
  source "$1"
  COMP_WORDS=(scalelab sw); COMP_CWORD=1; _scalelab; echo "cmds: ${COMPREPLY[*]}"
  COMP_WORDS=(scalelab recommend --bu); COMP_CWORD=2; _scalelab; echo "opts: ${COMPREPLY[*]}"
' _ "$dest/usr/local/share/bash-completion/completions/scalelab")
grep -q "^cmds: sweep$" <<<"$out" || fail "completion of 'sw' gave: $out"
grep -q "^opts: --budget$" <<<"$out" || fail "completion of 'recommend --bu' gave: $out"
make -s -C "$root" BUILD="$build" DESTDIR="$dest" PREFIX=/usr/local uninstall >make.log 2>&1 || fail "make uninstall failed"
left=$(find "$dest" -type f | wc -l)
[ "$left" -eq 0 ] || fail "make uninstall left $left files: $(find "$dest" -type f)"
[ $fails -eq 0 ] && echo "install: all checks passed"
exit $((fails > 0))
