#!/usr/bin/env python3
"""PyTorch baseline for Kiln's benchmark: the seed models of benchmarks/kiln_bench.cc
trained with Keras-3-equivalent settings, printed like Google Benchmark's console lines
(name, time, unit, CPU time, unit, iterations) so scripts/bench can pair them with
Kiln's. Needs torch and the standard library only (numpy may be absent)."""
import argparse
import ctypes
import gzip
import os
import re
import statistics
import struct
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--threads", type=int, default=1,
                help="intra-op threads (default 1: faster than 2 on a 2-vCPU host)")
ap.add_argument("--no-epoch", action="store_true", help="skip the MNIST epoch benchmark")
ap.add_argument("--filter", default="", help="regex on benchmark names")
ap.add_argument("--seconds", type=float, default=1.5, help="timed seconds per step benchmark")
ap.add_argument("--default-malloc", action="store_true", help="leave glibc malloc untuned")
args = ap.parse_args()
if not args.default_malloc:
    # glibc gives large freed blocks back to the kernel (munmap, heap trimming), so every
    # step's big temporaries (gradients, Adam's intermediates) page-fault anew: up to half
    # the step time. Keep them in the heap, as jemalloc/tcmalloc (PyTorch's CPU tuning
    # guide) would. Must happen before torch allocates anything.
    libc = ctypes.CDLL(None)
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD (32 MiB is its 64-bit maximum)
    libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
# Debian's torch does its GEMMs in OpenBLAS, whose thread pool torch.set_num_threads does
# not size; OpenBLAS reads this variable when it is loaded, so set it before the import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))
import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(args.threads)


def mlp(*widths):
    """Flatten, then Dense layers with ReLU between them; the last one gives logits. The
    softmax of Kiln's "softmax" outputs is folded into CrossEntropyLoss, which is also
    what Keras computes for softmax + sparse_categorical_crossentropy."""
    layers = [nn.Flatten()]
    for n_in, n_out in zip(widths, widths[1:]):
        linear = nn.Linear(n_in, n_out)
        # Keras' initialisers (glorot_uniform, zero bias): the weights' trajectory decides
        # when denormals appear, to which the epoch benchmark is sensitive.
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


# Keras 3 defaults. Keras' RMSprop divides by sqrt(v + eps), torch's by sqrt(v) + eps: the
# same work per step, so for timing it does not matter.
def sgd(p): return torch.optim.SGD(p, lr=0.01)
def adam(p): return torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
def rmsprop(p): return torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7)


# name -> (layer widths, optimizer, batch size), as in Seeds() of kiln_bench.cc.
SEEDS = {"seed000": ((784, 128, 128, 10), sgd, 32), "seed001": ((784, 128, 10), adam, 32),
         "seed003": ((784, 512, 10), rmsprop, 128), "seed004_ex8": ((784, 512, 10), adam, 32)}


def make_step(seed):
    """A fresh model and its training step: gradients, update and accuracy, like Kiln's."""
    torch.manual_seed(1)
    widths, optimizer, _ = SEEDS[seed]
    model = mlp(*widths)
    opt, loss_fn = optimizer(model.parameters()), nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        logits = model(x)
        loss_fn(logits, y).backward()
        opt.step()
        return (logits.argmax(1) == y).sum()  # correct predictions, for the accuracy metric
    return step


def report(name, wall, cpu, unit, iterations):
    scale = {"us": 1e6, "ms": 1e3}[unit]
    print(f"{name:<44}{wall * scale:>10.0f} {unit}{cpu * scale:>12.0f} {unit}{iterations:>13}",
          flush=True)


def bench_step(seed):
    batch = SEEDS[seed][2]
    step = make_step(seed)
    x, y = torch.rand(batch, 28, 28), torch.randint(0, 10, (batch,))
    t0 = time.perf_counter()
    for _ in range(50):  # warm-up: allocator, optimizer state, OpenBLAS buffers
        step(x, y)
    n = max(10, int(args.seconds / 3 / ((time.perf_counter() - t0) / 50)))  # 3 repetitions
    walls, cpus = [], []
    for _ in range(3):
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            step(x, y)
        walls.append((time.perf_counter() - w0) / n)
        cpus.append((time.process_time() - c0) / n)
    report(f"TrainStep/{seed}/pytorch", statistics.median(walls), statistics.median(cpus), "us", n)


def read_idx(directory, name):
    """An IDX file of unsigned bytes, raw or .gz as Kiln accepts, as a uint8 tensor."""
    path = os.path.join(directory, name)
    with (open(path, "rb") if os.path.exists(path) else gzip.open(path + ".gz")) as f:
        data = f.read()
    if data[:3] != b"\0\0\x08":
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    shape = struct.unpack(f">{data[3]}I", data[4:4 + 4 * data[3]])
    return torch.frombuffer(bytearray(data[4 + 4 * data[3]:]), dtype=torch.uint8).view(*shape)


def bench_epoch(x, y, ftz, epochs=3):
    """Times each epoch of a fit() of seed001; reports the first and the last. Denormals
    only show up after about two epochs, so flush-to-zero matters in the last one."""
    torch.set_flush_denormal(ftz)
    step, batch = make_step("seed001"), SEEDS["seed001"][2]
    times = []
    for _ in range(epochs):
        w0, c0 = time.perf_counter(), time.process_time()
        order = torch.randperm(len(x))  # Keras shuffles every epoch
        correct = torch.zeros((), dtype=torch.int64)  # Keras accumulates the accuracy
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            correct += step(x[idx], y[idx])
        times.append((time.perf_counter() - w0, time.process_time() - c0))
    torch.set_flush_denormal(False)
    kind = "pytorch_ftz" if ftz else "pytorch"
    report(f"FirstEpoch/seed001/{kind}/iterations:1", *times[0], "ms", 1)
    report(f"Epoch/seed001/{kind}/iterations:1", *times[-1], "ms", 1)


print(f"# PyTorch {torch.__version__}, {torch.get_num_threads()} thread(s), "
      f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
      f"{'default' if args.default_malloc else 'tuned'} glibc malloc", flush=True)
for seed in SEEDS:
    if re.search(args.filter, f"TrainStep/{seed}/pytorch"):
        bench_step(seed)
variants = [ftz for ftz in (False, True) if not args.no_epoch and
            re.search(args.filter, f"Epoch/seed001/pytorch{'_ftz' if ftz else ''}/iterations:1")]
if variants:
    mnist = os.path.join(os.environ.get("KILN_DATA") or os.path.expanduser("~/.kiln/datasets"),
                         "mnist")
    try:
        images = read_idx(mnist, "train-images-idx3-ubyte").float() / 255
        labels = read_idx(mnist, "train-labels-idx1-ubyte").long()
    except (OSError, ValueError) as e:
        print(f"torch_seed_models: no MNIST ({e}); skipping the epoch benchmark", file=sys.stderr)
    else:
        for ftz in variants:
            bench_epoch(images, labels, ftz)
