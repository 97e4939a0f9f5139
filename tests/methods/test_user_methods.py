"""Your own method: the README's example, in a file outside the package, runs end to end beside a
built-in one with its loss's arithmetic counted; wrong classes stop the run with one message."""

from __future__ import annotations

import csv
import json
import textwrap

import pytest
from conftest import readme_python  # tests/conftest.py

from energybench.cli import main
from energybench.errors import UserError
from energybench.methods import check_methods, method_classes, valid_methods

TINY = ["--epochs", "1", "--train-per-class", "8", "--test-per-class", "5", "--no-power", "--no-report", "--quiet"]


def test_the_readme_method_runs_beside_a_built_in_one(user_dir, tmp_path, capsys):
    source = readme_python("# my_methods.py")
    assert len(source.splitlines()) < 40
    (user_dir / "my_methods.py").write_text(source)
    config = tmp_path / "c.yaml"
    config.write_text("methods: [my_methods:L2Anchor, finetune]\nsharing: [0, 0.5]\noptions: {l2anchor: {lamb: 0.1}}\n")
    code = main(["run", str(config), "--trust-code", "--out", str(tmp_path / "runs"), "--run-id", "r", *TINY])
    assert code == 0, capsys.readouterr().err
    root = tmp_path / "runs" / "r"
    rows = list(csv.DictReader(open(root / "metrics.csv")))
    assert sorted({r["method"] for r in rows}) == ["finetune", "l2anchor"]
    assert (root / "cells" / "l2anchor_s0.5_seed0").is_dir()
    by = {(r["method"], r["sharing"], r["phase"]): r for r in rows}
    for s in ("0.0", "0.5"):
        mine, plain = by[("l2anchor", s, "1")], by[("finetune", s, "1")]
        # the same network and steps; the pull's subtractions, squares and sums are element-wise work
        assert (mine["iters"], mine["train_macs"]) == (plain["iters"], plain["train_macs"])
        assert int(mine["elementwise_ops"]) > int(plain["elementwise_ops"])
    assert by[("l2anchor", "0.5", "1")]["shared_blocks"] != "0"
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["method_code"]["l2anchor"]["qualname"] == "L2Anchor"


WRONG = """
from energybench.methods.base import Method
from energybench.methods.options import number

def function(phase):
    pass

class NotAMethod:
    name = "x"

class Nameless(Method):
    def learn(self, phase):
        pass

class Finetune2(Method):
    name = "finetune"
    def learn(self, phase):
        pass

class Lazy(Method):
    name = "lazy"

class Good(Method):
    name = "good"
    options = {"lamb": number(0.5, ge=0)}
    def learn(self, phase):
        self.fit(self.net, phase.train_idx)

class Good2(Good):
    pass
"""


@pytest.mark.parametrize("methods,options,message", [
    (["my_wrong:function"], {}, "method 'my_wrong:function' is a function; expected a subclass of "
                                "energybench.methods.base.Method"),
    (["my_wrong:NotAMethod"], {}, "is the class NotAMethod; expected a subclass"),
    (["my_wrong:Nameless"], {}, "its class must set `name`"),
    (["my_wrong:Finetune2"], {}, "names itself 'finetune', a built-in method"),
    (["my_wrong:Lazy"], {}, "defines no learn(phase)"),
    (["my_wrong:Good", "my_wrong:Good2"], {}, "two entries name the method 'good'"),
    (["my_wrong:Good"], {"good": {"lamb": -1}}, "option 'lamb' of method good must be a finite number >= 0, got -1"),
    (["my_wrong:Good"], {"my_wrong:Good": {"lamb": 1}}, "options are keyed by a method's name"),
    # keyed by the class's name, or in another case: the method's own name suggested
    (["my_wrong:Good"], {"Good": {"lamb": 1}}, "unknown method 'Good' (did you mean 'good'?); valid methods:"),
    (["my_wrong:Missing"], {}, "module 'my_wrong' ("),
    (["nope_module_z:Good"], {}, "no module named 'nope_module_z'"),
])
def test_wrong_method_classes_say_what_is_wrong(user_dir, methods, options, message):
    (user_dir / "my_wrong.py").write_text(textwrap.dedent(WRONG))
    with pytest.raises(UserError) as err:
        check_methods(methods, options)
    assert message in str(err.value)


def test_a_wrong_method_stops_the_run_before_anything_is_written(user_dir, tmp_path, capsys):
    (user_dir / "my_wrong.py").write_text(textwrap.dedent(WRONG))
    out = tmp_path / "runs"
    assert main(["run", "--method", "finetune,my_wrong:Lazy", "--out", str(out), *TINY]) == 2
    err = capsys.readouterr().err
    assert "defines no learn(phase)" in err and err.count("\n") == 1 and not out.exists()


def test_installed_packages_register_methods_by_name(user_dir):
    (user_dir / "my_wrong.py").write_text(textwrap.dedent(WRONG))
    dist = user_dir / "my_methods_pkg-2.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-methods-pkg\nVersion: 2.0\n")
    (dist / "entry_points.txt").write_text("[energybench.methods]\ngood = my_wrong:Good\nalias = my_wrong:Good\n")
    assert "good" in valid_methods()
    assert method_classes(["finetune", "good"])["good"].__name__ == "Good"
    with pytest.raises(UserError, match="'alias' is registered under that name but its class names itself 'good'"):
        check_methods(["alias"], {})
