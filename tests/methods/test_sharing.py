"""The sharing method (partial network sharing) and sharing as a knob of finetune and joint."""

import copy
import csv
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import reduced, require_fashion_mnist
from torch import nn

from energybench.cli import main
from energybench.engine.preflight import make_config
from energybench.data import load_source
from energybench.data.scenario import build_scenario, take
from energybench.errors import UserError
from energybench.methods import METHODS, check_methods
from energybench.methods.base import Context
from energybench.methods.sharing import BranchedNet, combine
from energybench.models.backbone import Backbone
from energybench.models.heads import GrowingLinear
from energybench.models.network import IncrementalNet
from energybench.models.surgery import Cut, branch
from energybench.training.trainer import Trainer


# ----- combined inference on a hand-built two-branch network ----------------------------------
def two_branch_net() -> BranchedNet:
    """Inputs are one-hot rows, so each head's logits for sample i are column i of its weight.

    Base (classes 0, 1) logits per sample: A [2, 0], B [0, 0], C [5, 4]
    Branch (classes 2, 3) logits:           A [0, 0], B [3, 0], C [1, -3]
    """
    trunk = nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        trunk.weight.copy_(torch.eye(3))
    base = IncrementalNet(Backbone("hand", [trunk, nn.Identity()], 3), GrowingLinear(3, 2))
    net = BranchedNet(base)
    net.shared_blocks = 1
    net.branches.append(branch(base, Cut(0.99, 1.0, 1), 2))
    with torch.no_grad():
        for head, logits in ((base.head, [[2, 0], [0, 0], [5, 4]]), (net.branches[0].head, [[0, 0], [3, 0], [1, -3]])):
            head.chunks[0].weight.copy_(torch.tensor(logits, dtype=torch.float).t())
            head.chunks[0].bias.zero_()
    return net


def test_prediction_is_the_largest_softmax_over_all_branches():
    net = two_branch_net()
    probs = net(torch.eye(3))
    e = math.exp
    expected = torch.tensor([
        [e(2) / (e(2) + 1), 1 / (e(2) + 1), 0.5, 0.5],
        [0.5, 0.5, e(3) / (e(3) + 1), 1 / (e(3) + 1)],
        [e(5) / (e(5) + e(4)), e(4) / (e(5) + e(4)), e(1) / (e(1) + e(-3)), e(-3) / (e(1) + e(-3))],
    ])
    assert torch.allclose(probs, expected, atol=1e-6)
    # C: the base's largest logit (5) beats the branch's (1), but the branch is more confident
    assert probs.argmax(1).tolist() == [0, 2, 2]
    assert torch.allclose(combine([torch.zeros(1, 2), torch.zeros(1, 3)]).sum(1), torch.tensor([2.0]))


def test_the_shared_trunk_runs_once_for_all_branches():
    net = two_branch_net()
    net.branches.append(branch(net.base, Cut(0.99, 1.0, 1), 3))
    calls = []
    net.base.backbone.blocks[0].register_forward_hook(lambda m, i, o: calls.append(1))
    out = net(torch.eye(3))
    assert out.shape == (3, 2 + 2 + 3) and len(calls) == 1


# ----- the method on digits ----------------------------------------------------------------------
def make_method(tmp_path, method: str, sharing: float, **cfg):
    config = make_config({"dataset": "digits", "epochs": 2, "train_per_class": 24, "test_per_class": 10,
                          "sharing": [sharing], "lr": 0.05, **cfg})
    scenario = build_scenario(load_source("digits"), "B4-3x2", "seeded", 0, 24, 10)
    trainer = Trainer(scenario, torch.device("cpu"), epochs=config.epochs, batch_size=config.batch_size,
                      lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                      milestones=config.lr_milestones, gamma=config.lr_gamma, augment=None, seed=1, progress=False)
    ctx = Context(config, scenario, torch.device("cpu"), trainer, 0, sharing, tmp_path)
    torch.manual_seed(0)
    return METHODS[method](ctx), scenario


def run_phase(method, phase):
    method.ctx.trainer.begin_phase()
    method.begin_phase(phase)
    method.learn(phase)
    method.end_phase(phase)


