"""Reading a run directory: the one reader of metrics.csv and of the files beside it.

The one rule for missing values: an empty metrics cell means "not measured" and reads as NaN,
never as a zero; so does a numeric cell that is not a finite number ('abc', 'nan', '1e400'),
with one warning naming it (the writer spells NaN and None as an empty cell). The same rule
reads a number out of summary.json or manifest.json (`num`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from energybench.errors import UserError
from energybench.rundir.migrate import check_format, schema_notice
from energybench.rundir.schema import (
    CONFIG,
    FLAGS,
    HARDWARE,
    IDENTITY,
    MANIFEST,
    MATRIX_FILE,
    METRICS,
    POWER_TRACE,
    SUMMARY,
    TEXT,
    cell_dir,
)
from energybench.user_yaml import load_user_yaml

if TYPE_CHECKING:  # imported where a table is read (0.4 s): a Ray worker needs the names, not pandas
    import pandas as pd

NUL = bytes(1)
SHOWN = 4  # bad cells named in a warning; the rest counted


def num(value: Any) -> float:
    """A value as a float; None, empty or unreadable -> NaN (not measured)."""
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ----- metrics.csv -----------------------------------------------------------------------------
def frame(rows: Iterable[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Metrics rows (as written to metrics.csv, or as dicts of numbers) as a typed frame:
    identity columns typed, text columns as text, every other column a float (NaN = empty)."""
    import pandas as pd

    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for col in df.columns:
        if col in TEXT:
            text = df[col].astype(object)
            df[col] = text.where(text.notna() & (text != ""), None)
        elif col in FLAGS:
            df[col] = df[col].map(_flag).astype(float)
        else:
            values = pd.to_numeric(df[col].replace("", np.nan), errors="coerce").astype(float)
            df[col] = values.where(np.isfinite(values))  # '1e400' reads as inf: not a measurement either
    if len(df):
        df["seed"] = df["seed"].astype(int)
        df["phase"] = df["phase"].astype(int)
    return df


def _flag(v) -> float:
    if isinstance(v, str):
        return {"true": 1.0, "false": 0.0}.get(v.lower(), math.nan)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return math.nan
    return float(bool(v))


def read_rows(path: Path) -> list[dict[str, str]]:
    """metrics.csv's rows as their text (empty for a missing file): what the run's writer reads
    back to append to and rewrite, unchanged. Use `read_metrics` for values. A row of the wrong
    length (a copy cut short) is left out with a warning, as the reader leaves it out: its phase is
    not done, so a resume trains it again instead of keeping a row no reader counts."""
    if not Path(path).is_file():
        return []
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return []
        lines = [(k, r) for k, r in enumerate(reader, start=2) if r]
    kept = [dict(zip(header, r)) for _, r in lines if len(r) == len(header)]
    wrong = [k for k, r in lines if len(r) != len(header)]
    if wrong:
        warnings.warn(f"{path}: {len(wrong)} row(s) have the wrong number of fields (line "
                      + ", ".join(str(k) for k in wrong[:SHOWN]) + "): a copy cut short, or an edit; left out, "
                      "so their phases are trained again", stacklevel=2)
    return kept


