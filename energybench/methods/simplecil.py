"""simplecil: a frozen backbone and a prototype classifier (SimpleCIL; Zhou et al. 2023,
"Revisiting Class-Incremental Learning with Pre-Trained Models: Generalizability and
Adaptivity are All You Need").

Implements the paper's SimpleCIL (its prototype-classifier baseline; the paper's text is not in
this repository, so no section number is cited): the
backbone is never trained in an incremental phase; each class is represented by its prototype,
the mean feature of its training samples (no augmentation, eval mode), and a sample is scored by
the cosine between its feature and every prototype. The backbone comes from `--weights` when
given (the paper's pre-trained model: phase 0 then trains nothing) or else from a base phase
trained here with cross-entropy on phase 0's classes (PyCIL's re-implementation "without
pre-trained weights"), whose linear head is then replaced by prototypes. This is sharing 1.0:
the whole backbone is shared by every phase, so the sharing level does not apply (the row's
sharing_achieved is 1.0 from phase 1 on, and a sweep runs it once). No exemplars are stored;
under a memory budget its total memory is its model alone.

Costs: computing the prototypes runs the backbone over the phase's training data once; those
forwards are counted as evaluation work (memory.extract_features), and an incremental phase has
no training steps at all. Storage: the backbone plus one prototype per class.

Reference code checked against: PyCIL (LAMDA-CL/PyCIL, MIT) models/simplecil.py
(replace_fc), utils/inc_net.py SimpleCosineIncrementalNet, exps/simplecil.json (read, not
copied); the paper's own code (zhoudw-zdw/RevisitingCIL) was not read.

Deviations (reasons):
- the base phase (without --weights) trains a linear head under the run's protocol, not PyCIL's
  cosine classifier with cosine annealing at lr 0.01 for 200 epochs: the same base training as
  the run's other methods; `base_epochs` sets its length;
- the prototypes of phase 0's classes are computed with the trained backbone as in PyCIL
  (replace_fc after the base phase).
"""

from __future__ import annotations

from typing import Any

import torch

from energybench.cost.memory_model import storage_bytes
from energybench.data.scenario import Phase
from energybench.methods.base import Method
from energybench.methods.memory import extract_features
from energybench.methods.options import integer
from energybench.models.heads import PrototypeHead
from energybench.models.surgery import Cut


class SimpleCIL(Method):
    name = "simplecil"
    description = "SimpleCIL: a frozen backbone (sharing 1.0) and a cosine prototype classifier"
    options = {"base_epochs": integer(None, ge=1, optional=True)}
    shares = False  # the whole backbone is shared at every level: one run covers the sweep
    own_sharing = "the whole backbone"
    under_budget = True  # its model alone: no exemplars
    supports_cache = False

    @classmethod
    def protocol_notes(cls, opts: dict[str, Any], cfg) -> list[str]:
        notes = ["sharing 1.0 at every level: the backbone is frozen after phase 0, classes are prototypes"]
        if cfg.weights is not None:
            notes.append("the backbone is the given weights, untrained here (no base phase training)")
        elif opts["base_epochs"] is not None and opts["base_epochs"] != cfg.epochs:
            notes.append(f"base phase trains {opts['base_epochs']} epochs (the run: {cfg.epochs})")
        return notes

    @classmethod
    def stored_bytes_by_phase(cls, cfg, sizes: list[int], in_shape: tuple[int, ...],
                              sharing: float = 0.0) -> list[int]:
        """The backbone plus one prototype per class seen (learn's head), on the meta device."""
        with torch.device("meta"):
            net = cls.network(cfg, in_shape, sizes[0])
            net.head = PrototypeHead(net.backbone.out_dim)
            out = []
            for n in sizes:
                net.head.add_prototypes(torch.empty(n, net.backbone.out_dim))
                out.append(storage_bytes(net, 0, cfg.precision))
        return out

    def begin_phase(self, phase: Phase) -> None:
        if phase.index == 0:
            self.net = self.new_net(len(phase.classes))
        else:
            blocks = len(self.net.backbone.blocks)
            self.cut = Cut(self.ctx.sharing, 1.0, blocks)
            self.net.frozen_blocks = blocks

    def learn(self, phase: Phase) -> None:
        if phase.index == 0:
            if self.ctx.cfg.weights is None:
                self.fit(self.net, phase.train_idx, kind="simplecil_ce", epochs=self.opts["base_epochs"],
                         desc=f"{self.name} phase 0")
            self.net.requires_grad_(False)
            self.net.eval()
            self.net.head = PrototypeHead(self.net.backbone.out_dim).to(self.ctx.device)
        self.net.head.add_prototypes(self.prototypes(phase))

    @torch.no_grad()
    def prototypes(self, phase: Phase) -> torch.Tensor:
        """Each new class's mean feature over its training samples (PyCIL replace_fc)."""
        feats = extract_features(self.ctx, self.net, phase.train_idx)
        labels = self.ctx.scenario.train_y[phase.train_idx]
        return torch.stack([feats[labels == c].mean(0) for c in phase.classes]).to(self.ctx.device)
