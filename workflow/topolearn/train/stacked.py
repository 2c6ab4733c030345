"""P networks of one architecture as stacked tensors, and their per-network update rules.

Parameters are stacked, (P, out, in) per dense layer and (P, filters, in_channels, k, k) per conv
layer, and every update is a few batched matmuls (and convolutions) for all P networks. Each network keeps what makes it itself: its init (models.model_for_point on its own
seed), its data order, its lr, momentum and weight decay. The loss is the sum over networks of each
one's batch-mean cross-entropy, so each network's gradient is its own. Stock torch optimizers take
one lr per parameter tensor, hence the update rules below (SGD, momentum, Adam; weight decay added
to the gradient as torch does), tested against torch.optim.
"""

import copy
import math

import torch
import torch.nn.functional as F

from torch import nn

from .evaluation import EVAL_BATCH
from .models import ACTIVATIONS, conv_layers, weight_layers

ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults (make_optimizer uses them)
# Conv layers of a pack: one grouped convolution (the P nets' channels side by side, groups=P) while
# a net's batch of maps is small (per-call overhead dominates: 32 digits CNNs train 6-8x faster than
# one at a time on one CPU thread); above, each net in turn makes its whole update (forward and
# backward) on its own (oneDNN's grouped backward is slower than P plain ones on large maps, and one
# net's maps are held at a time, not all P nets' for one backward pass: ~6 MB instead of ~1 GB for 32
# Fashion-MNIST CNNs [16, 32]). Maps are kept channels-last: CPU max pooling is several times
# faster on them than on NCHW maps.
# Measured on one thread (benchmarks/bench_cnn.py); CUDA always groups. Both compute the same sums;
# which one runs depends on the net's batch shape only, not on P, so a net trains the same way
# alone as in a pack.
GROUPED_MAX = 2 ** 13  # largest per-net batch x height x width convolved grouped on CPU
EVAL_CONV_FLOATS = 2 ** 26  # bound on a conv layer's output (floats) per evaluation chunk


def conv_stage(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, act) -> torch.Tensor:
    """Conv (same padding) -> 2x2 max pool -> activation of every net on its own maps (as
    models.build_cnn): h (P, B, C, H, W), w (P, O, C, k, k), b (P, O) -> (P, B, O, H // 2, W // 2)."""
    P, B, C, H, W = h.shape
    pad = w.shape[-1] // 2
    if grouped(h.device, B, H, W):
        g = h.transpose(0, 1).reshape(B, P * C, H, W).contiguous(memory_format=torch.channels_last)
        out = F.conv2d(g, w.reshape(P * w.shape[1], *w.shape[2:]), None if b is None else b.reshape(-1),
                       padding=pad, groups=P)
        out = act(F.max_pool2d(out, 2))
        return out.reshape(B, P, w.shape[1], *out.shape[2:]).transpose(0, 1)
    outs = [act(F.max_pool2d(channels_last(F.conv2d(h[i], w[i], None if b is None else b[i], padding=pad)), 2))
            for i in range(P)]
    return outs[0].unsqueeze(0) if P == 1 else torch.stack(outs)  # one net's maps stay channels-last


class _ToChannelsLast(torch.autograd.Function):
    """x as channels-last; its gradient back in x's own layout, which the convolution that made x
    takes directly (oneDNN's backward of a convolution with NCHW input and a channels-last gradient
    converts back and forth, at about twice the cost)."""

    @staticmethod
    def forward(ctx, x):
        return x.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx, g):
        return g.contiguous()


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """Maps (B, C, H, W) channels-last (a convolution of one-channel input returns NCHW maps)."""
    return x if x.is_contiguous(memory_format=torch.channels_last) else _ToChannelsLast.apply(x)


def grouped(device: torch.device, batch: int, h: int, w: int) -> bool:
    """Whether a conv layer of a net's batch (batch, channels, h, w) is convolved grouped in a pack."""
    return device.type == "cuda" or batch * h * w <= GROUPED_MAX


