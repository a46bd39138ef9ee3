"""Reports as data (`Document` of sections and blocks), rendered to Markdown + self-contained
HTML, with matplotlib figures. Used by the eval stage and by the pipeline report."""

from __future__ import annotations

from seedtune.report.document import (
    Callout,
    Column,
    Details,
    Document,
    Figure,
    Paragraph,
    Section,
    SideBySide,
    Table,
    fmt_cell,
)
from seedtune.report.render import to_html, to_markdown, write_report

__all__ = [
    "Callout",
    "Column",
    "Details",
    "Document",
    "Figure",
    "Paragraph",
    "Section",
    "SideBySide",
    "Table",
    "fmt_cell",
    "to_html",
    "to_markdown",
    "write_report",
]
