"""Who submitted what: students, their notebooks, and every file left aside, with the reason.

Accepted layouts, mixed freely in one folder:

* one folder per student, notebooks anywhere inside it (``ada/01_adding_noise_by_hand.ipynb``,
  ``ada/hw1/final version.ipynb``); an empty folder is a student who submitted nothing;
* the flat names of LMS bulk downloads at the top level:
  Canvas ``ada_12345_67890_01_adding_noise_by_hand.ipynb`` (also ``ada_late_12345_67890_...``),
  Moodle ``Ada Lovelace_12345_assignsubmission_file_01_adding_noise_by_hand.ipynb``,
  Blackboard ``Homework 1_ada_attempt_2024-03-01-10-00-00_01_adding_noise_by_hand.ipynb``.

A notebook counts for the lesson whose exercises it holds, whatever its name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .cells import lesson_of

_SKIP_DIRS = {".ipynb_checkpoints", "__MACOSX", "__pycache__", ".git"}
_LMS = [
    ("Canvas", re.compile(r"^(?P<student>[^_]+?)(?:_late|_LATE)?_(?P<uid>\d+)_(?P<sid>\d+)_(?P<file>.+)$")),
    ("Moodle", re.compile(r"^(?P<student>.+?)_(?P<uid>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.+)$")),
    ("Blackboard", re.compile(r"^.+?_(?P<student>[^_]+)_attempt_\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d_(?P<file>.+)$")),
]
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


@dataclass
class Notebook:
    """One submitted notebook file, read and recognised (or not)."""

    student: str
    path: Path
    shown_as: str  # the path the gradebook shows, relative to the submissions folder
    nb: dict | None = None
    problem: str = ""  # why it could not be read
    lesson: str | None = None  # the lesson whose exercises it holds
    exercises: set[str] = field(default_factory=set)
    named_as: str | None = None  # the lesson its file name suggests


@dataclass
class Class:
    students: dict[str, list[Notebook]]  # student -> their notebook files (possibly none)
    ignored: list[tuple[str, str]]  # (path, reason)


def lms_student(name: str) -> tuple[str, str] | None:
    """(student, original file name) from an LMS bulk-download file name, or None."""
    for _, pattern in _LMS:
        m = pattern.match(name)
        if m:
            return m.group("student").strip(), m.group("file")
    return None


def lesson_named(name: str, lessons: list[str]) -> str | None:
    """The lesson a file name points at: its full stem inside the name, or a leading number (``01_...``)."""
    low = name.lower()
    for lesson in lessons:
        if lesson.lower() in low:
            return lesson
    m = re.match(r"^\D*?(\d{1,2})[ _\-.]", Path(name).name)
    if m:
        number = f"{int(m.group(1)):02d}_"
        hits = [lesson for lesson in lessons if lesson.startswith(number)]
        if len(hits) == 1:
            return hits[0]
    return None


def read_notebook(path: Path) -> tuple[dict | None, str]:
    """(notebook JSON, "") or (None, why it cannot be used)."""
    try:
        size = path.stat().st_size
        if size > MAX_NOTEBOOK_BYTES:
            return None, f"too large ({size // 1_000_000} MB)"
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, "not a text file (not UTF-8)"
    except OSError as err:
        return None, f"cannot be read ({err.strerror})"
    if not text.strip():
        return None, "the file is empty"
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"not valid notebook JSON (line {err.lineno}: {err.msg})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, "not a Jupyter notebook (no list of cells)"
    if nb.get("nbformat", 4) != 4:
        return None, f"nbformat {nb.get('nbformat')} (open and save it in Jupyter to upgrade it to version 4)"
    return nb, ""


def _walk(folder: Path):
    for p in sorted(folder.iterdir()):
        if p.name in _SKIP_DIRS or p.name.startswith("."):
            continue
        if p.is_dir():
            yield from _walk(p)
        else:
            yield p


def collect(root: Path, lessons: list[str]) -> Class:
    """Every student in ``root`` and every file, recognised or left aside with the reason."""
    students: dict[str, list[Notebook]] = {}
    ignored: list[tuple[str, str]] = []

    def add(student: str, path: Path, name: str) -> None:
        shown = path.relative_to(root).as_posix()
        notebook = Notebook(student, path, shown)
        notebook.nb, notebook.problem = read_notebook(path)
        notebook.named_as = lesson_named(name, lessons)
        if notebook.nb is not None:
            notebook.lesson, notebook.exercises = lesson_of(notebook.nb)
        students.setdefault(student, []).append(notebook)

    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.name in _SKIP_DIRS:
            ignored.append((entry.name, "hidden or system entry"))
            continue
        if entry.is_dir():
            students.setdefault(entry.name, [])
            for path in _walk(entry):
                if path.suffix.lower() == ".ipynb":
                    add(entry.name, path, path.name)
                else:
                    ignored.append((path.relative_to(root).as_posix(), "not a notebook (.ipynb)"))
            continue
        if entry.suffix.lower() != ".ipynb":
            ignored.append((entry.name, "not a notebook (.ipynb), and not in a student's folder"))
            continue
        parsed = lms_student(entry.name)
        if parsed is None:
            ignored.append((entry.name, "a notebook at the top level whose name does not say whose it is: put it in "
                                        "a folder named for the student, or keep the LMS download name"))
            continue
        add(parsed[0], entry, parsed[1])
    return Class(students, ignored)
