"""Report figures: which are drawn or omitted, consistent method looks, NaN never drawn as 0,
error bars from seeds and time spread from phases, provenance statements, the grouped cost
breakdown, and the Pareto front and scaling helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.colors import to_hex
from rundir_factory import make_run_dir, single_run, sweep

from energybench.engine.store import read_metrics, render_csv
from energybench.report.canvas import standalone
from energybench.report.plots import (
    FIGURES,
    _downsample,
    build_figures,
    energy_split,
    fig_breakdown,
    fig_compute,
    fig_levels,
    fig_modelled_vs_measured,
    fig_pareto,
    pareto_front,
    scale_for,
)
from energybench.report.rundir import load_run
from energybench.report.style import METHOD_LOOKS, drawing, method_looks, size_for

SHARING_FIGURES = {"accuracy-vs-sharing", "compute-energy", "memory-access", "training-time", "storage"}
SIZE = size_for(7.0)


def test_pareto_front_by_hand():
    energy = [1.0, 2.0, 3.0, 4.0, 2.0, math.nan]
    acc = [50.0, 60.0, 55.0, 70.0, 60.0, 99.0]
    # (3, 55) is beaten by (2, 60); the second (2, 60) only ties the first; NaN energy never counts
    assert pareto_front(energy, acc) == [0, 1, 3]
    assert pareto_front([1.0, 1.0], [40.0, 45.0]) == [1]
    assert pareto_front([], []) == []


def test_scale_for_picks_a_readable_unit():
    assert scale_for([2.5e-4, math.nan], "J") == (1e-6, "µJ")
    assert scale_for([3.0], "J") == (1.0, "J")
    assert scale_for([6e7], "accesses") == (1e6, "10⁶ accesses")
    assert scale_for([512.0], "bytes") == (1.0, "bytes")


def test_downsample_keeps_long_traces_within_bounds():
    t = np.arange(10_000, dtype=float)
    w = np.full_like(t, 3.0)
    tc, mean, lo, hi = _downsample(t, w)
    assert len(tc) <= 2000 and np.allclose(mean, 3.0) and np.allclose(lo, 3.0) and np.allclose(hi, 3.0)
    assert tc[0] >= 0 and tc[-1] <= 9999
    short = _downsample(t[:5], w[:5])
    assert short[2] is None and len(short[0]) == 5


def _figures(root, draw=True):
    """load the run, describe its figures and draw each at a page's text width."""
    run = load_run(root)
    with drawing(SIZE):
        figs = {f.id: f for f in build_figures(run)}
        if draw:
            for f in figs.values():
                if not f.omitted:
                    standalone(f, SIZE)
    return run, figs


def _lines(fig, label):
    """The data lines labelled `label` (a line with error bars is labelled through its container)."""
    plain = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_label() == label]
    with_bars = [c.lines[0] for ax in fig.axes for c in ax.containers
                 if getattr(c, "has_yerr", False) and c.get_label() == label]
    return plain + with_bars


def test_single_run_omits_what_needs_a_sweep_or_power(tmp_path):
    run, figs = _figures(single_run(tmp_path / "r"), draw=False)
    assert list(figs) == [fid for fid, _ in FIGURES]
    omitted = {fid for fid, f in figs.items() if f.omitted}
    # (energy-vs-latency: the factory's per-layer buffer has no array, so no modelled latency)
    assert omitted == SHARING_FIGURES | {"accuracy-vs-energy", "power-trace", "modelled-vs-measured",
                                         "energy-vs-latency"}
    for fid in omitted:
        assert figs[fid].note.startswith("Omitted: ") and "\n" not in figs[fid].note
    assert "levels run: 0" in figs["compute-energy"].note
    assert "no power_trace.csv" in figs["power-trace"].note
    assert "fewer than two (method, sharing) points" in figs["accuracy-vs-energy"].note


