import copy

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import ganlab.gan as gan_module
from ganlab import toy
from ganlab.gan import discriminator_step, generator_step, make_optimizer, train_gan
from ganlab.losses import discriminator_loss
from ganlab.models.gan import MLPDiscriminator, MLPGenerator
from ganlab.train import TrainingDiverged

# --- models ---------------------------------------------------------------------------------


def test_lecture_mlp_gan_shapes_and_ranges():
    G, D = MLPGenerator(), MLPDiscriminator()
    assert G.latent_dim == 64
    x = G(torch.randn(5, 64))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert D(x).shape == (5,)
    # the lecture's network (slide "GAN Train"): one hidden layer of 256 in each player
    assert [layer.out_features for layer in G.net if isinstance(layer, torch.nn.Linear)] == [256, 784]
    assert [layer.out_features for layer in D.net if isinstance(layer, torch.nn.Linear)] == [256, 1]
    assert isinstance(G.net[1], torch.nn.ReLU) and isinstance(G.net[3], torch.nn.Tanh)
    assert any(isinstance(layer, torch.nn.LeakyReLU) and layer.negative_slope == 0.2 for layer in D.net)
    with pytest.raises(ValueError, match=r"expected codes z of shape \(N, 64\)"):
        G(torch.randn(5, 10))
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 28, 28\)"):
        D(torch.randn(5, 784))


# --- the trainer: Algorithm 1 ---------------------------------------------------------------


def _toy_run(epochs=2, k=1, checkpoint=None, interrupt_at=None, loss="non_saturating", **options):
    torch.manual_seed(0)
    data = TensorDataset(toy.ring().sample(512, generator=torch.Generator().manual_seed(0)))
    G, D = MLPGenerator(4, (16,), (2,), None), MLPDiscriminator((2,), (16,))
    counts = {"d": 0, "g": 0}

    def count(kind):
        def hook(optimizer, args, kwargs):
            counts[kind] += 1
            if interrupt_at is not None and counts["g"] == interrupt_at:
                raise KeyboardInterrupt
        return hook

    def counting_optimizer(module, *args, **kwargs):  # count every optimizer.step()
        opt = make_optimizer(module, *args, **kwargs)
        opt.register_step_post_hook(count("d" if module is D else "g"))
        return opt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gan_module, "make_optimizer", counting_optimizer)
        run = train_gan(G, D, data, epochs=epochs, m=32, k=k, loss=loss, lr_d=1e-3, lr_g=1e-3,
                        checkpoint=checkpoint, progress=False, n_snapshots=8, **options)
    return G, D, run, counts


