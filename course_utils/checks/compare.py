"""Comparing a student's result with the reference's: type, shape, device, dtype, finiteness, then values.

:func:`compare` raises :class:`Mismatch` at the first difference, with its ``kind`` (type, none, dtype, device,
shape, nonfinite or values), the message the verdict line prints, and for every kind but "values" the hint
that says what to do; how wrong *values* are off is :mod:`course_utils.checks.diagnosis`'s job.
:func:`same` is the loose comparison used to match results against known mistakes.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from .registry import Exercise

COMPLEX_HINT = ("The result should be a real number. Complex numbers appear when you take eigenvalues of a "
                "non-symmetric matrix (`torch.linalg.eigvals`) or the root of a negative number; note that "
                "`.item()` and `float(...)` do not remove them safely. Work with symmetric matrices and "
                "`torch.linalg.eigh`, or keep the real part (`.real`) if the imaginary part is only rounding.")
NONFINITE_HINT = ("Look for a division by zero, or the log or square root of a negative number (rounding can make "
                  "a quantity that should be exactly 0 slightly negative).")
_RETURN_HINT = "Did you forget the `return` statement?"


class Mismatch(Exception):
    """A result that differs from the expected one; ``kind`` is type, none, dtype, device, shape, nonfinite or values."""

    def __init__(self, message: str, hint: str = "", kind: str = "values"):
        super().__init__(message)
        self.message, self.hint, self.kind = message, hint, kind


def is_number(value: Any) -> bool:
    """A Python int or float (not a bool): the one whole-or-real-number test of the checks."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def describe(value: Any) -> str:
    """``"a float"``, ``"an ndarray"``, ``"None"``: the type of a value, for messages."""
    if value is None:
        return "None"
    word = type(value).__name__
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def compare(got: Any, expected: Any, atol: float, rtol: float, exercise: Exercise, dtype_source: str = "") -> None:
    """Raise :class:`Mismatch` unless ``got`` has the type, shape, dtype and values of ``expected``.

    ``dtype_source`` names an input whose dtype the result must keep (for the dtype hint), if there is one.
    """
    if isinstance(expected, torch.Tensor):
        _compare_tensor(got, expected, "your result", atol, rtol, exercise, dtype_source)
    elif isinstance(expected, tuple):
        if got is None:
            raise Mismatch("your result is None.", _RETURN_HINT, "none")
        got_t = as_tuple(got)
        if len(got_t) != len(expected):
            raise Mismatch(f"expected {len(expected)} values, got {len(got_t)}.",
                           f"Return a tuple of {len(expected)} values, in the order the docstring gives.", "shape")
        for i, (g, e) in enumerate(zip(got_t, expected)):
            try:
                compare(g, e, atol, rtol, exercise, dtype_source)
            except Mismatch as err:
                raise Mismatch(f"value {i + 1} of {len(expected)}: {err.message}", err.hint, err.kind) from None
    elif is_number(expected):
        _compare_number(got, expected, atol, rtol, exercise)
    else:
        raise TypeError(f"cannot compare {type(expected)}")  # a bug in the check itself


def _compare_number(got: Any, expected: float, atol: float, rtol: float, ex: Exercise) -> None:
    if got is None:
        raise Mismatch("your result is None.", _RETURN_HINT, "none")
    if isinstance(got, complex) or (isinstance(got, torch.Tensor) and got.is_complex()):
        raise Mismatch("your result is a complex number, expected a real Python float.", COMPLEX_HINT, "type")
    kind, convert = ("Python int", "int") if isinstance(expected, int) and not isinstance(expected, bool) else ("Python float", "float")
    if isinstance(got, torch.Tensor):
        default = (f"The exercise asks for a {kind}: convert the one-element tensor with "
                   f"`{convert}(...)` (or `.item()`) before returning it.")
        shape = f" of shape {tuple(got.shape)}" if got.dim() else ""
        raise Mismatch(f"your result is a torch.Tensor{shape}, expected a {kind}.", ex.type_hint or default, "type")
    if not is_number(got):
        raise Mismatch(f"your result is {describe(got)}, expected a {kind}.", ex.type_hint or f"Return a {kind}.", "type")
    if not math.isfinite(got):
        raise Mismatch("your result is NaN or infinite.", NONFINITE_HINT, "nonfinite")
    if not math.isclose(got, expected, rel_tol=rtol, abs_tol=atol):
        raise Mismatch("the value is off.")


