"""The HTML report: well-formed, every section there by id, links that resolve, nothing
fetched from outside the file, user text escaped, and the summary numbers right."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from report_fixtures import built_reports  # noqa: F401 (the `built` fixture)

from energybench.report.plots import FIGURES

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SECTIONS = ["contents", "overview", "summary", *[fid for fid, _ in FIGURES], "metadata"]


class StrictParser(HTMLParser):
    """Checks nesting (every element closed, in order), unique ids, and collects links and text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: list[str] = []
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.sections: dict[str, str] = {}  # section id -> its text
        self.text: list[str] = []
        self.tags: dict[str, int] = {}
        self._section: str | None = None

    def _attrs(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name == "id":
                self.ids.append(value)
                if tag == "section":
                    self._section = value
                    self.sections[value] = ""
            if name in ("href", "src", "xlink:href", "action", "poster", "srcset"):
                self.links.append((tag, name, value or ""))

    def handle_starttag(self, tag, attrs):
        self._attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):  # <path .../> inside inline SVG
        self._attrs(tag, attrs)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()
        if tag == "section":
            self._section = None

    def handle_data(self, data):
        self.text.append(data)
        if self._section:
            self.sections[self._section] += data


def parse(text: str) -> StrictParser:
    p = StrictParser()
    p.feed(text)
    p.close()
    return p


@pytest.fixture(scope="module", params=["single", "single_power", "sweep", "sweep_power"])
def report(request, built):
    text = built(request.param, "html").read_text(encoding="utf-8")
    return request.param, text, parse(text)


def test_html_is_well_formed_with_unique_ids(report):
    _, text, p = report
    assert text.startswith("<!DOCTYPE html>")
    assert p.errors == [] and p.stack == []
    assert len(p.ids) == len(set(p.ids)), sorted({i for i in p.ids if p.ids.count(i) > 1})


def test_every_section_is_there_and_every_link_resolves(report):
    _, _, p = report
    for sid in SECTIONS:
        assert sid in p.ids, sid
    assert set(SECTIONS) - {"contents"} <= set(p.sections)
    toc = [v for tag, name, v in p.links if tag == "a" and v.startswith("#")]
    assert {f"#{s}" for s in SECTIONS if s != "contents"} <= set(toc)
    for tag, name, value in p.links:
        if value.startswith("#"):
            assert value[1:] in p.ids, (tag, name, value)


def test_nothing_is_fetched_from_outside_the_file(report):
    _, text, p = report
    assert "http://" not in text and "https://" not in text
    for tag, name, value in p.links:
        assert value.startswith(("#", "data:image/png;base64,")), (tag, name, value[:60])
    assert not re.search(r"url\((?!#)", text), "CSS/SVG url() other than a fragment"
    assert "@import" not in text and "@font-face" not in text
    assert p.tags.get("script", 0) == 0 and p.tags.get("link", 0) == 0 and p.tags.get("iframe", 0) == 0


def test_user_text_is_escaped(report):
    _, text, p = report
    assert "Ankle &lt;boot&gt; &amp; co" in text  # a class name, in the class order
    assert "<boot>" not in text.replace("&lt;boot&gt;", "")
    assert "Ankle <boot> & co" in p.sections["metadata"]


def test_drawn_figures_are_inline_svg_and_omitted_ones_say_why(report):
    kind, text, p = report
    drawn = {"single": {"phase-accuracy", "energy-breakdown", "energy-by-level", "confusion"}}
    drawn["single_power"] = drawn["single"] | {"power-trace", "modelled-vs-measured"}
    everything = {fid for fid, _ in FIGURES} - {"energy-vs-latency"}  # the factory's per-layer buffer: no latency
    drawn["sweep"] = everything - {"power-trace", "modelled-vs-measured"}
    drawn["sweep_power"] = everything
    for fid in everything | {"energy-vs-latency"}:
        body = text.split(f'<section id="{fid}">', 1)[1].split("</section>", 1)[0]
        if fid in drawn[kind]:
            assert body.count("<svg ") == 1 and "Omitted:" not in body, fid
            # and it says where its numbers come from
            assert re.search(r'<p class="provenance">(Counted|Modelled|Measured): ', body), fid
        else:
            assert "<svg" not in body and body.count('class="omitted">Omitted: ') == 1, fid
    assert p.tags.get("svg", 0) == len(drawn[kind])


