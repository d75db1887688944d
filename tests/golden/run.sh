#!/usr/bin/env bash
# Runs one golden IR test, lit style: every `// RUN:` line of FILE is run with
# bash (pipefail) after substituting
#   %kiln  the kiln tool          %s  FILE          %t  a scratch path for FILE
#   FileCheck-19  the FileCheck found by CMake
# and `not CMD` succeeds when CMD fails. A RUN line ending in \ continues on
# the next RUN line. Then, unless FILE holds no graph or says
# `// NO-ROUNDTRIP: <why>`, `kiln opt --verify-each=false FILE` must print
# FILE unchanged, minus comment and blank lines: golden inputs are in the
# printer's form, and the round trip tests the parser and printer, not the
# verifier (some inputs are invalid on purpose).
#
# usage: run.sh KILN FILECHECK FILE SCRATCH_DIR
set -uo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 KILN FILECHECK FILE SCRATCH_DIR" >&2
  exit 2
fi
kiln="$1" filecheck="$2" file="$3" scratch="$4"
name="$(basename "$file" .kir)"
tmp="$scratch/$name.tmp"
mkdir -p "$scratch"
rm -rf "$tmp"

# Collect the RUN lines, joining continuations.
commands=()
pending=""
while IFS= read -r line; do
  if [[ "$line" =~ ^[[:space:]]*//[[:space:]]*RUN:[[:space:]]?(.*)$ ]]; then
    part="${BASH_REMATCH[1]}"
    if [[ "$part" =~ ^(.*)\\[[:space:]]*$ ]]; then
      pending+="${BASH_REMATCH[1]} "
    else
      commands+=("$pending$part")
      pending=""
    fi
  fi
done < "$file"
if [ -n "$pending" ]; then
  echo "$file: the last RUN line ends in a continuation" >&2
  exit 1
fi

quote() { printf '%q' "$1"; }
failed=0
for cmd in "${commands[@]}"; do
  cmd="${cmd//%kiln/$(quote "$kiln")}"
  cmd="${cmd//%s/$(quote "$file")}"
  cmd="${cmd//%t/$(quote "$tmp")}"
  cmd="${cmd//FileCheck-19/$(quote "$filecheck")}"
  echo "RUN: $cmd"
  if ! bash -o pipefail -c "not() { if \"\$@\"; then return 1; else return 0; fi; }; $cmd"; then
    echo "FAILED: $cmd" >&2
    failed=1
  fi
done

if ! grep -q '^[[:space:]]*//[[:space:]]*NO-ROUNDTRIP:' "$file" &&
   grep -q '^graph ' "$file"; then
  echo "ROUNDTRIP: $kiln opt --verify-each=false $file"
  if ! diff -u <(grep -v -e '^[[:space:]]*//' -e '^[[:space:]]*$' "$file") \
               <("$kiln" opt --verify-each=false "$file") >&2; then
    echo "FAILED: kiln opt $file does not print the input unchanged" >&2
    failed=1
  fi
fi

if [ ${#commands[@]} -eq 0 ]; then
  echo "$file: no RUN lines" >&2
  exit 1
fi
exit $failed