@pytest.mark.parametrize("k", [1, 3])
def test_k_discriminator_steps_per_generator_step(k):
    _, _, run, counts = _toy_run(epochs=2, k=k)
    iterations = 2 * (512 // (k * 32))
    assert counts == {"d": k * iterations, "g": iterations}
    assert len(run.history) == iterations
    assert len(run.snapshots) == 2 and run.snapshots[0].shape == (8, 2)
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"):
        assert np.isfinite(run.history[key]).all(), key
    assert ((run.history["d_real"] > 0) & (run.history["d_real"] < 1)).all()


def test_interrupted_gan_resumes_to_identical_weights(tmp_path):
    G_ref, D_ref, run_ref, _ = _toy_run(epochs=3)
    ckpt = tmp_path / "gan.pt"
    with pytest.raises(KeyboardInterrupt):
        _toy_run(epochs=3, checkpoint=ckpt, interrupt_at=40)  # dies in epoch 3 (16 iterations/epoch)
    G, D, run, _ = _toy_run(epochs=3, checkpoint=ckpt)
    for a, b in zip([*G_ref.parameters(), *D_ref.parameters()], [*G.parameters(), *D.parameters()], strict=True):
        assert torch.equal(a, b)
    assert run.history.records == run_ref.history.records
    assert all(torch.equal(a, b) for a, b in zip(run.snapshots, run_ref.snapshots, strict=True))


def test_interrupted_gan_with_ema_resumes_to_identical_weights(tmp_path):
    options = {"ema_decay": 0.9, "real_label": 0.9, "beta1": 0.9, "r1_gamma": 1.0}
    G_ref, _, run_ref, _ = _toy_run(epochs=3, **options)
    ckpt = tmp_path / "gan.pt"
    with pytest.raises(KeyboardInterrupt):
        _toy_run(epochs=3, checkpoint=ckpt, interrupt_at=40, **options)
    G, _, run, _ = _toy_run(epochs=3, checkpoint=ckpt, **options)
    assert all(torch.equal(a, b) for a, b in zip(G_ref.parameters(), G.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(run_ref.G_ema.parameters(), run.G_ema.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(run.snapshots, run_ref.snapshots, strict=True))


def test_ema_generator_is_the_moving_average_of_the_weights():
    G = MLPGenerator(2, (4,), (2,), None)
    ema = gan_module.moving_average(G, 0.5)
    ema.update_parameters(G)                      # the first update copies G
    expected = [p.detach().clone() for p in G.parameters()]
    for t in range(1, 6):
        with torch.no_grad():
            for p in G.parameters():
                p.add_(0.1 * t)
        ema.update_parameters(G)
        b = min(0.5, (1 + t) / (10 + t))          # warm-up: 2/11, 3/12, 4/13, then 0.5
        expected = [b * e + (1 - b) * p.detach() for e, p in zip(expected, G.parameters(), strict=True)]
        for e, p in zip(expected, ema.module.parameters(), strict=True):
            assert torch.allclose(e, p, atol=1e-6), t
    _, _, run, _ = _toy_run(epochs=1, ema_decay=0.99)
    assert isinstance(run.G_ema, MLPGenerator) and not run.G_ema.training
    with torch.no_grad():
        assert torch.equal(run.snapshots[-1], run.G_ema(run_fixed_noise(run)))
    assert _toy_run(epochs=1)[2].G_ema is None
    with pytest.raises(ValueError, match="EMA decay must be in"):
        gan_module.moving_average(G, 1.0)


def test_recalibrated_batchnorm_holds_the_mean_statistics_of_its_own_samples():
    from ganlab.models.dcgan import DCGANGenerator

    torch.manual_seed(0)
    G = DCGANGenerator("cpu28")
    state = torch.random.get_rng_state()
    gan_module.recalibrate_batchnorm(G, n=256, m=64, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())        # the global RNG is untouched
    assert not G.training
    first = next(layer for layer in G.modules() if isinstance(layer, torch.nn.BatchNorm2d))
    assert first.momentum == 0.1                                     # restored
    measured = first.running_mean.clone()
    # by hand: the mean over the 4 batches of each batch's per-channel mean at that layer
    inputs = []
    handle = first.register_forward_hook(lambda module, args, out: inputs.append(args[0]))
    generator = torch.Generator().manual_seed(3)
    G.train()
    with torch.no_grad():
        for _ in range(4):
            G(torch.randn(64, 64, generator=generator))
    handle.remove()
    G.eval()
    expected = torch.stack([x.mean(dim=(0, 2, 3)) for x in inputs[:4]]).mean(0)
    assert torch.allclose(measured, expected, atol=1e-6)


def run_fixed_noise(run):
    return gan_module.sample_noise(run.G_ema, 8, generator=torch.Generator().manual_seed(1))


def test_adam_beta1_is_a_parameter():
    module = torch.nn.Linear(2, 1)
    assert make_optimizer(module).param_groups[0]["betas"] == (0.5, 0.999)
    assert make_optimizer(module, beta1=0.9).param_groups[0]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="beta1 must be in"):
        make_optimizer(module, beta1=1.0)


def test_augmented_training_sends_gradients_through_the_augmentation():
    G, D = MLPGenerator(8, (16,)), MLPDiscriminator(hidden=(16,), dropout=0.3)
    assert sum(isinstance(layer, torch.nn.Dropout) for layer in D.net) == 1
    data = TensorDataset(torch.rand(128, 1, 28, 28) * 2 - 1)
    before = [p.clone() for p in G.parameters()]
    run = train_gan(G, D, data, epochs=1, m=32, augment="translation,cutout", progress=False)
    assert np.isfinite(run.history["g_loss"]).all()
    assert not any(torch.equal(a, b) for a, b in zip(before, G.parameters(), strict=True))
    with pytest.raises(ValueError, match="unknown DiffAugment"):
        train_gan(G, D, data, epochs=1, augment="colour")


def test_gan_nan_stop():
    data = TensorDataset(torch.randn(256, 2))
    G, D = MLPGenerator(2, (8,), (2,), None), MLPDiscriminator((2,), (8,))
    with pytest.raises(TrainingDiverged, match="non-finite parameters"):
        train_gan(G, D, data, epochs=5, m=32, optimizer="sgd", lr_d=1e8, lr_g=1e8, progress=False)


def test_gan_argument_errors():
    data = TensorDataset(torch.randn(64, 2))
    G, D = MLPGenerator(2, (8,), (2,), None), MLPDiscriminator((2,), (8,))
    with pytest.raises(ValueError, match="need k >= 1"):
        train_gan(G, D, data, epochs=1, k=0)
    with pytest.raises(ValueError, match="unknown generator loss"):
        train_gan(G, D, data, epochs=1, loss="hinge")
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        train_gan(G, D, data, epochs=1, optimizer="rmsprop")
    with pytest.raises(ValueError, match=r"real_label must be in \(0, 1\]"):
        train_gan(G, D, data, epochs=1, real_label=0.0)
    with pytest.raises(ValueError, match="r1_gamma must be >= 0"):
        train_gan(G, D, data, epochs=1, r1_gamma=-1.0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        MLPDiscriminator(dropout=1.0)


def test_r1_step_descends_the_loss_plus_half_gamma_times_the_squared_gradient_at_the_reals():
    torch.manual_seed(0)
    G, D = MLPGenerator(2, (8,), (2,), None), MLPDiscriminator((2,), (8,))
    x, z = torch.randn(16, 2), torch.randn(16, 2)
    D_by_hand = copy.deepcopy(D)
    record = discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=0.1), x, z, r1_gamma=2.0)

    x_in = x.clone().requires_grad_(True)
    real_logits = D_by_hand(x_in)
    (grad_x,) = torch.autograd.grad(real_logits.sum(), x_in, create_graph=True)
    penalty = 2.0 / 2 * grad_x.pow(2).sum(1).mean()
    loss = discriminator_loss(real_logits, D_by_hand(G(z).detach()))
    opt = torch.optim.SGD(D_by_hand.parameters(), lr=0.1)
    opt.zero_grad()
    (loss + penalty).backward()
    opt.step()
    assert record["r1"] == pytest.approx(penalty.item(), rel=1e-6) and record["r1"] > 0
    assert record["d_loss"] == pytest.approx(loss.item(), rel=1e-6)   # L_D alone, without R1
    for a, b in zip(D.parameters(), D_by_hand.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert "r1" not in discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=0.1), x, z)


