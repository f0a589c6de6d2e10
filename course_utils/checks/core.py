"""The machinery behind every exercise check.

A check runs the student's function on cases whose answers the course's
reference function knows, and prints one verdict line:

    ✅ [nb01.add_noise] passed: 3 cases agree with the reference.
    ❌ [nb01.add_noise] not yet: wrong shape: got (4, 28), expected (4, 1, 28, 28).
       Hint: ...

Then it says which function the following cells will use, and returns it:
the student's when it passed, the course's reference otherwise, so a student
is never stuck. A check never raises and never prints the expected values.

The grader (``python -m course_tools.grading``) reads these same verdict
lines from the executed notebooks, so instructors see what students saw.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

PASS_MARK = "✅"
FAIL_MARK = "❌"
VERDICT_PATTERN = r"^(✅|❌) \[(?P<exercise>[\w.]+)\] (?P<verdict>passed|not yet): ?(?P<message>.*)$"


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it is, what it practises, and the reference that answers it."""

    id: str  # "nb01.add_noise"
    notebook: str  # "01_adding_noise_by_hand"
    function: str  # the name the student completes
    practises: str
    difficulty: str  # "easy" | "medium" | "hard"
    reference: Callable


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    EXERCISES[exercise.id] = exercise
    return exercise


@dataclass
class Case:
    """Arguments for one call, and an optional description used in messages."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    label: str = ""


@dataclass(frozen=True)
class KnownMistake:
    """A plausible wrong answer: if the student's output matches ``wrong(*args)``, say ``hint``."""

    wrong: Callable
    hint: str


@dataclass
class CheckResult:
    exercise: str
    passed: bool
    message: str
    hint: str = ""


class _Mismatch(Exception):
    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message, self.hint = message, hint


def _describe(value: Any) -> str:
    return type(value).__name__ if value is not None else "None"


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _compare_tensor(got: Any, expected: torch.Tensor, what: str, atol: float, rtol: float) -> None:
    if got is None:
        raise _Mismatch(f"{what} is None.", "Did you forget the `return` statement?")
    if isinstance(got, (int, float)) and expected.dim() == 0:
        got = torch.tensor(float(got), dtype=expected.dtype)
    if not isinstance(got, torch.Tensor):
        raise _Mismatch(f"{what} is a {_describe(got)}, expected a torch.Tensor.", "Build the result with torch operations.")
    if tuple(got.shape) != tuple(expected.shape):
        raise _Mismatch(
            f"wrong shape: got {tuple(got.shape)}, expected {tuple(expected.shape)}.",
            "Check which dimensions you reduced, added or dropped; print `.shape` after each line.",
        )
    if got.device != expected.device:
        raise _Mismatch(
            f"{what} is on {got.device}, but the inputs were on {expected.device}.",
            "Create new tensors on the input's device (e.g. `torch.zeros_like(x)` or `device=x.device`).",
        )
    if got.is_floating_point() != expected.is_floating_point() or (
        expected.is_floating_point() and got.dtype != expected.dtype
    ):
        raise _Mismatch(
            f"wrong dtype: got {got.dtype}, expected {expected.dtype}.",
            "Keep the input's dtype: avoid Python ints for division, or use `.float()`.",
        )
    if expected.is_floating_point() and not torch.isfinite(got).all():
        raise _Mismatch(f"{what} contains NaN or infinity.", "Look for a division by zero or the log/sqrt of a negative number.")
    if not torch.allclose(got.double(), expected.double(), atol=atol, rtol=rtol):
        diff = (got.double() - expected.double()).abs().max().item()
        raise _Mismatch(f"the values are off (largest difference {diff:.3g}).")


def _compare(got: Any, expected: Any, atol: float, rtol: float) -> None:
    if isinstance(expected, torch.Tensor):
        _compare_tensor(got, expected, "your result", atol, rtol)
        return
    if isinstance(expected, tuple):
        got_t = _as_tuple(got) if got is not None else None
        if got_t is None or len(got_t) != len(expected):
            raise _Mismatch(
                f"expected {len(expected)} values, got {('None' if got is None else len(got_t))}.",
                f"Return a tuple of {len(expected)} values, in the order the docstring gives.",
            )
        for i, (g, e) in enumerate(zip(got_t, expected)):
            try:
                _compare(g, e, atol, rtol)
            except _Mismatch as err:
                raise _Mismatch(f"value {i + 1} of {len(expected)}: {err.message}", err.hint) from None
        return
    if isinstance(expected, (int, float)):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            raise _Mismatch(f"your result is a {_describe(got)}, expected a number.", "Return a Python float (use `.item()` on a one-element tensor).")
        if not math.isfinite(got):
            raise _Mismatch("your result is NaN or infinite.")
        if not math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
            raise _Mismatch("the value is off.")
        return
    raise TypeError(f"cannot compare {type(expected)}")  # a bug in the check itself


