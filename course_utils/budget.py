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
