"""MEMO, DER, FOSTER and SimpleCIL: per-phase parameters, forward MACs and training-step MACs equal
hand-derived values on a quarter-width tiny_cnn (digits 8x8), and the memory budget is met.

tiny_cnn at width 0.25 on 1x8x8 (blocks: conv 1->4, conv 4->8 + pool, conv 8->16 + pool, linear 16->16):
    parameters per block   44, 304, 1184, 272          -> P = 1804, feature width d = 16
    MACs per sample        2304, 18432, 18432, 256     -> M = 39424 (the first conv has no input gradient)
Sharing 0.5 cuts after block 2 (shared fraction 348 / 1804 = 0.193, nearer 0.5 than 0.849):
    trunk 348 parameters, 20736 MACs; one branch (blocks 3-4) 1456 parameters, 18688 MACs.
Scenario B4-3x2: 4, 7, 10 classes seen after phases 0, 1, 2.
"""

import csv

import pytest
import torch

from energybench.cli import main
from energybench.engine.preflight import make_config
from energybench.cost.counter import count_forward
from energybench.cost.memory_model import storage_bytes
from energybench.errors import UserError
from energybench.methods.der import DER
from energybench.methods.foster import FOSTER, class_weights
from energybench.methods.memo import MEMO
from energybench.methods.simplecil import SimpleCIL

from .digits_ctx import make_ctx

P, M, D = 1804, 39424, 16
TRUNK_P, TRUNK_M, BRANCH_P, BRANCH_M = 348, 20736, 1456, 18688
FIRST_CONV = 2304
SEEN = [4, 7, 10]


def per_sample_eval(method) -> int:
    x = torch.randn(3, 1, 8, 8)
    _, prof = count_forward(lambda: method.predict(x), method.net)
    assert prof.fwd_macs % 3 == 0
    return prof.fwd_macs // 3


def params(method) -> int:
    return storage_bytes(method.storage_modules(), 0, "fp32") // 4


def train_profile(ctx, kind):
    """The profile the trainer counted for one step of `kind`, per sample (fwd, bwd-weight, bwd-input)."""
    prof = next(p for k, p in ctx.trainer.profiles.items() if k[0] == "train" and k[1] == kind)
    b = prof.batch_size
    return prof.fwd_macs / b, prof.bwd_weight_macs / b, prof.bwd_input_macs / b


def run_phases(method, n):
    for phase in method.ctx.scenario.phases[:n]:
        method.ctx.trainer.begin_phase()
        method.begin_phase(phase)
        method.learn(phase)
        method.end_phase(phase)


@pytest.mark.parametrize("cls,sharing", [(DER, 0.0), (DER, 0.5), (MEMO, 0.0), (MEMO, 0.5)])
def test_growing_methods_store_and_run_one_branch_more_per_phase(tmp_path, cls, sharing):
    ctx = make_ctx(tmp_path, sharing=sharing, width=0.25, memory_per_class=2)
    method = cls(ctx)
    trunk_p, trunk_m = (TRUNK_P, TRUNK_M) if sharing else (0, 0)
    branch_p, branch_m = (BRANCH_P, BRANCH_M) if sharing else (P, M)
    for t, phase in enumerate(ctx.scenario.phases):
        method.begin_phase(phase)
        method.end_phase(phase)  # the auxiliary classifier is a training device: not stored
        if t == 0:  # phase 0 is one whole network
            assert params(method) == P + (D + 1) * 4 and per_sample_eval(method) == M + D * 4
            continue
        head_in = D * (t + 1)
        assert params(method) == trunk_p + (t + 1) * branch_p + (head_in + 1) * SEEN[t]
        assert per_sample_eval(method) == trunk_m + (t + 1) * branch_m + head_in * SEEN[t]
        frozen = [all(not p.requires_grad for p in b.parameters()) for b in method.net.backbone.branches]
        assert frozen == [True] * t + [False]
        trunk_trains = [p.requires_grad for p in method.net.backbone.trunk.parameters()]
        assert all(trunk_trains) if cls is MEMO else not any(trunk_trains)
    assert method.cut.blocks == (2 if sharing else 0)


