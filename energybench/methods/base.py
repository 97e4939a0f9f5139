"""The hooks every method implements, and the lifecycle they share.

A method decides models, losses and what to train; it never counts costs. The runner calls,
for each phase: begin_phase -> learn -> end_phase, then evaluates with predict().

Shared lifecycle, so that a method's file holds only what its paper adds:
- `Method.uses_previous_model`: a frozen copy of the network as the phase found it (`self.old`,
  taken before the head grows) for distillation, released when the phase ends (FACIL keeps
  this `model_old` in its base class, PyCIL `_old_network`).
- `ExemplarMethod`: an exemplar memory (herding or random) updated by the method, its storage,
  and optionally the nearest-mean-of-exemplars classifier (class means computed at the end of
  every phase), used by icarl, eeil and lucir; with a memory budget (`cfg.memory_budget`), the
  exemplars fill what the stored model leaves of it (`spend_budget`), so a method whose model
  grows keeps fewer exemplars (MEMO's memory-aligned comparison).
- `Method.stored_bytes_by_phase`: the stored model's bytes at every phase, from the structure alone
  (meta device, no training), so the run's pre-flight check (methods._check_budget) refuses a
  budget that some later phase would outgrow before anything runs.
"""


from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from energybench.cost.memory_model import storage_bytes
from energybench.data.scenario import Phase, Scenario
from energybench.errors import UserError
from energybench.methods.distill import snapshot
from energybench.methods.memory import ExemplarMemory, class_means, exemplar_nbytes, nme_scores
from energybench.methods.options import Option, resolve
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
    # Method-specific options (methods/options.py); values come from config `options: {name: {...}}`.
    options: ClassVar[dict[str, Option]] = {}
    cosine_head: ClassVar[bool] = False
    # Whether the trainer may replace the frozen trunk's forward by cached outputs.
    supports_cache: ClassVar[bool] = True
    # Whether incremental phases distil from the model as the phase found it (self.old).
    uses_previous_model: ClassVar[bool] = False
    # Whether the sharing level applies (False: a network trained from scratch has nothing to
    # share with; a sweep then trains the method once, at its first level, not once per level).
    shares: ClassVar[bool] = True
    # What a method that sets its own sharing (shares False) shares, for the run's messages.
    own_sharing: ClassVar[str] = "nothing"
    # Whether a memory budget (cfg.memory_budget) bounds this method's stored model (and its exemplars).
    under_budget: ClassVar[bool] = False

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.opts = self.check_options(ctx.cfg.options.get(self.name, {}))
        self.net: IncrementalNet | None = None
        self.old: IncrementalNet | None = None  # the previous model, during an incremental phase
        self.cut: Cut | None = None
        self.extra: dict[str, Any] = {}  # per-phase extra metrics (e.g. accuracy before fine-tuning)

    # ----- options -------------------------------------------------------------------------
    @classmethod
    def check_options(cls, given: dict[str, Any]) -> dict[str, Any]:
        """Every option's value (defaults for those not given), each checked against its spec;
        then `check_combination` for rules that tie options together."""
        opts = resolve(cls.name, cls.options, given)
        cls.check_combination(opts)
        return opts

    @classmethod
    def check_combination(cls, opts: dict[str, Any]) -> None:
        """Rules across options (override where a method has them); raise UserError."""

    @classmethod
    def check_scenario(cls, opts: dict[str, Any], sizes: list[int]) -> None:
        """Rules that need the scenario's phase sizes (override where a method has them)."""

    @classmethod
    def stored_bytes_by_phase(cls, cfg: RunConfig, sizes: list[int], in_shape: tuple[int, ...],
                              sharing: float = 0.0) -> list[int]:
        """The stored model's bytes (storage_bytes at cfg.precision, exemplars not included) at the end
        of each phase of a scenario adding `sizes` classes per phase, at sharing level `sharing`: built
        on the meta device (no memory, no training) by the code the method grows with. Default: the
        fixed network whose head grows by each phase's classes (begin_phase); a method whose model
        grows otherwise overrides it."""
        with torch.device("meta"):
            net = cls.network(cfg, in_shape, sizes[0])
            out = [storage_bytes(net, 0, cfg.precision)]
            for n in sizes[1:]:
                net.head.add_classes(n)
                out.append(storage_bytes(net, 0, cfg.precision))
        return out

    @classmethod
    def protocol_notes(cls, opts: dict[str, Any], cfg: RunConfig) -> list[str]:
        """Where this method, with these options, trains differently from the run's shared protocol
        (another data pipeline, a non-default loss form), in words; the report prints them next to
        the method's numbers. [] when it does not (override where a method can)."""
        return []

    # ----- state: the context is re-attached, never saved ------------------------------------
    def __getstate__(self):
        state = self.__dict__.copy()
        state["ctx"] = None
        return state

    def attach(self, ctx: Context) -> None:
        self.ctx = ctx

    # ----- hooks -----------------------------------------------------------------------------
    def begin_phase(self, phase: Phase) -> None:
        """Default: build the network at phase 0, grow the head, freeze the shared trunk; keep the
        previous model first where the method distils from it."""
        if self.uses_previous_model and phase.index > 0:
            self.old = snapshot(self.net)
        if phase.index == 0:
            self.net = self.new_net(len(phase.classes))
        else:
            self.net.head.add_classes(len(phase.classes))
            self.apply_sharing(self.net)

    def learn(self, phase: Phase) -> None:
        raise NotImplementedError

    def end_phase(self, phase: Phase) -> None:
        self.old = None  # the next phase snapshots the model it starts from

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
        cfg = self.ctx.cfg
        return self.network(cfg, self.ctx.scenario.source.in_shape, num_classes, cfg.weights).to(self.ctx.device)

    @classmethod
    def network(cls, cfg: RunConfig, in_shape: tuple[int, ...], num_classes: int,
                weights: str | None = None) -> IncrementalNet:
        """The run's network with a head of `num_classes` (on the current default device)."""
        return build_net(cfg.resolved_backbone(), in_shape, num_classes, cfg.width, cfg.cifar_stem,
                         cosine=cls.cosine_head, weights=weights)

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


