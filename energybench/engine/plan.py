"""What a sweep will train: its cells (method, sharing, seed), which requested sharing levels
fall on the same block boundary (and so are trained once), and how many phases there are.

Sharing cuts fall on block boundaries, so on a coarse backbone several requested levels can
give the same network (tiny_cnn: 0.2 and 0.4 both cut after block 2, 17.6 % of its
parameters). Such levels are the same experiment: the first one requested is trained, the
others are reported as collapsed onto it (at start-up and in the manifest), not trained again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from energybench.models import build_net
from energybench.models.surgery import cut_at, distinct_cuts


FAR_POINTS = 5.0  # achieved more than this many percentage points from the request: a notice


@dataclass(frozen=True)
class Cell:
    method: str
    sharing: float
    seed: int

    @property
    def label(self) -> str:
        return f"{self.method} s={self.sharing:g} seed {self.seed}"


@dataclass
class Plan:
    methods: list[str]
    seeds: list[int]
    levels: list[float]  # the sharing levels that are trained, in the requested order
    phases: int  # phases of the scenario, base included
    achieved: dict[float, float] = field(default_factory=dict)  # requested level -> achieved fraction
    blocks: dict[float, int] = field(default_factory=dict)  # requested level -> shared blocks
    collapsed: dict[float, float] = field(default_factory=dict)  # requested level -> the trained level
    cuts: list[float] = field(default_factory=list)  # the backbone's achievable fractions (block boundaries)

    @property
    def cells(self) -> list[Cell]:
        return [Cell(m, s, seed) for seed in self.seeds for m in self.methods for s in self.levels]

    def describe(self) -> dict:
        """For the manifest: every requested level, what it achieved, and which collapsed."""
        return {"requested": list(self.achieved), "trained": self.levels,
                "achieved": {f"{s:g}": a for s, a in self.achieved.items()},
                "shared_blocks": {f"{s:g}": b for s, b in self.blocks.items()},
                "collapsed": {f"{s:g}": t for s, t in self.collapsed.items()},
                "achievable": self.cuts}

    def collapse_note(self) -> str | None:
        """One line on the levels that are trained once for several requests, or None."""
        if not self.collapsed:
            return None
        parts = [f"{s:g} -> {t:g}" for s, t in self.collapsed.items()]
        return (f"sharing levels {', '.join(parts)} fall on the same block boundary as the level they point to "
                f"(achieved {', '.join(f'{self.achieved[s]:.3f}' for s in self.collapsed)}): each is the same "
                "network, so it is trained once, under the first level requested")


    def far_note(self, points: float = FAR_POINTS) -> str | None:
        """One line on the requested levels whose achieved fraction is more than `points`
        percentage points away, with the nearest achievable cuts; None when every level is close."""
        far = {s: a for s, a in self.achieved.items() if abs(100 * (a - s)) > points}
        if not far:
            return None
        parts = []
        for s, a in far.items():
            near = sorted(self.cuts, key=lambda c: abs(c - s))[:2]
            parts.append(f"{s:g} achieves {a:.3f} (nearest cuts: {', '.join(f'{c:.3f}' for c in sorted(near))})")
        return (f"sharing {'; '.join(parts)}: cuts fall on block boundaries, more than {points:g} points from the "
                f"request. This backbone's achievable fractions: {', '.join(f'{c:.3f}' for c in self.cuts)}")


def plan_sweep(methods: list[str], seeds: list[int], sharing: list[float], phases: int, backbone: str,
               in_shape: tuple[int, ...], num_classes: int, width: float, cifar_stem: bool) -> Plan:
    """The sweep's cells, with the cut of every requested level computed on the backbone (built
    on the meta device: shapes only, no memory, no time)."""
    with torch.device("meta"):
        net = build_net(backbone, in_shape, num_classes, width, cifar_stem)
    plan = Plan(list(methods), list(seeds), [], phases, cuts=distinct_cuts(net.backbone))
    first_at: dict[int, float] = {}
    for s in sharing:
        cut = cut_at(net.backbone, s)
        plan.achieved[s], plan.blocks[s] = cut.achieved, cut.blocks
        if cut.blocks in first_at:
            plan.collapsed[s] = first_at[cut.blocks]
        else:
            first_at[cut.blocks] = s
            plan.levels.append(s)
    return plan
