"""progressive (stage-wise incremental training) and scratch: stage rules, the plateau rule,
growth that keeps old weights, training on all data so far, and the comparison's rows."""

import csv
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import reduced, require_fashion_mnist

from energybench.cli import main
from energybench.engine.preflight import make_config
from energybench.data import load_source
from energybench.data.scenario import build_scenario
from energybench.errors import UserError
from energybench.methods import check_methods
from energybench.methods.base import Context
from energybench.methods.progressive import Plateau, Progressive, alpha_stages, delta_stages
from energybench.methods.scratch import Scratch
from energybench.training.trainer import Trainer


# ----- stage rules -----------------------------------------------------------------------------
@pytest.mark.parametrize("total,n1,alpha,want", [
    (100, 10, 1.0, [10, 10, 20, 40, 20]),  # the paper's CIFAR-100 split (section IV-C)
    (10, 2, 1.0, [2, 2, 4, 2]),
    (10, 2, 0.5, [2, 1, 2, 2, 3]),  # 0.5*2=1, 0.5*3=1.5->2, 0.5*5=2.5->2 (round half to even), rest 3
    (10, 10, 1.0, [10]),
])
def test_alpha_rule(total, n1, alpha, want):
    assert alpha_stages(total, n1, alpha) == want


def test_delta_rule():
    assert delta_stages(100, 10, 45) == [10, 45, 45]
    assert delta_stages(100, 10, 40) == [10, 40, 40, 10]
    assert delta_stages(12, 10, 1) == [10, 1, 1]


def test_bad_stage_rules_are_user_errors():
    with pytest.raises(UserError, match="n1"):
        alpha_stages(10, 0)
    with pytest.raises(UserError, match="delta_n"):
        delta_stages(10, 2, 0)


# ----- plateau rule ----------------------------------------------------------------------------
def test_plateau_stops_after_patience_epochs_without_a_relative_improvement():
    rule = Plateau(rel_tol=0.01, patience=2)
    # 1.0 (best) -> 0.5 (best) -> 0.496 (> 0.495: stale 1) -> 0.494 (best: < 0.495) ->
    # 0.49 (> 0.48906: stale 1) -> 0.4895 (stale 2: stop)
    losses = [1.0, 0.5, 0.496, 0.494, 0.49, 0.4895]
    decisions = [rule(e, loss) for e, loss in enumerate(losses)]
    assert decisions == [False, False, False, False, False, True]
    assert rule.epochs == 6 and rule.best == 0.494


def test_plateau_absolute_floor_stops_a_loss_that_keeps_halving():
    rule = Plateau(rel_tol=0.01, patience=1, abs_tol=0.01)
    # 0.1 -> 0.05 improves by 0.05 > max(0.0005, 0.01); 0.05 -> 0.025 by 0.025 (improves);
    # 0.025 -> 0.0125 by 0.0125 (improves); -> 0.00625 by 0.00625 < 0.01: stop
    assert [rule(e, loss) for e, loss in enumerate([0.1, 0.05, 0.025, 0.0125, 0.00625])] == [False] * 4 + [True]


def test_plateau_with_zero_tolerance_needs_any_decrease():
    rule = Plateau(rel_tol=0.0, patience=1)
    assert [rule(e, loss) for e, loss in enumerate([2.0, 1.0, 1.0])] == [False, False, True]


# ----- methods on digits -------------------------------------------------------------------------
def make(cls, tmp_path, scenario="B4-3x2", epochs=2, opts=None, **options):
    """`opts`: method options whose names clash with this helper's arguments (e.g. `epochs`)."""
    cfg = make_config({"dataset": "digits", "scenario": scenario, "epochs": epochs, "batch_size": 64,
                       "options": {cls.name: {**(opts or {}), **options}}})
    sc = build_scenario(load_source("digits"), cfg.scenario, cfg.class_order, seed=0)
    check_methods([cls.name], cfg.options, sc.sizes)  # as the runner does before any cell starts
    trainer = Trainer(sc, torch.device("cpu"), epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                      momentum=cfg.momentum, weight_decay=cfg.weight_decay, milestones=cfg.lr_milestones,
                      gamma=cfg.lr_gamma, augment=None, seed=0, progress=False)
    return cls(Context(cfg, sc, torch.device("cpu"), trainer, 0, 0.0, tmp_path)), sc


def run_phase(method, phase):
    method.ctx.trainer.begin_phase()
    method.begin_phase(phase)
    method.learn(phase)
    method.end_phase(phase)
    extra, method.extra = method.extra, {}
    return extra


def test_stage_rule_must_match_the_scenario(tmp_path):
    with pytest.raises(UserError, match="pass --scenario 2,2,4,2"):
        make(Progressive, tmp_path, stages="alpha", n1=2, alpha=1)
    method, _ = make(Progressive, tmp_path, scenario="2,2,4,2", stages="alpha", n1=2, alpha=1)
    assert method.opts["stages"] == "alpha"
    with pytest.raises(UserError, match="needs n1"):
        make(Progressive, tmp_path, stages="delta")
    with pytest.raises(UserError, match="stages.* one of scenario, alpha, delta, got .beta."):
        make(Progressive, tmp_path, stages="beta")


