"""From submissions to a complete gradebook: one row per student and due exercise, whatever happened.

Statuses: passed, failed (with the check's hint), not attempted, notebook missing,
could not run (with the reason), used the reference.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.checks import EXERCISES

from . import cells as cellmod
from .sandbox import Job, Outcome, differences, fingerprint, run_jobs
from .submissions import Class, Notebook
from .verdicts import cases_for, judge

COURSE_ROOT = Path(__file__).resolve().parents[2]
PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
MISSING, COULD_NOT_RUN, REFERENCE = "notebook missing", "could not run", "used the reference"
STATUSES = (PASSED, FAILED, NOT_ATTEMPTED, MISSING, COULD_NOT_RUN, REFERENCE)
INCOMPLETE = (MISSING, COULD_NOT_RUN)


@dataclass
class Row:
    student: str
    notebook: str
    exercise: str
    status: str
    message: str = ""
    hint: str = ""
    file: str = ""  # the submitted file it was graded from
    executed: str = ""  # the audit copy, relative to the gradebook folder

    @property
    def points(self) -> int:
        return 1 if self.status == PASSED else 0


@dataclass
class Options:
    mode: str = "os"  # isolation
    jobs: int = 1
    timeout: float = 600.0  # per submission, hard limit
    cell_timeout: float = 120.0
    call_timeout: float = 30.0
    all_cells: bool = False  # run every cell instead of only what the checks need
    quick: bool = True
    readonly: list[Path] = field(default_factory=list)  # the child cannot write these (and, but for `visible`, not see them)
    visible: list[Path] = field(default_factory=lambda: [COURSE_ROOT])  # readable by the child, read-only
    watch: list[Path] = field(default_factory=list)


@dataclass
class Result:
    rows: list[Row]
    ignored: list[tuple[str, str]]
    tampered: list[str]
    executed: dict[tuple, dict]  # (student, file) -> executed notebook
    notes: list[str] = field(default_factory=list)


def due_exercises(notebooks: list[str] | None, exercises: list[str] | None, seen_lessons: set[str]) -> list[str]:
    """The due exercise ids: those named, or every exercise of the notebooks named (or, failing both, of those seen)."""
    lessons = sorted({e.notebook for e in EXERCISES.values()})
    if exercises:
        unknown = [e for e in exercises if e not in EXERCISES]
        if unknown:
            raise SystemExit(f"error: unknown exercise id(s) {', '.join(unknown)}; the ids are listed in INSTRUCTORS.md")
        return list(dict.fromkeys(exercises))
    chosen = []
    for name in notebooks or sorted(seen_lessons):
        hits = [lesson for lesson in lessons if lesson == name or lesson.startswith(f"{name}_")
                or lesson.startswith(f"{int(name):02d}_" if name.isdigit() else "\0")]
        if len(hits) != 1:
            raise SystemExit(f"error: no single notebook matches {name!r}; use a number (01) or a name ({lessons[0]})")
        chosen.append(hits[0])
    return [e.id for e in EXERCISES.values() if e.notebook in chosen]


def _safe(name: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", name).strip("_") or "_"


def grade(klass: Class, due: list[str], options: Options, progress=None) -> Result:
    """Grade every student in ``klass`` on the ``due`` exercises."""
    due_lessons = list(dict.fromkeys(EXERCISES[e].notebook for e in due))
    for exercise_id in due:
        cases_for(exercise_id)  # read the cases once, here, before any fork
    rows: list[Row] = []
    ignored = list(klass.ignored)
    jobs: list[Job] = []
    planned: dict[tuple, dict] = {}  # job key -> {exercise id: (plan, static reference use)}
    pending_rows: list[tuple[tuple, str, Notebook]] = []  # (job key, exercise id, notebook)
    for student in sorted(klass.students):
        files = klass.students[student]
        unreadable = [f for f in files if f.nb is None]
        for f in unreadable:
            ignored.append((f.shown_as, f"could not be read: {f.problem}"))
        for f in files:
            if f.nb is not None and f.lesson is None:
                ignored.append((f.shown_as, "holds none of the course's exercises"))
            elif f.lesson is not None and f.lesson not in due_lessons:
                ignored.append((f.shown_as, f"holds notebook {f.lesson}, which is not due"))
        for lesson in due_lessons:
            lesson_due = [e for e in due if EXERCISES[e].notebook == lesson]
            candidates = [f for f in files if f.lesson == lesson]
            candidates.sort(key=lambda f: (f.named_as != lesson, -f.path.stat().st_mtime, f.shown_as))
            if not candidates:
                wrong = [f for f in files if f.named_as == lesson and f.lesson not in (None, lesson)]
                unreadable_here = [f for f in unreadable if f.named_as in (lesson, None)]
                if unreadable_here:
                    status = COULD_NOT_RUN
                    message = "; ".join(f"{f.shown_as} could not be read: {f.problem}" for f in unreadable_here)
                else:
                    status, message = MISSING, f"no notebook of this student holds the exercises of {lesson}"
                    if wrong:
                        message += "; " + "; ".join(f"{f.shown_as} is named like it but holds notebook {f.lesson}"
                                                    for f in wrong)
                rows += [Row(student, lesson, e, status, message) for e in lesson_due]
                continue
            chosen = candidates[0]
            for other in candidates[1:]:
                ignored.append((other.shown_as, f"a second notebook for {lesson}; graded {chosen.shown_as} instead"))
            key = (student, chosen.shown_as)
            analysed = cellmod.analyse(chosen.nb)
            plans = {e: cellmod.plan_exercise(chosen.nb, analysed, e) for e in lesson_due}
            references = {}
            for e, plan in plans.items():
                try:
                    references[e] = cellmod.reference_use(analysed, plan)
                except Exception:  # a grader bug must not cost the student: judge by the run instead
                    references[e] = ""
            planned[key] = {"plans": plans, "references": references, "file": chosen}
            run_cells = ([c.index for c in analysed] if options.all_cells
                         else sorted(set().union(*(p.cells for p in plans.values()))))
            spec = {"notebook": chosen.nb, "run_cells": run_cells,
                    "exercises": [{"id": e, "function": p.function, "snapshot_at": p.check_cell} for e, p in plans.items()],
                    "cell_timeout": options.cell_timeout, "call_timeout": options.call_timeout}
            jobs.append(Job(key, spec, {e: cases_for(e).cases for e in lesson_due}))
            pending_rows += [(key, e, chosen) for e in lesson_due]
    before = fingerprint(options.watch, full=True)
    outcomes = run_jobs(jobs, mode=options.mode, n_jobs=options.jobs, timeout=options.timeout, quick=options.quick,
                        readonly=options.readonly, visible=options.visible, watch=options.watch, progress=progress)
    executed = {}
    tampered = []
    for key, outcome in outcomes.items():
        tampered += [f"{line} (after grading {key[0]}/{key[1]}, or another submission running at the time)"
                     for line in outcome.tampered]
        if outcome.results is not None:
            try:
                executed[key] = json.loads(outcome.results.get("executed", "{}"))
            except (TypeError, ValueError):
                pass
    late = [line for line in differences(before, fingerprint(options.watch, full=True))
            if not any(t.startswith(line) for t in tampered)]
    tampered += [f"{line} (found by the checksums after grading)" for line in late]
    for key, exercise_id, notebook in pending_rows:
        info = planned[key]
        rows.append(_row(key, exercise_id, notebook, info["plans"][exercise_id], info["references"][exercise_id],
                         outcomes.get(key, Outcome(problem="it was never run"))))
    order = {e: i for i, e in enumerate(due)}
    rows.sort(key=lambda r: (r.student, order[r.exercise]))
    return Result(rows, ignored, tampered, executed)


def _row(key: tuple, exercise_id: str, notebook: Notebook, plan, static_reference: str, outcome: Outcome) -> Row:
    student, shown = key
    exercise = EXERCISES[exercise_id]
    row = Row(student, exercise.notebook, exercise_id, FAILED, file=shown)
    if plan.def_cell is None:
        row.status, row.message = NOT_ATTEMPTED, f"the notebook defines no function `{exercise.function}`"
        return row
    if static_reference:
        row.status, row.message = REFERENCE, f"`{exercise.function}` is the course's reference: {static_reference}"
        return row
    if outcome.results is None:
        row.status, row.message = COULD_NOT_RUN, f"the notebook could not be run: {outcome.problem}"
        return row
    record = outcome.results["exercises"].get(exercise_id)
    if not isinstance(record, dict):
        row.status, row.message = COULD_NOT_RUN, "no result came back for this exercise"
        return row
    if isinstance(record.get("reference"), str) and record["reference"]:
        row.status, row.message = REFERENCE, f"`{exercise.function}` is the course's reference: {record['reference']}"
        return row
    cell_error = outcome.results.get("cell_errors", {}).get(plan.def_cell, "")
    if record.get("state") == "undefined":
        row.message = f"`{exercise.function}` was not defined when the notebook ran"
        row.message += f" (its cell raised {cell_error})" if cell_error else ""
        return row
    if record.get("state") == "not callable":
        row.message = f"`{exercise.function}` is a {record.get('type')}, not a function"
        return row
    calls = record.get("calls") or []
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        row.status, row.message = COULD_NOT_RUN, "its results were not in the grader's format"
        return row
    if calls and (calls[0].get("error") or ("", ""))[0] == "NotImplementedError":
        row.status, row.message = NOT_ATTEMPTED, "it still raises NotImplementedError"
        return row
    for i, call in enumerate(calls):
        if call.get("timeout"):
            row.status = COULD_NOT_RUN
            row.message = f"`{exercise.function}` did not return within the time limit (case {i + 1})"
            return row
    result = judge(exercise_id, calls)
    row.status = PASSED if result.passed else FAILED
    row.message, row.hint = result.message, result.hint
    return row


# ---------------------------------------------------------------------------- writing it down


def write(result: Result, out: Path, due: list[str]) -> dict[str, Path]:
    """Write the gradebook folder: long and wide CSV, summary, ignored files, executed notebooks."""
    out.mkdir(parents=True, exist_ok=True)
    executed_dir = out / "executed"
    for (student, shown), nb in result.executed.items():
        target = executed_dir / _safe(student) / (_safe(Path(shown).stem) + ".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
        for row in result.rows:
            if (row.student, row.file) == (student, shown):
                row.executed = target.relative_to(out).as_posix()
    paths = {"long": out / "gradebook.csv", "wide": out / "gradebook_wide.csv", "summary": out / "summary.md",
             "ignored": out / "ignored.csv"}
    with open(paths["long"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "exercise", "status", "points", "message", "hint", "file", "executed"])
        for r in result.rows:
            w.writerow([r.student, r.notebook, r.exercise, r.status, r.points, r.message, r.hint, r.file, r.executed])
    students = sorted({r.student for r in result.rows})
    with open(paths["wide"], "w", newline="", encoding="utf-8-sig") as f:  # the BOM makes Excel read UTF-8
        w = csv.writer(f)
        w.writerow(["student"] + due + ["total", "out of", "percent"])
        for s in students:
            mine = {r.exercise: r for r in result.rows if r.student == s}
            total = sum(mine[e].points for e in due if e in mine)
            w.writerow([s] + [mine[e].status if e in mine else "" for e in due]
                       + [total, len(due), f"{100 * total / len(due):.0f}" if due else ""])
    with open(paths["ignored"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "reason"])
        w.writerows(result.ignored)
    paths["summary"].write_text(summary_markdown(result, due), encoding="utf-8")
    return paths


def summary_line(result: Result) -> str:
    students = sorted({r.student for r in result.rows})
    incomplete = sorted({r.student for r in result.rows if r.status in INCOMPLETE})
    submissions = {(r.student, r.notebook) for r in result.rows}
    missing = {(r.student, r.notebook) for r in result.rows if r.status == MISSING}
    broken = {(r.student, r.notebook) for r in result.rows if r.status == COULD_NOT_RUN}
    passed = sum(r.points for r in result.rows)
    line = (f"{len(students)} students, {len(submissions)} submissions due: {passed} of {len(result.rows)} exercises passed; "
            f"{len(incomplete)} students incomplete ({len(missing)} notebooks missing, "
            f"{len(broken)} unreadable or could not run); "
            f"{len(result.ignored)} files ignored")
    if result.tampered:
        line += f"; WARNING: {len(result.tampered)} changes to the course's files during grading"
    return line


def summary_markdown(result: Result, due: list[str]) -> str:
    students = sorted({r.student for r in result.rows})
    lines = ["# Class summary", "", summary_line(result) + ".", ""]
    lines += ["## Pass rate per exercise", "", "| exercise | " + " | ".join(STATUSES) + " | pass rate |",
              "|---|" + "---|" * (len(STATUSES) + 1)]
    for e in due:
        mine = [r for r in result.rows if r.exercise == e]
        counts = Counter(r.status for r in mine)
        rate = f"{100 * counts[PASSED] / len(mine):.0f}%" if mine else ""
        lines.append(f"| `{e}` | " + " | ".join(str(counts[s]) for s in STATUSES) + f" | {rate} |")
    lines += ["", "## Most common hints", ""]
    any_hint = False
    for e in due:
        hints = Counter(r.hint or r.message for r in result.rows if r.exercise == e and r.status == FAILED)
        if hints:
            any_hint = True
            lines.append(f"- `{e}`: " + "; ".join(f"{n}× {_md(h)}" for h, n in hints.most_common(3)))
    if not any_hint:
        lines.append("No exercise was failed.")
    lines += ["", "## Per student", "", "| student | passed | of | not passed |", "|---|---|---|---|"]
    for s in students:
        mine = [r for r in result.rows if r.student == s]
        other = Counter(r.status for r in mine if r.status != PASSED)
        lines.append(f"| {_md(s)} | {sum(r.points for r in mine)} | {len(mine)} | "
                     + ", ".join(f"{n} {k}" for k, n in sorted(other.items())) + " |")
    lines += ["", "## Files left aside", ""]
    lines += [f"- `{_md(p)}`: {_md(why)}" for p, why in result.ignored] or ["None."]
    lines += ["", "## Changes to the course's files during grading", ""]
    lines += [f"- {_md(t)}" for t in result.tampered] or ["None detected."]
    lines += [f"- {_md(n)}" for n in result.notes]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
