"""The report tells what the run knows: sharing figures at the achieved fraction, every priced
energy term drawn and in the totals, a zero level explained, intervals on accuracy with several
seeds, point labels that never overlap, and a report that survives class names in any script
and a figure that fails."""

from __future__ import annotations

import csv
import io
import json
from html import unescape
import warnings

import numpy as np
import pytest
from conftest import missing_on_ci  # tests/conftest.py
from pypdf import PdfReader
from rundir_factory import make_run_dir

from energybench.report import build_reports, expansion_plots, export_figures, plots, protocol_plots, typeset
from energybench.report.canvas import FigureResult, Panels, standalone
from energybench.report.plots import fig_accuracy, fig_levels, fig_pareto, total_energy
from energybench.report.rundir import load_run
from energybench.report.style import drawing, method_looks, size_for

SIZE = size_for(7.0)


def edit_metrics(root, **columns):
    """Set metrics.csv columns to a value or a function of the row (dict of strings), and drop the
    summary.json so that the report derives it from the edited rows."""
    path = root / "metrics.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    header = list(rows[0])
    for col, value in columns.items():
        if col not in header:
            header.append(col)
        for r in rows:
            r[col] = str(value(r) if callable(value) else value)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue())
    (root / "summary.json").unlink(missing_ok=True)


# ----- achieved sharing ---------------------------------------------------------------------------------
SHARING_FIGURES = ("accuracy-vs-sharing", "compute-energy", "memory-access", "training-time", "storage",
                   "energy-breakdown", "energy-by-level", "modelled-vs-measured")


def test_every_sharing_figure_is_drawn_at_the_achieved_sharing_in_the_svg_export(tmp_path):
    # the factory's cuts: 0.5 achieves 0.4, 0.8 achieves 0.8
    root = make_run_dir(tmp_path / "r", methods=("finetune", "lucir"), sharing=(0.0, 0.5, 0.8), power=True)
    export_figures(root, tmp_path / "fig", ["svg"], "double")
    for fid in SHARING_FIGURES:
        svg = (tmp_path / "fig" / f"{fid}.svg").read_text()
        texts = [t.strip() for t in _svg_texts(svg)]
        if fid in ("energy-breakdown", "energy-by-level"):  # bars: one group per level, achieved (requested)
            assert "sharing achieved (%), requested in parentheses" in texts, fid
            assert "40\n(50)" in svg or ("40" in texts and "(50)" in texts), fid
            assert "sharing requested (%)" not in texts, fid
        else:
            assert texts.count("sharing achieved (%)") >= 1, fid
            assert texts.count("sharing achieved (%)") == texts.count("sharing requested (%)"), fid  # top axis
    run = load_run(root)
    with drawing(SIZE):
        fig = standalone(fig_accuracy(run, method_looks(run.methods)), SIZE)
    for ax in fig.axes[:2]:
        assert ax.get_xlabel() == "sharing achieved (%)"
        xs = {tuple(line.get_xdata()) for line in ax.lines if len(line.get_xdata()) == 3}
        assert (0.0, 40.0, 80.0) in xs  # points at the achieved fraction, not at 50


def _svg_texts(svg: str) -> list[str]:
    import re

    return [re.sub(r"<[^>]+>", "", m) for m in re.findall(r"<text[^>]*>(.*?)</text>", svg, flags=re.S)]


