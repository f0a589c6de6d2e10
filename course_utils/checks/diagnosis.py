"""Saying what is wrong with an answer, without giving the answer away.

Every function here returns a :class:`Diagnosis`, a ``kind`` and a ``text``: the kind says what was found
(a known mistake, a known exception, values off by a constant factor, ...), the text is the hint printed.
Decisions are taken on kinds, never on the wording of a hint. The kinds:

    mistake          the results match one of the exercise's known mistakes
    error            the exception is a known one (the exercise's own, or one many answers raise)
    returned_input   the result is one of the arguments, unchanged
    random           the result changes from call to call: new noise drawn instead of the one given
    close            the values are close, but not within the tolerance
    sign             the values have the opposite sign
    factor           the values are a constant multiple of the expected ones
    offset           the values are off by the same amount everywhere
    clipped          the values are right except where the expected ones lie outside a range
    items            right for some batch items (steps t, pairs) and not others, or a factor per item
    shifted          a series shifted by one place
    series           a series right up to an index, or whose ratio drifts
    norm             only the overall size can be told
    term             only the term with one input is off (optionally before a values kind)
    mask             right on one side of a 0/1 mask only
    generic          nothing more specific: the exercise's generic hint
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .compare import as_tuple, is_number, is_real_and_finite, same, size
from .registry import Case, Exercise, KnownError


@dataclass(frozen=True)
class Diagnosis:
    kind: str
    text: str


@dataclass
class Outcome:
    """One case of a check: what the reference returned, and what the student's function returned or raised."""

    case: Case
    expected: Any = None
    got: Any = None
    error: BaseException | None = None
    args: tuple = ()  # the copies the student's function received
    kwargs: dict | None = None


_MODULES = {"F": "import torch.nn.functional as F", "np": "import numpy as np", "nn": "from torch import nn",
            "math": "import math", "torch": "import torch", "numpy": "import numpy"}


def _name_error_hint(match: re.Match, names: list[str], float_inputs: list[str]) -> str:
    name = match.group(1)
    if name in _MODULES:
        return (f"`{name}` is not imported in this notebook: add `{_MODULES[name]}` at the top of your cell "
                "(or write the function out in full from a module that is imported).")
    args = ", ".join(f"`{n}`" for n in names)
    return (f"`{name}` is neither an argument of your function ({args}) nor defined in the notebook: check its "
            "spelling, or run the cell that defines it first.")


def _python_number_hint(match: re.Match, names: list[str], float_inputs: list[str]) -> str:
    like = f", in the dtype of `{float_inputs[0]}` (`dtype={float_inputs[0]}.dtype`)" if float_inputs else ""
    return ("Some input is a Python number here, not a tensor, so torch functions and tensor methods (`torch.sqrt`, "
            f"`.sqrt()`) do not take it: turn it into a tensor first (`torch.as_tensor`){like}, or use `**` and "
            "arithmetic, which work on numbers and tensors alike.")


# Errors that many wrong answers raise, whatever the exercise; an exercise's own come first.
COMMON_ERRORS: tuple[KnownError, ...] = (
    KnownError("a math function on a tensor",
               r"only one element tensors can be converted|must be real number, not Tensor|cannot be converted to Scalar",
               "Some input is a tensor with several values here (one per image or per step), but `math.sqrt`, `math.log`, "
               "`float(...)` and `.item()` take a single number: use torch operations (`torch.sqrt`, `.sqrt()`, "
               "`torch.log10`), which work element by element."),
    KnownError("a torch function on a Python float",
               r"argument 'input' \(position 1\) must be Tensor, not (float|int)|'(float|int)' object has no attribute",
               _python_number_hint),
    KnownError("a (B,) tensor that does not broadcast over the pixels",
               r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\)",
               "A tensor with one value per image has shape (B,), and the images (B, 1, 28, 28): to scale image b by "
               "its own value, give the values trailing dimensions of size 1, shape (B, 1, 1, 1), so that they "
               "broadcast over the pixels."),
    KnownError("an index past the last step", r"index -?\d+ is out of bounds",
               "An index runs past the end of a tensor: steps t run from 0 to T − 1, so index the schedule with t "
               "itself (no t + 1, no t − 1)."),
    KnownError("a name the function does not define (a module not imported, a misspelt argument)",
               r"NameError: name '(\w+)' is not defined", _name_error_hint),
)

