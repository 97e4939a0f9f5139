"""MLflow: one parent run per run directory (the sweep), one nested run per cell.

The store is `--tracking-uri` (a server, or a database MLflow takes), else an SQLite file in
the run directory (mlflow.db, artifacts in mlartifacts/): the file store is in maintenance
mode in MLflow 3. A resumed run finds its parent and cells again by their tags.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from energybench.errors import UserError
from energybench.trackers.base import cell_params, phase_metrics

EXPERIMENT = "energybench"
# A server that is down costs seconds, not minutes: MLflow's own default retries 7 times with a
# doubling back-off (about two minutes) before the tracker can give up. The user's setting wins.
RETRIES, TIMEOUT_S = "2", "20"
MAX_PARAMS = 100  # per log_batch call
MAX_PARAM_CHARS = 6000  # MLflow's longest parameter value
LOGGED = "accuracy/acc_all"  # every phase's row has it: its steps are the phases a cell's run holds


# the stores MLflow 3 takes by URI scheme (mlflow.tracking._tracking_service.utils), besides those a plug-in adds
SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks", "databricks-uc", "uc")


def check_uri(uri: str) -> None:
    """A UserError, before anything is written, for a tracking URI this MLflow would refuse only once
    the run logs its first phase (a tracker that fails is dropped with a warning, the run going on)."""
    scheme = urlparse(uri).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter: a path
        scheme = ""
    plugins = _plugin_schemes()
    if scheme not in plugins:
        scheme = scheme.split("+", 1)[0]  # SQLAlchemy's dialect+driver: mysql+pymysql, postgresql+psycopg2
    if scheme in ("", "file") and scheme not in plugins and _file_store_refused():
        raise UserError(f"'{uri}' names a folder, MLflow's file store, which MLflow 3 keeps in maintenance mode and "
                        "refuses; give a database file, e.g. sqlite:///" + str(Path(uri.removeprefix("file://"))
                                                                                 .expanduser().absolute() / "mlflow.db")
                        + ", or a tracking server's http(s):// address")
    if scheme not in ("", "file", *SCHEMES, *plugins):
        raise UserError(f"unknown MLflow tracking URI scheme '{scheme}://' in '{uri}'; valid schemes: "
                        f"{', '.join(SCHEMES + tuple(plugins))} (a server's http(s):// address or a database)")
    if scheme == "sqlite" and _sqlite_file(uri).name != ":memory:":
        path = _sqlite_file(uri)
        folder = path.parent
        if not folder.is_dir():
            raise UserError(f"the SQLite file of '{uri}' would be in {folder}, which is not a directory; create it "
                            "or give another path (sqlite:///relative.db, sqlite:////absolute/path.db)")
        # SQLite writes the file and journals beside it; MLflow finds out only after minutes of retries
        try:
            with tempfile.TemporaryFile(dir=folder, prefix=".energybench-probe-"):
                pass
            if path.exists():
                with open(path, "ab"):
                    pass
        except OSError as exc:
            raise UserError(f"the SQLite file of '{uri}' cannot be written ({path if path.exists() else folder}: "
                            f"{os.strerror(exc.errno) if exc.errno else exc}); give a path you can write "
                            "(sqlite:///relative.db, sqlite:////absolute/path.db)") from None


def _sqlite_file(uri: str) -> Path:
    """The database file of sqlite:///relative or sqlite:////absolute (SQLAlchemy's form)."""
    return Path(uri.split(":///", 1)[-1] if ":///" in uri else ":memory:").expanduser()


def _plugin_schemes() -> tuple[str, ...]:
    from importlib.metadata import entry_points

    return tuple(e.name for e in entry_points(group="mlflow.tracking_store"))


def _file_store_refused() -> bool:
    """MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE is set; MLflow 2 writes it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        major = int(version("mlflow").split(".", 1)[0])
    except (PackageNotFoundError, ValueError):
        return False
    return major >= 3 and os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("true", "1")


def artifact_root(root: Path, uri: str | None) -> str | None:
    """Where the experiment's artifacts go when this run creates it: mlartifacts/ beside the
    database file (the run directory's own by default), so they never land in the folder the
    command was started from (MLflow's ./mlruns default); a server keeps its own."""
    if uri is None:
        return (root / "mlartifacts").as_uri()
    scheme = urlparse(uri).scheme.lower()
    if scheme == "sqlite" and _sqlite_file(uri).name != ":memory:":
        return (_sqlite_file(uri).absolute().parent / "mlartifacts").as_uri()
    return None


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
            EXPERIMENT, artifact_location=artifact_root(self.root, uri))
        tag = {"energybench.run_dir": str(self.root)}
        found = self._find(tag, top_level=True)  # the cells carry the run directory's tag too
        self.parent = found or self.client.create_run(self.experiment, run_name=self.root.name,
                                                      tags=tag).info.run_id
        if not found:
            self._log(self.parent, params=params)
        self.cells: dict[str, str] = {}
        self.logged: dict[str, set[int]] = {}  # a cell's steps in the store (a resumed run logs none twice)

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
            self.logged[label] = {m.step for m in self.client.get_metric_history(self.cells[label], LOGGED)} \
                if found else set()
        return self.cells[label]

    def phase(self, cell, row: dict, manifest: dict, last: bool) -> None:
        run = self._cell_run(cell, manifest)
        step = int(row["phase"])
        if step not in self.logged[cell.label]:
            self._log(run, metrics=phase_metrics(row), step=step)
            self.logged[cell.label].add(step)
        if last and self.client.get_run(run).info.status != "FINISHED":
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
