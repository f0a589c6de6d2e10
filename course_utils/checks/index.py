"""INSTRUCTORS.md's exercise index, generated from the registry of checks.

    python -m course_utils.checks.index            # print the index
    python -m course_utils.checks.index --check    # exit 1 if INSTRUCTORS.md's copy is out of date
    python -m course_utils.checks.index --write    # rewrite INSTRUCTORS.md's copy
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import EXERCISES  # noqa: F401  (importing the package registers every exercise)
from .core import INDEX_END, INDEX_START, exercise_index

INSTRUCTORS = Path(__file__).resolve().parents[2] / "INSTRUCTORS.md"


def section() -> str:
    """The generated block, with its markers, as it stands in INSTRUCTORS.md."""
    return f"{INDEX_START}\n\n{exercise_index()}\n\n{INDEX_END}"


def current(text: str) -> str:
    """The block between the markers in ``text`` (markers included); raises ValueError if they are missing."""
    start, end = text.index(INDEX_START), text.index(INDEX_END) + len(INDEX_END)
    return text[start:end]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(exercise_index())
        return 0
    text = INSTRUCTORS.read_text(encoding="utf-8")
    try:
        old = current(text)
    except ValueError:
        print(f"error: {INSTRUCTORS.name} lacks the exercise-index markers; put them under '## Exercise index'.")
        return 1
    if argv == ["--check"]:
        if old != section():
            print(f"{INSTRUCTORS.name}: the exercise index is out of date; run python -m course_utils.checks.index --write")
            return 1
        return 0
    if argv == ["--write"]:
        INSTRUCTORS.write_text(text.replace(old, section()), encoding="utf-8")
        return 0
    print("usage: python -m course_utils.checks.index [--check | --write]")
    return 2


if __name__ == "__main__":
    sys.exit(main())
