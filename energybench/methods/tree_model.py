"""The hierarchy of models behind `tree` (Xiao et al. 2014, section 3): nodes, cloning, the
summed-softmax branch output, and root-to-leaf inference.

A leaf's model predicts among its superclass's classes (output i stands for `classes[i]`).
A branch's model is a flat classifier over the classes of its subtree it was trained on;
the probability of child k is the sum of its softmax units over the classes under child k
(Fig. 4). Inference goes from the root to the child of highest probability until a leaf.

Every model of a tree has the same backbone; the frozen (shared) prefix of blocks is one set
of module objects for all of them, so inference computes it once per sample and storage
counts it once.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from energybench.models import IncrementalNet
from energybench.models.heads import GrowingLinear

# model, trunk output (the input of block `start`), start -> logits
Forward = Callable[[IncrementalNet, torch.Tensor, int], torch.Tensor]


@dataclass(eq=False)  # nodes are compared by identity (they hold models)
class Node:
    model: IncrementalNet
    classes: list[int]  # leaf: its superclass; branch: the classes its head units stand for
    node_id: int
    origin: str  # how the model was made: base, flat, clone-leaf, clone-branch
    children: list["Node"] = field(default_factory=list)
    child_of: list[int] = field(default_factory=list)  # branch: child index of each head unit

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def nodes(self) -> Iterator["Node"]:
        yield self
        for child in self.children:
            yield from child.nodes()

    def leaves(self) -> list["Node"]:
        return [n for n in self.nodes() if n.is_leaf]

    def subtree_classes(self) -> list[int]:
        return [c for leaf in self.leaves() for c in leaf.classes]

    def depth(self) -> int:
        return 1 + max((c.depth() for c in self.children), default=0)

    def describe(self, names: list[str]) -> dict:
        out = {"id": self.node_id, "kind": "leaf" if self.is_leaf else "branch", "origin": self.origin,
               "classes": self.classes, "class_names": [names[c] for c in self.classes]}
        if not self.is_leaf:
            out["superclasses"] = [child.subtree_classes() for child in self.children]
            out["children"] = [child.describe(names) for child in self.children]
        return out


def clone_model(src: IncrementalNet, shared_blocks: int) -> IncrementalNet:
    """A copy with independent parameters, except the first `shared_blocks` backbone blocks,
    which stay the very same modules (the shared, frozen prefix)."""
    memo = {id(block): block for block in src.backbone.blocks[:shared_blocks]}
    return copy.deepcopy(src, memo)


def head_weights(model: IncrementalNet) -> tuple[torch.Tensor, torch.Tensor]:
    chunks = model.head.chunks
    return torch.cat([c.weight for c in chunks]), torch.cat([c.bias for c in chunks])


def clone_leaf(src: Node, keep: list[int], new: list[int], shared_blocks: int) -> IncrementalNet:
    """A leaf model for superclass keep + new cloned from `src`'s model: old classes keep their
    output weights, new classes get freshly initialised ones (section 4.1)."""
    model = clone_model(src.model, shared_blocks)
    weight, bias = head_weights(src.model)
    rows = [src.classes.index(c) for c in keep]
    head = GrowingLinear(model.head.in_dim).to(weight.device)
    chunk = head.add_classes(len(keep))
    with torch.no_grad():
        chunk.weight.copy_(weight[rows])
        chunk.bias.copy_(bias[rows])
    if new:
        head.add_classes(len(new))
    model.head = head
    return model


def superclass_probs(logits: torch.Tensor, child_of: list[int], k: int) -> torch.Tensor:
    """Branch output (Fig. 4): child k's probability is the sum of the softmax units of the
    classes under child k."""
    probs = F.softmax(logits, dim=1)
    index = torch.as_tensor(child_of, device=logits.device).expand_as(probs)
    return torch.zeros(len(probs), k, device=logits.device, dtype=probs.dtype).scatter_add_(1, index, probs)


def plain_forward(model: IncrementalNet, h: torch.Tensor, start: int) -> torch.Tensor:
    return model(h, start=start)


@contextmanager
def inference(models: list[nn.Module]):
    """Batch-norm running statistics and no gradients for every model; modes restored after."""
    modes = [m.training for m in models]
    for m in models:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(models, modes):
            m.train(mode)


def route(root: Node, h: torch.Tensor, num_classes: int, start: int = 0, forward: Forward = plain_forward,
          score_leaves: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Hierarchical inference on trunk outputs `h` (entering block `start`).

    Returns scores (N, num_classes): for the leaf each sample is routed to, the product of
    the probabilities along its path times the leaf's softmax, zero for every other class (so
    argmax is the hierarchical decision); and the node id of that leaf per sample. With
    `score_leaves=False` only the branches run (the scores stay zero).
    """
    scores = torch.zeros(len(h), num_classes, device=h.device)
    leaf_id = torch.full((len(h),), -1, dtype=torch.long)

    def visit(node: Node, rows: torch.Tensor, path: torch.Tensor) -> None:
        if len(rows) == 0:
            return
        x = h[rows]
        if node.is_leaf:
            leaf_id[rows.cpu()] = node.node_id
            if not score_leaves:
                return
            # a one-class superclass needs no forward: its class has probability 1
            probs = (torch.ones(len(rows), 1, device=h.device) if len(node.classes) == 1
                     else F.softmax(forward(node.model, x, start), dim=1))
            cols = torch.as_tensor(node.classes, device=h.device)
            scores[rows.unsqueeze(1), cols.unsqueeze(0)] = path.unsqueeze(1) * probs
            return
        p = superclass_probs(forward(node.model, x, start), node.child_of, len(node.children))
        pick = p.argmax(1)
        for k, child in enumerate(node.children):
            sel = pick == k
            visit(child, rows[sel], path[sel] * p[sel, k])

    visit(root, torch.arange(len(h), device=h.device), torch.ones(len(h), device=h.device))
    return scores, leaf_id
