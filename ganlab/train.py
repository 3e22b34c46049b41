"""One small training loop for every unit of the course.

``fit`` owns what every training run needs and nothing else:

* shuffled minibatches of an in-memory dataset, from its own seeded generator;
* a ``tqdm.auto`` progress bar (a widget in JupyterLab, text in a terminal);
* a per-step :class:`History` for plots;
* checkpoints at the end of every epoch, written atomically, and resumption from them:
  a run interrupted (Ctrl-C, a crash, a closed laptop) and started again with the same
  arguments continues from the last finished epoch and ends with *exactly* the same
  weights as an uninterrupted run on the CPU, because the checkpoint stores the
  models, the optimisers, the history and every random state;
* a clear stop, :class:`TrainingDiverged`, as soon as a reported value is NaN or inf;
* under ``torchrun``, data parallelism (``ganlab.distributed``): each of the ``W``
  processes gets rows ``r, r + W, ...`` of every minibatch, the recorded values are
  averaged over processes, and only rank 0 shows progress and writes checkpoints.

What one optimisation step *does* is the caller's business: ``step(batch)`` receives a
tuple of tensors on the device, updates whatever it wants and returns a dict of
numbers to record (e.g. ``{"loss": loss}``). The autoencoders of Unit 01 use
:func:`reconstruction_step`; the GANs of later units pass their own step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset
from tqdm.auto import tqdm

from ganlab import checkpoint as ckpt
from ganlab import distributed, runtime


class TrainingDiverged(RuntimeError):
    """A loss (or another recorded value) became NaN or infinite."""


class History:
    """Per-step records of a training run: ``history["loss"]`` is a NumPy array.

    Every record holds ``epoch`` (0-based), ``step`` (global, 0-based) and the values the
    step function returned.
    """

    def __init__(self, records: list[dict] | None = None):
        self.records: list[dict] = list(records or [])

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> np.ndarray:
        if self.records and key not in self.records[-1]:
            raise KeyError(f"no series {key!r} in this history; it has {self.keys()}")
        return np.array([r[key] for r in self.records if key in r], dtype=float)

    def keys(self) -> list[str]:
        return [k for k in (self.records[-1] if self.records else {}) if k not in ("epoch", "step")]

    def epoch_mean(self, key: str) -> np.ndarray:
        """Mean of ``key`` over each epoch's steps: one number per epoch."""
        epochs = self["epoch"].astype(int)
        values = self[key]
        return np.array([values[epochs == e].mean() for e in np.unique(epochs)])

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k not in ("epoch", "step"))
        return f"History({len(self)} steps; last: {shown})"


Stateful = nn.Module | torch.optim.Optimizer | torch.optim.lr_scheduler.LRScheduler  # or alike


