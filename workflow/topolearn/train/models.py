"""Fully connected classifiers and their (seeded, deterministic) initialisation.

A point's net is Linear -> activation, `depth` times, then a Linear output layer whose logits go
to softmax + cross-entropy. `weight_layers(model)[i]` is the store's `layer{i}`; its `.weight` row
n holds neuron n's incoming weights.
"""

import torch
from torch import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
INITS = ("zero", "normal", "kaiming", "xavier", "orthogonal")


def build_model(n_in: int, n_classes: int, depth: int, width: int | None, activation: str | None,
                bias: bool) -> nn.Sequential:
    """`depth` hidden layers of `width` neurons; depth 0 is softmax regression."""
    layers, fan_in = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width, bias=bias), ACTIVATIONS[activation]()]
        fan_in = width
    layers.append(nn.Linear(fan_in, n_classes, bias=bias))
    return nn.Sequential(*layers)


def weight_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers, first hidden first, output last (the store's layer0..layerN)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def _gain_name(activation: str | None, is_output: bool) -> str:
    # The output layer feeds softmax directly: no nonlinearity to compensate for.
    return "linear" if is_output or activation is None else activation


@torch.no_grad()
def init_model(model: nn.Module, init: str, *, seed: int, activation: str | None = None,
               std: float | None = None, noise: float = 0.0) -> nn.Module:
    """Initialise every weight with `init`, biases with zeros, then add N(0, noise^2) to all.

    zero: all zeros (hidden neurons stay identical in exact arithmetic; see docs/learning_graphs.md).
    normal: N(0, std^2) (the paper's "tiny" init is std 1e-6).
    kaiming / xavier: normal variants with the activation's gain; orthogonal: gain 1, so rows
    (or columns, whichever are fewer) are orthonormal.
    noise > 0: explicit symmetry breaking, drawn after the init from the same generator.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r} (allowed: {', '.join(INITS)})")
    gen = torch.Generator().manual_seed(int(seed))
    layers = weight_layers(model)
    for i, layer in enumerate(layers):
        w = layer.weight
        gain = _gain_name(activation, i == len(layers) - 1)
        if init == "zero":
            nn.init.zeros_(w)
        elif init == "normal":
            nn.init.normal_(w, 0.0, float(std), generator=gen)
        elif init == "kaiming":
            nn.init.kaiming_normal_(w, nonlinearity=gain, generator=gen)
        elif init == "xavier":
            nn.init.xavier_normal_(w, gain=nn.init.calculate_gain(gain), generator=gen)
        else:
            nn.init.orthogonal_(w, gain=1.0, generator=gen)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    if noise > 0:
        for layer in layers:
            for p in (layer.weight, layer.bias):
                if p is not None:
                    p.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * noise)
    return model


def model_for_point(point: dict, n_in: int, n_classes: int = 10) -> nn.Sequential:
    """The point's network, initialised from its seed (identical for identical points)."""
    model = build_model(n_in, n_classes, point["depth"], point["width"], point["activation"], point["bias"])
    return init_model(model, point["init"], seed=point["seed"], activation=point["activation"],
                      std=point["init_std"], noise=point["init_noise"] or 0.0)
