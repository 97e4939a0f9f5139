"""`energybench run` ends by building the reports of the run it wrote (real training, digits)."""

from __future__ import annotations

import pytest
from test_html import SECTIONS, parse
from test_pdf import page_count

from energybench.cli import main

pytest.importorskip("energybench.cost.ledger", reason="the cost model is not in this checkout yet")


@pytest.mark.slow
def test_run_builds_html_and_pdf_reports(tmp_path, capsys):
    argv = ["run", "--method", "finetune,sharing", "--sharing", "0,0.5", "--epochs", "1", "--train-per-class", "8",
            "--test-per-class", "5", "--no-power", "--quiet", "--out", str(tmp_path), "--run-id", "e2e"]
    assert main(argv) == 0
    root = tmp_path / "e2e"
    out = capsys.readouterr().out
    assert f"report: {root / 'report.html'}" in out and f"report: {root / 'report.pdf'}" in out
    p = parse((root / "report.html").read_text(encoding="utf-8"))
    assert p.errors == [] and set(SECTIONS) <= set(p.ids)
    # the PDF: a contents entry per section and figure, each a link
    from pypdf import PdfReader

    reader = PdfReader(root / "report.pdf")
    assert page_count(root / "report.pdf") >= 4
    assert len(reader.pages[0]["/Annots"]) == 5 + 16  # five sections, sixteen figures (drawn or not)
