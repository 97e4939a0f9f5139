"""lwf: Learning without Forgetting (Li & Hoiem 2016) in its multi-class form (LwF.MC).

No exemplars. In an incremental phase the loss on the new data is
    CE(logits over all classes seen so far, label)
    + lamb * KL(softmax(old logits / T) || softmax(current old-class logits / T)),
the multi-class adaptation of LUCIR's Sec. 3.1 (Eq. 1-2), with the distillation written as in
FACIL: the old-class logits of every previous head taken together (one softmax over all old
classes), T = 2, lamb = 1. The previous model runs inside the loss. Prediction: argmax over all
classes.

Option `ce: new` gives FACIL's exact exemplar-free form instead: cross-entropy over the new
head only (labels relative to it) and the previous heads kept fixed; the new head's logits are
then never calibrated against the old ones.
"""

from __future__ import annotations

import torch.nn.functional as F

from energybench.data.scenario import Phase
from energybench.methods.base import Method
from energybench.methods.distill import features_with_old, soft_kd
from energybench.methods.options import choice, number


class LwF(Method):
    name = "lwf"
    description = "multi-class Learning without Forgetting: distil old-class outputs (T=2), no exemplars"
    options = {"T": number(2.0, gt=0), "lamb": number(1.0, ge=0), "ce": choice("all", "new")}
    supports_cache = False  # the loss runs the previous model on the raw inputs
    uses_previous_model = True

    def begin_phase(self, phase: Phase) -> None:
        super().begin_phase(phase)
        if phase.index > 0 and self.opts["ce"] == "new":
            for chunk in self.net.head.chunks[:-1]:  # FACIL: previous heads stay fixed without exemplars
                chunk.requires_grad_(False)

    def learn(self, phase: Phase) -> None:
        desc = f"{self.name} phase {phase.index}"
        if phase.index == 0:
            self.fit(self.net, phase.train_idx, desc=desc)
            return
        self.fit(self.net, phase.train_idx, self.loss(phase.first_class, self.old), kind="lwf", desc=desc)

    def loss(self, num_old: int, old):
        T, lamb, new_only = self.opts["T"], self.opts["lamb"], self.opts["ce"] == "new"

        def loss(net, batch):
            feats, old_feats = features_with_old(net, old, batch.x)
            logits = net.head(feats)
            ce = (F.cross_entropy(logits[:, num_old:], batch.y - num_old) if new_only
                  else F.cross_entropy(logits, batch.y))
            return ce + lamb * soft_kd(logits[:, :num_old], old.head(old_feats), T)

        return loss
