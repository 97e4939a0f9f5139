"""The pages drawn by a forked child (report/fork.py): what goes wrong there reaches the user as
a warning, as it does where the pages are drawn in this process."""

from __future__ import annotations

import sys

import pytest
from rundir_factory import make_run_dir

import energybench.report.fork as fork
import energybench.report.pdf as pdf
import energybench.report.plots as plots
from energybench.report import build_reports
from energybench.report.canvas import FigureResult, Panels


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the report forks on Linux only")
@pytest.mark.parametrize("forked", [True, False])
def test_a_figure_failing_in_the_child_is_warned_about(tmp_path, monkeypatch, forked):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.4))

    def breaks_when_drawn(run, looks):
        def draw(axes):
            raise RuntimeError("broken on purpose")
        return FigureResult("broken-draw", "Broken when drawn", "a caption", "a provenance", Panels(1, draw))

    monkeypatch.setattr(plots, "FIGURES", (("broken-draw", breaks_when_drawn),))
    monkeypatch.setattr(pdf, "split", lambda layout: len(layout.pages))  # every page in the first part
    monkeypatch.setattr(fork, "can_fork", lambda: forked)
    with pytest.warns(UserWarning) as caught:
        build_reports(root, formats=["html", "pdf"])
    messages = [str(w.message) for w in caught]
    assert sum("could not be drawn: RuntimeError: broken on purpose" in m for m in messages) == 1, messages
