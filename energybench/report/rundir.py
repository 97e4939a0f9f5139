"""A run directory read for reporting: config, manifest, metrics rows, summary, power trace,
confusion matrices, with the per-(method, sharing) aggregates the figures and tables share.

energybench.rundir reads the files; empty metrics cells mean "not measured": they become NaN
there and are never drawn as zero.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import energybench
from energybench.calibration import ABOVE_IDLE, measured_column
from energybench.confusion import parse_confusion
from energybench.errors import UserError
from energybench.results import (
    cells,
    finished_rows,
    incremental_totals,
    modelled_vs_measured,
    phase_means,
    summarise,
    unfinished_cells,
    unfinished_text,
)
from energybench.rundir import (
    IDENTITY,
    METRICS,
    at_point,
    cell_dir,
    check_format,
    num,
    read_config,
    read_manifest,
    read_metrics,
    read_power_trace,
    read_summary,
    resume_command,
    hardware_points,
    sharing_key,
)

# Counted ops of one training step's parts, in metrics.csv (summed over incremental phases).
OPS = ("fwd_macs", "bwd_input_macs", "bwd_weight_macs", "update_ops")
ENERGY = ("compute_energy_j", "memory_energy_j")


@dataclass
class Confusion:
    method: str
    sharing: float
    seed: int
    phase: int
    matrix: np.ndarray  # rows = true class, cols = predicted, in class-order positions
    labels: list[str]
    phase_sizes: list[int]  # classes per phase, to mark phase boundaries


@dataclass
class RunData:
    root: Path
    config: dict[str, Any]
    manifest: dict[str, Any]
    frame: pd.DataFrame  # metrics.csv, typed (NaN = not measured), at the first hardware point of a sweep
    summary: dict[str, Any]
    methods: list[str]
    power: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # device -> (t since start, W)
    power_note: str | None = None
    every_point: pd.DataFrame | None = None  # metrics.csv's rows at every (node, arch) of a hardware sweep
    unfinished: list[dict[str, Any]] = field(default_factory=list)  # cells short of the last phase (left out)
    _totals: dict[str, pd.Series] = field(default_factory=dict, repr=False)
    _cells: pd.DataFrame | None = field(default=None, repr=False)

    # ----- identity and provenance ------------------------------------------------------------
    @property
    def resume_command(self) -> str:
        """The command that continues this run (with --trust-code where it names user code)."""
        return resume_command(self.root, self.config.get("backbone"), self.config.get("methods"))

    @property
    def run_id(self) -> str:
        return self.config.get("run_id") or self.root.name

    def trained_late(self) -> dict[str, int]:
        """Methods whose network is first trained after phase 0 (scratch: in the last phase), with
        that phase: the accuracies of their earlier phases are an untrained network's, so backward
        transfer and average incremental accuracy, which average over those phases, mean nothing."""
        if "iters" not in self.frame:
            return {}
        trained = self.frame[self.frame["iters"] > 0].groupby("method")["phase"].min()
        return {m: int(p) for m, p in trained.items() if p > 0}

    def late_note(self, what: str, method: str | None = None) -> str:
        """A sentence for a table or figure that leaves out `what` of the methods trained late (of
        `method` alone, if given); '' if none."""
        late = {m: p for m, p in self.trained_late().items() if method in (None, m)}
        if not late:
            return ""
        names = ", ".join(f"{m} (first trained in phase {p})" for m, p in late.items())
        return (f" {what} of {names} {'are' if ' and ' in what else 'is'} not shown: "
                f"{'they' if ' and ' in what else 'it'} would average over phases before its network was trained, "
                "whose accuracies are an untrained network's.")

    def first(self, column: str) -> str | None:
        """The first non-empty value of a metrics column (same on every row of a run)."""
        if column not in self.frame:
            return None
        values = self.frame[column].dropna()
        return str(values.iloc[0]) if len(values) else None

    @property
    def energy_table(self) -> str:
        table = self.manifest.get("energy_table")
        name = table.get("name") if isinstance(table, dict) else table
        return str(self.first("energy_table") or name or self.config.get("energy_table") or "unknown")

    @property
    def architecture(self) -> str | None:
        """What the memory accesses were mapped onto and priced with: "architecture 'A' at N nm, M
        mapper" (a sweep's first hardware point, as `frame`); None for a run from before architecture
        files, whose access energies came from the energy table."""
        arch = self.first("arch")
        if arch is None:
            return None
        node, mapper = self.first("node_nm"), self.first("mapper")
        return (f"architecture '{arch}'" + (f" at {float(node):g} nm" if node is not None else "")
                + f", {mapper or 'analytic'} mapper")

    @property
    def access_energies(self) -> str:
        """Where the memory accesses' energies came from, said in every modelled energy's provenance."""
        if self.architecture is None:  # the energy table priced the accesses too
            return f"per-access energies of energy table '{self.energy_table}'"
        return f"per-access energies of {self.architecture}"

    @property
    def energy_sources(self) -> list[str]:
        table = self.manifest.get("energy_table")
        src = table.get("sources") if isinstance(table, dict) else None
        if src is None:
            return []
        if isinstance(src, dict):
            return [f"{k}: {v}" for k, v in src.items()]
        if isinstance(src, (list, tuple)):
            return [str(s) if not isinstance(s, dict) else ", ".join(f"{k}: {v}" for k, v in s.items()) for s in src]
        return [str(src)]

    @property
    def precision(self) -> str:
        return str(self.first("precision") or self.config.get("precision") or "unknown")

    @property
    def mac_pj(self) -> float:
        """Energy of one MAC (multiply + add at the run's precision) in the run's energy table, as
        the manifest records it; NaN when it does not."""
        table = self.manifest.get("energy_table")
        ops = table.get("ops_pj", {}).get(self.precision) if isinstance(table, dict) else None
        if not isinstance(ops, dict):
            return math.nan
        return num(ops.get("mult")) + num(ops.get("add"))

    @property
    def device_name(self) -> str:
        return str(self.manifest.get("device_name") or self.manifest.get("device") or "unknown device")

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.frame["seed"].unique())

    @property
    def tolerance(self) -> float:
        return num(self.summary.get("tolerance_pp"))

    # ----- measured energy ----------------------------------------------------------------------
    @property
    def measured_column(self) -> str | None:
        """The measured energy the report leads with: above the idle baseline where the run took
        one, else the total (idle included); None when nothing was measured."""
        return measured_column(self.frame)

    @property
    def measured_label(self) -> str:
        return "measured energy above idle" if self.measured_column == ABOVE_IDLE else "measured energy"

    def measured_provenance(self) -> str:
        """Where the measured energies come from: sensors, devices, and the idle baseline."""
        how = ", ".join(self.distinct("measured_energy_method")) or "method not recorded"
        devices = ", ".join(self.distinct("measured_devices"))
        text = f"Measured: sensor energy ({how}{'; ' + devices if devices else ''}) on {self.device_name}"
        idle = [float(w) for w in self.distinct("idle_power_w")]
        if self.measured_column == ABOVE_IDLE:
            text += (f", above an idle baseline of {', '.join(f'{w:.4g}' for w in idle)} W taken before the first "
                     "phase (energy minus idle power × phase duration)")
        elif self.measured_column is not None:
            text += ", idle power included (the run took no idle baseline)"
        return text + "."

    @property
    def calibration(self) -> dict[str, Any]:
        """summary.json's modelled_vs_measured block (derived from metrics.csv for a summary.json
        written before it existed)."""
        block = self.summary.get("modelled_vs_measured")
        return block if isinstance(block, dict) and "available" in block else modelled_vs_measured(self.frame)

    # ----- levels from summary.json -----------------------------------------------------------
    def levels(self, method: str) -> list[float]:
        entry = self.summary.get("methods", {}).get(method, {})
        return sorted(float(k) for k in entry.get("levels", {}))

    def all_levels(self) -> list[float]:
        return sorted({s for m in self.methods for s in self.levels(m)})

    def level(self, method: str, sharing: float) -> dict[str, Any]:
        return self.summary["methods"][method]["levels"][sharing_key(sharing)]

    def value(self, method: str, sharing: float, key: str, normalised: bool = False) -> float:
        lv = self.level(method, sharing)
        if normalised:
            lv = lv.get("normalised_to_sharing_0") or {}
        return num(lv.get(key))

    def curve(self, method: str, key: str, normalised: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(sharing levels, values) of one summary figure for one method."""
        xs = self.levels(method)
        return np.array(xs), np.array([self.value(method, s, key, normalised) for s in xs])

    def achieved(self, method: str, sharing: float) -> float:
        """The sharing fraction a requested level achieved for a method (the request itself for a
        run that predates sharing_achieved, or a level the method did not run)."""
        try:
            a = self.value(method, sharing, "sharing_achieved")
        except KeyError:
            a = math.nan
        return sharing if math.isnan(a) else a

    def achieved_at(self, sharing: float) -> float:
        """The achieved fraction of a requested level, from the first method that ran it (one
        backbone per run: every method cuts it at the same boundary)."""
        for m in self.methods:
            if sharing in self.levels(m):
                a = self.achieved(m, sharing)
                if a != sharing:
                    return a
        return sharing

    def sharing_differs(self) -> bool:
        """Whether any level achieved another fraction than requested (a secondary axis is due)."""
        return any(abs(self.achieved_at(s) - s) > 5e-4 for s in self.all_levels())

    def far_levels(self, pp: float = 5.0) -> dict[float, float]:
        """requested -> achieved for the levels more than `pp` percentage points off."""
        return {s: a for s in self.all_levels() if abs(100 * ((a := self.achieved_at(s)) - s)) > pp}

    def optimal_sharing(self, method: str) -> float | None:
        opt = self.summary.get("methods", {}).get(method, {}).get("optimal_sharing")
        return None if opt is None else float(opt)

    # ----- spread over seeds and phases ---------------------------------------------------------
    @property
    def cells(self) -> pd.DataFrame:
        """energybench.results.cells, one row per (method, sharing, seed), those three as columns."""
        if self._cells is None:
            self._cells = cells(self.frame).reset_index()
        return self._cells

    def seed_std(self, method: str, key: str, normalised: bool = False) -> np.ndarray:
        """Per sharing level of `method`: the standard deviation over seeds of a summary figure
        (population, as summary.json's final_acc_std), normalised like the figure itself (by the
        mean at sharing 0). NaN where fewer than two seeds have the figure."""
        xs = self.levels(method)
        ref = self.value(method, 0.0, key) if normalised and 0.0 in xs else 1.0
        c = self.cells
        rows = c[c["method"] == method] if key in c else c.iloc[0:0]
        out = []
        for s in xs:
            vals = rows.loc[rows["sharing"] == s, key].to_numpy(dtype=float) / ref if key in rows else np.array([])
            vals = vals[np.isfinite(vals)]
            out.append(float(np.std(vals)) if len(vals) > 1 else math.nan)
        return np.array(out)

    def phase_range(self, method: str, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Per sharing level of `method`: (lowest, highest) per-iteration value of a per-phase
        total `column` (train_time_s, train_cpu_s) over the incremental phases of every seed;
        the spread that a mean over a noisy, shared machine hides."""
        f = self.frame
        rows = f[(f["method"] == method) & (f["phase"] > 0)]
        if not len(rows):  # single-phase cells: their only phase
            rows = f[f["method"] == method]
        lo, hi = [], []
        for s in self.levels(method):
            r = rows[rows["sharing"] == s]
            per_iter = (r[column] / r["iters"].where(r["iters"] > 0)).to_numpy(dtype=float) if column in r \
                else np.array([])
            per_iter = per_iter[np.isfinite(per_iter)]
            lo.append(per_iter.min() if len(per_iter) else math.nan)
            hi.append(per_iter.max() if len(per_iter) else math.nan)
        return np.array(lo), np.array(hi)

    # ----- aggregates from metrics.csv --------------------------------------------------------
    def last_phase(self, method: str, sharing: float, seed: int) -> int | None:
        f = self.frame
        phases = f[(f["method"] == method) & (f["sharing"] == sharing) & (f["seed"] == seed)]["phase"]
        return int(phases.max()) if len(phases) else None

    def incremental_total(self, method: str, sharing: float, column: str) -> float:
        """A column summed over incremental phases, mean over seeds (energybench.results' rule:
        NaN for a cell that lacks it in any phase)."""
        totals = self._totals.get(column)
        if totals is None:
            totals = self._totals[column] = incremental_totals(self.frame, [column])[column]
        return float(totals.get((method, sharing), math.nan))

    def phase_curve(self, method: str, sharing: float, column: str = "acc_all") -> tuple[np.ndarray, np.ndarray]:
        """(classes seen, column) per phase, mean over seeds."""
        f = self.frame
        means = phase_means(f[(f["method"] == method) & (f["sharing"] == sharing)], column)
        return means["classes_seen"].to_numpy(dtype=float), means["value"].to_numpy(dtype=float)

    def phase_std(self, method: str, sharing: float, column: str = "acc_all") -> np.ndarray:
        """Per phase: the standard deviation over seeds of `column` (population; NaN for one seed)."""
        f = self.frame
        rows = f[(f["method"] == method) & (f["sharing"] == sharing)]
        by = rows.groupby("phase")[column]
        std = by.std(ddof=0).where(by.count() > 1)
        return std.to_numpy(dtype=float)

    # ----- a hardware sweep ----------------------------------------------------------------------
    def hardware_points(self) -> list[tuple]:
        """The (node_nm, arch) points the run priced, the first (which `frame` holds) first; one or none
        for a run without a hardware sweep."""
        return hardware_points(self.every_point if self.every_point is not None else self.frame)

    def point_totals(self, point: tuple, columns: list[str]) -> pd.DataFrame:
        """Per (method, sharing): the mean over seeds of each cell's incremental total, at one point."""
        return incremental_totals(at_point(self.every_point, point), columns)

    def has_column(self, column: str) -> bool:
        return column in self.frame and bool(self.frame[column].notna().any())

    def distinct(self, column: str) -> list:
        """The distinct values a column takes (empty cells left out), sorted."""
        return sorted(self.frame[column].dropna().unique()) if column in self.frame else []

    # ----- class names ------------------------------------------------------------------------
    def class_names(self, seed: int) -> list[str]:
        """Names of the classes in seed `seed`'s class order (position k -> name).

        manifest.class_names is written per seed and so holds the LAST seed's order; the
        original label -> name map is recovered through that seed's class_order."""
        orders = {str(k): v for k, v in (self.manifest.get("class_order") or {}).items()}
        names = self.manifest.get("class_names") or []
        order = orders.get(str(seed))
        seeds = self.manifest.get("seeds") or [int(k) for k in orders]
        last = orders.get(str(seeds[-1])) if seeds else None
        if order is None or last is None or len(last) != len(names):
            return [str(k) for k in range(len(order or names))] or []
        original = {label: name for label, name in zip(last, names)}
        return [str(original.get(c, c)) for c in order]

    def confusion(self, method: str) -> Confusion | None:
        """The last phase's confusion matrix of a method, at its optimal sharing point (else its
        lowest sharing level), for the first seed."""
        levels = self.levels(method) or sorted(self.frame[self.frame["method"] == method]["sharing"].unique())
        if not levels:
            return None
        opt = self.optimal_sharing(method)
        sharing = opt if opt is not None and opt in levels else levels[0]
        seed = self.seeds[0]
        phase = self.last_phase(method, sharing, seed)
        if phase is None:
            return None
        path = cell_dir(self.root, method, sharing, seed) / f"confusion_phase{phase}.csv"
        if not path.is_file():
            return None
        try:
            counts, labels = parse_confusion(path.read_text())
            matrix = np.atleast_2d(np.array(counts, dtype=np.int64))
        except ValueError as exc:
            raise UserError(f"{path} is not a comma-separated integer matrix: {exc}") from None
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            shape = "x".join(str(n) for n in matrix.shape) if matrix.ndim == 2 else "ragged"
            raise UserError(f"{path} is {shape}; a confusion matrix must be square")
        if labels is None:  # a bare matrix: names come from the recorded class order
            names = self.class_names(seed)
            labels = names[: len(matrix)] if len(names) >= len(matrix) else [str(k) for k in range(len(matrix))]
        sizes = [int(n) for n in (self.manifest.get("scenario") or [])]
        return Confusion(method, sharing, seed, phase, matrix, labels, sizes)


def _summary_cells(summary: dict[str, Any]) -> set[tuple[str, str]]:
    try:
        return {(m, sharing_key(float(k))) for m, e in summary.get("methods", {}).items() for k in e["levels"]}
    except (AttributeError, KeyError, TypeError, ValueError):
        raise UserError("summary.json does not hold {'methods': {method: {'levels': {sharing: ...}}}}; "
                        "delete it and the report derives it from metrics.csv") from None


def load_run(root: str | Path) -> RunData:
    """Read a run directory, or explain why `root` is not one."""
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root} does not exist; give a run directory written by 'energybench run' "
                        "(it holds metrics.csv, config.yaml, manifest.json)")
    if not root.is_dir():
        raise UserError(f"{root} is not a directory; give a run directory written by 'energybench run'")
    check_format(root)
    metrics = root / METRICS
    if not metrics.is_file():
        children = sorted(p.parent.name for p in root.glob("*/metrics.csv"))
        if children:
            raise UserError(f"{root} is a folder of run directories, not a run directory; report one of them: "
                            + ", ".join(str(root / c) for c in children[:10]) + (" ..." if len(children) > 10 else ""))
        if (root / "config.yaml").is_file() and (root / "manifest.json").is_file():
            raise UserError(f"{root} has no metrics.csv yet: no phase of this run has finished, so there is nothing "
                            "to report")
        raise UserError(f"{root} is not a run directory: it has no metrics.csv "
                        "(a run directory written by 'energybench run' holds metrics.csv, config.yaml, manifest.json)")
    every = read_metrics(metrics, required=(*IDENTITY, "classes_seen", "acc_all"))
    if not len(at_point(every)):
        raise UserError(f"{metrics} has no rows yet: no phase of this run has finished, so there is nothing to report")
    config = read_config(root) or {}
    manifest = read_manifest(root)
    # "final" is after the last phase: a cell that has not trained every phase is reported as unfinished
    unfinished = unfinished_cells(every, manifest)
    if unfinished:
        resume = resume_command(root, config.get("backbone"), config.get("methods"))
        every = finished_rows(every, unfinished)
        if not len(every):
            raise UserError(f"{root} is unfinished and none of its cells has trained all {unfinished[0]['phases']} "
                            f"phases yet ({unfinished_text(unfinished, 3)}), so nothing final can be reported; "
                            f"continue it with: {resume}")
        warnings.warn(f"{root} is unfinished: {unfinished_text(unfinished, 3)}; what is reported covers the cells "
                      f"that trained every phase (continue it with: {resume})", stacklevel=2)
    df = at_point(every)  # the figures and tables read the first hardware point; hardware_table every point
    version = manifest.get("energybench")
    if version is not None and str(version) != energybench.__version__:
        warnings.warn(f"{root} was written by energybench {version}; this is {energybench.__version__}: figures "
                      "and rules of this version are applied to it, and what that version did not record is left "
                      "out", stacklevel=2)
    summary = read_summary(root)
    cells = {(m, sharing_key(s)) for m, s in zip(df["method"], df["sharing"])}
    if summary is None or cells != _summary_cells(summary) or "optimal_rule" not in summary or \
            (summary.get("unfinished") or []) != unfinished:
        # a run stopped mid-cell has rows its summary.json does not cover yet (or, written by an older version,
        # counts unfinished cells in), and a summary.json written before the optimal rule used the seed spread
        # lacks totals and the rule: derive it as the run would
        tolerance = num((summary or {}).get("tolerance_pp", (config or {}).get("tolerance")))
        summary = summarise(every, 1.0 if math.isnan(tolerance) else tolerance)
        if unfinished:
            summary["unfinished"] = unfinished
    present = list(dict.fromkeys(df["method"]))
    listed = [m for m in ((config or {}).get("methods") or []) if m in present]
    methods = listed + [m for m in present if m not in listed]
    power, power_note = read_power_trace(root)
    return RunData(root, config or {}, manifest, df, summary, methods, power, power_note, every_point=every,
                   unfinished=unfinished)
