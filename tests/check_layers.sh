#!/usr/bin/env bash
# Checks every quoted #include of the library against the layer arrows:
#   frontend -> passes, runtime, codegen -> support -> ir   (codegen -> runtime too)
# where every layer but ir may use the public value types of include/kiln/
# (Tensor, Error, CompileOptions), the user headers include nothing else, the
# tools and benchmarks reach the internals only through kiln/advanced.h, and
# LLVM stays inside codegen/: in its .cc files and in the internal headers no
# other folder includes. The static libraries mirror the arrows, but a
# header-only misuse would still compile: this catches it.
# usage: check_layers.sh SOURCE_DIR
set -uo pipefail
cd "$1" || exit 2
declare -A allowed=(
  [ir]="ir absl"
  [support]="ir support kiln absl nlohmann"
  [passes]="ir support passes kiln absl"
  [runtime]="ir support runtime kiln absl"
  [codegen]="ir support runtime codegen kiln absl llvm"
  [frontend]="ir support passes runtime codegen frontend kiln absl"
  [include/kiln]="kiln"
  [tools]="kiln tools absl"
  [benchmarks]="kiln benchmark benchmarks"
)
status=0
llvm_headers=()
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
      if [[ "$layer" == codegen ]]; then
        llvm_headers+=("$file")
      else
        echo "$file:$line: LLVM headers stay in codegen/"
        status=1
      fi
    fi
  done < <(grep -Hn '^#include "' "$layer"/*.cc "$layer"/*.h "$layer"/*.def 2>/dev/null |
    grep -v '^include/kiln/advanced.h:')
done
# A codegen header with LLVM in it (directly or through another such header)
# is internal: nothing outside codegen/ may include it.
declare -A internal=()
for h in "${llvm_headers[@]}"; do internal[$h]=1; done
grown=1
while ((grown)); do
  grown=0
  for h in codegen/*.h; do
    [[ -n "${internal[$h]:-}" ]] && continue
    for l in "${!internal[@]}"; do
      if grep -q "^#include \"$l\"" "$h"; then
        internal[$h]=1 grown=1
        break
      fi
    done
  done
done
for h in "${!internal[@]}"; do
  while IFS= read -r hit; do
    echo "${hit%%:#include*}: includes $h, which holds LLVM headers (internal to codegen/)"
    status=1
  done < <(grep -rHn --include='*.cc' --include='*.h' --include='*.def' "^#include \"$h\"" \
    ir support passes runtime frontend include tools tests examples benchmarks 2>/dev/null)
done
[ $status -eq 0 ] && echo "every include follows the layer arrows"
exit $status
