"""The memory-aligned comparison's points: Pareto flags for accuracy vs total memory and vs training
energy, and the CSV written beside the report (exact contents)."""

import csv

import yaml
from rundir_factory import make_run_dir

from energybench.report import build_reports
from energybench.report.expansion_plots import budget_phrase, points_csv


class FakeRun:
    """What the points read from a run directory: levels per method and summary values."""

    methods = ["der", "memo", "simplecil"]
    values = {  # (method, sharing): final_acc, storage_bytes, compute J, memory J, achieved, every priced term J
        ("der", 0.0): (70.0, 4000, 3.0, 1.0, 0.0, 6.0),  # 2 J of element-wise work: in the training energy
        ("memo", 0.0): (70.0, 4000, 3.0, 1.0, 0.0, 6.0),  # ties der: matched, so not on either front
        ("memo", 0.5): (65.0, 3000, 1.5, 0.5, 0.4, 3.0),
        ("simplecil", 0.0): (50.0, 1000, 0.0, 0.0, 1.0, 0.0),
    }
    keys = ("final_acc", "storage_bytes", "total_compute_energy_j", "total_memory_energy_j", "sharing_achieved",
            "total_energy_j")

    def levels(self, method):
        return sorted(s for m, s in self.values if m == method)

    def value(self, method, sharing, key):
        return float(self.values[(method, sharing)][self.keys.index(key)])


def test_points_mark_each_pareto_front_and_the_csv_holds_them():
    assert points_csv(FakeRun()) == (
        "method,sharing,sharing_achieved,final_acc,total_memory_bytes,training_energy_j,pareto_memory,pareto_energy\n"
        "der,0,0,70,4000,6,True,True\n"
        "memo,0,0,70,4000,6,False,False\n"
        "memo,0.5,0.4,65,3000,3,True,True\n"
        "simplecil,0,1,50,1000,0,True,True\n")


def test_the_caption_says_which_methods_fill_the_budget():
    run = FakeRun()
    run.config = {}
    assert budget_phrase(run) == "Without a memory budget (memory_budget) each method holds what its own rules keep."
    run.config = {"memory_budget": 4200}  # der and memo hold 4,000 B (memo's 0.5 level 3,000), simplecil 1,000
    assert budget_phrase(run) == (
        "The memory budget is 4,200 bytes; not every method fills it (memo 3 kB, simplecil 1 kB): a method without "
        "exemplars, or one that already keeps every training sample of the classes seen, holds less, so those "
        "points are not at equal memory.")
    run.values = {k: v for k, v in run.values.items() if k[0] == "der"}
    run.methods = ["der"]
    assert budget_phrase(run) == ("The memory budget is 4,200 bytes: every method sits at it, so the left panel "
                                  "compares methods at equal memory.")


def test_a_budgeted_run_reports_the_figure_and_writes_the_points(tmp_path):
    plain = make_run_dir(tmp_path / "plain", methods=("icarl", "lucir"), sharing=(0.0, 0.4))
    build_reports(plain, "html")
    assert not (plain / "memory_energy_points.csv").exists()  # nothing grows and no budget: report as before
    assert "accuracy-vs-memory-and-energy" not in (plain / "report.html").read_text()
    budget = make_run_dir(tmp_path / "budget", methods=("icarl", "lucir"), sharing=(0.0, 0.4))
    cfg = yaml.safe_load((budget / "config.yaml").read_text())
    (budget / "config.yaml").write_text(yaml.safe_dump({**cfg, "memory_budget": 1_000_000}, sort_keys=False))
    build_reports(budget, "html")
    rows = list(csv.DictReader(open(budget / "memory_energy_points.csv")))
    assert [(r["method"], r["sharing"]) for r in rows] == [("icarl", "0"), ("icarl", "0.4"), ("lucir", "0"),
                                                           ("lucir", "0.4")]
    assert 'id="accuracy-vs-memory-and-energy"' in (budget / "report.html").read_text()


def test_log_axes_label_their_ticks_in_plain_text_under_the_reports_style():
    """The report turns mathtext off, so matplotlib's 10^k tick labels would print raw TeX
    ('$\\mathdefault{10^{1}}$'); plain_log_ticks labels them 1, 10, 100."""
    import matplotlib.pyplot as plt

    from energybench.report.canvas import plain_log_ticks
    from energybench.report.style import drawing, size_for

    def labels(plain: bool) -> list[str]:
        fig, ax = plt.subplots()
        ax.plot([0, 0.5, 5, 80], [1, 2, 3, 4])
        ax.set_xscale("symlog", linthresh=0.5)  # SimpleCIL's 0 J beside the others' 0.5-80 J
        if plain:
            plain_log_ticks(ax.xaxis)
        fig.canvas.draw()
        out = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        plt.close(fig)
        return out

    with drawing(size_for(7.0)):
        assert any("mathdefault" in t for t in labels(plain=False))  # what the reports showed before
        shown = labels(plain=True)
    assert shown and not any("$" in t for t in shown)
    assert {"0", "1", "10"} <= set(shown)
