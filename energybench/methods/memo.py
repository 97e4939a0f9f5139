"""memo: MEMO, Memory-efficient Expandable MOdel (Zhou et al., ICLR 2023, "A Model or 603
Exemplars: Towards Memory-Efficient Class-Incremental Learning").

Implements the paper's method (by its content; the paper's text is not in this repository, so no
section number is cited: generalised shallow blocks shared, specialised deep blocks added per
phase) and its argument that methods be compared at equal total memory, model plus exemplars
(the run option `memory_budget`: the exemplar memory keeps what the model leaves, so MEMO, whose
model grows by one deep block a phase, keeps fewer exemplars as it grows):
- phase 0: one network (trunk + specialised block) trained with cross-entropy;
- phase t > 0: the backbone is cut at the sharing level (the shared depth: MEMO's
  "generalised blocks" are the blocks up to the cut) into one trunk under every specialised
  block; a new specialised block, a copy of the newest, is added; old specialised blocks are
  frozen (PyCIL train_adaptive: false); the classifier reads all specialised blocks'
  concatenated features; the loss is DER's: cross-entropy + `aux_weight` x the auxiliary
  cross-entropy on the new block's features (PyCIL alpha_aux = 1); weight aligning after.
  The trunk runs once per step and every specialised block runs on its output (the counter
  sees one trunk + t + 1 blocks); at sharing 0 there is no trunk and MEMO is DER.

Reference code checked against: PyCIL (LAMDA-CL/PyCIL, MIT) models/memo.py, utils/inc_net.py
AdaptiveNet, exps/memo.json (read, not copied). The network and loss are DER's (methods/der.py),
as in PyCIL, where AdaptiveNet is DERNet with a shared TaskAgnosticExtractor.

The trunk (`train_base`): PyCIL's MEMO config keeps training the generalised blocks with the
exemplars in every phase (train_base: true), so by default the trunk here stays trainable and the
sharing level is the *shared* depth, not a frozen one (said in the report's method note);
`train_base: false` freezes it, as the benchmark's other methods freeze what they share.

Deviations (reasons):
- the split point is the run's sharing level (block boundaries of the run's backbone) rather
  than PyCIL's fixed memo_resnet32 split after the second stage: the sweep is what this
  benchmark is for;
- the run's shared protocol (SGD schedule, epochs, augmentation), as for DER.
"""

from __future__ import annotations

from typing import Any

from energybench.methods.der import DER
from energybench.methods.options import flag, number


class MEMO(DER):
    name = "memo"
    description = "MEMO: a shared trunk (the sharing level) and one specialised deep block per phase"
    options = {"aux_weight": number(1.0, ge=0), "weight_align": flag(True), "train_base": flag(True)}

    def __init__(self, ctx):
        super().__init__(ctx)
        self.train_trunk = self.opts["train_base"]

    @classmethod
    def protocol_notes(cls, opts: dict[str, Any], cfg) -> list[str]:
        if not opts["train_base"]:
            return []  # the trunk frozen, as the run's other methods freeze what they share
        at_0 = " At sharing 0 there is no trunk: MEMO is DER there, number for number" if 0.0 in (
            getattr(cfg, "sharing", None) or []) else ""
        return ["the shared trunk (the sharing level) keeps training in every phase, as in MEMO's reference "
                "config (train_base); it is shared, not frozen." + at_0]
