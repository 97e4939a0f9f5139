"""Modelled against measured energy: does the model's saving show up on the meter, and by how much?

For a run with measured energy, each phase's modelled training energy (computation + memory
access: counted operations times the energy table) is set against the energy measured over the
same phase above the idle baseline (the total measured energy where the run had no baseline; the
block then says so, since static power dominates it):

- a least-squares line through the origin, measured = k * modelled. k is the effective joules the
  machine spends per modelled joule; R^2 says how much of the phases' spread one k explains.
- per method, the saving of every sharing level relative to sharing 0, modelled and measured side
  by side: energy at sharing 0 / energy at the level, over the incremental phases (x-fold, as the
  partial-sharing paper's "1.89x"; 1 at sharing 0, above 1 where sharing saves).

Pure functions on the typed frame of energybench.results (no I/O, no torch); results.py turns
them into summary.json's `modelled_vs_measured` block and the report draws that block.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

MODELLED = "modelled_energy_j"  # compute_energy_j + memory_energy_j of a phase
ABOVE_IDLE = "measured_energy_above_idle_j"
TOTAL = "measured_energy_j"
BASIS = {ABOVE_IDLE: "above idle: measured energy minus the idle baseline power times the phase's duration",
         TOTAL: "total measured energy, idle included (the run had no idle baseline, so static power dominates "
                "it; run with an idle baseline, --idle-seconds > 0, to compare dynamic energy)"}
SCOPE = ("one point per (method, sharing, phase), mean over seeds; phase 0, trained once and shared by every "
         "sharing level, is one point per method and is left out of the fit (its window also holds one-off "
         "start-up work, e.g. CUDA kernels loading); savings cover the incremental phases. The measured window "
         "spans the whole learning step of a phase: work the model prices apart (exemplar selection, counted "
         "as eval_macs) and data movement on the host are in the measured energy only")


def modelled_energy(df: pd.DataFrame) -> pd.Series:
    """A phase's modelled training energy: computation plus memory access (NaN where either is)."""
    nan = pd.Series(math.nan, index=df.index)
    return df.get("compute_energy_j", nan) + df.get("memory_energy_j", nan)


def measured_column(df: pd.DataFrame) -> str | None:
    """The measured column to compare with: above idle where any phase has it, else the total;
    None when the run measured nothing."""
    for column in (ABOVE_IDLE, TOTAL):
        if column in df and df[column].notna().any():
            return column
    return None


def fit_through_origin(x, y) -> dict[str, float | int]:
    """Least squares y = k x (no intercept) over the finite pairs.

    slope = sum(x y) / sum(x^2). r2 = 1 - SS_res / SS_tot with SS_tot about the mean of y
    (centred, as numpy's and Excel's R^2 of an ordinary fit; it is negative when a line through
    the origin fits worse than the mean). NaN slope with fewer than two points or all x 0;
    NaN r2 when every y is the same.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(len(x))
    sxx = float(np.dot(x, x))
    if n < 2 or sxx == 0.0:
        return {"slope": math.nan, "r2": math.nan, "points": n}
    slope = float(np.dot(x, y)) / sxx
    ss_res = float(np.sum((y - slope * x) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {"slope": slope, "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan, "points": n}


def phase_points(df: pd.DataFrame, measured: str) -> pd.DataFrame:
    """Per (method, sharing, phase): modelled and measured energy, means over the seeds that have
    both; `fitted` marks the incremental phases (and a method's phase 0 when it has no other).
    Phase 0 rows are copies at every sharing level of one base training: kept once, at the
    method's lowest level."""
    d = df.assign(modelled_j=modelled_energy(df), measured_j=df[measured])
    d = d[d["modelled_j"].notna() & d["measured_j"].notna()]
    lowest = d.groupby("method")["sharing"].transform("min")
    d = d[(d["phase"] > 0) | (d["sharing"] == lowest)]
    points = (d.groupby(["method", "sharing", "phase"], sort=True)
              .agg(modelled_j=("modelled_j", "mean"), measured_j=("measured_j", "mean"), seeds=("seed", "nunique"))
              .reset_index())
    only_base = points.groupby("method")["phase"].transform("max") == 0
    points["fitted"] = (points["phase"] > 0) | only_base
    return points


def saving_ratios(totals: pd.DataFrame, measured: str) -> dict[str, dict[str, dict[str, float]]]:
    """Per method with a sharing-0 level: per level, the incremental totals (mean over seeds) and
    the x-fold savings relative to sharing 0. A ratio is NaN where either energy is missing or not
    positive (above-idle energy can sit within the baseline's noise, at or below 0)."""
    def ratio(ref: float, value: float) -> float:
        return ref / value if ref > 0 and value > 0 else math.nan  # NaN compares False

    out: dict[str, dict[str, dict[str, float]]] = {}
    for method, levels in totals.groupby(level="method", sort=True):
        levels = levels.droplevel("method")
        if 0.0 not in levels.index:
            continue
        m0, e0 = float(levels.loc[0.0, MODELLED]), float(levels.loc[0.0, measured])
        out[method] = {f"{s:g}": {"modelled_j": float(row[MODELLED]), "measured_j": float(row[measured]),
                                  "modelled_saving_x": ratio(m0, float(row[MODELLED])),
                                  "measured_saving_x": ratio(e0, float(row[measured]))}
                       for s, row in levels.sort_index().iterrows()}
    return out


def unavailable(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason}


def block(df: pd.DataFrame, measured: str, totals: pd.DataFrame) -> dict[str, Any]:
    """summary.json's modelled_vs_measured block from the typed frame, its measured column and the
    incremental totals (per (method, sharing): MODELLED and `measured`)."""
    points = phase_points(df, measured)
    fitted = points[points["fitted"]]
    fit = fit_through_origin(fitted["modelled_j"], fitted["measured_j"])
    if math.isnan(fit["slope"]):
        return unavailable(f"fewer than two phases have both modelled and measured energy ({fit['points']}; "
                           "phase 0 is not fitted), so there is no line to fit")
    savings = saving_ratios(totals, measured)
    no_reference = sorted(set(points["method"]) - set(savings))
    text = lambda col: sorted(set(df[col].dropna())) if col in df else []  # noqa: E731
    modelled = "compute_energy_j + memory_energy_j (energy table " + (", ".join(text("energy_table")) or "unknown")
    if text("arch"):  # the accesses' energies are the architecture's (older runs: the table's)
        modelled += f"; architecture {', '.join(text('arch'))}, {', '.join(text('mapper')) or 'analytic'} mapper"
    return {
        "available": True,
        "modelled": modelled + ")",
        "measured": measured,
        "measured_basis": BASIS[measured],
        "measured_by": ", ".join(text("measured_energy_method")) or None,
        "measured_devices": ", ".join(text("measured_devices")) or None,
        "scope": SCOPE,
        "fit": {"slope_j_per_modelled_j": fit["slope"], "r2": fit["r2"], "points": fit["points"],
                "through_origin": True},
        "points": [{"method": str(p.method), "sharing": float(p.sharing), "phase": int(p.phase),
                    "modelled_j": float(p.modelled_j), "measured_j": float(p.measured_j), "seeds": int(p.seeds),
                    "fitted": bool(p.fitted)} for p in points.itertuples()],
        "savings": savings,
        "savings_note": (f"no sharing-0 level to compare with for: {', '.join(no_reference)}" if no_reference
                         else None),
    }
