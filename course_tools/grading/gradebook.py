"""From submissions to a complete gradebook: one row per student and due exercise, whatever happened.

Statuses: passed, failed (with the check's hint), not attempted, notebook missing, could not run (with the
reason), used the reference. Every row, audit copy and finding is written by the grader from what it received
over the sandbox's pipe, never from a file a submission wrote.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from course_utils.checks import EXERCISES

from . import cells as cellmod
from . import hidden, policy, similarity
from .jobs import ExerciseTask, Job, NotebookTask, Outcome
from .roster import Entry, match
from .sandbox import Sandbox, run_jobs
from .submissions import Class, Notebook
from .tamper import Watcher
from .verdicts import cases_for, judge

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
MISSING, COULD_NOT_RUN, REFERENCE = "notebook missing", "could not run", "used the reference"
STATUSES = (PASSED, FAILED, NOT_ATTEMPTED, MISSING, COULD_NOT_RUN, REFERENCE)
INCOMPLETE = (MISSING, COULD_NOT_RUN)
# Attempts to look into the harness's process, or code disguised as the course's or a library's: the row is not
# trusted (could not run), and the summary says which cell did what.
DISTRUSTED = ("introspection", "disguised code")


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
    similar: str = ""  # whose function (or the reference) has the same normalised syntax tree

    @property
    def points(self) -> int:
        return 1 if self.status == PASSED else 0


@dataclass
class Options:
    jobs: int = 1
    timeout: float = 600.0  # per notebook: its cells and its calls
    cell_timeout: float = 300.0
    call_timeout: float = 30.0
    all_cells: bool = False  # run every cell instead of only what the checks need
    quick: bool = True
    hidden: int = hidden.PER_EXERCISE  # hidden cases per exercise (0: the notebook's cases only)
    seed: int | None = None  # for the hidden cases; None: a secret one, drawn for this run
    deadline: float | None = None  # time.monotonic() after which nothing more runs (Gradescope's budget)
    watch: list[Path] = field(default_factory=list)  # files no submission may change (checked before and after)


@dataclass
class Result:
    rows: list[Row]
    ignored: list[tuple[str, str]]
    tampered: list[str]  # changes to watched files, and attempts to write outside a sandbox
    executed: dict[tuple, dict]  # (student, notebook) -> the audit copy
    notes: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # what the harness saw a submission try
    not_on_roster: list[str] = field(default_factory=list)
    interrupted: bool = False
    isolation: str = ""


def due_exercises(notebooks: list[str] | None, exercises: list[str] | None, seen_lessons: set[str]) -> list[str]:
    """The due exercise ids: those named, or every exercise of the notebooks named (or, failing both, of those seen)."""
    lessons = sorted({e.notebook for e in EXERCISES.values()})
    if exercises:
        unknown = [e for e in exercises if e not in EXERCISES]
        if unknown:
            raise SystemExit(f"error: unknown exercise id(s) {', '.join(unknown)}; the ids are listed in INSTRUCTORS.md")
        return list(dict.fromkeys(EXERCISES[e].id for e in exercises))  # an old id (an alias) is its exercise
    chosen = []
    for name in notebooks or sorted(seen_lessons):
        hits = [lesson for lesson in lessons if lesson == name or lesson.startswith(f"{name}_")
                or lesson.startswith(f"{int(name):02d}_" if name.isdigit() else "\0")]
        if len(hits) != 1:
            raise SystemExit(f"error: no single notebook matches {name!r}; use a number (01) or a name ({lessons[0]})")
        chosen.append(hits[0])
    return [e.id for e in EXERCISES.values() if e.notebook in chosen]


def safe_names(names: list[str]) -> dict[str, str]:
    """A file-system-safe folder name per name, unique even where two names clean up alike ("li na", "li_na")."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(names):
        base = re.sub(r"[^\w.\-]+", "_", name).strip("._") or "_"
        candidate, n = base, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate.lower())
        out[name] = candidate
    return out


# ---------------------------------------------------------------------------- planning


