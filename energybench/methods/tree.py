"""tree: error-driven hierarchical growth (Xiao et al. 2014, Algorithms 1 and 2).

Phase 0 trains one leaf model on the base classes. At each later phase (Algorithm 2):

1. the new classes are distributed over the existing leaves: each goes to the leaf that the
   current tree routes most of its held-out samples to (Phi(c, s)); with one leaf, all go there;
2. every leaf that received new classes is extended (Algorithm 1) in two competing ways:
   - flat increment: a copy of the leaf model with output units added for the new classes
     (old weights kept) trained on the data of old and new classes;
   - clone increment: error-driven preview (the confusion matrix of the current leaf model
     on held-out samples of its old and new classes, C_ij = mean softmax probability of
     class j over the samples of class i; see tree_partition.py), spectral partition of the old classes
     into `superclasses` groups by the confusion affinity, each new class joins the group it
     is most confused with, one leaf model per group cloned from the current leaf and
     trained on the group's data, and a branch model that is the trained flat model, whose
     superclass output is the sum of its softmax units over the group's classes;
   the clone wins only if its held-out accuracy on the leaf's classes is higher (Algorithm 1);
3. optionally (`retrain_branches`), every older branch whose subtree gained classes gets
   output units for them and is trained on its subtree's data (flat increment training).

Data: the paper keeps all data; so does this method (each model trains on all stored data of
its classes). A seeded `val_fraction` of every class's training samples (at least one) is
held out when the class arrives and used only for the preview, the flat-vs-clone decision
and the routing of new classes; the models never train on it.

Costs: every model trained goes through the trainer, so steps, examples and MACs sum over all
of them (the paper's "examples of each part are summed up"); preview and validation forwards
are counted as evaluation work. The flat candidate and the K leaf models of a phase (and the
leaves of different superclasses) are independent and could be trained in parallel; they
run one after another here, so measured time is the sequential time.

Inference: root to leaf by the highest superclass probability; `predict` scores each seen
class by the product of path probabilities and the leaf's softmax (zero off the chosen leaf).
Each phase writes `tree.json` (tree, decisions, partitions, validation accuracies) to the cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from energybench.data.scenario import Phase, take
from energybench.files import write_json
from energybench.methods.base import Method
from energybench.methods.options import choice, flag, integer, number
from energybench.methods.tree_model import Node, clone_leaf, clone_model, inference, route, superclass_probs
from energybench.methods.tree_partition import assign_new, confusion_rates, spectral_partition
from energybench.training.trainer import EVAL_BATCH

PARALLEL_NOTE = ("the flat candidate and every clone leaf model of a phase are independent once the preview is "
                 "done, and could be trained in parallel; here they ran one after another, so training time is "
                 "sequential while steps, examples and MACs are sums over all models")


class Tree(Method):
    name = "tree"
    description = "error-driven hierarchical growth: flat or clone increment, chosen on held-out data"
    options = {
        "superclasses": integer(2, ge=2),  # K: superclasses a leaf is split into by a clone increment
        "val_fraction": number(0.1, gt=0, lt=1),  # held-out share of each class's training samples
        "increment": choice("auto", "flat", "clone"),  # auto (Algorithm 1's competition); flat/clone forced
        "retrain_branches": flag(False),  # Algorithm 2's optional refinement of older branch models
    }

    def __init__(self, ctx):
        super().__init__(ctx)
        self.root: Node | None = None
        self.shared_blocks = 0  # prefix blocks common to every model of the tree
        self.incremental = False
        self.train_idx: dict[int, torch.Tensor] = {}  # class -> training indices it trains on
        self.val_idx: dict[int, torch.Tensor] = {}  # class -> held-out indices
        self.history: list[dict[str, Any]] = []  # one record per phase, written to tree.json
        self.phase_log: dict[str, Any] = {}  # the current phase's record
        self._ids = 0

    # ----- hooks -----------------------------------------------------------------------------
    def begin_phase(self, phase: Phase) -> None:
        self.incremental = phase.index > 0
        self._hold_out(phase)
        self.phase_log = {"phase": phase.index, "new_classes": list(phase.classes), "decisions": [],
                          "trained": [], "branches_retrained": []}
        if phase.index == 0:
            self.root = Node(self.new_net(len(phase.classes)), list(phase.classes), self._new_id(), "base")
            self.net = self.root.model
        else:
            self.shared_blocks = self.apply_sharing(self.root.model).blocks

    def learn(self, phase: Phase) -> None:
        if phase.index == 0:
            self._train(self.root, "tree_leaf", "base leaf")
            return
        new_of = self._distribute(list(phase.classes))
        old_branches = [n for n in self.root.nodes() if not n.is_leaf]
        for leaf in self.root.leaves():
            if new_of.get(leaf.node_id):
                self._replace(leaf, self._extend_leaf(leaf, new_of[leaf.node_id], phase))
        if self.opts["retrain_branches"]:
            for branch in old_branches:
                self._retrain_branch(branch)
        self.net = self.root.model

    def end_phase(self, phase: Phase) -> None:
        classes = list(range(phase.seen))
        true, pred, leaf = self._validate(self.root, classes)
        leaf_of = {c: n.node_id for n in self.root.leaves() for c in n.classes}
        acc = float(100 * np.mean(pred == true))
        branch_acc = float(100 * np.mean(leaf == np.array([leaf_of[c] for c in true])))
        decisions = self.phase_log["decisions"]
        self.phase_log.update(val_acc=acc, val_branch_acc=branch_acc, leaves=len(self.root.leaves()),
                              depth=self.root.depth())
        self.history.append(self.phase_log)
        self.extra.update(
            val_acc=acc, val_branch_acc=branch_acc, tree_leaves=len(self.root.leaves()), tree_depth=self.root.depth(),
            clone_increments=sum(d["winner"] == "clone" for d in decisions),
            flat_increments=sum(d["winner"] == "flat" for d in decisions),
            examples_swept=sum(t["examples"] for t in self.phase_log["trained"]))
        self._write_tree()

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        models = [n.model for n in self.root.nodes()]
        with inference(models):
            h = self.root.model.backbone.forward_until(x, self.shared_blocks)
            scores, _ = route(self.root, h, len(self.root.subtree_classes()), self.shared_blocks)
        return {"cnn": scores}

    def storage_modules(self):
        return [n.model for n in self.root.nodes()]

    # ----- Algorithm 2: where the new classes go ----------------------------------------------
    def _distribute(self, new: list[int]) -> dict[int, list[int]]:
        """Leaf id -> new classes: each new class goes to the leaf its held-out samples are
        routed to most often (ties to the leaf met first, left to right)."""
        leaves = self.root.leaves()
        if len(leaves) == 1:
            return {leaves[0].node_id: new}
        true, _, leaf = self._validate(self.root, new, score_leaves=False)
        ids = [n.node_id for n in leaves]
        out: dict[int, list[int]] = {}
        for c in new:
            hits = [int(np.sum(leaf[true == c] == i)) for i in ids]
            out.setdefault(ids[int(np.argmax(hits))], []).append(c)
        self.phase_log["routed_new_classes"] = {str(k): v for k, v in out.items()}
        return out

    # ----- Algorithm 1: flat increment versus clone increment ---------------------------------
    def _extend_leaf(self, leaf: Node, new: list[int], phase: Phase) -> Node:
        old, k = list(leaf.classes), int(self.opts["superclasses"])
        record: dict[str, Any] = {"leaf": leaf.node_id, "old_classes": old, "new_classes": new}
        flat_model = clone_model(leaf.model, self.shared_blocks)
        flat_model.head.add_classes(len(new))
        flat = Node(flat_model, old + new, self._new_id(), "flat")
        self._train(flat, "tree_flat", f"flat increment of leaf {leaf.node_id}")

        can_clone = self.opts["increment"] != "flat" and len(old) >= 2
        if not can_clone:
            record.update(winner="flat", reason="fewer than 2 old classes" if len(old) < 2 else "increment: flat")
            record.update(self._candidate_accuracy(flat, None, old + new))
            self.phase_log["decisions"].append(record)
            return flat

        # error-driven preview: the current leaf model on held-out samples of old and new classes
        true, probs = self._leaf_probabilities(leaf, old + new)
        conf_old = confusion_rates(true, probs, old)
        conf_new = confusion_rates(true, probs, new)
        labels = spectral_partition(conf_old, k, seed=self.ctx.seed * 1000 + phase.index)
        groups = [[c for c, g in zip(old, labels) if g == s] for s in range(max(labels) + 1)]
        joins = assign_new(conf_new, labels)
        new_groups = [[c for c, g in zip(new, joins) if g == s] for s in range(len(groups))]
        children = []
        for keep, add in zip(groups, new_groups):
            child = Node(clone_leaf(leaf, keep, add, self.shared_blocks), keep + add, self._new_id(), "clone-leaf")
            self._train(child, "tree_leaf", f"clone leaf {child.node_id} of leaf {leaf.node_id}")
            children.append(child)
        # The branch is the trained flat model itself (Algorithm 1 clones it; only one survives).
        child_index = {c: i for i, ch in enumerate(children) for c in ch.classes}
        branch = Node(flat.model, flat.classes, self._new_id(), "clone-branch", children,
                      [child_index[c] for c in flat.classes])
        accs = self._candidate_accuracy(flat, branch, old + new)
        forced = self.opts["increment"] == "clone"
        winner = "clone" if forced or accs["clone_val_acc"] > accs["flat_val_acc"] else "flat"
        record.update(
            accs, winner=winner,
            superclasses=[ch.classes for ch in children],
            superclass_names=[[self.ctx.scenario.class_names[c] for c in ch.classes] for ch in children],
            preview_confusion_old=np.round(conf_old, 4).tolist(),
            preview_confusion_new=np.round(conf_new, 4).tolist())
        self.phase_log["decisions"].append(record)
        return branch if winner == "clone" else flat

    def _retrain_branch(self, branch: Node) -> None:
        """Flat increment training of an older branch: units for its subtree's new classes."""
        child_index = {c: i for i, ch in enumerate(branch.children) for c in ch.subtree_classes()}
        added = [c for c in branch.subtree_classes() if c not in branch.classes]
        if added:
            branch.model.head.add_classes(len(added))
            branch.classes = branch.classes + added
        branch.child_of = [child_index[c] for c in branch.classes]
        self._train(branch, "tree_branch", f"retrain branch {branch.node_id}")
        self.phase_log["branches_retrained"].append(branch.node_id)

    # ----- training ---------------------------------------------------------------------------
    def _train(self, node: Node, kind: str, what: str) -> None:
        """Train node's model on the training samples of node.classes (its head units)."""
        classes = node.classes
        if len(classes) < 2:  # one output: cross-entropy is identically zero, nothing to learn
            return
        if self.incremental:  # models trained in incremental phases share the frozen prefix
            self.apply_sharing(node.model)
        lookup = torch.full((self.ctx.scenario.num_classes,), -1, dtype=torch.long, device=self.ctx.device)
        lookup[torch.as_tensor(classes, device=self.ctx.device)] = torch.arange(len(classes), device=self.ctx.device)
        idx = torch.cat([self.train_idx[c] for c in classes])
        swept = [0]

        def loss(net, batch):
            swept[0] += len(batch.y)
            return F.cross_entropy(net(batch.x, start=batch.start), lookup[batch.y])

        before = self.ctx.trainer.iters
        self.fit(node.model, idx, loss, kind=kind, desc=f"{self.name} {what}")
        self.phase_log["trained"].append({"node": node.node_id, "what": what, "classes": classes,
                                          "steps": self.ctx.trainer.iters - before, "examples": swept[0]})

    def _hold_out(self, phase: Phase) -> None:
        """Split each new class's training samples into training and held-out parts (seeded)."""
        y = self.ctx.scenario.train_y
        frac = float(self.opts["val_fraction"])
        for c in phase.classes:
            members = phase.train_idx[y[phase.train_idx] == c].sort().values
            g = torch.Generator().manual_seed(self.ctx.seed * 100_003 + c)
            order = members[torch.randperm(len(members), generator=g)]
            n_val = min(max(1, round(frac * len(members))), len(members) - 1)
            self.val_idx[c], self.train_idx[c] = order[:n_val].sort().values, order[n_val:].sort().values

    # ----- counted held-out forwards ------------------------------------------------------------
    def _held_out(self, classes: list[int]):
        """Batches (inputs on the device, labels) of the held-out samples of `classes`."""
        idx = torch.cat([self.val_idx[c] for c in classes])
        for i in range(0, len(idx), EVAL_BATCH):
            x, y = take(self.ctx.scenario, "train", idx[i:i + EVAL_BATCH])
            yield x.to(self.ctx.device), y

    def _counted(self, model, h: torch.Tensor, start: int) -> torch.Tensor:
        key = ("tree_val", model.num_classes, start, tuple(h.shape))
        return self.ctx.trainer.count_eval(key, lambda: model(h, start=start), model)

    def _trunk(self, x: torch.Tensor) -> torch.Tensor:
        if not self.shared_blocks:
            return x
        backbone = self.root.model.backbone
        key = ("tree_val_trunk", self.shared_blocks, tuple(x.shape))
        return self.ctx.trainer.count_eval(key, lambda: backbone.forward_until(x, self.shared_blocks), backbone)

    def _validate(self, root: Node, classes: list[int], score_leaves: bool = True):
        """Held-out labels, hierarchical predictions and the leaf reached, for `classes`."""
        trues, preds, leaves = [], [], []
        with inference([n.model for n in root.nodes()]):
            for x, y in self._held_out(classes):
                scores, leaf = route(root, self._trunk(x), self.ctx.scenario.num_classes, self.shared_blocks,
                                     forward=self._counted, score_leaves=score_leaves)
                trues.append(y)
                preds.append(scores.argmax(1).cpu())
                leaves.append(leaf)
        return torch.cat(trues).numpy(), torch.cat(preds).numpy(), torch.cat(leaves).numpy()

    def _leaf_probabilities(self, leaf: Node, classes: list[int]):
        """Held-out labels of `classes` and the leaf model's softmax over its own classes."""
        trues, probs = [], []
        with inference([leaf.model]):
            for x, y in self._held_out(classes):
                trues.append(y)
                logits = self._counted(leaf.model, self._trunk(x), self.shared_blocks)
                probs.append(F.softmax(logits, dim=1).cpu())
        return torch.cat(trues).numpy(), torch.cat(probs).numpy()

    def _candidate_accuracy(self, flat: Node, branch: Node | None, classes: list[int]) -> dict[str, float]:
        """Held-out accuracy (%) on `classes` of the flat model and of the clone subtree, with
        the clone's breakdown (the paper's Eq. 1): branch accuracy and leaf accuracy given a
        correct branch. The flat model's logits are computed once and also serve as the branch
        output."""
        hits_flat, hits_clone, hits_branch, n = 0, 0, 0, 0
        models = [flat.model] + ([m.model for m in branch.nodes()] if branch else [])
        with inference(models):
            for x, y in self._held_out(classes):
                h = self._trunk(x)
                logits = self._counted(flat.model, h, self.shared_blocks)
                flat_pred = torch.as_tensor(flat.classes)[logits.argmax(1).cpu()]
                hits_flat += int((flat_pred == y).sum())
                n += len(y)
                if branch is None:
                    continue
                pick = superclass_probs(logits, branch.child_of, len(branch.children)).argmax(1).cpu()
                for k, child in enumerate(branch.children):
                    sel = (pick == k).nonzero().flatten()
                    if len(sel) == 0:
                        continue
                    hits_branch += int(torch.isin(y[sel], torch.as_tensor(child.subtree_classes())).sum())
                    scores, _ = route(child, h[sel.to(h.device)], self.ctx.scenario.num_classes,
                                      self.shared_blocks, forward=self._counted)
                    hits_clone += int((scores.argmax(1).cpu() == y[sel]).sum())
        out = {"flat_val_acc": 100.0 * hits_flat / n}
        if branch is not None:
            out.update(clone_val_acc=100.0 * hits_clone / n, clone_branch_val_acc=100.0 * hits_branch / n,
                       clone_leaf_val_acc_given_branch=100.0 * hits_clone / max(hits_branch, 1))
        return out

    # ----- tree bookkeeping ---------------------------------------------------------------------
    def _new_id(self) -> int:
        self._ids += 1
        return self._ids - 1

    def _replace(self, old: Node, new: Node) -> None:
        if self.root is old:
            self.root = new
            return
        for node in self.root.nodes():
            if old in node.children:
                node.children[node.children.index(old)] = new
                return

    def _write_tree(self) -> None:
        names = self.ctx.scenario.class_names
        write_json(self.ctx.cell_dir / "tree.json", {
            "method": self.name, "seed": self.ctx.seed, "sharing": self.ctx.sharing,
            "shared_blocks": self.shared_blocks, "options": self.opts,
            "held_out": f"{self.opts['val_fraction']:g} of each class's training samples (at least one), seeded",
            "parallel_training": PARALLEL_NOTE,
            "tree": self.root.describe(names), "phases": self.history,
        })
