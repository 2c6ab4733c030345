"""The plain one-network torch.optim loop the packed trainer must agree with (tests/test_packed.py).

Same point, same data, init, sample order and eval sets as topolearn.train; nothing shared with
its loop: no stacking, no stores, no checkpoints, torch's own optimizers and nn.Module forward.
"""

import torch
import torch.nn.functional as F
from torch import nn

from topolearn.sweep.points import normalize_point
from topolearn.train import conv_layers, epoch_order, load_train_data, model_for_point, score, weight_layers

ACT = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def plain_cnn(p: dict, image_shape: tuple, n_classes: int) -> nn.Sequential:
    """A CNN point's net written out in plain torch (not topolearn's builder): its initial weights
    are loaded from model_for_point strictly, which checks that both have the same layers."""
    c, h, w = (1, *image_shape) if len(image_shape) == 2 else image_shape
    k, act, layers = p["kernel"], ACT[p["activation"]], [nn.Unflatten(1, (c, h, w))]
    for out in p["channels"]:
        layers += [nn.Conv2d(c, out, k, padding=k // 2, bias=p["bias"]), act(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    layers.append(nn.Flatten())
    n = c * h * w
    for _ in range(p["depth"]):
        layers += [nn.Linear(n, p["width"], bias=p["bias"]), act()]
        n = p["width"]
    return nn.Sequential(*layers, nn.Linear(n, n_classes, bias=p["bias"]))


def optimizer(model, p):
    if p["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
    momentum = p["momentum"] if p["optimizer"] == "momentum" else 0
    return torch.optim.SGD(model.parameters(), lr=p["lr"], momentum=momentum, weight_decay=p["weight_decay"])


@torch.no_grad()
def evaluate(model, X, y) -> tuple[float, float]:
    loss, acc = score(model(torch.as_tensor(X)).unsqueeze(0), torch.as_tensor(y))
    return loss.item(), acc.item()


def train_reference(point: dict, data_root="data") -> dict:
    """{"step", "weights/layer{i}", "biases/layer{i}" (a CNN's also "weights/conv{i}", "biases/conv{i}"),
    "test_acc"} per snapshot (numpy) and
    "final_eval" of the point trained alone (a point that does not diverge)."""
    p = normalize_point(point)
    d = load_train_data(p, data_root, torch.device("cpu"))
    model = model_for_point(p, d.X.shape[1], d.n_classes, d.image_shape)
    if p["arch"] == "cnn":
        plain = plain_cnn(p, d.image_shape, d.n_classes)
        plain.load_state_dict(model.state_dict(), strict=True)
        model = plain
    opt = optimizer(model, p)
    rows = []

    def snapshot(step):
        layers = weight_layers(model)
        row = {"step": step, "test_acc": evaluate(model, d.ev.X_test[:d.ev.n_test], d.ev.y_test[:d.ev.n_test])[1]}
        row |= {f"weights/layer{i}": l.weight.detach().clone() for i, l in enumerate(layers)}
        row |= {f"biases/layer{i}": l.bias.detach().clone() for i, l in enumerate(layers) if l.bias is not None}
        for i, c in enumerate(conv_layers(model)):  # a filter per row, as the store holds it
            row[f"weights/conv{i}"] = c.weight.detach().clone().reshape(c.weight.shape[0], -1)
            if c.bias is not None:
                row[f"biases/conv{i}"] = c.bias.detach().clone()
        rows.append(row)

    due, step = set(d.steps), 0
    for epoch in range(p["epochs"]):
        order = epoch_order(p["seed"], epoch, d.n)
        for b in range(d.upe):
            if step in due:
                snapshot(step)
            idx = order[b * d.bs:(b + 1) * d.bs]
            opt.zero_grad()
            F.cross_entropy(model(d.X[idx]), d.y[idx]).backward()
            opt.step()
            step += 1
    snapshot(step)
    out = {k: torch.stack([torch.as_tensor(r[k]) for r in rows]).numpy() for k in rows[0]}
    out["final_eval"] = {}
    for split, X, y in (("train", d.X, d.y), ("test", d.X_test, d.y_test)):
        out["final_eval"][f"{split}_loss"], out["final_eval"][f"{split}_acc"] = evaluate(model, X, y)
    return out