def _compare_tensor(got: Any, expected: torch.Tensor, what: str, atol: float, rtol: float, ex: Exercise,
                    dtype_source: str) -> None:
    if got is None:
        raise Mismatch(f"{what} is None.", _RETURN_HINT, "none")
    if not isinstance(got, torch.Tensor):
        if isinstance(got, complex):
            raise Mismatch(f"{what} is a complex number.", COMPLEX_HINT, "type")
        if is_number(got):
            default = ("The cells below need a tensor (they use tensor methods and torch functions on it): "
                       "build the result with torch operations and do not convert it with `float(...)`, "
                       "`.item()` or `math` functions.")
            raise Mismatch(f"{what} is a Python {type(got).__name__}, expected a torch.Tensor"
                           f"{' (0-d)' if expected.dim() == 0 else ''}.", ex.type_hint or default, "type")
        raise Mismatch(f"{what} is {describe(got)}, expected a torch.Tensor.",
                       "Build the result with torch operations (not Python lists or NumPy arrays).", "type")
    if got.is_complex() and not expected.is_complex():
        raise Mismatch(f"{what} is a complex tensor.", COMPLEX_HINT, "type")
    if tuple(got.shape) != tuple(expected.shape):
        raise Mismatch(f"wrong shape: got {tuple(got.shape)}, expected {tuple(expected.shape)}.",
                       "Check which dimensions you reduced, added or dropped; print `.shape` after each line.", "shape")
    if got.device != expected.device:
        like = dtype_source or "an input"
        raise Mismatch(f"{what} is on {got.device}, but the inputs were on {expected.device}.",
                       f"Create new tensors on the inputs' device (`device={like}.device`, or `torch.zeros_like({like})`).",
                       "device")
    if got.is_floating_point() != expected.is_floating_point() or (
            expected.is_floating_point() and got.dtype != expected.dtype):
        raise Mismatch(f"wrong dtype: got {got.dtype}, expected {expected.dtype}.",
                       ex.dtype_hint or _dtype_hint(got, expected, dtype_source), "dtype")
    if expected.is_floating_point() and not torch.isfinite(got).all():
        raise Mismatch(f"{what} contains NaN or infinity.", NONFINITE_HINT, "nonfinite")
    if not torch.allclose(got.detach().double(), expected.detach().double(), atol=atol, rtol=rtol):
        raise Mismatch("the values are off.")


def _dtype_hint(got: torch.Tensor, expected: torch.Tensor, source: str) -> str:
    if not (expected.is_floating_point() and got.is_floating_point()):
        return "Work with floating-point tensors: a Python int or an integer tensor somewhere makes the result an integer."
    want = str(expected.dtype).replace("torch.", "")
    if source:
        return (f"Keep the dtype of `{source}` ({want}): a tensor you create yourself (`torch.tensor`, `torch.ones`, "
                f"NumPy) or a conversion (`.float()`, `.double()`) may bring in another dtype; pass "
                f"`dtype={source}.dtype` or convert with `.to({source}.dtype)`.")
    default = ", torch's default float dtype" if expected.dtype == torch.float32 else ""
    return (f"The result should be {want}{default}: something in your code makes {str(got.dtype).replace('torch.', '')} "
            "values (NumPy, `.float()` or `.double()`, `dtype=` on a tensor you create).")


def same(got: Any, candidate: Any, atol: float, rtol: float) -> bool:
    """Do ``got`` and ``candidate`` hold the same numbers (NaN matching NaN)? Types may differ (0-d tensor vs float)."""
    try:
        if isinstance(candidate, (tuple, list)):
            got_t = as_tuple(got)
            return len(got_t) == len(candidate) and all(same(g, c, atol, rtol) for g, c in zip(got_t, candidate))
        if isinstance(candidate, torch.Tensor) or isinstance(got, torch.Tensor):
            g, c = torch.as_tensor(got).detach(), torch.as_tensor(candidate).detach()
            if g.is_complex() or c.is_complex() or g.shape != c.shape:
                return False
            return bool(torch.allclose(g.double(), c.double(), atol=atol, rtol=rtol, equal_nan=True))
        if is_number(got) and is_number(candidate):
            if math.isnan(got) or math.isnan(candidate):
                return math.isnan(got) and math.isnan(candidate)
            return math.isclose(got, candidate, rel_tol=rtol, abs_tol=atol)
    except Exception:
        return False
    return False


def size(value: Any) -> float:
    """The largest finite magnitude in a result (a number, a tensor or a tuple of them), for relative tolerances."""
    if isinstance(value, (tuple, list)):
        return max((size(v) for v in value), default=0.0)
    if isinstance(value, torch.Tensor) and not value.is_complex():
        finite = value.detach().double()
        finite = finite[torch.isfinite(finite)]
        return float(finite.abs().max()) if finite.numel() else 0.0
    return abs(value) if is_number(value) and math.isfinite(value) else 0.0


def is_real_and_finite(value: Any) -> bool:
    """A result with no NaN, infinity or complex part anywhere (a number, a tensor or a tuple of them)."""
    if isinstance(value, (tuple, list)):
        return all(is_real_and_finite(v) for v in value)
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            return False
        return not value.is_floating_point() or bool(torch.isfinite(value.detach()).all())
    if is_number(value):
        return math.isfinite(value)
    return False
