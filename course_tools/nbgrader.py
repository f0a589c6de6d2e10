"""An nbgrader course folder, written from the solution notebooks: no hand-made cell metadata.

    python -m course_tools.nbgrader COURSE_DIR --notebooks 01 05 [--assignment diffusion]

writes ``COURSE_DIR/nbgrader_config.py`` and ``COURSE_DIR/source/ASSIGNMENT/NN_*.ipynb``.
In each source notebook

* every cell with a ``### BEGIN SOLUTION`` region is an "Autograded answer" cell
  (so nbgrader's ClearSolutions accepts it);
* every check cell (``add_noise = check_add_noise(add_noise)``) is an "Autograder
  tests" cell worth 1 point, with a hidden test that fails unless the check passed
  with the student's own function (not the course's reference);
* outputs, the ``# NBVAL_CHECK_OUTPUT`` markers and the solution path in the Colab
  badge are gone, so ``nbgrader generate_assignment`` releases exactly the course's
  student copy (the tests compare them).

Then, in COURSE_DIR: ``nbgrader generate_assignment ASSIGNMENT`` and, once
submissions are in ``submitted/STUDENT/ASSIGNMENT/``, ``nbgrader autograde ASSIGNMENT``.
nbgrader runs student code in the student's own kernel, so its verdicts are as
trustworthy as that kernel: for grades that can't be forged, use
``python -m course_tools.grading`` (see INSTRUCTORS.md, Grading).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from course_tools.nbio import cell_source, copy_notebook, read_notebook, write_notebook
from course_tools.notebooks import BEGIN, CHECK_OUTPUT_MARKER, SOLUTIONS_DIR

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError"
CONFIG = f'''# Written by `python -m course_tools.nbgrader`: makes nbgrader's release match the course's student copies.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "diffusion-course"
c.ClearSolutions.code_stub = {{"python": {CODE_STUB!r}}}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ExecutePreprocessor.timeout = 1800
'''
_CHECK_CELL = re.compile(r"^\s*(\w+)\s*=\s*(check_\w+)\(\s*(\w+)\s*\)\s*$", re.MULTILINE)


def _lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def hidden_test(exercise_id: str, function: str) -> str:
    return (f"### BEGIN HIDDEN TESTS\n"
            f"assert not getattr({function}, \"__course_reference__\", False), "
            f"\"{exercise_id} did not pass its check (see the message above)\"\n"
            f"assert not str(getattr({function}, \"__module__\", \"\")).startswith(\"course_utils\"), "
            f"\"{exercise_id}: this is the course's reference, not your function\"\n"
            f"### END HIDDEN TESTS")


def source_notebook(solution: dict, points: int = 1) -> dict:
    """The nbgrader source version of one solution notebook."""
    from course_tools.grading.verdicts import check_functions

    by_check = {fn.__name__: exercise_id for exercise_id, fn in check_functions().items()}
    nb = copy_notebook(solution)
    nb.get("metadata", {}).pop("widgets", None)
    answers = 0
    for cell in nb["cells"]:
        text = cell_source(cell).replace("notebooks/solutions/", "notebooks/")
        meta = cell.setdefault("metadata", {})
        meta.pop("execution", None)
        if cell["cell_type"] == "code":
            text = "\n".join(line for line in text.split("\n") if line.strip() != CHECK_OUTPUT_MARKER)
            cell["outputs"], cell["execution_count"] = [], None
            check = _CHECK_CELL.search(text)
            if BEGIN in text:
                answers += 1
                meta["nbgrader"] = {"grade": False, "solution": True, "locked": False, "task": False,
                                    "grade_id": f"answer-{answers}", "schema_version": 3}
            elif check and check.group(2) in by_check:
                exercise_id = by_check[check.group(2)]
                text = text.rstrip("\n") + "\n" + hidden_test(exercise_id, check.group(1))
                meta["nbgrader"] = {"grade": True, "solution": False, "locked": True, "task": False,
                                    "points": points, "grade_id": exercise_id.replace(".", "-"), "schema_version": 3}
        elif BEGIN in text:
            answers += 1
            meta["nbgrader"] = {"grade": False, "solution": True, "locked": False, "task": False,
                                "grade_id": f"answer-{answers}", "schema_version": 3}
        cell["source"] = _lines(text)
    return nb


def write_course(course_dir: Path, notebooks: list[str], assignment: str = "diffusion") -> list[Path]:
    """Write nbgrader_config.py and source/ASSIGNMENT/*.ipynb; return the notebooks written."""
    paths = sorted(SOLUTIONS_DIR.glob("*.ipynb"))
    chosen = []
    for name in notebooks:
        hits = [p for p in paths if p.stem == name or p.stem.startswith(f"{name}_")
                or (name.isdigit() and p.stem.startswith(f"{int(name):02d}_"))]
        if len(hits) != 1:
            raise SystemExit(f"error: no single notebook matches {name!r}; use a number (01) or a name ({paths[0].stem})")
        chosen.append(hits[0])
    target = course_dir / "source" / assignment
    target.mkdir(parents=True, exist_ok=True)
    (course_dir / "nbgrader_config.py").write_text(CONFIG, encoding="utf-8")
    written = []
    for path in chosen:
        out = target / path.name
        write_notebook(out, source_notebook(read_notebook(path)))
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.nbgrader", description=__doc__.split("\n")[0])
    parser.add_argument("course_dir", type=Path, help="the nbgrader course folder to write into")
    parser.add_argument("--notebooks", nargs="+", required=True, metavar="NB", help="notebooks by number or name (01 05)")
    parser.add_argument("--assignment", default="diffusion", help="the nbgrader assignment name (default: diffusion)")
    args = parser.parse_args(argv)
    try:
        written = write_course(args.course_dir, args.notebooks, args.assignment)
    except SystemExit as err:
        print(err, file=sys.stderr)
        return 2
    for p in written:
        print(f"wrote {p}")
    print(f"next: cd {args.course_dir} && nbgrader generate_assignment {args.assignment}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
