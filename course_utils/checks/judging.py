"""Judging an answer: run it on the exercise's cases, compare with the reference, and hand back a function.

A check runs the student's function on cases whose answers the course's reference function knows, and
prints one verdict line (see :mod:`course_utils.checks.formatting`). Then it says which function the following
cells will use, and returns it: the student's when it passed, an opaque stand-in for the course's reference
otherwise, so a student is never stuck. A check never raises and never prints the expected values; the stand-in
lends the reference's results but not its code (``??`` and ``inspect.getsource`` show a note, not the source).

The grader (``python -m course_tools.grading``) never reads printed lines, which student code could forge: it
calls the student's function on the same cases in an isolated process and runs :func:`evaluate` on the results
itself (with the same in-place detection, :mod:`course_utils.checks.inputs`), so the verdict and the hint are
the ones the student saw.
"""

from __future__ import annotations

import copy
import inspect
import linecache
from collections.abc import Callable
from dataclasses import dataclass

import torch

from . import diagnosis
from .compare import Mismatch, compare, describe, same
from .diagnosis import Outcome
from .formatting import format_hand_back, format_result
from .inputs import argument_name, changed_inputs, snapshot_inputs
from .registry import EXERCISES, Case, Exercise, cases_of


@dataclass
class CheckResult:
    """A verdict. ``source`` says where the hint came from: "mistake" (a known mistake), "error" (a known
    exception), "structure" (type, shape, dtype, None, in place, ...), "behaviour" (returns an input, draws its
    own noise), "diagnosis" (how the values are off) or "generic"; ``kind`` is the finer
    :class:`~course_utils.checks.diagnosis.Diagnosis` kind (or the mismatch's kind, e.g. "dtype")."""

    exercise: str
    passed: bool
    message: str
    hint: str = ""
    source: str = ""
    kind: str = ""


_SOURCE = {"mistake": "mistake", "error": "error", "returned_input": "behaviour", "random": "behaviour",
           "generic": "generic"}


def run_check(exercise_id: str, student_fn: Callable, cases: list[Case] | None = None, *, quiet: bool = False,
              **options) -> Callable:
    """Check ``student_fn`` against the exercise's reference; print the verdict.

    ``cases`` default to the registered ones; ``options`` override the exercise's ``atol``/``rtol``.
    Returns the function the following cells should use: ``student_fn`` when it passed, the
    course's reference (as an opaque stand-in) otherwise.
    """
    exercise = EXERCISES[exercise_id]
    is_stand_in = getattr(student_fn, "__course_reference__", False)  # what we returned last time
    if is_stand_in:
        result = CheckResult(exercise.id, False, "this is the course's reference, not your function.",
                             "Run your exercise cell again (it defines your version), then this cell.", "behaviour",
                             "stand_in")
    else:
        result = evaluate(exercise, student_fn, cases, **options)
    if not quiet:
        print(format_result(result))
        print(format_hand_back(exercise.function, result.passed))
    if result.passed or is_stand_in:
        return student_fn
    return reference_stand_in(exercise)


def make_check(exercise: Exercise) -> Callable:
    """The ``check_<function>(fn)`` students call: runs :func:`run_check` for this exercise."""
    def check(student_fn):
        return run_check(exercise.id, student_fn)

    check.__name__ = check.__qualname__ = exercise.check
    check.__module__ = "course_utils.checks"
    check.__doc__ = (f"Check your `{exercise.function}` ({exercise.practises}, notebook {exercise.notebook[:2]}): "
                     f"prints ✓ PASSED or ✗ NOT YET with a hint, and returns the function the cells below should use.")
    return check


_STAND_IN = '''def {name}(*args, **kwargs):
    """The course's reference: write your own.

    The cells below use this stand-in for the course's `{name}` until your own passes its check; its code
    is not shown. Run your exercise cell again (it defines your version), then the check cell.
    """
    return _lent(*args, **kwargs)
'''


def reference_stand_in(exercise: Exercise) -> Callable:
    """The reference, lent under the exercise's name: it computes what the reference computes, but its docstring,
    ``??`` and ``inspect.getsource`` say "the course's reference: write your own" instead of showing the code. It is
    marked (``__course_reference__``) so that checking it again is not mistaken for the student's own work."""
    name = exercise.function
    filename = f"<the course's reference {name}: write your own>"
    source = _STAND_IN.format(name=name)
    namespace = {"_lent": exercise.reference}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - the course's own fixed text
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    stand_in = namespace[name]
    stand_in.__module__ = "course_utils.checks"
    try:
        stand_in.__signature__ = inspect.signature(exercise.reference)
    except (TypeError, ValueError):
        pass
    stand_in.__course_reference__ = True
    return stand_in


def parameter_names(fn: Callable, fallback: Callable) -> list[str]:
    for f in (fn, fallback):
        try:
            return list(inspect.signature(f).parameters)
        except (TypeError, ValueError):
            continue
    return []


def evaluate(exercise: Exercise, student_fn: Callable, cases: list[Case] | None = None, *,
             atol: float | None = None, rtol: float | None = None) -> CheckResult:
    """Run the cases and return a :class:`CheckResult`; never raises, and leaves torch's random state as it was."""
    if not callable(student_fn):
        return CheckResult(exercise.id, False, f"expected a function, got {describe(student_fn)}.",
                           f"Pass the function itself: check(`{exercise.function}`), without calling it.", "structure",
                           "type")
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            return _evaluate(exercise, student_fn, cases_of(exercise) if cases is None else cases,
                             exercise.atol if atol is None else atol, exercise.rtol if rtol is None else rtol)
    except Exception as err:  # pragma: no cover - defensive: a check must never raise
        return CheckResult(exercise.id, False, f"the check itself failed ({type(err).__name__}: {err}); please report it.")


