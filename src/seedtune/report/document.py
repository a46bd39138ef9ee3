"""A report as plain data: a title and sections of blocks, rendered to Markdown and to HTML.

Stages describe *what* to show (a table, a figure, a warning, answers side by side); the renderers
decide how it looks. So the eval report and the pipeline report share one look and one writer,
and a test can inspect a report's content without parsing HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union


@dataclass
class Paragraph:
    text: str  # Markdown-light: **bold** and `code` are rendered in HTML too


@dataclass
class Callout:
    text: str
    kind: Literal["info", "warning", "success"] = "info"
    title: str = ""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[object]]  # cells: str, int, float (formatted with `digits`), None (blank)
    caption: str = ""
    digits: int = 3
    # Optional per-cell tone for HTML colouring, same shape as rows: "good", "bad", "muted" or "".
    tones: list[list[str]] | None = None


@dataclass
class Figure:
    name: str  # file stem, e.g. "categories_zero" -> figures/categories_zero.png beside report.md
    png: bytes
    caption: str = ""


@dataclass
class Column:
    label: str
    text: str
    note: str = ""  # e.g. "ROUGE-L 0.82"
    tone: str = ""


@dataclass
class SideBySide:
    """One question with several answers next to each other (reference, model A, model B...)."""

    title: str
    question: str
    columns: list[Column]
    note: str = ""


@dataclass
class Details:
    """A collapsible block (HTML <details>), e.g. the full prompt; Markdown shows it fenced."""

    summary: str
    text: str


Block = Union[Paragraph, Callout, Table, Figure, SideBySide, Details]


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> "Section":
        self.blocks.extend(blocks)
        return self


@dataclass
class Document:
    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str) -> Section:
        sec = Section(title)
        self.sections.append(sec)
        return sec

    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]


def fmt_cell(value: object, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        return f"{value:.{digits}f}"
    return str(value)
