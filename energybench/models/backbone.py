"""The Backbone: a feature extractor stored as an ordered list of blocks.

Blocks are the only places a sharing cut may fall, so every backbone is built as a
flat sequence: block 0 sees the input, the last block returns a flat feature vector.
"""

from __future__ import annotations

import torch
from torch import nn


class Backbone(nn.Module):
    def __init__(self, name: str, blocks: list[nn.Module], out_dim: int):
        super().__init__()
        self.name = name
        self.blocks = nn.ModuleList(blocks)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        # `start` lets a branch run only its own blocks on cached trunk outputs.
        for block in self.blocks[start:]:
            x = block(x)
        return x

    def forward_until(self, x: torch.Tensor, stop: int) -> torch.Tensor:
        for block in self.blocks[:stop]:
            x = block(x)
        return x

    def block_params(self) -> list[int]:
        """Number of parameters in each block, input side first."""
        return [sum(p.numel() for p in b.parameters()) for b in self.blocks]


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)


def conv_bn_relu(cin: int, cout: int, k: int, stride: int = 1, pad: int | None = None) -> nn.Sequential:
    pad = k // 2 if pad is None else pad
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )
