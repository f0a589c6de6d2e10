"""Hidden cases: for each exercise, fresh cases drawn from a secret per-run seed, beside the notebook's own.

A function that caches the answers to the notebook's fixed cases (or was written to pass only those) fails
them. They are made from the exercise's registered cases, so a new exercise gets them with no edit here:

* other shapes: the items of a batch are picked and reordered (every argument sharing the batch's length
  together: the images, their noises, their timesteps);
* other values: each floating-point tensor is drawn again like the one it replaces (a mask of 0s and 1s stays
  a mask, a covariance matrix stays symmetric positive definite, a sorted schedule stays sorted, values in
  [0, 1] stay there, others keep their mean and spread); each integer tensor (timesteps) and each Python
  number is drawn from the range its argument spans across the exercise's cases (an argument with one value
  in every case keeps it);
* dataclasses (a noise schedule) and modules (a network) are kept as they are.

A drawn case is kept only if the course's reference answers it with finite values that a tiny change of the
inputs barely moves (so a correct function cannot fail it by rounding; for an exercise judged through
``Exercise.call``, a training step, finite values only); each is labelled "hidden case k of n",
and the gradebook names it by that label alone, never by its values.

Adapter: the registry has no hook for this yet. A case builder that takes a random generator,
``Exercise.hidden_cases(generator) -> list[Case]`` (course_utils/checks), would let an exercise say exactly how
its inputs may vary; until then :func:`draw` derives them from the registered cases as above.
"""

from __future__ import annotations

import copy
import math
import random

import torch

from course_utils.checks import EXERCISES

from .verdicts import Case, cases_for

PER_EXERCISE = 3
ATTEMPTS = 100  # draws tried per exercise (most are kept: a few land on an edge)


def secret_seed() -> int:
    """A seed nobody can guess before the run (the gradebook does not print it)."""
    return random.SystemRandom().getrandbits(63)


def draw(exercise_id: str, seed: int, count: int = PER_EXERCISE) -> list[Case]:
    """``count`` hidden cases for the exercise (fewer if too few draws are well-posed)."""
    exercise = EXERCISES[exercise_id]
    public = cases_for(exercise_id)
    if not public or count <= 0:
        return []
    rng = random.Random(f"{seed}:{exercise_id}")
    gen = torch.Generator().manual_seed(rng.getrandbits(62))
    spans = _spans(public)
    found: list[Case] = []
    for attempt in range(ATTEMPTS):
        if len(found) >= count:
            break
        base = public[(len(found) + attempt) % len(public)]
        try:
            args, kwargs = _vary(base, spans, rng, gen)
        except Exception:
            continue
        if _well_posed(exercise, args, kwargs):
            found.append(Case(args, kwargs))
    for k, case in enumerate(found):
        case.label = f"hidden case {k + 1} of {len(found)}"
    return found


# ---------------------------------------------------------------------------- drawing


def _positions(case: Case) -> list:
    return list(range(len(case.args))) + list(case.kwargs)


def _value(case: Case, position):
    return case.args[position] if isinstance(position, int) else case.kwargs[position]


def _spans(cases: list[Case]) -> dict:
    """For each argument position: every value it takes across the cases (numbers, and integer tensors' ranges)."""
    spans: dict = {}
    for case in cases:
        for position in _positions(case):
            v = _value(case, position)
            bucket = spans.setdefault(position, [])
            if isinstance(v, bool):
                continue
            if isinstance(v, (int, float)):
                bucket.append(v)
            elif isinstance(v, torch.Tensor) and v.numel() and not v.is_floating_point() and not v.is_complex():
                bucket += [int(v.min()), int(v.max())]
            elif isinstance(v, torch.Tensor) and v.numel() == 1 and v.is_floating_point():
                bucket.append(float(v))
    return spans


def _batch(case: Case) -> int | None:
    """The batch length: the leading size most tensors share (2 or more), if any."""
    sizes = [v.shape[0] for p in _positions(case) if isinstance(v := _value(case, p), torch.Tensor) and v.dim() >= 1]
    sizes = [s for s in sizes if s >= 2]
    if not sizes:
        return None
    return max(set(sizes), key=lambda s: (sizes.count(s), s))


def _vary(case: Case, spans: dict, rng: random.Random, gen: torch.Generator) -> tuple[tuple, dict]:
    batch = _batch(case)
    pick = None
    if batch is not None:
        size = rng.randint(1, batch) if batch > 2 else batch
        pick = torch.randperm(batch, generator=gen)[:size]
    out = {}
    for position in _positions(case):
        v = copy.deepcopy(_value(case, position))
        if isinstance(v, torch.Tensor) and pick is not None and v.dim() >= 1 and v.shape[0] == batch:
            v = v[pick].clone()
        out[position] = _redraw(v, spans.get(position, []), rng, gen)
    args = tuple(out[i] for i in range(len(case.args)))
    return args, {k: out[k] for k in case.kwargs}


