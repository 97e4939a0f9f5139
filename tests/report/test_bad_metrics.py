"""`report` and `compare` on a metrics.csv that is empty, binary, cut mid-line, holds cells that
are not finite numbers, or comes from another version: exit 2 with one message where nothing can
be reported, else the report with one warning naming what was left out."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rundir_factory import make_run_dir

from energybench.cli import main
from energybench.engine.store import COLUMNS
from energybench.results import SCHEMA


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _run_dir(tmp_path, name="r"):
    root = make_run_dir(tmp_path / name, methods=("finetune",), sharing=(0.0, 0.4))
    (root / "summary.json").unlink()
    return root


def _rewrite(root, fn):
    path = root / "metrics.csv"
    rows = list(csv.reader(io.StringIO(path.read_text())))
    rows = fn(rows)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue())


def test_the_readers_schema_is_the_writers():
    # one list: the store writes the reader's schema, measured columns included
    from energybench.power.monitor import POWER_FIELDS

    assert SCHEMA == tuple(COLUMNS)
    assert set(POWER_FIELDS) <= set(SCHEMA)


@pytest.mark.parametrize("content,says", [
    (b"", "is empty (0 bytes)"),
    (b"\n\n", "is empty (2 bytes)"),
    (bytes(range(256)) * 4, "is a binary file, not a CSV text file (byte 0 is NUL)"),
    ("méthode,x\n".encode("latin-1"), "is not UTF-8 text (byte 1 is 0xe9)"),
])
@pytest.mark.parametrize("command", ["report", "compare"])
def test_an_empty_or_binary_metrics_file_exits_2_with_one_message(tmp_path, capsys, content, says, command):
    root = _run_dir(tmp_path)
    (root / "metrics.csv").write_bytes(content)
    if command == "report":
        code, out, err = run(capsys, "report", str(root), "--report-format", "html")
    else:
        other = _run_dir(tmp_path, "other")
        code, out, err = run(capsys, "compare", str(other), str(root), "--out", str(tmp_path / "cmp"))
    assert code == 2
    assert err.strip().splitlines() == [f"energybench {command}: error: {root / 'metrics.csv'} {says}"
                                        + err.split(says, 1)[1].strip()]
    assert "Traceback" not in err
    assert not (root / "report.html").exists() and not (tmp_path / "cmp").exists()


def test_a_row_cut_mid_line_is_left_out_with_a_warning(tmp_path, capsys):
    root = _run_dir(tmp_path)
    path = root / "metrics.csv"
    text = path.read_text()
    lines = text.splitlines()
    path.write_text(text[: len(text) - len(lines[-1]) // 2 - 1])  # the last row cut in its middle
    code, out, err = run(capsys, "report", str(root), "--report-format", "html")
    assert code == 0
    fields = len(lines[-1][: len(lines[-1]) - len(lines[-1]) // 2 - 1].split(","))
    assert (f"energybench: warning: {path}: its last row (line {len(lines)}) is cut mid-line ({fields} of "
            f"{len(COLUMNS) + 1} fields: an interrupted write, or a copy cut short); left out of the report") in err
    assert (root / "report.html").is_file()


def test_cells_that_are_not_finite_numbers_are_named_and_read_as_not_measured(tmp_path, capsys):
    root = _run_dir(tmp_path)

    def spoil(rows):
        h = rows[0]
        rows[2][h.index("acc_all")] = "abc"
        rows[3][h.index("compute_energy_j")] = "1e400"
        rows[4][h.index("memory_energy_j")] = "nan"
        return rows

    _rewrite(root, spoil)
    code, out, err = run(capsys, "report", str(root), "--report-format", "html")
    assert code == 0
    path = root / "metrics.csv"
    assert (f"energybench: warning: {path}: 3 cell(s) are not finite numbers (line 3 acc_all 'abc'; line 4 "
            "compute_energy_j '1e400'; line 5 memory_energy_j 'nan'); read as not measured") in err
    from energybench.results import load

    df = load(root)
    assert df["compute_energy_j"].isna().sum() == 1 and df["acc_all"].isna().sum() == 1  # never inf, never a value


def test_a_dropped_or_added_column_and_another_version_get_a_notice(tmp_path, capsys):
    root = _run_dir(tmp_path)

    def edit(rows):
        j = rows[0].index("memory_energy_j")
        rows = [r[:j] + r[j + 1:] for r in rows]  # dropped
        return [r[:3] + (["new_figure"] if k == 0 else ["1"]) + r[3:] for k, r in enumerate(rows)]  # inserted

    _rewrite(root, edit)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["energybench"] = "0.0.9"
    (root / "manifest.json").write_text(json.dumps(manifest))
    code, out, err = run(capsys, "report", str(root), "--report-format", "html")
    assert code == 0
    path = root / "metrics.csv"
    assert (f"energybench: warning: {path} lacks the column memory_energy_j (left out of the figures and tables) and "
            "has the column new_figure among energybench's own (ignored): it was not written by this version of "
            "energybench (0.1.0) or was edited; what it lacks is not reported") in err
    assert f"energybench: warning: {root} was written by energybench 0.0.9; this is 0.1.0" in err
    # a method's own columns (after energybench's, as the run writes them) are no notice
    root2 = make_run_dir(tmp_path / "r2", methods=("finetune",), sharing=(0.0, 0.4))
    code, out, err = run(capsys, "report", str(root2), "--report-format", "html")
    assert code == 0 and "warning" not in err
