"""Student copies are generated from the solution notebooks, never edited by hand.

    python -m course_tools.notebooks build     # notebooks/solutions/*.ipynb -> notebooks/*.ipynb
    python -m course_tools.notebooks check     # exit 1 if any student copy is out of date (CI runs this)

The solution notebooks are the single source of truth. In them, the part of
an exercise the student writes is fenced by nbgrader's markers:

    def add_noise(x, sigma, noise):
        ### BEGIN SOLUTION
        return x + sigma * noise
        ### END SOLUTION

The student copy gets, at the same indentation,

        # YOUR CODE HERE
        raise NotImplementedError

Markdown answers fenced the same way become "YOUR ANSWER HERE". Student
copies have no outputs (students make their own), and the ``# NBVAL_CHECK_OUTPUT``
markers that make CI compare check verdicts in the solutions are removed.
Both copies' Colab badges open the student copy in the student repository
(see course_tools/colab.py): the public edition holds no solutions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .nbio import cell_source, copy_notebook, dumps, read_notebook

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_OUTPUT_MARKER = "# NBVAL_CHECK_OUTPUT"
ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = ROOT / "notebooks" / "solutions"
STUDENT_DIR = ROOT / "notebooks"


class NotebookFormatError(ValueError):
    """A solution notebook's markers are unbalanced; the message names the notebook and cell."""


def replace_regions(text: str, begin: str, end: str, placeholder, where: str, what: str) -> list[str]:
    """The lines of ``text`` with each ``begin`` … ``end`` region (markers on lines of their own) replaced.

    ``placeholder(indent)`` gives the lines that stand in for a region, indented like its ``begin`` line;
    ``what`` names the regions in the error an unbalanced marker raises (a :class:`NotebookFormatError`
    whose message starts with ``where``, and the line).
    """
    out, inside = [], False
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped == begin:
            if inside:
                raise NotebookFormatError(f"{where}, line {number}: '{begin}' inside another {what}")
            inside = True
            out += placeholder(line[: len(line) - len(line.lstrip())])
        elif stripped == end:
            if not inside:
                raise NotebookFormatError(f"{where}, line {number}: '{end}' without '{begin}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise NotebookFormatError(f"{where}: a {what} '{begin}' is never closed by '{end}'")
    return out


def strip_solutions(text: str, cell_type: str = "code", where: str = "") -> str:
    """Replace every BEGIN/END SOLUTION region of ``text`` by the student placeholder."""
    if cell_type == "code":
        placeholder = lambda indent: [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError"]  # noqa: E731
    else:
        placeholder = lambda indent: [f"{indent}YOUR ANSWER HERE"]  # noqa: E731
    return "\n".join(replace_regions(text, BEGIN, END, placeholder, where, "solution region"))


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def make_student_notebook(solution: dict, name: str = "notebook") -> dict:
    """The student copy of a solution notebook (as nbformat JSON dicts)."""
    student = copy_notebook(solution)
    student.get("metadata", {}).pop("widgets", None)  # saved widget state belongs to the executed solution
    for i, cell in enumerate(student["cells"]):
        text = strip_solutions(cell_source(cell), cell["cell_type"], where=f"{name}, cell {i}")
        if cell["cell_type"] == "code":
            text = "\n".join(line for line in text.split("\n") if line.strip() != CHECK_OUTPUT_MARKER)
            cell["outputs"] = []
            cell["execution_count"] = None
            text = text.replace("notebooks/solutions/", "notebooks/")
        else:
            text = text.replace("notebooks/solutions/", "notebooks/")
        cell["source"] = _split_lines(text)
        cell.get("metadata", {}).pop("execution", None)
    return student


def build(solutions: Path = SOLUTIONS_DIR, students: Path = STUDENT_DIR, check_only: bool = False) -> list[Path]:
    """Write (or, with ``check_only``, compare) every student copy; return the paths that differ."""
    stale = []
    for path in sorted(solutions.glob("*.ipynb")):
        expected = dumps(make_student_notebook(read_notebook(path), path.name))
        target = students / path.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != expected:
            stale.append(target)
            if not check_only:
                target.write_text(expected, encoding="utf-8")
    orphans = [p for p in students.glob("*.ipynb") if not (solutions / p.name).exists()]
    if orphans and check_only:
        stale += orphans
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.notebooks", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["build", "check"])
    args = parser.parse_args(argv)
    try:
        changed = build(check_only=args.command == "check")
    except NotebookFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "check":
        if changed:
            for p in changed:
                reason = "has no solution notebook" if not (SOLUTIONS_DIR / p.name).exists() else "is out of date"
                print(f"{p.relative_to(ROOT)} {reason}; run `python -m course_tools.notebooks build`")
            return 1
        print("student notebooks are up to date")
        return 0
    for p in changed:
        print(f"wrote {p.relative_to(ROOT)}")
    print(f"{len(changed)} student notebook(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
