"""A point's architecture: a fully connected net (`arch: mlp`) or a convolutional one (`arch: cnn`),
its layer geometry and the refusals of a CNN point that cannot be built (docs/cnn.md).

A CNN is, per entry c of `channels`: conv kernel x kernel with c filters, "same" padding (kernel // 2
on each side: the feature map keeps its size), the activation, 2x2 max pooling (stride 2, the size
halves, rounded down); then the feature map flattened (channel, row, column) into `depth` dense
hidden layers of `width` and the output layer, exactly as an MLP on those features.

Light (no torch, no numpy): the config's checks and the job-size estimates use it while planning.
"""

import math

ARCHS = ("mlp", "cnn")
CNN_FIELDS = ("channels", "kernel")  # fields of CNN points only; None on MLP points
CNN_DEFAULTS = {"kernel": 3}
POOL = 2  # every conv layer is followed by 2x2 max pooling with stride 2
MIN_MAP = 2  # the feature map after the last pooling stage is at least 2x2


def is_cnn(point: dict) -> bool:
    return point.get("arch") == "cnn"


def image_chw(image_shape: tuple) -> tuple[int, int, int] | None:
    """(channels, height, width) of a sample shape: (h, w) is one channel; (c, h, w) as is; else None."""
    if len(image_shape) == 2:
        return (1, *image_shape)
    if len(image_shape) == 3:
        return tuple(image_shape)
    return None


def feature_maps(point: dict, image_shape: tuple) -> list[tuple[int, int, int]]:
    """(channels, h, w) of the input and after each conv stage (after its pooling)."""
    c, h, w = image_chw(image_shape)
    out = [(c, h, w)]
    for ch in point["channels"]:
        h, w = h // POOL, w // POOL
        out.append((ch, h, w))
    return out


def conv_shapes(point: dict, image_shape: tuple) -> list[tuple[int, int, int, int]]:
    """(filters, in_channels, kernel, kernel) of every conv layer, first first (torch's Conv2d.weight)."""
    if not is_cnn(point):
        return []
    k, ins = point["kernel"], [image_chw(image_shape)[0]] + list(point["channels"][:-1])
    return [(c, i, k, k) for c, i in zip(point["channels"], ins)]


def dense_inputs(point: dict, image_shape: tuple) -> int:
    """Inputs of the first dense layer: the flattened last feature map of a CNN, the pixels of an MLP."""
    if not is_cnn(point):
        return math.prod(image_shape)
    return math.prod(feature_maps(point, image_shape)[-1])


def conv_activation_floats(point: dict, image_shape: tuple) -> int:
    """Floats one sample's conv stages hold for the backward pass (conv output, activation, pooled
    map per stage): what dominates a CNN's training memory."""
    maps = feature_maps(point, image_shape)
    return sum(2 * c * h_in * w_in + c * h * w
               for (_, h_in, w_in), (c, h, w) in zip(maps[:-1], maps[1:]))


def conv_flops(point: dict, image_shape: tuple) -> int:
    """Multiply-adds x 2 of one sample's forward pass through the conv layers."""
    maps = feature_maps(point, image_shape)
    return sum(2 * o * i * kh * kw * h * w
               for (o, i, kh, kw), (_, h, w) in zip(conv_shapes(point, image_shape), maps[:-1]))


def arch_problem(point: dict, where: str, image_shape: tuple, toy: bool) -> str | None:
    """One line naming what makes the point's architecture unbuildable on its data, or None.
    `point` is normalized (a CNN's kernel default filled in); `image_shape` is its dataset's sample shape."""
    if not is_cnn(point):
        given = [f for f in CNN_FIELDS if point.get(f) is not None]
        if given:
            return (f"{where}.{given[0]}: {point[given[0]]!r} is invalid on an MLP point; {', '.join(CNN_FIELDS)} "
                    f"apply with arch: cnn only (allowed: remove it, or set arch: cnn)")
        return None
    ch, k, data = point.get("channels"), point["kernel"], point["dataset"]
    if toy or image_chw(image_shape) is None or min(image_chw(image_shape)[1:]) < MIN_MAP:
        return (f"{where}.arch: 'cnn' is invalid on {data} (samples of shape {tuple(image_shape)}); a CNN needs "
                f"images: (h, w) or (channels, h, w) samples (digits, mnist, fashion-mnist, kmnist, own image data)")
    if not isinstance(ch, list) or not ch or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in ch):
        return (f"{where}.channels: {ch!r} is invalid; a CNN needs a non-empty list of positive filter counts, "
                f"one conv layer each (e.g. [16, 32])")
    if k % 2 == 0:
        return f"{where}.kernel: {k} is invalid; must be odd (same padding keeps the map size only for odd kernels)"
    _, h, w = image_chw(image_shape)
    side = min(h, w)
    if side // POOL ** len(ch) < MIN_MAP:
        most = max(0, int(math.log2(side / MIN_MAP)))
        return (f"{where}.channels: {len(ch)} conv layers is invalid on {data} ({h}x{w} images): each halves the "
                f"map and the last map must be at least {MIN_MAP}x{MIN_MAP}; allowed: at most {most} layer(s)")
    last_in = side // POOL ** (len(ch) - 1)
    if k > last_in:
        return (f"{where}.kernel: {k} is invalid on {data} ({h}x{w} images, channels {ch}): larger than the "
                f"{last_in}x{last_in} map the last conv layer sees; allowed: odd, at most {last_in - 1 + last_in % 2}")
    return None
