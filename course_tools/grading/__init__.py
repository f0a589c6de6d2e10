"""Grade a class's notebooks with the course's checks: verdicts that can't be faked, a complete gradebook.

    python -m course_tools.grading SUBMISSIONS --notebooks 01 05 --out gradebook --jobs 2 [--roster class.csv]

SUBMISSIONS holds one folder per student (notebooks anywhere inside) and/or the flat file names of an LMS
bulk download (Canvas, Moodle, Blackboard). A notebook counts for the lesson whose exercises it holds, not
for its file name.

Each student's notebooks run in a sandbox of their own (--isolation: os as root, else bwrap): a fresh Python
that sees only the student edition of the course, read-only, no network, a private /tmp. Only the cells the
due exercises need run (--all-cells runs every cell); each exercise function is called on its check's cases
and on hidden cases drawn for this run, and what it returned is judged in the grader's own process, by the
check's own code. Printed output is never read.

Writes to the --out folder: gradebook.csv (one row per student and due exercise), gradebook_wide.csv (one
row per student, for Excel), summary.md (pass rates, common hints, similar functions, files left aside, what
submissions tried, changes to files), ignored.csv and executed/STUDENT/NOTEBOOK.ipynb (what ran, for audit).

Exit code: 0 when every due notebook was found and ran (and, with --roster, everyone on it handed in);
1 when some work is missing, unreadable or could not run, a submission is not on the roster, or files
outside the sandboxes changed or a submission tried to change them; 2 on a usage error; 3 when grading was
interrupted (SIGTERM, Ctrl-C, or --time-budget ran out): the gradebook holds what finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the course checkout
COURSE_PATHS = [ROOT / "course_utils", ROOT / "course_tools", ROOT / "data", ROOT / "notebooks"]
EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 3
PLAIN_HELP = ("grade WITHOUT a sandbox. Each student still gets a fresh Python in an empty temporary folder, and "
              "its process tree is killed at the end, but student code runs with your rights: it can read, change "
              "or delete any file you can (the course, its solutions, the gradebook, the grader's own code and "
              "bytecode), use the network, and kill other processes, the grader included. Changes to the course "
              "checkout, the submissions and the gradebook folder are reported (checksums), not prevented. Use it "
              "only inside a throw-away container or VM (Gradescope's, say)")

__all__ = ["EXIT_INCOMPLETE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "Options", "Result", "Row", "grade_folder",
           "main", "watched_paths"]


def __getattr__(name: str):  # the heavy parts load on first use, after __main__ checked the course's bytecode
    if name not in ("Options", "Result", "Row", "STATUSES", "PASSED", "FAILED", "NOT_ATTEMPTED", "MISSING",
                    "COULD_NOT_RUN", "REFERENCE"):
        raise AttributeError(name)
    from . import gradebook

    return getattr(gradebook, name)


def watched_paths(submissions: Path, out: Path) -> list[Path]:
    """What no submission may change: the whole checkout (.git, Makefile, bytecode), the submissions, the gradebook."""
    return [ROOT, submissions.resolve(), out.resolve()]


def grade_folder(submissions: Path, out: Path | None = None, *, notebooks: list[str] | None = None,
                 exercises: list[str] | None = None, options=None, isolation: str = "auto", allow_plain: bool = False,
                 roster: Path | None = None, progress=None):
    """Grade every student in ``submissions``; write the gradebook to ``out`` when given."""
    from course_utils.checks import EXERCISES

    from . import coursetree, gradebook, sandbox
    from .roster import read
    from .submissions import collect

    sys.dont_write_bytecode = True  # the grader writes no bytecode next to the course while it watches it
    options = options or gradebook.Options()
    if not options.watch:
        options.watch = watched_paths(submissions, out or submissions)
    lessons = sorted({e.notebook for e in EXERCISES.values()})
    entries = read(roster) if roster else None
    klass = collect(submissions, lessons)
    seen = {f.lesson for files in klass.students.values() for f in files if f.lesson}
    due = gradebook.due_exercises(notebooks, exercises, seen)
    tree, rebuilt = coursetree.course_tree()
    box = sandbox.choose(isolation, allow_plain=allow_plain)(tree)
    result = gradebook.grade(klass, due, options, box, roster=entries, progress=progress)
    result.notes += [f"the cached course tree had changed and was rebuilt: {line}" for line in rebuilt]
    if out is not None:
        gradebook.write(result, out, due)
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
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("submissions", type=Path, help="folder of submissions (one folder per student, or LMS file names)")
    parser.add_argument("--notebooks", nargs="+", metavar="NB", help="due notebooks, by number or name (01 05); "
                        "every exercise of each is due")
    parser.add_argument("--exercises", nargs="+", metavar="ID", help="due exercises by id (nb01.add_noise ...)")
    parser.add_argument("--assignment", type=Path, help='JSON file: {"notebooks": [...]} or {"exercises": [...]}')
    parser.add_argument("--roster", type=Path, help="the class list, a CSV as the LMS exports it: everyone on it gets "
                        "rows (notebook missing if they handed in nothing); submissions not on it are listed apart")
    parser.add_argument("--out", type=Path, default=Path("gradebook"), help="folder for the gradebook (default: gradebook)")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="students graded at once")
    parser.add_argument("--isolation", choices=("auto", "os", "bwrap"), default="auto",
                        help="os (root: namespaces, a fresh read-only root, own user ids), bwrap (bubblewrap, any user); "
                             "auto: the first that works here. Neither working is an error (see --unsafe-plain)")
    parser.add_argument("--unsafe-plain", action="store_true", help=PLAIN_HELP)
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per notebook (then it is killed)")
    parser.add_argument("--time-budget", type=float, help="seconds for the whole run; what has not finished then is "
                        "killed and reported as such (the gradebook is still written)")
    parser.add_argument("--cell-timeout", type=float, default=300, help="seconds allowed per cell")
    parser.add_argument("--call-timeout", type=float, default=30, help="seconds allowed per call of an exercise function")
    parser.add_argument("--hidden", type=int, default=3, help="hidden cases per exercise, drawn from a secret seed "
                        "for this run (0: the notebook's cases only)")
    parser.add_argument("--all-cells", action="store_true", help="run every cell, not only what the checks need (slower)")
    parser.add_argument("--full", action="store_true", help="run every cell at full size (no quick mode); slowest")
    return parser


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = build_parser().parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder; give the folder that holds the submissions", file=sys.stderr)
        return EXIT_USAGE
    if args.roster and not args.roster.is_file():
        print(f"error: the roster {args.roster} is not a file; give the CSV your LMS exports", file=sys.stderr)
        return EXIT_USAGE
    from . import gradebook, sandbox
    from .roster import RosterError

    notebooks, exercises = args.notebooks, args.exercises
    out = args.out.resolve()
    try:
        if args.assignment:
            notebooks, exercises = _load_assignment(args.assignment)
        mode = sandbox.choose(args.isolation, allow_plain=args.unsafe_plain)
    except SystemExit as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    print(f"isolation: {mode.name}: {mode.note}", flush=True)
    options = gradebook.Options(jobs=max(1, args.jobs), timeout=args.timeout, cell_timeout=args.cell_timeout,
                                call_timeout=args.call_timeout, all_cells=args.all_cells or args.full,
                                quick=not args.full, hidden=max(0, args.hidden),
                                deadline=started + args.time_budget if args.time_budget else None,
                                watch=watched_paths(args.submissions, out))
    done = []

    def progress(job, outcomes):
        done.append(job)
        problems = "; ".join(f"{k}: {o.problem}" for k, o in outcomes.items() if o.problem)
        print(f"[{len(done)}] {job.student}: {sum(o.seconds for o in outcomes.values()):.1f} s"
              + (f" ({problems})" if problems else ""), flush=True)

    try:
        result = grade_folder(args.submissions, out, notebooks=notebooks, exercises=exercises, options=options,
                              isolation=args.isolation, allow_plain=args.unsafe_plain, roster=args.roster,
                              progress=progress)
    except (SystemExit, RosterError) as err:
        print(err if isinstance(err, SystemExit) else f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if not notebooks and not exercises:
        print("no --notebooks given: graded the notebooks found in the submissions", flush=True)
    print(f"{gradebook.summary_line(result)}; {time.monotonic() - started:.0f} s; wrote {out}")
    if result.interrupted or any("time budget" in r.message for r in result.rows):
        return EXIT_INTERRUPTED
    incomplete = any(r.status in gradebook.INCOMPLETE for r in result.rows)
    return EXIT_INCOMPLETE if incomplete or result.tampered or result.not_on_roster else EXIT_OK
