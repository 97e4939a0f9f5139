"""summary.json of a run directory: per method and sharing level, accuracy and cost, normalised
to sharing 0, and the optimal sharing point (energybench.results holds the rules)."""

from __future__ import annotations

from typing import Any

from energybench.engine.store import RunStore
from energybench.files import write_json
from energybench.results import summary as run_summary


def write_summary(store: RunStore, cfg) -> dict[str, Any]:
    """Built from metrics.csv as it is on disk, so an unbroken run, a resumed one and a
    `--resume` of a finished one write the same summary (and `results.summary` reads the same)."""
    # (it reads the first hardware point; the manifest says which cells are still unfinished)
    summary = run_summary(store.root, cfg.tolerance)
    write_json(store.root / "summary.json", summary)
    return summary
