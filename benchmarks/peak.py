"""How close one GAN training step on the CPU comes to the machine's peak (issue 16).

    python benchmarks/peak.py                      # all sections (about 4 min on 2 quiet cores)
    python benchmarks/peak.py --only table         # (a) only
    python benchmarks/peak.py --only profile       # (b) and (c) only
    python benchmarks/peak.py --only identical     # (d) only
    python benchmarks/peak.py --repeats 1 --rounds 1 --matmul 256 --no-compile   # a smoke test

(a) For every DCGAN preset (``ganlab.models.dcgan.PRESETS``) and the MLP GAN of the final
    ``mlp-gan`` recipe step (its networks; the plain Algorithm-1 step, without the recipe's
    augmentation and EMA): the FLOPs of one training iteration at m = 64 (Algorithm 1 with
    k = 1: the D step is G's forward without gradients, D's forward on the real and the
    fake minibatch and the backward pass; the G step is G's and D's forward and the
    backward pass), counted by ``torch.utils.flop_counter.FlopCounterMode`` around the
    course's own ``ganlab.gan.discriminator_step`` / ``generator_step``, split into
    forward and backward; the time of one iteration (``ganlab.gan.seconds_per_iteration``:
    the median of ``--repeats`` iterations after one warm-up, taken in ``--rounds`` rounds
    with a network's variants in turn; the median and the fastest round); GFLOP/s =
    FLOPs / time; and that rate's share of a large fp32 matmul (2048x2048 @ 2048x2048, the
    median of several, measured once per round with the same thread count). cpu28 also runs in
    variants: ``channels_last`` models and inputs, 1 thread instead of 2, ``torch.compile``
    of G and D (the compile time is the warm-up iteration's; a failure is printed in the
    table), and Adam's ``foreach`` / ``fused`` implementations (timed by the same loop as
    ``seconds_per_iteration``, with the other optimizer). FlopCounterMode counts matmuls and
    convolutions only: batch norm, activations, the loss and Adam count as 0 FLOPs, so
    GFLOP/s here is "useful GEMM work per second".
(b) Where cpu28's time goes: ``torch.profiler`` over a few iterations, every op's self CPU
    time put in one bucket (convolution forward, transposed convolution forward, all
    convolution backward, G's output layer, batch norm, activations, layout copies, Adam,
    gradient norms, the rest), NCHW (default) and channels_last side by side (the fastest
    of 3 profiles each).
(c) Each cpu28 layer on its own (forward; backward with the weight and input gradients),
    its FLOPs and GFLOP/s, which shows which GEMM shapes cannot run at the matmul's rate,
    and its times in channels_last.
(d) Is channels_last bit-identical? One epoch of ``train_gan`` on ``mnist-5k`` from the
    same seed, NCHW twice and channels_last once; the largest weight difference and the
    last losses; and how far the first gradients and weights differ after one iteration.

What it found (2 cores of an AMD EPYC, Zen 4, shared with other jobs; torch 2.14.1, MKL
and oneDNN; the 2048 matmul itself varies between 63 and 180 GFLOP/s from second to
second there, hence the interleaved rounds and the "best" columns). One cpu28 iteration
is 5.49 GFLOP (2.45 forward, 3.03 backward), 3.3 of them in G's middle layer, the
128 -> 64 map 4x4 stride-2 transposed convolution from 7x7 to 14x14. It took 66.6 ms
(median; best round 52.8 ms), 60% of the matmul's median rate (59% best against best);
channels_last 58.4 ms (best 51.4), 69% (60%). paper64 runs at 93-99% of the matmul,
tutorial28 at 85%: the limit is cpu28's size, not the step. Where the ~60 ms go (NCHW):

* the two big layers, G's middle one and D's 32 -> 64 convolution, are 94% of the FLOPs
  and run at 160-210 GFLOP/s, as fast as the 2048 matmul or faster (oneDNN's AVX-512
  kernels; MKL's sgemm probably takes its AVX2 path on AMD): about 27 ms;
* the thin layers, 6% of the FLOPs, take about 17 ms: G's output layer (64 maps -> 1,
  a GEMM with one output column per tap) alone 8.6 ms per iteration (14%) at 4-9 GFLOP/s
  in NCHW, 5.4 ms in channels_last; D's input layer (K = 1 * 4 * 4 = 16) runs its
  backward at 16 GFLOP/s; D's last layer (64x7x7 -> one logit) is a matrix-vector product
  at 2-3 GFLOP/s; G's first (1x1 -> 7x7) at ~60 GFLOP/s;
* memory-bound work at 0 counted FLOPs, about 14 ms (23%): batch norm forward and
  backward 5.2 ms, activations 1.9, layout copies between NCHW and oneDNN's formats 1.4,
  Adam 2.3, gradient norms 0.3, autograd, zero_grad and Python 2.8.

70% of the best matmul would be 44 ms: the big layers cannot go much faster, so it needs
the thin layers and the memory-bound work down from ~31 ms to ~17 ms. channels_last gets
4-8 ms of it (G's output layer, batch norm, the copies; G's first layer gets slower);
the rest would take fusing batch norm and the activations into the convolutions, which
``torch.compile`` did not do here (slower, 69 ms, after 5 s of compiling). Against the
matmul's median rate, the way the issue measured, channels_last reaches 69%.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from collections import defaultdict
from functools import partial

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ganlab import recipes
from ganlab.gan import (
    discriminator_step,
    generator_step,
    make_optimizer,
    sample_noise,
    seconds_per_iteration,
)
from ganlab.models.dcgan import IMAGE_SIZE, PRESETS, DCGANDiscriminator, DCGANGenerator

M = 64


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def header(title: str) -> None:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"\n{title}\n  torch {torch.__version__}, {os.cpu_count()} CPUs ({cpu}), "
          f"{torch.get_num_threads()} threads, load average {load()}")


def networks(name: str) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """Fresh seeded (G, D) and a minibatch of m real-looking images in [-1, 1] for them."""
    torch.manual_seed(0)
    if name == "mlp-gan":
        G, D = recipes.build(recipes.final("mlp-gan"))
        size = 28
    else:
        G, D = DCGANGenerator(name), DCGANDiscriminator(name)
        size = IMAGE_SIZE[name]
    x = torch.rand(M, 1, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    return G, D, x


def channels_last(G: nn.Module, D: nn.Module, x: torch.Tensor):
    """Copies of the models and the minibatch in the channels_last memory format."""
    cl = torch.channels_last
    return (copy.deepcopy(G).to(memory_format=cl), copy.deepcopy(D).to(memory_format=cl),
            x.contiguous(memory_format=cl))


def matmul_gflops(n: int, repeats: int) -> float:
    """GFLOP/s of an fp32 ``n x n @ n x n`` matmul: the median of ``repeats`` after a warm-up."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def iteration_flops(G: nn.Module, D: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(forward, backward) FLOPs of one Algorithm-1 iteration (k = 1) of the course's steps.

    The whole iteration is counted around ``discriminator_step`` and ``generator_step``;
    the forward passes (the same ones, again, without backward) are counted on their own,
    and the backward is the difference. Models are copied, so nothing is trained.
    """
    G, D = copy.deepcopy(G).train(), copy.deepcopy(D).train()
    opt_d, opt_g = make_optimizer(D), make_optimizer(G)
    z_d, z_g = sample_noise(G, len(x)), sample_noise(G, len(x))
    with FlopCounterMode(display=False) as total:
        discriminator_step(G, D, opt_d, x, z_d)
        generator_step(G, D, opt_g, z_g)
    with FlopCounterMode(display=False) as forward:
        with torch.no_grad():
            D(x)
            D(G(z_d))
        D(G(z_g))
    return forward.get_total_flops(), total.get_total_flops() - forward.get_total_flops()


def seconds_with(G: nn.Module, D: nn.Module, x: torch.Tensor, repeats: int, optimizer) -> float:
    """``seconds_per_iteration``'s loop (copies, one warm-up, the median) with another optimizer."""
    G, D = copy.deepcopy(G).train(), copy.deepcopy(D).train()
    opt_d, opt_g = optimizer(D), optimizer(G)
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        discriminator_step(G, D, opt_d, x, sample_noise(G, len(x)))
        generator_step(G, D, opt_g, sample_noise(G, len(x)))
        if i > 0:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def adam(**kwargs):
    """``make_optimizer``'s Adam (lr 2e-4, betas (0.5, 0.999)) with other implementation flags."""
    return lambda module: torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999), **kwargs)


