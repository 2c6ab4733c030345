"""The classifiers of sweep points and their (seeded, deterministic) initialisation.

An MLP point's net is Linear -> activation, `depth` times, then a Linear output layer whose logits
go to softmax + cross-entropy. A CNN point's net (topolearn.sweep.arch) takes the same flattened
samples, unflattens them to (channels, h, w), then Conv2d (same padding) -> 2x2 max pool ->
activation per `channels` entry, flattens, and continues as an MLP. Pooling before the activation
gives the textbook conv -> activation -> pool's values (max pooling commutes with a monotone
activation; for ReLU the gradients too) at a quarter of the activation's cost. `weight_layers(model)[i]` is the
store's `layer{i}` (its `.weight` row n holds neuron n's incoming weights); `conv_layers(model)[i]`
is the store's `conv{i}` (filter f's weights, in_channels x kernel x kernel, flattened, are row f).
"""

import torch
from torch import nn

from ..sweep.arch import POOL, conv_shapes, dense_inputs, image_chw, is_cnn

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


def build_cnn(image_shape: tuple, n_classes: int, channels: list, kernel: int, depth: int, width: int | None,
              activation: str, bias: bool) -> nn.Sequential:
    """Conv stages of `channels` on flattened samples of `image_shape`, then as build_model."""
    point = {"arch": "cnn", "channels": channels, "kernel": kernel}
    layers = [nn.Unflatten(1, image_chw(image_shape))]
    for c_out, c_in, k, _ in conv_shapes(point, image_shape):
        layers += [nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias), nn.MaxPool2d(POOL), ACTIVATIONS[activation]()]
    layers.append(nn.Flatten())
    n_in = dense_inputs(point, image_shape)
    return nn.Sequential(*layers, *build_model(n_in, n_classes, depth, width, activation, bias))


def weight_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers, first hidden first, output last (the store's layer0..layerN)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def conv_layers(model: nn.Module) -> list[nn.Conv2d]:
    """The Conv2d layers, first first (the store's conv0..convM); none in an MLP."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


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
    # in the model's order (a CNN's conv layers first): an MLP's draws are those it always had
    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
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


def model_for_point(point: dict, n_in: int, n_classes: int = 10, image_shape: tuple | None = None) -> nn.Sequential:
    """The point's network, initialised from its seed (identical for identical points). A CNN point
    needs its data's `image_shape` (one sample's, as the dataset registry has it)."""
    if is_cnn(point):
        model = build_cnn(image_shape, n_classes, point["channels"], point["kernel"], point["depth"], point["width"],
                          point["activation"], point["bias"])
    else:
        model = build_model(n_in, n_classes, point["depth"], point["width"], point["activation"], point["bias"])
    return init_model(model, point["init"], seed=point["seed"], activation=point["activation"],
                      std=point["init_std"], noise=point["init_noise"] or 0.0)