@pytest.mark.parametrize("cls,sharing,fwd,bwd_w,bwd_in", [
    # new backbone trains (no input gradient at its first conv); old one forward only; head 32->7, aux 16->4
    (DER, 0.0, 2 * M + 32 * 7 + D * 4, M + 32 * 7 + D * 4, (M - FIRST_CONV) + 32 * 7 + D * 4),
    # frozen trunk once, two branches; the new branch's first conv reads the frozen trunk: no input gradient
    (DER, 0.5, TRUNK_M + 2 * BRANCH_M + 32 * 7 + D * 4, BRANCH_M + 32 * 7 + D * 4, 256 + 32 * 7 + D * 4),
    # MEMO's trunk trains (train_base): backward runs through the frozen old branch to the trunk, not to its weights
    (MEMO, 0.5, TRUNK_M + 2 * BRANCH_M + 32 * 7 + D * 4, TRUNK_M + BRANCH_M + 32 * 7 + D * 4,
     (TRUNK_M - FIRST_CONV) + 2 * BRANCH_M + 32 * 7 + D * 4),
])
def test_training_step_counts_every_branch(tmp_path, cls, sharing, fwd, bwd_w, bwd_in):
    ctx = make_ctx(tmp_path, sharing=sharing, width=0.25, memory_per_class=3)
    method = cls(ctx)
    run_phases(method, 2)
    assert train_profile(ctx, method.name) == (fwd, bwd_w, bwd_in)


def test_foster_boosts_with_two_extractors_and_compresses_back_to_one(tmp_path):
    ctx = make_ctx(tmp_path, width=0.25, memory_per_class=3)
    method = FOSTER(ctx)
    run_phases(method, 2)
    # boosting: both extractors forward, the old classifier (16->4) on the old features, the
    # classifier 32->7 and the new extractor's own classifier 16->7; only the new extractor trains
    assert train_profile(ctx, "foster_boost") == (2 * M + 32 * 7 + D * 7 + D * 4, M + 32 * 7 + D * 7,
                                                  (M - FIRST_CONV) + 32 * 7 + D * 7)
    # compression: the student (M + 16->7) trains; the boosted model runs forward beside it
    assert train_profile(ctx, "foster_compress") == (M + D * 7 + 2 * M + 32 * 7, M + D * 7, (M - FIRST_CONV) + D * 7)
    assert params(method) == P + (D + 1) * 7 and per_sample_eval(method) == M + D * 7  # one extractor again
    assert len(method.net.backbone.branches) == 1 and method.old_head is None


def test_foster_class_weights_follow_the_effective_number():
    w = class_weights([2, 2, 10], 0.5)
    raw = torch.tensor([0.5 / 0.75, 0.5 / 0.75, 0.5 / (1 - 0.5 ** 10)])
    assert torch.allclose(w, raw / raw.sum() * 3)
    assert w[0] > w[2]  # rarer classes weigh more


def test_simplecil_trains_only_the_base_and_stores_one_prototype_per_class(tmp_path):
    ctx = make_ctx(tmp_path, width=0.25)
    method = SimpleCIL(ctx)
    run_phases(method, 2)
    assert ctx.trainer.steps_taken() == 0  # phase 1: no training step at all
    assert not any(p.requires_grad for p in method.net.parameters())
    assert method.cut.achieved == 1.0
    assert params(method) == P + D * 7 and per_sample_eval(method) == M + D * 7
    feats = method.net.features(torch.randn(5, 1, 8, 8))
    protos = torch.cat(list(method.net.head.chunks))
    expect = torch.nn.functional.normalize(feats, dim=1) @ torch.nn.functional.normalize(protos, dim=1).T
    assert torch.allclose(method.net.head(feats), expect)


def test_bad_method_options_are_refused():
    with pytest.raises(UserError, match="option 'beta1' of method foster must be a finite number > 0 and < 1"):
        FOSTER.check_options({"beta1": 1.0})
    with pytest.raises(UserError, match="option 'train_base' of method memo must be true or false"):
        MEMO.check_options({"train_base": "sometimes"})


