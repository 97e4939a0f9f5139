"""lucir: Learning a Unified Classifier Incrementally via Rebalancing (Hou et al. 2019).

Follows the reference code (hshustc/CVPR19_Incremental_Learning, `class_incremental_cosine_*`
and `cbf_class_incremental_cosine_*` with `incremental_train_and_eval_MR_LF`):
- Cosine-normalised classifier sigma * <f/|f|, w/|w|> with a learnable sigma (init 1, trained in
  every phase), and the backbone's last ReLU removed (models/last_relu.py) from phase 0 on.
- Phase 0: cross-entropy on the scaled cosines.
- Incremental phase, before training: new-class embeddings are imprinted: for each new class,
  the mean of its training samples' L2-normalised features (current model, eval mode), then
  normalised and scaled by the mean norm of the old embeddings (the scale only matters for the
  optimisation: the layer normalises weights). That feature pass is counted as inference.
- Training on new data + exemplars with old-class embeddings frozen:
      CE(sigma * cos) + lambda * mean(1 - cos(f(x), f*(x))) + lw_mr * L_mr
  f* from the previous model, run inside the loss. L_mr: margin ranking (m = 0.5) on unscaled
  cosines, anchors = the batch's old-class samples, negatives = their K = 2 highest new-class
  cosines (distill.margin_ranking).
- lambda = lambda_base * sqrt(|C_old| / |C_new|), lambda_base = 5 (CIFAR). Discrepancy: the
  paper's Eq. 7 reads lambda_base * sqrt(|C_new| / |C_old|) (and its text says lambda grows with
  the new-to-old ratio), but the reference code computes lamda_mult = old / new ("cur_lamda =
  lamda_base * sqrt(num_old_classes/num_new_classes)"), as does FACIL; we follow the code, so
  lambda grows as more old classes accumulate (B50-5x10: 5 * sqrt(50/5) = 15.8 at phase 1).
- Memory update (herding on the trained model), then, if `cb_finetune` (the reference's CIFAR
  command line enables it: --cb_finetune, ft_flag 2), class-balanced fine-tuning on the memory
  (R per class for every class): `cbf_epochs` (20) epochs at lr x `cbf_lr_factor` (0.01 vs 0.1)
  with the /10 step halfway (ft_lr_strat [10]), backbone and batch norm frozen, sigma frozen,
  old and new embeddings trained. Its loss in the reference is the same CE + LF + MR; with the
  feature extractor frozen the less-forget term is a constant, so the previous model is not run
  there (the gradients are unchanged).
- Prediction: CNN (scaled cosines) and nearest-mean-of-exemplars (class means from the
  exemplars' normalised features, computed at end_phase); predict returns {"cnn", "nme"}. The
  reference also averages each mean with the mirrored images' features; we do not.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from energybench.data.scenario import Phase
from energybench.methods.base import ExemplarMethod
from energybench.methods.distill import features_with_old, less_forget, margin_ranking
from energybench.methods.memory import extract_features
from energybench.methods.options import flag, integer, number
from energybench.models.last_relu import remove_last_relu


def lucir_lambda(lambda_base: float, num_old: int, num_new: int, adapt: bool = True) -> float:
    """The less-forget weight: lambda_base * sqrt(|old| / |new|) (reference code), or lambda_base."""
    return lambda_base * math.sqrt(num_old / num_new) if adapt else lambda_base


@torch.no_grad()
def imprint(feats: torch.Tensor, labels: torch.Tensor, classes: list[int], old_norm: float) -> torch.Tensor:
    """New-class embeddings: normalise(mean_c(normalise(f))) * old_norm, one row per class in `classes`."""
    f = F.normalize(feats, dim=1)
    rows = [F.normalize(f[labels == c].mean(0), dim=0) * old_norm for c in classes]
    return torch.stack(rows)


class LUCIR(ExemplarMethod):
    name = "lucir"
    description = "LUCIR: cosine classifier, less-forget constraint, margin ranking, imprinting, CNN and NME"
    options = {
        "lambda_base": number(5.0, ge=0),
        "adapt_lambda": flag(True),
        "margin": number(0.5, ge=0),
        "K": integer(2, ge=1),
        "lw_mr": number(1.0, ge=0),
        "imprint": flag(True),
        "cb_finetune": flag(True),
        "cbf_epochs": integer(20, ge=1),
        "cbf_lr_factor": number(0.1, gt=0),
    }
    classifiers = ("cnn", "nme")
    cosine_head = True

    @classmethod
    def protocol_notes(cls, opts: dict[str, Any], cfg) -> list[str]:
        if not opts["cb_finetune"]:
            return []
        # fixed by the method, not by the run's epochs: a cost users should see beside its numbers
        n = opts["cbf_epochs"]
        return [f"adds {n} epoch{'s' if n != 1 else ''} of class-balanced fine-tuning of the classifier on the "
                f"exemplars (cbf_epochs) to each incremental phase, whatever the run's epochs ({cfg.epochs}); they "
                "are in its iterations, time and energy"]

    def new_net(self, num_classes: int):
        net = super().new_net(num_classes)
        remove_last_relu(net.backbone)
        return net

    def learn(self, phase: Phase) -> None:
        desc = f"{self.name} phase {phase.index}"
        if phase.index == 0:
            self.fit(self.net, phase.train_idx, desc=desc)
            self.memory.update(self.ctx, self.net, phase.train_idx, phase.seen)
            return
        head, o = self.net.head, self.opts
        if o["imprint"]:
            self.imprint_new(phase)
        for chunk in head.chunks[:-1]:
            chunk.requires_grad_(False)  # old-class embeddings stay fixed during the phase
        lam = lucir_lambda(o["lambda_base"], phase.first_class, len(phase.classes), o["adapt_lambda"])
        self.extra["lucir_lambda"] = lam
        idx = torch.cat([phase.train_idx, self.memory.indices()])
        self.fit(self.net, idx, self.loss(phase.first_class, lam, self.old), kind="lucir", desc=desc)
        self.memory.update(self.ctx, self.net, phase.train_idx, phase.seen)
        if o["cb_finetune"]:
            self.class_balanced_finetune(phase)

    def imprint_new(self, phase: Phase) -> None:
        head = self.net.head
        old_norm = float(torch.cat([c.weight.detach() for c in head.chunks[:-1]]).norm(dim=1).mean())
        feats = extract_features(self.ctx, self.net, phase.train_idx)
        labels = self.ctx.scenario.train_y[phase.train_idx]
        rows = imprint(feats, labels, phase.classes, old_norm)
        head.chunks[-1].weight.data.copy_(rows.to(head.chunks[-1].weight.device))

    def loss(self, num_old: int, lam: float, old):
        o = self.opts

        def loss(net, batch):
            if old is not None:
                feats, old_feats = features_with_old(net, old, batch.x)
            else:
                feats = net.features(batch.x)
            cos = net.head.cosine(feats)
            out = F.cross_entropy(net.head.sigma * cos, batch.y)
            if old is not None and lam:
                out = out + lam * less_forget(feats, old_feats)
            return out + o["lw_mr"] * margin_ranking(cos, batch.y, num_old, o["margin"], int(o["K"]))

        return loss

    def class_balanced_finetune(self, phase: Phase) -> None:
        net, o = self.net, self.opts
        shared = net.frozen_blocks
        net.freeze_blocks(len(net.backbone.blocks))  # feature extractor and its batch norm fixed
        net.head.sigma.requires_grad_(False)
        for chunk in net.head.chunks:
            chunk.requires_grad_(True)
        try:
            self.fit(net, self.memory.indices(), self.loss(phase.first_class, 0.0, None), kind="lucir_cbf",
                     epochs=int(o["cbf_epochs"]), lr=self.ctx.cfg.lr * o["cbf_lr_factor"], milestones=[0.5],
                     desc=f"{self.name} phase {phase.index} class-balanced fine-tuning")
        finally:
            net.freeze_blocks(shared)
            net.head.sigma.requires_grad_(True)
