"""The machinery behind every exercise check.

A check runs the student's function on cases whose answers the course's
reference function knows, and prints one verdict line:

    ✓ PASSED [nb01.add_noise]: 3 cases agree with the reference.
    ✗ NOT YET [nb01.add_noise]: the values are off (case: sigma=0.5).
       Hint: σ is a standard deviation: ...

Then it says which function the following cells will use, and returns it:
the student's when it passed, the course's reference otherwise, so a student
is never stuck. A check never raises and never prints the expected values.

Each exercise is registered with everything its check needs: the cases, the
type the following cells need (a tensor that can be back-propagated, a Python
float, float64, ...), and a table of known mistakes, each with the hint that
names it. When a wrong answer matches none of them, the check says how the
values are off (the opposite sign, a constant factor, right for some steps t
and not others, shifted by one place) without giving the formula away.

The grader (``python -m course_tools.grading``) never reads these printed lines,
which student code could forge: it calls the student's function on the same
cases in an isolated process and runs :func:`evaluate` on the results itself,
so the verdict and the hint are the ones the student saw.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

# A mark that every font has (✓ U+2713, ✗ U+2717: no emoji font needed), paired with a word that stands out.
PASS_MARK = "✓ PASSED"
FAIL_MARK = "✗ NOT YET"
VERDICT_PATTERN = r"^(?P<verdict>✓ PASSED|✗ NOT YET) \[(?P<exercise>[\w.]+)\]: ?(?P<message>.*)$"


@dataclass
class Case:
    """Arguments for one call, a description used in messages, and optional names for the batch items.

    ``items`` names the entries along the result's first dimension (e.g. ``("t = 0", "t = 999")``),
    so that a wrong answer can be told "right for t = 0 but off for t = 999".
    """

    args: tuple
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class KnownMistake:
    """A plausible wrong answer: if the student's results match ``wrong(*args)`` on every case, say ``hint``.

    ``name`` is the short description listed in INSTRUCTORS.md's exercise index. Results are matched within
    0.1% of their size, plus ``tolerance`` times their size for mistakes whose float32 rounding varies a lot.
    """

    name: str
    wrong: Callable
    hint: str
    tolerance: float = 0.0


@dataclass(frozen=True)
class KnownError:
    """An exception a plausible wrong answer raises: ``pattern`` (a regex) is searched in "Type: message"."""

    name: str
    pattern: str
    hint: str


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it is, what it practises, the reference that answers it, and how to check it.

    ``cases`` builds the cases (called once, on the first check). ``type_hint`` explains why the
    following cells need the result's type (a tensor, a Python float); ``dtype_hint`` likewise for
    its dtype. ``validate(got, *args)`` may return ``(message, hint)`` for a further requirement
    (e.g. a loss that can be back-propagated). ``generic_hint`` is added when no known mistake
    matches; like every hint it names a method, never the formula asked for.
    """

    id: str  # "nb01.add_noise"
    notebook: str  # "01_adding_noise_by_hand"
    function: str  # the name the student completes
    practises: str
    difficulty: str  # "easy" | "medium" | "hard"
    reference: Callable
    check: str = ""  # the check's name, e.g. "check_add_noise"
    cases: Callable[[], list[Case]] | None = None
    mistakes: tuple[KnownMistake, ...] = ()
    errors: tuple[KnownError, ...] = ()
    generic_hint: str = ""
    type_hint: str = ""
    dtype_hint: str = ""
    validate: Callable | None = None
    atol: float = 1e-5
    rtol: float = 1e-4

    def hints(self) -> list[str]:
        """Every fixed hint this exercise can print (the dynamic ones only add numbers)."""
        fixed = [m.hint for m in self.mistakes] + [e.hint for e in self.errors]
        return fixed + [h for h in (self.generic_hint, self.type_hint, self.dtype_hint) if h]



def per_image(values: torch.Tensor, t) -> torch.Tensor:
    """``values[t]`` shaped (B, 1, 1, 1), to broadcast a per-step schedule quantity over a batch of images."""
    return values[t].view(-1, 1, 1, 1)


