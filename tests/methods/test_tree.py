"""tree (Xiao et al. 2014): preview partition, summed-softmax branches, hierarchical inference,
cloning with a shared prefix, and the method's growth over phases."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import reduced, require_fashion_mnist

from energybench.cli import main
from energybench.engine.preflight import make_config
from energybench.data import load_source
from energybench.data.scenario import build_scenario
from energybench.errors import UserError
from energybench.methods.base import Context
from energybench.methods.tree import Tree
from energybench.methods.tree_model import Node, clone_leaf, clone_model, inference, route, superclass_probs
from energybench.methods.tree_partition import AFFINITY_FLOOR, affinity, assign_new, confusion_rates, spectral_partition
from energybench.models import IncrementalNet, build_net
from energybench.models.backbone import Backbone, Flatten
from energybench.models.heads import GrowingLinear
from energybench.training.trainer import Trainer


# ----- error-driven preview ------------------------------------------------------------------
def block_confusion(groups, n, inside=0.2, across=0.01):
    """Rows sum to 1: `inside` to each other class of the own group, `across` elsewhere."""
    conf = np.full((n, n), across)
    for g in groups:
        for i in g:
            for j in g:
                conf[i, j] = inside
    for i in range(n):
        conf[i, i] = 0.0
        conf[i, i] = 1.0 - conf[i].sum()
    return conf


@pytest.mark.parametrize("groups,k,want", [
    ([[0, 2, 4], [1, 3, 5]], 2, [0, 1, 0, 1, 0, 1]),
    ([[0, 1, 5], [2, 3, 4]], 2, [0, 0, 1, 1, 1, 0]),
    ([[0, 3], [1, 4], [2, 5]], 3, [0, 1, 2, 0, 1, 2]),
])
def test_spectral_partition_finds_the_blocks_of_a_confusion_matrix(groups, k, want):
    conf = block_confusion(groups, 6)
    assert spectral_partition(conf, k, seed=0) == want
    assert spectral_partition(conf, k, seed=7) == want  # the structure, not the seed, decides


def test_partition_of_no_more_classes_than_superclasses_is_one_class_each():
    assert spectral_partition(np.eye(2), 2, seed=0) == [0, 1]


def test_affinity_is_the_symmetrised_off_diagonal_confusion():
    conf = np.array([[0.7, 0.3, 0.0], [0.1, 0.8, 0.1], [0.0, 0.5, 0.5]])
    w = affinity(conf)
    want = np.array([[0.0, 0.2, 0.0], [0.2, 0.0, 0.3], [0.0, 0.3, 0.0]]) + AFFINITY_FLOOR
    np.fill_diagonal(want, 0.0)
    np.testing.assert_allclose(w, want)


def test_new_classes_join_the_superclass_that_confuses_them_most():
    labels = [0, 1, 0, 1, 0, 1]  # superclasses {0, 2, 4} and {1, 3, 5}
    conf_new = np.array([
        [0.05, 0.30, 0.05, 0.10, 0.00, 0.10],  # {0,2,4}: 0.10, {1,3,5}: 0.50 -> 1
        [0.20, 0.10, 0.20, 0.10, 0.10, 0.10],  # 0.50 vs 0.30 -> 0
        [0.10, 0.10, 0.10, 0.10, 0.10, 0.10],  # tie -> the lower-numbered superclass
    ])
    assert assign_new(conf_new, labels) == [1, 0, 0]


def test_confusion_rates_average_the_output_probabilities_per_true_class():
    true = np.array([3, 3, 5, 7])
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8], [1.0, 0.0]])
    # class 3: mean of two rows; class 5: one row; class 9: no samples, a zero row
    np.testing.assert_allclose(confusion_rates(true, probs, [3, 5, 9]), [[0.7, 0.3], [0.2, 0.8], [0.0, 0.0]])
    # one-hot predictions give the usual row-normalised confusion counts
    onehot = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])
    np.testing.assert_allclose(confusion_rates(true, onehot, [3]), [[0.5, 0.5]])


# ----- branch models and hierarchical inference --------------------------------------------------
def test_branch_output_sums_the_softmax_units_of_each_superclass():
    logits = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]]))  # softmax = x / 10
    p = superclass_probs(logits, [0, 1, 0, 1], 2)
    torch.testing.assert_close(p, torch.tensor([[0.4, 0.6], [0.6, 0.4]]))
    p3 = superclass_probs(logits, [2, 2, 0, 1], 3)
    torch.testing.assert_close(p3, torch.tensor([[0.3, 0.4, 0.3], [0.2, 0.1, 0.7]]))


def linear_model(weight):
    """An IncrementalNet whose logits are x @ weight.T (identity backbone, zero bias)."""
    weight = torch.as_tensor(weight, dtype=torch.float32)
    head = GrowingLinear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        head.chunks[0].weight.copy_(weight)
        head.chunks[0].bias.zero_()
    return IncrementalNet(Backbone("id", [Flatten()], weight.shape[1]), head)


def hand_tree():
    """Root branch over classes 0..3 (children {0, 2} and {1, 3, 4}); the right leaf's logits
    are (x1, x3, 0) for classes (1, 3, 4); the left leaf's are (x0, x2)."""
    root_model = linear_model(torch.eye(4))
    left = Node(linear_model([[1, 0, 0, 0], [0, 0, 1, 0]]), [0, 2], 1, "clone-leaf")
    right = Node(linear_model([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]), [1, 3, 4], 2, "clone-leaf")
    return Node(root_model, [0, 1, 2, 3], 0, "clone-branch", [left, right], [0, 1, 0, 1])


