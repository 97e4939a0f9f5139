"""Network surgery: where a sharing level cuts a backbone, and branch cloning."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from energybench.errors import UserError
from energybench.models.backbone import Backbone


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
    trainable parameters which are frozen and shared"); ties go to less sharing.
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


def clone(module):
    """A deep copy for a new branch: same weights, independent parameters."""
    return copy.deepcopy(module)