EXERCISES: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    EXERCISES[exercise.id] = exercise
    return exercise


@dataclass
class CheckResult:
    """A verdict. ``source`` says where the hint came from: "mistake" (a known mistake), "error" (a known
    exception), "structure" (type, shape, dtype, None, in place, ...), "behaviour" (returns an input, draws its
    own noise), "diagnosis" (how the values are off) or "generic"."""

    exercise: str
    passed: bool
    message: str
    hint: str = ""
    source: str = ""


# Errors that many wrong answers raise, whatever the exercise; an exercise's own come first.
COMMON_ERRORS: tuple[KnownError, ...] = (
    KnownError("a math function on a tensor",
               r"only one element tensors can be converted|must be real number, not Tensor|cannot be converted to Scalar",
               "Some input is a tensor with several values here (one per image or per step), but `math.sqrt`, `math.log`, "
               "`float(...)` and `.item()` take a single number: use torch operations (`torch.sqrt`, `.sqrt()`, "
               "`torch.log10`), which work element by element."),
    KnownError("a torch function on a Python float",
               r"argument 'input' \(position 1\) must be Tensor, not (float|int)|'(float|int)' object has no attribute",
               "Some input is a Python number here, not a tensor, so torch functions and tensor methods "
               "(`torch.sqrt`, `.sqrt()`) do not take it: turn it into a tensor first, e.g. "
               "`torch.as_tensor(value, dtype=x.dtype)`."),
    KnownError("a (B,) tensor that does not broadcast over the pixels",
               r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\)",
               "A tensor with one value per image has shape (B,); to multiply image b by its own value, reshape it "
               "to (B, 1, 1, 1) so that it broadcasts over the pixels (`.view(-1, 1, 1, 1)`)."),
    KnownError("an index past the last step", r"index -?\d+ is out of bounds",
               "An index runs past the end of a tensor: steps t run from 0 to T − 1, so index the schedule with t "
               "itself (no t + 1, no t − 1)."),
    KnownError("a name the function does not define", r"NameError",
               "Your function uses a name that is neither one of its arguments nor imported in the notebook; "
               "use the arguments it receives."),
)

_GENERIC_ERROR_HINT = "Read the error message: it names the line and the operation that failed."


class _Mismatch(Exception):
    """A result that differs from the expected one; ``kind`` is type, none, dtype, device, shape, nonfinite or values."""

    def __init__(self, message: str, hint: str = "", kind: str = "values"):
        super().__init__(message)
        self.message, self.hint, self.kind = message, hint, kind


def _describe(value: Any) -> str:
    return type(value).__name__ if value is not None else "None"


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compare_tensor(got: Any, expected: torch.Tensor, what: str, atol: float, rtol: float, ex: Exercise) -> None:
    if got is None:
        raise _Mismatch(f"{what} is None.", "Did you forget the `return` statement?", "none")
    if not isinstance(got, torch.Tensor):
        if isinstance(got, complex):
            raise _Mismatch(f"{what} is a complex number.", _COMPLEX_HINT, "type")
        if _is_number(got):
            default = ("The cells below need a tensor (they use tensor methods and torch functions on it): "
                       "build the result with torch operations and do not convert it with `float(...)`, "
                       "`.item()` or `math` functions.")
            raise _Mismatch(f"{what} is a Python {type(got).__name__}, expected a torch.Tensor"
                            f"{' (0-d)' if expected.dim() == 0 else ''}.", ex.type_hint or default, "type")
        raise _Mismatch(f"{what} is {_a(_describe(got))}, expected a torch.Tensor.",
                        "Build the result with torch operations (not Python lists or NumPy arrays).", "type")
    if got.is_complex() and not expected.is_complex():
        raise _Mismatch(f"{what} is a complex tensor.", _COMPLEX_HINT, "type")
    if tuple(got.shape) != tuple(expected.shape):
        raise _Mismatch(
            f"wrong shape: got {tuple(got.shape)}, expected {tuple(expected.shape)}.",
            "Check which dimensions you reduced, added or dropped; print `.shape` after each line.",
            "shape",
        )
    if got.device != expected.device:
        raise _Mismatch(
            f"{what} is on {got.device}, but the inputs were on {expected.device}.",
            "Create new tensors on the input's device (e.g. `torch.zeros_like(x)` or `device=x.device`).",
            "device",
        )
    if got.is_floating_point() != expected.is_floating_point() or (
        expected.is_floating_point() and got.dtype != expected.dtype
    ):
        if ex.dtype_hint:
            hint = ex.dtype_hint
        elif expected.is_floating_point() and got.is_floating_point():
            hint = (f"Keep the inputs' dtype ({str(expected.dtype).replace('torch.', '')}): a tensor you create "
                    "yourself (`torch.tensor`, `torch.ones`, NumPy) may come out in another dtype; pass "
                    "`dtype=x.dtype` or convert with `.to(x.dtype)`.")
        else:
            hint = "Work with floating-point tensors: a Python int or an integer tensor somewhere makes the result an integer."
        raise _Mismatch(f"wrong dtype: got {got.dtype}, expected {expected.dtype}.", hint, "dtype")
    if expected.is_floating_point() and not torch.isfinite(got).all():
        raise _Mismatch(f"{what} contains NaN or infinity.",
                        "Look for a division by zero or the log/sqrt of a negative number.", "nonfinite")
    if not torch.allclose(got.detach().double(), expected.detach().double(), atol=atol, rtol=rtol):
        raise _Mismatch("the values are off.")