GENERIC_ERROR_HINT = "Read the error message: it names the line and the operation that failed."
RANDOM_HINT = ("Your function gives a different result each time it is called with the same inputs: use the noise it "
               "is given as an argument instead of drawing new random numbers.")


def error_hint(exercise: Exercise, outcome: Outcome, names: list[str]) -> Diagnosis | None:
    """The hint for a known exception (the exercise's own first), or None. A :class:`KnownError`'s hint may be a
    function ``hint(match, names, float_inputs)`` of the regex match, the parameter names and the names of the
    floating-point tensor inputs."""
    text = f"{type(outcome.error).__name__}: {outcome.error}"
    float_inputs = [name.strip("`") for name, a in _inputs(outcome, names)
                    if isinstance(a, torch.Tensor) and a.is_floating_point() and name.startswith("`")]
    for known in exercise.errors + COMMON_ERRORS:
        match = re.search(known.pattern, text)
        if match:
            return Diagnosis("error", known.hint(match, names, float_inputs) if callable(known.hint) else known.hint)
    return None


def matching_mistake(exercise: Exercise, outcomes: list[Outcome], atol: float, rtol: float) -> Diagnosis | None:
    """The first known mistake that explains the student's results, or None.

    A mistake explains them when it gives the student's results on every case the student gets wrong and on
    every other case it can be computed for. A case where the student's result is not real and finite (NaN, a
    complex number) and the mistake's is may be passed over, so that a second slip on an edge case (a missing
    clamp) does not hide the first, but only when the mistake matches a real, finite wrong result elsewhere.
    """
    ran = [o for o in outcomes if o.error is None]
    wrong_on = [not same(o.got, o.expected, atol, rtol) for o in ran]
    if not any(wrong_on):
        return None
    for mistake in exercise.mistakes:
        explained = finite_explained = passed_over = False
        for o, student_wrong in zip(ran, wrong_on):
            try:
                wrong = exercise.run(mistake.wrong, copy.deepcopy(o.case.args), copy.deepcopy(o.case.kwargs))
            except Exception:
                if student_wrong:
                    break
                continue
            scale = size(wrong)
            if same(o.got, wrong, max(atol, (1e-3 + mistake.tolerance) * scale), max(rtol, 1e-3)):
                explained = explained or student_wrong
                finite_explained = finite_explained or (student_wrong and is_real_and_finite(o.got))
            elif not is_real_and_finite(o.got) and is_real_and_finite(wrong):
                passed_over = True
            else:
                break
        else:
            if explained and (finite_explained or not passed_over):
                return Diagnosis("mistake", mistake.hint)
    return None


# ---------------------------------------------------------------------------------------------------------------
# How wrong values are off


def _fmt(x: float) -> str:
    return f"{x:.2g}" if abs(x) < 10 else f"{x:.3g}"


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = max(b.abs().max().item(), a.abs().max().item(), 1e-12)
    return bool(torch.allclose(a, b, rtol=2e-3, atol=2e-3 * scale))


def _factor(g: torch.Tensor, e: torch.Tensor, slack: float = 0.0) -> float | None:
    """The constant c with g ≈ c·e, if there is one (give or take ``slack``, e.g. float32 rounding)."""
    denom = (e * e).sum().item()
    if denom == 0:
        return None
    c = (g * e).sum().item() / denom
    if slack and (g - c * e).abs().max().item() <= slack + 2e-3 * g.abs().max().item():
        return c
    return c if _close(g, c * e) else None


