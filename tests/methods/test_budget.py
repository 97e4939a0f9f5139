"""The memory budget is checked at every phase before a run starts: each method's stored model
bytes per phase (stored_bytes_by_phase, from the structure alone) equal hand-derived values and
what a real run stores, and a budget that a later phase outgrows is refused up front.

Quarter-width tiny_cnn on digits 8x8 (tests/methods/test_expansion.py derives the counts):
backbone P = 1804 parameters, feature width D = 16; sharing 0.5 cuts it into a trunk of 348 and a
branch of 1456 parameters. Scenario B4-3x2: 4, 7, 10 classes seen after phases 0, 1, 2. One
exemplar is 8 x 8 = 64 bytes.
"""

import csv

import pytest

from energybench.cli import main
from energybench.engine.preflight import make_config
from energybench.errors import UserError
from energybench.methods import check_methods
from energybench.methods.der import DER
from energybench.methods.foster import FOSTER
from energybench.methods.icarl import ICaRL
from energybench.methods.memo import MEMO
from energybench.methods.simplecil import SimpleCIL

from .digits_ctx import make_ctx

P, D, TRUNK, BRANCH = 1804, 16, 348, 1456
SIZES, SEEN, IN_SHAPE, EXEMPLAR = [4, 3, 3], [4, 7, 10], (1, 8, 8), 64
CFG = {"dataset": "digits", "scenario": "B4-3x2", "width": 0.25}


def grown(sharing: float, t: int) -> int:
    """DER/MEMO parameters after phase t: t + 1 extractors (on a trunk from phase 1) and one linear head
    over their concatenated features."""
    if t == 0:
        return P + (D + 1) * SEEN[0]
    trunk, branch = (TRUNK, BRANCH) if sharing else (0, P)
    return trunk + (t + 1) * branch + (D * (t + 1) + 1) * SEEN[t]


@pytest.mark.parametrize("cls", [DER, MEMO])
@pytest.mark.parametrize("sharing", [0.0, 0.5])
@pytest.mark.parametrize("precision,nbytes", [("fp32", 4), ("fp16", 2)])
def test_growing_models_bytes_per_phase_equal_hand_derived_values(cls, sharing, precision, nbytes):
    cfg = make_config({**CFG, "precision": precision})
    expected = [nbytes * grown(sharing, t) for t in range(3)]
    assert cls.stored_bytes_by_phase(cfg, SIZES, IN_SHAPE, sharing) == expected
    if sharing == 0.0 and precision == "fp32":
        assert expected == [7488, 15356, 23608]


def test_fixed_size_models_bytes_per_phase_equal_hand_derived_values():
    cfg = make_config(CFG)
    linear = [4 * (P + (D + 1) * n) for n in SEEN]  # one backbone, a linear head of the classes seen
    assert ICaRL.stored_bytes_by_phase(cfg, SIZES, IN_SHAPE) == linear
    # FOSTER stores the compressed student: one extractor whatever the sharing level
    assert FOSTER.stored_bytes_by_phase(cfg, SIZES, IN_SHAPE, 0.5) == linear
    assert SimpleCIL.stored_bytes_by_phase(cfg, SIZES, IN_SHAPE) == [4 * (P + D * n) for n in SEEN]  # prototypes


def test_bytes_per_phase_equal_what_a_run_stores(tmp_path):
    # no budget, 2 exemplars per class: a row's storage is the model plus 2 x 64 bytes per class seen
    argv = ["run", "--method", "der,memo", "--sharing", "0,0.5", "--width", "0.25", "--epochs", "1",
            "--train-per-class", "12", "--test-per-class", "10", "--memory-per-class", "2", "--herding", "random",
            "--no-power", "--no-report", "--quiet", "--out", str(tmp_path), "--run-id", "r"]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    assert len(rows) == 12
    cfg = make_config({**CFG, "methods": ["der", "memo"]})
    for r in rows:
        cls, sharing, t = {"der": DER, "memo": MEMO}[r["method"]], float(r["sharing"]), int(r["phase"])
        model = cls.stored_bytes_by_phase(cfg, SIZES, IN_SHAPE, sharing)[t]
        assert int(r["storage_bytes"]) - 2 * EXEMPLAR * SEEN[t] == model == 4 * grown(sharing, t), r


def test_a_budget_the_last_phase_outgrows_is_refused_before_the_run_directory_exists(tmp_path, capsys):
    # phase 0 needs 7488 + 4 x 64 = 7744, phase 1 15356 + 7 x 64 = 15804, phase 2 23608 + 10 x 64 = 24248
    argv = ["run", "--method", "der", "--sharing", "0", "--width", "0.25", "--epochs", "1", "--memory-budget",
            "20000", "--no-power", "--no-report", "--quiet", "--out", str(tmp_path), "--run-id", "late"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "energybench run: error: --memory-budget 20000 bytes cannot hold der at phase 2: its model (23608 bytes at "
        "fp32) and one exemplar (64 bytes) for each of the 10 classes seen by then need 24248 bytes; use "
        "--memory-budget >= 24248, the smallest that fits every phase of every method in the run\n")
    assert not (tmp_path / "late").exists()


def test_the_smallest_budget_named_is_the_largest_need_over_methods_levels_and_phases():

    def check(budget):
        cfg = make_config({**CFG, "methods": ["icarl", "memo", "simplecil"], "sharing": [0.5, 0.0],
                           "memory_budget": budget})
        check_methods(cfg.methods, {}, SIZES, cfg)

    check(24248)  # memo at sharing 0, phase 2: 23608 + 640
    with pytest.raises(UserError) as e:
        check(24247)
    assert str(e.value) == (
        "memory_budget 24247 bytes cannot hold memo at phase 2 at sharing 0.0: its model (23608 bytes at fp32) and "
        "one exemplar (64 bytes) for each of the 10 classes seen by then need 24248 bytes; use memory_budget >= "
        "24248, the smallest that fits every phase of every method in the run")


def test_a_method_without_exemplars_needs_only_its_model_to_fit():
    def check(budget):
        cfg = make_config({**CFG, "methods": ["simplecil"], "memory_budget": budget})
        check_methods(cfg.methods, {}, SIZES, cfg)

    check(4 * (P + D * 10))  # 7856: the backbone and 10 prototypes, no exemplar
    with pytest.raises(UserError) as e:
        check(7855)  # phase 0 (7472) fits, phase 2 does not
    assert str(e.value) == (
        "memory_budget 7855 bytes cannot hold simplecil at phase 2: its model takes 7856 bytes at fp32 (it stores no "
        "exemplars); use memory_budget >= 7856, the smallest that fits every phase of every method in the run")


def test_a_phase_that_outgrows_the_budget_still_says_so_when_it_starts(tmp_path):
    # the pre-flight check normally refuses this budget; a method that grows unannounced meets this error
    ctx = make_ctx(tmp_path, width=0.25, memory_budget=8000)
    method = DER(ctx)
    method.begin_phase(ctx.scenario.phases[0])
    assert method.memory.total == (8000 - 7488) // EXEMPLAR
    method.end_phase(ctx.scenario.phases[0])
    with pytest.raises(UserError, match="memory_budget 8000 bytes: the der model takes 15356 bytes with 7 classes, "
                                        "leaving room for 0 exemplars of 64 bytes, fewer than one per class; use "
                                        "memory_budget >= 15804"):
        method.begin_phase(ctx.scenario.phases[1])