def test_hierarchical_scores_are_path_probability_times_leaf_softmax():
    root = hand_tree()
    x = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0],  # root: {0,2} 0.4, {1,3,4} 0.6 -> right
                                [4.0, 1.0, 3.0, 2.0]]))  # root: 0.7 vs 0.3 -> left
    scores, leaf = route(root, x, num_classes=5)
    # right leaf: softmax of (ln 2, ln 4, 0) = (2, 4, 1) / 7, times the path's 0.6
    want0 = torch.tensor([0.0, 0.6 * 2 / 7, 0.0, 0.6 * 4 / 7, 0.6 * 1 / 7])
    # left leaf: softmax of (ln 4, ln 3) = (4, 3) / 7, times 0.7
    want1 = torch.tensor([0.7 * 4 / 7, 0.0, 0.7 * 3 / 7, 0.0, 0.0])
    torch.testing.assert_close(scores, torch.stack([want0, want1]))
    assert leaf.tolist() == [2, 1]
    assert scores.argmax(1).tolist() == [3, 0]
    # routing only: same leaves, no leaf forward
    _, leaf_only = route(root, x, num_classes=5, score_leaves=False)
    assert leaf_only.tolist() == [2, 1]


def test_a_one_class_leaf_takes_the_whole_path_probability():
    root = hand_tree()
    root.children[0] = Node(linear_model([[1, 0, 0, 0]]), [2], 5, "clone-leaf")
    x = torch.log(torch.tensor([[4.0, 1.0, 3.0, 2.0]]))
    scores, _ = route(root, x, num_classes=5)
    torch.testing.assert_close(scores, torch.tensor([[0.0, 0.0, 0.7, 0.0, 0.0]]))


def test_cloned_leaf_keeps_old_rows_and_shares_only_the_prefix():
    torch.manual_seed(0)
    src = build_net("tiny_cnn", (1, 8, 8), 4)
    node = Node(src, [10, 11, 12, 13], 0, "base")
    leaf = clone_leaf(node, keep=[13, 11], new=[20, 21, 22], shared_blocks=2)
    w = torch.cat([c.weight for c in leaf.head.chunks])
    assert w.shape == (5, src.head.in_dim)
    torch.testing.assert_close(w[:2], src.head.chunks[0].weight[[3, 1]])
    torch.testing.assert_close(leaf.head.chunks[0].bias, src.head.chunks[0].bias[[3, 1]])
    blocks = list(zip(src.backbone.blocks, leaf.backbone.blocks))
    assert [a is b for a, b in blocks] == [True, True, False, False]
    for a, b in blocks[2:]:  # copied, equal but independent
        for pa, pb in zip(a.parameters(), b.parameters()):
            assert torch.equal(pa, pb) and pa.data_ptr() != pb.data_ptr()
    full = clone_model(src, 0)
    assert all(a is not b for a, b in zip(src.backbone.blocks, full.backbone.blocks))


