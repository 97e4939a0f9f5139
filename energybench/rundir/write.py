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
    return MetricsText().render(list(rows))


class MetricsText:
    """metrics.csv's text for rows that only grow from one write to the next (a run's, phase by
    phase): each row is formatted once. The file is still written whole and atomically after every
    phase, but formatting every row again each time grew with the square of the rows: a sweep priced
    at many hardware points writes a row per point (300 phases at 21 points: 66 s of writes before,
    2 s now; benchmarks/metrics_writes.py). Rows are not changed once rendered; a list that is not
    the last one with rows added (rows dropped, or another list) is formatted anew, as is every row
    when a new row brings a column the others lack."""

    def __init__(self):
        self._rows: list[dict[str, Any]] = []  # the rows rendered, in order (the very objects)
        self._keys: set[str] = set()
        self._fields: list[str] = []
        self._chunks: list[str] = []  # their formatted lines, a chunk per render

    def render(self, rows: list[dict[str, Any]]) -> str:
        done = len(self._rows)
        grown = len(rows) >= done and all(a is b for a, b in zip(self._rows, rows))
        new = rows[done:] if grown else rows
        keys = (self._keys if grown else set()) | {k for r in new for k in r}
        fields = COLUMNS + sorted(keys - set(COLUMNS))
        if not grown or fields != self._fields:  # start again: every line changes with the columns
            self._rows, self._chunks, new = [], [], rows
        self._keys, self._fields = keys, fields
        if new:
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="raise", lineterminator="\n")
            for r in new:
                writer.writerow({k: fmt(v) for k, v in r.items()})
            self._chunks.append(buf.getvalue())
            self._rows.extend(new)
        return _header(fields) + "".join(self._chunks)


def _header(fields: list[str]) -> str:
    """The header line, as csv.DictWriter.writeheader writes it."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def write_metrics(root: Path, rows: Iterable[dict[str, Any]], text: MetricsText | None = None) -> None:
    """metrics.csv of `rows`; `text`: the MetricsText of this run's earlier writes, so that only the
    rows added since are formatted."""
    atomic_write(Path(root) / METRICS, (text or MetricsText()).render(list(rows)))


def write_config(root: Path, config: dict[str, Any]) -> None:
    atomic_write(Path(root) / CONFIG, yaml.safe_dump(config, sort_keys=False))


def write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """manifest.json, with the layout version its readers check."""
    write_json(Path(root) / MANIFEST, {**manifest, FORMAT_KEY: FORMAT})
