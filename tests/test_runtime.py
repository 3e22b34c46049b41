import pytest
import torch

from ganlab import runtime


@pytest.mark.parametrize("value, expected", [("", False), ("0", False), ("1", True),
                                             ("true", True), ("Yes", True), ("off", False)])
def test_fast_mode_reads_environment(monkeypatch, value, expected):
    monkeypatch.setenv("GANLAB_FAST", value)
    assert runtime.fast_mode() is expected
    assert runtime.choose("default", "fast") == ("fast" if expected else "default")


def test_fast_mode_rejects_garbage(monkeypatch):
    monkeypatch.setenv("GANLAB_FAST", "maybe")
    with pytest.raises(ValueError, match="GANLAB_FAST must be"):
        runtime.fast_mode()


def test_seed_everything_reproduces_numbers():
    import random

    import numpy as np

    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    runtime.seed_everything(123)
    a = draw()
    runtime.seed_everything(123)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    runtime.seed_everything(124)
    assert not torch.equal(draw()[2], a[2])
    with pytest.raises(ValueError, match="non-negative int"):
        runtime.seed_everything(-1)


def test_rng_state_round_trip():
    runtime.seed_everything(0)
    state = runtime.rng_state()
    first = torch.rand(4)
    runtime.set_rng_state(state)
    assert torch.equal(torch.rand(4), first)


def test_pick_device(monkeypatch):
    assert runtime.pick_device("cpu") == torch.device("cpu")
    assert runtime.pick_device().type in ("cpu", "cuda", "mps")
    monkeypatch.setenv("GANLAB_DEVICE", "cpu")
    assert runtime.pick_device() == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available here; available"):
            runtime.pick_device("cuda")


def test_same_weights_is_bit_exact_and_checks_every_entry():
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    b = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    assert not runtime.same_weights(a, b)                 # different initial draws
    b.load_state_dict(a.state_dict())
    assert runtime.same_weights(a, b)
    with torch.no_grad():
        b[0].weight[0, 0] += 1e-7                         # one ulp-sized change is a difference
    assert not runtime.same_weights(a, b)
    b.load_state_dict(a.state_dict())
    b[1].running_mean += 1.0                              # buffers count, not only parameters
    assert not runtime.same_weights(a, b)
    assert not runtime.same_weights(a, torch.nn.Sequential(torch.nn.Linear(3, 2)))   # missing entries