# ----- every energy term ------------------------------------------------------------------------------
def test_element_wise_energy_is_drawn_and_in_the_totals_and_zero_dram_is_explained(tmp_path):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.4))
    # per phase: 1 µJ element-wise computation, 3 µJ element-wise memory; no DRAM traffic at all
    edit_metrics(root, elementwise_compute_energy_j=1e-6, elementwise_memory_energy_j=3e-6, level_dram_energy_j=0.0,
                 level_buffer_energy_j=lambda r: r["memory_energy_j"])
    run = load_run(root)
    # sharing 0.4 (achieved 0.4), two incremental phases of 10 iterations, by hand (rundir_factory's model):
    # compute 2 x ((2e6 + 4e6 x 0.6) x 10 x 4.6 + 1e5 x 0.6 x 10 x 2.3) pJ = 407.56 µJ,
    # memory 2 x 3e6 x 0.8 x 10 x 5 pJ = 240 µJ, element-wise 2 x (1 + 3) = 8 µJ
    assert run.value("finetune", 0.4, "total_energy_j") == pytest.approx(655.56e-6)
    assert total_energy(run, "finetune", 0.4) == pytest.approx(655.56e-6)
    looks = method_looks(run.methods)
    with drawing(SIZE):
        levels = fig_levels(run, looks)
        fig = standalone(levels, SIZE)
        pareto = standalone(fig_pareto(run, looks), SIZE)
    labels = [h.get_label() for h in levels.panels.legend]
    assert labels == ["finetune", "computation (MACs, update)", "element-wise computation",
                      "buffer (SRAM), MAC operands", "buffer (SRAM), element-wise traffic (unfused)",
                      "DRAM: 0 J (every layer's working set fits its buffer: no DRAM traffic)"]
    assert "DRAM: 0 J in every bar (every layer's working set fits its buffer: no DRAM traffic)" in levels.caption
    [ax] = fig.axes
    stack = sorted((p for p in ax.patches if p.get_x() > 0.5), key=lambda p: p.get_y())  # the sharing-0.4 group
    # computation 407.56, element-wise computation 2, buffer 240 (all of the memory: DRAM 0), element-wise 6, DRAM 0
    assert [p.get_height() for p in stack] == pytest.approx([407.56, 2.0, 240.0, 6.0, 0.0], abs=1e-6)
    xs = [x for a in pareto.axes for line in a.lines for x in line.get_xdata()]
    assert any(x == pytest.approx(655.56) for x in xs)  # the Pareto point: every term, in µJ
    assert "every priced term" in pareto.axes[0].get_xlabel()
    from energybench.report.plots import fig_compute

    with drawing(SIZE):
        compute = standalone(fig_compute(run, looks), SIZE)
    total = [ax for ax in compute.axes if ax.get_ylabel().startswith("total energy") and "(µJ)" in ax.get_ylabel()]
    assert len(total) == 1  # the total of every term, beside the computation alone
    [line] = [ln for ln in total[0].lines if len(ln.get_xdata()) == 2]
    # sharing 0 by hand: compute 2 x (6e7 x 4.6 + 1e6 x 2.3) pJ = 556.6 µJ, memory 2 x 1.5e8 pJ = 300 µJ, + 8 µJ
    assert list(line.get_ydata()) == pytest.approx([864.6, 655.56])


# ----- accuracy with its spread ---------------------------------------------------------------------------
def test_with_three_seeds_every_accuracy_point_has_an_interval(tmp_path):
    root = make_run_dir(tmp_path / "r", methods=("finetune", "lucir"), sharing=(0.0, 0.4, 0.8), seeds=(0, 1, 2))
    run = load_run(root)
    looks = method_looks(run.methods)
    with drawing(SIZE):
        acc = standalone(fig_accuracy(run, looks), SIZE)
        pareto = standalone(fig_pareto(run, looks), SIZE)
    # seeds 0, 1, 2 add 0, 0.5, 1.0 to the final accuracy (population std sqrt(1/6)) and 0, 0.25, 0.5 to
    # the average incremental accuracy (the mean of 95, the halfway phase and the final one)
    for ax, std in zip(acc.axes[:2], (np.sqrt(1 / 6), np.sqrt(1 / 6) / 2)):
        bars = [c for c in ax.containers if c.has_yerr]
        assert len(bars) == 2  # one per method
        for c in bars:
            segments = c.lines[2][0].get_segments()
            assert len(segments) == 3  # every level
            assert [abs(s[1][1] - s[0][1]) for s in segments] == pytest.approx([2 * std] * 3)
    assert len([c for c in pareto.axes[0].containers if c.has_yerr]) == 6  # 2 methods x 3 levels


def test_one_seed_report_says_the_choice_rests_on_it(tmp_path):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.2, 0.8))
    build_reports(root, formats=["html"])
    html = (root / "report.html").read_text()
    assert "Every choice above rests on one seed (0)" in html
    # finetune: 60 at sharing 0, 60 - 30 x 0.2³ = 59.76 at 0.2: within 2 points, flagged
    assert "Sharing 20% differs from sharing 0 by less than 2 points of final accuracy" in html
    assert "plus one standard error of that drop over seeds" in html  # the rule, stated
    # the factory's cuts: 0.2 is one (no note), 0.8 too
    assert "more than 5 points from the request" not in html