_COMPLEX_HINT = ("The result should be a real number. Complex numbers appear when you take eigenvalues of a "
                 "non-symmetric matrix (`torch.linalg.eigvals`) or the root of a negative number; note that "
                 "`.item()` and `float(...)` do not remove them safely. Work with symmetric matrices and "
                 "`torch.linalg.eigh`, or keep the real part (`.real`) if the imaginary part is only rounding.")


def _compare(got: Any, expected: Any, atol: float, rtol: float, ex: Exercise) -> None:
    """Raise :class:`_Mismatch` unless ``got`` has the type, shape, dtype and values of ``expected``."""
    if isinstance(expected, torch.Tensor):
        _compare_tensor(got, expected, "your result", atol, rtol, ex)
        return
    if isinstance(expected, tuple):
        if got is None:
            raise _Mismatch("your result is None.", "Did you forget the `return` statement?", "none")
        got_t = _as_tuple(got)
        if len(got_t) != len(expected):
            raise _Mismatch(f"expected {len(expected)} values, got {len(got_t)}.",
                            f"Return a tuple of {len(expected)} values, in the order the docstring gives.", "shape")
        for i, (g, e) in enumerate(zip(got_t, expected)):
            try:
                _compare(g, e, atol, rtol, ex)
            except _Mismatch as err:
                raise _Mismatch(f"value {i + 1} of {len(expected)}: {err.message}", err.hint, err.kind) from None
        return
    if _is_number(expected):
        if got is None:
            raise _Mismatch("your result is None.", "Did you forget the `return` statement?", "none")
        if isinstance(got, complex) or (isinstance(got, torch.Tensor) and got.is_complex()):
            raise _Mismatch("your result is a complex number, expected a real Python float.", _COMPLEX_HINT, "type")
        if isinstance(got, torch.Tensor):
            default = ("The exercise asks for a Python float: convert the one-element tensor with "
                       "`float(...)` (or `.item()`) before returning it.")
            raise _Mismatch(f"your result is a torch.Tensor{' of shape ' + str(tuple(got.shape)) if got.dim() else ''}, "
                            "expected a Python float.", ex.type_hint or default, "type")
        if not _is_number(got):
            raise _Mismatch(f"your result is {_a(_describe(got))}, expected a Python float.",
                            ex.type_hint or "Return a Python float.", "type")
        if not math.isfinite(got):
            raise _Mismatch("your result is NaN or infinite.",
                            "Look for a division by zero or the log/sqrt of a negative number.", "nonfinite")
        if not math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
            raise _Mismatch("the value is off.")
        return
    raise TypeError(f"cannot compare {type(expected)}")  # a bug in the check itself


