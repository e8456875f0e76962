"""Render a report, built as a list of blocks, to Markdown or to one self-contained HTML page.

A block is ``("h1" | "h2" | "h3" | "p", text)``, ``("list", items)``,
``("table", head, rows)`` or ``("img", relative_path, alt)``.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

Block = tuple


def render_markdown(blocks: list[Block]) -> str:
    """The blocks as GitHub-flavoured Markdown."""
    out: list[str] = []
    for block in blocks:
        match block:
            case ("h1" | "h2" | "h3" as level, text):
                out.append(f"{'#' * int(level[1])} {text}")
            case ("p", text):
                out.append(text)
            case ("list", items):
                out.append("\n".join(f"- {i}" for i in items))
            case ("table", head, rows):
                lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                lines += ["| " + " | ".join(r) + " |" for r in rows]
                out.append("\n".join(lines))
            case ("img", path, alt):
                out.append(f"![{alt}]({path})")
            case _:
                raise ValueError(f"unknown report block {block[0]!r}")
    return "\n\n".join(out) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1500px;margin:2em auto;padding:0 1em;"
    "color:#222}.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:12px;"
    "margin:1em 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;"
    "white-space:nowrap}th{background:#f3f3f3}"
    "img{max-width:100%;display:block;margin:1em 0}"
)


def render_html(blocks: list[Block], root: Path) -> str:
    """The blocks as one self-contained HTML page (figures embedded as data URIs)."""
    e = html.escape
    body: list[str] = []
    for block in blocks:
        match block:
            case ("h1" | "h2" | "h3" as level, text):
                body.append(f"<{level}>{e(text)}</{level}>")
            case ("p", text):
                body.append(f"<p>{e(text)}</p>")
            case ("list", items):
                body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
            case ("table", head, rows):
                th = "".join(f"<th>{e(h)}</th>" for h in head)
                trs = "".join(
                    "<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows
                )
                body.append(f'<div class="scroll"><table><tr>{th}</tr>{trs}</table></div>')
            case ("img", path, alt):
                data = base64.b64encode((root / path).read_bytes()).decode()
                body.append(f'<img alt="{e(alt)}" src="data:image/png;base64,{data}">')
            case _:
                raise ValueError(f"unknown report block {block[0]!r}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>parley report</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
