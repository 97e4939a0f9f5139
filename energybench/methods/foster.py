"""foster: FOSTER, feature boosting and compression (Wang et al., ECCV 2022).

Implements the paper's feature boosting and feature compression (no section number is cited:
the paper's text is not in this repository), as PyCIL does:
- phase 0: one network, cross-entropy;
- phase t > 0, boosting: the model as the phase found it (one extractor) is frozen, a new
  extractor (a copy of it) is added, and one classifier reads both extractors' features (old
  weights kept). Loss: the logit-adjusted cross-entropy over all classes (logits divided by
  class-balanced weights from the effective number of samples, beta1), plus the cross-entropy
  of a classifier on the new extractor's features alone, plus `lambda_okd` x the distillation
  of the old classes' logits from the old classifier on the old features (T);
- compression: a student with one extractor (initialised from the old one, old classes'
  classifier rows from the old classifier) learns the boosted model's logits by balanced
  knowledge distillation (soft targets re-weighted by beta2's class weights, T); the boosted
  model runs in every compression step (its forward is counted with the student's; a frozen
  shared trunk runs once for both), and is
  discarded after: the student is the stored model and what is evaluated, so the model stays
  one extractor wide; exemplars are then selected by herding with the student.
During boosting every step runs both extractors (the old one without a backward to weights).
Storage (storage_bytes) is the stored student; while a phase trains, the boosted model and the
student are both held (one extractor and one classifier more).

Reference code checked against: PyCIL (LAMDA-CL/PyCIL, MIT) models/foster.py,
utils/inc_net.py FOSTERNet, exps/foster.json (read, not copied).

Sharing (`--sharing`): nothing is shared at sharing 0 (the default). A level s > 0 freezes the
blocks up to the nearest boundary at phase 1 as one trunk under the old and the new extractor
and the student, stored and run once; boosting and compression train the blocks after it.

Deviations (reasons):
- class counts for the class-balanced weights are the ones actually trained on (each old
  class's stored exemplars, each new class's samples), where PyCIL uses the memory quota and
  500 for CIFAR-100's new classes (the same on CIFAR-100, right on any other dataset);
- the distillation terms are written as KL divergences (distill.py: same gradients);
- the evaluated model is the compressed student (the paper's FOSTER result, constant size);
  PyCIL's end-of-task evaluation scores the boosted model and logs the student's accuracy;
- the run's shared protocol (SGD with its milestones, epochs, augmentation) rather than
  PyCIL's cosine annealing over 200/170/130 epochs; `boosting_epochs` and
  `compression_epochs` (None: the run's) set the two stages' lengths; compression has no weight
  decay, as in PyCIL;
- PyCIL's options oofc "az" and teacher/student weight aligning (off in its config) are not
  implemented.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from energybench.cost.memory_model import storage_bytes
from energybench.data.scenario import Phase
from energybench.methods.base import ExemplarMethod
from energybench.methods.distill import soft_kd
from energybench.methods.options import integer, number
from energybench.models.branches import BranchBackbone, BranchNet
from energybench.models.surgery import Cut, clone


def class_weights(counts: list[int], beta: float) -> torch.Tensor:
    """Class-balanced weights from the effective number of samples (Cui et al. 2019), as FOSTER
    uses them: (1 - beta) / (1 - beta^n_c), normalised to sum to the number of classes."""
    n = torch.tensor(counts, dtype=torch.float64)
    w = (1.0 - beta) / (1.0 - beta ** n)
    return (w / w.sum() * len(counts)).float()


def balanced_kd(logits: torch.Tensor, teacher: torch.Tensor, weights: torch.Tensor, T: float) -> torch.Tensor:
    """FOSTER's BKD: KL from the teacher's softmax(T), re-weighted per class and re-normalised."""
    soft = F.softmax(teacher / T, dim=1) * weights
    soft = soft / soft.sum(1, keepdim=True)
    return F.kl_div(F.log_softmax(logits / T, dim=1), soft, reduction="batchmean")


class FOSTER(ExemplarMethod):
    name = "foster"
    description = "FOSTER: boost with a second extractor, then compress back to one by distillation"
    options = {
        "T": number(2.0, gt=0),
        "lambda_okd": number(1.0, ge=0),
        "beta1": number(0.96, gt=0, lt=1),
        "beta2": number(0.97, gt=0, lt=1),
        "boosting_epochs": integer(None, ge=1, optional=True),
        "compression_epochs": integer(None, ge=1, optional=True),
    }
    uses_previous_model = False  # the old extractor is part of the boosted network

    def __init__(self, ctx):
        super().__init__(ctx)
        self.old_head: nn.Linear | None = None  # the old classifier, during boosting

    @classmethod
    def protocol_notes(cls, opts: dict[str, Any], cfg) -> list[str]:
        notes = []
        for key in ("boosting_epochs", "compression_epochs"):
            if opts[key] is not None and opts[key] != cfg.epochs:
                notes.append(f"{key.replace('_', ' ')}: {opts[key]} (the run: {cfg.epochs})")
        return notes

    def begin_phase(self, phase: Phase) -> None:
        if phase.index == 0:
            self.net = BranchNet.from_net(self.new_net(len(phase.classes)))
            self.spend_budget(phase.seen)
            return
        net = self.net
        self.cut, self.old_head = self.boost(net, self.cut, self.ctx.sharing, len(phase.classes))
        net.aux = nn.Linear(net.backbone.branch_dim, phase.seen).to(self.ctx.device)  # PyCIL fe_fc
        net.train()
        # the budget is spent after compression, when the stored model (the student) exists

    def learn(self, phase: Phase) -> None:
        desc = f"{self.name} phase {phase.index}"
        if phase.index == 0:
            self.fit(self.net, phase.train_idx, kind="foster_ce", desc=desc)
        else:
            o = self.opts
            idx = torch.cat([phase.train_idx, self.memory.indices()])
            counts = torch.bincount(self.ctx.scenario.train_y[idx], minlength=phase.seen).tolist()
            w1 = class_weights(counts, o["beta1"]).to(self.ctx.device)
            self.fit(self.net, idx, self.boosting(phase.first_class, w1), kind="foster_boost",
                     epochs=o["boosting_epochs"], desc=f"{desc} boosting")
            teacher = self.net
            teacher.aux = None
            teacher.requires_grad_(False)
            teacher.eval()
            student = self.student(phase.seen)
            w2 = class_weights(counts, o["beta2"]).to(self.ctx.device)
            self.fit(student, idx, self.compression(teacher, w2), kind="foster_compress",
                     epochs=o["compression_epochs"], weight_decay=0.0, desc=f"{desc} compression")
            self.net, self.old_head = student, None
            self.spend_budget(phase.seen)
        self.memory.update(self.ctx, self.net, phase.train_idx, phase.seen)

    @staticmethod
    def boost(net: BranchNet, cut: Cut | None, sharing: float, num_new: int) -> tuple[Cut, nn.Linear]:
        """The boosted network of phase t > 0: at phase 1 (no cut yet) the sharing level becomes a
        frozen trunk; everything the phase found is frozen; a new extractor and a head widened for
        `num_new` classes are added. Returns the cut and the old (frozen) classifier."""
        if cut is None:
            cut = net.split_at(sharing)
        for part in [*net.backbone.trunk, *net.backbone.branches]:
            net.freeze(part)
        old_head = net.head
        old_head.requires_grad_(False)
        net.add_branch(num_new)
        return cut, old_head

    def student(self, num_classes: int) -> BranchNet:
        return self.compressed(self.net, self.old_head, num_classes).train()

    @staticmethod
    def compressed(boosted: BranchNet, old_head: nn.Linear, num_classes: int) -> BranchNet:
        """The student, the stored model: the shared trunk (same objects), a trainable copy of the
        old extractor, and a classifier whose old classes' rows are the old classifier's (PyCIL
        copy_fc), on the old classifier's device."""
        bb = boosted.backbone
        branch = clone(bb.branches[0])
        branch.requires_grad_(True)
        head = nn.Linear(bb.branch_dim, num_classes).to(old_head.weight.device)
        with torch.no_grad():
            head.weight[: old_head.out_features] = old_head.weight
            head.bias[: old_head.out_features] = old_head.bias
        return BranchNet(BranchBackbone(list(bb.trunk), [branch], bb.branch_dim), head)

    @classmethod
    def stored_bytes_by_phase(cls, cfg, sizes: list[int], in_shape: tuple[int, ...],
                              sharing: float = 0.0) -> list[int]:
        """The stored model is one extractor wide at every phase: boosted (boost), then compressed
        (compressed), as learn does, on the meta device; the boosted model is held only while a
        phase trains."""
        with torch.device("meta"):
            net = BranchNet.from_net(cls.network(cfg, in_shape, sizes[0]))
            out, cut, seen = [storage_bytes(net, 0, cfg.precision)], None, sizes[0]
            for n in sizes[1:]:
                seen += n
                cut, old_head = cls.boost(net, cut, sharing, n)
                net = cls.compressed(net, old_head, seen)
                out.append(storage_bytes(net, 0, cfg.precision))
        return out

    def boosting(self, num_old: int, weights: torch.Tensor):
        T, lam, old_head = self.opts["T"], self.opts["lambda_okd"], self.old_head

        def loss(net, batch):
            feats = net.backbone.branch_features(batch.x)
            logits = net.head(torch.cat(feats, dim=1))
            out = F.cross_entropy(logits / weights, batch.y) + F.cross_entropy(net.aux(feats[-1]), batch.y)
            with torch.no_grad():
                old_logits = old_head(feats[0])
            return out + lam * soft_kd(logits[:, :num_old], old_logits, T)

        return loss

    def compression(self, teacher: BranchNet, weights: torch.Tensor):
        T = self.opts["T"]

        def loss(net, batch):
            with torch.no_grad():  # the frozen trunk is the same modules in both: run once
                h = net.backbone.forward_trunk(batch.x)
            logits = net.head(net.backbone.branches[0](h))
            with torch.no_grad():
                t_logits = teacher.head(torch.cat([b(h) for b in teacher.backbone.branches], dim=1))
            return balanced_kd(logits, t_logits, weights, T)

        return loss

    def end_phase(self, phase: Phase) -> None:
        self.old_head = None
        super().end_phase(phase)