@dataclass
class _Planned:
    student: str
    lesson: str
    file: Notebook
    plans: dict  # exercise id -> cells.ExercisePlan
    static: dict  # exercise id -> reference found in the source ("" if none)


def _choose(klass: Class, due: list[str], rows: list[Row], ignored: list) -> list[_Planned]:
    """Pick each student's notebook for each due lesson; rows for what is missing; the plan for the rest."""
    due_lessons = list(dict.fromkeys(EXERCISES[e].notebook for e in due))
    planned = []
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
            candidates = sorted((f for f in files if f.lesson == lesson),
                                key=lambda f: (f.named_as != lesson, -f.path.stat().st_mtime, f.shown_as))
            if not candidates:
                wrong = [f for f in files if f.named_as == lesson and f.lesson not in (None, lesson)]
                unreadable_here = [f for f in unreadable if f.named_as in (lesson, None)]
                if unreadable_here:
                    status = COULD_NOT_RUN
                    message = "; ".join(f"{f.shown_as} could not be read: {f.problem}" for f in unreadable_here)
                else:
                    status, message = MISSING, f"no notebook of this student holds the exercises of {lesson}"
                    message += "".join(f"; {f.shown_as} is named like it but holds notebook {f.lesson}" for f in wrong)
                rows += [Row(student, lesson, e, status, message) for e in lesson_due]
                continue
            chosen = candidates[0]
            for other in candidates[1:]:
                ignored.append((other.shown_as, f"a second notebook for {lesson}; graded {chosen.shown_as} instead"))
            analysed = cellmod.analyse(chosen.nb)
            plans = {e: cellmod.plan_exercise(chosen.nb, analysed, e) for e in lesson_due}
            static = {}
            for e, plan in plans.items():
                try:
                    static[e] = cellmod.reference_use(analysed, plan)
                except Exception:  # a grader bug must not cost the student: the run still judges it
                    static[e] = ""
            planned.append(_Planned(student, lesson, chosen, plans, static))
    return planned


def _cases(due: list[str], options: Options) -> tuple[dict[str, list], dict[str, int]]:
    """exercise id -> the notebook's cases followed by the hidden ones; and how many are public."""
    seed = hidden.secret_seed() if options.seed is None else options.seed
    out, public = {}, {}
    for e in due:
        mine = cases_for(e)
        public[e] = len(mine)
        out[e] = mine + hidden.draw(e, seed, options.hidden)
    return out, public


def _jobs(planned: list[_Planned], options: Options, sandbox: Sandbox, all_cases: dict) -> tuple[list[Job], dict]:
    by_student: dict[str, list[_Planned]] = {}
    for p in planned:
        by_student.setdefault(p.student, []).append(p)
    jobs_, blobs = [], {}
    for student, mine in by_student.items():
        tasks = []
        for p in mine:
            analysed = cellmod.analyse(p.file.nb)
            run = ([c.index for c in analysed] if options.all_cells
                   else sorted(set().union(*(plan.cells for plan in p.plans.values()))))
            exercises = tuple(ExerciseTask(e, plan.function, plan.snapshot) for e, plan in p.plans.items()
                              if plan.def_cell is not None and not p.static[e])
            tasks.append(NotebookTask(p.lesson, p.file.nb, tuple(run), exercises, options.timeout))
        job = Job(student, tuple(tasks), options.cell_timeout, options.call_timeout, options.quick,
                  sandbox.uids(len(tasks)))
        ids = [e.id for t in tasks for e in t.exercises]
        buffer = io.BytesIO()
        torch.save({e: all_cases[e] for e in ids}, buffer)
        blobs[student] = buffer.getvalue()
        jobs_.append(job)
    return jobs_, blobs


# ---------------------------------------------------------------------------- grading


