"""Check for notebook 4's second exercise: one exponential-moving-average update."""

from __future__ import annotations

import torch

from .. import training
from .core import Case, Exercise, KnownMistake, register, run_check

register(Exercise("nb04.ema_step", "04_training_a_tiny_ddpm", "ema_step",
                  "the exponential moving average of the weights", "easy", training.ema_step))

_g = torch.Generator().manual_seed(404)
_average = torch.randn(3, 5, generator=_g)
_value = torch.randn(3, 5, generator=_g)


def check_ema_step(ema_step):
    """Check ``ema_step(average, value, decay) -> decay * average + (1 - decay) * value``."""
    return run_check(
        "nb04.ema_step", ema_step,
        [Case((_average, _value, 0.9), label="decay 0.9"), Case((_average, _value, 0.999), label="decay 0.999"),
         Case((_average[0], _value[0], 0.0), label="decay 0 (no memory)"),
         Case((_average, _value, 1.0), label="decay 1 (never moves)")],
        mistakes=(
            KnownMistake(lambda a, v, d: d * v + (1 - d) * a,
                         "The decay multiplies the old average (it is how much you *keep*); the new value gets 1 - decay."),
            KnownMistake(lambda a, v, d: d * a + d * v, "The two weights must add up to 1: decay and 1 - decay."),
            KnownMistake(lambda a, v, d: (a + v) / 2, "Use the decay: a plain mean of the two forgets the average much too fast."),
            KnownMistake(lambda a, v, d: v, "Returning the new value throws the average away; mix the two with the decay."),
        ),
        generic_hint="Return decay * average + (1 - decay) * value, as a new tensor (do not change `average` in place).",
    )