def timed(threads: int, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with ``threads`` intra-op threads; the thread count is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn(*args, **kwargs)
    finally:
        torch.set_num_threads(before)


def compiled(G: nn.Module, D: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """``seconds_per_iteration`` of ``torch.compile``'d G and D (the copies it makes stay compiled)."""
    return seconds_per_iteration(torch.compile(G), torch.compile(D), x, repeats=repeats)


def variants(name: str, G, D, x, threads: int, repeats: int, compile_: bool) -> list[tuple]:
    """(label, threads, function returning seconds per iteration) of each variant timed for ``name``."""
    cl = channels_last(G, D, x)
    rows = [("default", threads, partial(seconds_per_iteration, G, D, x, repeats=repeats))]
    if name == "mlp-gan":
        return rows + [("default", 1, partial(seconds_per_iteration, G, D, x, repeats=repeats))] * (threads != 1)
    rows.append(("channels_last", threads, partial(seconds_per_iteration, *cl, repeats=repeats)))
    if name != "cpu28":
        return rows
    if threads != 1:
        rows += [("default", 1, partial(seconds_per_iteration, G, D, x, repeats=repeats)),
                 ("channels_last", 1, partial(seconds_per_iteration, *cl, repeats=repeats))]
    rows += [("Adam foreach=True", threads, partial(seconds_with, G, D, x, repeats, adam(foreach=True))),
             ("Adam fused=True", threads, partial(seconds_with, G, D, x, repeats, adam(fused=True))),
             ("channels_last + fused Adam", threads, partial(seconds_with, *cl, repeats, adam(fused=True)))]
    if compile_:
        rows += [("torch.compile", threads, partial(compiled, G, D, x, repeats)),
                 ("torch.compile + ch_last", threads, partial(compiled, *cl, repeats))]
    return rows


def peak_table(repeats: int, rounds: int, matmul_n: int, matmul_repeats: int, compile_: bool) -> None:
    threads = torch.get_num_threads()
    counts = sorted({1, threads})
    header(f"(a) one Algorithm-1 iteration (k = 1, m = {M}) against a {matmul_n}x{matmul_n} fp32 matmul")
    print(f"  each variant: {rounds} rounds (variants of a network interleaved, round by round, so that all "
          f"see the same machine),\n  each round the median of {repeats} iterations after 1 warm-up; "
          "ms/iter = median of the rounds, best = fastest round;\n  the matmul likewise, once per round "
          "of each network; GFLOP/s and % matmul are of the best rounds (the least disturbed by other "
          "jobs),\n  against the best matmul at the same thread count; (median): the medians' share")
    matmuls = defaultdict(list)
    print(f"{'network':<11}{'variant':<27}{'thr':>3}{'fwd GF':>7}{'bwd GF':>7}{'GFLOP':>7}"
          f"{'ms/iter':>9}{'best':>8}{'GFLOP/s':>9}{'% matmul':>9}{'(median)':>9}  note")
    for name in (*PRESETS, "mlp-gan"):
        G, D, x = networks(name)
        fwd, bwd = iteration_flops(G, D, x)
        rows = variants(name, G, D, x, threads, repeats, compile_)
        times, notes = defaultdict(list), {}
        for r in range(rounds if name != "paper64" else max(1, rounds // 2)):
            for t in counts:
                matmuls[t].append(timed(t, matmul_gflops, matmul_n, matmul_repeats))
            for label, t, fn in rows:
                if (label, t) in notes and not times[label, t]:
                    continue  # it failed
                start = time.perf_counter()
                try:
                    seconds = timed(t, fn)
                except Exception as error:  # a failed variant is reported in the table
                    notes[label, t] = "FAILED: " + " ".join(f"{type(error).__name__}: {error}".split())[:110]
                    continue
                if r == 0 and "compile" in label:
                    notes[label, t] = f"compile (warm-up) {time.perf_counter() - start - repeats * seconds:.0f} s"
                times[label, t].append(seconds)
        for label, t, _ in rows:
            cells = f"{name:<11}{label:<27}{t:>3}{fwd / 1e9:>7.2f}{bwd / 1e9:>7.2f}{(fwd + bwd) / 1e9:>7.2f}"
            if not times[label, t]:
                print(f"{cells}{'-':>9}{'-':>8}{'-':>9}{'-':>9}{'-':>9}  {notes.get((label, t), '')}")
                continue
            best, median = min(times[label, t]), statistics.median(times[label, t])
            rate = (fwd + bwd) / best / 1e9
            share = 100 * (fwd + bwd) / median / 1e9 / statistics.median(matmuls[t])
            print(f"{cells}{median * 1e3:>9.1f}{best * 1e3:>8.1f}{rate:>9.1f}"
                  f"{100 * rate / max(matmuls[t]):>8.0f}%{share:>8.0f}%  {notes.get((label, t), '')}", flush=True)
    torch._dynamo.reset()
    print("  matmul: " + ", ".join(f"best {max(matmuls[t]):.1f} GFLOP/s on {t} thread{'s' * (t > 1)} "
                                   f"(median {statistics.median(matmuls[t]):.1f})" for t in counts)
          + f"; load average now {load()}")


# --- (b) the profile --------------------------------------------------------------------

CATEGORIES = {
    "conv forward (D)": ("aten::mkldnn_convolution",),
    "transposed conv forward (G, rest)": ("aten::_convolution",),
    "conv backward (G and D, rest)": ("aten::convolution_backward",),
    "batch norm fwd + bwd": ("aten::native_batch_norm", "aten::native_batch_norm_backward",
                             "aten::_batch_norm_impl_index", "aten::batch_norm"),
    "activations fwd + bwd": ("aten::leaky_relu", "aten::leaky_relu_backward", "aten::relu",
                              "aten::clamp_min", "aten::threshold_backward", "aten::tanh",
                              "aten::tanh_backward"),
    "layout copies": ("aten::copy_", "aten::clone", "aten::contiguous"),
}
OUTPUT_LAYER = "G's output layer 64->1, fwd + bwd"
OUTPUT_WEIGHT = [64, 1, 4, 4]  # cpu28's last ConvTranspose2d(64, 1, 4, 2, 1)
BUCKETS = [*CATEGORIES, "Adam step", "grad norms", "zero_grad + autograd + rest"]
BUCKETS.insert(3, OUTPUT_LAYER)


def bucket(event) -> str:
    """The bucket of one profiler event: by its ancestors first (Adam, grad_norm), else by its name."""
    parent = event
    while parent is not None:
        if parent.name.startswith("Optimizer.step"):
            return "Adam step"
        if parent.name in ("aten::linalg_vector_norm", "aten::stack", "aten::norm"):
            return "grad norms"
        parent = parent.cpu_parent
    shapes = getattr(event, "input_shapes", None) or []
    if (event.name == "aten::_convolution" and len(shapes) > 1 and shapes[1] == OUTPUT_WEIGHT) or (
            event.name == "aten::convolution_backward" and len(shapes) > 2 and shapes[2] == OUTPUT_WEIGHT):
        return OUTPUT_LAYER
    for name, ops in CATEGORIES.items():
        if event.name in ops:
            return name
    return "zero_grad + autograd + rest"


def profile_once(G, D, x, iterations: int) -> tuple[dict[str, float], float]:
    """Self CPU ms per bucket per iteration, and the wall ms per iteration, under the profiler."""
    from torch.profiler import ProfilerActivity, profile

    G, D = copy.deepcopy(G).train(), copy.deepcopy(D).train()
    opt_d, opt_g = make_optimizer(D), make_optimizer(G)

    def iteration():
        discriminator_step(G, D, opt_d, x, sample_noise(G, M))
        generator_step(G, D, opt_g, sample_noise(G, M))

    for _ in range(3):
        iteration()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        start = time.perf_counter()
        for _ in range(iterations):
            iteration()
        wall = time.perf_counter() - start
    totals = defaultdict(float)
    for event in prof.events():
        totals[bucket(event)] += event.self_cpu_time_total / 1e3 / iterations
    return totals, wall * 1e3 / iterations


def profile_table(iterations: int) -> None:
    header(f"(b) cpu28, where one iteration's time goes (torch.profiler, self CPU time per iteration, "
           f"mean of {iterations};\n    the fastest of 3 profiles of each, taken in turn)")
    G, D, x = networks("cpu28")
    models = {"NCHW (default)": (G, D, x), "channels_last": channels_last(G, D, x)}
    tries = [{name: profile_once(*m, iterations) for name, m in models.items()} for _ in range(3)]
    columns = {name: min((t[name] for t in tries), key=lambda r: r[1]) for name in models}
    print(f"{'bucket':<36}" + "".join(f"{c:>24}" for c in columns))
    for name in BUCKETS:
        print(f"{name:<36}" + "".join(f"{t[name]:>15.1f} ms {100 * t[name] / sum(t.values()):>4.0f}%"
                                      for t, _ in columns.values()))
    print(f"{'sum of self times':<36}" + "".join(f"{sum(t.values()):>15.1f} ms{'':>6}" for t, _ in columns.values()))
    print(f"{'wall time (profiled)':<36}" + "".join(f"{w:>15.1f} ms{'':>6}" for _, w in columns.values()))
    print("  (the profiler adds a little to every op; ops run on the main thread, each using the "
          "intra-op threads, so self times add up to about the wall time)")


# --- (c) layer by layer -------------------------------------------------------------------

def layer_inputs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, nn.Module, torch.Tensor]]:
    """(name, leaf module, its input) for every leaf module of a plain Sequential, in order."""
    found = []
    hooks = [module.register_forward_pre_hook(lambda mod, args, name=name: found.append((name, mod, args[0])))
             for name, module in model.named_modules() if not list(module.children())]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return found


def time_best(fns: list, repeats: int) -> list[float]:
    """The fastest of ``repeats`` calls of each of ``fns``, called in turn (so all see the same machine)."""
    times = [[] for _ in fns]
    for r in range(repeats + 1):
        for fn, out in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            if r > 0:
                out.append(time.perf_counter() - start)
    return [min(t) for t in times]


def layer_table(repeats: int, matmul_n: int, matmul_repeats: int) -> None:
    matmul = max(matmul_gflops(matmul_n, matmul_repeats) for _ in range(3))
    header(f"(c) cpu28 layer by layer at m = {M}, NCHW and channels_last in turn (the fastest of {repeats} "
           f"each;\n    backward = weight and input gradients, except for G's first layer; % mm: forward "
           f"and backward\n    together against a {matmul_n} matmul at {matmul:.0f} GFLOP/s, the best of "
           "several)")
    print(f"{'layer':<34}{'output':>9}{'fwd MF':>8}{'fwd ms':>8}{'GF/s':>6}{'bwd MF':>8}{'bwd ms':>8}"
          f"{'GF/s':>6}{'% mm':>6}{'ch_last fwd':>13}{'bwd ms':>8}")
    G, D, x = networks("cpu28")
    with torch.no_grad():
        fake = G(sample_noise(G, M))
    for prefix, model, inp in (("G", G, sample_noise(G, M)), ("D", D, fake)):
        model.train()
        for i, (name, module, h) in enumerate(layer_inputs(model, inp)):
            if isinstance(module, (nn.Unflatten, nn.Flatten)):
                continue
            h = h.detach().clone().requires_grad_(not (prefix == "G" and i <= 1))
            with FlopCounterMode(display=False) as fwd_count:
                out = module(h)
            grad = torch.randn_like(out)
            with FlopCounterMode(display=False) as bwd_count:
                out.backward(grad)
            cl = torch.channels_last if h.dim() == 4 else torch.contiguous_format
            module_cl = copy.deepcopy(module).to(memory_format=cl)
            h_cl = h.detach().contiguous(memory_format=cl).requires_grad_(h.requires_grad)
            grad_cl = grad.contiguous(memory_format=cl if grad.dim() == 4 else torch.contiguous_format)

            def forward(module, h):
                return lambda: module(h)

            def backward(module, h, grad):
                def run():
                    module.zero_grad(set_to_none=True)
                    h.grad = None
                    module(h).backward(grad)
                return run

            t_fwd, t_all, t_fwd_cl, t_all_cl = time_best(
                [forward(module, h), backward(module, h, grad),
                 forward(module_cl, h_cl), backward(module_cl, h_cl, grad_cl)], repeats)
            t_bwd, t_bwd_cl = max(t_all - t_fwd, 1e-9), max(t_all_cl - t_fwd_cl, 1e-9)
            f_fwd, f_bwd = fwd_count.get_total_flops(), bwd_count.get_total_flops()
            label = f"{prefix}.{name} {type(module).__name__}"
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                label += f" {module.in_channels}->{module.out_channels} k{module.kernel_size[0]}"
            rates = [f / t / 1e9 for f, t in ((f_fwd, t_fwd), (f_bwd, t_bwd))]
            both = (f_fwd + f_bwd) / (t_fwd + t_bwd) / 1e9
            print(f"{label:<34}{'x'.join(map(str, out.shape[1:])):>9}{f_fwd / 1e6:>8.1f}{t_fwd * 1e3:>8.2f}"
                  f"{rates[0]:>6.0f}{f_bwd / 1e6:>8.1f}{t_bwd * 1e3:>8.2f}{rates[1]:>6.0f}"
                  f"{100 * both / matmul:>5.0f}%{t_fwd_cl * 1e3:>13.2f}{t_bwd_cl * 1e3:>8.2f}", flush=True)


# --- (d) bit-identical? ---------------------------------------------------------------------

def identical(epochs: int) -> None:
    from ganlab.data import load_images
    from ganlab.gan import train_gan

    header(f"(d) is channels_last bit-identical? {epochs} epoch(s) of train_gan on mnist-5k, seed 0")
    data = load_images("mnist-5k", "train")
    runs = {}
    for label in ("NCHW", "NCHW again", "channels_last"):
        torch.manual_seed(0)
        G, D = DCGANGenerator("cpu28"), DCGANDiscriminator("cpu28")
        if label == "channels_last":
            G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        start = time.perf_counter()
        run = train_gan(G, D, data, epochs=epochs, seed=0, progress=False)
        seconds = time.perf_counter() - start
        weights = torch.cat([p.detach().flatten() for p in [*G.parameters(), *D.parameters()]])
        runs[label] = (weights, run.history, seconds)
    base = runs["NCHW"][0]
    print(f"{'run':<16}{'s/epoch':>9}{'max |dw| vs NCHW':>18}{'identical':>11}{'last d_loss':>14}{'last g_loss':>14}")
    for label, (weights, history, seconds) in runs.items():
        last = {key: float(history[key][-1]) for key in ("d_loss", "g_loss")}
        diff = (weights - base).abs().max().item()
        print(f"{label:<16}{seconds / epochs:>9.2f}{diff:>18.3g}{str(torch.equal(weights, base)):>11}"
              f"{last['d_loss']:>14.8f}{last['g_loss']:>14.8f}")
    G, D, x = networks("cpu28")
    after, grads = [], []
    for models in ((G, D, x), channels_last(G, D, x)):
        g, d, xb = copy.deepcopy(models[0]), copy.deepcopy(models[1]), models[2]
        torch.manual_seed(0)
        discriminator_step(g, d, make_optimizer(d), xb, sample_noise(g, M))
        grad_d = torch.cat([p.grad.flatten() for p in d.parameters()])
        generator_step(g, d, make_optimizer(g), sample_noise(g, M))
        grads.append(grad_d)
        after.append(torch.cat([p.detach().flatten() for p in [*g.parameters(), *d.parameters()]]))
    print(f"one iteration from the same weights and noise: D's first gradients differ by at most "
          f"{(grads[0] - grads[1]).abs().max().item():.2g} (largest {grads[0].abs().max().item():.2g}: rounding); "
          f"the weights after it by {(after[0] - after[1]).abs().max().item():.2g},\n  i.e. up to 2 x lr: "
          f"Adam's first step is about lr * sign(g), and rounding flips the sign of gradients near 0; "
          f"identical: {torch.equal(*after)}")
    print("  (channels_last models; train_gan's minibatches stay NCHW, as they come from the data set;\n"
          "   for 1-channel images the two formats have the same strides)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["table", "profile", "identical"])
    parser.add_argument("--repeats", type=int, default=5, help="timed iterations per round of (a)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per variant of (a)")
    parser.add_argument("--matmul", type=int, default=2048, help="size n of the n x n reference matmul")
    parser.add_argument("--matmul-repeats", type=int, default=7)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    parser.add_argument("--profile-iterations", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1, help="training epochs for (d)")
    args = parser.parse_args()
    if args.only in (None, "table"):
        peak_table(args.repeats, args.rounds, args.matmul, args.matmul_repeats, not args.no_compile)
    if args.only in (None, "profile"):
        profile_table(args.profile_iterations)
        layer_table(max(10, 2 * args.repeats), args.matmul, args.matmul_repeats)
    if args.only in (None, "identical"):
        identical(args.epochs)
    print(f"\nload average at the end: {load()}")


if __name__ == "__main__":
    main()
