import pytest
import torch
from torch.utils.data import TensorDataset

from ganlab.data import load_images
from ganlab.inference import batched
from ganlab.models import Autoencoder
from ganlab.train import (
    History,
    TrainingDiverged,
    fit,
    reconstruction_step,
    train_autoencoder,
)


@pytest.fixture(scope="module")
def small_digits():
    return load_images("digits", "train")


def _run(data, epochs, checkpoint=None, interrupt_at=None, noise_std=0.3):
    """Train a small denoising AE (it draws random noise every step, so resumption
    must restore the global RNG, not only the weights and the shuffling)."""
    torch.manual_seed(1)
    model = Autoencoder(4, hidden=(16,), image_shape=(1, 8, 8))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    inner = reconstruction_step(model, opt, noise_std=noise_std)
    calls = {"n": 0}

    def step(batch):
        if calls["n"] == interrupt_at:
            raise KeyboardInterrupt
        calls["n"] += 1
        return inner(batch)

    history = fit(step, data, epochs=epochs, batch_size=100, seed=7, checkpoint=checkpoint,
                  state={"model": model, "opt": opt}, progress=False)
    return model, history


def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path, small_digits):
    reference, ref_history = _run(small_digits, epochs=4)
    ckpt = tmp_path / "run.pt"
    steps_per_epoch = -(-len(small_digits) // 100)
    with pytest.raises(KeyboardInterrupt):  # dies in the middle of epoch 3
        _run(small_digits, epochs=4, checkpoint=ckpt, interrupt_at=2 * steps_per_epoch + 5)
    assert torch.load(ckpt, weights_only=False)["epochs_done"] == 2
    resumed, history = _run(small_digits, epochs=4, checkpoint=ckpt)
    for (name, a), b in zip(reference.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert history.records == ref_history.records


def test_finished_checkpoint_returns_without_training(tmp_path, small_digits):
    ckpt = tmp_path / "run.pt"
    first, history = _run(small_digits, epochs=2, checkpoint=ckpt)
    again, history2 = _run(small_digits, epochs=2, checkpoint=ckpt, interrupt_at=0)  # would raise if it stepped
    assert torch.equal(first.decoder[0].weight, again.decoder[0].weight)
    assert len(history2) == len(history)


def test_checkpoint_of_another_run_is_refused(tmp_path, small_digits):
    ckpt = tmp_path / "run.pt"
    _run(small_digits, epochs=1, checkpoint=ckpt)
    model = Autoencoder(4, hidden=(16,), image_shape=(1, 8, 8))
    opt = torch.optim.Adam(model.parameters())
    with pytest.raises(ValueError, match="belongs to a different run"):
        fit(reconstruction_step(model, opt), small_digits, epochs=2, batch_size=50, seed=7,
            state={"model": model, "opt": opt}, checkpoint=ckpt, progress=False)


def test_same_seed_same_weights(small_digits):
    a, _ = _run(small_digits, epochs=1)
    b, _ = _run(small_digits, epochs=1)
    assert torch.equal(a.encoder[1].weight, b.encoder[1].weight)


def test_nan_loss_stops_with_diagnostic(tmp_path, small_digits):
    model = Autoencoder(4, hidden=(16,), image_shape=(1, 8, 8))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    inner = reconstruction_step(model, opt)
    seen = []

    def step(batch):
        seen.append(1)
        values = inner(batch)
        if len(seen) == 20:
            values["loss"] = torch.tensor(float("nan"))
        return values

    ckpt = tmp_path / "run.pt"
    with pytest.raises(TrainingDiverged) as info:
        fit(step, small_digits, epochs=5, batch_size=100, state={"model": model, "opt": opt},
            checkpoint=ckpt, progress=False)
    message = str(info.value)
    assert "epoch 1, step 19: loss = nan" in message
    assert "last finite values of loss" in message
    assert "all parameters are still finite" in message
    assert f"last good checkpoint is kept at {ckpt}" in message
    assert torch.load(ckpt, weights_only=False)["epochs_done"] == 1


def test_exploding_learning_rate_names_the_broken_parameters(small_digits):
    model = Autoencoder(4, hidden=(16,), image_shape=(1, 8, 8), output_activation=None)
    opt = torch.optim.SGD(model.parameters(), lr=1e6)
    with pytest.raises(TrainingDiverged, match=r"non-finite parameters: model\.(encoder|decoder)"):
        fit(reconstruction_step(model, opt), small_digits, epochs=3, batch_size=100,
            state={"model": model, "opt": opt}, progress=False)


def test_fit_validates_arguments(small_digits):
    with pytest.raises(ValueError, match="TensorDataset"):
        fit(lambda b: {}, [1, 2, 3], epochs=1, batch_size=1, state={})
    with pytest.raises(ValueError, match="batch_size=2000 with drop_last=True leaves no batch"):
        fit(lambda b: {}, small_digits, epochs=1, batch_size=2000, drop_last=True, state={})


def test_history_series_and_epoch_means():
    h = History([{"epoch": e, "step": 2 * e + i, "loss": float(2 * e + i)}
                 for e in range(3) for i in range(2)])
    assert h["loss"].tolist() == [0, 1, 2, 3, 4, 5]
    assert h.epoch_mean("loss").tolist() == [0.5, 2.5, 4.5]
    assert h.keys() == ["loss"]
    with pytest.raises(KeyError, match="no series 'acc'"):
        h["acc"]


def test_autoencoder_learns_real_digits():
    train, test = load_images("mnist-5k", "train"), load_images("mnist-5k", "test")
    torch.manual_seed(0)
    model = Autoencoder(16, hidden=(128,))
    x = test.tensors[0]
    before = ((batched(model, x) - x) ** 2).mean().item()
    history = train_autoencoder(model, train, epochs=2, progress=False)
    after = ((batched(model, x) - x) ** 2).mean().item()
    assert history.epoch_mean("loss")[-1] < history.epoch_mean("loss")[0]
    assert after < 0.5 * before
    assert not model.training  # fit leaves models in eval mode


def test_batched_matches_one_call():
    x = torch.randn(1234, 3)
    layer = torch.nn.Linear(3, 2)
    assert torch.allclose(batched(layer, x, batch_size=100), layer(x).detach())


def test_denoising_sees_noise_but_targets_clean_images():
    clean = torch.full((8, 1, 8, 8), -1.0)
    model = Autoencoder(2, hidden=(), image_shape=(1, 8, 8))
    inputs = []
    model.register_forward_pre_hook(lambda m, args: inputs.append(args[0].clone()))
    step = reconstruction_step(model, torch.optim.SGD(model.parameters(), lr=0.0), noise_std=0.5)
    out = step((clean,))
    assert not torch.equal(inputs[0], clean)
    assert inputs[0].min() >= -1 and inputs[0].max() <= 1
    assert out["mse"] == pytest.approx(((model(inputs[0]) - clean) ** 2).mean().item(), rel=1e-5)


def test_fit_refuses_an_empty_dataset():
    with pytest.raises(ValueError, match=r"a non-empty dataset; got .*, 0 examples"):
        fit(lambda b: {}, TensorDataset(torch.zeros(0, 2)), epochs=1, batch_size=1, state={})