class ExemplarMethod(Method):
    """A method with an exemplar memory (herding or random selection, `cfg.memory_*`). Its
    `classifiers` name the scores predict() returns, the first being the primary one; with "nme"
    among them, the class means of the exemplars are computed at the end of every phase."""

    classifiers: ClassVar[tuple[str, ...]] = ("cnn",)
    uses_previous_model = True
    under_budget = True
    supports_cache = False  # the loss runs the previous model on the raw (augmented) inputs

    def __init__(self, ctx: Context):
        super().__init__(ctx)
        self.memory = ExemplarMemory.from_config(ctx.cfg, ctx.seed)
        self.means: torch.Tensor | None = None

    def begin_phase(self, phase: Phase) -> None:
        super().begin_phase(phase)
        self.spend_budget(phase.seen)

    def spend_budget(self, num_classes: int) -> None:
        """With a memory budget, set the exemplar total to what the stored model (storage_modules at
        the run's precision) leaves of it: floor((budget - model bytes) / bytes per exemplar), so model
        plus exemplars stay within one exemplar of the budget. Call it once the phase's stored model
        has its final size, before the memory update. The run's pre-flight check has already refused a
        budget that any phase outgrows (stored_bytes_by_phase), so the error here is for a method whose
        model grows in a way its stored_bytes_by_phase does not say."""
        cfg = self.ctx.cfg
        budget = getattr(cfg, "memory_budget", None)
        if budget is None:
            self.memory.total = None
            return
        model = storage_bytes(self.storage_modules(), 0, cfg.precision)
        per = exemplar_nbytes(self.ctx.scenario.source.in_shape)
        total = max(budget - model, 0) // per
        if total < num_classes:
            raise UserError(f"memory_budget {budget} bytes: the {self.name} model takes {model} bytes with "
                            f"{num_classes} classes, leaving room for {total} exemplars of {per} bytes, fewer than one "
                            f"per class; use memory_budget >= {model + num_classes * per}")
        self.memory.total = total

    def end_phase(self, phase: Phase) -> None:
        super().end_phase(phase)
        if "nme" in self.classifiers:
            self.means = class_means(self.ctx, self.net, self.memory, phase.seen)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.net.eval()
        feats = self.net.features(x)
        scores = {"cnn": lambda: self.net.head(feats), "nme": lambda: nme_scores(feats, self.means)}
        return {name: scores[name]() for name in self.classifiers}

    def exemplar_bytes(self) -> int:
        return self.memory.nbytes(self.ctx.scenario.source.in_shape)