def _text(path: Path) -> str:
    """metrics.csv as text, or a UserError saying why it cannot be one (empty, binary)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise UserError(f"{path} is empty ({len(data)} bytes): it holds no header and no rows. Nothing can be "
                        "reported; resume the run to write it again (energybench run --resume)")
    if NUL in data:
        raise UserError(f"{path} is a binary file, not a CSV text file (byte {data.index(NUL)} is NUL); is it the "
                        "metrics.csv written by 'energybench run'?")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x}); is it the "
                        "metrics.csv written by 'energybench run'?") from None


def read_metrics(path: str | Path, required: Iterable[str] = IDENTITY) -> pd.DataFrame:
    """A metrics.csv file as a typed frame (see `frame`). A UserError when it is empty or binary,
    lacks a `required` column or a row's identity cannot be read; a warning (the rest is read)
    for a last row cut mid-line, a row of the wrong length, a cell that is not a finite number,
    and columns that are not this version's."""
    import pandas as pd

    path = Path(path)
    reader = csv.reader(io.StringIO(_text(path)))
    try:
        lines = [r for r in reader if r]
    except csv.Error as exc:
        raise UserError(f"{path} is not a readable CSV file ({exc})") from None
    header, body = lines[0], lines[1:]
    missing = (set(IDENTITY) | set(required)) - set(header)
    if missing:
        raise UserError(f"{path} lacks the columns {', '.join(sorted(missing))}; is it a metrics.csv "
                        "written by 'energybench run'?")
    schema_notice(path, header)
    kept, rownums, short = [], [], []
    for k, r in enumerate(body, start=2):
        if len(r) == len(header):
            kept.append(r)
            rownums.append(k)
        else:
            short.append((k, len(r)))
    if short:
        k, n = short[-1]
        cut = k == len(body) + 1 and n < len(header)
        warnings.warn(f"{path}: " + (f"its last row (line {k}) is cut mid-line ({n} of {len(header)} fields: an "
                                     "interrupted write, or a copy cut short)"
                                     if cut and len(short) == 1 else
                                     f"{len(short)} row(s) have the wrong number of fields (line "
                                     + ", ".join(str(k) for k, _ in short[:SHOWN]) + ")")
                      + "; left out of the report", stacklevel=2)
    raw = pd.DataFrame(kept, columns=header, dtype=str, index=rownums)
    bad = raw[pd.to_numeric(raw["sharing"], errors="coerce").isna()
              | ~raw["seed"].str.fullmatch(r"-?\d+") | ~raw["phase"].str.fullmatch(r"\d+")]
    if len(bad):
        raise UserError(f"{path}: row {bad.index[0]} has an unreadable sharing, seed or phase")
    _cell_notice(path, raw)
    return frame(raw.reset_index(drop=True))


def _cell_notice(path: Path, raw: pd.DataFrame) -> None:
    """One warning naming the numeric cells that are not finite numbers ('abc', 'nan', '1e400'):
    they are read as not measured (NaN), never as a value."""
    import pandas as pd

    found = []
    for col in raw.columns:
        if col in TEXT or col in FLAGS or col in ("seed", "phase"):
            continue
        text = raw[col]
        filled = text != ""
        values = pd.to_numeric(text.where(filled, "0"), errors="coerce")
        wrong = filled & ~np.isfinite(values.to_numpy(dtype=float))
        found += [(k, col, v) for k, v in text[wrong].items()]
    if found:
        found.sort()
        named = "; ".join(f"line {k} {col} '{v[:20]}'" for k, col, v in found[:SHOWN])
        more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        warnings.warn(f"{path}: {len(found)} cell(s) are not finite numbers ({named}{more}); read as not measured",
                      stacklevel=3)


def load(run_dir: str | Path, required: Iterable[str] = IDENTITY) -> pd.DataFrame:
    """The metrics of a run directory: one row per (method, sharing, seed, phase)."""
    check_format(Path(run_dir))
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise UserError(f"{run_dir} has no metrics.csv: not a run directory, or no phase has finished yet")
    return read_metrics(path, required)


# ----- hardware points: a run sweeping (node, arch) has a row per phase at each ------------------
def hardware_points(df: pd.DataFrame) -> list[tuple]:
    """The (node_nm, arch) points of a run's rows, in the order the run wrote them (the sweep's
    first point first); [] for rows without those columns (an older run: one point)."""
    if not len(df) or not set(HARDWARE) <= set(df.columns):
        return []
    keys = df[list(HARDWARE)].astype(object).where(df[list(HARDWARE)].notna(), None)
    return list(dict.fromkeys(map(tuple, keys.itertuples(index=False, name=None))))