def _same(got: Any, candidate: Any, atol: float, rtol: float) -> bool:
    """Do ``got`` and ``candidate`` hold the same numbers (NaN matching NaN)? Types may differ (0-d tensor vs float)."""
    try:
        if isinstance(candidate, (tuple, list)):
            got_t = _as_tuple(got)
            return len(got_t) == len(candidate) and all(_same(g, c, atol, rtol) for g, c in zip(got_t, candidate))
        if isinstance(candidate, torch.Tensor) or isinstance(got, torch.Tensor):
            g, c = torch.as_tensor(got).detach(), torch.as_tensor(candidate).detach()
            if g.is_complex() or c.is_complex():
                return False
            if g.shape != c.shape:
                return False
            return bool(torch.allclose(g.double(), c.double(), atol=atol, rtol=rtol, equal_nan=True))
        if _is_number(got) and _is_number(candidate):
            if math.isnan(got) or math.isnan(candidate):
                return math.isnan(got) and math.isnan(candidate)
            return math.isclose(got, candidate, rel_tol=rtol, abs_tol=atol)
    except Exception:
        return False
    return False


def _size(value: Any) -> float:
    """The largest finite magnitude in a result (a number, a tensor or a tuple of them), for relative tolerances."""
    if isinstance(value, (tuple, list)):
        return max((_size(v) for v in value), default=0.0)
    if isinstance(value, torch.Tensor) and not value.is_complex():
        finite = value.detach().double()
        finite = finite[torch.isfinite(finite)]
        return float(finite.abs().max()) if finite.numel() else 0.0
    return abs(value) if _is_number(value) and math.isfinite(value) else 0.0


def _named_tensors(args: tuple, kwargs: dict) -> list[tuple[str, torch.Tensor]]:
    """The tensors a call receives, also those inside dataclasses (a schedule), to spot in-place changes."""
    out = []
    for i, a in enumerate(list(args) + list(kwargs.values())):
        if isinstance(a, torch.Tensor):
            out.append((str(i), a))
        elif dataclasses.is_dataclass(a) and not isinstance(a, type):
            out += [(f"{i}.{f.name}", getattr(a, f.name)) for f in dataclasses.fields(a)
                    if isinstance(getattr(a, f.name), torch.Tensor)]
    return out


def _snapshot(args: tuple, kwargs: dict) -> list:
    return [t.detach().clone() for _, t in _named_tensors(args, kwargs)]


def _changed(before: list, args: tuple, kwargs: dict) -> bool:
    after = [t for _, t in _named_tensors(args, kwargs)]
    return len(before) != len(after) or any(b.shape != a.shape or not torch.equal(b, a.detach()) for b, a in zip(before, after))


# ---------------------------------------------------------------------------------------------------------------
# Saying how a wrong result is off, without giving the answer.


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


def _say_factor(c: float, where: str = "") -> str:
    if c < 0:
        return f"Your values{where} are about {_fmt(c)} times the expected ones: the sign is flipped and the size is off."
    if c > 1:
        return f"Your values{where} are too large by a constant factor of about {_fmt(c)}."
    return f"Your values{where} are too small by a constant factor: about {_fmt(c)} times the expected ones (1/{_fmt(1 / c)})."


