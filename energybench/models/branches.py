"""BranchNet: a shared trunk, one branch per phase, one linear classifier over the branches'
concatenated features (the network of DER, MEMO and FOSTER's expanded model).

A branch is a copy of the backbone's blocks after the trunk; the trunk's blocks are the very
module objects of the network the branches grew from, so they are stored and run once. Frozen
parts (every parameter requires_grad False) stay in eval mode, so batch-norm statistics of an
old branch never drift.
"""

from __future__ import annotations

import torch
from torch import nn

from energybench.models.backbone import Backbone
from energybench.models.network import IncrementalNet
from energybench.models.surgery import Cut, clone, cut_at


class BranchBackbone(nn.Module):
    def __init__(self, trunk: list[nn.Module], branches: list[nn.Module], branch_dim: int):
        super().__init__()
        self.trunk = nn.ModuleList(trunk)
        self.branches = nn.ModuleList(branches)
        self.branch_dim = branch_dim

    @property
    def out_dim(self) -> int:
        return self.branch_dim * len(self.branches)

    def forward_trunk(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.trunk:
            x = block(x)
        return x

    def branch_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each branch's features (oldest first) from one trunk forward."""
        h = self.forward_trunk(x)
        return [branch(h) for branch in self.branches]

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return torch.cat(self.branch_features(x), dim=1)


class BranchNet(nn.Module):
    def __init__(self, backbone: BranchBackbone, head: nn.Linear):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.aux: nn.Module | None = None  # a training-only classifier (DER's auxiliary, FOSTER's)
        self.frozen_blocks = 0  # no cached-trunk training: the trainer's cache is for IncrementalNet only

    @classmethod
    def from_net(cls, net: IncrementalNet) -> "BranchNet":
        """One branch holding every block of `net`'s backbone, and its (single-chunk) linear head."""
        chunks = list(net.head.chunks)
        if len(chunks) != 1 or not isinstance(chunks[0], nn.Linear):
            raise ValueError("BranchNet.from_net needs a network with one linear head chunk")
        blocks = list(net.backbone.blocks)
        return cls(BranchBackbone([], [nn.Sequential(*blocks)], net.backbone.out_dim), chunks[0])

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.head(self.backbone(x))

    def features(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        return self.backbone(x)

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def split_trunk(self, blocks: int) -> None:
        """Make the first `blocks` blocks of the single branch the shared trunk (once, at phase 1)."""
        if self.backbone.trunk or len(self.backbone.branches) != 1:
            raise ValueError("the trunk is split once, from a single-branch network")
        whole = list(self.backbone.branches[0])
        self.backbone = BranchBackbone(whole[:blocks], [nn.Sequential(*whole[blocks:])], self.backbone.branch_dim)

    def split_at(self, sharing: float) -> Cut:
        """Split the single branch at the block boundary nearest the sharing level (surgery.cut_at):
        the blocks before it become the shared trunk (once, at phase 1). Returns the cut."""
        cut = cut_at(Backbone("", list(self.backbone.branches[0]), self.backbone.branch_dim), sharing)
        self.split_trunk(cut.blocks)
        return cut

    def add_branch(self, num_new: int) -> nn.Module:
        """A new branch (a copy of the newest), and a head widened to read it and to score
        `num_new` more classes; old rows and columns keep their weights (PyCIL update_fc)."""
        bb = self.backbone
        bb.branches.append(clone(bb.branches[-1]).requires_grad_(True))  # trainable even if its source is frozen
        self.head = widened(self.head, bb.out_dim, self.head.out_features + num_new)
        return bb.branches[-1]

    def freeze(self, module: nn.Module) -> None:
        module.requires_grad_(False)
        module.eval()

    def train(self, mode: bool = True) -> "BranchNet":
        super().train(mode)
        for part in [*self.backbone.trunk, *self.backbone.branches]:
            params = list(part.parameters())
            if params and not any(p.requires_grad for p in params):
                part.eval()
        return self


def widened(head: nn.Linear, in_dim: int, out_dim: int) -> nn.Linear:
    """A linear layer of the new size holding `head`'s weights in its first rows and columns."""
    new = nn.Linear(in_dim, out_dim).to(head.weight.device)
    with torch.no_grad():
        new.weight[: head.out_features, : head.in_features] = head.weight
        new.bias[: head.out_features] = head.bias
    return new
