"""A Document set on pages: pure geometry, in inches from the page's top-left corner.

Blocks become pieces (a line of text, a table row, a figure with its caption); pieces flow
onto pages, text split between lines and tables between rows (the header repeated), figures
kept whole. A figure's height can stretch between its grid's least and most heights, so a
figure that would not fit at its preferred height is shrunk into the room left, and a page
left short before a figure that does not fit at all has its figures stretched: pages fill.
Headings are kept with what follows them. The contents (page 1) list every section and figure
with its page, and each entry is a link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import energybench.report.canvas as canvas
import energybench.report.typeset as typeset
from energybench.report.document import (
    Bullets,
    Column,
    Document,
    FigureBlock,
    KeyValues,
    Paragraph,
    Section,
    Table,
)
from energybench.report.style import MIN_FONT, Size, size_for

PAGE_SIZES = {"letter": (8.5, 11.0), "a4": (8.27, 11.69)}  # inches
MARGIN = 0.75  # inches on every side; the running head and the page number sit inside it

BODY, NOTE, SMALL, TABLE = 9.0, 8.0, 7.5, 8.0  # font sizes (points); none below style.MIN_FONT
H1, H2, TITLE = 12.5, 9.5, 15.0
INK, GREY_INK = "#1b1b1b", "#555555"
HIGHLIGHT = "#fff3b0"
CELL_PAD = 0.05  # inches either side of a table cell's text
FILL_TARGET = 0.8  # a page ending shorter than this before a break has its figures stretched
SQUEEZE = 0.8  # a figure may shrink to this share of its least height rather than leave a page short


# ----- what is drawn ---------------------------------------------------------------------------------
@dataclass
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float
    bold: bool = False
    colour: str = INK
    align: str = "left"  # left | right | center


@dataclass
class Rule:
    x0: float
    x1: float
    y: float
    width: float = 0.6  # points


@dataclass
class Box:
    x: float
    y: float  # top
    w: float
    h: float
    colour: str


@dataclass
class Slot:
    """Where a figure goes: its drawing is made by pdf.py (canvas.draw into a SubFigure)."""

    result: canvas.FigureResult
    x: float
    y: float  # top
    w: float
    h: float


@dataclass
class Link:
    x0: float
    y0: float  # top
    x1: float
    y1: float  # bottom
    target: str  # an anchor id


@dataclass
class Page:
    items: list = field(default_factory=list)
    number: int = 0


# ----- pieces --------------------------------------------------------------------------------------------
@dataclass
class Piece:
    height: float
    draw: Callable[[float], list]  # y of the piece's top -> items
    keep_with_next: bool = False
    space: bool = False  # vertical space: dropped at the top of a page
    flex: tuple[float, float] | None = None  # (least, most) height of a figure
    anchors: list[str] = field(default_factory=list)  # ids that start here (links, outline)
    repeat: list["Piece"] | None = None  # a table's header, repeated when a page breaks before this row
    page_start: bool = False


def _space(h: float) -> Piece:
    return Piece(h, lambda y: [], space=True)


class Setter:
    """Turns blocks into pieces at a text width."""

    def __init__(self, width: float, left: float):
        self.width = width
        self.left = left
        self.size = size_for(width)

    # text
    def lines(self, text: str, size: float, bold=False, colour=INK, indent=0.0, first: str = "") -> list[Piece]:
        lead = typeset.leading(size)
        out = []
        for k, line in enumerate(typeset.wrap(text, size, self.width - indent, bold)):
            x = self.left + indent

            def draw(y, line=line, x=x, k=k):
                items = [Text(x, y + 0.8 * lead, line, size, bold, colour)]
                if k == 0 and first:
                    items.append(Text(x - 0.14, y + 0.8 * lead, first, size, bold, colour))
                return items

            out.append(Piece(lead, draw))
        return out

    def heading(self, text: str, size: float, anchors: list[str], before: float = 0.16) -> list[Piece]:
        pieces = [_space(before)] if before else []
        lines = self.lines(text, size, bold=True)
        lines[0].anchors = anchors
        for p in lines:
            p.keep_with_next = True
        pieces += lines + [_space(0.05)]
        pieces[-1].keep_with_next = True
        return pieces

    def paragraph(self, p: Paragraph) -> list[Piece]:
        size, colour = (NOTE, GREY_INK) if p.kind in ("note", "omitted") else (BODY, INK)
        return self.lines(p.text, size, colour=colour) + [_space(0.08)]

    def bullets(self, b: Bullets) -> list[Piece]:
        out = []
        for item in b.items:
            out += self.lines(item, BODY, indent=0.18, first="•") + [_space(0.03)]
        return out + [_space(0.05)]

    # tables
    def table(self, t: Table) -> list[Piece]:
        out: list[Piece] = []
        if t.title:
            out += self.heading(t.title, H2, [t.id] if t.id else [], before=0.1)
        for k, (cols, rows) in enumerate(self._column_groups(t)):
            if k:
                out.append(_space(0.08))
            out += self._table_pieces(cols, rows, t.highlight, t.id if not t.title and k == 0 else None)
        if t.note:
            out += [_space(0.04)] + self.lines(t.note, SMALL, colour=GREY_INK)
        return out + [_space(0.14)]

    def keyvalues(self, kv: KeyValues) -> list[Piece]:
        cols = [Column("", numeric=False), Column("", numeric=False)]
        t = Table(cols, [[k, v] for k, v in kv.pairs], title=kv.title, id=kv.id)
        return self.table(t)

    def _natural(self, cols: list[Column], rows: list[list[str]], size: float) -> list[float]:
        out = []
        for j, c in enumerate(cols):
            cells = max((typeset.width(r[j], size) for r in rows), default=0.0)
            words = max((typeset.width(w, size, True) for w in c.header.split()), default=0.0)
            out.append(max(cells, words) + 2 * CELL_PAD)
        return out

    def _column_groups(self, t: Table):
        """The table's columns in groups that fit the width (key columns repeated), with the
        font size: the table's size, or smaller down to the least size, before splitting."""
        cols, rows = t.columns, t.rows
        for size in (TABLE, 7.5, MIN_FONT):
            nat = self._natural(cols, rows, size)
            fixed = sum(w for w, c in zip(nat, cols) if c.numeric)
            if fixed + sum(min(w, 0.9) for w, c in zip(nat, cols) if not c.numeric) <= self.width:
                self._size = size
                return [(cols, rows)]
        self._size = MIN_FONT
        nat = self._natural(cols, rows, MIN_FONT)
        keys = list(range(t.key_columns))
        key_w = sum(nat[j] for j in keys)
        rest = list(range(t.key_columns, len(cols)))
        count = 1  # fewest groups that fit, then columns spread evenly over them
        while True:
            target = sum(nat[j] for j in rest) / count
            groups, current, used = [], [], 0.0
            for j in rest:
                if current and (used + nat[j] > self.width - key_w or used + nat[j] / 2 > target):
                    groups.append(current)
                    current, used = [], 0.0
                current.append(j)
                used += nat[j]
            groups.append(current)
            if len(groups) <= count or count >= len(rest):
                break
            count += 1
        return [([cols[j] for j in keys + g], [[r[j] for j in keys + g] for r in rows]) for g in groups]

    def _widths(self, cols, rows, size) -> list[float]:
        nat = self._natural(cols, rows, size)
        fixed = sum(w for w, c in zip(nat, cols) if c.numeric)
        flexible = [j for j, c in enumerate(cols) if not c.numeric]
        room = self.width - fixed
        widths = list(nat)
        if flexible and sum(nat[j] for j in flexible) > room:
            # text columns share the room: a short one keeps its width, the rest split what is left
            short = [j for j in flexible if nat[j] <= room / len(flexible)]
            long_ = [j for j in flexible if j not in short]
            left = room - sum(nat[j] for j in short)
            for j in long_:
                widths[j] = max(left * nat[j] / sum(nat[i] for i in long_), 0.6)
        return widths

    def _table_pieces(self, cols: list[Column], rows: list[list[str]], highlight: set[int], anchor: str | None):
        size = self._size
        widths = self._widths(cols, rows, size)
        total = sum(widths)
        lead = typeset.leading(size)
        x0 = self.left
        xs = [x0 + sum(widths[:j]) for j in range(len(cols))]
        has_header = any(c.header for c in cols)
        header: list[Piece] = []
        if has_header:
            heads = [typeset.wrap(c.header, size, widths[j] - 2 * CELL_PAD, True) if c.header else []
                     for j, c in enumerate(cols)]
            depth = max(len(h) for h in heads)
            h = depth * lead + 0.06

            def draw_head(y, h=h, depth=depth, heads=heads):
                items = [Rule(x0, x0 + total, y, 0.8)]
                for j, (c, lines) in enumerate(zip(cols, heads)):
                    for k, line in enumerate(lines):  # bottom-aligned
                        yy = y + 0.03 + (depth - len(lines) + k) * lead + 0.8 * lead
                        items.append(self._cell(xs[j], widths[j], yy, line, size, c.numeric, bold=True))
                items.append(Rule(x0, x0 + total, y + h, 0.5))
                return items

            header = [Piece(h, draw_head, keep_with_next=True, anchors=[anchor] if anchor else [])]
        body = []
        for i, row in enumerate(rows):
            cells = [typeset.wrap(v, size, widths[j] - 2 * CELL_PAD) if not c.numeric else [v]
                     for j, (c, v) in enumerate(zip(cols, row))]
            depth = max(len(c) for c in cells)
            h = depth * lead + 0.035

            def draw_row(y, cells=cells, h=h, i=i):  # bound now: the loop rebinds them
                items = [Box(x0, y, total, h, HIGHLIGHT)] if i in highlight else []
                for j, (c, lines) in enumerate(zip(cols, cells)):
                    for k, line in enumerate(lines):
                        items.append(self._cell(xs[j], widths[j], y + 0.0175 + k * lead + 0.8 * lead, line, size,
                                                c.numeric))
                return items

            body.append(Piece(h, draw_row, repeat=header))
        if not has_header and body:
            body[0].anchors = [anchor] if anchor else []
        last = body[-1] if body else None
        if last is not None:
            inner = last.draw
            last.draw = lambda y, inner=inner, h=last.height: inner(y) + [Rule(x0, x0 + total, y + h, 0.8)]
        return header + body

    @staticmethod
    def _cell(x: float, w: float, y: float, text: str, size: float, numeric: bool, bold: bool = False) -> Text:
        if numeric:
            return Text(x + w - CELL_PAD, y, text, size, bold, INK, "right")
        return Text(x + CELL_PAD, y, text, size, bold, INK)

    # figures
    def figure(self, b: FigureBlock) -> list[Piece]:
        r = b.result
        lo, pref, hi = canvas.heights(r.panels, self.size)
        cap = self.lines(f"Figure {b.number}: {r.title}", BODY, bold=True)
        cap += self.lines(r.caption, NOTE) + self.lines(r.provenance, SMALL, colour=GREY_INK)
        cap_h = sum(p.height for p in cap) + 0.08
        size = self.size

        def draw(y, h, cap=cap):
            items = [Slot(r, self.left, y, size.width, h - cap_h)]
            yy = y + h - cap_h + 0.08
            for p in cap:
                items += p.draw(yy)
                yy += p.height
            return items

        piece = Piece(pref + cap_h, None, flex=(lo + cap_h, hi + cap_h), anchors=[r.id])
        piece.draw = draw
        return [piece, _space(0.2)]

    def omitted(self, s: Section) -> list[Piece]:
        r = s.figure
        return (self.lines(f"{r.title}: not drawn", NOTE, bold=True, colour=GREY_INK)
                + self.lines(r.note or "", NOTE, colour=GREY_INK) + [_space(0.1)])

    def block(self, b) -> list[Piece]:
        if isinstance(b, Paragraph):
            return self.paragraph(b)
        if isinstance(b, Bullets):
            return self.bullets(b)
        if isinstance(b, Table):
            return self.table(b)
        if isinstance(b, KeyValues):
            return self.keyvalues(b)
        if isinstance(b, FigureBlock):
            return self.figure(b)
        raise TypeError(f"no typesetting for {type(b).__name__}")