def test_single_run_with_power_draws_the_trace(tmp_path):
    _, figs = _figures(single_run(tmp_path / "r", power=True))
    ax = figs["power-trace"].figure.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["rapl:dram", "rapl:package-0", "idle baseline 5 W"]
    assert ax.get_xlabel() == "time since the first reading (s)" and ax.get_ylabel() == "power (W)"
    # 300 readings 0.1 s apart from the first: 0 .. 29.9 s
    assert ax.get_lines()[1].get_xdata()[-1] == pytest.approx(29.9)


def test_sweep_draws_every_figure_with_one_look_per_method(tmp_path):
    root = make_run_dir(tmp_path / "s", methods=("finetune", "lucir"), sharing=(0.0, 0.5, 0.8), power=True)
    run, figs = _figures(root)
    # (energy-vs-latency needs an architecture with an array: the factory's is the per-layer buffer)
    assert all(not f.omitted for fid, f in figs.items() if fid != "energy-vs-latency"), \
        [f.note for fid, f in figs.items() if f.note and fid != "energy-vs-latency"]
    for fid in SHARING_FIGURES:
        for m in ("finetune", "lucir"):
            lines = _lines(figs[fid].figure, m)
            assert lines, (fid, m)
            for line in lines:
                assert to_hex(line.get_color()) == METHOD_LOOKS[m].colour.lower(), fid
                assert line.get_marker() == METHOD_LOOKS[m].marker
                assert list(line.get_xdata()) == [0.0, 40.0, 80.0]  # achieved: 0.5 cuts at 0.4
    # the accuracy-vs-energy points and the legend above every figure take the same looks
    colours = {to_hex(line.get_color()) for line in figs["accuracy-vs-energy"].figure.axes[0].get_lines()
               if line.get_linestyle() == "None" and line.get_marker() not in ("None", "_")}
    assert colours == {METHOD_LOOKS["finetune"].colour.lower(), METHOD_LOOKS["lucir"].colour.lower()}
    legend = figs["compute-energy"].figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()][:2] == ["finetune", "lucir"]
    # measured energy gets its own panel next to the modelled one
    assert [ax.get_title(loc="left") for ax in figs["accuracy-vs-energy"].figure.axes[:2]] == \
        ["modelled energy", "measured energy"]


def test_every_figure_states_where_its_numbers_come_from_and_over_how_many_seeds(tmp_path):
    _, figs = _figures(make_run_dir(tmp_path / "s", methods=("finetune",), sharing=(0.0, 0.5), power=True,
                                    seeds=(0, 1, 2)), draw=False)
    assert figs["compute-energy"].provenance.startswith("Modelled:")
    assert "'horowitz45'" in figs["compute-energy"].provenance and "fp32" in figs["compute-energy"].provenance
    assert figs["memory-access"].provenance.startswith("Modelled:")
    assert figs["training-time"].provenance.startswith("Measured: wall-clock")
    assert figs["storage"].provenance.startswith("Counted:")
    breakdown = figs["energy-breakdown"].provenance
    assert breakdown.startswith("Counted:") and "Modelled" in breakdown
    assert figs["power-trace"].provenance.startswith("Measured: power")
    for f in figs.values():
        assert "3 seed" in f.caption, f.id


def test_error_bars_are_the_spread_over_seeds(tmp_path):
    # seeds 0 and 1 score 0 and 0.5 points above the method's curve: population std 0.25
    run, figs = _figures(make_run_dir(tmp_path / "s", methods=("finetune",), sharing=(0.0, 0.5), seeds=(0, 1)))
    ax = figs["accuracy-vs-sharing"].figure.axes[0]
    bars = [c for c in ax.containers if hasattr(c, "has_yerr") and c.has_yerr]
    assert len(bars) == 1
    segments = bars[0].lines[2][0].get_segments()
    assert [round(s[1][1] - s[0][1], 6) for s in segments] == [0.5, 0.5]  # ± 0.25
    np.testing.assert_allclose(run.seed_std("finetune", "final_acc"), [0.25, 0.25])
    # one seed: no error bars, and the caption says so
    _, one = _figures(make_run_dir(tmp_path / "one", methods=("finetune",), sharing=(0.0, 0.5)))
    ax = one["accuracy-vs-sharing"].figure.axes[0]
    assert not [c for c in ax.containers if getattr(c, "has_yerr", False)]
    assert "One seed (0): no error bars." in one["accuracy-vs-sharing"].caption


