"""Exemplar memory: per-class ordered lists of training-split indices (the samples stay in the source).

Capacity is either a fixed total K (`cfg.memory_size`; n = floor(K / classes seen) per class, as
in EEIL Sec. 3.1 and iCaRL) or a fixed R per class (`cfg.memory_per_class`, LUCIR's R_per); when
both are set, K wins. With a memory budget (`cfg.memory_budget`), the method sets `total` each
phase to what the budget leaves beside its model; the classes then hold n or n + 1 each (the
first `total mod classes` classes in class order one more), so that exactly `total` are stored
(while every class has that many training samples).
A class's list is ordered by the selection rule, so shrinking the memory removes samples from
the end of each list and never re-selects.

Selection (`cfg.herding`):
- "herding": iCaRL's herding (Rebuffi et al. 2017, Alg. 4; Welling 2009) on L2-normalised
  features: with mu the mean of the class's normalised features, the k-th exemplar is
      p_k = argmin_x || mu - (phi(x) + sum_{j<k} phi(p_j)) / k ||
  over samples not yet chosen (ties to the lowest position). The features are extracted with
  the network in eval mode and that forward work is counted (as evaluation work) by the trainer.
- "random": a seeded permutation of the class's samples (no forward passes).

Storage (`nbytes`): stored samples x input elements x 1 byte. Every image source here holds
8-bit pixels (MNIST/Fashion-MNIST/CIFAR/ImageFolder images; the 8x8 digits are 0..16), and a
device keeps exemplars as those raw bytes and normalises on load, as this code does via
`take`; so one byte per element of the input shape the network sees.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from energybench.data.scenario import take
from energybench.errors import UserError
from energybench.training.trainer import EVAL_BATCH

BYTES_PER_ELEMENT = 1  # raw 8-bit pixels (see module docstring)
SELECTIONS = ("herding", "random")


def exemplar_nbytes(in_shape) -> int:
    """Bytes one stored exemplar takes."""
    return math.prod(in_shape) * BYTES_PER_ELEMENT


def herding_order(features: torch.Tensor, n: int) -> torch.Tensor:
    """Positions of the first n samples chosen by iCaRL herding on L2-normalised `features`."""
    f = F.normalize(features.double(), dim=1)
    n = min(n, len(f))
    mu = f.mean(0)
    running = torch.zeros_like(mu)
    taken = torch.zeros(len(f), dtype=torch.bool)
    chosen = []
    for k in range(1, n + 1):
        dist = ((mu - (running + f) / k) ** 2).sum(1)
        dist[taken] = math.inf
        i = int(torch.argmin(dist))  # first minimum: ties go to the lowest position
        chosen.append(i)
        taken[i] = True
        running += f[i]
    return torch.tensor(chosen, dtype=torch.long)


@torch.no_grad()
def extract_features(ctx, net, idx: torch.Tensor) -> torch.Tensor:
    """Backbone features of training samples `idx` (eval mode, no augmentation), on the CPU.

    Each batch's forward runs through `trainer.count_eval`, so selection, imprinting and class
    means are costed like any other inference.
    """
    was_training = net.training
    net.eval()
    out = []
    try:
        for i in range(0, len(idx), EVAL_BATCH):
            x, _ = take(ctx.scenario, "train", idx[i:i + EVAL_BATCH])
            x = x.to(ctx.device)
            # the parameter count tells a backbone that grew a branch (same object) from its old self
            key = ("features", id(net.backbone), sum(p.numel() for p in net.backbone.parameters()), tuple(x.shape))
            out.append(ctx.trainer.count_eval(key, lambda: net.features(x), net.backbone).float().cpu())
    finally:
        net.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, net.backbone.out_dim)


class ExemplarMemory:
    def __init__(self, memory_size: int | None, per_class: int | None, selection: str, seed: int):
        if selection not in SELECTIONS:
            raise UserError(f"exemplar selection '{selection}' is not one of {', '.join(SELECTIONS)}")
        if memory_size is None and per_class is None:
            raise UserError("an exemplar memory needs memory_size (total K) or memory_per_class (R per class)")
        for key, v in (("memory_size", memory_size), ("memory_per_class", per_class)):
            if v is not None and v < 1:
                raise UserError(f"{key} must be at least 1, got {v}")
        self.memory_size, self.per_class, self.selection, self.seed = memory_size, per_class, selection, seed
        self.classes: dict[int, torch.Tensor] = {}  # class -> ordered training-split indices
        self.total: int | None = None  # exemplars a memory budget allows this phase (None: no budget)

    @classmethod
    def from_config(cls, cfg, seed: int) -> "ExemplarMemory":
        return cls(cfg.memory_size, cfg.memory_per_class, cfg.herding, seed)

    # ----- capacity ----------------------------------------------------------------------------
    def quota(self, num_classes: int) -> int:
        """Exemplars per class once `num_classes` classes are stored."""
        if self.memory_size is not None:
            n = self.memory_size // num_classes
            if n < 1:
                raise UserError(f"memory_size {self.memory_size} cannot hold one exemplar for each of "
                                f"{num_classes} classes; use memory_size >= {num_classes}")
            return n
        return self.per_class

    def quotas(self, num_classes: int) -> dict[int, int]:
        """Exemplars for each class once `num_classes` are stored: the quota, or with a budget's
        `total` an equal share with the remainder going one each to the first classes."""
        total = getattr(self, "total", None)  # (memories saved before budgets have none)
        if total is None:
            n = self.quota(num_classes)
            return {c: n for c in range(num_classes)}
        n, extra = divmod(total, num_classes)
        return {c: n + (c < extra) for c in range(num_classes)}

    def __len__(self) -> int:
        return sum(len(v) for v in self.classes.values())

    def indices(self) -> torch.Tensor:
        """All stored training-split indices, class by class."""
        if not self.classes:
            return torch.zeros(0, dtype=torch.long)
        return torch.cat([self.classes[c] for c in sorted(self.classes)])

    def nbytes(self, in_shape) -> int:
        return len(self) * exemplar_nbytes(in_shape)

    # ----- selection ---------------------------------------------------------------------------
    def order(self, ctx, net, idx: torch.Tensor, n: int) -> dict[int, torch.Tensor]:
        """The first n samples of each class in `idx`, in selection order."""
        labels = ctx.scenario.train_y[idx]
        classes = sorted(labels.unique().tolist())
        if self.selection == "random":
            out = {}
            for c in classes:
                members = idx[labels == c]
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + c)
                out[c] = members[torch.randperm(len(members), generator=g)[:n]]
            return out
        feats = extract_features(ctx, net, idx)
        return {c: idx[labels == c][herding_order(feats[labels == c], n)] for c in classes}

    def reduce(self, n: int) -> None:
        """Keep the first n exemplars of every class (removal from the end of the ordered list)."""
        self.classes = {c: v[:n] for c, v in self.classes.items()}

    def update(self, ctx, net, new_idx: torch.Tensor, num_classes: int) -> None:
        """Shrink the stored classes to the new quota, then select the classes of `new_idx`."""
        q = self.quotas(num_classes)
        self.classes = {c: v[:q[c]] for c, v in self.classes.items()}
        new = self.order(ctx, net, new_idx, max(q.values()))
        self.classes.update({c: v[:q[c]] for c, v in new.items()})


@torch.no_grad()
def class_means(ctx, net, memory: ExemplarMemory, num_classes: int) -> torch.Tensor:
    """iCaRL's prototypes: per class, the re-normalised mean of its exemplars' normalised features."""
    idx = memory.indices()
    feats = F.normalize(extract_features(ctx, net, idx), dim=1)
    labels = ctx.scenario.train_y[idx]
    means = torch.zeros(num_classes, feats.shape[1])
    for c in range(num_classes):
        if (labels == c).any():
            means[c] = F.normalize(feats[labels == c].mean(0), dim=0)
    return means


def nme_scores(features: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """Nearest-mean-of-exemplars scores: cosine of the normalised feature to each unit-norm mean.

    For unit vectors ||f - mu||^2 = 2 - 2 cos, so the highest score is the nearest mean.
    """
    return F.normalize(features, dim=1) @ means.to(features.device).T
