"""The report package: Document -> Markdown + self-contained HTML, figures, atomic files."""

from __future__ import annotations

from seedtune.report import Callout, Column, Details, Document, Figure, Paragraph, SideBySide, Table, to_html, to_markdown, write_report
from seedtune.report.figures import delta_bars, grouped_bars


def _doc() -> Document:
    doc = Document("Eval <report>", "subtitle with `code`")
    sec = doc.section("Summary")
    sec.add(Paragraph("Tuned is **better**."), Callout("task x leaked", "warning", "Contamination."),
            Table(["model", "score"], [["a|b", 0.12345], ["c", None]], caption="overall", tones=[["", "good"], ["", ""]]))
    png = grouped_bars(["translation", "math"], {"A": [0.2, 0.5], "B": [0.6, None]},
                       errors={"A": [(0.1, 0.3), None], "B": [(0.5, 0.7), None]}, title="t")
    sec.add(Figure("cats", png, "per category"))
    doc.section("Examples").add(
        SideBySide("Translation", "Translate to French: 我喜欢吃苹果。",
                   [Column("Reference", "J'aime manger des pommes."), Column("B", "<script>alert(1)</script>", "BLEU 0.1", "bad")]),
        Details("prompt", "### Instruction:\nx"))
    return doc


def test_figures_are_pngs():
    assert grouped_bars(["a"], {"x": [0.5]})[:4] == b"\x89PNG"
    assert delta_bars(["a", "b"], [0.1, -0.2], cis=[(0.0, 0.2), (-0.3, -0.1)])[:4] == b"\x89PNG"


def test_markdown():
    md = to_markdown(_doc())
    assert md.startswith("# Eval <report>\n") and "## Summary" in md and "## Examples" in md
    assert "| a\\|b | 0.123 |" in md and "| c |  |" in md
    assert "![per category](figures/cats.png)" in md and "> **⚠️ Contamination.** task x leaked" in md
    assert "我喜欢吃苹果" in md and "**B** (BLEU 0.1)" in md and "<details><summary>prompt</summary>" in md


def test_html_is_self_contained_and_escaped():
    page = to_html(_doc())
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and ":root" in page
    assert "data:image/png;base64,iVBOR" in page and "src=\"figures/" not in page
    assert "<script>" not in page and "&lt;script&gt;" in page and "Eval &lt;report&gt;" in page
    assert '<td class="good num">0.123</td>' in page and "<strong>better</strong>" in page
    assert 'class="callout warning"' in page and '--cols:2' in page and 'href="#s1"' in page


def test_write_report_writes_md_html_and_pngs(tmp_path):
    paths = write_report(_doc(), tmp_path / "r", "report")
    assert paths["markdown"].read_text().startswith("# Eval") and paths["html"].exists()
    assert (tmp_path / "r" / "figures" / "cats.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in (tmp_path / "r").rglob("*.tmp")]