def test_every_modelled_energy_names_its_architecture_and_captions_end_once(tmp_path):
    """Memory energy is priced at the architecture's levels (the mapper's accesses x their per-access
    energies): every modelled energy the report shows names the architecture, its node and mapper
    beside the energy table (the same run on eyeriss_like gives 200x layer_buffer's memory energy).
    And a one-seed caption ends with one full stop."""
    root = make_run_dir(tmp_path / "r", methods=("finetune", "der"), sharing=(0.0, 0.5), power=True)
    edit_metrics(root, arch="eyeriss_like", node_nm=7, mapper="zigzag")
    where = "per-access energies of architecture 'eyeriss_like' at 7 nm, zigzag mapper"
    run = load_run(root)
    with drawing(SIZE):
        looks = method_looks(run.methods)
        extra = (*expansion_plots.figures(run), *protocol_plots.figures())
        results = [*plots.build_figures(run), *(plots.described(fid, fn, run, looks) for fid, fn in extra)]
    priced = sorted(r.id for r in results if "Modelled" in r.provenance)
    assert priced == sorted(["accuracy-vs-energy", "accuracy-vs-memory-and-energy", "bwt-vs-energy", "co2e-saved",
                             "compute-energy", "energy-breakdown", "energy-by-level", "energy-vs-latency",
                             "memory-access", "modelled-vs-measured"])
    for r in results:
        assert (where in r.provenance) == (r.id in priced), (r.id, r.provenance)
        assert ".." not in r.caption and ".." not in r.provenance, (r.id, r.caption)
    build_reports(root, formats=["html"])
    html = unescape((root / "report.html").read_text())
    drawn = [r.id for r in results if r.id in priced and not r.omitted]  # (an omitted one shows its reason)
    assert len(drawn) == 7 and html.count(where) == len(drawn) + 1 + len(run.methods)  # + overview, summary tables
    assert "energy table horowitz45 at fp32, architecture 'eyeriss_like' at 7 nm, zigzag mapper." in html


def test_a_run_from_before_architecture_files_says_the_table_priced_its_accesses(tmp_path):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.5))
    edit_metrics(root, arch="", node_nm="", mapper="")
    run = load_run(root)
    assert run.architecture is None
    assert plots.fig_compute(run, method_looks(run.methods)).provenance == (
        "Modelled: energy = counted operations × per-operation energies of energy table 'horowitz45' at precision "
        "fp32, and memory accesses × per-access energies of energy table 'horowitz45'.")


