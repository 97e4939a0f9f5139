"""der: DER, Dynamically Expandable Representation (Yan et al., CVPR 2021).

Implements the paper's expandable representation learning (no section number is cited: the
paper's text is not in this repository) as PyCIL does:
- phase 0: one feature extractor and a linear classifier, cross-entropy;
- phase t > 0: a new feature extractor, initialised as a copy of the newest one, beside the t
  old ones, which are frozen (no gradient to their weights; batch norm in eval mode); one linear
  classifier reads the concatenated features of all t + 1 extractors (old weights kept, PyCIL
  update_fc); trained on the new data plus the exemplars with the cross-entropy over all classes
  plus the auxiliary loss (weight `aux_weight`, the paper's lambda_a = 1): a classifier on the new
  extractor's features alone over the new classes plus one "old" class; afterwards the new
  classes' classifier rows are rescaled to the old rows' mean norm (PyCIL weight_align);
  exemplars by herding on the concatenated features.
Every forward runs every extractor (the counter sees t + 1 backbones per step); only the new
one has a backward to its weights. The auxiliary classifier is a training device, dropped at the
phase's end, so storage is the extractors plus the classifier.

Reference code checked against: PyCIL (LAMDA-CL/PyCIL, MIT) models/der.py and
utils/inc_net.py DERNet (read, not copied).

Sharing (`--sharing`): DER shares nothing at sharing 0 (the default). A level s > 0 cuts the
backbone at the block boundary nearest s (models/surgery.py cut_at) at phase 1: those blocks
become one frozen trunk under every extractor, stored and run once, and each new extractor
copies only the blocks after the cut. (Not in the paper: it is the knob this benchmark sweeps.)

Pruning (`prune`, off by default): the paper's dynamical expansion, channel-level masks on the new
extractor with a sparsity loss (`sparsity_weight`, annealed sharpness up to `s_max`) and, after the
phase, removal of the channels whose mask is below `prune_threshold` (methods/der_pruning.py, with
its own deviations). The pruned extractor is rebuilt with fewer channels, so every later forward and
the stored size count only what is kept; with a memory budget the exemplars take what pruning frees.

Deviations (reasons):
- pruning is optional and off by default (the reference codes have none; PyCIL's DER notes that the
  released code lacks it): without it the model grows by one whole extractor a phase;
- weight aligning (PyCIL) in place of the paper's classifier-learning stage, which re-trains the
  classifier on class-balanced data;
- the run's shared protocol (SGD schedule, epochs, augmentation) rather than PyCIL's 200/170
  epochs with their own milestones, so every method in a run trains alike;
- exemplars by the run's memory (memory_size / memory_per_class / memory_budget); PyCIL keeps
  a fixed total of 2000.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from energybench.cost.memory_model import storage_bytes
from energybench.data.scenario import Phase
from energybench.methods import der_pruning
from energybench.methods.base import ExemplarMethod
from energybench.methods.options import flag, number
from energybench.models.branches import BranchNet
from energybench.models.surgery import Cut, clone


def weight_align(head: nn.Linear, first_new: int) -> None:
    """Rescale the new classes' rows to the old rows' mean L2 norm (PyCIL weight_align)."""
    with torch.no_grad():
        w = head.weight
        gamma = w[:first_new].norm(dim=1).mean() / w[first_new:].norm(dim=1).mean()
        w[first_new:] *= gamma


class DER(ExemplarMethod):
    name = "der"
    description = "DER: one new feature extractor per phase (the old ones frozen), one classifier over all of them"
    options = {"aux_weight": number(1.0, ge=0), "weight_align": flag(True), "prune": flag(False),
               "sparsity_weight": number(0.3, ge=0), "s_max": number(400.0, ge=1),
               "prune_threshold": number(0.5, gt=0, lt=1)}
    uses_previous_model = False  # the old extractors are part of the network itself
    train_trunk = False  # MEMO may keep the shared trunk trainable

    def begin_phase(self, phase: Phase) -> None:
        prune = self.opts.get("prune", False)  # MEMO has no pruning option
        if phase.index == 0:
            self.net = BranchNet.from_net(self.new_net(len(phase.classes)))
            if prune:
                der_pruning.plan(self.net.backbone.branches[0])  # refuses an unprunable backbone before training
        else:
            self.cut = self.expand(self.net, self.cut, self.ctx.sharing, len(phase.classes), self.train_trunk)
            if prune:  # the new extractor starts from the unpruned phase-0 one (der_pruning.py)
                self.net.backbone.branches[-1] = clone(self.net.backbone.branches[0]).requires_grad_(True)
        self.spend_budget(phase.seen)  # the stored model, before the training-only auxiliary classifier
        if phase.index > 0:
            self.net.aux = nn.Linear(self.net.backbone.branch_dim, len(phase.classes) + 1).to(self.ctx.device)
            self.net.train()

    @staticmethod
    def expand(net: BranchNet, cut: Cut | None, sharing: float, num_new: int, train_trunk: bool) -> Cut:
        """Phase t > 0's network: at phase 1 (no cut yet) the sharing level becomes a trunk under every
        extractor; the old extractors (and the trunk unless it trains) are frozen; a new extractor and
        a head widened for `num_new` classes are added. Returns the cut."""
        if cut is None:
            cut = net.split_at(sharing)
        if not train_trunk:
            for block in net.backbone.trunk:
                net.freeze(block)
        for branch in net.backbone.branches:
            net.freeze(branch)
        net.add_branch(num_new)
        return cut

    @classmethod
    def stored_bytes_by_phase(cls, cfg, sizes: list[int], in_shape: tuple[int, ...],
                              sharing: float = 0.0) -> list[int]:
        """One extractor more per phase (expand, as begin_phase grows it), on the meta device."""
        with torch.device("meta"):
            net = BranchNet.from_net(cls.network(cfg, in_shape, sizes[0]))
            out, cut = [storage_bytes(net, 0, cfg.precision)], None
            for n in sizes[1:]:
                cut = cls.expand(net, cut, sharing, n, train_trunk=True)
                out.append(storage_bytes(net, 0, cfg.precision))
        return out

    def learn(self, phase: Phase) -> None:
        desc = f"{self.name} phase {phase.index}"
        if phase.index == 0:
            self.fit(self.net, phase.train_idx, kind=f"{self.name}_ce", desc=desc)
        else:
            idx = torch.cat([phase.train_idx, self.memory.indices()])
            loss = self.loss(phase.first_class, self.opts["aux_weight"])
            if self.opts.get("prune", False):
                self.learn_pruned(idx, loss, desc, phase.seen)
            else:
                self.fit(self.net, idx, loss, kind=self.name, desc=desc)
            if self.opts["weight_align"]:
                weight_align(self.net.head, phase.first_class)
        self.memory.update(self.ctx, self.net, phase.train_idx, phase.seen)

    def learn_pruned(self, idx: torch.Tensor, loss, desc: str, seen: int) -> None:
        """Train with channel masks on the new extractor and the sparsity loss, then prune it
        (der_pruning.py); the exemplars get what the smaller model frees."""
        o = self.opts
        pruner = der_pruning.Pruner(self.net.backbone.branches[-1], o["s_max"], o["sparsity_weight"],
                                    o["prune_threshold"])
        pruner.attach()
        steps = der_pruning.batches(len(idx), self.ctx.trainer.defaults["batch_size"])
        self.fit(self.net, idx, pruner.loss(loss, steps), kind=f"{self.name}_masked", desc=desc)
        masked = sum(site.mask.e.numel() for site in pruner.sites)
        self.kept_channels = pruner.prune()
        # what the pruning did, on the phase's rows (with default settings it may keep every channel)
        self.extra.update(masked_channels=masked, pruned_channels=masked - sum(self.kept_channels))
        self.net.aux = None  # training is over; the auxiliary classifier is not stored
        self.spend_budget(seen)

    def end_phase(self, phase: Phase) -> None:
        self.net.aux = None  # a training device, not part of the stored model
        super().end_phase(phase)

    @staticmethod
    def loss(num_old: int, aux_weight: float):
        """Cross-entropy over all classes + aux_weight x the auxiliary cross-entropy (Eq. 6)."""

        def loss(net, batch):
            feats = net.backbone.branch_features(batch.x)
            logits = net.head(torch.cat(feats, dim=1))
            aux_y = torch.where(batch.y >= num_old, batch.y - num_old + 1, torch.zeros_like(batch.y))
            return F.cross_entropy(logits, batch.y) + aux_weight * F.cross_entropy(net.aux(feats[-1]), aux_y)

        return loss
