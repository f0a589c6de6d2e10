"""A Gradescope autograder for the course's notebooks, built from this checkout.

    python -m course_tools.gradescope build autograder.zip --notebooks 01 05

Upload the zip as a Gradescope "Programming Assignment" autograder (Ubuntu base
image). It holds ``setup.sh`` (installs Python, CPU-only PyTorch and the course),
``run_autograder`` (grades ``/autograder/submission`` with
``python -m course_tools.gradescope run`` and writes
``/autograder/results/results.json``), ``assignment.json`` (what is due) and
``course/`` (course_utils, course_tools, data, the student notebooks). Students upload
their notebooks; each due exercise is one Gradescope test worth 1 point, graded by the
course's grader (verdicts judged outside the student's code, the reference not
accepted as an answer, hidden cases drawn for each run). Gradescope runs each submission
in a container of its own; inside it the grader uses a sandbox where the container allows
one, and otherwise runs without (the container is then the only wall, as Gradescope intends).

All the notebooks of a submission share one time budget (``--time-budget``, by default
``TIME_BUDGET``, 9 minutes, under Gradescope's default limit of 10), split evenly between
them: a notebook still running at the end of its share is killed and its exercises get a
"timed out" test, while the others are graded. ``results.json`` is written before
grading starts (zero points, saying the autograder did not finish) and replaced at the
end, so Gradescope always finds one.

``AUTOGRADER_ROOT`` (default ``/autograder``) and ``AUTOGRADER_PYTHON`` (default
``python3``) let you run ``run_autograder`` locally to try a submission.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ["course_utils", "course_tools", "data", "notebooks", "pyproject.toml", "README.md", "LICENSE"]
TIME_BUDGET = 540.0  # seconds for all the notebooks of one submission
MARGIN = 20.0  # seconds kept to write results.json

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image.
set -euo pipefail
apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv bubblewrap > /dev/null
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet torch torchvision --index-url https://download.pytorch.org/whl/cpu
python3 -m pip install --quiet /autograder/source/course
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it must write results/results.json.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${AUTOGRADER_PYTHON:-python3}"
mkdir -p "$ROOT/results"
cd "$ROOT/source/course"
"$PY" -m course_tools.gradescope run --submission "$ROOT/submission" --results "$ROOT/results/results.json" \\
    --assignment "$ROOT/source/assignment.json"
"""


def _shipped(rel: Path) -> bool:
    if "__pycache__" in rel.parts or rel.name.startswith("."):
        return False
    if rel.parts[0] == "notebooks":  # the student copies only: the solutions never leave the instructor's machine
        return len(rel.parts) == 2 and rel.suffix == ".ipynb"
    return True


def build(zip_path: Path, notebooks: list[str], time_budget: float = TIME_BUDGET) -> Path:
    """Write the autograder zip; return its path."""
    from course_tools.grading.gradebook import due_exercises

    due_exercises(notebooks, None, set())  # fail now, with the usual message, on a notebook that does not exist
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, text)
        z.writestr("assignment.json", json.dumps({"notebooks": notebooks, "time_budget": time_budget}, indent=1) + "\n")
        for entry in SHIPPED:
            path = ROOT / entry
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for f in files:
                if _shipped(f.relative_to(ROOT)):
                    z.write(f, Path("course") / f.relative_to(ROOT))
    return zip_path


def results_json(result, due: list[str]) -> dict:
    """Gradescope's results format: one test per due exercise."""
    from course_tools.grading.gradebook import PASSED, summary_line
    from course_utils.checks import EXERCISES

    rows = {r.exercise: r for r in result.rows}
    tests = []
    for exercise_id in due:
        row = rows[exercise_id]
        timed_out = "time budget" in row.message or "did not finish within" in row.message
        output = ("timed out: " if timed_out else f"{row.status}: ") + row.message + (f"\nHint: {row.hint}" if row.hint else "")
        tests.append({"name": f"{exercise_id} ({EXERCISES[exercise_id].practises})", "score": row.points, "max_score": 1,
                      "status": "passed" if row.status == PASSED else "failed", "output": output,
                      "visibility": "visible"})
    output = summary_line(result)
    if result.ignored:
        output += "\nFiles not graded: " + "; ".join(f"{p} ({why})" for p, why in result.ignored)
    return {"score": sum(t["score"] for t in tests), "output": output, "tests": tests, "stdout_visibility": "hidden"}


UNFINISHED = {"score": 0, "stdout_visibility": "hidden", "tests": [],
              "output": "The autograder started but did not finish (it may have run out of time). Please tell your instructor."}


def run(submission: Path, results: Path, assignment: Path, time_budget: float | None = None) -> int:
    """Grade one Gradescope submission folder within one time budget and write results.json (always)."""
    import time

    from course_tools import grading
    from course_tools.grading.gradebook import Options, due_exercises
    from course_utils.checks import EXERCISES

    started = time.monotonic()
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(UNFINISHED), encoding="utf-8")  # replaced below; there if this process is killed
    spec = json.loads(assignment.read_text(encoding="utf-8"))
    notebooks, exercises = spec.get("notebooks"), spec.get("exercises")
    budget = float(time_budget or spec.get("time_budget") or TIME_BUDGET)
    from course_tools.grading import sandbox

    try:
        sandbox.choose("auto")
        allow_plain = False
    except SystemExit:
        allow_plain = True  # the container Gradescope started for this submission is the sandbox
    print(f"isolation: {'plain, inside the submission container' if allow_plain else 'auto'}; budget {budget:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        klass = Path(tmp) / "submissions"
        shutil.copytree(submission, klass / "student")
        lessons = {EXERCISES[e].notebook for e in due_exercises(notebooks, exercises, set())}
        share = max(1.0, (budget - MARGIN) / max(1, len(lessons)))  # a looping notebook leaves the others their time
        options = Options(jobs=1, timeout=share, deadline=started + budget - MARGIN)
        result = grading.grade_folder(klass, Path(tmp) / "gradebook", notebooks=notebooks, exercises=exercises,
                                      options=options, allow_plain=allow_plain)
        due = due_exercises(notebooks, exercises, set())
        results.write_text(json.dumps(results_json(result, due), ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {results} in {time.monotonic() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.gradescope", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the autograder zip")
    b.add_argument("zip", type=Path)
    b.add_argument("--notebooks", nargs="+", required=True, metavar="NB", help="due notebooks, by number or name")
    b.add_argument("--time-budget", type=float, default=TIME_BUDGET, help="seconds for all the notebooks of one "
                   f"submission (default {TIME_BUDGET:.0f}; keep it under the assignment's Gradescope limit)")
    r = sub.add_parser("run", help="grade one submission (what run_autograder calls)")
    r.add_argument("--submission", type=Path, required=True)
    r.add_argument("--results", type=Path, required=True)
    r.add_argument("--assignment", type=Path, required=True)
    r.add_argument("--time-budget", type=float, help="seconds for the whole submission (default: assignment.json's)")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(f"wrote {build(args.zip, args.notebooks, args.time_budget)}")
            return 0
        return run(args.submission, args.results, args.assignment, args.time_budget)
    except SystemExit as err:
        print(err, file=sys.stderr)
        return 2
    except Exception as err:  # Gradescope shows results.json, so the failure goes there too
        if args.command == "run":
            args.results.parent.mkdir(parents=True, exist_ok=True)
            args.results.write_text(json.dumps({"score": 0, "output": f"The autograder failed: {type(err).__name__}: {err}. "
                                                "Please tell your instructor.", "tests": []}), encoding="utf-8")
        raise


if __name__ == "__main__":
    sys.exit(main())
