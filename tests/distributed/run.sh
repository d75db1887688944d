#!/usr/bin/env bash
# Runs the data-parallel checks of kiln_distributed under mpirun.
# usage: run.sh KILN_DISTRIBUTED CHECK WORK_DIR
#   equivalence  2 processes at global batch 64 end an epoch with the weights
#                (1e-6 relative) and History (1e-6) of one process at batch 64
#   determinism  the same seed on 2 processes gives bit-identical weights and
#                History twice over
#   uneven       3 processes with an uneven last batch, evaluate and predict
#                of 100 rows, agree with one process (1e-5 relative)
#   faults       refused: processes that build different models, a global
#                batch not divisible by the processes; ended within 30 s with
#                the rank named: a rank whose callback throws, a killed rank
#   stop         stop_training set by a callback on rank 1 alone stops every
#                rank after the same step
#   resume       a 2-process run resumed from a checkpoint with initial_epoch
#                ends bit-identical to an uninterrupted one
#   mnist_example  KILN_DISTRIBUTED is examples/distributed_mnist: on 2
#                processes it reaches its accuracy with one progress display
# Open MPI settings for containers: run as root (tests run as root in CI),
# oversubscribe (2 cores), and no cross-memory-attach single copy, which
# needs ptrace rights a container may lack.
set -euo pipefail
bin="$1" check="$2" work="$3"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
rm -rf "$work" && mkdir -p "$work"

# close A B RTOL: two float32 files agree within RTOL as a whole, ||a - b|| /
# ||a||, and element by element within 10 * RTOL relative to the larger
# magnitude (floor 1e-3: summing a batch in two halves on two processes
# rounds differently, and Adam's update divides by the root of tiny second
# moments, so an element near zero can differ by more than the tensor).
close() {
  python3 - "$@" <<'PY'
import struct, sys
a, b, rtol = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read(), float(sys.argv[3])
if len(a) != len(b) or len(a) == 0:
    sys.exit(f"{sys.argv[1]}: {len(a)} bytes vs {len(b)}")
fa, fb = struct.unpack(f"{len(a)//4}f", a), struct.unpack(f"{len(b)//4}f", b)
worst = max(abs(x - y) / max(abs(x), abs(y), 1e-3) for x, y in zip(fa, fb))
norm = (sum((x - y) ** 2 for x, y in zip(fa, fb)) / max(sum(x * x for x in fa), 1e-30)) ** 0.5
print(f"{sys.argv[1]} vs {sys.argv[2]}: {len(fa)} floats, relative difference {norm:.3g} "
      f"(worst element {worst:.3g})")
sys.exit(0 if norm <= rtol and worst <= 10 * rtol else f"more than {rtol}")
PY
}

# numbers A B RTOL: two text files of numbers (words that parse) agree.
numbers() {
  python3 - "$@" <<'PY'
import sys
def nums(p):
    out = []
    for w in open(p).read().split():
        try: out.append(float(w))
        except ValueError: pass
    return out
a, b, rtol = nums(sys.argv[1]), nums(sys.argv[2]), float(sys.argv[3])
worst = max(abs(x - y) / max(abs(x), abs(y), 1e-12) for x, y in zip(a, b)) if a else 0
print(f"{sys.argv[1]} vs {sys.argv[2]}: {a} vs {b}, worst {worst:.3g}")
sys.exit(0 if len(a) == len(b) and a and worst <= rtol else "differ")
PY
}

# expect_failure NAME SECONDS PATTERN -- COMMAND...: the command fails within
# SECONDS and its output matches PATTERN.
expect_failure() {
  local name="$1" seconds="$2" pattern="$3"
  shift 4
  local start status=0
  start=$(date +%s)
  timeout "$((seconds + 30))" "$@" >"$work/$name.log" 2>&1 || status=$?
  local took=$(($(date +%s) - start))
  echo "--- $name: exit $status after ${took}s"
  grep -E 'kiln|rank|error' "$work/$name.log" | head -8 || true
  if [ "$status" -eq 0 ]; then echo "FAIL: $name succeeded" >&2; return 1; fi
  if [ "$took" -gt "$seconds" ]; then echo "FAIL: $name took ${took}s" >&2; return 1; fi
  if ! grep -qE "$pattern" "$work/$name.log"; then
    echo "FAIL: $name: no line matches /$pattern/" >&2
    return 1
  fi
}

# Under scripts/test --sanitize, leak checking stays on for the lone runs but
# not for processes mpirun starts: Open MPI keeps allocations for the life of
# the process in components it unloads before LeakSanitizer runs, so their
# reports cannot even be attributed (let alone suppressed) by library.
mpi=(mpirun --oversubscribe -x "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0")
run() { "${mpi[@]}" -np "$1" "$bin" "${@:2}"; }

case "$check" in
  equivalence)
    mkdir -p "$work/one" "$work/two"
    "$bin" train "$work/one" 64
    run 2 train "$work/two" 64
    close "$work/one/weights.bin" "$work/two/weights.bin" 1e-6
    numbers "$work/one/history.txt" "$work/two/history.txt" 1e-6
    ;;
  determinism)
    mkdir -p "$work/a" "$work/b"
    run 2 train "$work/a" 64
    run 2 train "$work/b" 64
    cmp "$work/a/weights.bin" "$work/b/weights.bin"
    cmp "$work/a/history.txt" "$work/b/history.txt"
    echo "two runs on 2 processes: identical weights and History"
    ;;
  uneven)
    mkdir -p "$work/one" "$work/three"
    "$bin" shards "$work/one" 48
    run 3 shards "$work/three" 48
    close "$work/one/weights.bin" "$work/three/weights.bin" 1e-5
    close "$work/one/predictions.bin" "$work/three/predictions.bin" 1e-5
    numbers "$work/one/eval.txt" "$work/three/eval.txt" 1e-5
    numbers "$work/one/history.txt" "$work/three/history.txt" 1e-5
    ;;
  stop)
    run 2 stop "$work" 64
    [ "$(cat "$work/steps.txt")" = 4 ] || { echo "rank 0 ran $(cat "$work/steps.txt") steps, not 4" >&2; exit 1; }
    echo "stop_training on rank 1 after step 4 (0-based 3): every rank stopped there"
    ;;
  faults)
    expect_failure mismatch 30 'rank 1 has training step \(graph hash\)' -- "${mpi[@]}" -np 2 "$bin" mismatch "$work" 64
    expect_failure indivisible 30 'batch_size 63 .* must be divisible by 2' -- "${mpi[@]}" -np 2 "$bin" train "$work" 63
    expect_failure throw 30 'rank 1 of 2: .*a callback failed on purpose' -- "${mpi[@]}" -np 2 "$bin" throw "$work" 64
    expect_failure kill 30 'rank 1' -- "${mpi[@]}" -np 2 "$bin" kill "$work" 64
    ;;
  resume)
    run 2 resume "$work" 64
    cmp "$work/straight.bin" "$work/resumed.bin"
    echo "resumed at epoch 2 on 2 processes: bit-identical to the uninterrupted run"
    ;;
  mnist_example)
    run 2 >"$work/out.txt" 2>&1 || { cat "$work/out.txt"; exit 1; }
    tr '\r' '\n' <"$work/out.txt" | grep -E 'processes|Epoch 5/5|Test accuracy'
    # One display: rank 0 alone prints each epoch header and the result.
    [ "$(grep -c 'Epoch 1/5' "$work/out.txt")" -eq 1 ]
    [ "$(grep -c 'Test accuracy' "$work/out.txt")" -eq 1 ]
    ;;
  *)
    echo "unknown check $check" >&2
    exit 2
    ;;
esac