def test_each_stage_keeps_old_weights_and_trains_on_all_data_so_far(tmp_path):
    torch.manual_seed(0)
    method, sc = make(Progressive, tmp_path, convergence="budget")
    first = run_phase(method, sc.phases[0])
    old_w = method.net.head.chunks[0].weight.detach().clone()
    method.begin_phase(sc.phases[1])
    # the grown layer: old rows as trained, new rows added for the 3 new classes
    assert method.net.num_classes == 7
    torch.testing.assert_close(method.net.head.chunks[0].weight, old_w)
    method.learn(sc.phases[1])
    second, method.extra = method.extra, {}
    # budget: 2 epochs over D_j; D_1 is phase 0's data, D_2 adds phase 1's (Eq. 1)
    n0, n1 = len(sc.phases[0].train_idx), len(sc.phases[1].train_idx)
    assert first["stage_examples"] == 2 * n0 and first["stage_steps"] == 2 * math.ceil(n0 / 64)
    assert second["stage_examples"] == 2 * (n0 + n1) and second["stage_steps"] == 2 * math.ceil((n0 + n1) / 64)
    assert second["total_steps"] == first["stage_steps"] + second["stage_steps"]


def test_step_budget_and_plateau_with_learning_rate_drops(tmp_path):
    method, sc = make(Progressive, tmp_path, convergence="budget", max_steps=3)
    assert run_phase(method, sc.phases[0])["stage_steps"] == 3
    # rel_tol 0.99: no epoch can improve by 99%, so each plateau comes `patience` epochs after
    # the first: 2 epochs at the first rate, 2 after one drop, 2 after the second -> 6 epochs.
    method, sc = make(Progressive, tmp_path, epochs=40, rel_tol=0.99, patience=1, lr_drops=2)
    stage = run_phase(method, sc.phases[0])
    assert stage["stage_epochs"] == 6 and stage["stage_lr_drops"] == 2 and stage["stage_stopped_by"] == "plateau"
    assert stage["stage_steps"] == 6 * math.ceil(len(sc.phases[0].train_idx) / 64)
    # the cap (epochs) wins over the plateau search
    method, sc = make(Progressive, tmp_path, epochs=3, rel_tol=0.99, patience=1, lr_drops=2)
    stage = run_phase(method, sc.phases[0])
    assert stage["stage_epochs"] == 3 and stage["stage_stopped_by"] == "budget"


def test_epoch_budget_per_stage(tmp_path):
    method, sc = make(Progressive, tmp_path, epochs=5, convergence="budget", opts={"epochs": [1, 3, 2]})
    stages = [run_phase(method, p) for p in sc.phases]
    assert [s["stage_epochs"] for s in stages] == [1, 3, 2]
    assert [s["stage_steps"] for s in stages] == [e * math.ceil(len(sc.train_indices(k)) / 64)
                                                  for k, e in enumerate((1, 3, 2))]
    method, sc = make(Scratch, tmp_path, epochs=5, convergence="budget", opts={"epochs": 2})
    assert [run_phase(method, p)["stage_steps"] for p in sc.phases][-1] == 2 * math.ceil(len(sc.train_indices(2)) / 64)


@pytest.mark.parametrize("opts,match", [
    ({"convergence": "forever"}, "one of plateau, budget, got 'forever'"), ({"patience": 0}, "patience"),
    ({"rel_tol": 1.5}, "rel_tol"), ({"abs_tol": -0.1}, "abs_tol"), ({"lr_drops": -1}, "lr_drops"),
    ({"max_steps": 0}, "max_steps"),
    ({"patience": "two"}, "'patience' of method .* must be a whole number >= 1, got 'two'"),
    ({"trace": "maybe"}, "'trace' of method .* must be true or false"),
    ({"epochs": 0}, "'epochs' of method .* must be a whole number >= 1 or a list of them"),
    ({"epochs": [4, 2.5, 1]}, "'epochs' of method"),
    ({"epochs": [4, 4]}, "lists 2 values but the scenario has 3 phases"),
])
def test_bad_convergence_options_are_user_errors(tmp_path, opts, match):
    with pytest.raises(UserError, match=match):
        make(Progressive, tmp_path, opts=opts)
    with pytest.raises(UserError, match=match):
        make(Scratch, tmp_path, opts=opts)


def test_scratch_trains_only_the_final_model_from_a_fresh_network(tmp_path):
    torch.manual_seed(0)
    method, sc = make(Scratch, tmp_path, convergence="budget")
    rows = [run_phase(method, sc.phases[0])]
    net0 = method.net
    rows.append(run_phase(method, sc.phases[1]))
    assert method.net is net0 and method.net.num_classes == 7  # untrained, grown to the seen classes
    rows.append(run_phase(method, sc.phases[2]))
    assert method.net is not net0 and method.net.num_classes == 10
    assert [r["stage_steps"] for r in rows[:2]] == [0, 0]
    assert rows[2]["stage_examples"] == 2 * len(sc.train_indices(2))
    assert method.cut is None  # no base network to share with


