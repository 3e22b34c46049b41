"""Runtime switches shared by every notebook: fast mode, device choice and seeding.

Every notebook starts with the same three lines::

    from ganlab import runtime
    FAST = runtime.fast_mode()          # GANLAB_FAST=1 -> seconds, for tests and CI
    device = runtime.pick_device()      # CUDA, then Apple MPS, then CPU
    runtime.seed_everything(0)

and then picks its sizes with ``runtime.choose(default, fast)``.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

FAST_ENV = "GANLAB_FAST"


def fast_mode() -> bool:
    """True when the environment variable ``GANLAB_FAST`` is set to 1/true/yes/on.

    Fast mode shrinks every notebook (subset sizes, epochs) so that it executes in
    seconds; it exists for tests and CI. The default mode is what a student runs.
    """
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{FAST_ENV} must be 1/true/yes/on or 0/false/no/off, got {value!r}")


def choose(default, fast):
    """Return ``fast`` in fast mode and ``default`` otherwise (e.g. ``choose(20, 1)`` epochs)."""
    return fast if fast_mode() else default


def pick_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` forces one ("cpu", "cuda", "mps"); asking for one that is not available
    raises a ValueError naming the ones that are. The environment variable
    ``GANLAB_DEVICE`` does the same without editing a notebook. Under torchrun, CUDA
    means the GPU of this process's ``LOCAL_RANK``.
    """
    available = ["cpu"]
    if torch.cuda.is_available():
        available.insert(0, "cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        available.insert(0 if "cuda" not in available else 1, "mps")
    prefer = prefer or os.environ.get("GANLAB_DEVICE") or None
    if prefer is not None and prefer.split(":")[0] not in available:
        raise ValueError(f"device {prefer!r} is not available here; available: {available}")
    device = torch.device(prefer or available[0])
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # torchrun: one GPU per process
    return device


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU) with ``seed``.

    On the CPU the same seed gives the same numbers run after run; GPU kernels may still
    be non-deterministic. Code that wants a stream of its own, untouched by the global
    one (data shuffling, fixed noise), makes a ``torch.Generator().manual_seed(...)``.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict:
    """Every global random state that training touches, for checkpoints."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """True when ``a`` and ``b`` have the same state-dict entries, bit for bit.

    The lessons use it to check that the code written out in a cell *is* the package's:
    same layers, same seed, same data, and every parameter and buffer ends up identical
    (``torch.equal``, no tolerance).
    """
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[key].shape == sb[key].shape and torch.equal(sa[key].cpu(), sb[key].cpu()) for key in sa)
