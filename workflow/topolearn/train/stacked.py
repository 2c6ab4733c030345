"""P networks of one architecture as stacked tensors, and their per-network update rules.

Parameters are stacked, (P, out, in) per layer, and every update is a few batched matmuls for all
P networks. Each network keeps what makes it itself: its init (models.model_for_point on its own
seed), its data order, its lr, momentum and weight decay. The loss is the sum over networks of each
one's batch-mean cross-entropy, so each network's gradient is its own. Stock torch optimizers take
one lr per parameter tensor, hence the update rules below (SGD, momentum, Adam; weight decay added
to the gradient as torch does), tested against torch.optim.
"""

import math

import torch
import torch.nn.functional as F

from .evaluation import EVAL_BATCH
from .models import ACTIVATIONS, weight_layers

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults (make_optimizer uses them)


class StackedMLP:
    """P networks of one architecture: weights[l] (P, out, in), biases[l] (P, out) or None."""

    def __init__(self, weights: list, biases: list | None, activation: str | None):
        self.weights = [w.requires_grad_() for w in weights]
        self.biases = [b.requires_grad_() for b in biases] if biases is not None else None
        self.act = ACTIVATIONS[activation]() if activation else None  # torch.sigmoid, tanh or relu

    @classmethod
    def from_models(cls, models, activation, device) -> "StackedMLP":
        layers = [weight_layers(m) for m in models]
        stack = lambda get: [torch.stack([get(ls[i]) for ls in layers]).to(device)  # noqa: E731
                             for i in range(len(layers[0]))]
        biases = stack(lambda l: l.bias.detach()) if layers[0][0].bias is not None else None
        return cls(stack(lambda l: l.weight.detach()), biases, activation)

    @property
    def params(self) -> list[torch.Tensor]:
        """In nn.Sequential's order (layer0 weight, layer0 bias, layer1 weight, ...)."""
        if self.biases is None:
            return list(self.weights)
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (P, B, d) -> logits (P, B, classes)."""
        last = len(self.weights) - 1
        for i, w in enumerate(self.weights):
            if self.biases is None:
                x = torch.bmm(x, w.transpose(1, 2))
            else:
                x = torch.baddbmm(self.biases[i].unsqueeze(1), x, w.transpose(1, 2))
            if i < last:
                x = self.act(x)
        return x

    @torch.no_grad()
    def logits(self, X: torch.Tensor) -> torch.Tensor:
        """Every network on the same samples X (N, d): (P, N, classes), in bounded chunks."""
        P = len(self.weights[0])
        rows = max(1, 4 * EVAL_BATCH // P)
        return torch.cat([self.forward(X[i:i + rows].expand(P, -1, -1)) for i in range(0, len(X), rows)], dim=1)

    def select(self, keep: torch.Tensor) -> None:
        self.weights = [w.detach()[keep].requires_grad_() for w in self.weights]
        if self.biases is not None:
            self.biases = [b.detach()[keep].requires_grad_() for b in self.biases]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class StackedOptimizer:
    """SGD, SGD with momentum or Adam over stacked parameters, with per-network hyperparameters.

    Mirrors torch.optim's single-tensor updates: L2 weight decay is added to the gradient; momentum
    buffers start as the first gradient (no dampening); Adam's step count is shared (all networks
    of a group have made the same number of updates).
    """

    def __init__(self, kind: str, params: list, lr, momentum, weight_decay, states: list[dict] | None = None):
        if kind not in ("sgd", "momentum", "adam"):
            raise ValueError(f"unknown optimizer {kind!r} (allowed: sgd, momentum, adam)")
        dev = params[0].device
        as_t = lambda v: torch.as_tensor(v, dtype=params[0].dtype, device=dev)  # noqa: E731
        self.kind, self.params = kind, params
        self.lr, self.momentum, self.wd = as_t(lr), as_t(momentum), as_t(weight_decay)
        self.decay = bool((self.wd != 0).any())
        self.state: list[dict] = [{} for _ in params]
        self.n_steps = 0
        if states:
            self._load(states)

    @staticmethod
    def _per_net(v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return v.view((-1,) + (1,) * (p.dim() - 1))

    @torch.no_grad()
    def step(self) -> None:
        if self.kind == "adam":
            self.n_steps += 1
        for p, st in zip(self.params, self.state):
            g = p.grad
            if self.decay:
                g = g + self._per_net(self.wd, p) * p
            lr = self._per_net(self.lr, p)
            if self.kind == "sgd":
                p.sub_(lr * g)
            elif self.kind == "momentum":
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = st["momentum_buffer"] = g.clone()
                else:
                    buf.mul_(self._per_net(self.momentum, p)).add_(g)
                p.sub_(lr * buf)
            else:
                self._adam(p, g, st, lr)

    def _adam(self, p, g, st, lr) -> None:
        (b1, b2), t = ADAM_BETAS, self.n_steps
        if "exp_avg" not in st:
            st["exp_avg"], st["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m.lerp_(g, 1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        denom = (v.sqrt() / math.sqrt(1 - b2 ** t)).add_(ADAM_EPS)
        p.sub_((lr / (1 - b1 ** t)) * m / denom)

    def select(self, keep: torch.Tensor, params: list) -> None:
        self.params = params
        for name, v in (("lr", self.lr), ("momentum", self.momentum), ("wd", self.wd)):
            setattr(self, name, v[keep])
        self.state = [{k: t[keep] for k, t in st.items()} for st in self.state]

    # torch's state_dict format, per network: a checkpoint resumes in a pack of any size

    def member_state(self, i: int) -> dict:
        if self.kind == "momentum" and float(self.momentum[i]) == 0:
            return {}  # torch keeps no buffer without momentum
        out = {}
        for j, st in enumerate(self.state):
            if st:
                out[j] = {k: t[i].detach().cpu().clone() for k, t in st.items()}
                if self.kind == "adam":
                    out[j]["step"] = torch.tensor(float(self.n_steps))
        return out

    def _load(self, states: list[dict]) -> None:
        for j, p in enumerate(self.params):
            keys = {k for s in states for k in s.get(j, {}) if k != "step"}
            for k in sorted(keys):  # a network without a buffer (momentum 0) gets zeros: same updates
                self.state[j][k] = torch.stack([s[j][k] if k in s.get(j, {}) else torch.zeros(p.shape[1:])
                                                for s in states]).to(p.device, p.dtype)
        steps = {int(s[j]["step"]) for s in states for j in s if "step" in s[j]}
        if len(steps) > 1:
            raise ValueError(f"networks of one group made different numbers of Adam steps: {sorted(steps)}")
        self.n_steps = steps.pop() if steps else 0


def packed_update(stack: StackedMLP, opt: StackedOptimizer, X: torch.Tensor, y: torch.Tensor,
                  idx: torch.Tensor) -> torch.Tensor:
    """One update of every network on its own batch X[idx[i]] (idx: (P, bs)); the (P,) losses."""
    logits = stack.forward(X[idx])
    P, B, C = logits.shape
    loss = F.cross_entropy(logits.reshape(P * B, C), y[idx].reshape(P * B), reduction="none").view(P, B).mean(1)
    stack.zero_grad()
    loss.sum().backward()  # each network's gradient is that of its own mean loss
    opt.step()
    return loss.detach()



def make_optimizer(model: torch.nn.Module, point: dict) -> torch.optim.Optimizer:
    """The torch.optim optimizer a network's row of StackedOptimizer mirrors: its state_dict format
    is the checkpoint's (member_state fills its state)."""
    params, lr, wd = model.parameters(), point["lr"], point["weight_decay"]
    if point["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd)
    if point["optimizer"] == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=point["momentum"], weight_decay=wd)
    if point["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {point['optimizer']!r} (allowed: sgd, momentum, adam)")
