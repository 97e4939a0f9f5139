"""Writing a run directory's files. Every write is atomic (energybench.files.atomic_write: a
temporary file renamed into place), so a run interrupted at any moment leaves each file either
as it was or complete."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterable

import yaml

from energybench.files import atomic_write, write_json
from energybench.rundir.schema import CONFIG, FORMAT, FORMAT_KEY, MANIFEST, METRICS, SCHEMA

COLUMNS = list(SCHEMA)  # measured columns are empty where not measured, and measured_note says why


def fmt(v: Any) -> str:
    """A metrics cell as text. Floats at full precision (the shortest text that reads back as the
    same number), so a summary built from metrics.csv equals one built from the numbers in memory;
    None and NaN as empty: the one spelling of "not measured", which the reader reads as NaN."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if v != v else repr(v)
    return str(v)


def render_csv(rows: Iterable[dict[str, Any]]) -> str:
    """metrics.csv's text: SCHEMA's columns in order, then the rows' other columns, sorted."""
    rows = list(rows)
    extra = sorted({k for r in rows for k in r} - set(COLUMNS))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS + extra, extrasaction="raise", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: fmt(v) for k, v in r.items()})
    return buf.getvalue()


def write_metrics(root: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write(Path(root) / METRICS, render_csv(rows))


def write_config(root: Path, config: dict[str, Any]) -> None:
    atomic_write(Path(root) / CONFIG, yaml.safe_dump(config, sort_keys=False))


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """manifest.json, with the layout version its readers check."""
    write_json(Path(root) / MANIFEST, {**manifest, FORMAT_KEY: FORMAT})
