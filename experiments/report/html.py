"""Self-contained HTML reports: tables and PNG figures embedded as base64."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.io import atomic_path

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figcaption{font-size:.9em;color:#555}img{max-width:100%}
.note{color:#555;font-size:.9em}
"""


@dataclass
class Report:
    """An HTML report built section by section; ``write`` saves it atomically."""

    title: str
    parts: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")

    def text(self, text: str) -> None:
        self.parts.append(f"<p class='note'>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[Any]], fmt: str = ".3f") -> None:
        def cell(v: Any) -> str:
            if isinstance(v, float):
                return "NaN" if v != v else format(v, fmt)
            return html.escape(str(v))

        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
        self.parts.append(f"<table><tr>{head}</tr>{body}</table>")

    def figure(self, png: Path, caption: str = "") -> None:
        data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
        self.parts.append(
            f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'/>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def render(self) -> str:
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
                f"</title><style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"
                + "\n".join(self.parts) + "</body></html>")

    def write(self, path: Path) -> None:
        """Write the page to ``path`` atomically (:func:`experiments.io.atomic_path`)."""
        html_text = self.render()
        with atomic_path(Path(path)) as tmp:
            tmp.write_text(html_text, encoding="utf-8")
