"""HTML assembly of the run report: small builders that escape every piece of text they get.

Convention: a parameter named `text`/`title`/`caption`/... is plain text and gets escaped;
a parameter ending in `_html` is a fragment built by this module. Model answers, questions and
file contents are untrusted text, so they only ever enter through an escaping builder.
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Records each image's naturalWidth on the element once the page has loaded, so a headless
# browser's --dump-dom shows whether every picture really decoded.
_IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var bad = 0;
  document.querySelectorAll("img").forEach(function (img) {
    img.setAttribute("data-natural-width", String(img.naturalWidth));
    if (!img.naturalWidth) { bad += 1; }
  });
  document.body.setAttribute("data-broken-images", String(bad));
});
</script>"""

_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; line-height: 1.4; }
h1 { margin-bottom: 4px; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
.meta { color: #555; font-size: 14px; }
nav a { margin-right: 14px; font-size: 14px; }
figure { margin: 12px 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 10px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
.na { color: #8a5a00; background: #fff6e0; padding: 6px 10px; border-left: 3px solid #e0a800; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 16px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px; display: flex; gap: 10px; align-items: flex-start; }
.card img { image-rendering: pixelated; width: 144px; height: auto; flex: none; }
.card > div { min-width: 0; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
.card p { margin: 2px 0 6px; font-size: 13px; }
.label { font-weight: 600; color: #444; }
mark { background: #ffb3b3; padding: 0 2px; } mark.repeat { background: #ffe08a; }
pre { background: #f7f7f7; padding: 8px; overflow-x: auto; font-size: 12px; }
</style>"""


def esc(text: object) -> str:
    """Escaped text (quotes too, so it is safe inside attributes)."""
    return html.escape(str(text), quote=True)


def not_available(reason: str) -> str:
    """The placeholder a section shows when its data is missing or unreadable."""
    return f'<p class="na">not available: {esc(reason)}</p>'


def figure(src: str, caption: str, alt: str | None = None) -> str:
    """An <img> of a file next to report.html (src is a relative file name)."""
    if not src or "/" in src or "\\" in src or src.startswith("."):
        raise ValueError(f"figure: src must be a plain file name next to report.html, got {src!r}")
    return (f'<figure><img src="{esc(src)}" alt="{esc(alt or caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def cell(value: object, percent: bool = False) -> str:
    """A table cell's text: floats rounded (or as %), None as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    if isinstance(value, float):
        if percent:
            return f"{value:.1%}"
        return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain table; every cell is text (format numbers with `cell` first)."""
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"table: row {i} has {len(row)} cells for {len(header)} columns")
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def preformatted(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def marked(text: str, spans: Sequence[tuple[int, int, str]]) -> str:
    """Escaped text with each (start, end, css class) span wrapped in <mark>; spans must not overlap.

    Class "" is a plain <mark> (a hallucinated object); "repeat" marks a repeated mention.
    """
    out, pos = [], 0
    for i, (start, end, css) in enumerate(sorted(spans)):
        if not 0 <= start < end <= len(text) or start < pos:
            raise ValueError(f"marked: span {i} ({start}, {end}) is out of range or overlaps the previous one")
        attr = f' class="{esc(css)}"' if css else ""
        out += [esc(text[pos:start]), f"<mark{attr}>", esc(text[start:end]), "</mark>"]
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


@dataclass
class GalleryItem:
    """One eval image with its question, ground truth and each model's (already marked) answer."""

    image_src: str
    question: str
    objects: list[str]
    answers_html: list[tuple[str, str]] = field(default_factory=list)  # (model label, fragment)


def gallery(items: Sequence[GalleryItem]) -> str:
    cards = []
    for item in items:
        answers = "".join(f'<p><span class="label">{esc(label)}:</span> {fragment}</p>'
                          for label, fragment in item.answers_html)
        truth = ", ".join(item.objects) if item.objects else "(none)"
        cards.append(
            f'<div class="card"><img src="{esc(item.image_src)}" alt="eval image">'
            f'<div><p><span class="label">Q:</span> {esc(item.question)}</p>'
            f'<p><span class="label">in the image:</span> {esc(truth)}</p>{answers}</div></div>')
    return f'<div class="gallery">{"".join(cards)}</div>'


def section(anchor: str, title: str, body_html: str) -> str:
    if not anchor.replace("-", "").isalnum():
        raise ValueError(f"section: anchor must be letters, digits and '-', got {anchor!r}")
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body_html}</section>'


def page(title: str, meta: Sequence[str], sections: Sequence[tuple[str, str, str]]) -> str:
    """The whole document: sections are (anchor, title, body_html)."""
    nav = "".join(f'<a href="#{anchor}">{esc(name)}</a>' for anchor, name, _ in sections)
    body = "".join(section(anchor, name, body_html) for anchor, name, body_html in sections)
    lines = "".join(f'<div class="meta">{esc(m)}</div>' for m in meta)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
            f"{_STYLE}</head><body><h1>{esc(title)}</h1>{lines}<nav>{nav}</nav>{body}{_IMAGE_CHECK}</body></html>\n")


def write_page(path: str | Path, document: str) -> Path:
    """Write atomically, so a browser or a re-run never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(document, encoding="utf-8")
    tmp.replace(path)
    return path
