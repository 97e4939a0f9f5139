"""eeil: End-to-End Incremental Learning (Castro et al. 2018).

Per incremental phase (paper Sec. 4, original MatConvNet code `incremental_training.m`):
1. Training set: the new classes' data plus the exemplar memory.
2. Training with the cross-distilled loss (Eq. 1): cross-entropy over all classes plus, for each
   old classification layer f (one head chunk per earlier phase), a distillation term at T = 2
   between the softmax of that layer's logits and the previous model's, on every training
   sample (new data and exemplars). The previous model runs inside the loss.
3. Balanced fine-tuning: the same number n of samples per class (n = the memory's per-class
   quota once the new classes are in; old classes keep their first n exemplars, new classes are
   subsampled to n by the selection rule with the trained model), learning rate x0.1
   (paper: 0.01 vs 0.1), `finetune_epochs` epochs (paper: 30, /10 after a third and two thirds:
   `finetune_milestones`). A
   temporary distillation term is added for the newest layer; as in the original code, the
   distillation targets of every layer now come from the model as it was before fine-tuning.
   Accuracy on the phase's test set is measured before this step (extra columns
   acc_before_finetune[_old,_new]; that evaluation is counted); acc_all is after it.
4. Memory update with the fine-tuned model: old classes shrink to the quota, new classes are
   selected (herding by default).
Phase 0 is plain cross-entropy training (with the same augmentation), then memory selection.

Data augmentation (Sec. 5), applied on the fly to every training batch, all transforms composed
on each sample (the paper instead makes separate brightness / contrast / crop / mirror copies):
random crop after zero padding of side/8 pixels (4 at 32x32, 3 at 28x28, 1 at 8x8), horizontal
mirror except for digits/characters (digits, mnist; a flipped 2 is not a 2), brightness
U(-b, b) and contrast U(1-c, 1+c) in normalised units. Defaults b = 0.5, c = 0.5 suit 28x28 grey
images (about +-18% of the pixel range at Fashion-MNIST's std 0.353, and contrast 0.5..1.5):
the paper's +-63/255 and 0.2..1.8 applied together with a crop wash out small grey images.
The CIFAR-100 config sets the paper's ranges. Not implemented: the paper's gradient noise
(eta = 0.3, gamma = 0.55; FACIL also leaves it off by default).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from energybench.data.augment import Augment, default_augment
from energybench.data.scenario import Phase, take
from energybench.methods.base import ExemplarMethod
from energybench.methods.distill import features_with_old, head_spans, snapshot, soft_kd
from energybench.methods.options import flag, fractions, integer, number
from energybench.training.trainer import EVAL_BATCH

NO_MIRROR = ("digits", "mnist")


class EEIL(ExemplarMethod):
    name = "eeil"
    description = "End-to-End Incremental Learning: cross-distilled loss, augmentation, balanced fine-tuning"
    options = {
        "T": number(2.0, gt=0),
        "augment": flag(True),  # false: use the run's `augment` setting instead
        "brightness": number(0.5, ge=0),
        "contrast": number(0.5, ge=0, lt=1),
        "crop_pad": integer(None, ge=0, optional=True),  # None: side // 8
        "mirror": flag(None, optional=True),  # None: yes except for digits and mnist
        "balanced_finetune": flag(True),
        "finetune_epochs": integer(30, ge=1),
        "finetune_lr_factor": number(0.1, gt=0),
        "finetune_milestones": fractions([1 / 3, 2 / 3]),  # paper: 30 epochs, /10 after 10 and 20
    }

    def augmentation(self) -> Augment | None:
        o, cfg = self.opts, self.ctx.cfg
        if not o["augment"]:
            return None  # the trainer's default (the run's `augment`)
        aug = default_augment(cfg.dataset, self.ctx.scenario.source.in_shape)
        return replace(aug, crop_pad=aug.crop_pad if o["crop_pad"] is None else int(o["crop_pad"]),
                       mirror=cfg.dataset not in NO_MIRROR if o["mirror"] is None else bool(o["mirror"]),
                       brightness=float(o["brightness"]), contrast=float(o["contrast"]))

    def learn(self, phase: Phase) -> None:
        aug, desc = self.augmentation(), f"{self.name} phase {phase.index}"
        if phase.index == 0:
            self.fit(self.net, phase.train_idx, kind="eeil_ce", augment=aug, desc=desc)
        else:
            idx = torch.cat([phase.train_idx, self.memory.indices()])
            self.fit(self.net, idx, self.cross_distilled(self.old), kind="eeil", augment=aug, desc=desc)
            if self.opts["balanced_finetune"]:
                self.balanced_finetune(phase, aug)
        self.memory.update(self.ctx, self.net, phase.train_idx, phase.seen)

    def balanced_finetune(self, phase: Phase, aug: Augment | None) -> None:
        self.extra.update(self.test_accuracy(phase, "acc_before_finetune"))
        n = self.memory.quota(phase.seen)
        new = self.memory.order(self.ctx, self.net, phase.train_idx, n)
        old = {c: v[:n] for c, v in self.memory.classes.items()}
        idx = torch.cat([v for _, v in sorted({**old, **new}.items())])
        teacher = snapshot(self.net)  # the model before fine-tuning, newest layer included
        self.fit(self.net, idx, self.cross_distilled(teacher), kind="eeil_balanced", augment=aug,
                 epochs=int(self.opts["finetune_epochs"]), lr=self.ctx.cfg.lr * self.opts["finetune_lr_factor"],
                 milestones=[float(m) for m in self.opts["finetune_milestones"]],
                 desc=f"{self.name} phase {phase.index} balanced fine-tuning")

    def cross_distilled(self, teacher):
        """CE over all classes + one KD term (T) per classification layer of `teacher`."""
        spans, T = head_spans(teacher.head), self.opts["T"]

        def loss(net, batch):
            feats, t_feats = features_with_old(net, teacher, batch.x)
            logits, t_logits = net.head(feats), teacher.head(t_feats)
            out = F.cross_entropy(logits, batch.y)
            for a, b in spans:
                out = out + soft_kd(logits[:, a:b], t_logits[:, a:b], T)
            return out

        return loss

    @torch.no_grad()
    def test_accuracy(self, phase: Phase, prefix: str) -> dict[str, float]:
        """CNN accuracy (%) on the phase's test set: all / old / new classes (counted as evaluation)."""
        self.net.eval()
        idx, hits, labels = phase.test_idx, [], []
        for i in range(0, len(idx), EVAL_BATCH):
            x, y = take(self.ctx.scenario, "test", idx[i:i + EVAL_BATCH])
            x = x.to(self.ctx.device)
            key = (prefix, self.name, id(self), phase.index, tuple(x.shape))
            scores = self.ctx.trainer.count_eval(key, lambda: self.net(x), self.net)
            hits.append(scores.argmax(1).cpu() == y)
            labels.append(y)
        hits, y = torch.cat(hits).float(), torch.cat(labels)
        old = y < phase.first_class
        pct = lambda m: float(100 * hits[m].mean()) if m.any() else float("nan")  # noqa: E731
        return {prefix: pct(torch.ones_like(old)), f"{prefix}_old": pct(old), f"{prefix}_new": pct(~old)}
