#!/usr/bin/env bash
# Builds and runs examples/embed both ways a user would: against an installed
# Kiln (find_package) and from source (add_subdirectory); checks that the
# installed headers are the user set alone and that the README's example
# compiles with nothing but their include path (no absl, no LLVM). Run by ctest.
#   check.sh KILN_SOURCE_DIR KILN_BUILD_DIR WORK_DIR
set -euo pipefail
src="$1" build="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
gen=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
command -v clang++-19 >/dev/null && gen+=(-DCMAKE_CXX_COMPILER=clang++-19)
command -v ccache >/dev/null && gen+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

cmake --install "$build" --prefix "$work/prefix" >/dev/null
installed="$(cd "$work/prefix/include" && find . -type f | sort | tr '\n' ' ')"
expected="./kiln/callbacks.h ./kiln/compile_options.h ./kiln/datasets.h ./kiln/distributed.h ./kiln/error.h ./kiln/kiln.h ./kiln/layers.h ./kiln/losses.h ./kiln/model.h ./kiln/optimizers.h ./kiln/plot.h ./kiln/tensor.h "
if [[ "$installed" != "$expected" ]]; then
  echo "installed headers: $installed"
  echo "expected:          $expected"
  exit 1
fi
# The first C++ block of the README, compiled against the installed headers only.
awk '/^```cpp$/ {on = 1; next} on && /^```$/ {exit} on' "$src/README.md" >"$work/readme.cpp"
grep -q 'kiln::Sequential' "$work/readme.cpp"
# absl lives in /usr/include, which no flag removes: check what was read instead.
c++ -std=c++20 -Wall -Werror -I"$work/prefix/include" -c "$work/readme.cpp" \
  -o "$work/readme.o" -MD -MF "$work/readme.d"
if grep -E '/(absl|llvm[^/]*|nlohmann)/' "$work/readme.d"; then
  echo "the README example pulls in the headers above through <kiln/kiln.h>"
  exit 1
fi
cmake -S "$src/examples/embed" -B "$work/installed" "${gen[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/installed" -j 2 >/dev/null
"$work/installed/blobs"

cmake -S "$src/examples/embed" -B "$work/subdir" "${gen[@]}" -DKILN_SOURCE_DIR="$src" >/dev/null
cmake --build "$work/subdir" -j 2 >/dev/null
"$work/subdir/blobs"
