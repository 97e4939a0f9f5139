"""What a report says, independent of its format: sections of blocks (paragraphs, lists,
tables, key-value tables, figures). html.py renders a Document as HTML and pdf.py typesets it
on pages, so a section added once appears in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from energybench.report.canvas import FigureResult


@dataclass
class Paragraph:
    text: str
    kind: str = "text"  # text | note (smaller, grey) | omitted (why a figure is not drawn)


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Column:
    title: str
    unit: str = ""  # shown in the header, "(unit)"; the cells hold bare numbers
    numeric: bool = True  # right-aligned; text columns are left-aligned and may wrap

    @property
    def header(self) -> str:
        return f"{self.title} ({self.unit})" if self.unit else self.title


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[str]]
    title: str | None = None  # a heading over the table (a method's name)
    id: str | None = None
    highlight: set[int] = field(default_factory=set)  # rows shown highlighted (optimal points)
    note: str | None = None  # said under the table
    key_columns: int = 1  # repeated when a wide table is split into column groups


@dataclass
class KeyValues:
    """A two-column table of labels and values (metadata); values wrap."""

    pairs: list[tuple[str, str]]
    title: str | None = None
    id: str | None = None


@dataclass
class FigureBlock:
    result: FigureResult
    number: int = 0  # "Figure N", set when the document is numbered


Block = Paragraph | Bullets | Table | KeyValues | FigureBlock


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    figure: FigureResult | None = None  # a section that is one figure (drawn or omitted)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]
    source: str  # where it was built from (run directory, or directories), for the footer

    def figures(self) -> list[FigureResult]:
        return [s.figure for s in self.sections if s.figure is not None]

    def number_figures(self) -> None:
        """Figure numbers in document order, drawn figures only."""
        k = 0
        for s in self.sections:
            for b in s.blocks:
                if isinstance(b, FigureBlock):
                    k += 1
                    b.number = k


def figure_section(result: FigureResult) -> Section:
    """A figure as a section: the figure and its caption, or the note saying why it is omitted."""
    if result.omitted:
        return Section(result.id, result.title, [Paragraph(result.note or "Omitted.", "omitted"),
                                                 Paragraph(result.caption, "note")], figure=result)
    return Section(result.id, result.title, [FigureBlock(result)], figure=result)