# ----- the method, phase by phase on digits ------------------------------------------------------
def make_tree(tmp_path, sharing=0.0, **options):
    cfg = make_config({"dataset": "digits", "scenario": "B4-3x2", "epochs": 1, "batch_size": 64,
                       "options": {"tree": options}})
    scenario = build_scenario(load_source("digits"), cfg.scenario, cfg.class_order, seed=0)
    trainer = Trainer(scenario, torch.device("cpu"), epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                      momentum=cfg.momentum, weight_decay=cfg.weight_decay, milestones=cfg.lr_milestones,
                      gamma=cfg.lr_gamma, augment=None, seed=0, progress=False)
    ctx = Context(cfg, scenario, torch.device("cpu"), trainer, 0, sharing, tmp_path)
    return Tree(ctx), scenario


def run_phase(method, phase):
    method.ctx.trainer.begin_phase()
    method.begin_phase(phase)
    method.learn(phase)
    method.end_phase(phase)
    method.ctx.trainer.end_phase()


def test_clone_increment_builds_a_two_level_tree_that_predicts_hierarchically(tmp_path):
    torch.manual_seed(0)
    tree, scenario = make_tree(tmp_path, sharing=0.5, increment="clone")
    for phase in scenario.phases:
        run_phase(tree, phase)
    leaves = tree.root.leaves()
    classes = sorted(c for leaf in leaves for c in leaf.classes)
    assert classes == list(range(10))  # every class in exactly one leaf
    assert tree.root.depth() >= 2 and not tree.root.is_leaf
    assert tree.net is tree.root.model
    # every model shares the one frozen prefix, so it is computed and stored once
    models = tree.storage_modules()
    assert len(models) == len(list(tree.root.nodes())) >= 3
    assert tree.shared_blocks == tree.cut.blocks > 0
    for m in models:
        assert all(m.backbone.blocks[i] is tree.root.model.backbone.blocks[i] for i in range(tree.shared_blocks))
    # predict: scores over all seen classes, non-zero only in the chosen leaf, argmax = route
    x = scenario.source.test.take(scenario.phases[-1].test_idx[:50])[0]
    scores = tree.predict(x)["cnn"]
    assert scores.shape == (50, 10)
    with inference(models):  # the whole network from block 0: same decisions as the shared-trunk path
        _, leaf_id = route(tree.root, x, 10)
    members = {leaf.node_id: set(leaf.classes) for leaf in leaves}
    for row, lid in zip(scores, leaf_id.tolist()):
        nonzero = set(torch.nonzero(row).flatten().tolist())
        assert nonzero <= members[lid] and int(row.argmax()) in members[lid]
        assert 0 < float(row.sum()) <= 1 + 1e-6
    # tree.json: decisions with both candidates' validation accuracies and the partitions
    saved = json.loads((tmp_path / "tree.json").read_text())
    assert [p["phase"] for p in saved["phases"]] == [0, 1, 2]
    first = saved["phases"][1]["decisions"][0]
    assert first["winner"] == "clone" and first["old_classes"] == [0, 1, 2, 3] and first["new_classes"] == [4, 5, 6]
    assert sorted(c for s in first["superclasses"] for c in s) == list(range(7))
    assert 0 <= first["flat_val_acc"] <= 100 and 0 <= first["clone_val_acc"] <= 100
    # Eq. 1: clone accuracy = branch accuracy x leaf accuracy given a correct branch
    assert first["clone_val_acc"] == pytest.approx(
        first["clone_branch_val_acc"] * first["clone_leaf_val_acc_given_branch"] / 100)
    # phase 2 (Algorithm 2): each leaf extended got exactly the new classes routed to it
    second = saved["phases"][2]
    routed = {int(k): v for k, v in second["routed_new_classes"].items()}
    assert sorted(c for v in routed.values() for c in v) == [7, 8, 9]
    assert {d["leaf"]: d["new_classes"] for d in second["decisions"]} == routed
    assert "parallel" in saved["parallel_training"]
    assert saved["tree"]["kind"] == "branch"
    # examples swept: flat model (7 classes) + clone leaves (the same 7 classes), one epoch each
    trained = saved["phases"][1]["trained"]
    held = sum(len(tree.train_idx[c]) for c in range(7))
    assert trained[0]["examples"] == held
    assert sum(t["examples"] for t in trained[1:]) == held - sum(
        len(tree.train_idx[s[0]]) for s in first["superclasses"] if len(s) == 1)


