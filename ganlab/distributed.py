"""Data-parallel training with ``torchrun``: the course's GAN trainers on N processes.

``torchrun --nproc_per_node N script.py`` starts N copies of a script (one per CPU
process group or per GPU) and tells each its ``RANK`` ``r``, ``LOCAL_RANK`` and the
``WORLD_SIZE`` ``W`` in environment variables. ``ganlab.train.fit`` notices them and
joins the process group itself (gloo on the CPU, NCCL on CUDA), so ``train_gan``,
``train_conditional_gan`` and ``train_wgan_gp`` run unchanged. The scheme is synchronous
data parallelism, arranged so that W processes compute what one process computes:

* every rank builds the same networks from the same seed and draws the same random
  numbers (the ranks run in lockstep, so one checkpoint's random state fits them all);
* a minibatch of ``m`` examples (``m`` is the whole minibatch, as in one process) is
  dealt out: rank ``r`` takes positions ``r, r + W, r + 2W, ...`` of it, ``m / W`` examples.
  Over an epoch that is rank ``r``'s shard ``order[r::W]`` of the epoch's permutation,
  what ``DistributedSampler`` gives; noise is drawn for all ``m`` and dealt the same way
  (:func:`shard`);
* each rank's loss is the mean over its ``m / W`` examples, and after ``backward``
  ``DistributedDataParallel`` replaces every gradient by the mean over ranks,

      g = (1/W) sum_r grad (1/(m/W)) sum_{i in shard r} l_i = grad (1/m) sum_{i=1..m} l_i,

  the one-process gradient (up to float rounding), so every rank takes the same
  optimiser step and the weights stay equal.

The equality holds when a network treats the examples of a batch independently. Batch
norm does not: on the CPU each rank normalises with the statistics of its own ``m / W``
examples (and rank 0's running statistics are broadcast to the others before every
forward pass, ``broadcast_buffers``); on CUDA :func:`data_parallel` converts it to
``SyncBatchNorm``, whose statistics are those of all ``m``. Augmentation and dropout
draw the same random numbers on every rank (lockstep), so example ``i`` of each rank's
share gets the same transformation: still random per example within a rank.

The GAN pitfall: D's step runs D through its DDP wrapper (D's gradients are averaged),
G's step runs G through *its* wrapper but D as the bare module, so the G step averages
G's gradients only and D's gradients from it (which nobody uses) are not synchronised.
Logging, the progress bar, ``on_epoch_end`` and checkpoint files are rank 0's; every
rank resumes from the same checkpoint file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def launched() -> bool:
    """True when this process was started by torchrun (or alike) as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init() -> None:
    """Join torchrun's process group once (gloo on the CPU, NCCL when CUDA is there); else nothing.

    On CUDA each rank takes the GPU of its ``LOCAL_RANK``.
    """
    if not launched() or dist.is_initialized():
        return
    if not dist.is_available():
        raise RuntimeError("this PyTorch was built without torch.distributed; run in one process")
    missing = [key for key in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT") if key not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} not set: "
                           "start the script with torchrun --nproc_per_node N")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")


def world_size() -> int:
    """``W``, the number of processes (1 outside torchrun)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """``r``, this process's rank (0 outside torchrun)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """True on rank 0, the process that logs and writes files."""
    return rank() == 0


def shard(batch: torch.Tensor) -> torch.Tensor:
    """This rank's share of a whole minibatch: rows ``r, r + W, r + 2W, ...`` (all rows in one process)."""
    W = world_size()
    if W == 1:
        return batch
    if len(batch) % W:
        raise ValueError(f"a minibatch of {len(batch)} cannot be dealt evenly to {W} processes; "
                         f"use a minibatch size divisible by {W}")
    return batch[rank()::W]


def data_parallel(module: nn.Module) -> nn.Module:
    """``module`` wrapped in ``DistributedDataParallel`` under torchrun; ``module`` itself otherwise.

    The wrapper shares ``module``'s parameters: call the wrapper where the gradients must
    be averaged over ranks, the bare module where they need not be. On CUDA batch norm
    becomes ``SyncBatchNorm`` (in place: the same parameters and buffers). Joins the
    process group first if need be (:func:`init`).
    """
    init()
    if world_size() == 1:
        return module
    if torch.cuda.is_available():
        nn.SyncBatchNorm.convert_sync_batchnorm(module)  # replaces module's batch-norm children
        return DistributedDataParallel(module, device_ids=[torch.cuda.current_device()])
    return DistributedDataParallel(module)


def mean_over_ranks(values: Mapping[str, float]) -> dict[str, float]:
    """Each recorded value averaged over ranks (the whole minibatch's mean when every share is equal)."""
    if world_size() == 1 or not values:
        return dict(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return dict(zip(values, (tensor / world_size()).tolist(), strict=True))


def check_in_sync(state: Mapping[str, object]) -> None:
    """Raise if the ranks' models have drifted apart (a step that bypassed :func:`data_parallel`).

    Compares one float64 checksum per model, ``sum of all its parameters``, across ranks.
    """
    if world_size() == 1:
        return
    models = {name: obj for name, obj in state.items() if isinstance(obj, nn.Module)}
    sums = torch.tensor([sum(p.detach().double().sum().item() for p in m.parameters())
                         for m in models.values()], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        sums = sums.cuda()
    low, high = sums.clone(), sums.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    drifted = [name for name, a, b in zip(models, low.tolist(), high.tolist(), strict=True) if a != b]
    if drifted:
        raise RuntimeError(f"the processes' copies of {', '.join(drifted)} differ: the training step "
                           "updated them without averaging gradients over ranks (call the model through "
                           "ganlab.distributed.data_parallel)")


def require_one_process(what: str) -> None:
    """Refuse, with the reason, a trainer that does not support torchrun."""
    if launched():
        raise RuntimeError(f"{what} runs in one process only; under torchrun use train_gan, "
                           "train_conditional_gan or train_wgan_gp (ganlab.distributed)")