def diagnose(got: Any, expected: Any, items: tuple[str, ...] = ()) -> str:
    """Say how ``got`` differs from ``expected`` (same type and shape): direction and size, never the values."""
    if isinstance(expected, tuple):
        got_t = _as_tuple(got)
        for i, (g, e) in enumerate(zip(got_t, expected)):
            if not _same(g, e, 1e-5, 1e-4):
                note = diagnose(g, e)
                return f"Value {i + 1} of {len(expected)} is off. {note}".strip()
        return ""
    if _is_number(expected):
        if not _is_number(got) or expected == 0:
            return ""
        r = got / expected
        if math.isclose(r, 1, rel_tol=2e-3):
            return ("Your value is close to the expected one, but not within the tolerance: look for a rounded "
                    "constant, an approximation or lost precision.")
        if r < 0:
            return "Your value has the opposite sign of the expected one." if math.isclose(r, -1, rel_tol=2e-3) else \
                "Your value has the wrong sign."
        return f"Your value is too {'large' if r > 1 else 'small'}: about {_fmt(r)} times the expected one."
    if not isinstance(expected, torch.Tensor) or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return ""
    if expected.numel() == 1 and not expected.is_complex() and not got.is_complex():
        return diagnose(float(got.detach()), float(expected.detach()))
    g, e = got.detach().double(), expected.detach().double()
    if _close(g, e):
        return (f"Your values are close to the expected ones, but not within the tolerance (largest difference "
                f"{(g - e).abs().max().item():.2g}): look for a rounded constant, an approximation or lost precision.")
    if e.abs().max() > 0 and _close(g, -e):
        return "Your values have the opposite sign of the expected ones, everywhere."
    c = _factor(g.flatten(), e.flatten())
    if c is not None:
        return _say_factor(c)
    offset = (g - e).mean().item()
    if _close(g - offset, e):
        return f"Your values are off by the same amount everywhere: about {offset:+.3g}."
    notes = []
    if items and g.dim() >= 1 and g.shape[0] == len(items) > 1:
        right = [bool(_close(g[b], e[b])) for b in range(len(items))]
        if any(right):
            notes.append(f"Your result is right for {_list([n for n, r in zip(items, right) if r])} "
                         f"but off for {_list([n for n, r in zip(items, right) if not r])}.")
        factors = [_factor(g[b].flatten(), e[b].flatten()) for b in range(len(items))]
        if all(f is not None for f in factors) and not all(math.isclose(f, 1, rel_tol=2e-3) for f in factors):
            notes.append("For each item your values are a constant multiple of the expected ones, but the multiple "
                         "changes: " + ", ".join(f"×{_fmt(f)} at {n}" for f, n in zip(factors, items)) + ".")
    elif g.dim() == 1 and g.shape[0] > 2:
        if _close(g[1:], e[:-1]):
            notes.append("Your values are shifted by one place: your entry t holds the expected entry t − 1.")
        elif _close(g[:-1], e[1:]):
            notes.append("Your values are shifted by one place: your entry t holds the expected entry t + 1.")
        else:
            good = [bool(_close(g[i:i + 1], e[i:i + 1])) for i in range(g.shape[0])]
            first_bad = good.index(False)
            if first_bad > 0:
                notes.append(f"Your values are right up to index {first_bad - 1} and off from index {first_bad} on.")
            elif any(good):
                notes.append("Your values are off from the very first entry (index 0), though some later ones agree.")
            else:
                ratio = (g / e).abs()
                if torch.isfinite(ratio).all() and len(ratio) > 2:
                    notes.append(f"The ratio of your values to the expected ones drifts from about {_fmt(ratio[0].item())} "
                                 f"(index 0) to about {_fmt(ratio[-1].item())} (index {len(ratio) - 1}).")
    if not notes:
        size = g.norm().item() / max(e.norm().item(), 1e-300)
        notes.append(f"Your result's overall size (its norm) is about {_fmt(size)} times the expected one, and it "
                     "is not a constant multiple of it.")
    return " ".join(notes)


def _off_term(got: Any, expected: Any, args: tuple, kwargs: dict, names: list[str], items: tuple[str, ...]) -> str:
    """If the error (got − expected) is a multiple of one input tensor, name it: only the term with it is off."""
    if not (isinstance(got, torch.Tensor) and isinstance(expected, torch.Tensor)) or got.shape != expected.shape \
            or got.dim() == 0 or got.is_complex():
        return ""
    diff = got.detach().double() - expected.detach().double()
    slack = 1e-6 * expected.detach().abs().max().item()  # the float32 rounding of the results themselves
    for i, a in enumerate(list(args) + list(kwargs.values())):
        if not (isinstance(a, torch.Tensor) and a.shape == got.shape and a.is_floating_point()):
            continue
        a = a.detach().double()
        name = f"`{names[i]}`" if i < len(names) else f"argument {i + 1}"
        c = _factor(diff.flatten(), a.flatten(), slack)
        if c is not None:
            return (f"Only the term with {name} is off: your result minus the expected one is {_fmt(c)} × {name}. "
                    f"Look at that term's sign and coefficient.")
        if items and got.shape[0] == len(items) > 1:
            factors = [_factor(diff[b].flatten(), a[b].flatten(), slack) for b in range(len(items))]
            if all(f is not None for f in factors):
                return (f"Only the term with {name} is off: for each item your result minus the expected one is a "
                        f"multiple of {name} (" + ", ".join(f"×{_fmt(f)} at {n}" for f, n in zip(factors, items))
                        + "). Look at that term's coefficient.")
    return ""


