"""Classifier heads that grow by one chunk of output units per phase.

Keeping one chunk per phase (instead of resizing one matrix) gives EEIL its per-phase
classification layers, LUCIR its frozen old-class embeddings and every method a head that
keeps old class weights when classes are added; the MACs are the same as one wide layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GrowingLinear(nn.Module):
    def __init__(self, in_dim: int, num_classes: int = 0):
        super().__init__()
        self.in_dim = in_dim
        self.chunks = nn.ModuleList()
        if num_classes:
            self.add_classes(num_classes)

    @property
    def num_classes(self) -> int:
        return sum(c.out_features for c in self.chunks)

    def add_classes(self, n: int) -> nn.Linear:
        chunk = nn.Linear(self.in_dim, n)
        if len(self.chunks):  # keep the device/dtype of the existing head
            chunk.to(self.chunks[0].weight.device)
        self.chunks.append(chunk)
        return chunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([c(x) for c in self.chunks], dim=1)


class CosineChunk(nn.Module):
    def __init__(self, in_dim: int, n: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, in_dim))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]


class CosineLinear(nn.Module):
    """LUCIR's cosine-normalised classifier: sigma * <x/|x|, w/|w|>, sigma learnable (init 1)."""

    def __init__(self, in_dim: int, num_classes: int = 0):
        super().__init__()
        self.in_dim = in_dim
        self.sigma = nn.Parameter(torch.ones(1))
        self.chunks = nn.ModuleList()
        if num_classes:
            self.add_classes(num_classes)

    @property
    def num_classes(self) -> int:
        return sum(c.out_features for c in self.chunks)

    def add_classes(self, n: int) -> CosineChunk:
        chunk = CosineChunk(self.in_dim, n).to(self.sigma.device)
        self.chunks.append(chunk)
        return chunk

    def cosine(self, x: torch.Tensor) -> torch.Tensor:
        """Unscaled cosine similarities (LUCIR's margin loss works on these)."""
        weight = torch.cat([c.weight for c in self.chunks], dim=0)
        return F.linear(F.normalize(x, dim=1), F.normalize(weight, dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigma * self.cosine(x)


class PrototypeHead(nn.Module):
    """A prototype classifier (SimpleCIL): one stored prototype per class, scores are the cosines
    between the feature and each prototype. Prototypes are computed, never trained."""

    def __init__(self, in_dim: int):
        super().__init__()
        self.in_dim = in_dim
        self.chunks = nn.ParameterList()  # one (classes x in_dim) block per phase

    @property
    def num_classes(self) -> int:
        return sum(c.shape[0] for c in self.chunks)

    def add_prototypes(self, protos: torch.Tensor) -> None:
        self.chunks.append(nn.Parameter(protos.detach().clone(), requires_grad=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch.cat(list(self.chunks), dim=0).to(x.device)
        return F.linear(F.normalize(x, dim=1), F.normalize(weight, dim=1))
