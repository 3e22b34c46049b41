import pytest
import torch
from torch.utils.data import TensorDataset

from ganlab import recipes
from ganlab.data import load_images


@pytest.fixture(scope="module")
def few_digits():
    x, y = load_images("mnist-5k", "train").tensors
    return TensorDataset(x[::45][:128], y[::45][:128])


def test_unit03_starts_from_the_lecture_network_as_written():
    first = recipes.STEPS["mlp-gan"][0]
    G, D = recipes.build(first)
    linear = [(layer.in_features, layer.out_features) for layer in G.net if isinstance(layer, torch.nn.Linear)]
    assert linear == [(64, 256), (256, 784)]
    assert [layer.out_features for layer in D.net if isinstance(layer, torch.nn.Linear)] == [256, 1]
    assert first.options["beta1"] == 0.9 and first.options["lr_d"] == first.options["lr_g"] == 2e-4
    assert "ema_decay" not in first.options and "augment" not in first.options


@pytest.mark.parametrize("name", sorted(recipes.STEPS))
def test_every_step_trains_and_the_final_step_is_kept(name, few_digits, one_thread):
    steps = recipes.STEPS[name]
    assert recipes.final(name) is steps[-1] and steps[-1].kept and steps[0].kept
    for step in steps:
        G, _, run = recipes.train(step, epochs=1, data=few_digits, progress=False)
        assert not G.training and len(run.snapshots) == 1
        assert (run.G_ema is not None) == ("ema_decay" in step.options)
        assert recipes.sampler(G, run) is (run.G_ema if run.G_ema is not None else G)
        G = recipes.sampler(G, run)
        with torch.no_grad():
            x = G(torch.randn(4, G.latent_dim))
        assert x.shape == (4, 1, 28, 28) and x.abs().max() <= 1
        assert step.change and str(step.epochs) in step.describe()


def test_a_step_is_reproducible_from_its_seed(few_digits, one_thread):
    step = recipes.STEPS["mlp-gan"][2]
    a, _, run_a = recipes.train(step, epochs=1, data=few_digits, seed=5, progress=False)
    b, _, run_b = recipes.train(step, epochs=1, data=few_digits, seed=5, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert all(torch.equal(p, q) for p, q in zip(run_a.G_ema.parameters(), run_b.G_ema.parameters(), strict=True))


def test_the_ema_only_watches_training(few_digits, one_thread):
    """Steps 1 and 2 differ only by the EMA: G itself trains to the same weights."""
    (G1, _, run1), (G2, _, run2) = (recipes.train(recipes.STEPS["mlp-gan"][i], epochs=1, data=few_digits,
                                            progress=False) for i in (1, 2))
    assert run1.G_ema is None and run2.G_ema is not None
    assert all(torch.equal(p, q) for p, q in zip(G1.parameters(), G2.parameters(), strict=True))
    assert run1.history.records == run2.history.records


def test_recipe_errors():
    with pytest.raises(ValueError, match="no step-by-step recipe for 'vae'"):
        recipes.final("vae")
    bad = recipes.Step("x", "transformer", {}, {}, 1)
    with pytest.raises(ValueError, match="unknown architecture 'transformer'"):
        recipes.build(bad)
