"""ganlab.inference: running a network without changing it."""

import pytest
import torch

from ganlab.inference import batched, evaluating, module_device


def test_evaluating_restores_each_mode_even_after_an_error():
    a, b = torch.nn.Dropout(0.5).train(), torch.nn.BatchNorm1d(2).eval()
    with pytest.raises(RuntimeError, match="inside"):
        with evaluating(a, b):
            assert not a.training and not b.training and not torch.is_grad_enabled()
            raise RuntimeError("inside")
    assert a.training and not b.training and torch.is_grad_enabled()
    with evaluating(a, grad=True):
        assert torch.is_grad_enabled()


def test_batched_slices_several_tensors_alike():
    z, y = torch.randn(1234, 3), torch.arange(1234) % 7
    layer = torch.nn.Linear(3, 2)
    out = batched(lambda z, y: layer(z) + y[:, None], z, y, batch_size=100)
    assert torch.allclose(out, (layer(z) + y[:, None]).detach()) and not out.requires_grad
    with pytest.raises(ValueError, match="one length"):
        batched(lambda z, y: z, z, y[:-1])
    assert module_device(layer) == torch.device("cpu") == module_device(torch.nn.ReLU())
