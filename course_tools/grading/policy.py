"""Which course functions an exercise's function may call, and what the harness's report of a call means.

While the grader calls a student's function, the harness's profiler names every course function that runs
(``course_utils.forward:add_noise``; also a function whose bytecode is an exact copy of a course function's,
wherever it came from) and those the student's own code calls, however it got hold of them: an import,
``getattr``, ``vars``, ``importlib``, a wrapper class, ``functools.partial``, a library function in between.
The grader then decides here:

* the exercise's reference ran, at any depth: the course's answer was used;
* the student's code called a course *function* the exercise does not hand them: the answer was composed from
  the course's own pieces (``ddpm_step`` from ``q_posterior_mean_variance`` and ``predict_x0_from_eps``).

What an exercise hands the student (:func:`allowed`): every course name the course's *student copy* of the
notebook imports; the references of the notebook's earlier exercises (a failed check hands those on); and
every method of the course's classes (a noise schedule's ``at``, the network's ``forward``, the EMA's
``update`` of a training state the check built): objects are the plumbing a student works with, and a method
that runs an exercise's reference is still caught by the first rule. Never the exercise's own reference, even
where the notebook imports it to compare.
"""

from __future__ import annotations

import ast
import inspect
import types
from functools import cache
from pathlib import Path

import torch

from course_utils.checks import EXERCISES

from ..nbio import cell_source, read_notebook
from .verdicts import cases_for

ROOT = Path(__file__).resolve().parents[2]
STUDENT_NOTEBOOKS = ROOT / "notebooks"


def name_of(fn) -> str:
    """``module:qualname`` of a course function, as the harness names what runs."""
    fn = inspect.unwrap(fn)
    if isinstance(fn, property):
        fn = fn.fget
    return f"{getattr(fn, '__module__', '')}:{getattr(fn, '__qualname__', getattr(fn, '__name__', ''))}"


def _course(obj) -> bool:
    module = getattr(obj, "__module__", "") or ""
    return module == "course_utils" or module.startswith("course_utils.")


def _members(cls: type) -> set[str]:
    """Every method and property a course class (and its course bases) defines."""
    out = set()
    for klass in cls.__mro__:
        if not _course(klass):
            continue
        for value in vars(klass).values():
            value = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if isinstance(value, property):
                out |= {name_of(f) for f in (value.fget, value.fset) if f is not None}
            elif isinstance(value, types.FunctionType) and _course(value):
                out.add(name_of(value))
    return out


def _provided(obj) -> set[str]:
    if isinstance(obj, type):
        return _members(obj) if _course(obj) else set()
    if isinstance(obj, types.ModuleType):
        if not obj.__name__.startswith("course_utils"):
            return set()
        references = {name_of(e.reference) for e in EXERCISES.values()}
        out = set()
        for value in vars(obj).values():
            if isinstance(value, type) and _course(value):
                out |= _members(value)
            elif callable(value) and _course(value):
                out.add(name_of(value))
        return out - references
    return {name_of(obj)} if callable(obj) and _course(obj) else set()


def _imports(notebook: dict) -> set[str]:
    """The course objects the notebook's import statements bind."""
    import importlib

    out = set()
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell_source(cell)
        try:
            tree = ast.parse("\n".join(line for line in source.split("\n") if not line.lstrip().startswith(("%", "!"))))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_utils") and not node.level:
                module = importlib.import_module(node.module)
                for alias in node.names:
                    obj = getattr(module, alias.name, None)
                    if obj is None:
                        try:
                            obj = importlib.import_module(f"{node.module}.{alias.name}")
                        except ImportError:
                            continue
                    out |= _provided(obj)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("course_utils"):
                        out |= _provided(importlib.import_module(alias.name))
    return out


def _argument_classes(value, seen: set[type], depth: int = 0) -> None:
    if depth > 3:
        return
    if isinstance(value, (tuple, list)):
        for v in value:
            _argument_classes(v, seen, depth + 1)
    elif isinstance(value, dict):
        for v in value.values():
            _argument_classes(v, seen, depth + 1)
    elif isinstance(value, torch.nn.Module):
        seen |= {type(m) for m in value.modules() if _course(type(m))}
    elif _course(type(value)):
        seen.add(type(value))


@cache
def allowed(exercise_id: str, notebooks: Path = STUDENT_NOTEBOOKS) -> frozenset[str]:
    """The course functions the exercise's function may call itself."""
    exercise = EXERCISES[exercise_id]
    exercise_id = exercise.id  # an old id (an alias) finds the same exercise
    out: set[str] = set()
    path = notebooks / f"{exercise.notebook}.ipynb"
    if path.exists():
        out |= _imports(read_notebook(path))
    ids = list(EXERCISES)
    for earlier in ids[:ids.index(exercise_id)]:
        if EXERCISES[earlier].notebook == exercise.notebook:
            out.add(name_of(EXERCISES[earlier].reference))
    classes: set[type] = set()
    for case in cases_for(exercise_id):
        _argument_classes(list(case.args) + list(case.kwargs.values()), classes)
    for cls in classes:
        out |= _members(cls)
    out.discard(name_of(exercise.reference))
    return frozenset(out)


def _method(name: str) -> bool:
    """``module:Class.method`` (not a function nested in a function)."""
    qualname = name.partition(":")[2]
    return "." in qualname and "<locals>" not in qualname


def _shown(name: str) -> str:
    module, _, qualname = name.partition(":")
    return f"{module}.{qualname}"


def reference_use(exercise_id: str, calls: list[dict]) -> str:
    """Why what the harness saw during the calls means the course's answer was used ("" when it does not)."""
    exercise = EXERCISES[exercise_id]
    reference = name_of(exercise.reference)
    permitted = allowed(exercise_id)
    for call in calls:
        ran = [n for n in call.get("ran") or [] if isinstance(n, str)]
        direct = [n for n in call.get("direct") or [] if isinstance(n, str)]
        if reference in ran:
            return f"the course's reference `{_shown(reference)}` ran inside it"
        copies = [n for n in ran if n.startswith(reference) and n.endswith("(a copy of its code)")]
        if copies:
            return f"it runs an exact copy of the course's reference `{_shown(reference)}`"
        foreign = sorted(n for n in direct if n.endswith("(a copy of its code)")
                         or (n not in permitted and not _method(n)))
        if foreign:
            shown = ", ".join(f"`{_shown(n.split(' (')[0])}`" + (" (a copy of its code)" if n.endswith(")") else "")
                              for n in foreign[:3])
            return f"it calls {shown}, which this exercise does not hand you: the course's own code computes the answer"
    return ""