def at_point(df: pd.DataFrame, point: tuple | None = None) -> pd.DataFrame:
    """The rows of one hardware point (the first by default): one row per (method, sharing, seed,
    phase), which every aggregate of energybench.results assumes; all rows where there is one point."""
    import pandas as pd

    points = hardware_points(df)
    if len(points) <= 1 and point is None:
        return df
    node, arch = points[0] if point is None else point
    mask = pd.Series(True, index=df.index)
    for col, want in zip(HARDWARE, (node, arch)):
        mask &= df[col].isna() if want is None else df[col] == want
    return df[mask]


# ----- the files beside it ---------------------------------------------------------------------
def accuracy_matrix(run_dir: str | Path) -> pd.DataFrame:
    """Every cell's accuracy matrix: one row per (method, sharing, seed, after_phase), columns
    phase_0, phase_1, ...: the accuracy (%) on each phase's classes after phase `after_phase`
    (NaN for phases not yet learned). Cells of runs older than the file are left out."""
    import pandas as pd

    df = load(run_dir)
    parts = []
    for (method, sharing, seed), _ in df.groupby(["method", "sharing", "seed"], sort=True):
        path = cell_dir(run_dir, method, sharing, seed) / MATRIX_FILE
        if path.is_file():
            m = pd.read_csv(path)
            m.insert(0, "seed", int(seed))
            m.insert(0, "sharing", float(sharing))
            m.insert(0, "method", method)
            parts.append(m)
    if not parts:
        return pd.DataFrame(columns=["method", "sharing", "seed", "after_phase"])
    out = pd.concat(parts, ignore_index=True)
    phases = [c for c in out.columns if c.startswith("phase_")]
    out[phases] = out[phases].astype(float)
    return out


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object of a run directory (manifest.json, summary.json); the NaN that older runs
    wrote still reads."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = str(exc) if isinstance(exc, json.JSONDecodeError) else f"not UTF-8 text: byte {exc.start}"
        raise UserError(f"{path} is not valid JSON ({why}); rerun or resume the run to rewrite it") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object")
    return data


def read_manifest(root: Path) -> dict[str, Any]:
    """manifest.json; {} for a directory without one."""
    path = Path(root) / MANIFEST
    return read_json(path) if path.is_file() else {}


def resume_command(root, backbone, methods) -> str:
    """The command that continues a run: with --trust-code where its recorded backbone or methods
    name user code by `package.module:Name` (plugins.is_reference), which a resume imports only so."""
    names = [backbone, *(methods.split(",") if isinstance(methods, str) else methods or [])]
    named = any(isinstance(n, str) and ":" in n for n in names)
    return f"energybench run --resume {root}" + (" --trust-code" if named else "")


def read_summary(root: Path) -> dict[str, Any] | None:
    """summary.json; None for a run that has not written it yet."""
    path = Path(root) / SUMMARY
    return read_json(path) if path.is_file() else None


def read_config(root: Path) -> dict[str, Any] | None:
    """config.yaml, read as a user's file (run directories get shared); None when there is none."""
    path = Path(root) / CONFIG
    return load_user_yaml(path, str(path)) if path.is_file() else None


def read_power_trace(root: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], str | None]:
    """device -> (seconds since the first reading, watts); a note when the trace is unusable.
    An hour at 10 Hz is tens of thousands of rows, hence plain csv.reader."""
    path = Path(root) / POWER_TRACE
    if not path.is_file():
        return {}, None
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        try:
            it, idev, iw = header.index("time_s"), header.index("device"), header.index("watts")
        except ValueError:
            return {}, f"{path.name} lacks the columns time_s, device, watts; the power trace is not drawn."
        data: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for r in reader:
            if len(r) == len(header):
                t, w = num(r[it]), num(r[iw])
                if not (math.isnan(t) or math.isnan(w)):
                    data[r[idev]].append((t, w))
    if not data:
        return {}, None
    t0 = min(t for pts in data.values() for t, _ in pts)
    out = {}
    for dev, pts in sorted(data.items()):
        arr = np.array(sorted(pts))
        out[dev] = (arr[:, 0] - t0, arr[:, 1])
    return out, None