def grade(klass: Class, due: list[str], options: Options, sandbox: Sandbox, *, roster: list[Entry] | None = None,
          progress=None) -> Result:
    """Grade every student in ``klass`` (and everyone on ``roster``) on the ``due`` exercises."""
    rows: list[Row] = []
    ignored = list(klass.ignored)
    klass, not_on_roster = _apply_roster(klass, roster, due, rows)
    planned = _choose(klass, due, rows, ignored)
    all_cases, public = _cases(due, options)
    jobs_, blobs = _jobs(planned, options, sandbox, all_cases)
    watcher = Watcher(options.watch)
    outcomes, interrupted = run_jobs(jobs_, blobs, sandbox, n_jobs=options.jobs, deadline=options.deadline,
                                     progress=progress, watch=watcher.after_job if sandbox.name == "plain" else None)
    tampered = watcher.finish()
    findings: list[str] = []
    executed: dict[tuple, dict] = {}
    sources: dict[str, dict[str, str]] = {}
    for p in planned:
        outcome = outcomes.get((p.student, p.lesson)) or Outcome(problem="it was never run")
        executed[(p.student, p.lesson)] = audit_copy(p, outcome)
        for event in outcome.events:
            findings.append(f"{p.student} ({p.file.shown_as}, {event['where']}): {event['event']}: {event['detail']}")
        for e in due:
            if EXERCISES[e].notebook != p.lesson:
                continue
            row = _row(p, e, outcome, all_cases[e], public[e])
            rows.append(row)
            record = ((outcome.results or {}).get("exercises") or {}).get(e)
            if isinstance(record, dict) and isinstance(record.get("source"), str):
                sources.setdefault(e, {})[p.student] = record["source"]
    for e, by_student in sources.items():
        for student, note in similarity.similar(by_student, EXERCISES[e].reference).items():
            for row in rows:
                if row.student == student and row.exercise == e:
                    row.similar = note
    order = {e: i for i, e in enumerate(due)}
    rows.sort(key=lambda r: (r.student.lower(), r.student, order[r.exercise]))
    return Result(rows, ignored, tampered, executed, findings=findings, not_on_roster=not_on_roster,
                  interrupted=interrupted, isolation=sandbox.name)


def _apply_roster(klass: Class, roster: list[Entry] | None, due: list[str], rows: list[Row]) -> tuple[Class, list[str]]:
    """Submissions renamed to their roster names; everyone on the roster without any, missing; the rest listed apart."""
    if roster is None:
        return klass, []
    students: dict[str, list[Notebook]] = {}
    strangers = []
    for name, files in klass.students.items():
        entry = match(roster, name)
        if entry is None:
            strangers.append(name)
            students.setdefault(name, []).extend(files)
        else:
            students.setdefault(entry.name, []).extend(files)
    for entry in roster:
        if entry.name not in students:
            students[entry.name] = []
    return Class(students, klass.ignored), sorted(strangers)


def _distrust(outcome: Outcome) -> str:
    seen = [e for e in outcome.events if e.get("event") in DISTRUSTED]
    if not seen:
        return ""
    first = seen[0]
    return f"the notebook looked into or disguised code in the grader's process ({first['detail']}, {first['where']})"


def _answer_reads(outcome: Outcome, exercise_id: str) -> str:
    """A read of the course's source that holds this exercise's reference, or of an answer file."""
    module = EXERCISES[exercise_id].reference.__module__.replace(".", "/")
    for event in outcome.events:
        if event.get("event") == "read answers":
            return f"it read {event['detail']} ({event['where']})"
        if event.get("event") == "read course source" and f"/{module}.py" in event.get("detail", "") \
                or event.get("event") == "read course source" and f"/{module}/__init__.py" in event.get("detail", ""):
            return f"it read the course's source {event['detail'].split('/course_utils/')[-1]} ({event['where']})"
    return ""


