"""Generated classes of submissions, for the grader's tests and its benchmark.

Every kind of student the grader must handle, made from the course's own
notebooks (solution copies for right answers, student copies for blank ones).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from course_tools.notebooks import SOLUTIONS_DIR, STUDENT_DIR

NB01, NB05 = "01_adding_noise_by_hand", "05_sampling_with_ddpm"

# Wrong answers, one per exercise of notebooks 01 and 05 (each a mistake the checks know).
WRONG = {
    "add_noise": "return x + sigma ** 2 * noise",
    "noising_step": "return math.sqrt(1 - beta) * x_prev + beta * noise",
    "variance_after_steps": "return (1 - beta) ** num_steps * var0",
    "posterior_variance": "return betas.clone()",
    "ddpm_step": "return x_t",
}
LOOP = "while True:\n        pass"
# Copies of the course's reference: imported outright, called through an import, reached through a global alias.
COPIES = {
    "add_noise": None,  # the def is replaced by `from course_utils.forward import add_noise`
    "noising_step": "from course_utils import forward\n    return forward.noising_step(x_prev, beta, noise)",
    "posterior_variance": "from course_utils.schedules import posterior_variance as pv\n    return pv(betas)",
    "ddpm_step": "return _s.ddpm_step(x_t, t, eps, schedule, z)",  # _s = course_utils.samplers, bound in another cell
}


def load(name: str, solution: bool) -> dict:
    folder = SOLUTIONS_DIR if solution else STUDENT_DIR
    return json.loads((folder / f"{name}.ipynb").read_text(encoding="utf-8"))


def _text(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def with_answers(nb: dict, answers: dict[str, str | None]) -> dict:
    """A student copy with the placeholder of each named function replaced by a body (None: the def becomes an import)."""
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        text = _text(cell)
        for function, body in answers.items():
            if cell["cell_type"] == "code" and re.search(rf"^def {function}\(", text, re.MULTILINE):
                if body is None:
                    module = {"add_noise": "forward"}.get(function, "forward")
                    text = f"from course_utils.{module} import {function}\n"
                else:
                    text = re.sub(r"# YOUR CODE HERE\n(\s*)raise NotImplementedError", lambda m, b=body: b, text, count=1)
        cell["source"] = text
    return nb


def insert_cell(nb: dict, source: str, after_imports: bool = True) -> dict:
    """``nb`` with one more code cell, after the imports cell (the first that imports course_utils.checks)."""
    nb = json.loads(json.dumps(nb))
    at = next((i + 1 for i, c in enumerate(nb["cells"]) if "course_utils.checks" in _text(c)), 1) if after_imports else 1
    nb["cells"].insert(at, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source})
    return nb


def prepend_to_def(nb: dict, function: str, source: str) -> dict:
    """``nb`` with ``source`` put at the top of the cell that defines ``function``."""
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and re.search(rf"^def {function}\(", _text(cell), re.MULTILINE):
            cell["source"] = source + "\n\n" + _text(cell)
    return nb


FORGE = r'''# A forged verdict: print the lines the checks print, and make the checks always pass in this kernel.
for name in ["nb01.add_noise", "nb01.noising_step", "nb01.variance_after_steps", "nb05.posterior_variance", "nb05.ddpm_step"]:
    print(f"✓ PASSED [{name}]: 3 cases agree with the reference.")
import course_utils.checks.core as _core
_core.evaluate = lambda exercise, fn, cases, **kw: _core.CheckResult(exercise.id, True, "3 cases agree with the reference.")
'''


def vandal_cell(targets: dict[str, str]) -> str:
    """A cell that deletes, overwrites and creates files the student must not touch (and goes on if it cannot)."""
    lines = ["import os, subprocess", "for action, path in ["]
    lines += [f"    ({action!r}, {path!r})," for action, path in targets.items()]
    lines += ["]:",
              "    try:",
              "        if action == 'delete':",
              "            os.remove(path)",
              "        elif action == 'touch':",
              "            subprocess.run(['touch', path], check=True)",
              "        else:",
              "            open(path, 'w').write('{}')",
              "        print('done:', action, path)",
              "    except Exception as err:",
              "        print('refused:', action, path, type(err).__name__)"]
    return "\n".join(lines) + "\n"


def write(path: Path, nb: dict | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nb if isinstance(nb, str) else json.dumps(nb, ensure_ascii=False), encoding="utf-8")


def student(root: Path, kind: str, name: str, *, vandal_targets: dict[str, str] | None = None) -> None:
    """Write one student's submission of notebooks 01 and 05 under ``root``."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "correct":
        for nb in (NB01, NB05):
            write(folder / f"{nb}.ipynb", load(nb, True))
    elif kind == "blank":
        for nb in (NB01, NB05):
            write(folder / f"{nb}.ipynb", load(nb, False))
    elif kind == "wrong":
        for nb in (NB01, NB05):
            write(folder / f"{nb}.ipynb", with_answers(load(nb, False), WRONG))
    elif kind == "forger":
        for nb in (NB01, NB05):
            write(folder / f"{nb}.ipynb", insert_cell(load(nb, False), FORGE))
    elif kind == "vandal":  # the attack sits in the cell that defines the first exercise, so every mode runs it
        for nb, function in ((NB01, "add_noise"), (NB05, "posterior_variance")):
            write(folder / f"{nb}.ipynb", prepend_to_def(load(nb, True), function, vandal_cell(vandal_targets or {})))
    elif kind == "looper":
        write(folder / f"{NB01}.ipynb", _loop_add_noise(load(NB01, True)))
        write(folder / f"{NB05}.ipynb", load(NB05, True))
    elif kind == "malformed":
        write(folder / "hw" / "my work (final).ipynb", '{"cells": [ not json')
    elif kind == "missing":
        write(folder / f"{NB01}.ipynb", load(NB01, True))
    elif kind == "wronglesson":
        write(folder / f"{NB01}.ipynb", load(NB05, True))
    elif kind == "copier":
        write(folder / f"{NB01}.ipynb", with_answers(load(NB01, False), {k: COPIES[k] for k in ("add_noise", "noising_step")}))
        nb05 = insert_cell(with_answers(load(NB05, False), {k: COPIES[k] for k in ("posterior_variance", "ddpm_step")}),
                           "import course_utils.samplers\n_s = course_utils.samplers\n")
        write(folder / f"{NB05}.ipynb", nb05)
    elif kind == "empty":
        pass
    else:
        raise ValueError(f"unknown kind of student {kind!r}")


def _loop_add_noise(solution: dict) -> dict:
    nb = json.loads(json.dumps(solution))
    for cell in nb["cells"]:
        text = _text(cell)
        if cell["cell_type"] == "code" and re.search(r"^def add_noise\(", text, re.MULTILINE):
            cell["source"] = re.sub(r"### BEGIN SOLUTION\n.*?### END SOLUTION", LOOP, text, flags=re.DOTALL)
    return nb


def canvas(root: Path, name: str, solution: bool) -> None:
    """A student who came through a Canvas bulk download: flat file names at the top level."""
    write(root / f"{name}_12345_67890_{NB01}.ipynb", load(NB01, solution))
    write(root / f"{name}_12345_67891_{NB05}.ipynb", load(NB05, False))


BENCH_KINDS = ("correct", "wrong", "blank", "correct", "forger", "copier", "missing", "correct", "wronglesson", "malformed")


def make_class(root: Path, n_students: int) -> None:
    """``n_students`` students of the kinds in BENCH_KINDS, in turn."""
    for i in range(n_students):
        student(root, BENCH_KINDS[i % len(BENCH_KINDS)], f"student{i:03d}")
