"""Continual-learning metrics computed from the accuracy matrix, pure and without torch.

The accuracy matrix R has one row per phase t (after learning phase t) and one column per
phase j (the classes phase j introduced): R[t][j] is the accuracy (%) on phase j's classes
after phase t, defined for j <= t. Row t of a run is `EvalResult.group_acc` of phase t.
"""

from __future__ import annotations

import math

import numpy as np


def bwt(matrix: list[list[float]]) -> float:
    """Backward transfer (Lopez-Paz and Ranzato 2017, GEM, Eq. 3 with T phases):
    BWT = 1/(T-1) * sum_{j<T-1} (R[T-1][j] - R[j][j]), in percentage points. Negative values are
    forgetting; NaN after phase 0 (no earlier phase to look back on)."""
    last = len(matrix) - 1
    if last < 1:
        return float("nan")
    return float(np.mean([matrix[last][j] - matrix[j][j] for j in range(last)]))


def forgetting(matrix: list[list[float]]) -> float:
    """Average forgetting (Chaudhry et al. 2018): for each earlier phase's classes, the best
    accuracy they ever had minus their accuracy now, averaged; NaN at phase 0."""
    if len(matrix) < 2:
        return float("nan")
    now = matrix[-1]
    drops = [max(h[g] for h in matrix[:-1] if g < len(h)) - now[g] for g in range(len(now) - 1)]
    return float(np.mean(drops))


def render_matrix(matrix: list[list[float]]) -> str:
    """The accuracy matrix as CSV: a header `after_phase,phase_0,...`, one line per phase
    learned, full-precision numbers, empty cells for phases not yet learned."""
    width = max(len(row) for row in matrix)
    lines = ["after_phase," + ",".join(f"phase_{j}" for j in range(width))]
    for t, row in enumerate(matrix):
        cells = ["" if (j >= len(row) or math.isnan(row[j])) else repr(float(row[j])) for j in range(width)]
        lines.append(f"{t}," + ",".join(cells))
    return "\n".join(lines) + "\n"