def test_summary_numbers_by_hand(built):
    text = built("sweep_power", "html").read_text(encoding="utf-8")
    p = parse(text)
    summary = text.split('<section id="summary">', 1)[1].split("</section>", 1)[0]
    lucir = summary.split(">lucir</h3>", 1)[1].split("</table>", 1)[0]
    heads = re.findall(r"<th [^>]*>(.*?)</th>", lucir)
    assert heads[:6] == ["sharing (%)", "achieved (%)", "final acc. (%)", "avg. inc. acc. (%)", "train MACs (M)",
                         "compute energy (µJ)"]
    assert heads[10:12] == ["element-wise energy (J)", "total energy (µJ)"]  # the factory records no element-wise work
    assert heads[14:17] == ["storage (MB)", "storage (×\u00a0s0)", "measured energy above idle (J)"]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", lucir)]
    row = next(r for r in rows if r and r[0] == "40")
    assert re.findall(r'<td class="(\w+)">', lucir)[:3] == ["num", "num", "num"]  # numbers right-aligned
    # final accuracy: 75 - 30 * 0.4**3 = 73.08 (seed 0) and 73.58 (seed 1): mean 73.33, std 0.25
    assert row[2] == "73.33 ± 0.25"
    # compute energy: 2 phases x 10 iters x ((2e6 * 1.5 + 4e6 * 0.6) MACs x 4.6 pJ + 6e4 updates x 2.3 pJ)
    # = 20 x 24.978 uJ = 499.56 uJ; the column's largest value (649 uJ) has 3 digits: no decimals
    assert row[5] == "500"
    # per iteration vs sharing 0: (5.4e6 * 4.6 + 6e4 * 2.3) / (7e6 * 4.6 + 1e5 * 2.3) = 0.7702
    assert row[6] == "0.770"
    # storage 1e6 * (1 - 0.9 * 0.4) bytes, in MB like the column's largest (1.00 MB)
    assert row[10] == "—"  # not recorded, not zero
    assert row[11] == "740"  # compute 499.56 + memory 20 x 3e6 x 0.8 x 5 pJ = 240: 739.56 µJ
    assert row[14] == "0.64" and row[15] == "0.640"
    # measured energy above idle: 2 phases x (0.2 * 10 * (1 - 0.4 / 3) J - 5 W x 0.02 * 10 * (1 - 0.4 / 2) s)
    # = 1.8667 J, in J like the column's largest (2 J at sharing 0)
    assert row[16] == "1.87"
    assert "measured energy above idle (J)" in summary.split(">lucir</h3>", 1)[1].split("</thead>", 1)[0]
    assert row[17] == "seeds 0, 1"  # which seeds, not how many
    optimal = re.findall(r'<tr class="optimal"[^>]*><td[^>]*>(.*?)</td>', lucir)
    # 0.4 loses 30 * 0.4**3 = 1.92 pp > 1 pp; 0.2 loses 0.24 pp, + one standard error over the two seeds
    # (final accuracies 0.5 apart at every level: sqrt(0.125 / 2 + 0.125 / 2) = 0.354) = 0.594 pp <= 1
    assert optimal == ["20"]
    assert "lucir: optimal sharing 20% (achieved 20.0%)" in p.sections["overview"]


def test_metadata_names_versions_device_order_and_energy_sources(built):
    p = parse(built("sweep_power", "html").read_text(encoding="utf-8"))
    meta = p.sections["metadata"]
    for needle in ("0123456789abcdef0123456789abcdef01234567", "torch 2.14.1", "x86_64 CPU, 1 thread",
                   "Horowitz, Computing's energy problem, ISSCC 2014", "rapl-counter", "seed 0", "seed 1",
                   "/usr/share/datasets/fashion-mnist", "resnet20"):
        assert needle in meta, needle


def test_modelled_vs_measured_table_by_hand(built):
    text = built("sweep_power", "html").read_text(encoding="utf-8")
    figure = text.split('<section id="modelled-vs-measured">', 1)[1].split("</section>", 1)[0]
    assert "<svg " in figure and "J measured per modelled J" in figure and "above the idle baseline" in figure
    assert "Modelled vs measured savings&#39; under Summary tables" in figure  # where the table is
    # the table, after the summary tables
    summary = text.split('<section id="summary">', 1)[1].split("</section>", 1)[0]
    section = summary.split('>Modelled vs measured savings</h3>', 1)[1]
    heads = re.findall(r"<th [^>]*>(.*?)</th>", section)
    assert heads == ["method", "sharing (%)", "modelled energy (µJ)", "measured energy above idle (J)",
                     "modelled saving (×)", "measured saving (×)"]
    rows = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr[^>]*>(.*?)</tr>", section)]
    lucir = {r[1]: r for r in rows if r and r[0] == "lucir"}
    assert list(lucir) == ["0", "20", "40", "60", "80", "90", "95"]
    # sharing 0.4 (achieved 0.4), rundir_factory's cost model: modelled 4.743e-4 / 3.6978e-4 J per phase,
    # measured above idle 1 / 0.9333 J per phase
    assert lucir["40"][4:] == ["1.283", "1.071"]
    assert lucir["0"][4:] == ["1.000", "1.000"]
    assert "J measured per modelled J" in section and "above idle: measured energy minus the idle baseline" in section