def _mask_note(got: Any, expected: Any, args: tuple, kwargs: dict, names: list[str]) -> str:
    """For an input of 0s and 1s (a mask): say on which of its two regions the result is right."""
    if not (isinstance(got, torch.Tensor) and isinstance(expected, torch.Tensor)) or got.shape != expected.shape:
        return ""
    wrong = ~torch.isclose(got.detach().double(), expected.detach().double(), rtol=1e-4, atol=1e-5)
    for i, a in enumerate(list(args) + list(kwargs.values())):
        if not (isinstance(a, torch.Tensor) and a.is_floating_point() and a.numel() > 1) or not ((a == 0) | (a == 1)).all():
            continue
        try:
            ones = torch.broadcast_to(a, got.shape) == 1
        except RuntimeError:
            continue
        name = f"`{names[i]}`" if i < len(names) else f"argument {i + 1}"
        off_on_ones, off_on_zeros = bool(wrong[ones].any()), bool(wrong[~ones].any())
        if off_on_ones != off_on_zeros:
            good, bad = ("0", "1") if off_on_ones else ("1", "0")
            return f"Your result is right where {name} = {good} but off where {name} = {bad}."
    return ""


def _returned_input(got: Any, args: tuple, kwargs: dict, names: list[str]) -> str:
    if not isinstance(got, torch.Tensor):
        return ""
    for i, a in enumerate(list(args) + list(kwargs.values())):
        if isinstance(a, torch.Tensor) and a.shape == got.shape and torch.equal(a.detach(), got.detach()):
            name = names[i] if i < len(names) else f"argument {i + 1}"
            return f"Your result is the argument `{name}` itself, unchanged: the function must compute something new from it."
    return ""


def _parameter_names(fn: Callable, fallback: Callable) -> list[str]:
    for f in (fn, fallback):
        try:
            return list(inspect.signature(f).parameters)
        except (TypeError, ValueError):
            continue
    return []


# ---------------------------------------------------------------------------------------------------------------
# Running a check


_CASES: dict[str, list[Case]] = {}


def cases_of(exercise: Exercise) -> list[Case]:
    """The exercise's cases, built once."""
    if exercise.id not in _CASES:
        _CASES[exercise.id] = exercise.cases() if exercise.cases is not None else []
    return _CASES[exercise.id]


def run_check(exercise_id: str, student_fn: Callable, cases: list[Case] | None = None, *, quiet: bool = False,
              **options) -> Callable:
    """Check ``student_fn`` against the exercise's reference; print the verdict.

    ``cases`` default to the registered ones; ``options`` override the exercise's ``atol``/``rtol``.
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


@dataclass
class _Outcome:
    case: Case
    expected: Any = None
    got: Any = None
    error: BaseException | None = None
    in_place: bool = False
    args: tuple = ()  # the copies the student's function received


def _call(fn: Callable, case: Case) -> Any:
    return fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))


def evaluate(exercise: Exercise, student_fn: Callable, cases: list[Case] | None = None, *,
             atol: float | None = None, rtol: float | None = None) -> CheckResult:
    """Run the cases and return a :class:`CheckResult`; never raises, and leaves torch's random state as it was."""
    if not callable(student_fn):
        return CheckResult(exercise.id, False, f"expected a function, got {_a(_describe(student_fn))}.",
                           f"Pass the function itself: check(`{exercise.function}`), without calling it.")
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            return _evaluate(exercise, student_fn, cases_of(exercise) if cases is None else cases,
                             exercise.atol if atol is None else atol, exercise.rtol if rtol is None else rtol)
    except Exception as err:  # pragma: no cover - defensive: a check must never raise
        return CheckResult(exercise.id, False, f"the check itself failed ({type(err).__name__}: {err}); please report it.")


