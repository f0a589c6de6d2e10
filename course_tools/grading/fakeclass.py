"""Generated classes of submissions, for the grader's tests and its benchmark, made from the registry.

Every answer is derived, never written per exercise: right answers are the solution notebooks, blank ones
the student copies, wrong ones the solution with its result scaled, copies of the course's answer reach the
exercise's registered reference. A new exercise is in every generated class with no edit here. The attacks
of a hostile class are in :mod:`course_tools.grading.hostile`.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from course_tools.nbio import cell_source, copy_notebook, read_notebook
from course_tools.notebooks import SOLUTIONS_DIR, STUDENT_DIR
from course_utils.checks import EXERCISES


def lessons() -> list[str]:
    return sorted({e.notebook for e in EXERCISES.values()})


def lesson(number: str) -> str:
    """The lesson (notebook stem) whose name starts with ``number`` ("01")."""
    return next(stem for stem in lessons() if stem.startswith(f"{int(number):02d}_"))


def exercises_of(stem: str) -> list[str]:
    return [e.id for e in EXERCISES.values() if e.notebook == stem]


def load(stem: str, solution: bool) -> dict:
    folder = SOLUTIONS_DIR if solution else STUDENT_DIR
    return read_notebook(folder / f"{stem}.ipynb")


def code_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def def_cell(nb: dict, function: str) -> int:
    """The index of the cell that defines ``function`` (the exercise's cell)."""
    pattern = re.compile(rf"^def {re.escape(function)}\(", re.MULTILINE)
    return next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and pattern.search(cell_source(c)))


def check_cell(nb: dict, exercise_id: str) -> int:
    check = EXERCISES[exercise_id].check
    return next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and f"{check}(" in cell_source(c))


def signature(nb: dict, function: str) -> tuple[str, list[str]]:
    """(the ``def`` line with its docstring, as in the notebook; the parameter names)."""
    source = cell_source(nb["cells"][def_cell(nb, function)])
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    lines = source.split("\n")
    has_doc = node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    head = "\n".join(lines[node.lineno - 1:(node.body[0].end_lineno if has_doc else node.lineno)])
    return head, [a.arg for a in node.args.args]


def with_function(nb: dict, function: str, source: str) -> dict:
    """``nb`` with the cell that defines ``function`` replaced by ``source``."""
    nb = copy_notebook(nb)
    nb["cells"][def_cell(nb, function)]["source"] = source
    return nb


def with_body(nb: dict, function: str, body: str) -> dict:
    """``nb`` with the body of ``function`` (after its docstring) replaced by ``body`` (unindented text)."""
    head, _ = signature(nb, function)
    return with_function(nb, function, head + "\n" + "\n".join("    " + line for line in body.strip("\n").split("\n")) + "\n")


def insert_cell(nb: dict, source: str, at: int | None = None) -> dict:
    """``nb`` with one more code cell: at ``at``, or after the imports (the first cell importing course_utils.checks)."""
    nb = copy_notebook(nb)
    if at is None:
        at = next((i + 1 for i, c in enumerate(nb["cells"]) if "course_utils.checks" in cell_source(c)), 1)
    nb["cells"].insert(at, code_cell(source))
    return nb


def prepend_to_def(nb: dict, function: str, source: str) -> dict:
    """``nb`` with ``source`` at the top of the cell that defines ``function`` (so checks-only mode runs it)."""
    nb = copy_notebook(nb)
    cell = nb["cells"][def_cell(nb, function)]
    cell["source"] = source.rstrip("\n") + "\n\n" + cell_source(cell)
    return nb


SCALE = '''
def _off(value):
    """A wrong answer made from a right one: every number 1.5 times too large."""
    if isinstance(value, tuple):
        return tuple(_off(v) for v in value)
    return value * 1.5 + 0.25
'''


def wrong(stem: str) -> dict:
    """The solution notebook with every exercise's result made wrong (1.5 times too large, plus 0.25)."""
    nb = load(stem, True)
    for e in exercises_of(stem):
        function = EXERCISES[e].function
        i = def_cell(nb, function)
        nb["cells"][i]["source"] = (cell_source(nb["cells"][i]) + "\n" + SCALE + f"\n_right_{function} = {function}\n\n\n"
                                    f"def {function}(*args, **kwargs):\n    return _off(_right_{function}(*args, **kwargs))\n")
    return nb


def reference_path(exercise_id: str) -> tuple[str, str]:
    """(module, name) of the exercise's registered reference."""
    ref = EXERCISES[exercise_id].reference
    return ref.__module__, ref.__name__


def write(path: Path, nb: dict | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb, ensure_ascii=False), encoding="utf-8")


def honest(root: Path, name: str, kind: str, stems: list[str]) -> None:
    """One student's submission of the ``stems`` notebooks: right, blank, wrong or missing the last."""
    for i, stem in enumerate(stems):
        if kind == "correct":
            nb = load(stem, True)
        elif kind == "blank":
            nb = load(stem, False)
        elif kind == "wrong":
            nb = wrong(stem)
        elif kind == "missing":
            if i == len(stems) - 1:
                continue
            nb = load(stem, True)
        else:
            raise ValueError(f"unknown kind of honest student {kind!r}")
        write(root / name / f"{stem}.ipynb", nb)
    (root / name).mkdir(parents=True, exist_ok=True)


def canvas(root: Path, name: str, stems: list[str], solution: bool) -> None:
    """A student who came through a Canvas bulk download: flat file names at the top level."""
    for k, stem in enumerate(stems):
        write(root / f"{name}_12345_{67890 + k}_{stem}.ipynb", load(stem, solution and k == 0))


BENCH_KINDS = ("correct", "wrong", "blank", "correct", "missing", "correct", "copier", "forger", "correct", "malformed")


def bench_student(root: Path, name: str, kind: str, stems: list[str]) -> None:
    from . import hostile

    if kind in ("correct", "wrong", "blank", "missing"):
        honest(root, name, kind, stems)
    elif kind == "malformed":
        write(root / name / "hw" / "my work (final).ipynb", '{"cells": [ not json')
    else:
        hostile.ATTACKS[kind].build(root, name, stems)


def make_class(root: Path, n_students: int, stems: list[str]) -> None:
    """``n_students`` students of the kinds in BENCH_KINDS, in turn."""
    for i in range(n_students):
        bench_student(root, f"student{i:03d}", BENCH_KINDS[i % len(BENCH_KINDS)], stems)