# ----- pagination ---------------------------------------------------------------------------------------
@dataclass
class Entry:
    """A contents entry (and outline item)."""

    title: str
    anchor: str
    level: int  # 0: section, 1: figure
    page: int = 0
    y: float = 0.0


@dataclass
class Layout:
    pages: list[Page]
    entries: list[Entry]
    anchors: dict[str, tuple[int, float]]  # id -> (page index, y)
    size: Size  # the figures' size on these pages
    page_size: tuple[float, float]
    links: list[tuple[int, Link]]


def paginate(doc: Document, page_size: str = "letter") -> Layout:
    W, H = PAGE_SIZES[page_size]
    s = Setter(W - 2 * MARGIN, MARGIN)
    top, bottom = MARGIN, H - MARGIN
    body: list[Piece] = []
    entries: list[Entry] = []
    in_figures = figures_headed = False
    for sec in doc.sections:
        # the first run of figures gets the "Figures" heading; a later run (a section's own
        # figures, e.g. the metrics section's) stays under the section before it
        if sec.figure is not None and not in_figures and not figures_headed:
            figures_headed = True
            entries.append(Entry("Figures", "figures", 0))
            body += s.heading("Figures", H1, ["figures"], before=0.22)
        in_figures = sec.figure is not None
        if sec.figure is not None:
            if sec.figure.omitted:
                start = len(body)
                body += s.omitted(sec)
                body[start].anchors.append(sec.id)
                entries.append(Entry(f"{sec.title} (not drawn)", sec.id, 1))
                continue
            fb = next(b for b in sec.blocks if isinstance(b, FigureBlock))
            entries.append(Entry(f"Figure {fb.number}: {sec.title}", sec.id, 1))
            body += s.figure(fb)
            continue
        entries.append(Entry(sec.title, sec.id, 0))
        body += s.heading(sec.title, H1, [sec.id], before=0.22)
        for b in sec.blocks:
            body += s.block(b)
    # page 1: the title, the subtitle and the contents, then the body flows on
    front = s.lines(doc.title, TITLE, bold=True) + [_space(0.04)] + s.lines(doc.subtitle, BODY, colour=GREY_INK)
    front += [_space(0.12)] + s.heading("Contents", H1, ["contents"], before=0)
    contents_at = len(front)
    lead = typeset.leading(NOTE) * 1.12
    for e in entries:
        front.append(Piece(lead, lambda y: [], anchors=[]))
    front.append(_space(0.1))
    pages = _flow(front + body, top, bottom)
    anchors: dict[str, tuple[int, float]] = {}
    for k, page in enumerate(pages):
        for y, piece in page:
            for a in piece.anchors:
                anchors.setdefault(a, (k, y))
    out_pages, links = [], []
    for k, page in enumerate(pages):
        items = []
        for y, piece in page:
            items += piece.draw(y) if piece.flex is None else piece.draw(y, piece.height)
        out_pages.append(Page(items, k + 1))
    # the contents, now that pages are known
    slots = {id(p) for p in front[contents_at:contents_at + len(entries)]}
    entry_pieces = [(k, y, piece) for k, page in enumerate(pages) for y, piece in page if id(piece) in slots]
    for e, (k, y, piece) in zip(entries, entry_pieces):
        e.page, e.y = anchors.get(e.anchor, (0, 0.0))
        indent = 0.0 if e.level == 0 else 0.2
        x = MARGIN + indent
        base = y + 0.8 * lead
        colour = INK if e.level == 0 else "#0b4f9c"
        out_pages[k].items += [Text(x, base, e.title, NOTE, e.level == 0, colour),
                               Text(W - MARGIN, base, str(e.page + 1), NOTE, e.level == 0, colour, "right")]
        links.append((k, Link(x, y, W - MARGIN, y + lead, e.anchor)))
    total = len(out_pages)
    for page in out_pages:
        if page.number > 1:
            page.items.append(Text(MARGIN, MARGIN - 0.3, doc.title, SMALL, colour=GREY_INK))
        page.items.append(Text(W / 2, H - MARGIN + 0.4, f"{page.number} / {total}", SMALL, colour=GREY_INK,
                               align="center"))
    return Layout(out_pages, entries, anchors, s.size, (W, H), links)