def test_time_bars_span_the_phases(tmp_path):
    root = make_run_dir(tmp_path / "s", methods=("finetune",), sharing=(0.0, 0.5), summary=False)
    rows = read_metrics(root / "metrics.csv")
    for r in rows:  # sharing 0.5 (achieved 0.4): phase 1 took 0.3 s, phase 2 0.1 s for 10 iterations each
        if r["sharing"] == "0.5" and r["phase"] in ("1", "2"):
            r["train_time_s"] = "0.3" if r["phase"] == "1" else "0.1"
    (root / "metrics.csv").write_text(render_csv(rows))
    run, figs = _figures(root)
    lo, hi = run.phase_range("finetune", "train_time_s")
    np.testing.assert_allclose(lo, [0.02, 0.01])
    np.testing.assert_allclose(hi, [0.02, 0.03])
    ax = figs["training-time"].figure.axes[1]  # absolute, in ms
    bars = next(c for c in ax.containers if getattr(c, "has_yerr", False))
    seg = bars.lines[2][0].get_segments()[1]
    assert (seg[0][1], seg[1][1]) == pytest.approx((10.0, 30.0))  # the mean, 20 ms, with its 10-30 ms range
    assert "One seed (0): bars span the range over its phases." in figs["training-time"].caption


def test_phase_accuracy_panels_share_the_accuracy_axis(tmp_path):
    _, figs = _figures(sweep(tmp_path / "s", seeds=(0,)))
    axes = figs["phase-accuracy"].figure.axes
    assert len(axes) == 4  # all methods at sharing 0, then one per method
    assert len({ax.get_ylim() for ax in axes}) == 1
    assert [ax.get_title(loc="left") for ax in axes] == ["all methods, sharing 0", "finetune", "sharing", "lucir"]


def test_unrecorded_values_are_gaps_not_zeros(tmp_path):
    root = make_run_dir(tmp_path / "s", methods=("finetune",), sharing=(0.0, 0.5, 0.8), summary=False)
    rows = read_metrics(root / "metrics.csv")
    for r in rows:  # the 0.5 level's energies were not recorded
        if r["sharing"] == "0.5":
            r["compute_energy_j"] = ""
    (root / "metrics.csv").write_text(render_csv(rows))
    run = load_run(root)  # summary derived from the edited metrics
    with drawing(SIZE):
        res = fig_compute(run, method_looks(run.methods))
        fig = standalone(res, SIZE)
    absolute = _lines(fig, "finetune")[1].get_ydata()
    assert math.isnan(absolute[1]) and absolute[0] > 0 and absolute[2] > 0


def test_no_sharing_zero_level_leaves_out_the_normalised_panels(tmp_path):
    run = load_run(make_run_dir(tmp_path / "s", methods=("finetune",), sharing=(0.2, 0.5)))
    with drawing(SIZE):
        res = fig_compute(run, method_looks(run.methods))
        fig = standalone(res, SIZE)
    assert [ax.get_ylabel() for ax in fig.axes] == ["compute energy (µJ)"]
    assert "no sharing-0 level to normalise by" in res.caption
    assert run.optimal_sharing("finetune") is None


def test_pareto_needs_two_points(tmp_path):
    run = load_run(make_run_dir(tmp_path / "s", methods=("finetune", "lucir"), sharing=(0.0,)))
    with drawing(SIZE):
        res = fig_pareto(run, method_looks(run.methods))
        fig = standalone(res, SIZE)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["modelled energy"]


