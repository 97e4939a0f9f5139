"""Network surgery: where a sharing level cuts a backbone, freezing the shared trunk, and
growing a branch that shares the trunk (the same module objects) and clones the rest."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from torch import nn

from energybench.errors import UserError
from energybench.models.backbone import Backbone
from energybench.models.network import IncrementalNet


@dataclass(frozen=True)
class Cut:
    """A sharing cut: the first `blocks` backbone blocks are shared (frozen)."""

    requested: float
    achieved: float  # fraction of backbone parameters in the shared blocks
    blocks: int


def check_sharing(sharing: float) -> float:
    if not 0.0 <= sharing < 1.0:
        raise UserError(f"sharing must be in [0, 1), got {sharing}")
    return float(sharing)


def cut_at(backbone: Backbone, sharing: float) -> Cut:
    """The block boundary whose shared-parameter fraction is nearest the request.

    Fractions count backbone parameters from the input side (the paper's "portion of
    trainable parameters which are frozen and shared"); ties go to less sharing. On a coarse
    backbone a request near 1 may share every parameterised block (achieved 1.0): only the
    head (and parameter-free blocks such as pooling) is then retrained.
    """
    check_sharing(sharing)
    sizes = backbone.block_params()
    total = sum(sizes)
    best = Cut(sharing, 0.0, 0)
    if sharing == 0.0 or total == 0:
        return best
    shared = 0
    for i, size in enumerate(sizes, start=1):
        shared += size
        frac = shared / total
        if abs(frac - sharing) < abs(best.achieved - sharing) - 1e-12:
            best = Cut(sharing, frac, i)
    return best


def boundaries(backbone: Backbone) -> list[float]:
    """The achievable sharing fractions: shared-parameter fraction after each block boundary
    (0 blocks first), so a user can choose sweep levels that land on distinct cuts."""
    sizes = backbone.block_params()
    total = sum(sizes) or 1
    out, shared = [0.0], 0
    for size in sizes:
        shared += size
        out.append(shared / total)
    return out


def distinct_cuts(backbone: Backbone) -> list[float]:
    """The achievable sharing fractions, each once: a block without parameters (an activation,
    pooling) adds no cut of its own."""
    return list(dict.fromkeys(boundaries(backbone)))


def clone(module):
    """A deep copy for a new branch: same weights, independent parameters."""
    return copy.deepcopy(module)


def branch(net: IncrementalNet, cut: Cut, num_classes: int) -> IncrementalNet:
    """A new branch of `net` for `num_classes` new classes.

    The first `cut.blocks` blocks are the very module objects of `net` (shared: stored once,
    frozen), the remaining blocks are clones of `net`'s, and the head is new (same kind as
    `net`'s, randomly initialised, only the new classes). The branch's trunk is frozen.
    """
    if not 0 <= cut.blocks <= len(net.backbone.blocks):
        raise ValueError(f"cut of {cut.blocks} blocks does not fit a {len(net.backbone.blocks)}-block backbone")
    blocks = list(net.backbone.blocks[: cut.blocks]) + [clone(b) for b in net.backbone.blocks[cut.blocks:]]
    backbone = Backbone(net.backbone.name, blocks, net.backbone.out_dim)
    head = type(net.head)(net.head.in_dim, num_classes)
    ref = next(net.parameters(), None)
    if ref is not None:
        head = head.to(ref.device)
    out = IncrementalNet(backbone, head)
    out.freeze_blocks(cut.blocks)
    out.train(net.training)
    return out


def shared_parameters(a: nn.Module, b: nn.Module) -> int:
    """How many parameter elements two modules hold in common (the same tensors)."""
    ids = {id(p) for p in a.parameters()}
    return sum(p.numel() for p in b.parameters() if id(p) in ids)
