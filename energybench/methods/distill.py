"""Distillation pieces shared by lwf, icarl, eeil and lucir: the frozen copy of the previous
model, a forward that runs it next to the current one, and the loss terms.

The previous model always runs inside the loss function (so the trainer's op counter sees its
forward in the step profile); its outputs are never precomputed. With sharing, the first
`net.frozen_blocks` blocks of the current and the previous model are the same frozen weights
in eval mode (they have not changed since phase 0), so their output is computed once and fed
to both models: the previous model only costs its unshared blocks, as it would in hardware.

Soft-target terms are written as KL divergences: the papers' cross-entropy with the old
model's soft targets minus the targets' entropy, which does not depend on the trained weights.
Gradients are identical, and the term is exactly zero when the model equals its old copy.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from energybench.models import IncrementalNet


def snapshot(net: IncrementalNet) -> IncrementalNet:
    """A frozen copy of `net` in eval mode (the previous model, or EEIL's pre-fine-tuning model)."""
    old = copy.deepcopy(net)
    old.eval()
    old.requires_grad_(False)
    return old


def features_with_old(net: IncrementalNet, old: IncrementalNet, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Backbone features of the current model (with gradients) and of the old one (without)."""
    k = net.frozen_blocks
    if k:
        with torch.no_grad():
            x = net.backbone.forward_until(x, k)
    feats = net.backbone(x, start=k)
    with torch.no_grad():
        old_feats = old.backbone(x, start=k)
    return feats, old_feats


def head_spans(head) -> list[tuple[int, int]]:
    """[start, end) output columns of each per-phase chunk of a growing head."""
    spans, start = [], 0
    for chunk in head.chunks:
        spans.append((start, start + chunk.out_features))
        start += chunk.out_features
    return spans


def soft_kd(logits: torch.Tensor, old_logits: torch.Tensor, T: float) -> torch.Tensor:
    """KL(softmax(old/T) || softmax(new/T)), summed over classes, averaged over the batch."""
    return F.kl_div(F.log_softmax(logits / T, dim=1), F.log_softmax(old_logits / T, dim=1),
                    log_target=True, reduction="batchmean")


def binary_kd(logits: torch.Tensor, old_logits: torch.Tensor) -> torch.Tensor:
    """Per-element binary KL between sigmoid(old) targets and sigmoid(new) (iCaRL's distillation,
    its binary cross-entropy minus the targets' entropy); same shape as `logits`."""
    q = torch.sigmoid(old_logits)
    return (F.binary_cross_entropy_with_logits(logits, q, reduction="none")
            - F.binary_cross_entropy_with_logits(old_logits, q, reduction="none"))


def less_forget(feats: torch.Tensor, old_feats: torch.Tensor) -> torch.Tensor:
    """LUCIR's less-forget constraint (Eq. 6): mean over the batch of 1 - cos(f(x), f*(x))."""
    return (1.0 - F.cosine_similarity(feats, old_feats, dim=1)).mean()


def margin_ranking(cos: torch.Tensor, y: torch.Tensor, num_old: int, margin: float, k: int) -> torch.Tensor:
    """LUCIR's inter-class separation (Eq. 8) on unscaled cosines.

    Anchors are the batch's old-class samples; for each, the ground-truth cosine must beat each
    of the K highest new-class cosines by `margin`: mean over anchors x K of
    max(0, margin - cos_gt + cos_neg) (the reference code's MarginRankingLoss). Zero (with a
    graph) when the batch has no old-class sample. K is capped by the number of new classes.
    """
    anchors = y < num_old
    if num_old == 0 or not bool(anchors.any()) or cos.shape[1] <= num_old:
        return cos.sum() * 0.0
    gt = cos[anchors].gather(1, y[anchors].unsqueeze(1))
    hard = cos[anchors, num_old:].topk(min(k, cos.shape[1] - num_old), dim=1).values
    return F.relu(margin - gt + hard).mean()