def _flow(pieces: list[Piece], top: float, bottom: float) -> list[list[tuple[float, Piece]]]:
    """Place pieces on pages: [(y of each piece's top, piece)] per page."""
    height = bottom - top
    pages: list[list[Piece]] = [[]]
    used = 0.0
    i = 0
    started_table: set[int] = set()

    def new_page():
        nonlocal used
        _stretch(pages[-1], height, used)
        pages.append([])
        used = 0.0

    while i < len(pieces):
        p = pieces[i]
        room = height - used
        if p.space:
            if pages[-1] and p.height <= room:
                pages[-1].append(p)
                used += p.height
            i += 1
            continue
        short = pages[-1] and used < FILL_TARGET * height  # breaking here would leave the page short

        def least(q: Piece) -> float:
            if not q.flex:
                return q.height
            return SQUEEZE * q.flex[0] if short else q.flex[0]  # rather a shorter figure than a short page

        need = least(p)
        if p.flex and need < p.flex[0] and p.flex[0] > room >= need:
            p.flex = (need, p.flex[1])
        # keep a heading (or a table header) with what follows it
        j, chain = i, need
        while pieces[j].keep_with_next and j + 1 < len(pieces):
            j += 1
            nxt = pieces[j]
            chain += least(nxt)
            if nxt.flex and nxt.flex[0] > room - (chain - least(nxt)) >= least(nxt):
                nxt.flex = (least(nxt), nxt.flex[1])
        if pages[-1] and (need > room or chain > room and chain <= height):
            new_page()
            continue
        if p.repeat and not pages[-1] and id(p.repeat[0]) in started_table:
            for h in p.repeat:  # a table continued: its header again
                pages[-1].append(Piece(h.height, h.draw))
                used += h.height
            room = height - used
        if p.flex:
            p.height = min(max(p.flex[0], min(p.height, room)), p.flex[1], height)
        if p.repeat:
            started_table.add(id(p.repeat[0]))
        pages[-1].append(p)
        used += p.height
        i += 1
    _stretch(pages[-1], height, used, last=True)
    out = []
    for page in pages:
        while page and page[-1].space:
            page.pop()
        y, placed = top, []
        for p in page:
            placed.append((y, p))
            y += p.height
        out.append(placed)
    return [p for p in out if p]


def _stretch(page: list[Piece], height: float, used: float, last: bool = False) -> None:
    """A page that ends short before a break: grow its figures (within their most height)."""
    if last or used >= FILL_TARGET * height:
        return
    flex = [p for p in page if p.flex]
    room = FILL_TARGET * height - used
    for p in flex:
        grow = min(room, p.flex[1] - p.height)
        if grow > 0:
            p.height += grow
            room -= grow