def _list(labels: list[str], limit: int = 4) -> str:
    return ", ".join(labels[:limit]) + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


def _say_factor(c: float) -> str:
    if c < 0:
        return f"Your values are about {_fmt(c)} times the expected ones: the sign is flipped and the size is off."
    if abs(c - 1) < 0.1:
        return (f"Your values are a constant multiple of the expected ones, about {abs(c - 1):.1%} too "
                f"{'large' if c > 1 else 'small'} (×{c:.3f}): look for a slightly wrong coefficient or input.")
    if c > 1:
        return f"Your values are too large by a constant factor of about {_fmt(c)}."
    return f"Your values are too small by a constant factor: about {_fmt(c)} times the expected ones (1/{_fmt(1 / c)})."


_CLOSE = ("close to the expected {}, but not within the tolerance{}: something small is off, such as a "
          "neighbouring step (t ± 1) or input, a rounded constant, or float32 where float64 is needed.")


def describe_values(got: Any, expected: Any, items: tuple[str, ...] = ()) -> Diagnosis:
    """How ``got`` differs from ``expected`` (same type and shape): direction and size, never the values."""
    if isinstance(expected, tuple):
        for i, (g, e) in enumerate(zip(as_tuple(got), expected)):
            if not same(g, e, 1e-5, 1e-4):
                inner = describe_values(g, e)
                return Diagnosis(inner.kind, f"Value {i + 1} of {len(expected)} is off. {inner.text}".strip())
        return Diagnosis("generic", "")
    if is_number(expected):
        return _describe_number(got, expected)
    if not isinstance(expected, torch.Tensor) or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return Diagnosis("generic", "")
    if expected.numel() == 1 and not expected.is_complex() and not got.is_complex():
        return _describe_number(float(got.detach()), float(expected.detach()))
    g, e = got.detach().double(), expected.detach().double()
    if _close(g, e):
        largest = f" (largest difference {(g - e).abs().max().item():.2g})"
        return Diagnosis("close", "Your values are " + _CLOSE.format("ones", largest))
    if e.abs().max() > 0 and _close(g, -e):
        return Diagnosis("sign", "Your values have the opposite sign of the expected ones, everywhere.")
    c = _factor(g.flatten(), e.flatten())
    if c is not None:
        return Diagnosis("factor", _say_factor(c))
    offset = (g - e).mean().item()
    if _close(g - offset, e):
        return Diagnosis("offset", f"Your values are off by the same amount everywhere: about {offset:+.3g}.")
    low, high = g.min().item(), g.max().item()
    if _close(g, e.clamp(low, high)):
        return Diagnosis("clipped", f"Your values are right except where the expected ones lie outside [{_fmt(low)}, "
                                    f"{_fmt(high)}]: there yours stop at the edge. Something in your code clips them "
                                    "(`clamp`, `clip`, `min`/`max`); this exercise needs the values as they come out.")
    if items and g.dim() >= 1 and g.shape[0] == len(items) > 1:
        notes = _describe_items(g, e, items)
        if notes:
            return Diagnosis("items", notes)
    elif g.dim() == 1 and g.shape[0] > 2:
        found = _describe_series(g, e)
        if found:
            return found
    size_ratio = g.norm().item() / max(e.norm().item(), 1e-300)
    return Diagnosis("norm", f"Your result's overall size (its norm) is about {_fmt(size_ratio)} times the expected one, "
                             "and it is not a constant multiple of it.")


def _describe_number(got: Any, expected: float) -> Diagnosis:
    if not is_number(got) or expected == 0:
        return Diagnosis("generic", "")
    r = got / expected
    if math.isclose(r, 1, rel_tol=2e-3):
        return Diagnosis("close", "Your value is " + _CLOSE.format("one", ""))
    if r < 0:
        return Diagnosis("sign", "Your value has the opposite sign of the expected one." if math.isclose(r, -1, rel_tol=2e-3)
                         else "Your value has the wrong sign.")
    if abs(r - 1) < 0.1:
        return Diagnosis("factor", f"Your value is about {abs(r - 1):.1%} too {'large' if r > 1 else 'small'} "
                                   "(look for a slightly wrong coefficient or input).")
    return Diagnosis("factor", f"Your value is too {'large' if r > 1 else 'small'}: about {_fmt(r)} times the expected one.")


