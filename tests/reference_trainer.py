"""The plain one-network torch.optim loop the packed trainer must agree with (tests/test_packed.py).

Same point, same data, init, sample order and eval sets as topolearn.train; nothing shared with
its loop: no stacking, no stores, no checkpoints, torch's own optimizers and nn.Module forward.
"""

import torch
import torch.nn.functional as F

from topolearn.sweep.points import normalize_point
from topolearn.train import epoch_order, load_train_data, model_for_point, score, weight_layers


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
    """{"step", "weights/layer{i}", "biases/layer{i}", "test_acc"} per snapshot (numpy) and
    "final_eval" of the point trained alone (a point that does not diverge)."""
    p = normalize_point(point)
    d = load_train_data(p, data_root, torch.device("cpu"))
    model = model_for_point(p, d.X.shape[1], d.n_classes)
    opt = optimizer(model, p)
    rows = []

    def snapshot(step):
        layers = weight_layers(model)
        row = {"step": step, "test_acc": evaluate(model, d.ev.X_test[:d.ev.n_test], d.ev.y_test[:d.ev.n_test])[1]}
        row |= {f"weights/layer{i}": l.weight.detach().clone() for i, l in enumerate(layers)}
        row |= {f"biases/layer{i}": l.bias.detach().clone() for i, l in enumerate(layers) if l.bias is not None}
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
