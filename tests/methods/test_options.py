"""Method options are typed and checked once, before any cell of a sweep runs."""

from __future__ import annotations

import pytest

from energybench.cli import main
from energybench.errors import UserError
from energybench.methods import METHODS, check_methods
from energybench.methods.options import choice, flag, fractions, integer, number, resolve

SPECS = {"T": number(2.0, gt=0), "K": integer(2, ge=1), "ce": choice("all", "new"), "imprint": flag(True),
         "pad": integer(None, ge=0, optional=True), "milestones": fractions([0.5])}


def test_defaults_and_converted_values():
    assert resolve("m", SPECS, {}) == {"T": 2.0, "K": 2, "ce": "all", "imprint": True, "pad": None,
                                       "milestones": [0.5]}
    got = resolve("m", SPECS, {"T": "3", "K": 4.0, "ce": "new", "imprint": "false", "pad": 0, "milestones": [1]})
    assert got == {"T": 3.0, "K": 4, "ce": "new", "imprint": False, "pad": 0, "milestones": [1.0]}
    assert type(got["K"]) is int and type(got["T"]) is float


@pytest.mark.parametrize("given,message", [
    ({"T": "abc"}, "option 'T' of method m must be a finite number > 0, got 'abc'"),
    ({"T": float("nan")}, "option 'T' of method m must be a finite number > 0, got nan"),
    ({"T": float("inf")}, "option 'T' of method m must be a finite number > 0, got inf"),
    ({"T": 0}, "option 'T' of method m must be a finite number > 0, got 0"),
    ({"T": True}, "option 'T' of method m must be a finite number > 0, got True"),
    ({"K": 2.5}, "option 'K' of method m must be a whole number >= 1, got 2.5"),
    ({"K": 0}, "option 'K' of method m must be a whole number >= 1, got 0"),
    ({"ce": "old"}, "option 'ce' of method m must be one of all, new, got 'old'"),
    ({"imprint": "maybe"}, "option 'imprint' of method m must be true or false, got 'maybe'"),
    ({"pad": -1}, "option 'pad' of method m must be a whole number >= 0 (or null), got -1"),
    ({"milestones": [0.5, 2]}, "option 'milestones' of method m must be a list of fractions in (0, 1], got [0.5, 2]"),
    ({"milestones": 0.5}, "must be a list of fractions in (0, 1], got 0.5"),
    ({"lambda": 1}, "unknown option 'lambda' for method m; valid options: K, T, ce, imprint, milestones, pad"),
    ({"imprnt": 1}, "unknown option 'imprnt' (did you mean 'imprint'?) for method m; valid options: K, T, ce, "
                    "imprint, milestones, pad"),
])
def test_bad_values_name_the_option_the_value_and_what_is_valid(given, message):
    with pytest.raises(UserError) as err:
        resolve("m", SPECS, given)
    assert str(err.value) == message or message in str(err.value)


def test_every_method_declares_valid_defaults():
    for name, cls in METHODS.items():
        opts = cls.check_options({})
        assert set(opts) == set(cls.options), name
        for key, spec in cls.options.items():  # each default passes its own check
            assert spec.default is None or spec.check(name, key, spec.default) == spec.default, (name, key)


def test_options_of_every_method_are_checked_together():
    with pytest.raises(UserError, match="option 'lambda_base' of method lucir must be a finite number >= 0"):
        check_methods(["finetune", "lucir"], {"finetune": {}, "lucir": {"lambda_base": "abc"}})
    with pytest.raises(UserError, match="unknown method 'lucr'"):
        check_methods(["finetune"], {"lucr": {}})
    with pytest.raises(UserError, match="pass --scenario 2,2,4,2"):  # the scenario-dependent rule
        check_methods(["progressive"], {"progressive": {"stages": "alpha", "n1": 2}}, [4, 3, 3])


@pytest.mark.parametrize("options", ["{lucir: {lambda_base: abc}}", "{eeil: {T: .nan}}", "{lucir: {K: 0}}"])
def test_a_bad_option_of_the_last_method_stops_a_sweep_before_the_first_cell(tmp_path, capsys, options):
    config = tmp_path / "sweep.yaml"
    config.write_text(f"methods: [finetune, joint, eeil, lucir]\nsharing: [0, 0.5]\noptions: {options}\n")
    code = main(["run", str(config), "--out", str(tmp_path / "runs"), "--run-id", "r", "--no-report", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "option '" in err or "options.eeil.T (nan) is not a finite number" in err  # .nan: refused as the file loads
    assert not (tmp_path / "runs").exists()  # nothing written: no cell started (a cell writes its rows)