def _describe_items(g: torch.Tensor, e: torch.Tensor, items: tuple[str, ...]) -> str:
    notes = []
    right = [bool(_close(g[b], e[b])) for b in range(len(items))]
    if any(right):
        notes.append(f"Your result is right for {_list([n for n, r in zip(items, right) if r])} "
                     f"but off for {_list([n for n, r in zip(items, right) if not r])}.")
    factors = [_factor(g[b].flatten(), e[b].flatten()) for b in range(len(items))]
    if all(f is not None for f in factors) and not all(math.isclose(f, 1, rel_tol=2e-3) for f in factors):
        notes.append("For each item your values are a constant multiple of the expected ones, but the multiple "
                     "changes: " + ", ".join(f"×{_fmt(f)} at {n}" for f, n in zip(factors, items)) + ".")
    return " ".join(notes)


def _describe_series(g: torch.Tensor, e: torch.Tensor) -> Diagnosis | None:
    if _close(g[1:], e[:-1]):
        return Diagnosis("shifted", "Your values are shifted by one place: your entry t holds the expected entry t − 1.")
    if _close(g[:-1], e[1:]):
        return Diagnosis("shifted", "Your values are shifted by one place: your entry t holds the expected entry t + 1.")
    good = [bool(_close(g[i:i + 1], e[i:i + 1])) for i in range(g.shape[0])]
    first_bad = good.index(False)
    if first_bad > 0:
        return Diagnosis("series", f"Your values are right up to index {first_bad - 1} and off from index {first_bad} on.")
    if any(good):
        return Diagnosis("series", "Your values are off from the very first entry (index 0), though some later ones agree.")
    ratio = (g / e).abs()
    if torch.isfinite(ratio).all():
        return Diagnosis("series", f"The ratio of your values to the expected ones drifts from about {_fmt(ratio[0].item())} "
                                   f"(index 0) to about {_fmt(ratio[-1].item())} (index {len(ratio) - 1}).")
    return None


def _inputs(outcome: Outcome, names: list[str]) -> list[tuple[str, Any]]:
    values = list(outcome.case.args) + list(outcome.case.kwargs.values())
    keys = [f"`{names[i]}`" if i < len(names) else f"argument {i + 1}" for i in range(len(outcome.case.args))]
    keys += [f"`{k}`" for k in outcome.case.kwargs]
    return list(zip(keys, values))


def off_term(outcome: Outcome, names: list[str]) -> Diagnosis | None:
    """If the error (got − expected) is a multiple of one input tensor, name it: only the term with it is off."""
    got, expected, items = outcome.got, outcome.expected, outcome.case.items
    if not (isinstance(got, torch.Tensor) and isinstance(expected, torch.Tensor)) or got.shape != expected.shape \
            or got.dim() == 0 or got.is_complex():
        return None
    diff = got.detach().double() - expected.detach().double()
    slack = 1e-6 * expected.detach().abs().max().item()  # the float32 rounding of the results themselves
    for name, a in _inputs(outcome, names):
        if not (isinstance(a, torch.Tensor) and a.shape == got.shape and a.is_floating_point()):
            continue
        a = a.detach().double()
        c = _factor(diff.flatten(), a.flatten(), slack)
        if c is not None:
            return Diagnosis("term", f"Only the term with {name} is off: your result minus the expected one is "
                                     f"{_fmt(c)} × {name}. Look at that term's sign and coefficient.")
        if items and got.shape[0] == len(items) > 1:
            factors = [_factor(diff[b].flatten(), a[b].flatten(), slack) for b in range(len(items))]
            if all(f is not None for f in factors):
                return Diagnosis("term", f"Only the term with {name} is off: for each item your result minus the expected "
                                         f"one is a multiple of {name} (" + ", ".join(f"×{_fmt(f)} at {n}" for f, n in
                                                                                   zip(factors, items))
                                         + "). Look at that term's coefficient.")
    return None


