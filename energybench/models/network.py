"""IncrementalNet: a Backbone plus a growing head, with a frozen prefix of blocks."""

from __future__ import annotations

import torch
from torch import nn

from energybench.models.backbone import Backbone


class IncrementalNet(nn.Module):
    def __init__(self, backbone: Backbone, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.frozen_blocks = 0

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.head(self.backbone(x, start))

    def features(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.backbone(x, start)

    @property
    def num_classes(self) -> int:
        return self.head.num_classes

    def freeze_blocks(self, n: int) -> None:
        """Freeze the first n backbone blocks (parameters and batch-norm statistics)."""
        self.frozen_blocks = n
        for i, block in enumerate(self.backbone.blocks):
            for p in block.parameters():
                p.requires_grad_(i >= n)
        self.train(self.training)

    def train(self, mode: bool = True) -> "IncrementalNet":
        super().train(mode)
        # A frozen block must not drift through batch-norm running statistics either.
        for block in self.backbone.blocks[: self.frozen_blocks]:
            block.eval()
        return self