def fit(
    step: Callable[[tuple], Mapping[str, float | torch.Tensor]],
    data: TensorDataset,
    *,
    epochs: int,
    batch_size: int,
    state: Mapping[str, Stateful],
    seed: int = 0,
    device: torch.device | str = "cpu",
    checkpoint: str | os.PathLike | None = None,
    drop_last: bool = False,
    progress: bool = True,
    desc: str | None = None,
    on_epoch_end: Callable[[int, History], None] | None = None,
) -> History:
    """Run ``epochs`` epochs of ``step`` over shuffled minibatches of ``data``.

    ``state`` names everything whose state must survive an interruption: the models,
    their optimisers and schedulers (``{"model": model, "opt": opt}``), or any object
    with ``state_dict()`` and ``load_state_dict()`` (e.g. the GAN trainer's snapshots). With
    ``checkpoint`` set, a checkpoint is written there after every epoch; if the file
    already exists, training resumes from it (and returns at once if it had already
    finished). Models are put in train mode before each epoch.

    ``on_epoch_end(epoch, history)`` is called after every epoch (e.g. to save a grid of
    samples); it must not consume random numbers if you want exact resumption.

    Under ``torchrun`` (``ganlab.distributed``) ``batch_size`` is still the whole
    minibatch: each of the ``W`` processes gets ``batch_size / W`` of its examples (rows
    ``r, r + W, ...``), so the step must average its gradients over processes (through
    ``distributed.data_parallel``), and the last incomplete minibatch is dropped. The
    history holds the values averaged over processes; rank 0 alone shows the progress
    bar and writes the checkpoint, which every rank resumes from. After every epoch
    the processes' models are compared and a drift is an error.
    """
    distributed.init()
    W = distributed.world_size()
    if not isinstance(data, TensorDataset):
        raise ValueError(f"data must be a torch.utils.data.TensorDataset, got {type(data).__name__}")
    n = len(data)
    if epochs < 0 or batch_size < 1 or n == 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1 and a non-empty dataset; got "
                         f"epochs={epochs}, batch_size={batch_size}, {n} examples")
    if batch_size % W:
        raise ValueError(f"batch_size={batch_size} must be divisible by the {W} processes, "
                         f"each of which takes batch_size / {W} of every minibatch")
    drop_last = drop_last or W > 1
    batches_per_epoch = n // batch_size if drop_last else math.ceil(n / batch_size)
    if batches_per_epoch == 0:
        raise ValueError(f"batch_size={batch_size} with drop_last=True leaves no batch of "
                         f"the {n} examples")
    run = {"n": n, "batch_size": batch_size, "seed": seed, "drop_last": drop_last}

    history = History()
    shuffle = torch.Generator().manual_seed(seed)
    start_epoch = 0
    if checkpoint is not None and os.path.exists(checkpoint):
        start_epoch = _resume(checkpoint, run, state, history, shuffle)
    else:
        runtime.seed_everything(seed)

    bar = tqdm(total=(epochs - min(start_epoch, epochs)) * batches_per_epoch, desc=desc,
               disable=not progress or not distributed.is_main(), leave=True)
    global_step = start_epoch * batches_per_epoch
    for epoch in range(start_epoch, epochs):
        for module in state.values():
            if isinstance(module, nn.Module):
                module.train()
        order = torch.randperm(n, generator=shuffle)
        for b in range(batches_per_epoch):
            idx = distributed.shard(order[b * batch_size:(b + 1) * batch_size])
            batch = tuple(t[idx].to(device) for t in data.tensors)
            values = distributed.mean_over_ranks({k: float(v) for k, v in step(batch).items()})
            _check_finite(values, epoch, global_step, history, state, checkpoint)
            history.records.append({"epoch": epoch, "step": global_step, **values})
            global_step += 1
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
        distributed.check_in_sync(state)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if checkpoint is not None and distributed.is_main():
            ckpt.save({
                "epochs_done": epoch + 1,
                "run": run,
                "state": {name: obj.state_dict() for name, obj in state.items()},
                "history": history.records,
                "rng": runtime.rng_state(),
                "shuffle_rng": shuffle.get_state(),
            }, checkpoint)
    bar.close()
    for module in state.values():
        if isinstance(module, nn.Module):
            module.eval()
    return history


def _resume(path, run: dict, state: Mapping[str, Stateful], history: History,
            shuffle: torch.Generator) -> int:
    saved = ckpt.load(path)
    if saved["run"] != run or set(saved["state"]) != set(state):
        raise ValueError(
            f"checkpoint {path} belongs to a different run (saved {saved['run']} with "
            f"{sorted(saved['state'])}, now {run} with {sorted(state)}); delete it or pass "
            "another checkpoint path to start afresh")
    for name, obj in state.items():
        obj.load_state_dict(saved["state"][name])
    history.records.extend(saved["history"])
    runtime.set_rng_state(saved["rng"])
    shuffle.set_state(saved["shuffle_rng"])
    return saved["epochs_done"]


def _check_finite(values: dict, epoch: int, step: int, history: History,
                  state: Mapping[str, Stateful], checkpoint) -> None:
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if not bad:
        return
    lines = [f"training stopped at epoch {epoch}, step {step}: "
             + ", ".join(f"{k} = {v}" for k, v in bad.items())]
    for key in bad:
        previous = [r[key] for r in history.records[-5:] if key in r]
        if previous:
            lines.append(f"  last finite values of {key}: " + ", ".join(f"{v:.4g}" for v in previous))
    broken = [f"{name}.{p}" for name, obj in state.items() if isinstance(obj, nn.Module)
              for p, t in obj.named_parameters() if not torch.isfinite(t).all()]
    if broken:
        lines.append(f"  non-finite parameters: {', '.join(broken[:5])}"
                     + (f" and {len(broken) - 5} more" if len(broken) > 5 else ""))
    else:
        lines.append("  all parameters are still finite (the loss itself overflowed: "
                     "e.g. log(0) or exp of a large number)")
    lines.append("  usual causes: a learning rate too large, inputs outside the expected "
                 "range, log of a probability that reached 0 (use logits and "
                 "log-sigmoid / BCE-with-logits)")
    if checkpoint is not None and os.path.exists(checkpoint):
        lines.append(f"  the last good checkpoint is kept at {checkpoint}")
    raise TrainingDiverged("\n".join(lines))


