"""The hooks every method implements, and the shared plumbing they use.

A method decides models, losses and what to train; it never counts costs. The runner calls,
for each phase: begin_phase -> learn -> end_phase, then evaluates with predict().
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from energybench.data.scenario import Phase, Scenario
from energybench.errors import UserError
from energybench.models import IncrementalNet, build_net
from energybench.models.surgery import Cut, cut_at
from energybench.training.trainer import Batch, FitResult, Trainer

if TYPE_CHECKING:  # a type only: config sits above the methods
    from energybench.config import RunConfig


@dataclass
class Context:
    """What a method may use; not part of its saved state."""

    cfg: RunConfig
    scenario: Scenario
    device: torch.device
    trainer: Trainer
    seed: int
    sharing: float
    cell_dir: Path  # where the method may write artifacts (e.g. tree.json)


class Method:
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Method-specific options and their defaults; values come from config `options: {name: {...}}`.
    default_options: ClassVar[dict[str, Any]] = {}
    cosine_head: ClassVar[bool] = False
    # Whether the trainer may replace the frozen trunk's forward by cached outputs.
    supports_cache: ClassVar[bool] = True

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.opts = {**self.default_options, **ctx.cfg.options.get(self.name, {})}
        self.net: IncrementalNet | None = None
        self.cut: Cut | None = None
        self.extra: dict[str, Any] = {}  # per-phase extra metrics (e.g. accuracy before fine-tuning)

    # ----- options -------------------------------------------------------------------------
    @classmethod
    def check_options(cls, opts: dict[str, Any]) -> None:
        unknown = sorted(set(opts) - set(cls.default_options))
        if unknown:
            valid = ", ".join(sorted(cls.default_options)) or "(none)"
            raise UserError(f"unknown option '{unknown[0]}' for method {cls.name}; valid options: {valid}")

    # ----- state: the context is re-attached, never saved ------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["ctx"] = None
        return state

    def attach(self, ctx: Context) -> None:
        self.ctx = ctx

    # ----- hooks -----------------------------------------------------------------------------
    def begin_phase(self, phase: Phase) -> None:
        """Default: build the network at phase 0, grow the head, freeze the shared trunk."""
        if phase.index == 0:
            self.net = self.new_net(len(phase.classes))
        else:
            self.net.head.add_classes(len(phase.classes))
            self.apply_sharing(self.net)

    def learn(self, phase: Phase) -> None:
        raise NotImplementedError

    def end_phase(self, phase: Phase) -> None:
        pass

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Scores over all classes seen so far, one entry per classifier (first = primary)."""
        self.net.eval()  # batch norm must use its running statistics (fit() leaves train mode on)
        return {"cnn": self.net(x)}

    def storage_modules(self) -> list[nn.Module]:
        return [self.net]

    def exemplar_bytes(self) -> int:
        return 0

    # ----- helpers for subclasses ----------------------------------------------------------------
    def new_net(self, num_classes: int) -> IncrementalNet:
        cfg, src = self.ctx.cfg, self.ctx.scenario.source
        net = build_net(cfg.resolved_backbone(), src.in_shape, num_classes, cfg.width, cfg.cifar_stem,
                        cosine=self.cosine_head, weights=cfg.weights)
        return net.to(self.ctx.device)

    def apply_sharing(self, net: IncrementalNet) -> Cut:
        """Freeze the first `sharing` of the backbone (nearest block boundary)."""
        self.cut = cut_at(net.backbone, self.ctx.sharing)
        net.freeze_blocks(self.cut.blocks)
        return self.cut

    def fit(self, net: nn.Module, idx: torch.Tensor, loss: Callable[[nn.Module, Batch], torch.Tensor] | None = None,
            kind: str = "ce", **overrides) -> FitResult:
        """Train `net` on training indices `idx` with `loss` (default: cross-entropy)."""
        cache = (self.ctx.cfg.cache_shared and self.supports_cache and isinstance(net, IncrementalNet)
                 and net.frozen_blocks > 0)
        return self.ctx.trainer.fit(net, idx, loss or cross_entropy, kind=kind, cache_trunk=cache, **overrides)


def cross_entropy(net: nn.Module, batch: Batch) -> torch.Tensor:
    return F.cross_entropy(net(batch.x, start=batch.start), batch.y)