def test_the_report_notes_a_level_achieved_far_from_its_request(tmp_path):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.5, 0.8))
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["sharing_levels"] = {"achievable": [0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    build_reports(root, formats=["html"])
    html = (root / "report.html").read_text()
    # 0.5 cuts at 0.4: 10 points off; 0.8 is on its cut
    assert ("Sharing 50% achieved 40.0%: more than 5 points from the request, since cuts fall on block boundaries "
            "(figures are drawn at the fraction achieved). This backbone&#39;s achievable fractions: "
            "0.0%, 5.0%, 20.0%, "
            "40.0%, 60.0%, 80.0%, 95.0%.") in html


# ----- labels that never overlap --------------------------------------------------------------------------
def _label_boxes(fig):
    renderer = fig._get_renderer()
    out = []
    for ax in fig.axes:
        for t in ax.texts:
            if t.get_gid() == "point-label" and t.get_visible():
                out.append((ax, t.get_window_extent(renderer)))
    return out


def overlapping(fig) -> list[tuple[str, str]]:
    """Pairs of point labels whose drawn boxes overlap, and labels outside their axes."""
    renderer = fig._get_renderer()
    boxes = _label_boxes(fig)
    bad = []
    for k, (ax, a) in enumerate(boxes):
        inside = ax.get_window_extent(renderer)
        if not (inside.x0 <= a.x0 + 0.5 and a.x1 <= inside.x1 + 0.5 and inside.y0 <= a.y0 + 0.5
                and a.y1 <= inside.y1 + 0.5):
            bad.append(("outside", str(a)))
        for ax2, b in boxes[k + 1:]:
            if ax2 is ax and a.overlaps(b):
                bad.append((str(a), str(b)))
    return bad


@pytest.mark.parametrize("figure", ["accuracy-vs-energy", "bwt-vs-energy", "energy-vs-latency"])
def test_point_labels_never_overlap(tmp_path, figure):
    # four methods with the same costs and the same accuracies (and BWT): their points coincide at each level
    root = make_run_dir(tmp_path / "r", methods=("finetune", "icarl", "eeil", "joint"), sharing=(0.0, 0.4, 0.8))
    edit_metrics(root, acc_all=lambda r: 70.0 - 10 * float(r["sharing_achieved"]) - float(r["phase"]), bwt=-5.0,
                 latency_s=lambda r: 1e-3 * float(r["iters"]) * (1 - float(r["sharing_achieved"]) / 2))
    run = load_run(root)
    fn = {"accuracy-vs-energy": fig_pareto, "bwt-vs-energy": protocol_plots.fig_bwt_energy,
          "energy-vs-latency": dict(plots.FIGURES)["energy-vs-latency"]}[figure]
    with drawing(SIZE):
        fig = standalone(fn(run, method_looks(run.methods)), SIZE)
    labels = _label_boxes(fig)
    assert len(labels) >= 4  # labels are drawn, not all dropped
    assert overlapping(fig) == []
    # the check itself: every label back at the first offset draws them over each other
    for ax in fig.axes:
        for t in ax.texts:
            if t.get_gid() == "point-label":
                t.xyann = plots.LABEL_OFFSETS[0]
                t.set_horizontalalignment("left")
                t.set_visible(True)
    assert overlapping(fig)


# ----- class names in any script ------------------------------------------------------------------------
DEJAVU_NAMES = ["café naïve", "Ελληνικά", "Жук", "قطة", "שלום", "$x^2$ mass", "Øre ß"]


def _names_run(tmp_path, names):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0,))
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["class_names"] = (names + [f"c{k}" for k in range(10)])[:10]
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _pdf_text(path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def test_class_names_in_many_scripts_render_in_html_and_pdf(tmp_path):
    root = _names_run(tmp_path, DEJAVU_NAMES + ["猫 cat", "🐱 cat", "ünï©ødé 猫"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_reports(root, formats=["html", "pdf"])
    html, pdf = (root / "report.html").read_text(), _pdf_text(root / "report.pdf")
    for name in DEJAVU_NAMES:  # Latin diacritics, Greek, Cyrillic, Arabic, Hebrew, math: DejaVu Sans draws them
        assert name[:14] in html, name
        assert name[:14] in pdf, name
    for ch, rest in (("猫", " cat"), ("🐱", " cat")):
        shown = ch if typeset.drawable(ch) else typeset.substitute(ch)  # the glyph, or its code point
        assert shown + rest in pdf and shown + rest in html
    missing = [c for c in "猫🐱" if not typeset.drawable(c)]
    font_warnings = [w for w in caught if "no installed font can draw" in str(w.message)]
    if missing:  # once per character, not once per label or page
        assert sum(str(w.message).count(f"U+{ord(c):04X}") for w in font_warnings for c in missing) <= len(missing)
    else:
        assert not font_warnings


def require_font(text: str, package: str) -> None:
    """Skip when no installed font draws a character of `text`, except on CI (CI=true), where
    scripts/install-system-tools installs the fonts."""
    missing = [c for c in text if not typeset.drawable(c)]
    if not missing:
        return
    missing_on_ci(f"needs a font with U+{ord(missing[0]):04X} (Debian: apt-get install {package})")


@pytest.mark.parametrize("name,package", [("猫と犬", "fonts-noto-cjk"), ("🐱🐶", "fonts-symbola")])
def test_cjk_and_emoji_class_names_are_drawn_with_an_installed_font(tmp_path, name, package):
    require_font(name, package)
    root = _names_run(tmp_path, [name])
    build_reports(root, formats=["pdf"])
    assert name in _pdf_text(root / "report.pdf")


# ----- a figure that fails ---------------------------------------------------------------------------------
def test_a_figure_that_fails_leaves_a_note_and_the_rest_of_the_report(tmp_path, monkeypatch):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.4))

    def breaks_when_drawn(run, looks):
        def draw(axes):
            axes[0].plot([0, 1], [0, 1])
            raise RuntimeError("No glyphs have been loaded")
        return FigureResult("broken-draw", "Broken when drawn", "a caption", "a provenance", Panels(1, draw))

    def breaks_when_described(run, looks):
        raise ValueError("cannot describe")

    monkeypatch.setattr(plots, "FIGURES", plots.FIGURES[:1] + (("broken-draw", breaks_when_drawn),
                                                               ("broken-data", breaks_when_described)))
    with pytest.warns(UserWarning) as caught:
        paths = build_reports(root, formats=["html", "pdf"])
    assert [p.name for p in paths] == ["report.html", "report.pdf"]
    html, pdf = (root / "report.html").read_text(), _pdf_text(root / "report.pdf")
    drawn = "Figure 'Broken when drawn' could not be drawn: RuntimeError: No glyphs have been loaded."
    described = "making this figure failed with ValueError: cannot describe"
    assert drawn in html and described in html
    assert "could not be drawn: RuntimeError" in pdf.replace("\n", " ")
    assert "Accuracy vs sharing" in html  # the other figures are all there
    assert any("could not be drawn" in str(w.message) for w in caught)


def test_confusion_titles_fit_their_panels(tmp_path):
    from energybench.report.plots import fig_confusion
    from energybench.report.style import MIN_FONT

    methods = ("finetune", "a_method_with_a_long_name", "lucir", "eeil", "icarl")
    root = make_run_dir(tmp_path / "r", methods=methods, sharing=(0.0, 0.4))
    run = load_run(root)
    with drawing(SIZE):  # three panels a row
        fig = standalone(fig_confusion(run, method_looks(run.methods)), SIZE)
    renderer = fig._get_renderer()
    titled = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert len(titled) == 5
    for ax in titled:
        title = ax._left_title  # set_title(loc="left")
        assert title.get_fontsize() >= MIN_FONT
        box, room = title.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert box.x1 <= room.x1 + 1.0, title.get_text()  # not past its axes (into the next panel)
    assert any(ax.get_title(loc="left").startswith("a_method_with_a_long_name, ") for ax in titled)
    assert "finetune, 0% shared" in [ax.get_title(loc="left") for ax in titled]  # short ones whole (phase: caption)


@pytest.mark.parametrize("width", [3.3, 7.0])
def test_y_labels_are_no_longer_than_their_axes(tmp_path, width):
    from energybench.report.plots import fig_compute, fig_memory

    root = make_run_dir(tmp_path / "r", methods=("finetune", "lucir"), sharing=(0.0, 0.4, 0.8))
    run = load_run(root)
    size = size_for(width)
    for fn in (fig_compute, fig_memory):
        with drawing(size):
            fig = standalone(fn(run, method_looks(run.methods)), size)
        renderer = fig._get_renderer()
        for ax in fig.axes:
            if ax.get_ylabel():
                label, box = ax.yaxis.label.get_window_extent(renderer), ax.get_window_extent(renderer)
                assert label.height <= box.height + 1.0, (fn.__name__, ax.get_ylabel())


def test_an_exported_figure_that_fails_is_left_out_with_its_error_in_the_captions(tmp_path, monkeypatch):
    root = make_run_dir(tmp_path / "r", methods=("finetune",), sharing=(0.0, 0.4))

    def breaks_when_drawn(run, looks):
        def draw(axes):
            raise RuntimeError("No glyphs have been loaded")
        return FigureResult("broken-draw", "Broken when drawn", "a caption", "a provenance", Panels(1, draw))

    monkeypatch.setattr(plots, "FIGURES", plots.FIGURES[:1] + (("broken-draw", breaks_when_drawn),))
    with pytest.warns(UserWarning, match="could not be drawn"):
        written = export_figures(root, tmp_path / "fig", ["svg"], "double")
    assert [p.name for p in written] == ["accuracy-vs-sharing.svg"]
    captions = (tmp_path / "fig" / "captions.md").read_text()
    assert ("## broken-draw: Broken when drawn (not drawn)\n\nFigure 'Broken when drawn' could not be drawn: "
            "RuntimeError: No glyphs have been loaded.") in captions


# ----- methods trained late --------------------------------------------------------------------------------
def test_a_method_first_trained_in_a_later_phase_has_no_bwt_or_average_incremental_accuracy(tmp_path):
    """scratch trains nothing before the last phase: its earlier accuracies are an untrained network's,
    so BWT and average incremental accuracy, averages over them, are 'n/a' and said why; finetune's stay."""
    root = make_run_dir(tmp_path / "r", methods=("finetune", "scratch"), sharing=(0.0, 0.5))
    edit_metrics(root, iters=lambda r: 0 if r["method"] == "scratch" and r["phase"] != "2" else r["iters"],
                 bwt=lambda r: "70.0" if r["method"] == "scratch" else "-12.5")
    build_reports(root, formats=["html"])
    html = unescape((root / "report.html").read_text())
    table = html.split('id="protocol-metrics-table"', 1)[1].split("</table>", 1)[0]
    cells = [c.strip() for c in _cells(table)]
    assert cells.count("n/a") == 4 and "70.00" not in cells and cells.count("-12.50") == 2, cells  # BWT, forgetting
    note = "of scratch (first trained in phase 2) is not shown: it would average over phases before its network was " \
           "trained, whose accuracies are an untrained network's."
    assert html.count("BWT " + note) == 1  # the BWT-vs-energy figure's caption; the table's note says both
    assert html.count("BWT and forgetting of scratch (first trained in phase 2) are not shown: they would average "
                      "over phases before its network was trained") == 1
    assert html.count("Average incremental accuracy " + note) == 1  # scratch's summary table, not finetune's
    summary = html.split('id="summary-scratch"', 1)[1].split("</table>", 1)[0]
    assert [c.strip() for c in _cells(summary)].count("n/a") == 2
    assert "no power was measured in this run" in html and "(accuracy, time, power)" not in html


def _cells(table_html: str) -> list[str]:
    import re

    return re.findall(r"<td[^>]*>(.*?)</td>", table_html, flags=re.S)