def _evaluate(exercise: Exercise, student_fn: Callable, cases: list[Case], atol: float, rtol: float) -> CheckResult:
    outcomes = []
    for case in cases:
        try:
            expected = exercise.reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except Exception as err:  # a bug in the course, not the student's fault
            return CheckResult(exercise.id, False, f"the check itself failed ({type(err).__name__}: {err}); please report it.")
        outcome = _Outcome(case, expected)
        args, kwargs = copy.deepcopy(case.args), copy.deepcopy(case.kwargs)
        before = _snapshot(args, kwargs)
        try:
            outcome.got = student_fn(*args, **kwargs)
        except NotImplementedError:
            return CheckResult(exercise.id, False, "not implemented yet.",
                               "Replace `raise NotImplementedError` with your code, run that cell, then this one.")
        except Exception as err:
            outcome.error = err
        outcome.in_place = _changed(before, args, kwargs)
        outcome.args = args
        outcomes.append(outcome)

    for outcome in outcomes:
        label = outcome.case.label
        where = f" (case: {label})" if label else ""
        if outcome.error is not None:
            err = outcome.error
            text = f"{type(err).__name__}: {err}"
            message = f"your function raised {text}{where}"
            known = next((e.hint for e in exercise.errors + COMMON_ERRORS if re.search(e.pattern, text)), "")
            if known:
                return CheckResult(exercise.id, False, message, known, "error")
            mistake = _mistake_hint(exercise, outcomes, atol, rtol)
            if mistake:
                return CheckResult(exercise.id, False, message, mistake, "mistake")
            return CheckResult(exercise.id, False, message, _GENERIC_ERROR_HINT, "generic")
        if outcome.in_place:
            return CheckResult(exercise.id, False, f"your function changed one of its input tensors in place{where}.",
                               "Build a new tensor instead (`y = x + ...`, not `x += ...`, `x[...] = ...` or `x.add_(...)`).",
                               "structure")
        try:
            _compare(outcome.got, outcome.expected, atol, rtol, exercise)
            problem = exercise.validate(outcome.got, *outcome.args) if exercise.validate else None
            if problem:
                return CheckResult(exercise.id, False, problem[0].rstrip(".") + where + ".", problem[1], "structure")
        except _Mismatch as err:
            right = _agreeing(outcomes, outcome, atol, rtol) if err.kind == "values" else ""
            detail = "; ".join(p for p in (f"case: {label}" if label else "", f"right for: {right}" if right else "") if p)
            message = err.message.rstrip(".") + (f" ({detail})." if detail else ".")
            hint, source = _hint_for(exercise, student_fn, outcomes, outcome, err, atol, rtol)
            return CheckResult(exercise.id, False, message, hint, source)
    cases_word = "case agrees" if len(cases) == 1 else f"{len(cases)} cases agree"
    return CheckResult(exercise.id, True, f"{cases_word} with the reference.")


def _agreeing(outcomes: list[_Outcome], failing: _Outcome, atol: float, rtol: float) -> str:
    """The labels of the other cases the student's function gets right, if some (not all) are right."""
    right = [o.case.label for o in outcomes if o is not failing and o.error is None and o.case.label
             and _same(o.got, o.expected, atol, rtol) and type(o.got) is type(o.expected)]
    return ", ".join(right) if right and len(right) < len(outcomes) else ""


def _mistake_hint(exercise: Exercise, outcomes: list[_Outcome], atol: float, rtol: float) -> str:
    """The hint of the first known mistake that explains the student's results: equal on every case the student
    gets wrong, and on every other case the mistake can be computed for."""
    ran = [o for o in outcomes if o.error is None]
    wrong_on = [not _same(o.got, o.expected, atol, rtol) for o in ran]
    if not any(wrong_on):
        return ""
    for mistake in exercise.mistakes:
        for o, student_wrong in zip(ran, wrong_on):
            try:
                wrong = mistake.wrong(*copy.deepcopy(o.case.args), **copy.deepcopy(o.case.kwargs))
            except Exception:
                if student_wrong:
                    break
                continue
            scale = _size(wrong)
            if not _same(o.got, wrong, max(atol, (1e-3 + mistake.tolerance) * scale), max(rtol, 1e-3)):
                break
        else:
            return mistake.hint
    return ""