# --- reconstruction training (Unit 01 autoencoders) ---------------------------------------

def reconstruction_step(model: nn.Module, optimizer: torch.optim.Optimizer, *,
                        noise_std: float = 0.0, contractive_weight: float = 0.0):
    """Return a ``step`` for :func:`fit` that trains an autoencoder by reconstruction.

    One step on a batch ``x`` (images in [-1, 1]):

    * denoising (``noise_std > 0``): the encoder sees ``x~ = clip(x + noise_std * eps)``,
      ``eps ~ N(0, I)``, and the decoder must give back the *clean* ``x``;
    * loss ``L = mean ||x - g_phi(f_theta(x~))||^2 / D`` (per-pixel mean squared error);
    * contractive (``contractive_weight = lambda > 0``): ``L + lambda * ||J_f(x)||_F^2``,
      the squared Frobenius norm of the encoder's Jacobian (``ganlab.losses``).
    """
    from ganlab.losses import contractive_penalty
    from ganlab.models.autoencoders import add_noise

    def step(batch):
        x = batch[0]
        x_in = add_noise(x, noise_std) if noise_std > 0 else x
        if contractive_weight > 0:
            x_in = x_in.detach().requires_grad_(True)
            z = model.encode(x_in)
            penalty = contractive_penalty(z, x_in)
            x_hat = model.decode(z)
        else:
            x_hat = model(x_in)
        mse = torch.mean((x_hat - x) ** 2)
        loss = mse + contractive_weight * penalty if contractive_weight > 0 else mse
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        out = {"loss": loss.detach(), "mse": mse.detach()}
        if contractive_weight > 0:
            out["jacobian_fro2"] = penalty.detach()
        return out

    return step


def train_autoencoder(model: nn.Module, data: TensorDataset, *, epochs: int,
                      batch_size: int = 128, lr: float = 1e-3, noise_std: float = 0.0,
                      contractive_weight: float = 0.0, seed: int = 0, device="cpu",
                      checkpoint=None, progress: bool = True, desc: str | None = None) -> History:
    """Train ``model`` (an autoencoder from ``ganlab.models``) with Adam by reconstruction."""
    distributed.require_one_process("train_autoencoder")
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    step = reconstruction_step(model, optimizer, noise_std=noise_std,
                               contractive_weight=contractive_weight)
    return fit(step, data, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
               state={"model": model, "optimizer": optimizer}, checkpoint=checkpoint,
               progress=progress, desc=desc)


# --- ELBO training (Unit 02 VAE) ----------------------------------------------------------

def vae_step(model: nn.Module, optimizer: torch.optim.Optimizer, beta: float = 1.0):
    """Return a ``step`` for :func:`fit` that maximises the ELBO of a ``ganlab.models.VAE``.

    Loss on a batch: ``-(1/m) sum_i [ log p(x_i | z_i) - beta * KL(q(z|x_i) || p(z)) ]``,
    with one reparameterised ``z_i ~ q(z|x_i)`` each; ``beta = 1`` is the ELBO (in nats
    per image). Records the batch means of ``elbo``, ``log_likelihood`` and ``kl``.
    """

    def step(batch):
        terms = model.elbo(batch[0])
        loss = -(terms["log_likelihood"] - beta * terms["kl"]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach(), **{k: v.detach().mean() for k, v in terms.items()}}

    return step


def train_vae(model: nn.Module, data: TensorDataset, *, epochs: int, batch_size: int = 128,
              lr: float = 1e-3, beta: float = 1.0, seed: int = 0, device="cpu",
              checkpoint=None, progress: bool = True, desc: str | None = None) -> History:
    """Train a ``ganlab.models.VAE`` with Adam on the negative ELBO (see :func:`vae_step`)."""
    distributed.require_one_process("train_vae")
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    return fit(vae_step(model, optimizer, beta), data, epochs=epochs, batch_size=batch_size,
               seed=seed, device=device, state={"model": model, "optimizer": optimizer},
               checkpoint=checkpoint, progress=progress, desc=desc)
