"""Small backbones from the partial-sharing paper and a tiny net for 8x8 digits."""

from __future__ import annotations

from torch import nn

from energybench.models.backbone import Backbone, Flatten, conv_bn_relu


def tiny_cnn(in_shape: tuple[int, int, int], width: float = 1.0) -> Backbone:
    """Four blocks for 8x8 digits: 3x3 convs 16-32-64 then a 64-unit layer."""
    c = [max(1, round(w * width)) for w in (16, 32, 64, 64)]
    blocks = [
        conv_bn_relu(in_shape[0], c[0], 3),
        nn.Sequential(conv_bn_relu(c[0], c[1], 3), nn.MaxPool2d(2)),
        nn.Sequential(conv_bn_relu(c[1], c[2], 3), nn.AdaptiveAvgPool2d(1), Flatten()),
        nn.Sequential(nn.Linear(c[2], c[3]), nn.ReLU(inplace=True)),
    ]
    return Backbone("tiny_cnn", blocks, c[3])


def lenet(in_shape: tuple[int, int, int], width: float = 1.0) -> Backbone:
    """The paper's [784 4c5 2s 4c5 2s] net (section 3.1); `width` scales the 4 maps."""
    c = max(1, round(4 * width))
    out_h, out_w = (((n - 4) // 2 - 4) // 2 for n in in_shape[1:])
    if min(out_h, out_w) < 1:
        raise ValueError(f"lenet needs inputs of at least 16x16, got {in_shape[1]}x{in_shape[2]}")
    blocks = [
        nn.Sequential(nn.Conv2d(in_shape[0], c, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(c, c, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2), Flatten()),
    ]
    return Backbone("lenet", blocks, c * out_h * out_w)


def _mlpconv(cin: int, c: int, fcs: list[int], k: int, pool: bool) -> nn.Sequential:
    # One MlpConv block (Lin et al. 2013): a kxk conv then 1x1 convs (the paper's "fc").
    layers: list[nn.Module] = [nn.Conv2d(cin, c, k, padding=k // 2), nn.ReLU(inplace=True)]
    for cin_fc, cout_fc in zip([c] + fcs[:-1], fcs):
        layers += [nn.Conv2d(cin_fc, cout_fc, 1), nn.ReLU(inplace=True)]
    layers.append(nn.MaxPool2d(3, stride=2, padding=1) if pool else nn.Sequential(nn.AdaptiveAvgPool2d(1), Flatten()))
    return nn.Sequential(*layers)


def nin(in_shape: tuple[int, int, int], width: float = 1.0) -> Backbone:
    """The paper's CIFAR-10 net (section 3.2): three MlpConv blocks,
    [(5x5)128c 100fc 64fc mp (5x5)128c 128fc 128fc mp (3x3)128c 128fc]."""
    w = lambda n: max(1, round(n * width))  # noqa: E731
    blocks = [
        _mlpconv(in_shape[0], w(128), [w(100), w(64)], 5, pool=True),
        _mlpconv(w(64), w(128), [w(128), w(128)], 5, pool=True),
        _mlpconv(w(128), w(128), [w(128)], 3, pool=False),
    ]
    return Backbone("nin", blocks, w(128))
