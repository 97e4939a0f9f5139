"""MLflow: one parent run per run directory (the sweep), one nested run per cell.

The store is `--tracking-uri` (a server, or any store MLflow takes), else an SQLite file in
the run directory (mlflow.db, artifacts in mlartifacts/): the file store is in maintenance
mode in MLflow 3. A resumed run finds its parent and cells again by their tags.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from energybench.trackers.base import cell_params, phase_metrics

EXPERIMENT = "energybench"
# A server that is down costs seconds, not minutes: MLflow's own default retries 7 times with a
# doubling back-off (about two minutes) before the tracker can give up. The user's setting wins.
RETRIES, TIMEOUT_S = "2", "20"
MAX_PARAMS = 100  # per log_batch call
MAX_PARAM_CHARS = 6000  # MLflow's longest parameter value


class MlflowTracker:
    name = "mlflow"

    def __init__(self, root: Path, params: dict[str, str], uri: str | None = None):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", RETRIES)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", TIMEOUT_S)
        from mlflow.tracking import MlflowClient

        self.root = Path(root)
        self.uri = uri or f"sqlite:///{self.root / 'mlflow.db'}"
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating initial tables" notes
        logging.getLogger("alembic").setLevel(logging.WARNING)
        self.client = MlflowClient(tracking_uri=self.uri)
        exp = self.client.get_experiment_by_name(EXPERIMENT)
        self.experiment = exp.experiment_id if exp else self.client.create_experiment(
            EXPERIMENT, artifact_location=None if uri else (self.root / "mlartifacts").as_uri())
        tag = {"energybench.run_dir": str(self.root)}
        found = self._find(tag, top_level=True)  # the cells carry the run directory's tag too
        self.parent = found or self.client.create_run(self.experiment, run_name=self.root.name,
                                                      tags=tag).info.run_id
        if not found:
            self._log(self.parent, params=params)
        self.cells: dict[str, str] = {}

    def _find(self, tags: dict[str, str], top_level: bool = False) -> str | None:
        where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
        # top_level: a run of no parent, the oldest first (the parent was made before its cells). In Python:
        # `tags.x IS NULL` in a search is recent in MLflow (2026), and a tracking server may be older.
        runs = self.client.search_runs([self.experiment], filter_string=where, max_results=1000 if top_level else 1,
                                       order_by=["attributes.start_time ASC"])
        found = [r for r in runs if not top_level or "mlflow.parentRunId" not in r.data.tags]
        return found[0].info.run_id if found else None

    def _log(self, run: str, params: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
             step: int = 0) -> None:
        from mlflow.entities import Metric, Param

        items = [Param(k, v[:MAX_PARAM_CHARS]) for k, v in (params or {}).items()]
        for i in range(0, len(items), MAX_PARAMS):
            self.client.log_batch(run, params=items[i:i + MAX_PARAMS])
        now = int(time.time() * 1000)
        if metrics:
            self.client.log_batch(run, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])

    def _cell_run(self, cell, manifest: dict) -> str:
        label = cell.label
        if label not in self.cells:
            tags = {"energybench.run_dir": str(self.root), "energybench.cell": label}
            found = self._find(tags)
            self.cells[label] = found or self.client.create_run(
                self.experiment, run_name=label, tags={**tags, "mlflow.parentRunId": self.parent}).info.run_id
            if not found:
                self._log(self.cells[label], params=cell_params(cell, manifest))
        return self.cells[label]

    def phase(self, cell, row: dict, manifest: dict, last: bool) -> None:
        run = self._cell_run(cell, manifest)
        self._log(run, metrics=phase_metrics(row), step=int(row["phase"]))
        if last:
            self.client.set_terminated(run, "FINISHED")

    def finish(self, root: Path, files: list[Path]) -> None:
        """The run's files on the parent run (report, metrics.csv, summary...), each cell's files
        (accuracy matrix, confusion matrices, per-layer energies; not its checkpoints) on its own
        run; then the parent is finished."""
        for path in files:
            self.client.log_artifact(self.parent, str(path))
        for label, run in self.cells.items():
            folder = self._cell_folder(root, run)
            for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix != ".pt") if folder else []:
                self.client.log_artifact(run, str(path))
        self.client.set_terminated(self.parent, "FINISHED")

    def _cell_folder(self, root: Path, run: str) -> Path | None:
        p = self.client.get_run(run).data.params
        folder = Path(root) / "cells" / f"{p['method']}_s{p['sharing']}_seed{p['seed']}"
        return folder if folder.is_dir() else None

    def abort(self, status: str) -> None:
        for run in [*self.cells.values(), self.parent]:
            if self.client.get_run(run).info.status == "RUNNING":
                self.client.set_terminated(run, status)