def snapshot(module: nn.Module) -> dict:
    return copy.deepcopy(module.state_dict())


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_each_phase_trains_only_its_own_branch(tmp_path):
    m, sc = make_method(tmp_path, "sharing", 0.5)
    run_phase(m, sc.phases[0])
    base = snapshot(m.net.base)
    run_phase(m, sc.phases[1])
    assert m.cut.blocks == 2 and m.net.shared_blocks == 2  # tiny_cnn: 0.176 is the boundary nearest 0.5
    assert same(base, snapshot(m.net.base))  # trunk, the base's own tail and head all unchanged
    b1 = m.net.branches[0]
    assert b1.backbone.blocks[0] is m.net.base.backbone.blocks[0]
    assert not torch.equal(b1.backbone.blocks[2][0][0].weight, m.net.base.backbone.blocks[2][0][0].weight)
    branch1 = snapshot(b1)
    m.ctx.trainer.begin_phase()
    m.begin_phase(sc.phases[2])
    b2 = m.net.branches[1]  # cloned from the base network (the paper), not from branch 1
    assert torch.equal(b2.backbone.blocks[2][0][0].weight, m.net.base.backbone.blocks[2][0][0].weight)
    m.learn(sc.phases[2])
    m.end_phase(sc.phases[2])
    assert same(base, snapshot(m.net.base)) and same(branch1, snapshot(b1))
    assert len(m.net.branches) == 2 and b2.head.num_classes == 3
    assert set(m.extra) == {"branch0_acc", "branch1_acc", "branch2_acc"}

    x, y = take(sc, "test", sc.phases[2].test_idx)
    m.net.eval()
    with torch.no_grad():  # each branch alone, on its own classes' samples
        for k, (net, first) in enumerate(((m.net.base, 0), (b1, 4), (b2, 7))):
            mine = (y >= first) & (y < first + net.head.num_classes)
            acc = 100.0 * float((net(x[mine]).argmax(1) + first == y[mine]).float().mean())
            assert m.extra[f"branch{k}_acc"] == pytest.approx(acc, abs=1e-4)
    scores = m.predict(x)["cnn"]
    assert scores.shape == (len(x), 10)
    assert torch.allclose(scores.sum(1), torch.full((len(x),), 3.0), atol=1e-5)  # three softmaxes

    # storage: the trunk's tensors once, the base's tail and head, each branch's tail and head
    sizes = m.net.base.backbone.block_params()
    tail = sum(sizes[2:])
    head = lambda n: 64 * n + n  # noqa: E731
    unique = {id(p): p.numel() for mod in m.storage_modules() for p in mod.parameters()}
    assert sum(unique.values()) == sum(sizes) + head(4) + 2 * (tail + head(3))


def test_clone_from_latest_starts_a_branch_from_the_newest_one(tmp_path):
    m, sc = make_method(tmp_path, "sharing", 0.5, options={"sharing": {"clone_from": "latest"}})
    for p in sc.phases[:2]:
        run_phase(m, p)
    m.begin_phase(sc.phases[2])
    b1, b2 = m.net.branches
    assert torch.equal(b2.backbone.blocks[2][0][0].weight, b1.backbone.blocks[2][0][0].weight)
    assert b2.backbone.blocks[1] is m.net.base.backbone.blocks[1]


def test_bad_clone_from_is_a_user_error_when_the_config_is_read(capsys):
    with pytest.raises(UserError, match="clone_from' of method sharing must be one of base, latest, got 'first'"):
        check_methods(["sharing"], make_config({"options": {"sharing": {"clone_from": "first"}}}).options)
    with pytest.raises(UserError, match="unknown option 'clone'"):
        check_methods(["sharing"], make_config({"options": {"sharing": {"clone": "base"}}}).options)


def test_sharing_zero_clones_the_whole_network(tmp_path):
    m, sc = make_method(tmp_path, "sharing", 0.0)
    run_phase(m, sc.phases[0])
    run_phase(m, sc.phases[1])
    b1 = m.net.branches[0]
    assert m.cut.blocks == 0
    assert not any(p is q for p in b1.parameters() for q in m.net.base.parameters())


@pytest.mark.parametrize("name", ["finetune", "joint"])
def test_finetune_and_joint_freeze_the_shared_blocks(tmp_path, name):
    m, sc = make_method(tmp_path, name, 0.5)
    run_phase(m, sc.phases[0])
    trunk = [snapshot(b) for b in m.net.backbone.blocks[:2]]  # weights and batch-norm statistics
    rest = [snapshot(b) for b in m.net.backbone.blocks[2:]]
    run_phase(m, sc.phases[1])
    assert m.cut.blocks == 2
    assert all(same(a, snapshot(b)) for a, b in zip(trunk, m.net.backbone.blocks[:2]))
    assert all(not same(a, snapshot(b)) for a, b in zip(rest, m.net.backbone.blocks[2:]))


# ----- feature caching ---------------------------------------------------------------------------
TINY = ["--method", "sharing,finetune", "--sharing", "0.9", "--epochs", "2", "--train-per-class", "30",
        "--test-per-class", "10", "--no-power", "--no-report", "--quiet"]