def _redraw(v, span: list, rng: random.Random, gen: torch.Generator):
    numbers = sorted(set(span))
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return rng.randint(int(numbers[0]), int(numbers[-1])) if len(numbers) >= 3 else v
    if isinstance(v, float):
        return rng.uniform(numbers[0], numbers[-1]) if len(numbers) >= 2 else v
    if not isinstance(v, torch.Tensor) or v.is_complex() or not v.numel():
        return v
    if not v.is_floating_point():
        if len(numbers) >= 2 and v.dtype != torch.bool:
            return torch.randint(int(numbers[0]), int(numbers[-1]) + 1, v.shape, generator=gen).to(v.dtype)
        return v
    if v.numel() == 1:
        if len(numbers) >= 2:
            return torch.full_like(v, rng.uniform(numbers[0], numbers[-1]))
        return v
    return _like(v, gen)


def _like(v: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """New values drawn like ``v``'s."""
    x = v.detach().double()
    dtype = v.dtype
    if bool(((x == 0) | (x == 1)).all()):
        p = float(x.mean()) if 0 < float(x.mean()) < 1 else 0.5
        return (torch.rand(v.shape, generator=gen, dtype=torch.float64) < p).to(dtype)
    if x.dim() == 2 and x.shape[0] == x.shape[1] and torch.allclose(x, x.T) and float(torch.linalg.eigvalsh(x).min()) >= 0:
        d = x.shape[0]
        a = torch.randn(d, d + 2, generator=gen, dtype=torch.float64)
        m = a @ a.T / (d + 2)
        return (m * (float(x.trace()) / max(float(m.trace()), 1e-12))).to(dtype)
    low, high = float(x.min()), float(x.max())
    if x.dim() == 1 and x.numel() > 2 and (bool((x[1:] >= x[:-1]).all()) or bool((x[1:] <= x[:-1]).all())):
        values = torch.rand(x.shape, generator=gen, dtype=torch.float64) * (high - low) + low
        values, _ = values.sort(descending=bool(x[0] > x[-1]))
        return values.to(dtype)
    if low >= 0 and high <= 1 or low >= -1 and high <= 1:
        return (torch.rand(x.shape, generator=gen, dtype=torch.float64) * (high - low) + low).to(dtype)
    std = float(x.std()) if x.numel() > 1 else 1.0
    return (torch.randn(x.shape, generator=gen, dtype=torch.float64) * std + float(x.mean())).to(dtype)


# ---------------------------------------------------------------------------- keeping only well-posed cases


def _finite(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_finite(v) for v in value)
    if isinstance(value, torch.Tensor):
        return not value.is_complex() and bool(torch.isfinite(value.detach()).all())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return math.isfinite(value)
    return False


NUDGE = 2.0  # in units of each input's machine epsilon: about the rounding of one operation in its dtype


def _nudged(value, gen: torch.Generator):
    if isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel():
        if bool(((value == 0) | (value == 1)).all()):
            return value  # a mask stays a mask
        eps = NUDGE * torch.finfo(value.dtype).eps
        return value * (1 + eps * torch.randn(value.shape, generator=gen, dtype=torch.float64)).to(value.dtype)
    if isinstance(value, float):
        return value * (1 + NUDGE * torch.finfo(torch.float64).eps)
    return value  # integers, dataclasses (a schedule), modules (a network)


def _close(a, b, atol: float, rtol: float) -> bool:
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_close(x, y, atol, rtol) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.allclose(a.detach().double(), b.detach().double(), atol=atol, rtol=rtol))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=atol)
    return False


def _well_posed(exercise, args: tuple, kwargs: dict) -> bool:
    """The reference answers it, with finite values that a nudge of the inputs by their own rounding (two machine
    epsilons of their dtype) moves by under half the check's tolerance (no case on the edge of a square root, a
    division or a cancellation)."""
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():  # as the check runs it (a step back-propagates)
            torch.manual_seed(0)
            first = exercise.run(exercise.reference, copy.deepcopy(args), copy.deepcopy(kwargs))
            gen = torch.Generator().manual_seed(1)
            nudged_args = tuple(_nudged(a, gen) for a in copy.deepcopy(args))
            nudged_kwargs = {k: _nudged(v, gen) for k, v in copy.deepcopy(kwargs).items()}
            torch.manual_seed(0)
            second = exercise.run(exercise.reference, nudged_args, nudged_kwargs)
    except Exception:
        return False
    if getattr(exercise, "call", None) is not None:
        # An answer that is what the function does (a training step) is as sensitive to rounding on the notebook's
        # cases as on these (an optimizer's step turns a tiny change of a gradient's sign into a whole step): the
        # drawn cases are like the notebook's, and only have to be answered.
        return _finite(first)
    return _finite(first) and _close(first, second, exercise.atol / 2, exercise.rtol / 2)
