"""`energybench compare`: two runs that differ in backbone (or energy table) overlaid in one
report, their optimal points in one table, what differs between them said; runs with nothing
in common refused with one clear message (exit 2) before anything is written."""

from __future__ import annotations

import re

import pytest
from rundir_factory import make_run_dir
from test_html import parse

from energybench.cli import main
from energybench.report.canvas import standalone
from energybench.report.comparison import compare_figures, differences, load_comparison
from energybench.report.style import METHOD_LOOKS, drawing, size_for


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    # resnet32 costs 1.8x resnet20 and scores 3 points more; its sweep has other levels too
    a = make_run_dir(root / "r20", methods=("finetune", "sharing"), sharing=(0.0, 0.4, 0.8), seeds=(0, 1))
    b = make_run_dir(root / "r32", methods=("sharing", "lucir"), sharing=(0.0, 0.2, 0.4, 0.8, 0.95), seeds=(0, 1),
                     backbone="resnet32", scale=1.8, offset=3.0)
    return a, b


@pytest.fixture(scope="module")
def built_compare(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp")
    assert main(["compare", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    return out


def test_compare_writes_html_and_pdf(built_compare, capsys):
    from pypdf import PdfReader

    assert sorted(p.name for p in built_compare.iterdir()) == ["compare.html", "compare.pdf"]
    reader = PdfReader(built_compare / "compare.pdf")
    assert reader.metadata.title == "energybench comparison: r20 vs r32"
    p = parse((built_compare / "compare.html").read_text(encoding="utf-8"))
    assert p.errors == [] and len(p.ids) == len(set(p.ids))
    for sid in ("runs", "differences", "optimal", "accuracy-vs-sharing", "compute-energy", "memory-access",
                "training-time", "storage"):
        assert sid in p.ids, sid


def test_the_accuracy_figure_shows_both_runs(runs, built_compare):
    cmp = load_comparison(list(runs))
    assert cmp.labels == ["r20", "r32"] and cmp.methods == ["sharing"] and cmp.common_levels["sharing"] == [0, 0.4, 0.8]
    size = size_for(7.0)
    with drawing(size):
        acc = compare_figures(cmp)[0]
        fig = standalone(acc, size)
    final = fig.axes[0]
    lines = {c.get_label(): c.lines[0] for c in final.containers if getattr(c, "has_yerr", False)}
    assert set(lines) == {"r20: sharing", "r32: sharing"}
    a, b = lines["r20: sharing"], lines["r32: sharing"]
    assert list(a.get_xdata()) == [0, 40, 80] and list(b.get_xdata()) == [0, 20, 40, 80, 95]
    # the method's colour and marker in both; the run's line style and marker fill tell them apart
    assert a.get_color() == b.get_color() == METHOD_LOOKS["sharing"].colour
    assert a.get_marker() == b.get_marker() == METHOD_LOOKS["sharing"].marker
    assert (a.get_linestyle(), a.get_fillstyle()) == ("-", "full") and (b.get_linestyle(), b.get_fillstyle()) == \
        ("--", "none")
    # final accuracy at sharing 0: 80 + 0.25 (mean of seeds 0, 1) and 3 points more for resnet32
    assert a.get_ydata()[0] == pytest.approx(80.25) and b.get_ydata()[0] == pytest.approx(83.25)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:3] == ["sharing", "r20", "r32"]
    # in the HTML the figure's legend names both runs
    html = (built_compare / "compare.html").read_text(encoding="utf-8")
    section = html.split('<section id="accuracy-vs-sharing">', 1)[1].split("</section>", 1)[0]
    assert section.count("<svg ") == 1 and ">r20<" in section and ">r32<" in section


def test_the_table_lists_both_optimal_points(built_compare):
    html = (built_compare / "compare.html").read_text(encoding="utf-8")
    table = html.split('id="optimal-table"', 1)[1].split("</table>", 1)[0]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table)]
    rows = [r for r in rows if r]
    # r20: sharing 0.4 loses 30 * 0.4**3 = 1.92 pp > 1 pp, so its optimum is 0; r32 keeps 0.2 (0.24 pp lost):
    # compute per iteration there (5.4e6 * 4.6 + 6e4 * 2.3 ... scaled alike) -> 1 / 0.866 = 1.15x less
    assert [r[:3] for r in rows] == [["r20", "sharing", "0"], ["r32", "sharing", "20"]]
    assert rows[1][4:6] == ["83.25", "83.01"] and rows[1][6] == "1.15"


