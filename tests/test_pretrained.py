"""The shipped pretrained models: offline loading, ranges, records, and the recipes that make them."""

import numpy as np
import pytest
import torch

from ganlab import pretrained
from ganlab.__main__ import main

GENERATIVE = ["autoencoder", "vae", "mlp-gan", "dcgan-cpu28", "wgan-gp-cpu28"]


@pytest.mark.parametrize("name", GENERATIVE)
def test_shipped_models_load_offline_and_generate_images_in_range(name, one_thread):
    assert name in pretrained.available()
    model = pretrained.load(name)
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    generate = pretrained.as_generator(model)
    with torch.no_grad():
        images = generate(torch.randn(16, model.latent_dim, generator=torch.Generator().manual_seed(0)))
    assert images.shape == (16, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert images.std() > 0.1, "a trained generator does not output a constant image"
    with pytest.raises(ValueError, match=str(model.latent_dim)):
        generate(torch.randn(2, model.latent_dim + 1))


@pytest.mark.parametrize("name", GENERATIVE)
def test_each_asset_records_how_it_was_trained(name):
    meta = pretrained.info(name)
    recipe = pretrained.RECIPES[name]
    assert meta["command"] == f"python -m ganlab train {name} --seed {meta['seed']} --epochs {meta['epochs']}"
    assert meta["epochs"] == recipe.epochs and meta["data"] == recipe.data
    assert meta["train_seconds"] > 0 and meta["torch"]
    assert any(key.startswith("final_") for key in meta)


def test_shipped_autoencoder_and_vae_match_their_recorded_test_numbers(one_thread):
    from ganlab.data import binarize, load_images

    x_test = load_images("mnist-5k", "test").tensors[0]
    ae = pretrained.load("autoencoder")
    with torch.no_grad():
        mse = ((ae(x_test) - x_test) ** 2).mean().item()
    assert mse == pytest.approx(pretrained.info("autoencoder")["test_mse"], abs=2e-5)
    vae = pretrained.load("vae")
    with torch.no_grad():
        elbo = vae.elbo(binarize(x_test), torch.Generator().manual_seed(0))["elbo"].mean().item()
    assert elbo == pytest.approx(pretrained.info("vae")["test_elbo"], abs=0.05)


TARGETS = {"mlp-gan": (0.85, 0.05, 0.16), "dcgan-cpu28": (0.93, 0.06, 0.14)}   # issue: GANs that make good digits


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_shipped_gans_reproduce_their_recorded_quality(name, one_thread):
    """The digit classifier's verdict on 2,000 samples is the one recorded when the asset was made."""
    from ganlab import quality, recipes

    meta = pretrained.info(name)
    q = quality.digit_quality(pretrained.load(name))
    assert q["confidence"] == pytest.approx(meta["confidence"], abs=1e-3)
    assert q["fid"] == pytest.approx(meta["fid"], abs=0.05)
    assert q["class_shares"] == pytest.approx(meta["class_shares"], abs=1e-3)
    assert meta["train_seconds"] <= 6 * 60, "each recipe takes at most 6 minutes on the 2-core course machine"
    step = recipes.final(name)
    assert meta["epochs"] == step.epochs and pretrained._asset(name, None)["kwargs"] == step.generator


@pytest.mark.parametrize("name", [
    "mlp-gan",
    pytest.param("dcgan-cpu28", marks=pytest.mark.xfail(
        strict=True, reason="open: the DCGAN recipe reaches confidence 0.895 (target 0.93); its "
                            "class shares (8.7-11.3%) meet theirs; remove this mark when a recipe meets both")),
])
def test_shipped_gans_meet_their_quality_targets(name):
    from ganlab import quality

    meta = pretrained.info(name)
    confidence, low, high = TARGETS[name]
    assert meta["confidence"] >= confidence
    assert quality.check_fair_shares(meta, low, high) == []


def test_shipped_wgan_records_its_critic_estimate_and_fid_per_epoch(one_thread):
    """Unit 07 plots the recorded curve: one (epoch, W_hat, FID) per epoch, both falling over the run."""
    from ganlab import quality

    meta = pretrained.info("wgan-gp-cpu28")
    curve = np.array(meta["curve"])
    assert curve.shape == (meta["epochs"], 3) and curve[:, 0].tolist() == list(range(1, meta["epochs"] + 1))
    assert curve[-5:, 1].mean() < 0.5 * curve[:5, 1].mean() and curve[-1, 2] < 0.5 * curve[0, 2]
    assert meta["train_seconds"] <= 6 * 60
    q = quality.digit_quality(pretrained.load("wgan-gp-cpu28"))
    assert q["fid"] == pytest.approx(meta["fid"], abs=0.05)
    assert q["confidence"] == pytest.approx(meta["confidence"], abs=1e-3)


def test_train_command_recreates_an_asset_that_loads(tmp_path, one_thread, capsys):
    assert main(["train", "mlp-gan", "--epochs", "1", "--seed", "3", "--out", str(tmp_path), "--threads", "1",
                 "--device", "cpu"]) == 0
    assert "mlp-gan: wrote" in capsys.readouterr().out
    assert pretrained.available(tmp_path) == ["mlp-gan"]
    meta = pretrained.info("mlp-gan", tmp_path)
    assert meta["command"] == "python -m ganlab train mlp-gan --seed 3 --epochs 1"
    G = pretrained.load("mlp-gan", tmp_path)
    assert G(torch.randn(2, 64)).shape == (2, 1, 28, 28)
    # the weights are stored in float16 and the model trained here was rounded the same way
    asset = torch.load(tmp_path / "mlp-gan.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in asset["state_dict"].values() if v.is_floating_point())


def test_recipes_are_reproducible_from_their_seed(tmp_path, one_thread):
    for folder in ("a", "b"):
        pretrained.train("mlp-gan", seed=1, epochs=1, folder=tmp_path / folder, progress=False)
    a, b = (torch.load(tmp_path / f / "mlp-gan.pt", weights_only=True)["state_dict"] for f in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_unknown_and_missing_models_say_what_to_do(tmp_path, capsys):
    with pytest.raises(ValueError, match="choose from"):
        pretrained.load("stylegan")
    with pytest.raises(FileNotFoundError, match="python -m ganlab train vae"):
        pretrained.load("vae", folder=tmp_path)
    (tmp_path / "vae.pt").write_bytes(b"")
    assert pretrained.available(tmp_path) == ["vae"]
    with pytest.raises(ValueError, match="cannot read .*python -m ganlab train vae"):
        pretrained.load("vae", folder=tmp_path)
    assert main(["train", "stylegan"]) == 2
    assert "unknown pretrained model" in capsys.readouterr().err
    with pytest.raises(ValueError, match="not a generator"):
        pretrained.as_generator(torch.nn.Linear(2, 2))


def test_quantize_rounds_to_float16_values():
    layer = torch.nn.Linear(3, 3)
    before = layer.weight.detach().clone()
    pretrained.quantize_(layer)
    assert torch.equal(layer.weight, before.half().float())
    assert (layer.weight - before).abs().max() < 1e-3
