import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from ganlab import toy
from ganlab.models.dcgan import DCGANDiscriminator
from ganlab.models.gan import MLPDiscriminator, MLPGenerator
from ganlab.wgan import critic_step, make_wgan_optimizer, train_wgan_gp

# --- the trainer --------------------------------------------------------------------------------


def _toy_run(epochs=2, n_critic=5, checkpoint=None, interrupt_at=None, **options):
    torch.manual_seed(0)
    data = TensorDataset(toy.ring().sample(640, generator=torch.Generator().manual_seed(0)))
    G, f = MLPGenerator(4, (16,), (2,), None), MLPDiscriminator((2,), (16,))
    counts = {"critic": 0, "G": 0}

    def count(name):
        def hook(optimizer, args, kwargs):
            counts[name] += 1
            if interrupt_at is not None and counts["G"] == interrupt_at:
                raise KeyboardInterrupt
        return hook

    import ganlab.wgan as wgan_module

    def counting_optimizer(module, *args, **kwargs):
        opt = make_wgan_optimizer(module, *args, **kwargs)
        opt.register_step_post_hook(count("critic" if module is f else "G"))
        return opt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(wgan_module, "make_wgan_optimizer", counting_optimizer)
        run = train_wgan_gp(G, f, data, epochs=epochs, m=32, n_critic=n_critic, lr_d=1e-3, lr_g=1e-3,
                            checkpoint=checkpoint, progress=False, n_snapshots=8, **options)
    return G, f, run, counts


@pytest.mark.parametrize("n_critic", [1, 5])
def test_n_critic_steps_per_generator_step(n_critic):
    _, _, run, counts = _toy_run(epochs=2, n_critic=n_critic)
    iterations = 2 * (640 // (n_critic * 32))
    assert counts == {"critic": n_critic * iterations, "G": iterations}
    assert len(run.history) == iterations and len(run.snapshots) == 2
    for key in ("critic_loss", "wasserstein", "gradient_penalty", "g_loss", "grad_norm_g"):
        assert np.isfinite(run.history[key]).all(), key
    assert (run.history["gradient_penalty"] >= 0).all()


def test_critic_step_records_the_distance_estimate_and_descends_its_loss():
    torch.manual_seed(0)
    G, f = MLPGenerator(2, (8,), (2,), None), MLPDiscriminator((2,), (16,))
    opt = make_wgan_optimizer(f, lr=1e-2)
    x, z = torch.randn(64, 2) + 3.0, torch.randn(64, 2)
    first = critic_step(G, f, opt, x, z)
    with torch.no_grad():
        gap = f(x).mean() - f(G(z)).mean()
    for _ in range(30):
        last = critic_step(G, f, opt, x, z)
    # wasserstein is the mean score gap (before the update), and a trained critic widens it
    assert first["wasserstein"] == pytest.approx(gap.item(), abs=0.5)
    assert last["wasserstein"] > first["wasserstein"] + 0.5
    assert last["critic_loss"] == pytest.approx(-last["wasserstein"] + last["gradient_penalty"], rel=1e-5)


def test_interrupted_wgan_resumes_to_identical_weights(tmp_path):
    G_ref, f_ref, run_ref, _ = _toy_run(epochs=3, ema_decay=0.9)
    ckpt = tmp_path / "wgan.pt"
    with pytest.raises(KeyboardInterrupt):
        _toy_run(epochs=3, checkpoint=ckpt, interrupt_at=10, ema_decay=0.9)  # dies in epoch 3 (4 per epoch)
    G, f, run, _ = _toy_run(epochs=3, checkpoint=ckpt, ema_decay=0.9)
    for a, b in zip([*G_ref.parameters(), *f_ref.parameters(), *run_ref.G_ema.parameters()],
                    [*G.parameters(), *f.parameters(), *run.G_ema.parameters()], strict=True):
        assert torch.equal(a, b)
    assert run.history.records == run_ref.history.records


def test_trainer_rejects_bad_settings_and_batch_norm_critics():
    data = TensorDataset(torch.zeros(64, 1, 28, 28))
    G = MLPGenerator(4, (8,), (1, 28, 28))
    with pytest.raises(ValueError, match="n_critic >= 1"):
        train_wgan_gp(G, DCGANDiscriminator("cpu28", norm="layer"), data, epochs=1, n_critic=0)
    with pytest.raises(ValueError, match="batch norm"):
        train_wgan_gp(G, DCGANDiscriminator("cpu28"), data, epochs=1)


@pytest.mark.parametrize("norm", ["layer", "none", "spectral"])
def test_cpu28_critic_variants_score_each_sample_on_its_own(norm):
    torch.manual_seed(0)
    f = DCGANDiscriminator("cpu28", norm=norm)
    f.train(norm != "spectral")        # in training mode spectral norm refines sigma(W) at every call
    x = torch.randn(6, 1, 28, 28)
    alone = torch.cat([f(x[i:i + 1]) for i in range(6)])
    assert f(x).shape == (6,)
    assert torch.allclose(alone, f(x), atol=1e-5)     # no batch statistics: a sample's score is its own


def test_spectral_normalisation_makes_every_layer_1_lipschitz():
    torch.manual_seed(0)
    f = DCGANDiscriminator("cpu28", norm="spectral").train()
    for _ in range(200):                               # one power iteration per call in train mode
        f(torch.randn(2, 1, 28, 28))
    f.eval()
    for layer in f.modules():
        if isinstance(layer, nn.Conv2d):
            # the parametrisation normalises the reshaped (out, in*k*k) weight's top singular value
            sigma = torch.linalg.matrix_norm(layer.weight.flatten(1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=2e-3)


def test_norm_variants_are_cpu28_only_and_named():
    with pytest.raises(ValueError, match="choose from"):
        DCGANDiscriminator("cpu28", norm="instance")
    with pytest.raises(ValueError, match="cpu28 preset only"):
        DCGANDiscriminator("paper64", norm="layer")