_RANDOM_HINT = ("Your function gives a different result each time it is called with the same inputs: use the noise it "
                "is given as an argument instead of drawing new random numbers.")


def _hint_for(exercise: Exercise, student_fn: Callable, outcomes: list[_Outcome], failing: _Outcome,
              err: _Mismatch, atol: float, rtol: float) -> tuple[str, str]:
    """The hint for a wrong result, and where it came from (see :class:`CheckResult`)."""
    if err.kind in ("type", "none", "dtype", "device"):
        return err.hint, "structure"
    known = _mistake_hint(exercise, outcomes, atol, rtol)
    if known:
        return known, "mistake"
    if err.kind != "values":
        return err.hint, "structure"
    names = _parameter_names(student_fn, exercise.reference)
    same_input = _returned_input(failing.got, failing.case.args, failing.case.kwargs, names)
    if same_input:
        return same_input, "behaviour"
    try:
        again = _call(student_fn, failing.case)
        if not _same(again, failing.got, 1e-7, 1e-6):
            return _RANDOM_HINT, "behaviour"
    except Exception:
        pass
    note = diagnose(failing.got, failing.expected, failing.case.items)
    if not note.startswith(("Your values are too", "Your values have the opposite", "Your values are off by the same",
                            "Your values are close", "Your value")):
        term = (_off_term(failing.got, failing.expected, failing.case.args, failing.case.kwargs, names, failing.case.items)
                or _mask_note(failing.got, failing.expected, failing.case.args, failing.case.kwargs, names))
        if term:
            note = term if note.startswith("Your result's overall size") else f"{term} {note}"
    return " ".join(h for h in (note, exercise.generic_hint) if h), ("diagnosis" if note else "generic")


def format_result(result: CheckResult) -> str:
    if result.passed:
        return f"{PASS_MARK} [{result.exercise}]: {result.message}"
    line = f"{FAIL_MARK} [{result.exercise}]: {result.message}"
    if result.hint:
        line += f"\n   Hint: {result.hint}"
    return line


# ---------------------------------------------------------------------------------------------------------------
# The exercise index in INSTRUCTORS.md

INDEX_START = "<!-- exercise-index: generated by `python -m course_utils.checks.index --write`; do not edit by hand -->"
INDEX_END = "<!-- end of exercise-index -->"


def exercise_index() -> str:
    """The markdown for INSTRUCTORS.md's exercise index, from the registry: the table, then each check's mistakes."""
    rows = ["| nb | exercise (function) | what it practises | difficulty | check | id in the gradebook |",
            "|---|---|---|---|---|---|"]
    for ex in EXERCISES.values():
        rows.append(f"| {ex.notebook[:2]} | `{ex.function}` | {ex.practises} | {ex.difficulty} | `{ex.check}` | `{ex.id}` |")
    lines = [*rows, "", "### Mistakes each check recognises", "",
             "Every check also recognises, for every exercise: not implemented yet, a missing `return`, an exception "
             "(with a hint for " + ", ".join(e.name for e in COMMON_ERRORS) + "), changing an input in place, the "
             "wrong type (a Python float where the following cells need a tensor, or the reverse; a complex number), "
             "the wrong shape, dtype or device, NaN or infinity, returning an input unchanged, and drawing new "
             "random numbers instead of using the noise given. When a wrong answer matches none of the mistakes "
             "below, the hint says how the values are off: the opposite sign, a constant factor or offset, right "
             "for some steps t but not others, shifted by one place, off only in the term with one input, or right "
             "on one side of a mask only.", ""]
    for ex in EXERCISES.values():
        names = [m.name for m in ex.mistakes] + [e.name for e in ex.errors]
        lines.append(f"- `{ex.id}`: " + "; ".join(names) + ".")
    return "\n".join(lines)
