"""Verdicts computed in the grader's own process, from what a student's function returned.

A submission runs elsewhere (a forked, isolated child). There its exercise
functions are called on the check's cases and only the raw results come back
(tensors, numbers, exception names), never a verdict. Here the check's own
:func:`course_utils.checks.evaluate` judges them against the reference, run in
this process, with the same hints students see. Printed text plays no part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch

from course_utils import checks
from course_utils.checks import EXERCISES, CheckResult, evaluate
from course_utils.checks import core as checks_core


class GradingSetupError(RuntimeError):
    """The course's checks could not be read (a bug in the course, not in a submission)."""


@dataclass
class Captured:
    cases: list
    options: dict


@lru_cache(maxsize=1)
def check_functions() -> dict[str, Callable]:
    """exercise id -> the check function students call (``check_add_noise`` for ``nb01.add_noise``), from the registry."""
    found = {e.id: getattr(checks, e.check, None) for e in EXERCISES.values()}
    missing = sorted(i for i, fn in found.items() if not callable(fn))
    if missing:
        raise GradingSetupError(f"no check function found for {', '.join(missing)}")
    return found


def cases_for(exercise_id: str) -> Captured:
    """The cases the exercise's check runs (its registered ones), read without printing anything.

    The tolerances come with the exercise itself, so :func:`evaluate` needs no options.
    """
    if exercise_id not in EXERCISES:
        raise GradingSetupError(f"{exercise_id} is not a registered exercise")
    return Captured(list(checks_core.cases_of(EXERCISES[exercise_id])), {})


# ---------------------------------------------------------------------------- what came back, replayed


class _Returned:
    """Stands for a returned object the child could not send back; only its type name matters to a check."""


def _unsupported(type_name: str):
    cls = type(str(type_name)[:80] or "object", (_Returned,), {})
    return cls()


def restore(value):
    """Undo :func:`course_tools.grading.harness.sanitize` (markers for unsupported types become stand-ins)."""
    if isinstance(value, dict):
        if set(value) == {"__type__"}:
            return _unsupported(value["__type__"])
        return {k: restore(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(restore(v) for v in value)
    if isinstance(value, list):
        return [restore(v) for v in value]
    return value


def _raised(type_name: str, message: str) -> Exception:
    if type_name == "NotImplementedError":
        return NotImplementedError(message)
    cls = type(str(type_name)[:80] or "Exception", (Exception,), {})
    return cls(message)


def replay(calls: list[dict]) -> Callable:
    """A function that gives back, call by call, what the student's function returned (or raised) on the cases."""
    state = {"n": 0}

    def replayed(*args, **kwargs):
        i = state["n"]
        state["n"] += 1
        if i >= len(calls):
            raise _raised("GraderError", "no result came back for this case")
        call = calls[i]
        tensors = [a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]
        for position, after in (call.get("changed") or {}).items():
            if isinstance(position, int) and 0 <= position < len(tensors) and isinstance(after, torch.Tensor):
                target = tensors[position]
                if target.shape == after.shape:
                    target.copy_(after.to(target.dtype))
                else:
                    target.set_(after.clone().to(target.dtype))
        if call.get("error"):
            type_name, message = call["error"]
            raise _raised(type_name, message)
        return restore(call.get("out"))

    return replayed


def judge(exercise_id: str, calls: list[dict]) -> CheckResult:
    """The check's verdict on what the student's function returned, judged here against the reference."""
    captured = cases_for(exercise_id)
    return evaluate(EXERCISES[exercise_id], replay(calls), captured.cases, **captured.options)
