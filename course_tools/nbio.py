"""The course's notebooks as plain JSON: read, copied, written and their cells' text, one way in course_tools.

    nb = read_notebook(path)       # the dict Jupyter stores (no nbformat: these tools only move text around)
    cell_source(cell)              # a cell's text, stored either as a list of lines or as one string
    copy_notebook(nb)              # a deep copy, to change without touching the original
    write_notebook(path, nb)       # dumps(nb): 1-space indent, unicode kept, sorted keys, a final newline

The grader's harness keeps its own three-line ``cell_source``: it runs inside the sandbox, which holds only
``harness.py`` and ``jobs.py``.
"""

from __future__ import annotations

import json
from pathlib import Path


def cell_source(cell: dict) -> str:
    """A cell's text; a cell whose source is neither a list nor a string (a damaged notebook) reads as its str()."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def read_notebook(path: str | Path) -> dict:
    """The notebook at ``path`` as a dict."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def copy_notebook(nb: dict) -> dict:
    """A deep copy of ``nb`` (through JSON, so it holds only what a notebook file can)."""
    return json.loads(json.dumps(nb))


def dumps(nb: dict) -> str:
    """Serialise like Jupyter does (1-space indent, unicode kept, trailing newline), with sorted keys."""
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def write_notebook(path: str | Path, nb: dict) -> None:
    """``nb`` into ``path`` in the repository's layout (:func:`dumps`)."""
    Path(path).write_text(dumps(nb), encoding="utf-8")