def test_steps_update_only_their_network():
    G, D = MLPGenerator(2, (8,), (2,), None), MLPDiscriminator((2,), (8,))
    opt_d, opt_g = make_optimizer(D, lr=0.1), make_optimizer(G, lr=0.1)
    g_before = [p.clone() for p in G.parameters()]
    d_before = [p.clone() for p in D.parameters()]
    discriminator_step(G, D, opt_d, torch.randn(16, 2), torch.randn(16, 2))
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(d_before, D.parameters(), strict=True))
    d_after = [p.clone() for p in D.parameters()]
    generator_step(G, D, opt_g, torch.randn(16, 2))
    assert all(torch.equal(a, b) for a, b in zip(d_after, D.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, G.parameters(), strict=True))


def test_a_1d_gan_learns_the_data_mean():
    data = TensorDataset(toy.Gaussian1D(4.0, 0.5).sample(2048, generator=torch.Generator().manual_seed(0)))
    torch.manual_seed(0)
    G, D = MLPGenerator(1, (32, 32), (1,), None), MLPDiscriminator((1,), (32, 32))
    train_gan(G, D, data, epochs=20, m=64, lr_d=1e-3, lr_g=1e-3, progress=False)
    with torch.no_grad():
        samples = G(torch.randn(4000, 1))
    assert abs(samples.mean().item() - 4.0) < 0.3
