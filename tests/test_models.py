"""Network construction and init schemes (seeded, deterministic)."""

import math

import pytest
import torch
from torch import nn

from topolearn.train.models import build_model, init_model, model_for_point, weight_layers
from topolearn.sweep.points import normalize_point


def net(init, depth=2, n_in=784, width=100, activation="sigmoid", bias=False, seed=0, **kw):
    return init_model(build_model(n_in, 10, depth, width, activation, bias), init, seed=seed,
                      activation=activation, **kw)


def test_architecture():
    m = build_model(784, 10, 2, 100, "tanh", bias=False)
    assert [tuple(l.weight.shape) for l in weight_layers(m)] == [(100, 784), (100, 100), (10, 100)]
    assert all(l.bias is None for l in weight_layers(m))
    assert [type(x) for x in m] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    lin = build_model(64, 10, 0, None, None, bias=True)  # depth 0: softmax regression
    assert len(lin) == 1 and lin[0].weight.shape == (10, 64) and lin[0].bias.shape == (10,)
    assert isinstance(build_model(64, 10, 3, 8, "relu", True)[5], nn.ReLU)


def test_zero_is_all_zeros():
    m = net("zero", bias=True)
    assert all(torch.count_nonzero(p) == 0 for p in m.parameters())


def test_normal_std_within_tolerance():
    w = weight_layers(net("normal", std=1e-6))[0].weight  # 78,400 draws: std error ~0.25 %
    assert w.std().item() == pytest.approx(1e-6, rel=0.02)
    assert abs(w.mean().item()) < 1e-8


@pytest.mark.parametrize("activation,gain", [("relu", math.sqrt(2)), ("tanh", 5 / 3), ("sigmoid", 1.0)])
def test_kaiming_and_xavier_scales(activation, gain):
    ly = weight_layers(net("kaiming", activation=activation))
    assert ly[0].weight.std().item() == pytest.approx(gain / math.sqrt(784), rel=0.03)
    assert ly[2].weight.std().item() == pytest.approx(1 / math.sqrt(100), rel=0.15)  # output: linear gain
    lx = weight_layers(net("xavier", activation=activation))
    assert lx[0].weight.std().item() == pytest.approx(gain * math.sqrt(2 / (784 + 100)), rel=0.03)


def test_orthogonal_rows_orthonormal():
    ly = weight_layers(net("orthogonal", n_in=64, width=32))
    for w in (ly[0].weight, ly[1].weight, ly[2].weight):  # (32, 64), (32, 32), (10, 32): rows <= cols
        torch.testing.assert_close(w @ w.T, torch.eye(w.shape[0]), atol=1e-5, rtol=0)
    tall = weight_layers(net("orthogonal", n_in=16, width=40))[0].weight  # (40, 16): columns orthonormal
    torch.testing.assert_close(tall.T @ tall, torch.eye(16), atol=1e-5, rtol=0)


def test_noise_breaks_zero_symmetry():
    m = net("zero", bias=True, noise=1e-8)
    ly = weight_layers(m)
    w = ly[0].weight
    assert w.std().item() == pytest.approx(1e-8, rel=0.02)
    assert len(torch.unique(w, dim=0)) == w.shape[0]  # every hidden neuron distinct
    assert all(torch.count_nonzero(l.bias) == l.bias.numel() for l in ly)
    assert torch.count_nonzero(weight_layers(net("zero", bias=True))[0].weight) == 0


def test_seeded_and_deterministic():
    a = [p.clone() for p in net("kaiming", seed=3, noise=1e-3).parameters()]
    b = list(net("kaiming", seed=3, noise=1e-3).parameters())
    c = list(net("kaiming", seed=4, noise=1e-3).parameters())
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_model_for_point_follows_the_point():
    p = normalize_point({"dataset": "digits", "depth": 1, "width": 5, "init": "zero", "init_noise": 0.5,
                         "bias": True, "activation": "relu"})
    m = model_for_point(p, 64)
    assert [tuple(l.weight.shape) for l in weight_layers(m)] == [(5, 64), (10, 5)]
    assert isinstance(m[1], nn.ReLU) and m[0].bias is not None
    assert torch.count_nonzero(m[0].weight) == 5 * 64  # the noise was applied


def test_unknown_init():
    with pytest.raises(ValueError, match="unknown init 'ones'"):
        net("ones")