class StackedNet:
    """P networks of one architecture: convs[l] (P, filters, in_channels, k, k) and conv_biases[l]
    (P, filters) of a CNN (empty for an MLP), then weights[l] (P, out, in), biases[l] (P, out);
    biases None without bias. `image`: a CNN's (channels, h, w) of one flattened input sample."""

    def __init__(self, weights: list, biases: list | None, activation: str | None, convs: list = (),
                 conv_biases: list | None = None, image: tuple | None = None):
        self.weights = [w.requires_grad_() for w in weights]
        self.biases = [b.requires_grad_() for b in biases] if biases is not None else None
        self.convs = [w.requires_grad_() for w in convs]
        self.conv_biases = [b.requires_grad_() for b in conv_biases] if conv_biases is not None else None
        self.image = tuple(image) if image is not None else None
        self.activation = activation
        self.act = ACTIVATIONS[activation]() if activation else None  # torch.sigmoid, tanh or relu

    @classmethod
    def from_models(cls, models, activation, device) -> "StackedNet":
        def stack(layers, get):
            return [torch.stack([get(ls[i]).detach() for ls in layers]).to(device) for i in range(len(layers[0]))]

        layers, convs = [weight_layers(m) for m in models], [conv_layers(m) for m in models]
        has_bias = layers[0][0].bias is not None
        image = next((tuple(u.unflattened_size) for u in models[0].modules() if isinstance(u, nn.Unflatten)), None)
        return cls(stack(layers, lambda l: l.weight), stack(layers, lambda l: l.bias) if has_bias else None,
                   activation, stack(convs, lambda l: l.weight) if convs[0] else [],
                   stack(convs, lambda l: l.bias) if convs[0] and has_bias else None, image)

    @property
    def params(self) -> list[torch.Tensor]:
        """In nn.Sequential's order (conv0 weight, conv0 bias, ..., layer0 weight, layer0 bias, ...)."""
        def pairs(ws, bs):
            return list(ws) if bs is None else [p for pair in zip(ws, bs) for p in pair]

        return pairs(self.convs, self.conv_biases) + pairs(self.weights, self.biases)

    def arrays(self) -> tuple[dict, dict]:
        """({store name: (P, ...) numpy}, same for biases): `conv{i}` as (P, filters, in_channels*k*k)
        (a filter per row, as a neuron per row of `layer{i}`), then `layer{i}` (P, out, in)."""
        np_ = lambda t: t.detach().cpu().numpy()  # noqa: E731
        weights = {f"conv{i}": np_(w).reshape(w.shape[0], w.shape[1], -1) for i, w in enumerate(self.convs)}
        weights |= {f"layer{i}": np_(w) for i, w in enumerate(self.weights)}
        biases = {}
        if self.conv_biases is not None:
            biases |= {f"conv{i}": np_(b) for i, b in enumerate(self.conv_biases)}
        if self.biases is not None:
            biases |= {f"layer{i}": np_(b) for i, b in enumerate(self.biases)}
        return weights, biases

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x (P, B, d) -> the input of the first dense layer (P, B, features): x itself for an MLP."""
        if not self.convs:
            return x
        P, B = x.shape[:2]
        h = x.reshape(P, B, *self.image)
        for i, w in enumerate(self.convs):
            h = conv_stage(h, w, None if self.conv_biases is None else self.conv_biases[i], self.act)
        return h.reshape(P, B, -1)  # (channel, row, column) per sample, as nn.Flatten

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (P, B, d) -> logits (P, B, classes)."""
        x = self.features(x)
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
        if self.convs:  # conv maps dominate: bound the first layer's output per chunk
            rows = max(1, min(rows, EVAL_CONV_FLOATS // (P * self.convs[0].shape[1] * self.image[1] * self.image[2])))
        return torch.cat([self.forward(X[i:i + rows].expand(P, -1, -1)) for i in range(0, len(X), rows)], dim=1)

    def select(self, keep: torch.Tensor) -> None:
        pick = lambda ts: [t.detach()[keep].requires_grad_() for t in ts]  # noqa: E731
        self.weights, self.convs = pick(self.weights), pick(self.convs)
        if self.biases is not None:
            self.biases = pick(self.biases)
        if self.conv_biases is not None:
            self.conv_biases = pick(self.conv_biases)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def one_by_one(self, batch: int, device: torch.device) -> bool:
        """Whether an update runs each net's forward and backward in turn (large conv maps)."""
        return bool(self.convs) and not grouped(device, batch, *self.image[1:])

    def member(self, i: int) -> tuple["StackedNet", list[torch.Tensor]]:
        """Net i as a pack of one whose parameters are leaf views of this pack's (i:i+1): its
        gradients are its own, with no pack-sized gradient per net."""
        net = copy.copy(self)
        views = lambda ts: [t.detach()[i:i + 1].requires_grad_() for t in ts]  # noqa: E731
        net.weights, net.convs = views(self.weights), views(self.convs)
        net.biases = views(self.biases) if self.biases is not None else None
        net.conv_biases = views(self.conv_biases) if self.conv_biases is not None else None
        return net, net.params


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


def packed_update(stack: StackedNet, opt: StackedOptimizer, X: torch.Tensor, y: torch.Tensor,
                  idx: torch.Tensor) -> torch.Tensor:
    """One update of every network on its own batch X[idx[i]] (idx: (P, bs)); the (P,) losses."""
    if not stack.convs:
        return _dense_update(stack, opt, X, y, idx)
    if stack.one_by_one(idx.shape[1], X.device):
        return _update_one_by_one(stack, opt, X, y, idx)
    logits = stack.forward(X[idx])
    P, B, C = logits.shape
    loss = F.cross_entropy(logits.reshape(P * B, C), y[idx].reshape(P * B), reduction="none").view(P, B).mean(1)
    stack.zero_grad()
    loss.sum().backward()  # each network's gradient is that of its own mean loss
    opt.step()
    return loss.detach()


# Derivative of each activation from its output (what autograd's sigmoid, tanh and threshold
# backward compute).
_ACTIVATION_GRAD = {"sigmoid": lambda h: h * (1 - h), "tanh": lambda h: 1 - h * h,
                    "relu": lambda h: (h > 0).to(h.dtype)}


@torch.no_grad()
def _dense_update(stack: StackedNet, opt: StackedOptimizer, X, y, idx) -> torch.Tensor:
    """packed_update of a dense stack with its backward pass written out: the same gradients as
    autograd of the summed batch-mean cross-entropies (a network's is (softmax - onehot) / batch,
    back through its layers), in about 40 % less time per update on CPU (docs/training.md). A pack's
    networks are tiny, so autograd's per-operation overhead counts, and torch's CPU softmax and
    cross-entropy over 10 classes take several times longer than these few elementwise operations."""
    x, t = X[idx], y[idx].unsqueeze(2)  # (P, B, d), (P, B, 1)
    hs, last = [x], len(stack.weights) - 1
    for i, w in enumerate(stack.weights):
        b = None if stack.biases is None else stack.biases[i]
        z = torch.bmm(hs[-1], w.transpose(1, 2)) if b is None else torch.baddbmm(b.unsqueeze(1), hs[-1], w.transpose(1, 2))
        if i < last:
            hs.append(stack.act(z))
    m = z.amax(2, keepdim=True)
    d = (z - m).exp_()
    s = d.sum(2, keepdim=True)
    loss = (s.log().add_(m) - z.gather(2, t)).squeeze(2).mean(1)  # logsumexp - the true class's logit
    d.div_(s).scatter_add_(2, t, torch.full_like(t, -1, dtype=d.dtype)).div_(d.shape[1])  # dloss/dz
    for i in range(last, -1, -1):
        stack.weights[i].grad = torch.bmm(d.transpose(1, 2), hs[i])
        if stack.biases is not None:
            stack.biases[i].grad = d.sum(1)
        if i:
            d = torch.bmm(d, stack.weights[i]).mul_(_ACTIVATION_GRAD[stack.activation](hs[i]))
    opt.step()
    return loss


def _update_one_by_one(stack: StackedNet, opt: StackedOptimizer, X, y, idx) -> torch.Tensor:
    """packed_update with each net's forward and backward in turn: one net's maps alive at a time."""
    grads = [torch.empty_like(p) for p in stack.params]
    losses = torch.empty(len(idx), dtype=X.dtype, device=X.device)
    for i in range(len(idx)):
        net, params = stack.member(i)
        loss = F.cross_entropy(net.forward(X[idx[i]].unsqueeze(0))[0], y[idx[i]])
        for g, gi in zip(grads, torch.autograd.grad(loss, params)):
            g[i:i + 1] = gi
        losses[i] = loss.detach()
    for p, g in zip(stack.params, grads):
        p.grad = g
    opt.step()
    return losses



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