def test_held_out_split_is_seeded_disjoint_and_a_tenth(tmp_path):
    tree, scenario = make_tree(tmp_path)
    tree.begin_phase(scenario.phases[0])
    for c in scenario.phases[0].classes:
        members = set(scenario.phases[0].train_idx[scenario.train_y[scenario.phases[0].train_idx] == c].tolist())
        val, train = set(tree.val_idx[c].tolist()), set(tree.train_idx[c].tolist())
        assert val | train == members and not val & train
        assert len(val) == round(0.1 * len(members))
    again, _ = make_tree(tmp_path)
    again.begin_phase(scenario.phases[0])
    assert all(torch.equal(again.val_idx[c], tree.val_idx[c]) for c in scenario.phases[0].classes)


def test_flat_increment_when_forced_keeps_one_leaf(tmp_path):
    torch.manual_seed(0)
    tree, scenario = make_tree(tmp_path, increment="flat")
    for phase in scenario.phases[:2]:
        run_phase(tree, phase)
    assert tree.root.is_leaf and tree.root.classes == list(range(7))
    decision = tree.history[1]["decisions"][0]
    assert decision["winner"] == "flat" and "clone_val_acc" not in decision


@pytest.mark.parametrize("opts,match", [
    ({"superclasses": 1}, "superclasses"), ({"val_fraction": 1.0}, "val_fraction"),
    ({"increment": "deep"}, "increment"),
])
def test_bad_options_are_user_errors(tmp_path, opts, match):
    with pytest.raises(UserError, match=match):
        make_tree(tmp_path, **opts)


# ----- end to end on Fashion-MNIST ---------------------------------------------------------------
@pytest.mark.slow
def test_tree_grows_a_hierarchy_on_fashion_mnist(tmp_path):
    """experiments/tree_fashion_mnist.yaml, whose auto decisions pick clone increments for
    seeds 1 and 2. Reduced: one seed, fewer samples and epochs, the clone increment forced (so
    small a run's competition may go either way; the mechanics are what is checked)."""
    require_fashion_mnist()
    config = yaml.safe_load(open(Path(__file__).parents[2] / "experiments" / "tree_fashion_mnist.yaml"))
    if reduced():
        config.update(seeds=[0], train_per_class=150, test_per_class=100, epochs=3)
        config["options"]["tree"]["increment"] = "clone"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    args = ["run", str(tmp_path / "c.yaml"), "--out", str(tmp_path), "--run-id", "t", "--no-power", "--no-report",
            "--quiet"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(tmp_path / "t" / "metrics.csv")))
    assert max(int(r["phase"]) for r in rows) >= 2
    depths = []
    for seed in config["seeds"]:
        saved = json.loads((tmp_path / "t" / "cells" / f"tree_s0_seed{seed}" / "tree.json").read_text())
        decisions = [d for p in saved["phases"] for d in p["decisions"]]
        assert decisions and all(d["winner"] in ("flat", "clone") and "flat_val_acc" in d for d in decisions)
        assert any("superclasses" in d and "clone_val_acc" in d for d in decisions)
        depths.append(max(p["depth"] for p in saved["phases"]))
    assert max(depths) >= 2  # a two-level hierarchy at least once
    for last in (r for r in rows if int(r["phase"]) == 3):
        assert float(last["acc_all"]) > 60.0 and not math.isnan(float(last["val_branch_acc"]))
        assert float(last["train_macs"]) > 0
