"""Fitting a notebook's live run into a time budget: one knob, everything after it included.

Notebook 4 asks how many minutes you are willing to wait (``budget_minutes``) and plans the rest from
what one unit of each kind of work costs on *this* machine, measured a moment before:

    seconds_per_step    one training step of the run
    seconds_per_image   sampling one image with the scoring sampler (in batches, as the notebook does)

:func:`plan_live_run` keeps a margin for a slower moment of the machine, sizes the scoring (how many
samples each score uses) to at most a fixed share of the budget, reserves the notebook's other work
(snapshots during training, a resume demo, a few small cells), and gives all that is left to training.
The plan prints itself, so the cell says what it will cost before it starts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

MARGIN = 0.15  # of the budget, kept for a slower rerun (other programs, a warmer laptop)
SCORING_SHARE = 0.3  # scoring may use at most this share of the budget
EVAL_SIZES = (500, 400, 300, 200, 100)  # samples per score, the largest that fits
MIN_TRAIN_STEPS = 100


@dataclass(frozen=True)
class LivePlan:
    """How a budget is spent; ``train_steps`` and ``n_eval`` are what the notebook uses."""

    budget_minutes: float
    seconds_per_step: float
    seconds_per_image: float
    train_steps: int
    n_eval: int  # samples per score
    eval_sets: int  # how many sets of n_eval samples are scored
    snapshot_images: int  # images sampled during training
    other_seconds: float  # the rest: small cells, a resume demo
    margin: float

    def seconds(self) -> dict[str, float]:
        return {
            "training": self.train_steps * self.seconds_per_step,
            "snapshots": self.snapshot_images * self.seconds_per_image,
            "scoring": self.eval_sets * self.n_eval * self.seconds_per_image,
            "the rest": self.other_seconds,
        }

    @property
    def planned_minutes(self) -> float:
        return sum(self.seconds().values()) / 60

    def __str__(self) -> str:
        parts = self.seconds()
        detail = {
            "training": f"{self.train_steps:,} steps at {self.seconds_per_step:.3f} s",
            "snapshots": f"{self.snapshot_images} images",
            "scoring": f"{self.eval_sets} sets of {self.n_eval} samples at {self.seconds_per_image:.3f} s each",
            "the rest": "small cells and the resume demo",
        }
        lines = [f"budget_minutes = {self.budget_minutes:g}: planned {self.planned_minutes:.1f} min, keeping "
                 f"{100 * self.margin:.0f}% in hand for a slower moment of the machine"]
        lines += [f"  {name:9s} {seconds / 60:5.1f} min  ({detail[name]})" for name, seconds in parts.items()]
        if self.train_steps <= MIN_TRAIN_STEPS:
            lines.append(f"  (only {self.train_steps} training steps fit: the model will not make digits yet; raise "
                         "budget_minutes)")
        return "\n".join(lines)


def plan_live_run(
    budget_minutes: float,
    seconds_per_step: float,
    seconds_per_image: float,
    *,
    eval_sets: int = 5,
    snapshot_images: int = 160,
    other_steps: int = 60,
    other_seconds: float = 20.0,
    margin: float = MARGIN,
) -> LivePlan:
    """Split ``budget_minutes`` between training, snapshots, scoring and the rest (see the module docstring).

    ``eval_sets`` sets of samples are scored; ``snapshot_images`` are sampled during training;
    ``other_steps`` training steps and ``other_seconds`` are spent elsewhere after the knob.
    """
    for name, value in (("budget_minutes", budget_minutes), ("seconds_per_step", seconds_per_step),
                        ("seconds_per_image", seconds_per_image)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a number > 0, got {value!r}")
    usable = budget_minutes * 60 * (1 - margin)
    rest = other_seconds + other_steps * seconds_per_step
    snapshots = snapshot_images * seconds_per_image
    n_eval = next((n for n in EVAL_SIZES if eval_sets * n * seconds_per_image <= SCORING_SHARE * usable), EVAL_SIZES[-1])
    left = usable - rest - snapshots - eval_sets * n_eval * seconds_per_image
    steps = max(int(left / seconds_per_step), MIN_TRAIN_STEPS)
    return LivePlan(budget_minutes, seconds_per_step, seconds_per_image, steps, n_eval, eval_sets, snapshot_images,
                    rest, margin)


@dataclass(frozen=True)
class Costs:
    """What one unit of each kind of work costs on this machine, measured by :func:`measure_costs`."""

    seconds_per_step: float
    seconds_per_image: float

    def __str__(self) -> str:
        return (f"{self.seconds_per_step:.3f} s per training step, {self.seconds_per_image:.3f} s per sampled image "
                f"({torch.get_num_threads()} CPU thread(s) where the device is the CPU)")


def measure_costs(config, images: torch.Tensor, device, sampler_for: Callable, *, steps: int = 15,
                  num_images: int = 32) -> Costs:
    """Time ``steps`` training steps of ``config`` (after 3 untimed ones) on a throwaway run, and sampling
    ``num_images`` images from it with ``sampler_for(schedule)``; the per-unit costs."""
    from .samplers import sample  # imported here: budget is imported by notebooks before training starts
    from .training import new_train_state, train_ddpm

    trial = new_train_state(replace(config, train_steps=3 + steps), device)
    train_ddpm(trial, images, steps=3)
    start = time.perf_counter()
    train_ddpm(trial, images, steps=steps)
    per_step = (time.perf_counter() - start) / steps
    noise = torch.randn(num_images, *images.shape[1:], generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    sample(trial.ema.model, sampler_for(trial.schedule), noise=noise, show_progress=False)
    return Costs(per_step, (time.perf_counter() - start) / num_images)


# ----------------------------------------------------------------------------- estimate before a long cell
#
# Every cell that may take more than a minute on a 2-core CPU says first what it will cost on *this* machine
# and names the knob at its top that makes it cheaper:
#
#     n_compare = quick(128, 4)  # the knob: samples per row
#     per_call = seconds_per_network_call(model, n_compare)
#     print(estimate({"DDPM-1000": 1000 * per_call, "DDIM rows": 180 * per_call}, knob="n_compare", value=n_compare))
#
# prints, before any of the work starts,
#
#     Estimate for this cell on this machine: about 2.1 min (DDPM-1000 1.8 min, DDIM rows 0.3 min).
#     To wait less, set n_compare = 64 at the top of the cell (about 1.0 min).
#
# The costs are measured a moment before on a small piece (one network call, a few training steps) and
# multiplied up, so they follow the machine's speed and load. Notebooks 9 and 10 use the same three helpers.

ESTIMATE_HEAD = "Estimate for this cell on this machine"
TARGET_SECONDS = 60.0  # a cell should say how to get under a minute


def measure_seconds(fn: Callable[[], object], *, repeats: int = 3, warmup: int = 1) -> float:
    """The median of ``repeats`` wall-clock timings of ``fn()`` after ``warmup`` untimed calls: what the piece
    costs on this machine as it is now (busy or quiet), not at its best."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a whole number >= 1, got {repeats!r}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def seconds_per_network_call(model, batch_size: int, *, labels: bool = False, num_timesteps: int = 1000,
                             shape: tuple[int, ...] = (1, 28, 28), time: float | None = None,
                             device=None, largest_timed_batch: int = 64, repeats: int = 3) -> float:
    """Seconds for one call of ``model`` (a network or a guidance wrapper) on a batch of ``batch_size`` images.

    Batches larger than ``largest_timed_batch`` are timed at that size and scaled up in proportion (past a few
    dozen images a CPU's cost per image no longer falls). ``labels=True`` passes digit labels, as a
    class-conditional model or a guidance wrapper needs. ``shape`` is one input's shape (a latent model's, e.g.
    notebook 10's (4, 7, 7)), ``time`` the t it is called at (default ``num_timesteps // 2``; a flow model's t is
    in [0, 1], so give 0.5).
    """
    from .samplers import call_model, model_device

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    device = torch.device(device) if device is not None else model_device(model, torch.device("cpu"))
    timed = min(batch_size, largest_timed_batch)
    x = torch.randn(timed, *shape, generator=torch.Generator().manual_seed(0)).to(device)
    t = torch.full((timed,), num_timesteps // 2 if time is None else time, device=device)
    y = (torch.arange(timed) % 10).to(device) if labels else None
    with torch.no_grad():
        seconds = measure_seconds(lambda: call_model(model, x, t, y), repeats=repeats)
    return seconds * batch_size / timed


@dataclass(frozen=True)
class CellEstimate:
    """What a cell will cost, part by part, and the smaller setting of its knob; ``print`` it first."""

    parts: tuple[tuple[str, float], ...]  # (what, seconds)
    knob: str
    value: object
    smaller: tuple[object, float] | None  # (the knob's smaller value, the cell's seconds with it)

    @property
    def seconds(self) -> float:
        return sum(seconds for _, seconds in self.parts)

    def __str__(self) -> str:
        detail = ", ".join(f"{what} {_duration(seconds)}" for what, seconds in self.parts)
        lines = [f"{ESTIMATE_HEAD}: about {_duration(self.seconds)}" + (f" ({detail})." if len(self.parts) > 1
                                                                         else f" ({self.parts[0][0]}).")]
        if self.smaller is not None:
            value, seconds = self.smaller
            lines.append(f"To wait less, set {self.knob} = {value!r} at the top of the cell "
                         f"(about {_duration(seconds)}).")
        else:
            lines.append(f"The knob at the top of the cell: {self.knob} = {self.value!r}.")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _round_down(value: float, step: int) -> int:
    """``value`` rounded down to a multiple of ``step``, then to 1, 2 or 5 times a power of ten when that is close."""
    rounded = int(value // step) * step
    for nice in sorted({m * 10**k for k in range(7) for m in (1, 2, 5)}, reverse=True):
        if nice <= rounded and nice >= 0.8 * rounded and nice % step == 0:
            return nice
    return rounded


def estimate(parts: dict[str, float], *, knob: str, value, scales: set[str] | None = None, step: int = 1,
             minimum: int = 1, smaller: tuple[object, float] | None = None,
             target_seconds: float = TARGET_SECONDS) -> CellEstimate:
    """The cell's cost, from ``parts`` ({what: seconds} measured on this machine), and how to make it cheaper.

    By default every part grows in proportion to the knob ``knob`` (now ``value``, a whole number): when the
    total is over ``target_seconds``, the smaller value offered is the largest multiple of ``step`` (at least
    ``minimum``) that brings it under. ``scales`` names the parts that grow with the knob (the others are fixed).
    For a knob that is not one number, pass ``smaller=(its smaller value, the cell's seconds with it)``.
    """
    for what, seconds in parts.items():
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
                or seconds < 0:
            raise ValueError(f"the cost of {what!r} must be a number of seconds >= 0, got {seconds!r}")
    if not parts:
        raise ValueError("estimate() needs at least one part: {what: seconds}")
    total = sum(parts.values())
    if smaller is None and total > target_seconds and isinstance(value, int) and not isinstance(value, bool):
        scaled = sum(s for what, s in parts.items() if scales is None or what in scales)
        fixed = total - scaled
        if scaled > 0 and fixed < target_seconds:
            fits = _round_down(value * (target_seconds - fixed) / scaled, step)
            fits = max(fits, minimum)
            if fits < value:
                smaller = (fits, fixed + scaled * fits / value)
    return CellEstimate(tuple(parts.items()), knob, value, smaller)
