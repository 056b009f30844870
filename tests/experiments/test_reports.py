"""The encoding report says what it shows: its sentences, tables and figure captions are
checked against the metrics.json of the same run (the motor report's are in test_motor.py),
and every figure it names is embedded as a PNG."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.experiments.test_encoding import TINY, compose_and_run


class ReportPage(HTMLParser):
    """The report's paragraphs, headings, tables (rows of cell texts) and figures."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.headings: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.figures: list[tuple[str, str]] = []  # (caption, img src)
        self._tag, self._buf, self._src = None, "", ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag == "img":
            self._src = dict(attrs)["src"]
        if tag in ("p", "h2", "td", "th", "figcaption"):
            self._tag, self._buf = tag, ""

    def handle_data(self, data: str) -> None:
        if self._tag:
            self._buf += data

    def handle_endtag(self, tag: str) -> None:
        if tag != self._tag:
            return
        {"p": self.texts, "h2": self.headings}.get(tag, []).append(self._buf)
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._buf)
        if tag == "figcaption":
            self.figures.append((self._buf, self._src))
        self._tag = None

    def table_with(self, column: str) -> list[list[str]]:
        return next(t for t in self.tables if t and column in t[0])


@pytest.fixture(scope="module")
def encoding_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportPage, dict, Path]:
    out = tmp_path_factory.mktemp("report")
    metrics = compose_and_run(TINY, out)[1]
    assert json.loads((out / "metrics.json").read_text()) == metrics
    return ReportPage((out / "report.html").read_text()), metrics, out


def _f(v: float | None) -> str:
    return "-" if v is None else format(v, ".3f")


def test_the_encoding_report_says_what_the_metrics_say(encoding_run: tuple[ReportPage, dict, Path]) -> None:
    page, m, _ = encoding_run
    c = m["ceiling"]
    assert c["normalises"] == "cross_subject"  # 3 subjects: the auto rule
    assert page.texts[0].startswith(f"{m['subjects']} subjects, {m['voxels']} voxels, {m['n_repeats']} test")
    assert any(t.startswith(f"Normalised by the cross-subject ceiling ({c['why']}).") for t in page.texts)
    assert f"No voxel kept in: {', '.join(c['no_voxels_kept']) or 'none'}." in " ".join(page.texts)
    counts = page.table_with("ceiling not significant")
    assert [row[0] for row in counts[1:]] == m["regions"]
    for row in counts[1:]:
        v = c["voxels"][row[0]]
        assert row[1:] == [str(v["total"])] + ["/".join(map(str, v[k])) for k in
                                               ("bad", "not_significant", "below_min_ceiling", "keep")]
    spaces = list(m["spaces"])
    heading = "Best layer per region (by training CV, kept voxels): normalised alignment and depth"
    assert heading in page.headings
    best = page.table_with(f"{spaces[0]}: normalised alignment [95 % CI]")
    for row in best[1:]:
        expect = []
        for s in spaces:
            value, ci = m["spaces"][s]["best_layer_alignment"][row[0]], m["spaces"][s]["best_layer_alignment_ci95"][row[0]]
            expect.append(_f(value) + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if value is not None and ci else ""))
        expect += [_f(m["spaces"][s]["best_layer_alignment_per_voxel"][row[0]]) for s in spaces]
        expect += [_f(m["spaces"][s]["best_layer_depth"][row[0]]) for s in spaces]
        assert row[1:] == [e.replace("nan", "NaN") for e in expect], row
    layers = page.table_with("mean test r")
    rows = {(r[0], r[1]): r[2:] for r in layers[1:]}
    for s in spaces:
        for layer, v in m["spaces"][s]["layers"].items():
            assert rows[(s, layer)] == [_f(v["mean_r"]), _f(v["mean_cv_score"]), _f(v["significant_voxels"])]


def test_the_comparison_and_partition_sections_follow_the_metrics(encoding_run: tuple[ReportPage, dict, Path]) -> None:
    page, m, _ = encoding_run
    cmp_ = m["comparison"]
    a, b = cmp_["spaces"]
    text = next(t for t in page.texts if t.startswith(cmp_["test"]))
    assert f"{a} - {b}; {cmp_['fdr']} ({cmp_['n_tests']} regions), a verdict only where q <= {cmp_['alpha']}" in text
    assert f"the smallest attainable p-value with these subjects is {cmp_['min_attainable_pvalue']}." in text
    assert (f"Warning: {cmp_['warning']}." in text) == (cmp_["warning"] is not None)
    table = page.table_with("min attainable p")
    assert table[0] == ["region", "mean difference", "95 % CI", "p", "q (BH)", "min attainable p", "subjects",
                        "verdict", "why"]
    for row in table[1:]:
        v = cmp_["per_region"][row[0]]
        assert row[1:] == (["-"] * 7 + ["fewer than 2 subjects with kept voxels in both spaces"] if v is None else
                           [_f(v["mean_difference"]), f"[{v['ci95'][0]:.3g}, {v['ci95'][1]:.3g}]", _f(v["pvalue"]),
                            _f(v["qvalue"]), _f(v["min_pvalue"]), str(v["n_subjects"]), v["verdict"], v["why"]])
        if v is not None:  # <= 3 subjects (TINY) keep voxels: nothing can be claimed, and the table says why
            assert v["verdict"] == "inconclusive" and f"{v['n_subjects']} subjects cannot give p <= " in v["why"]
    vp = m["variance_partition"]
    table = page.table_with(f"unique_{a}") if any(f"unique_{a}" in t[0] for t in page.tables if t) else None
    assert table is not None, [t[0] for t in page.tables if t]
    keys = table[0][1:]
    for row in table[1:]:
        assert row[1:] == [_f(vp[k][row[0]]).replace("nan", "NaN") for k in keys]


def test_every_figure_is_embedded_and_named(encoding_run: tuple[ReportPage, dict, Path]) -> None:
    page, m, out = encoding_run
    captions = [c for c, _ in page.figures]
    assert "mean test r by layer and region" in captions
    assert (f"best-layer normalised alignment; * where the difference is significant after FDR (exact sign-flip "
            f"test across subjects, BH over the regions, q <= {m['comparison']['alpha']})") in captions
    assert any(c.startswith("unique and shared test R^2 (negative parts drawn as 0") for c in captions)
    for caption, src in page.figures:
        assert src.startswith("data:image/png;base64,"), caption
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000, caption
    assert len(page.figures) >= len(list(out.glob("*.png"))) - 2  # the report embeds the figures it wrote
