import pytest
import torch
from torch.utils.data import TensorDataset

from ganlab.models.dcgan import DCGANGenerator
from ganlab.sgan import (
    SGANDiscriminator,
    accuracy,
    predict,
    split_labelled,
    train_sgan,
    train_supervised,
)


def _digits(n_per_class=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(10).repeat(n_per_class)
    return TensorDataset(torch.rand(len(labels), 1, 28, 28, generator=g) * 2 - 1, labels)


def test_split_keeps_per_class_labels_and_hides_the_rest():
    data = _digits()
    labelled, unlabelled = split_labelled(data, per_class=3, seed=1)
    assert torch.equal(torch.bincount(labelled.tensors[1]), torch.full((10,), 3))
    assert len(unlabelled.tensors) == 1 and len(unlabelled) == len(data) - 30   # images only
    with pytest.raises(ValueError, match="fewer than per_class"):
        split_labelled(data, per_class=13)


def test_predict_reads_the_real_classes_only():
    D = SGANDiscriminator(n_classes=3)
    with torch.no_grad():
        for p in D.head.parameters():
            p.zero_()
        D.head.bias.copy_(torch.tensor([0.0, 1.0, 0.5, 9.0]))    # "fake" is the largest logit
    assert torch.equal(predict(D, torch.zeros(2, 1, 28, 28)), torch.tensor([1, 1]))


def _run(epochs=2, checkpoint=None, loss="feature_matching"):
    torch.manual_seed(0)
    labelled, unlabelled = split_labelled(_digits(), per_class=2)
    G, D = DCGANGenerator("cpu28"), SGANDiscriminator()
    run = train_sgan(G, D, unlabelled, labelled, epochs=epochs, m=16, generator_loss=loss,
                     checkpoint=checkpoint, progress=False, n_snapshots=4)
    return G, D, run


@pytest.mark.parametrize("loss", ["feature_matching", "non_saturating"])
def test_sgan_trains_and_records_both_halves(loss):
    _, D, run = _run(loss=loss)
    assert len(run.history) == 2 * (100 // 16) and len(run.snapshots) == 2
    for key in ("d_supervised", "d_unsupervised", "g_loss", "labelled_acc"):
        assert torch.isfinite(torch.as_tensor(run.history[key])).all(), key
    assert 0.0 <= accuracy(D, _digits(2, seed=3)) <= 1.0


def test_interrupted_sgan_resumes_to_identical_weights(tmp_path):
    G_ref, D_ref, run_ref = _run(epochs=3)
    ckpt = tmp_path / "sgan.pt"
    _run(epochs=2, checkpoint=ckpt)                    # stops after epoch 2 ...
    G, D, run = _run(epochs=3, checkpoint=ckpt)        # ... and resumes into epoch 3
    for a, b in zip([*G_ref.parameters(), *D_ref.parameters()], [*G.parameters(), *D.parameters()], strict=True):
        assert torch.equal(a, b)
    assert run.history.records == run_ref.history.records


def test_supervised_baseline_fits_its_labels():
    torch.manual_seed(0)
    labelled, _ = split_labelled(_digits(), per_class=2)
    D = SGANDiscriminator()
    history = train_supervised(D, labelled, epochs=60, lr=1e-3, progress=False)
    assert history.epoch_mean("loss")[-1] < 0.1 * history.epoch_mean("loss")[0]
    assert accuracy(D, labelled) == 1.0


def test_trainer_errors():
    labelled, unlabelled = split_labelled(_digits(), per_class=2)
    G, D = DCGANGenerator("cpu28"), SGANDiscriminator()
    with pytest.raises(ValueError, match="choose from"):
        train_sgan(G, D, unlabelled, labelled, epochs=1, generator_loss="minimax")
    with pytest.raises(ValueError, match="TensorDataset"):
        train_sgan(G, D, unlabelled, unlabelled, epochs=1)
