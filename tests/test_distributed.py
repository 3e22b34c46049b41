"""Data parallelism under torchrun (ganlab.distributed): 2 CPU processes (gloo) against 1.

Each test starts real processes with ``python -m torch.distributed.run --standalone``
(torchrun) on a small script written into ``tmp_path``; the models are tiny MLPs on
scikit-learn's 8x8 digits, so a launch takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from ganlab import distributed
from ganlab.data import load_images
from ganlab.train import fit

WORKER = r'''
import sys
import torch
from torch.utils.data import TensorDataset
from ganlab import distributed
from ganlab.conditional import ConditionalGenerator, ACGANDiscriminator, train_conditional_gan
from ganlab.data import load_images
from ganlab.gan import train_gan
from ganlab.models.gan import MLPDiscriminator, MLPGenerator
from ganlab.runtime import seed_everything
from ganlab.train import fit, train_vae
from ganlab.wgan import train_wgan_gp

out, trainer, epochs, checkpoint = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
checkpoint = None if checkpoint == "-" else checkpoint
data = load_images("digits", "train")
seed_everything(0)
G, D = MLPGenerator(8, (32,), (1, 8, 8)), MLPDiscriminator((1, 8, 8), (32,))
models = {"G": G, "D": D}
if trainer == "gan":
    run = train_gan(G, D, data, epochs=epochs, m=32, k=2, ema_decay=0.99, progress=False,
                    checkpoint=checkpoint)
    models["G_ema"] = run.G_ema
elif trainer == "gan-r1":
    run = train_gan(G, D, data, epochs=epochs, m=32, r1_gamma=1.0, progress=False,
                    checkpoint=checkpoint)
elif trainer == "wgan":
    run = train_wgan_gp(G, D, data, epochs=epochs, m=32, n_critic=2, progress=False,
                        checkpoint=checkpoint)
elif trainer == "acgan":
    digits = load_images("mnist-5k", "train")
    small = TensorDataset(*(t[:128] for t in digits.tensors))
    G, D = ConditionalGenerator(), ACGANDiscriminator()
    models = {"G": G, "D": D}
    run = train_conditional_gan(G, D, small, kind="acgan", epochs=epochs, m=16, progress=False,
                                checkpoint=checkpoint)
elif trainer == "unsynchronised":      # a step that updates D on each rank's share alone
    opt = torch.optim.SGD(D.parameters(), lr=0.1)

    def step(batch):
        loss = D(batch[0]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss}

    run = fit(step, data, epochs=1, batch_size=32, state={"D": D, "opt": opt}, progress=False)
elif trainer == "vae":
    from ganlab.models.vae import VAE
    train_vae(VAE(2), data, epochs=1, progress=False)
history = run.history if hasattr(run, "history") else run
if distributed.is_main():
    torch.save({"state": {name: model.state_dict() for name, model in models.items()},
                "history": history.records, "processes": distributed.world_size()}, out)
'''


def launch(tmp_path, processes: int, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the worker in ``processes`` processes (torchrun) or in this Python (1)."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, str(script), *args]
    if processes > 1:
        command[1:1] = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def train(tmp_path, processes: int, trainer: str, epochs: int = 1, checkpoint: str = "-") -> dict:
    out = tmp_path / f"{trainer}-{processes}-{epochs}-{len(os.listdir(tmp_path))}.pt"
    launch(tmp_path, processes, str(out), trainer, str(epochs), checkpoint)
    return torch.load(out)


def differences(a: dict, b: dict) -> torch.Tensor:
    """|a - b| of every weight of every model, as one vector."""
    return torch.cat([(a[model][key].float() - b[model][key].float()).abs().flatten()
                      for model in a for key in a[model]])


def test_two_processes_train_gan_like_one(tmp_path):
    """2 processes with m/2 each end one epoch with the weights of 1 process with m.

    The arithmetic differs only in rounding: one process takes the mean of 32 per-example
    gradients in one reduction, two take means of 16 and average them (DDP's all-reduce),
    a different float32 summation order (relative error ~1e-7 per step). Over the epoch's
    25 iterations (k = 2 D steps each, Adam, EMA) that stays below 1e-6 (measured 3e-8),
    while the same epoch with other minibatches and noise (seed 1) moves the weights by up
    to 3e-3 (median 2e-4): the tolerance separates rounding from any change in what was
    computed.
    """
    one, two = train(tmp_path, 1, "gan"), train(tmp_path, 2, "gan")
    assert two["processes"] == 2 and one["processes"] == 1
    assert one["state"].keys() == two["state"].keys() == {"G", "D", "G_ema"}
    assert differences(one["state"], two["state"]).max() < 1e-6
    # the history is the whole minibatch's, averaged over the two processes
    assert len(one["history"]) == len(two["history"]) == len(load_images("digits", "train")) // 64
    for a, b in zip(one["history"], two["history"], strict=True):
        assert a.keys() == b.keys()
        assert abs(a["d_loss"] - b["d_loss"]) < 1e-5 and abs(a["g_loss"] - b["g_loss"]) < 1e-5


def test_two_processes_train_wgan_gp_like_one(tmp_path):
    """The same for WGAN-GP: noise and the penalty's interpolation weights are dealt like the data.

    Adam's step ``lr * m_t / sqrt(v_t)`` has size about ``lr`` whatever the size of the
    gradient, so a weight whose gradient is nearly zero (here a hidden unit's bias, whose
    gradient from the double backward of the penalty almost cancels) follows the sign of
    its rounding noise: it can move by up to ``lr = 1e-4`` per step differently. We allow
    that for at most 1% of the weights (measured: 1 of 4,513) and require every other
    weight to agree to 1e-6 (measured 1.5e-8).
    """
    one, two = train(tmp_path, 1, "wgan"), train(tmp_path, 2, "wgan")
    diff = differences(one["state"], two["state"])
    assert (diff > 1e-6).float().mean() < 0.01
    assert diff.max() < 50 * 2 * 1e-4  # at most lr per critic step (25 iterations x 2)


def test_two_processes_train_gan_with_r1_like_one(tmp_path):
    """The R1 penalty's double backward goes through DDP's wrapper of D and still matches 1 process.

    Each process takes the gradient at its own share of the real images; the penalty is a
    mean over them, so DDP's average of the shares' gradients is the whole minibatch's.
    Measured largest difference after the epoch's 50 iterations: 3e-8.
    """
    one, two = train(tmp_path, 1, "gan-r1"), train(tmp_path, 2, "gan-r1")
    assert all("r1" in record and record["r1"] > 0 for record in one["history"])
    assert differences(one["state"], two["state"]).max() < 1e-6
    for a, b in zip(one["history"], two["history"], strict=True):
        assert abs(a["r1"] - b["r1"]) < 1e-5


def test_resume_under_torchrun_is_exact(tmp_path):
    """Interrupted after epoch 1 and resumed for epoch 2, in 2 processes: the uninterrupted weights."""
    straight = train(tmp_path, 2, "gan", epochs=2)
    checkpoint = tmp_path / "run.pt"
    train(tmp_path, 2, "gan", epochs=1, checkpoint=str(checkpoint))
    resumed = train(tmp_path, 2, "gan", epochs=2, checkpoint=str(checkpoint))
    assert differences(straight["state"], resumed["state"]).max() == 0
    assert [r["d_loss"] for r in straight["history"]] == [r["d_loss"] for r in resumed["history"]]
    # a checkpoint of 2 processes resumes in 1 (same run: same minibatch m, same data, same seed)
    one_after_two = train(tmp_path, 1, "gan", epochs=2, checkpoint=str(checkpoint))
    assert differences(straight["state"], one_after_two["state"]).max() < 1e-6


def test_conditional_gan_runs_under_torchrun(tmp_path):
    """AC-GAN (cpu28, batch norm) in 2 processes: it trains, the ranks stay equal, rank 0 writes.

    With batch norm on the CPU each process normalises with its own 8 examples, so the
    run is not the 1-process run; ``fit`` would raise if the copies drifted apart.
    """
    two = train(tmp_path, 2, "acgan")
    assert two["processes"] == 2 and len(two["history"]) == 128 // 16
    assert all(torch.isfinite(t).all() for model in two["state"].values() for t in model.values()
               if t.is_floating_point())


def test_a_step_that_does_not_average_gradients_is_caught(tmp_path):
    result = launch(tmp_path, 2, str(tmp_path / "x.pt"), "unsynchronised", "1", "-", check=False)
    assert result.returncode != 0
    assert "copies of D differ" in result.stderr and "data_parallel" in result.stderr


def test_trainers_without_torchrun_support_refuse(tmp_path):
    result = launch(tmp_path, 2, str(tmp_path / "x.pt"), "vae", "1", "-", check=False)
    assert result.returncode != 0
    assert "train_vae runs in one process only" in result.stderr


def test_cli_train_under_torchrun(tmp_path):
    """``torchrun -m ganlab train NAME``: every rank trains, rank 0 reports and writes the file."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "ganlab", "train", "mlp-gan", "--epochs", "1", "--out", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("mlp-gan: wrote") == 1           # rank 0 alone reports
    from ganlab import pretrained
    meta = pretrained.info("mlp-gan", tmp_path)
    assert meta["processes"] == 2 and meta["epochs"] == 1


def test_one_process_is_untouched():
    """Outside torchrun: one process, rank 0, shards are whole batches, no wrapper."""
    assert distributed.world_size() == 1 and distributed.rank() == 0 and distributed.is_main()
    batch = torch.arange(6)
    assert distributed.shard(batch) is batch
    module = torch.nn.Linear(2, 2)
    assert distributed.data_parallel(module) is module
    assert distributed.mean_over_ranks({"a": 1.5}) == {"a": 1.5}


def test_batch_not_divisible_by_processes(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    assert distributed.shard(torch.arange(6)).tolist() == [1, 4]
    with pytest.raises(ValueError, match="cannot be dealt evenly to 3 processes"):
        distributed.shard(torch.arange(8))
    monkeypatch.setattr(distributed, "init", lambda: None)
    with pytest.raises(ValueError, match="batch_size=32 must be divisible by the 3 processes"):
        fit(lambda batch: {}, load_images("digits", "train"), epochs=1, batch_size=32, state={},
            progress=False)