def _matches(got: Any, candidate: Any, atol: float, rtol: float) -> bool:
    try:
        _compare(got, candidate, atol, rtol)
        return True
    except Exception:
        return False


def _snapshot(args: tuple, kwargs: dict) -> list:
    return [a.clone() for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]


def run_check(exercise_id: str, student_fn: Callable, cases: list[Case], *, quiet: bool = False, **options) -> Callable:
    """Check ``student_fn`` against the exercise's reference on ``cases``; print the verdict.

    ``options`` go to :func:`evaluate` (``mistakes``, ``generic_hint``, ``atol``, ``rtol``).
    Returns the function the following cells should use: ``student_fn`` when it
    passed, the reference otherwise.
    """
    exercise = EXERCISES[exercise_id]
    is_stand_in = getattr(student_fn, "__course_reference__", False)  # what we returned last time
    if is_stand_in:
        result = CheckResult(exercise_id, False, "this is the course's reference, not your function.",
                             "Run your exercise cell again (it defines your version), then this cell.")
    else:
        result = evaluate(exercise, student_fn, cases, **options)
    if not quiet:
        print(format_result(result))
        if result.passed:
            print(f"   → The cells below use your `{exercise.function}`.")
        else:
            print(f"   → The cells below use the course's reference `{exercise.function}` until yours passes.")
    if result.passed or is_stand_in:
        return student_fn
    return _reference_stand_in(exercise.reference)


def _reference_stand_in(reference: Callable) -> Callable:
    """The reference, marked so that checking it again is not mistaken for the student's own work."""
    @functools.wraps(reference)
    def stand_in(*args, **kwargs):
        return reference(*args, **kwargs)

    stand_in.__course_reference__ = True
    return stand_in


def evaluate(
    exercise: Exercise,
    student_fn: Callable,
    cases: list[Case],
    *,
    mistakes: tuple[KnownMistake, ...] = (),
    generic_hint: str = "",
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> CheckResult:
    """Run the cases and return a :class:`CheckResult`; never raises."""
    if not callable(student_fn):
        return CheckResult(exercise.id, False, f"expected a function, got a {_describe(student_fn)}.",
                           f"Pass the function itself: check(`{exercise.function}`), without calling it.")
    for case in cases:
        try:
            expected = exercise.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except Exception as err:  # a bug in the course, not the student's fault
            return CheckResult(exercise.id, False, f"the check itself failed ({type(err).__name__}: {err}); please report it.")
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        before = _snapshot(args, kwargs)
        where = f" (case: {case.label})" if case.label else ""
        try:
            got = student_fn(*args, **kwargs)
        except NotImplementedError:
            return CheckResult(exercise.id, False, "not implemented yet.",
                               "Replace `raise NotImplementedError` with your code, run that cell, then this one.")
        except Exception as err:
            return CheckResult(exercise.id, False, f"your function raised {type(err).__name__}: {err}{where}",
                               generic_hint or "Read the error message: it names the line and the operation that failed.")
        after = _snapshot(args, kwargs)
        if any(b.shape != a.shape or not torch.equal(b, a) for b, a in zip(before, after)):
            return CheckResult(exercise.id, False, f"your function changed one of its input tensors in place{where}.",
                               "Build a new tensor instead (`y = x + ...`, not `x += ...` or `x.add_(...)`).")
        try:
            _compare(got, expected, atol, rtol)
        except _Mismatch as err:
            hint = err.hint
            if not hint:
                for mistake in mistakes:
                    try:
                        wrong = mistake.wrong(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
                    except Exception:
                        continue
                    if _matches(got, wrong, atol, rtol):
                        hint = mistake.hint
                        break
            return CheckResult(exercise.id, False, err.message + where, hint or generic_hint)
        except Exception as err:  # pragma: no cover - defensive: a check must never raise
            return CheckResult(exercise.id, False, f"could not compare your result ({type(err).__name__}: {err}).")
    cases_word = "case agrees" if len(cases) == 1 else f"{len(cases)} cases agree"
    return CheckResult(exercise.id, True, f"{cases_word} with the reference.")


def format_result(result: CheckResult) -> str:
    if result.passed:
        return f"{PASS_MARK} [{result.exercise}] passed: {result.message}"
    line = f"{FAIL_MARK} [{result.exercise}] not yet: {result.message}"
    if result.hint:
        line += f"\n   Hint: {result.hint}"
    return line
