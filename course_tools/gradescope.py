"""A Gradescope autograder for the course's notebooks, built from this checkout.

    python -m course_tools.gradescope build autograder.zip --notebooks 01 05

Upload the zip as a Gradescope "Programming Assignment" autograder (Ubuntu base
image). It holds ``setup.sh`` (installs Python, CPU-only PyTorch and the course),
``run_autograder`` (grades ``/autograder/submission`` with
``python -m course_tools.gradescope run`` and writes
``/autograder/results/results.json``), ``assignment.json`` (what is due) and
``course/`` (course_utils, course_tools, data). Students upload their
notebooks; each due exercise is one Gradescope test worth 1 point, graded by the
course's grader (verdicts judged outside the student's code, the reference not
accepted as an answer). Gradescope runs each submission in its own container;
inside it the grader isolates further where the container allows it.

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
SHIPPED = ["course_utils", "course_tools", "data", "pyproject.toml", "README.md", "LICENSE"]

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


def build(zip_path: Path, notebooks: list[str]) -> Path:
    """Write the autograder zip; return its path."""
    from course_tools.grading.gradebook import due_exercises

    due_exercises(notebooks, None, set())  # fail now, with the usual message, on a notebook that does not exist
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, text)
        z.writestr("assignment.json", json.dumps({"notebooks": notebooks}, indent=1) + "\n")
        for entry in SHIPPED:
            path = ROOT / entry
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            for f in files:
                if "__pycache__" not in f.parts and not f.name.startswith(".grading-canary"):
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
        output = f"{row.status}: {row.message}" + (f"\nHint: {row.hint}" if row.hint else "")
        tests.append({"name": f"{exercise_id} ({EXERCISES[exercise_id].practises})", "score": row.points, "max_score": 1,
                      "status": "passed" if row.status == PASSED else "failed", "output": output,
                      "visibility": "visible"})
    output = summary_line(result)
    if result.ignored:
        output += "\nFiles not graded: " + "; ".join(f"{p} ({why})" for p, why in result.ignored)
    return {"score": sum(t["score"] for t in tests), "output": output, "tests": tests, "stdout_visibility": "hidden"}


def run(submission: Path, results: Path, assignment: Path) -> int:
    """Grade one Gradescope submission folder and write results.json."""
    from course_tools import grading
    from course_tools.grading.gradebook import Options, due_exercises
    from course_tools.grading.sandbox import choose_isolation

    spec = json.loads(assignment.read_text(encoding="utf-8"))
    notebooks, exercises = spec.get("notebooks"), spec.get("exercises")
    mode, note = choose_isolation("auto")
    print(f"isolation: {mode}: {note}")
    with tempfile.TemporaryDirectory() as tmp:
        klass = Path(tmp) / "submissions"
        shutil.copytree(submission, klass / "student")
        options = Options(mode=mode, jobs=1, timeout=900, readonly=[grading.ROOT, klass],
                          watch=grading.COURSE_PATHS)
        result = grading.grade_folder(klass, Path(tmp) / "gradebook", notebooks=notebooks, exercises=exercises,
                                      options=options)
        due = due_exercises(notebooks, exercises, set())
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(results_json(result, due), ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {results}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.gradescope", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="write the autograder zip")
    b.add_argument("zip", type=Path)
    b.add_argument("--notebooks", nargs="+", required=True, metavar="NB", help="due notebooks, by number or name")
    r = sub.add_parser("run", help="grade one submission (what run_autograder calls)")
    r.add_argument("--submission", type=Path, required=True)
    r.add_argument("--results", type=Path, required=True)
    r.add_argument("--assignment", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            print(f"wrote {build(args.zip, args.notebooks)}")
            return 0
        return run(args.submission, args.results, args.assignment)
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