def test_an_unreadable_power_trace_is_a_note(tmp_path):
    root = single_run(tmp_path / "r")
    (root / "power_trace.csv").write_text("when,watt\n1,2\n")
    _, figs = _figures(root, draw=False)
    assert figs["power-trace"].omitted
    assert figs["power-trace"].note == ("Omitted: power_trace.csv lacks the columns time_s, device, watts; "
                                        "the power trace is not drawn.")


def test_energy_split_by_hand_and_the_breakdown_is_one_grouped_chart(tmp_path):
    run = load_run(sweep(tmp_path / "s", seeds=(0,)))
    e = energy_split(run, "lucir", 0.4)
    # two incremental phases of 10 iterations; a MAC costs 3.7 + 0.9 pJ; achieved sharing 0.4
    assert e["fwd_macs"] == pytest.approx(20 * 3e6 * 4.6e-12)
    assert e["bwd_input_macs"] == pytest.approx(20 * 1.2e6 * 4.6e-12)
    assert e["bwd_weight_macs"] == pytest.approx(20 * 1.2e6 * 4.6e-12)
    # the update is the rest of the computation energy: 6e4 ops at 2.3 pJ
    assert e["update_ops"] == pytest.approx(20 * 6e4 * 2.3e-12, abs=2e-10)
    assert e["memory_energy_j"] == pytest.approx(20 * 3e6 * 0.8 * 5e-12)
    with drawing(SIZE):
        res = fig_breakdown(run, method_looks(run.methods))
        fig = standalone(res, SIZE)
    assert len(fig.axes) == 2  # operations and energy, every method in each
    energy_ax = fig.axes[1]
    # 7 levels x 3 methods x 5 parts
    assert len(energy_ax.patches) == 7 * 3 * 5
    # lucir (third bar of each group) at sharing 0.4 (third group): centre 2 - 0.4 + 0.8 / 3 * 2.5
    centre = 2 - 0.4 + 0.8 / 3 * 2.5
    heights = sorted(p.get_height() for p in energy_ax.patches if abs(p.get_x() + p.get_width() / 2 - centre) < 1e-9)
    # in µJ: 276 forward, 110.4 + 110.4 backward, 240 memory, 2.76 update
    assert heights == pytest.approx([2.76, 110.4, 110.4, 240.0, 276.0], rel=1e-3)
    lucir = METHOD_LOOKS["lucir"].colour.lower()
    forward = [p for p in energy_ax.patches if abs(p.get_x() + p.get_width() / 2 - centre) < 1e-9
               and p.get_height() == pytest.approx(276.0, rel=1e-3)]
    assert to_hex(forward[0].get_facecolor()) == lucir  # the method's own colour