def test_accuracy_trace_records_every_epoch_with_the_running_cost_and_changes_no_training(tmp_path):
    from energybench.training.evaluate import evaluate

    nets, traced = {}, None
    for trace in (False, True):
        torch.manual_seed(0)
        method, sc = make(Progressive, tmp_path / str(trace), convergence="budget", trace=trace)
        ledgers, accs = [], []
        for phase in sc.phases[:2]:
            method.ctx.trainer.begin_phase()
            method.begin_phase(phase)
            method.learn(phase)
            method.end_phase(phase)
            ledgers.append(method.ctx.trainer.end_phase().row(None)["train_macs"])
            accs.append(evaluate(method, sc, phase, method.ctx.trainer, torch.device("cpu")).acc["cnn"])
        nets[trace] = [p.detach().clone() for p in method.net.parameters()]
        if trace:
            traced = (method, sc, ledgers, accs)
    assert all(torch.equal(a, b) for a, b in zip(nets[False], nets[True]))  # the evaluations change nothing
    method, sc, ledgers, accs = traced
    rows = list(csv.DictReader(open(tmp_path / "True" / "trace.csv")))
    n0, n01 = (math.ceil(len(sc.train_indices(k)) / 64) for k in (0, 1))
    assert [(int(r["phase"]), int(r["epoch"])) for r in rows] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert [int(r["steps"]) for r in rows] == [n0, 2 * n0, 2 * n0 + n01, 2 * n0 + 2 * n01]
    assert [int(r["stage_steps"]) for r in rows] == [n0, 2 * n0, n01, 2 * n01]
    # cumulative counted MACs: the ledgers' at each phase's end; halfway, half of the phase's (same steps)
    assert [int(r["train_macs"]) for r in rows] == [ledgers[0] // 2, ledgers[0], ledgers[0] + ledgers[1] // 2,
                                                   ledgers[0] + ledgers[1]]
    assert [float(r["test_acc"]) for r in rows if r["epoch"] == "2"] == accs  # the last epoch is the model
    times = [float(r["train_time_s"]) for r in rows]
    assert 0 < times[0] < times[1] < times[2] < times[3]


def test_rows_of_a_run_on_digits(tmp_path, capsys):
    code = main(["run", "--method", "progressive,scratch", "--scenario", "B4-3x2", "--sharing", "0", "--epochs", "6",
                 "--out", str(tmp_path), "--run-id", "r", "--no-power", "--no-report", "--quiet"])
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    prog = [r for r in rows if r["method"] == "progressive"]
    scratch = [r for r in rows if r["method"] == "scratch"]
    assert all(int(r["iters"]) > 0 for r in prog)
    assert int(prog[-1]["total_steps"]) == sum(int(r["iters"]) for r in prog)
    assert [int(r["iters"]) for r in scratch[:-1]] == [0, 0] and int(scratch[-1]["iters"]) > 0
    assert float(scratch[-1]["acc_all"]) > 85.0 and float(prog[-1]["acc_all"]) > 85.0


def test_a_sweep_trains_scratch_once_and_claims_no_sharing_point_for_it(tmp_path, capsys):
    code = main(["run", "--method", "scratch,finetune", "--scenario", "B4-3x2", "--sharing", "0,0.5", "--epochs", "1",
                 "--train-per-class", "8", "--test-per-class", "5", "--out", str(tmp_path), "--run-id", "r",
                 "--no-power", "--no-report"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert ("scratch: the sharing level does not apply (scratch shares nothing), so trained once, at sharing 0"
            in captured.out)
    rows = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    levels = {m: sorted({float(r["sharing"]) for r in rows if r["method"] == m}) for m in ("scratch", "finetune")}
    assert levels == {"scratch": [0.0], "finetune": [0.0, 0.5]}
    methods = json.loads((tmp_path / "r" / "summary.json").read_text())["methods"]
    assert list(methods["scratch"]["levels"]) == ["0"] and methods["scratch"]["optimal_sharing"] is None
    assert methods["finetune"]["optimal_sharing"] is not None


# ----- the comparison on Fashion-MNIST -----------------------------------------------------------
@pytest.mark.slow
def test_progressive_matches_scratch_on_fashion_mnist(tmp_path):
    """experiments/progressive_fashion_mnist.yaml: final accuracy within 2 points of scratch
    (reduced: a third of the training images, at most 20 epochs per stage)."""
    require_fashion_mnist()
    args = ["run", str(Path(__file__).parents[2] / "experiments" / "progressive_fashion_mnist.yaml"),
            "--out", str(tmp_path), "--run-id", "p", "--no-power", "--no-report", "--quiet"]
    if reduced():
        args += ["--train-per-class", "200", "--test-per-class", "300", "--epochs", "20"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(tmp_path / "p" / "metrics.csv")))
    final = {r["method"]: float(r["acc_all"]) for r in rows if int(r["phase"]) == 3}
    assert abs(final["progressive"] - final["scratch"]) <= 2.0, final
    steps = {m: sum(int(r["iters"]) for r in rows if r["method"] == m) for m in final}
    assert steps["progressive"] > 0 and steps["scratch"] > 0
