#!/usr/bin/env bash
# Checks every quoted #include of the library against the layer arrows:
#   frontend -> passes, runtime, codegen -> ir      (codegen -> runtime too)
# and that only codegen/*.cc include LLVM. The static libraries mirror the
# arrows, but a header-only misuse would still compile: this catches it.
# usage: check_layers.sh SOURCE_DIR
set -uo pipefail
cd "$1" || exit 2
declare -A allowed=(
  [ir]="ir absl"
  [passes]="ir passes absl"
  [runtime]="ir runtime absl"
  [codegen]="ir runtime codegen absl llvm"
  [frontend]="ir passes runtime codegen frontend absl"
)
status=0
for layer in "${!allowed[@]}"; do
  while IFS= read -r hit; do
    file="${hit%%:*}" rest="${hit#*:}" line="${rest%%:*}"
    target="$(sed -E 's/.*#include "([^"/]+)\/.*/\1/' <<<"$rest")"
    [[ "$rest" =~ \#include\ \"[^\"/]+/ ]] || continue
    if [[ " ${allowed[$layer]} " != *" $target "* ]]; then
      echo "$file:$line: $layer/ may not include $target/ (allowed: ${allowed[$layer]})"
      status=1
    fi
    if [[ "$target" == llvm && "$file" == *.h ]]; then
      echo "$file:$line: LLVM headers stay in codegen/*.cc, not in headers"
      status=1
    fi
  done < <(grep -Hn '^#include "' "$layer"/*.cc "$layer"/*.h "$layer"/*.def 2>/dev/null)
done
[ $status -eq 0 ] && echo "every include follows the layer arrows"
exit $status
