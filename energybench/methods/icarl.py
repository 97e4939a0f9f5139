"""icarl: iCaRL (Rebuffi et al. 2017): herding exemplars, sigmoid-BCE distillation, NME classifier.

Training (Alg. 3) on the new data plus the exemplars, with one sigmoid output per class and the
binary cross-entropy over all classes seen so far: for new classes the target is the one-hot
label, for old classes it is the previous model's sigmoid output on the same (augmented)
sample; the loss is the mean over batch x classes, as in the original code. The old-class part
is written as a binary KL (see distill.py): same gradients, zero when the model equals its copy.
After training, the memory is reduced and the new classes are selected by herding (Alg. 4-5);
classification is by the nearest mean of exemplars (Alg. 1; features and means L2-normalised).
`predict` gives {"nme": ... (primary), "cnn": the sigmoid head's argmax, iCaRL's "hybrid1"}.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from energybench.data.scenario import Phase
from energybench.methods.base import ExemplarMethod
from energybench.methods.distill import binary_kd, features_with_old


class ICaRL(ExemplarMethod):
    name = "icarl"
    description = "iCaRL: herding exemplars, sigmoid-BCE distillation, nearest-mean-of-exemplars classifier"
    classifiers = ("nme", "cnn")

    def learn(self, phase: Phase) -> None:
        idx = torch.cat([phase.train_idx, self.memory.indices()])
        self.fit(self.net, idx, self.loss(phase.first_class, phase.seen, self.old), kind="icarl",
                 desc=f"{self.name} phase {phase.index}")
        self.memory.update(self.ctx, self.net, phase.train_idx, phase.seen)

    @staticmethod
    def loss(num_old: int, seen: int, old):
        """Mean over batch x classes of BCE(one-hot) on new classes + binary KD on old ones."""

        def loss(net, batch):
            onehot = F.one_hot(batch.y, seen).float()
            if old is None:
                return F.binary_cross_entropy_with_logits(net(batch.x), onehot)
            feats, old_feats = features_with_old(net, old, batch.x)
            logits = net.head(feats)
            new_part = F.binary_cross_entropy_with_logits(logits[:, num_old:], onehot[:, num_old:], reduction="sum")
            old_part = binary_kd(logits[:, :num_old], old.head(old_feats)).sum()
            return (new_part + old_part) / logits.numel()

        return loss