def _row(p: _Planned, exercise_id: str, outcome: Outcome, cases: list, public: int) -> Row:
    exercise = EXERCISES[exercise_id]
    plan = p.plans[exercise_id]
    row = Row(p.student, exercise.notebook, exercise_id, FAILED, file=p.file.shown_as)
    if plan.def_cell is None:
        row.status, row.message = NOT_ATTEMPTED, f"the notebook defines no function `{exercise.function}`"
        return row
    if p.static[exercise_id]:
        row.status, row.message = REFERENCE, f"`{exercise.function}` is the course's reference: {p.static[exercise_id]}"
        return row
    distrust = _distrust(outcome)
    if distrust:
        row.status, row.message = COULD_NOT_RUN, f"not graded: {distrust}; look at the audit copy"
        return row
    read = _answer_reads(outcome, exercise_id)
    if read:
        row.status, row.message = REFERENCE, f"`{exercise.function}` used the course's answer: {read}"
        return row
    results = outcome.results or {}
    record = (results.get("exercises") or {}).get(exercise_id)
    if not isinstance(record, dict):
        row.status = COULD_NOT_RUN
        row.message = f"the notebook could not be run: {outcome.problem}" if outcome.problem else \
            "no result came back for this exercise"
        return row
    cell_error = (results.get("cells", {}).get(plan.def_cell) or {}).get("error")
    state = record.get("state")
    if state == "undefined":
        row.message = f"`{exercise.function}` was not defined when the notebook ran"
        row.message += f" (its cell raised {cell_error[0]}: {cell_error[1][:300]})" if cell_error else ""
        return row
    if state == "not callable":
        row.message = f"`{exercise.function}` is a {record.get('type')}, not a function"
        return row
    if state == "threads":
        row.status = COULD_NOT_RUN
        row.message = ("the notebook left threads running (" + ", ".join(map(str, record.get("threads", [])))
                       + "), so its functions were not called; stop them in the notebook")
        return row
    calls = record.get("calls") or []
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        row.status, row.message = COULD_NOT_RUN, "its results were not in the grader's format"
        return row
    if record.get("marked_reference"):
        row.status, row.message = REFERENCE, f"`{exercise.function}` is the course's stand-in for the reference"
        return row
    used = policy.reference_use(exercise_id, calls)
    if used:
        row.status, row.message = REFERENCE, f"`{exercise.function}` used the course's answer: {used} (seen while it ran)"
        return row
    if calls and (calls[0].get("error") or ("", ""))[0] == "NotImplementedError":
        row.status, row.message = NOT_ATTEMPTED, "it still raises NotImplementedError"
        return row
    for i, call in enumerate(calls):
        if call.get("timeout"):
            row.status = COULD_NOT_RUN
            which = f"case {i + 1}" if i < public else f"hidden case {i - public + 1}"
            row.message = f"`{exercise.function}` did not return within the time limit ({which})"
            return row
    if len(calls) < len(cases) and not any(c.get("error") for c in calls) and outcome.problem:
        row.status = COULD_NOT_RUN
        row.message = f"the notebook stopped before all its cases ran: {outcome.problem}"
        return row
    result = judge(exercise_id, record, cases, public=public)
    row.status = PASSED if result.passed else FAILED
    row.message, row.hint = result.message, result.hint
    return row


# ---------------------------------------------------------------------------- the audit copy


