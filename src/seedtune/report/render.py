"""Render a `Document` as Markdown (figures as PNG files beside it) and as one self-contained
HTML file (inline CSS, figures embedded as base64 PNG), and write both atomically."""

from __future__ import annotations

import base64
import html
import re
from importlib import resources
from pathlib import Path

from seedtune.io import atomic_writer, write_text
from seedtune.report.document import Callout, Details, Document, Figure, Paragraph, SideBySide, Table, fmt_cell

FIGURE_DIR = "figures"


# -- Markdown ---------------------------------------------------------------------------------

def to_markdown(doc: Document) -> str:
    out = [f"# {doc.title}", ""]
    if doc.subtitle:
        out += [doc.subtitle, ""]
    for sec in doc.sections:
        out += [f"## {sec.title}", ""]
        for block in sec.blocks:
            out += _md_block(block) + [""]
    return "\n".join(out).rstrip() + "\n"


def _md_cell(value: object, digits: int) -> str:
    return fmt_cell(value, digits).replace("|", "\\|").replace("\n", " ")


def _md_block(block: object) -> list[str]:
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, Callout):
        icon = {"warning": "⚠️ ", "success": "✅ ", "info": ""}[block.kind]
        head = f"**{icon}{block.title}** " if block.title else icon
        return [f"> {head}{line}" if i == 0 else f"> {line}" for i, line in enumerate(block.text.splitlines() or [""])]
    if isinstance(block, Table):
        lines = ["| " + " | ".join(block.headers) + " |", "|" + "|".join("---" for _ in block.headers) + "|"]
        lines += ["| " + " | ".join(_md_cell(c, block.digits) for c in row) + " |" for row in block.rows]
        return ([f"*{block.caption}*", ""] if block.caption else []) + lines
    if isinstance(block, Figure):
        return [f"![{block.caption or block.name}]({FIGURE_DIR}/{block.name}.png)"] + ([f"*{block.caption}*"] if block.caption else [])
    if isinstance(block, SideBySide):
        lines = [f"### {block.title}", "", _fence(block.question)]
        for col in block.columns:
            note = f" ({col.note})" if col.note else ""
            lines += ["", f"**{col.label}**{note}", "", _fence(col.text or "(empty)")]
        if block.note:
            lines += ["", f"*{block.note}*"]
        return lines
    if isinstance(block, Details):
        return [f"<details><summary>{html.escape(block.summary)}</summary>", "", _fence(block.text), "", "</details>"]
    raise TypeError(f"unknown block {type(block).__name__}")


def _fence(text: str) -> str:
    ticks = "```" if "```" not in text else "````"
    return f"{ticks}text\n{text}\n{ticks}"


# -- HTML -------------------------------------------------------------------------------------

def _css() -> str:
    return resources.files("seedtune.report").joinpath("report.css").read_text(encoding="utf-8")


def _inline(text: str) -> str:
    """Escape, then the two bits of Markdown we use in prose: **bold** and `code`."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def to_html(doc: Document) -> str:
    toc = "".join(f'<a href="#s{i}">{html.escape(s.title)}</a>' for i, s in enumerate(doc.sections))
    body = []
    for i, sec in enumerate(doc.sections):
        body.append(f'<section id="s{i}"><h2>{html.escape(sec.title)}</h2>')
        body += [_html_block(b) for b in sec.blocks]
        body.append("</section>")
    subtitle = f'<p class="subtitle">{_inline(doc.subtitle)}</p>' if doc.subtitle else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(doc.title)}</title><style>{_css()}</style></head><body>"
        f"<header><h1>{html.escape(doc.title)}</h1>{subtitle}<nav>{toc}</nav></header><main>"
        + "\n".join(body) + "</main></body></html>\n"
    )


def _html_block(block: object) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Callout):
        title = f"<strong>{html.escape(block.title)}</strong> " if block.title else ""
        text = "<br>".join(_inline(line) for line in block.text.splitlines())
        return f'<div class="callout {block.kind}">{title}{text}</div>'
    if isinstance(block, Table):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in block.headers)
        rows = []
        for r, row in enumerate(block.rows):
            cells = []
            for c, value in enumerate(row):
                tone = block.tones[r][c] if block.tones and r < len(block.tones) and c < len(block.tones[r]) else ""
                cls = " ".join(x for x in (tone, "num" if isinstance(value, (int, float)) and not isinstance(value, bool) else "") if x)
                cells.append(f'<td class="{cls}">' if cls else "<td>")
                cells[-1] += html.escape(fmt_cell(value, block.digits)) + "</td>"
            rows.append("<tr>" + "".join(cells) + "</tr>")
        caption = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
        return f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
    if isinstance(block, Figure):
        data = base64.b64encode(block.png).decode("ascii")
        caption = f"<figcaption>{_inline(block.caption)}</figcaption>" if block.caption else ""
        return f'<figure><img alt="{html.escape(block.caption or block.name)}" src="data:image/png;base64,{data}">{caption}</figure>'
    if isinstance(block, SideBySide):
        cols = "".join(
            f'<div class="answer {html.escape(c.tone)}"><div class="label">{html.escape(c.label)}'
            + (f'<span class="note">{html.escape(c.note)}</span>' if c.note else "")
            + f'</div><pre>{html.escape(c.text or "(empty)")}</pre></div>'
            for c in block.columns)
        note = f'<p class="muted">{_inline(block.note)}</p>' if block.note else ""
        return (f'<div class="example"><h3>{html.escape(block.title)}</h3><pre class="question">{html.escape(block.question)}</pre>'
                f'<div class="answers" style="--cols:{len(block.columns)}">{cols}</div>{note}</div>')
    if isinstance(block, Details):
        return f"<details><summary>{html.escape(block.summary)}</summary><pre>{html.escape(block.text)}</pre></details>"
    raise TypeError(f"unknown block {type(block).__name__}")


def write_report(doc: Document, directory: str | Path, name: str = "report") -> dict[str, Path]:
    """Write `<name>.md` (+ figures/*.png) and a self-contained `<name>.html` into `directory`."""
    directory = Path(directory)
    for fig in doc.figures():
        with atomic_writer(directory / FIGURE_DIR / f"{fig.name}.png", "wb") as handle:
            handle.write(fig.png)
    md, page = directory / f"{name}.md", directory / f"{name}.html"
    write_text(md, to_markdown(doc))
    write_text(page, to_html(doc))
    return {"markdown": md, "html": page}
