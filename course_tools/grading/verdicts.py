"""Verdicts computed in the grader's own process, through the very code the notebook's check runs.

A submission runs in a sandbox. There its exercise functions are called on the cases and only the raw results
come back (tensors, numbers, exception names, which inputs changed). Here :func:`judge` hands the check's own
:func:`course_utils.checks.evaluate` a stand-in for the student's function that replays those results, call
by call: the same comparisons and tolerances, the same in-place detection (``course_utils.checks.inputs``, on
both sides: tensors inside dataclasses, modules, lists and dicts too), the same hints, worded with the
student's own parameter names. The check calls a wrong answer a second time to spot fresh random numbers; the
harness made that second call too, and it is replayed. For an exercise whose answer is what the function
does (``Exercise.call``: a training step), the harness ran the case through ``call`` and the replay stands
for that whole run, while the reference and the known mistakes still go through ``call`` here.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from functools import lru_cache

import torch

from course_utils import checks
from course_utils.checks import EXERCISES, Case, CheckResult, cases_of, evaluate, input_tensors

from .jobs import threads

__all__ = ["Case", "GradingSetupError", "Replay", "cases_for", "check_functions", "judge"]


class GradingSetupError(RuntimeError):
    """The course's checks could not be read (a bug in the course, not in a submission)."""


@lru_cache(maxsize=1)
def check_functions() -> dict[str, Callable]:
    """exercise id -> the check function students call (``check_add_noise`` for ``nb01.add_noise``), from the registry."""
    found = {e.id: getattr(checks, e.check, None) for e in EXERCISES.values()}
    missing = sorted(i for i, fn in found.items() if not callable(fn))
    if missing:
        raise GradingSetupError(f"no check function found for {', '.join(missing)}")
    return found


def cases_for(exercise_id: str) -> list:
    """The cases the exercise's check runs (its registered ones), built once."""
    if exercise_id not in EXERCISES:
        raise GradingSetupError(f"{exercise_id} is not a registered exercise")
    return list(cases_of(EXERCISES[exercise_id]))


# ---------------------------------------------------------------------------- what came back, replayed


class _Returned:
    """Stands for a returned object the sandbox could not send back; only its type name matters to a check."""


def _unsupported(type_name: str):
    cls = type(str(type_name)[:80] or "object", (_Returned,), {})
    return cls()


def restore(value):
    """Undo :func:`course_tools.grading.harness.sanitize` (markers for unsupported types become stand-ins)."""
    if isinstance(value, dict):
        if set(value) == {"__type__"}:
            return _unsupported(value["__type__"])
        if set(value) == {"__complex__"} and isinstance(value["__complex__"], list) and len(value["__complex__"]) == 2:
            return complex(*value["__complex__"])
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


def _same_arguments(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape \
            and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same_arguments(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_arguments(a[k], b[k]) for k in a)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(_same_arguments(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, torch.nn.Module):
        return type(a) is type(b)
    try:
        return bool(a == b)
    except Exception:
        return a is b


class Replay:
    """Stands for the student's function: gives back, call by call, what it returned (or raised) in the sandbox.

    The first calls are the cases in order; a further call (the check asking a wrong answer again) is matched
    to its case by its arguments and gets what the second call returned.
    """

    def __init__(self, calls: list[dict], cases: list, params: list[str], reference: Callable):
        self.calls, self.cases, self.n = calls, cases, 0
        self.valid: dict[int, list | None] = {}
        names = [p for p in params if isinstance(p, str) and p.isidentifier()]
        try:
            self.__signature__ = (inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                                     for n in names]) if names else inspect.signature(reference))
        except (TypeError, ValueError):
            self.__signature__ = inspect.Signature()

    def __call__(self, *args, **kwargs):
        i, self.n = self.n, self.n + 1
        if i >= len(self.cases):
            return self._again(args, kwargs)
        if i >= len(self.calls):
            raise _raised("GraderError", "no result came back for this case")
        call = self.calls[i]
        tensors = input_tensors(args, kwargs)
        for path, after in (call.get("changed") or {}).items():
            target = tensors.get(str(path))
            if target is None:
                continue
            if not isinstance(after, torch.Tensor):  # gone, or replaced by something else, in the sandbox
                after = torch.full_like(target, float("nan")) if target.is_floating_point() else target + 1
            with torch.no_grad():
                if target.shape == after.shape and target.dtype == after.dtype:
                    target.copy_(after)
                else:
                    target.set_(after.clone())
        if call.get("error"):
            type_name, message = call["error"]
            raise _raised(str(type_name), str(message))
        got = restore(call.get("out"))
        self.valid[id(got)] = call.get("valid")
        return got

    def _again(self, args, kwargs):
        for case, call in zip(self.cases, self.calls):
            if _same_arguments(list(args), list(case.args)) and _same_arguments(kwargs, case.kwargs):
                if call.get("again") is None:
                    raise _raised("GraderError", "the second call did not return")
                return restore(call["again"])
        raise _raised("GraderError", "no result came back for this call")

    def validate(self, got, *args):  # noqa: ARG002
        found = self.valid.get(id(got))
        return tuple(found) if found else None


def judge(exercise_id: str, record: dict, cases: list, *, public: int | None = None) -> CheckResult:
    """The check's verdict on what the student's function returned on ``cases`` (the first ``public`` are the
    notebook's own; the rest were drawn for this run and are judged only once the public ones pass). The
    reference runs with as many threads as the sandbox used (jobs.THREADS), so that equal work rounds alike."""
    with threads():
        return _judge(exercise_id, record, cases, public)


def _judge(exercise_id: str, record: dict, cases: list, public: int | None) -> CheckResult:
    exercise = EXERCISES[exercise_id]
    calls = record.get("calls") or []
    public = len(cases) if public is None else public
    replay = Replay(calls[:public], cases[:public], record.get("params") or [], exercise.reference)
    first = _evaluate(exercise, replay, cases[:public])
    if not first.passed or public >= len(cases):
        return first
    hidden = cases[public:]
    replay = Replay(calls[public:], hidden, record.get("params") or [], exercise.reference)
    second = _evaluate(exercise, replay, hidden)
    if second.passed:
        return CheckResult(exercise_id, True, f"{first.message.rstrip('.')}, and {len(hidden)} hidden cases drawn for "
                                              "this run agree too.")
    return CheckResult(exercise_id, False, "the notebook's cases pass, but a case the grader drew for this run does "
                                           f"not: {second.message}", second.hint, second.source)


class _Run:
    """``Exercise.call`` for the judging: the replay already stands for a whole run; anything else (the
    reference, a known mistake) still runs through the exercise's own ``call``."""

    def __init__(self, call, replay: Replay):
        self.call, self.replay = call, replay

    def __call__(self, fn, *args, **kwargs):
        if fn is self.replay:
            return self.replay(*args, **kwargs)
        return self.call(fn, *args, **kwargs)


def _evaluate(exercise, replay: Replay, cases: list) -> CheckResult:
    changes = {}
    if exercise.validate is not None:
        changes["validate"] = replay.validate
    if getattr(exercise, "call", None) is not None:
        changes["call"] = _Run(exercise.call, replay)
    return evaluate(dataclasses.replace(exercise, **changes) if changes else exercise, replay, cases)