def test_without_a_per_mac_energy_only_compute_and_memory_are_split(tmp_path):
    import json

    root = single_run(tmp_path / "r")
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["energy_table"]["ops_pj"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    run = load_run(root)
    assert math.isnan(run.mac_pj)
    assert math.isnan(energy_split(run, "finetune", 0.0)["update_ops"])
    with drawing(SIZE):
        res = fig_breakdown(run, method_looks(run.methods))
    labels = [h.get_label() for h in res.panels.legend]
    assert labels == ["finetune", "computation", "memory access (MAC operands)"] and "not split further" in res.caption


def test_modelled_vs_measured_draws_the_points_the_fit_and_the_savings(tmp_path):
    run = load_run(make_run_dir(tmp_path / "s", methods=("finetune", "lucir"), sharing=(0.0, 0.4, 0.8),
                                power=True))
    block = run.calibration
    with drawing(SIZE):
        res = fig_modelled_vs_measured(run, method_looks(run.methods))
        fig = standalone(res, SIZE)
    scatter, savings = fig.axes
    points = [line for line in scatter.get_lines() if line.get_linestyle() == "None"]
    # 2 methods x 3 levels x 2 incremental phases, plus phase 0 once per method (hollow)
    assert len(points) == 14 and sum(line.get_markerfacecolor() == "none" for line in points) == 2
    fit = next(line for line in scatter.get_lines() if line.get_linestyle() == "--")
    (x0, x1), (y0, y1) = fit.get_xdata(), fit.get_ydata()
    xdiv = scale_for([p["modelled_j"] for p in block["points"]], "J")[0]
    ydiv = scale_for([p["measured_j"] for p in block["points"]], "J")[0]
    assert x0 == 0 and y0 == 0 and y1 / x1 * ydiv / xdiv == pytest.approx(block["fit"]["slope_j_per_modelled_j"])
    assert f"{block['fit']['slope_j_per_modelled_j']:.4g} J measured per modelled J" in res.caption
    # per method, a solid (modelled) and a dashed (measured) saving curve against sharing
    curves = [line for line in savings.get_lines() if len(line.get_xdata()) == 3]
    assert sorted(line.get_linestyle() for line in curves) == ["-", "-", "--", "--"]
    assert {to_hex(line.get_color()) for line in curves} == {METHOD_LOOKS["finetune"].colour.lower(),
                                                             METHOD_LOOKS["lucir"].colour.lower()}
    # lucir at achieved sharing 0.4, by hand (rundir_factory's cost model): modelled per phase
    # (3e7 + 4e7 * 0.6) MACs x 4.6 pJ + 6e5 updates x 2.3 pJ + 3e7 * 0.8 accesses x 5 pJ = 3.6978e-4 J, against
    # 4.743e-4 J at sharing 0; measured above idle 2 (1 - 0.4 / 3) - 5 x 0.2 (1 - 0.4 / 2) = 0.9333 J against 1 J
    lucir = block["savings"]["lucir"]["0.4"]
    assert lucir["modelled_saving_x"] == pytest.approx(4.743 / 3.6978, rel=1e-4)
    assert lucir["measured_saving_x"] == pytest.approx(1 / 0.93333, rel=1e-4)
    assert "above an idle baseline of 5 W" in res.provenance


def test_modelled_vs_measured_says_why_it_is_absent(tmp_path):
    root = single_run(tmp_path / "r")
    rows = read_metrics(root / "metrics.csv")
    for r in rows:
        r["measured_note"] = "not measured: rapl: /sys/class/powercap does not exist"
    (root / "metrics.csv").write_text(render_csv(rows))
    (root / "summary.json").unlink()  # derived again from the metrics
    run = load_run(root)
    with drawing(SIZE):
        res = fig_modelled_vs_measured(run, method_looks(run.methods))
    assert res.omitted
    assert res.note == ("Omitted: this run measured no energy: rapl: /sys/class/powercap does not "
                        "exist.")


def test_energy_by_level_stacks_computation_buffer_and_dram_by_hand(tmp_path):
    run = load_run(make_run_dir(tmp_path / "s", methods=("finetune", "lucir"), sharing=(0.0, 0.4)))
    with drawing(SIZE):
        res = fig_levels(run, method_looks(run.methods))
        fig = standalone(res, SIZE)
    [ax] = fig.axes
    # the factory's layer_buffer architecture: computation, buffer, DRAM (no register file, no leakage)
    assert [h.get_label() for h in res.panels.legend] == ["finetune", "lucir", "computation (MACs, update)",
                                                          "buffer (SRAM), MAC operands", "DRAM"]
    assert len(ax.patches) == 2 * 2 * 3  # 2 levels x 2 methods x 3 parts
    # lucir (second stack, its left edge at 1 - 0.4 + 0.4) at sharing 0.4 (second group), in µJ over two
    # incremental phases of 10 iterations: computation 20 x ((3e6 + 4e6 x 0.6) x 4.6 + 6e4 x 2.3) pJ = 499.56,
    # memory 20 x 3e6 x 0.8 x 5 pJ = 240, of it the buffer 80 % (192) and DRAM 20 % (48)
    stack = sorted((p for p in ax.patches if abs(p.get_x() - 1.0) < 1e-9), key=lambda p: p.get_y())
    assert [p.get_height() for p in stack] == pytest.approx([499.56, 192.0, 48.0], rel=1e-4)
    assert stack[1].get_y() == pytest.approx(499.56, rel=1e-4)  # stacked on the computation
    assert to_hex(stack[0].get_facecolor()) == METHOD_LOOKS["lucir"].colour.lower()
    assert ax.get_ylabel() == "training energy (µJ)"
    assert "architecture 'layer_buffer' at 45 nm, analytic mapper; supply 0.9 V" in res.provenance
    assert "One seed (0)" in res.caption


def test_energy_by_level_is_omitted_for_a_run_without_level_columns(tmp_path):
    root = single_run(tmp_path / "r")
    rows = read_metrics(root / "metrics.csv")
    for r in rows:
        for c in ("level_rf_energy_j", "level_buffer_energy_j", "level_dram_energy_j"):
            r[c] = ""
    (root / "metrics.csv").write_text(render_csv(rows))
    run = load_run(root)
    res = fig_levels(run, method_looks(run.methods))
    assert res.omitted
    assert res.note == "Omitted: this run records no per-level energies (it predates architecture files)."


def test_dollar_signs_in_class_names_print_as_text(tmp_path):
    """Class names come from users' folders: '$...$' is text, not matplotlib maths (an unknown
    command such as \\notamacro used to kill the report after a finished run)."""
    import json

    from energybench.report import build_reports

    root = single_run(tmp_path / "r")
    manifest = json.loads((root / "manifest.json").read_text())
    names = [r"$\notamacro$", "cost $5 to $6", "$x^2$"] + manifest["class_names"][3:]
    manifest["class_names"] = names
    (root / "manifest.json").write_text(json.dumps(manifest))
    html, pdf = build_reports(root, formats=("html", "pdf"))
    text = html.read_text(encoding="utf-8")
    section = text.split('<section id="confusion">', 1)[1].split("</section>", 1)[0]
    for name in names[:3]:
        assert name in section  # the tick labels, verbatim (SVG text stays text)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_energy_vs_latency_places_each_method_and_level_by_hand(tmp_path):
    """Modelled latency 1 ms per iteration on every row; lucir at sharing 0.4 (two incremental
    phases of 10 iterations: computation 499.56 µJ + memory 240 µJ in all) sits at 1 ms and
    36.978 µJ an iteration; the right panel puts the modelled 1 ms beside the measured time."""
    from energybench.report.latency_plots import fig_energy_latency

    root = make_run_dir(tmp_path / "s", methods=("finetune", "lucir"), sharing=(0.0, 0.4))
    rows = read_metrics(root / "metrics.csv")
    for r in rows:
        r.update(latency_s=repr(0.001 * float(r["iters"])), arch="eyeriss_like", mapper="analytic")
    (root / "metrics.csv").write_text(render_csv(rows))
    run = load_run(root)
    with drawing(SIZE):
        res = fig_energy_latency(run, method_looks(run.methods))
        fig = standalone(res, SIZE)
    ax, ax2 = fig.axes[:2]
    lucir = [line for line in ax.lines if to_hex(line.get_color()) == METHOD_LOOKS["lucir"].colour.lower()][0]
    assert list(lucir.get_xdata()) == pytest.approx([1.0, 1.0])
    assert lucir.get_ydata()[1] == pytest.approx((499.56 + 240) / 20 / 1000, rel=1e-4)
    assert "Latency, modelled on architecture 'eyeriss_like' at 45 nm, analytic mapper:" in res.provenance
    assert len(ax2.lines) == 4  # modelled and measured, per method
    # a run on the default per-layer buffer has no latency: the figure says why it is absent
    plain = load_run(make_run_dir(tmp_path / "p"))
    assert fig_energy_latency(plain, method_looks(plain.methods)).omitted