def mask_note(outcome: Outcome, names: list[str]) -> Diagnosis | None:
    """For an input of 0s and 1s (a mask): say on which of its two regions the result is right."""
    got, expected = outcome.got, outcome.expected
    if not (isinstance(got, torch.Tensor) and isinstance(expected, torch.Tensor)) or got.shape != expected.shape:
        return None
    wrong = ~torch.isclose(got.detach().double(), expected.detach().double(), rtol=1e-4, atol=1e-5)
    for name, a in _inputs(outcome, names):
        if not (isinstance(a, torch.Tensor) and a.is_floating_point() and a.numel() > 1) or not ((a == 0) | (a == 1)).all():
            continue
        try:
            ones = torch.broadcast_to(a, got.shape) == 1
        except RuntimeError:
            continue
        off_on_ones, off_on_zeros = bool(wrong[ones].any()), bool(wrong[~ones].any())
        if off_on_ones != off_on_zeros:
            good, bad = ("0", "1") if off_on_ones else ("1", "0")
            return Diagnosis("mask", f"Your result is right where {name} = {good} but off where {name} = {bad}.")
    return None


def returned_input(outcome: Outcome, names: list[str]) -> Diagnosis | None:
    if not isinstance(outcome.got, torch.Tensor):
        return None
    for name, a in _inputs(outcome, names):
        if isinstance(a, torch.Tensor) and a.shape == outcome.got.shape and torch.equal(a.detach(), outcome.got.detach()):
            return Diagnosis("returned_input", f"Your result is the argument {name} itself, unchanged: the function must "
                                               "compute something new from it.")
    return None


# Kinds that already say all there is about the values: a term or mask note would add nothing.
_COMPLETE = {"close", "sign", "factor", "offset", "clipped"}


def explain(exercise: Exercise, student_fn: Callable, outcomes: list[Outcome], failing: Outcome, names: list[str],
            atol: float, rtol: float) -> Diagnosis:
    """The hint for values that are wrong (right type, shape and dtype): a known mistake first, then what the
    student's function does (returns an input, draws its own noise), then how the values are off."""
    known = matching_mistake(exercise, outcomes, atol, rtol)
    if known:
        return known
    found = returned_input(failing, names)
    if found:
        return found
    try:
        again = exercise.run(student_fn, copy.deepcopy(failing.case.args), copy.deepcopy(failing.case.kwargs))
        if not same(again, failing.got, 1e-7, 1e-6):
            return Diagnosis("random", exercise.random_hint or RANDOM_HINT)
    except Exception:
        pass
    note = describe_values(failing.got, failing.expected, failing.case.items)
    if note.kind not in _COMPLETE:
        located = off_term(failing, names) or mask_note(failing, names)
        if located:
            note = located if note.kind in ("norm", "generic") else Diagnosis(located.kind, f"{located.text} {note.text}")
    text = " ".join(h for h in (note.text, checkpoint_hint(exercise, outcomes, atol, rtol)) if h)
    return Diagnosis(note.kind if note.text else "generic", text)


def checkpoint_hint(exercise: Exercise, outcomes: list[Outcome], atol: float, rtol: float) -> str:
    """What to check by hand: the hint of the exercise's first checkpoint whose case the student gets wrong (a
    checkpoint on a case that is already right would send the student the wrong way), else the generic hint."""
    wrong = {o.case.label for o in outcomes if o.error is not None or not same(o.got, o.expected, atol, rtol)}
    return next((hint for label, hint in exercise.checkpoints if label in wrong), exercise.generic_hint)
