"""Generated sections of a document: each kept between its markers and replaced in place by the next run."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path


def replace_section(path: Path, key: str, body: str, *, title: str) -> None:
    """Writes body between `<!-- key -->` and `<!-- /key -->` in path, keeping the rest of the file."""
    start, end = f"<!-- {key} -->", f"<!-- /{key} -->"
    section = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else f"# {title}\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + section + after
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table of these columns and rows, each cell as given."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
