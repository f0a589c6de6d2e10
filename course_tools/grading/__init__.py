"""Grade a class's notebooks with the course's checks: verdicts that can't be faked, a complete gradebook.

    python -m course_tools.grading SUBMISSIONS --notebooks 01 05 --out gradebook --jobs 2

SUBMISSIONS holds one folder per student (notebooks anywhere inside) and/or the
flat file names of an LMS bulk download (Canvas, Moodle, Blackboard). A
notebook counts for the lesson whose exercises it holds, not for its file name.

For each submission the grader runs, in an isolated child process, only the
cells the due exercises need (``--all-cells`` runs every cell), calls each
exercise function on its check's cases and judges what came back in its own
process, against the reference. Printed output is never read.

Writes to the ``--out`` folder: ``gradebook.csv`` (one row per student and due
exercise), ``gradebook_wide.csv`` (one row per student, for Excel),
``summary.md`` (pass rates, common hints, files left aside, tampering),
``ignored.csv`` and ``executed/STUDENT/NOTEBOOK.ipynb`` (what ran, for audit).
Exit code: 0 when every due notebook was found and ran, 1 when some work is
missing, unreadable or could not run, or the course's files changed; 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .gradebook import (
    COULD_NOT_RUN,
    FAILED,
    MISSING,
    NOT_ATTEMPTED,
    PASSED,
    REFERENCE,
    STATUSES,
    Options,
    Result,
    Row,
    due_exercises,
    grade,
    summary_line,
    write,
)
from .sandbox import ISOLATIONS, choose_isolation
from .submissions import collect

ROOT = Path(__file__).resolve().parents[2]  # the course checkout
COURSE_PATHS = [ROOT / "course_utils", ROOT / "course_tools", ROOT / "data", ROOT / "notebooks"]

__all__ = ["COULD_NOT_RUN", "FAILED", "MISSING", "NOT_ATTEMPTED", "PASSED", "REFERENCE", "STATUSES", "Options",
           "Result", "Row", "grade_folder", "main"]


def _preload() -> None:
    """Import what notebooks import, once, before forking: each child then starts in milliseconds."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    from IPython.core.interactiveshell import InteractiveShell  # noqa: F401

    import course_utils
    for name in ("checkpoints", "data", "env", "forward", "guidance", "inpainting", "metrics", "model", "plotting",
                 "pretrained", "samplers", "schedules", "training"):
        try:
            __import__(f"course_utils.{name}")
        except Exception:
            pass
    del course_utils


def grade_folder(submissions: Path, out: Path | None = None, *, notebooks: list[str] | None = None,
                 exercises: list[str] | None = None, options: Options | None = None, progress=None) -> Result:
    """Grade every student in ``submissions``; write the gradebook to ``out`` when given."""
    from course_utils.checks import EXERCISES

    options = options or Options()
    lessons = sorted({e.notebook for e in EXERCISES.values()})
    _preload()
    klass = collect(submissions, lessons)
    seen = {f.lesson for files in klass.students.values() for f in files if f.lesson}
    due = due_exercises(notebooks, exercises, seen)
    result = grade(klass, due, options, progress=progress)
    if out is not None:
        write(result, out, due)
    return result


def _load_assignment(path: Path) -> tuple[list[str] | None, list[str] | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: cannot read the assignment {path}: {err}") from None
    if not isinstance(data, dict) or not (data.get("notebooks") or data.get("exercises")):
        raise SystemExit(f'error: {path} must be JSON like {{"notebooks": ["01", "05"]}} or {{"exercises": ["nb01.add_noise"]}}')
    return data.get("notebooks"), data.get("exercises")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_tools.grading", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path, help="folder of submissions (one folder per student, or LMS file names)")
    parser.add_argument("--notebooks", nargs="+", metavar="NB", help="due notebooks, by number or name (01 05); "
                        "every exercise of each is due")
    parser.add_argument("--exercises", nargs="+", metavar="ID", help="due exercises by id (nb01.add_noise ...)")
    parser.add_argument("--assignment", type=Path, help='JSON file: {"notebooks": [...]} or {"exercises": [...]}')
    parser.add_argument("--out", type=Path, default=Path("gradebook"), help="folder for the gradebook (default: gradebook)")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="submissions graded at once")
    parser.add_argument("--isolation", choices=ISOLATIONS, default="auto",
                        help="os (root: namespaces, own user id), bwrap (bubblewrap), plain (none); auto: the first that works")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per submission (then it is killed)")
    parser.add_argument("--cell-timeout", type=float, default=300, help="seconds allowed per cell")
    parser.add_argument("--call-timeout", type=float, default=30, help="seconds allowed per call of an exercise function")
    parser.add_argument("--all-cells", action="store_true", help="run every cell, not only what the checks need (slower)")
    parser.add_argument("--full", action="store_true", help="run every cell at full size (no quick mode); slowest")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder; give the folder that holds the submissions", file=sys.stderr)
        return 2
    notebooks, exercises = args.notebooks, args.exercises
    try:
        if args.assignment:
            notebooks, exercises = _load_assignment(args.assignment)
        mode, note = choose_isolation(args.isolation)
    except SystemExit as err:
        print(err, file=sys.stderr)
        return 2
    print(f"isolation: {mode}: {note}", flush=True)
    out = args.out.resolve()
    options = Options(mode=mode, jobs=max(1, args.jobs), timeout=args.timeout, cell_timeout=args.cell_timeout,
                      call_timeout=args.call_timeout, all_cells=args.all_cells or args.full, quick=not args.full,
                      readonly=[ROOT, args.submissions.resolve(), out], watch=COURSE_PATHS + [args.submissions.resolve()])
    started = time.monotonic()
    done = []

    def progress(job, outcome):
        done.append(job)
        print(f"[{len(done)}] {job.key[1]}: {outcome.seconds:.1f} s"
              + (f" ({outcome.problem})" if outcome.problem else ""), flush=True)

    try:
        result = grade_folder(args.submissions, out, notebooks=notebooks, exercises=exercises, options=options,
                              progress=progress)
    except SystemExit as err:
        print(err, file=sys.stderr)
        return 2
    if not notebooks and not exercises:
        print("no --notebooks given: graded the notebooks found in the submissions", flush=True)
    print(f"{summary_line(result)}; {time.monotonic() - started:.0f} s; wrote {out}")
    incomplete = any(r.status in (MISSING, COULD_NOT_RUN) for r in result.rows)
    return 1 if incomplete or result.tampered else 0