def _lines(text: str) -> list[str]:
    parts = str(text).split("\n")
    return [line + "\n" for line in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def audit_copy(p: _Planned, outcome: Outcome) -> dict:
    """The submitted notebook as the grader received it, with the outputs its run reported, cell by cell."""
    nb = json.loads(json.dumps(p.file.nb))
    ran = (outcome.results or {}).get("cells", {})
    ran = {int(k): v for k, v in ran.items()} if isinstance(ran, dict) else {}
    for index, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cell["outputs"], cell["execution_count"] = [], None
        meta = cell.setdefault("metadata", {})
        info = ran.get(index)
        if info is None:
            meta["grading"] = "not run"
            continue
        cell["execution_count"] = info.get("count")
        meta["grading"] = f"ran in {info.get('seconds', 0)} s"
        for name in ("stdout", "stderr"):
            if info.get(name):
                cell["outputs"].append({"output_type": "stream", "name": name, "text": _lines(str(info[name])[:20_000])})
        if info.get("error"):
            ename, evalue = (list(info["error"]) + ["", ""])[:2]
            cell["outputs"].append({"output_type": "error", "ename": str(ename), "evalue": str(evalue)[:2000], "traceback": []})
    nb.setdefault("metadata", {})["grading"] = {
        "student": p.student, "file": p.file.shown_as,
        "note": "sources as submitted; outputs as the sandboxed run reported them; problems: " + (outcome.problem or "none"),
        "events": outcome.events[:50]}
    return nb


# ---------------------------------------------------------------------------- writing it down


def write(result: Result, out: Path, due: list[str]) -> dict[str, Path]:
    """Write the gradebook folder: long and wide CSV, summary, ignored files, audit copies."""
    out.mkdir(parents=True, exist_ok=True)
    folders = safe_names(sorted({s for s, _ in result.executed} | {r.student for r in result.rows}))
    for (student, lesson), nb in result.executed.items():
        target = out / "executed" / folders[student] / f"{lesson}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
        for row in result.rows:
            if (row.student, row.notebook) == (student, lesson):
                row.executed = target.relative_to(out).as_posix()
    paths = {"long": out / "gradebook.csv", "wide": out / "gradebook_wide.csv", "summary": out / "summary.md",
             "ignored": out / "ignored.csv"}
    with open(paths["long"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["student", "notebook", "exercise", "status", "points", "message", "hint", "file", "executed", "similar to"])
        for r in result.rows:
            w.writerow([r.student, r.notebook, r.exercise, r.status, r.points, r.message, r.hint, r.file, r.executed, r.similar])
    students = list(dict.fromkeys(r.student for r in result.rows))
    with open(paths["wide"], "w", newline="", encoding="utf-8-sig") as f:  # the BOM makes Excel read UTF-8
        w = csv.writer(f)
        w.writerow(["student"] + due + ["total", "out of", "percent", "on the roster"])
        for s in students:
            mine = {r.exercise: r for r in result.rows if r.student == s}
            total = sum(mine[e].points for e in due if e in mine)
            w.writerow([s] + [mine[e].status if e in mine else "" for e in due]
                       + [total, len(due), f"{100 * total / len(due):.0f}" if due else "",
                          "no" if s in result.not_on_roster else ""])
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
            f"{len(broken)} unreadable or could not run); {len(result.ignored)} files ignored")
    if result.not_on_roster:
        line += f"; {len(result.not_on_roster)} not on the roster"
    if result.tampered:
        line += f"; WARNING: {len(result.tampered)} changes or attempted changes to files outside the sandboxes"
    if result.interrupted:
        line += "; INTERRUPTED: rows of what did not finish say so"
    return line


def summary_markdown(result: Result, due: list[str]) -> str:
    students = list(dict.fromkeys(r.student for r in result.rows))
    lines = ["# Class summary", "", summary_line(result) + ".", "", f"Isolation: {result.isolation}.", ""]
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
    lines += ["", "## Not on the roster", ""]
    lines += [f"- {_md(s)}" for s in result.not_on_roster] or ["None (or no roster was given)."]
    lines += ["", "## Similar functions (reported, not failed)", ""]
    similar = [r for r in result.rows if r.similar]
    lines += [f"- {_md(r.student)}, `{r.exercise}`: same normalised code as {_md(r.similar)}" for r in similar] or ["None."]
    lines += ["", "## Files left aside", ""]
    lines += [f"- `{_md(p)}`: {_md(why)}" for p, why in result.ignored] or ["None."]
    lines += ["", "## What submissions tried inside their sandbox", ""]
    lines += [f"- {_md(t)}" for t in result.findings] or ["Nothing noteworthy."]
    lines += ["", "## Changes to files outside the sandboxes", ""]
    lines += [f"- {_md(t)}" for t in result.tampered] or ["None detected."]
    lines += [f"- {_md(n)}" for n in result.notes]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def elapsed(started: float) -> str:
    return f"{time.monotonic() - started:.0f} s"