def test_cached_trunk_gives_identical_accuracy_and_fewer_forward_macs(tmp_path, capsys):
    for run_id, extra in (("plain", []), ("cached", ["--cache-shared"])):
        assert main(["run", *TINY, *extra, "--out", str(tmp_path), "--run-id", run_id]) == 0, capsys.readouterr().err
    plain, cached = (list(csv.DictReader(open(tmp_path / r / "metrics.csv"))) for r in ("plain", "cached"))
    assert len(plain) == len(cached) == 6
    for a, b in zip(plain, cached):
        assert (a["method"], a["phase"]) == (b["method"], b["phase"])
        for k in ("acc_all", "acc_old", "acc_new", "branch1_acc", "branch2_acc", "iters"):
            assert a.get(k) == b.get(k), (a["method"], a["phase"], k)
        incremental = int(a["phase"]) > 0
        assert b["cache_shared"] == str(incremental) and a["cache_shared"] == "False"
        if incremental:
            # 2 epochs: the trunk runs over the phase's data once instead of twice
            assert float(b["fwd_macs"]) < float(a["fwd_macs"])
            assert float(b["bwd_weight_macs"]) == float(a["bwd_weight_macs"])


# ----- the Fashion-MNIST sweep (experiments/sharing_fashion_mnist.yaml) ---------------------------
@pytest.mark.slow
def test_fashion_mnist_sweep_costs_fall_as_sharing_rises(tmp_path, capsys):
    """Counted costs and storage fall strictly at every level (each lands on its own block
    boundary); time per iteration is measured, not counted, so it is left to the report."""
    require_fashion_mnist()
    config = Path(__file__).resolve().parents[2] / "experiments" / "sharing_fashion_mnist.yaml"
    small = ["--train-per-class", "16", "--test-per-class", "10", "--epochs", "1"] if reduced() else []
    assert main(["run", str(config), *small, "--out", str(tmp_path), "--run-id", "fm", "--no-power", "--no-report",
                 "--quiet"]) == 0, capsys.readouterr().err
    entry = json.loads((tmp_path / "fm" / "summary.json").read_text())["methods"]["sharing"]
    levels = entry["levels"]
    assert list(levels) == ["0", "0.25", "0.37", "0.5", "0.66", "0.8", "0.99"]
    achieved = [lv["sharing_achieved"] for lv in levels.values()]
    assert achieved == sorted(set(achieved)) and achieved[-1] == 1.0
    for key in ("compute_energy_j_per_iter", "mem_accesses_per_iter", "memory_energy_j_per_iter", "storage_bytes"):
        values = [lv[key] for lv in levels.values()]
        assert all(b < a for a, b in zip(values, values[1:])), (key, values)
    assert entry["optimal_sharing"] in [float(s) for s in levels]
    if not reduced():
        assert levels["0"]["final_acc"] >= 30.0  # 10 classes: chance is 10%
        assert levels["0.99"]["final_acc"] < levels["0"]["final_acc"]


@pytest.mark.slow
def test_fashion_mnist_vit_sweep_costs_fall_as_sharing_rises(tmp_path, capsys):
    """experiments/sharing_vit_fashion_mnist.yaml: the small ViT's levels land on distinct encoder-block
    boundaries, and every counted cost, element-wise work included, falls at each of them."""
    require_fashion_mnist()
    config = Path(__file__).resolve().parents[2] / "experiments" / "sharing_vit_fashion_mnist.yaml"
    small = ["--train-per-class", "16", "--test-per-class", "10", "--epochs", "1"] if reduced() else []
    assert main(["run", str(config), *small, "--out", str(tmp_path), "--run-id", "vit", "--no-power", "--no-report",
                 "--quiet"]) == 0, capsys.readouterr().err
    levels = json.loads((tmp_path / "vit" / "summary.json").read_text())["methods"]["sharing"]["levels"]
    assert list(levels) == ["0", "0.18", "0.35", "0.51", "0.67", "0.84", "0.99"]
    assert [lv["shared_blocks"] for lv in levels.values()] == [0, 2, 3, 4, 5, 6, 7]
    for key in ("compute_energy_j_per_iter", "mem_accesses_per_iter", "memory_energy_j_per_iter",
                "elementwise_energy_j_per_iter", "elementwise_mem_accesses_per_iter", "storage_bytes"):
        values = [lv[key] for lv in levels.values()]
        assert all(b < a for a, b in zip(values, values[1:])), (key, values)
    if not reduced():
        assert levels["0"]["final_acc"] >= 30.0  # 10 classes: chance is 10%
