#!/usr/bin/env bash
# Builds and runs examples/embed both ways a user would: against an installed
# Kiln (find_package) and from source (add_subdirectory). Run by ctest.
#   check.sh KILN_SOURCE_DIR KILN_BUILD_DIR WORK_DIR
set -euo pipefail
src="$1" build="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
gen=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
command -v clang++-19 >/dev/null && gen+=(-DCMAKE_CXX_COMPILER=clang++-19)
command -v ccache >/dev/null && gen+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$src/examples/embed" -B "$work/installed" "${gen[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/installed" -j 2 >/dev/null
"$work/installed/blobs"

cmake -S "$src/examples/embed" -B "$work/subdir" "${gen[@]}" -DKILN_SOURCE_DIR="$src" >/dev/null
cmake --build "$work/subdir" -j 2 >/dev/null
"$work/subdir/blobs"