BUDGET = 32000


def test_every_method_keeps_model_plus_exemplars_within_one_exemplar_of_the_budget(tmp_path):
    argv = ["run", "--method", "der,memo,foster,icarl", "--sharing", "0", "--width", "0.25", "--epochs", "1",
            "--memory-budget", str(BUDGET), "--herding", "random", "--no-power", "--no-report", "--quiet",
            "--out", str(tmp_path), "--run-id", "b"]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(tmp_path / "b" / "metrics.csv")))
    assert len(rows) == 12
    exemplar = 64  # 8x8 bytes
    for r in rows:
        assert 0 <= BUDGET - int(r["storage_bytes"]) < exemplar, r["method"]
    # DER's model grows by a backbone and a wider head each phase, so its exemplars shrink
    der = {int(r["phase"]): int(r["storage_bytes"]) for r in rows if r["method"] == "der"}
    models = [4 * (P + (D + 1) * 4), 4 * (2 * P + (2 * D + 1) * 7), 4 * (3 * P + (3 * D + 1) * 10)]
    kept = [(der[t] - models[t]) // exemplar for t in range(3)]
    assert kept == [(BUDGET - m) // exemplar for m in models] and kept[0] > kept[1] > kept[2]


def test_a_budget_too_small_for_the_grown_model_says_what_is_needed(tmp_path, capsys):
    argv = ["run", "--method", "der", "--sharing", "0", "--width", "0.25", "--epochs", "1", "--memory-budget", "8000",
            "--no-power", "--no-report", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 2
    # phase 0 fits (7488 + 4 x 64 = 7744); phase 1's two backbones do not; phase 2 needs 23608 + 10 x 64
    assert ("--memory-budget 8000 bytes cannot hold der at phase 1: its model (15356 bytes at fp32) and one "
            "exemplar (64 bytes) for each of the 7 classes seen by then need 15804 bytes; use --memory-budget >= "
            "24248, the smallest that fits every phase of every method in the run") in capsys.readouterr().err


def test_same_seed_same_numbers(tmp_path):
    argv = ["run", "--method", "memo,foster,simplecil", "--sharing", "0.5", "--width", "0.25", "--epochs", "1",
            "--train-per-class", "12", "--test-per-class", "10", "--memory-per-class", "3", "--no-power",
            "--no-report", "--quiet", "--out", str(tmp_path)]
    keys = ("method", "phase", "acc_all", "train_macs", "eval_macs", "storage_bytes", "mem_reads")
    out = []
    for run_id in ("a", "b"):
        assert main([*argv, "--run-id", run_id]) == 0
        out.append([{k: r[k] for k in keys} for r in csv.DictReader(open(tmp_path / run_id / "metrics.csv"))])
    assert out[0] == out[1] and len(out[0]) == 9


def test_simplecil_with_given_weights_trains_nothing_and_keeps_them(tmp_path):
    from energybench.models import build_backbone

    torch.manual_seed(3)
    backbone = build_backbone("tiny_cnn", (1, 8, 8), 0.25)
    torch.save(backbone.state_dict(), tmp_path / "w.pt")
    ctx = make_ctx(tmp_path, width=0.25, weights=str(tmp_path / "w.pt"))
    method = SimpleCIL(ctx)
    run_phases(method, 1)
    assert ctx.trainer.iters == 0 and ctx.trainer.steps_taken() == 0
    for name, value in backbone.state_dict().items():
        assert torch.equal(method.net.backbone.state_dict()[name], value), name
    assert params(method) == P + D * 4


def test_a_budget_below_the_base_network_stops_before_anything_runs(tmp_path, capsys):
    argv = ["run", "--method", "icarl", "--width", "0.25", "--memory-budget", "7743", "--no-power", "--no-report",
            "--quiet", "--out", str(tmp_path), "--run-id", "small"]
    assert main(argv) == 2
    # phase 0: 4 * (1804 + 17 * 4) = 7488 bytes of network + 4 exemplars of 64 bytes = 7744;
    # phase 2 (every phase must fit): 4 * (1804 + 17 * 10) = 7896 + 10 exemplars = 8536
    assert ("--memory-budget 7743 bytes cannot hold icarl at phase 0: its model (7488 bytes at fp32) and one "
            "exemplar (64 bytes) for each of the 4 classes seen by then need 7744 bytes; use --memory-budget >= 8536, "
            "the smallest that fits every phase of every method in the run") in capsys.readouterr().err
    assert not (tmp_path / "small" / "metrics.csv").exists()


def test_herding_after_growth_is_counted_on_the_grown_network(tmp_path):
    # the backbone object is the same before and after a branch is added: its evaluation profile must not be reused
    ctx = make_ctx(tmp_path, width=0.25, memory_per_class=3)
    run_phases(DER(ctx), 3)
    # phase 2's evaluation work is the herding forward over its new classes' samples, through 3 backbones
    new = ctx.scenario.phases[2].train_idx
    assert sum(p.fwd_macs * n for p, n in ctx.trainer.ledger.eval) == len(new) * 3 * M


def test_a_budget_splits_its_exemplars_n_or_n_plus_one_per_class():
    from energybench.methods.memory import ExemplarMemory

    memory = ExemplarMemory(None, 20, "random", 0)
    assert memory.quotas(3) == {0: 20, 1: 20, 2: 20}  # no budget: the per-class quota
    memory.total = 23
    assert memory.quotas(7) == {0: 4, 1: 4, 2: 3, 3: 3, 4: 3, 5: 3, 6: 3}  # 23 = 7 x 3 + 2


def test_simplecil_alone_gets_no_warning_about_cuts_it_does_not_take(tmp_path, capsys):
    """SimpleCIL shares the whole backbone whatever the level: a far or collapsed cut is no concern of
    its run, and the sweep says what it shares when it trains it once."""
    argv = ["run", "--sharing", "0.5,0.6", "--epochs", "1", "--train-per-class", "8", "--test-per-class", "5",
            "--out", str(tmp_path), "--no-power", "--no-report"]
    assert main([*argv, "--method", "simplecil", "--run-id", "a"]) == 0
    out, err = capsys.readouterr()
    assert "cuts fall on block boundaries" not in err and "land on the same cut" not in err, err
    assert "simplecil: the sharing level does not apply (simplecil shares the whole backbone), so trained once" in out
    assert main([*argv, "--method", "simplecil,finetune", "--run-id", "b"]) == 0  # finetune takes the cuts
    assert "cuts fall on block boundaries" in capsys.readouterr().err


def test_memo_at_sharing_0_is_der_number_for_number(tmp_path, capsys):
    """What the README and MEMO's method note say: with no trunk, MEMO is DER."""
    assert main(["run", "--method", "der,memo", "--sharing", "0", "--width", "0.25", "--epochs", "1",
                 "--train-per-class", "10", "--test-per-class", "5", "--no-power", "--no-report", "--quiet",
                 "--out", str(tmp_path), "--run-id", "r"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    clock = {"method", "run_id", "train_time_s", "time_per_iter_s", "train_cpu_s"}

    def figures(method):
        return [{k: v for k, v in r.items() if k not in clock and "measured" not in k} for r in rows
                if r["method"] == method]
    assert figures("memo") == figures("der") and len(figures("der")) == 3
    cfg = make_config({"sharing": [0.0, 0.5]})
    assert MEMO.protocol_notes(MEMO.check_options({}), cfg) == [
        "the shared trunk (the sharing level) keeps training in every phase, as in MEMO's reference config "
        "(train_base); it is shared, not frozen. At sharing 0 there is no trunk: MEMO is DER there, number for number"]
    assert MEMO.protocol_notes(MEMO.check_options({}), make_config({"sharing": [0.5]}))[0].endswith("not frozen.")
    assert MEMO.protocol_notes(MEMO.check_options({"train_base": False}), cfg) == []