def _evaluate(exercise: Exercise, student_fn: Callable, cases: list[Case], atol: float, rtol: float) -> CheckResult:
    names = parameter_names(student_fn, exercise.reference)
    outcomes, changed = [], []
    for case in cases:
        try:
            expected = exercise.run(exercise.reference, copy.deepcopy(case.args), copy.deepcopy(case.kwargs))
        except Exception as err:  # a bug in the course, not the student's fault
            return CheckResult(exercise.id, False, f"the check itself failed ({type(err).__name__}: {err}); please report it.")
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        before = snapshot_inputs(args, kwargs)
        outcome = Outcome(case, expected, args=args, kwargs=kwargs)
        try:
            outcome.got = exercise.run(student_fn, args, kwargs)
        except NotImplementedError:
            return CheckResult(exercise.id, False, "not implemented yet.",
                               "Replace `raise NotImplementedError` with your code, run that cell, then this one.",
                               "structure", "not_implemented")
        except Exception as err:
            outcome.error = err
        outcomes.append(outcome)
        changed.append(changed_inputs(before, args, kwargs))

    for outcome, changed_paths in zip(outcomes, changed):
        where = f" (case: {outcome.case.label})" if outcome.case.label else ""
        if outcome.error is not None:
            return _error_result(exercise, outcomes, outcome, names, where, atol, rtol)
        if changed_paths:
            path = argument_name(next(iter(changed_paths)), names)
            return CheckResult(exercise.id, False, f"your function changed one of its input tensors in place (`{path}`){where}.",
                               "Build a new tensor instead (`y = x + ...`, not `x += ...`, `x[...] = ...` or `x.add_(...)`).",
                               "structure", "in_place")
        try:
            compare(outcome.got, outcome.expected, atol, rtol, exercise, _dtype_source(outcome, names))
            problem = exercise.validate(outcome.got, *outcome.args) if exercise.validate else None
            if problem:
                return CheckResult(exercise.id, False, problem[0].rstrip(".") + where + ".", problem[1], "structure",
                                   "requirement")
        except Mismatch as err:
            return _mismatch_result(exercise, student_fn, outcomes, outcome, err, names, atol, rtol)
    cases_word = "case agrees" if len(cases) == 1 else f"{len(cases)} cases agree"
    return CheckResult(exercise.id, True, f"{cases_word} with the reference.")


def _error_result(exercise: Exercise, outcomes: list[Outcome], outcome: Outcome, names: list[str], where: str,
                  atol: float, rtol: float) -> CheckResult:
    err = outcome.error
    message = f"your function raised {type(err).__name__}: {err}{where}"
    found = diagnosis.error_hint(exercise, outcome, names) or diagnosis.matching_mistake(exercise, outcomes, atol, rtol)
    if found:
        return CheckResult(exercise.id, False, message, found.text, _SOURCE[found.kind], found.kind)
    return CheckResult(exercise.id, False, message, diagnosis.GENERIC_ERROR_HINT, "generic", "exception")


def _mismatch_result(exercise: Exercise, student_fn: Callable, outcomes: list[Outcome], outcome: Outcome, err: Mismatch,
                     names: list[str], atol: float, rtol: float) -> CheckResult:
    label = outcome.case.label
    right = _agreeing(outcomes, outcome, atol, rtol) if err.kind == "values" else ""
    detail = "; ".join(p for p in (f"case: {label}" if label else "", f"right for: {right}" if right else "") if p)
    message = err.message.rstrip(".") + (f" ({detail})." if detail else ".")
    if err.kind in ("type", "none", "dtype", "device"):
        return CheckResult(exercise.id, False, message, err.hint, "structure", err.kind)
    if err.kind != "values":
        known = diagnosis.matching_mistake(exercise, outcomes, atol, rtol)
        if known:
            return CheckResult(exercise.id, False, message, known.text, "mistake", "mistake")
        return CheckResult(exercise.id, False, message, err.hint, "structure", err.kind)
    found = diagnosis.explain(exercise, student_fn, outcomes, outcome, names, atol, rtol)
    return CheckResult(exercise.id, False, message, found.text, _SOURCE.get(found.kind, "diagnosis"), found.kind)


def _dtype_source(outcome: Outcome, names: list[str]) -> str:
    """The name of a floating-point input with the result's expected dtype (the one the result should keep)."""
    expected = outcome.expected[0] if isinstance(outcome.expected, tuple) and outcome.expected else outcome.expected
    if not isinstance(expected, torch.Tensor):
        return ""
    for i, a in enumerate(outcome.case.args):
        if isinstance(a, torch.Tensor) and a.is_floating_point() and a.dtype == expected.dtype and i < len(names):
            return names[i]
    return ""


def _agreeing(outcomes: list[Outcome], failing: Outcome, atol: float, rtol: float) -> str:
    """The labels of the other cases the student's function gets right, if some (not all) are right."""
    right = [o.case.label for o in outcomes if o is not failing and o.error is None and o.case.label
             and same(o.got, o.expected, atol, rtol) and type(o.got) is type(o.expected)]
    return ", ".join(right) if right and len(right) < len(outcomes) else ""
