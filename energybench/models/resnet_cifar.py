"""CIFAR ResNets (He et al. 2016, 6n+2 layers) as used by EEIL and LUCIR: 16/32/64 channels.

Each residual block is one Backbone block, so sharing cuts can fall between any two.
"""

from __future__ import annotations

import torch
from torch import nn

from energybench.models.backbone import Backbone, Flatten, conv_bn_relu


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        # LUCIR's reference code projects with a 1x1 conv + BN when the shape changes.
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )
        self.last_relu = True  # LUCIR removes it in the backbone's final block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + identity
        return self.relu(out) if self.last_relu else out


def cifar_resnet(depth: int, in_shape: tuple[int, int, int], width: float = 1.0) -> Backbone:
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
    n = (depth - 2) // 6
    widths = [max(1, round(c * width)) for c in (16, 32, 64)]
    blocks: list[nn.Module] = [conv_bn_relu(in_shape[0], widths[0], 3)]
    cin = widths[0]
    for stage, cout in enumerate(widths):
        for i in range(n):
            blocks.append(BasicBlock(cin, cout, stride=2 if stage > 0 and i == 0 else 1))
            cin = cout
    blocks.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), Flatten()))
    return Backbone(f"resnet{depth}", blocks, cin)
