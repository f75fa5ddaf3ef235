"""A campaign report as a list of blocks, rendered to Markdown and to one self-contained HTML page.

Both renderings come from the same blocks, so they carry the same content: the
Markdown links its PNGs next to it, the HTML embeds them as ``data:`` URIs and needs
no other file. The HTML page records, once loaded, how many of its images decoded
(``<body data-images="N" data-images-loaded="M">``), for a headless browser to check.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Figure", "Heading", "Paragraph", "Table", "to_html", "to_markdown"]


@dataclass(frozen=True)
class Heading:
    """A section title (``level`` 1 is the page's title)."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Plain text."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table with a header row; ``name`` becomes the HTML table's id."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    name: str = ""


@dataclass(frozen=True)
class Figure:
    """A PNG in the report directory, with the sentence that says how to read it."""

    file: str
    alt: str
    caption: str = ""


Block = Heading | Paragraph | Table | Figure


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    """str: The blocks as Markdown (figures as links to their PNGs)."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines.append("#" * block.level + " " + block.text)
        elif isinstance(block, Paragraph):
            lines.append(block.text)
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_cell(h) for h in block.header) + " |")
            lines.append("|" + "---|" * len(block.header))
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
        else:
            lines.append(f"![{block.alt}]({block.file})")
            if block.caption:
                lines += ["", f"*{block.caption}*"]
        lines.append("")
    return "\n".join(lines)


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; font-family: monospace; }
figure { display: inline-block; vertical-align: top; margin: 1rem 1.5rem 1rem 0; max-width: 100%; }
figure img { max-width: 100%; }
figcaption { font-size: 0.9rem; color: #555; max-width: 36rem; }
"""

# Counts the images that decoded, for a headless browser (``chromium --dump-dom``) to read back.
_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  document.body.dataset.images = images.length;
  document.body.dataset.imagesLoaded = images.filter(function (i) {
    return i.complete && i.naturalWidth > 0;
  }).length;
});
"""


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def to_html(blocks: list[Block], directory: Path, title: str) -> str:
    """str: The blocks as one HTML page, the PNGs (read from ``directory``) embedded in it."""
    esc = html.escape
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Table):
            ident = f' id="{esc(block.name)}"' if block.name else ""
            head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
            rows = "\n".join(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in block.rows
            )
            body.append(
                f"<table{ident}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>"
            )
        else:
            caption = f"<figcaption>{esc(block.caption)}</figcaption>" if block.caption else ""
            body.append(
                f'<figure><img src="{_data_uri(directory / block.file)}" alt="{esc(block.alt)}">'
                f"{caption}</figure>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{_STYLE}</style>\n<script>{_SCRIPT}</script>\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
