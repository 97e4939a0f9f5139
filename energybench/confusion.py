"""The confusion-matrix CSV of a run directory: class names on both axes, rows the true class.

Class names come from users' folders and files. A name that starts with = + - @ (or a tab or
carriage return) would be read as a formula by a spreadsheet, so it is written with a leading
apostrophe, the usual neutraliser, and read back without it.
"""

from __future__ import annotations

import csv
import io

CONFUSION_CORNER = "true\\predicted"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(name: str) -> str:
    return "'" + name if name.startswith(_FORMULA_START) else name


def _restore(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


def render_confusion(matrix, labels: list[str]) -> str:
    """A confusion matrix as CSV with class names on both axes (rows: true class); `labels` are
    the names in class order, of which the first len(matrix) are the classes seen."""
    labels = [_neutralise(str(n)) for n in list(labels)[: len(matrix)]]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([CONFUSION_CORNER, *labels])
    for label, counts in zip(labels, matrix):
        writer.writerow([label, *(int(c) for c in counts)])
    return buf.getvalue()


def parse_confusion(text: str) -> tuple[list[list[int]], list[str] | None]:
    """Counts and class names of a confusion CSV; names are None for a bare matrix (the format
    runs wrote before labels were added). Raises ValueError on a cell that is not an integer."""
    rows = [r for r in csv.reader(io.StringIO(text)) if r]
    if rows and rows[0] and rows[0][0] == CONFUSION_CORNER:
        return [[int(v) for v in r[1:]] for r in rows[1:]], [_restore(r[0]) for r in rows[1:]]
    return [[int(v) for v in r] for r in rows], None
