#!/usr/bin/env bash
# Trains one seed model with the interpreter and with the JIT on 1, 2, 3 and 8
# threads; every run must print the same hashes of weights, History and
# predictions.
# usage: determinism.sh KILN_DETERMINISM MODEL
set -euo pipefail
bin="$1" model="$2"
reference="$(KILN_BACKEND=interpreter "$bin" "$model")"
echo "interpreter:       $reference"
status=0
for threads in 1 2 3 8; do
  got="$(KILN_BACKEND=jit KILN_NUM_THREADS=$threads "$bin" "$model")"
  echo "jit, $threads thread(s): $got"
  if [ "$got" != "$reference" ]; then
    echo "MISMATCH: the jit with $threads thread(s) differs from the interpreter" >&2
    status=1
  fi
done
exit $status
