"""A method that trains differently from the rest of its run (EEIL with the paper's augmentation,
LwF with FACIL's loss form) is marked next to its numbers: the run records why in
manifest.json and the report's table for that method says it first; the others say nothing."""

from __future__ import annotations

import html
import json

import yaml

from energybench.cli import main
from energybench.report import build_reports
from energybench.report.rundir import load_run
from energybench.report.tables import summary_tables


def test_departures_from_the_run_protocol_are_recorded_and_reported(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "methods": ["finetune", "lwf", "eeil"], "scenario": "B4-3x2", "epochs": 1, "seeds": [0],
        "options": {"eeil": {"augment": "paper", "finetune_epochs": 1}, "lwf": {"ce": "new"}}}))
    code = main(["run", str(config), "--out", str(tmp_path), "--run-id", "r", "--no-power", "--no-report",
                 "--quiet"])
    assert code == 0, capsys.readouterr().err
    run_dir = tmp_path / "r"
    notes = json.loads((run_dir / "manifest.json").read_text())["method_notes"]
    assert notes == {
        "lwf": ["cross-entropy on the new classes only, earlier heads frozen (ce: new, FACIL's form), "
                "not LwF.MC's over all classes"],
        "eeil": ["trains with the EEIL paper's augmentation (one of 12 copies per image: brightness ±63/255, "
                 "contrast 0.2–1.8, crop after side/8 padding), not the run's (none)",
                 "adds 1 epoch of balanced fine-tuning (finetune_epochs) to each incremental phase, whatever the "
                 "run's epochs (1); they are in its iterations, time and energy"]}
    tables = {t.title: t.note for t in summary_tables(load_run(run_dir))}
    assert tables["eeil"].startswith("Not the run's protocol: eeil trains with the EEIL paper's augmentation")
    assert tables["lwf"].startswith("Not the run's protocol: lwf cross-entropy on the new classes only")
    assert tables["finetune"].startswith("Costs and time:")
    [page] = build_reports(run_dir, formats=("html",))
    text = html.unescape(page.read_text())
    assert "Not the run's protocol: eeil trains with the EEIL paper's augmentation" in text
    assert "method notes" not in text.lower()  # not repeated among the run's metadata