def test_what_differs_is_said(runs, built_compare):
    _, rows = differences(load_comparison(list(runs)))
    by_key = {r[0]: r[1:] for r in rows}
    assert by_key["backbone"] == ["resnet20", "resnet32"]
    assert by_key["backbone (manifest)"] == ["resnet20", "resnet32"]
    assert by_key["methods"] == ["finetune, sharing", "sharing, lucir"]
    assert "run_id" not in by_key and "seeds" not in by_key  # same seeds: not a difference
    html = (built_compare / "compare.html").read_text(encoding="utf-8")
    table = html.split('id="differences-table"', 1)[1].split("</table>", 1)[0]
    assert "backbone (manifest)" in table
    assert re.findall(r'<th scope="col"[^>]*>(.*?)</th>', table) == ["key", "r20", "r32"]  # every run's column
    # on screen too: long values wrap in a table as wide as the page instead of pushing the second run's column
    # out of view (white-space: nowrap, the other tables' rule, did)
    assert re.search(r"#differences-table td, #differences-table th \{ white-space: normal; overflow-wrap: anywhere",
                     html)
    assert re.search(r"#differences-table \{ width: 100%; table-layout: fixed; \}", html)


def test_runs_that_differ_in_energy_table(tmp_path):
    a = make_run_dir(tmp_path / "h", methods=("sharing",), sharing=(0.0, 0.5))
    b = make_run_dir(tmp_path / "a", methods=("sharing",), sharing=(0.0, 0.5), energy_table="aladdin45")
    _, rows = differences(load_comparison([a, b], ["horowitz", "aladdin"]))
    assert {r[0]: r[1:] for r in rows}["energy_table"] == ["horowitz45", "aladdin45"]


@pytest.mark.parametrize("case,msg", [
    ("one", "compare needs at least two run directories; got 1"),
    ("folder", "is a folder of 2 run directories; compare takes the runs themselves, e.g. energybench compare "),
    ("no-method", "the runs have no method in common (x: finetune; y: lucir)"),
    ("no-level", "the runs share no sharing level of any common method (x: finetune at 0, 0.5; y: finetune at 0.8)"),
    ("labels", "1 label(s) for 2 run directories"),
    ("same-id", "the runs share a run id"),
    ("twice", "is given twice"),
    ("missing", "does not exist"),
])
def test_nothing_comparable_is_a_clear_error(tmp_path, capsys, case, msg):
    x = make_run_dir(tmp_path / "x", methods=("finetune",), sharing=(0.0, 0.5))
    y = {"no-method": lambda: make_run_dir(tmp_path / "y", methods=("lucir",), sharing=(0.0, 0.5)),
         "no-level": lambda: make_run_dir(tmp_path / "y", methods=("finetune",), sharing=(0.8,)),
         "same-id": lambda: make_run_dir(tmp_path / "other" / "x", methods=("finetune",), sharing=(0.0,))}.get(
        case, lambda: make_run_dir(tmp_path / "y", methods=("finetune",), sharing=(0.0, 0.5)))()
    args = {"one": [str(x)], "folder": [str(tmp_path)], "labels": [str(x), str(y), "--label", "only"],
            "twice": [str(x), str(x)],
            "missing": [str(x), str(tmp_path / "nope")]}.get(case, [str(x), str(y)])
    out = tmp_path / "out"
    code = main(["compare", *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("energybench compare: error: ") and msg in err, err
    assert "Traceback" not in err and not out.exists()


def test_compare_overlays_the_modelled_latency(tmp_path):
    """Two runs with modelled latency (1 ms and 3 ms an iteration on every row): one line per run and
    method, at 1 and 3 ms; runs without it leave the figure out, saying why."""
    import json

    from energybench.engine.store import read_metrics, render_csv
    from energybench.results import summarise

    roots = []
    for name, ms in (("a", 1.0), ("b", 3.0)):
        root = make_run_dir(tmp_path / name, methods=("finetune",), sharing=(0.0, 0.5))
        rows = read_metrics(root / "metrics.csv")
        for r in rows:
            r.update(latency_s=repr(ms / 1000 * float(r["iters"])), arch="eyeriss_like", mapper="analytic")
        (root / "metrics.csv").write_text(render_csv(rows))
        (root / "summary.json").write_text(json.dumps(summarise([dict(r) for r in rows], 1.0)))
        roots.append(root)
    figs = {f.id: f for f in compare_figures(load_comparison(roots))}
    fig = figs["modelled-latency"]
    assert not fig.omitted
    with drawing(size_for(7.0)):
        drawn = standalone(fig, size_for(7.0))
    ax = drawn.axes[0]
    ys = sorted(round(float(y), 6) for line in ax.get_lines() for y in line.get_ydata() if len(line.get_xdata()) == 2)
    assert ys == [1.0, 1.0, 3.0, 3.0]  # ms: each run's line at its latency, both levels
    plain = [make_run_dir(tmp_path / n, methods=("finetune",), sharing=(0.0, 0.5)) for n in ("c", "d")]
    assert {f.id: f for f in compare_figures(load_comparison(plain))}["modelled-latency"].omitted
