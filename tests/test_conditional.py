"""Conditional GANs (cGAN and AC-GAN): shapes, the label really reaches both players, errors, training."""

import pytest
import torch
from torch.utils.data import TensorDataset

from ganlab.conditional import (
    ACGANDiscriminator,
    ConditionalDiscriminator,
    ConditionalGenerator,
    class_agreement,
    train_conditional_gan,
)


def test_shapes_and_ranges():
    G, D, A = ConditionalGenerator(), ConditionalDiscriminator(), ACGANDiscriminator()
    z, y = torch.randn(5, 64), torch.tensor([0, 3, 9, 9, 1])
    x = G(z, y)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert D(x, y).shape == (5,)
    source, classes = A(x)
    assert source.shape == (5,) and classes.shape == (5, 10)


def test_the_label_changes_what_both_players_compute():
    G, D = ConditionalGenerator().eval(), ConditionalDiscriminator().eval()
    z = torch.randn(4, 64)
    x3, x7 = G(z, torch.full((4,), 3)), G(z, torch.full((4,), 7))
    assert (x3 - x7).abs().max() > 1e-3
    assert (D(x3, torch.full((4,), 3)) - D(x3, torch.full((4,), 7))).abs().max() > 1e-4


@pytest.mark.parametrize("call, message", [
    (lambda: ConditionalGenerator()(torch.randn(2, 100), torch.tensor([0, 1])), r"z of shape \(N, 64\)"),
    (lambda: ConditionalGenerator()(torch.randn(2, 64), torch.tensor([0.0, 1.0])), "integer classes"),
    (lambda: ConditionalGenerator()(torch.randn(2, 64), torch.tensor([0])), r"\(2,\)"),
    (lambda: ConditionalGenerator()(torch.randn(2, 64), torch.tensor([0, 10])), r"\[0, 10\)"),
    (lambda: ConditionalDiscriminator()(torch.randn(2, 1, 32, 32), torch.tensor([0, 1])), r"\(N, 1, 28, 28\)"),
    (lambda: ACGANDiscriminator()(torch.randn(2, 784)), r"\(N, 1, 28, 28\)"),
])
def test_bad_input_names_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_trainer_rejects_unlabelled_data_and_unknown_kinds():
    G, D = ConditionalGenerator(), ConditionalDiscriminator()
    images = torch.zeros(8, 1, 28, 28)
    with pytest.raises(ValueError, match="labelled data"):
        train_conditional_gan(G, D, TensorDataset(images), kind="cgan", epochs=1)
    with pytest.raises(ValueError, match="choose from"):
        train_conditional_gan(G, D, TensorDataset(images, torch.zeros(8, dtype=torch.long)),
                              kind="infogan", epochs=1)


class _LabelIsPixel(torch.nn.Module):
    """A 'classifier' that reads the class from the mean brightness: class c <-> mean (c - 4.5) / 5."""

    def forward(self, x):
        return -((x.mean(dim=(1, 2, 3))[:, None] - (torch.arange(10) - 4.5) / 5) ** 2) * 100


class _PerfectGenerator(torch.nn.Module):
    """Draws class y as an image of brightness (y - 4.5) / 5 and ignores z (or ignores y)."""

    latent_dim, n_classes = 64, 10

    def __init__(self, obeys: bool):
        super().__init__()
        self.obeys = obeys

    def forward(self, z, y):
        shown = y if self.obeys else torch.full_like(y, 3)
        return ((shown.float() - 4.5) / 5)[:, None, None, None].expand(-1, 1, 28, 28)


def test_class_agreement_is_the_confusion_matrix():
    obeys = class_agreement(_PerfectGenerator(True), _LabelIsPixel(), n_per_class=7)
    assert torch.equal(obeys, torch.eye(10))
    ignores = class_agreement(_PerfectGenerator(False), _LabelIsPixel(), n_per_class=7)
    assert torch.equal(ignores[:, 3], torch.ones(10)) and ignores.trace() == 1


def _brightness_digits(per_class: int) -> TensorDataset:
    """Toy labelled images whose class is their brightness: class c has mean (c - 4.5) / 5."""
    y = torch.arange(10).repeat(per_class)
    noise = torch.randn(len(y), 1, 28, 28, generator=torch.Generator().manual_seed(0))
    images = ((y.float() - 4.5) / 5)[:, None, None, None] + 0.05 * noise
    return TensorDataset(images.clamp(-1, 1), y)


def _brightness_by_label(G) -> torch.Tensor:
    G.eval()
    with torch.no_grad():
        y = torch.arange(10).repeat_interleave(20)
        x = G(torch.randn(len(y), 64, generator=torch.Generator().manual_seed(0)), y)
    G.train()
    return torch.corrcoef(torch.stack([x.mean(dim=(1, 2, 3)), y.float()]))[0, 1]


def test_cgan_training_teaches_G_to_draw_the_class_it_is_asked_for(one_thread):
    # seeded here: initial weights and the noise come from torch's global generator
    # (~0.99 for seeds 0-4 after 12 epochs; 8 epochs left some seeds at ~0.6)
    torch.manual_seed(0)
    G, D = ConditionalGenerator(), ConditionalDiscriminator()
    before = _brightness_by_label(G)
    run = train_conditional_gan(G, D, _brightness_digits(64), kind="cgan", epochs=12, m=32,
                                progress=False)
    assert before.abs() < 0.5 and _brightness_by_label(G) > 0.9
    assert len(run.snapshots) == 12 and run.snapshots[-1].shape == (100, 1, 28, 28)
    assert run.fixed_labels[:10].tolist() == list(range(10))


def test_acgan_discriminator_learns_to_classify_real_images(one_thread):
    torch.manual_seed(0)
    run = train_conditional_gan(ConditionalGenerator(), ACGANDiscriminator(), _brightness_digits(32),
                                kind="acgan", epochs=6, m=32, progress=False)
    accuracy = run.history.epoch_mean("class_acc_real")
    assert accuracy[0] < 0.5 and accuracy[-1] > 0.7
    assert run.history.epoch_mean("d_loss")[-1] < run.history.epoch_mean("d_loss")[0]


def test_interrupted_conditional_gan_with_ema_and_augmentation_resumes_exactly(tmp_path, one_thread):
    data = _brightness_digits(8)

    def run(checkpoint=None, interrupt=False):
        torch.manual_seed(0)
        G, D = ConditionalGenerator(), ACGANDiscriminator()
        calls = {"n": 0}

        def stop(module, args):
            calls["n"] += 1
            if interrupt and calls["n"] == 9:    # in epoch 2 (4 iterations of 2 G calls each)
                raise KeyboardInterrupt

        handle = G.register_forward_pre_hook(stop)
        try:
            out = train_conditional_gan(G, D, data, kind="acgan", epochs=3, m=20, ema_decay=0.9,
                                        augment="translation", checkpoint=checkpoint, progress=False)
        finally:
            handle.remove()
        return G, out

    G_ref, ref = run()
    ckpt = tmp_path / "acgan.pt"
    with pytest.raises(KeyboardInterrupt):
        run(ckpt, interrupt=True)
    G, resumed = run(ckpt)
    assert all(torch.equal(a, b) for a, b in zip(G_ref.parameters(), G.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(ref.G_ema.parameters(), resumed.G_ema.parameters(), strict=True))
    assert resumed.history.records == ref.history.records
    assert all(torch.equal(a, b) for a, b in zip(ref.snapshots, resumed.snapshots, strict=True))
