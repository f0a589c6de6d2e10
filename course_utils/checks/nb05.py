"""Checks for notebook 5, sampling with DDPM: the posterior variance and one ancestral step."""

from __future__ import annotations

import torch

from .. import samplers, schedules
from ..schedules import cosine_betas, linear_betas, make_schedule
from .core import Case, Exercise, KnownMistake, register, run_check

_g = torch.Generator().manual_seed(4321)
_schedule = make_schedule("linear", 1000)
_x0 = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_z = torch.randn(4, 1, 28, 28, generator=_g)


def _abar(betas: torch.Tensor) -> torch.Tensor:
    return schedules.alphas_cumprod_from_betas(betas)


def _abar_prev(betas: torch.Tensor) -> torch.Tensor:
    return schedules.alphas_cumprod_prev(_abar(betas))


register(Exercise("nb05.posterior_variance", "05_sampling_with_ddpm", "posterior_variance",
                  "the variance σ_t² = β̃_t of the fresh noise in a DDPM step", "easy", schedules.posterior_variance))


def check_posterior_variance(posterior_variance):
    """Check ``posterior_variance(betas) -> (T,) tensor`` of β̃_t."""
    short = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5])
    return run_check(
        "nb05.posterior_variance", posterior_variance,
        [Case((linear_betas(1000).float(),), label="linear schedule, T = 1000"),
         Case((cosine_betas(50).float(),), label="cosine schedule, T = 50"),
         Case((short,), label="five made-up betas")],
        mistakes=(
            KnownMistake(lambda b: b.clone(),
                         "That is β_t itself: the numerator needs 1 − ᾱ_{t−1}, one step *earlier* than the 1 − ᾱ_t below it."),
            KnownMistake(lambda b: b * (1 - torch.cat([torch.zeros(1), _abar(b)[:-1]])) / (1 - _abar(b)),
                         "ᾱ_{−1} = 1 (the clean image has all its signal), so β̃_0 = 0: start ᾱ_{t−1} with a 1, not a 0."),
            KnownMistake(lambda b: (b * (1 - _abar_prev(b)) / (1 - _abar(b))).sqrt(),
                         "β̃_t is a variance; the square root (the standard deviation σ_t) comes later, in the step."),
            KnownMistake(lambda b: (1 - _abar_prev(b)) / (1 - _abar(b)),
                         "Multiply by β_t: β̃_t = β_t · (1 − ᾱ_{t−1}) / (1 − ᾱ_t)."),
            KnownMistake(lambda b: b * (1 - _abar_prev(b)) / (1 - b),
                         "The denominator is 1 − ᾱ_t (the cumulative product), not 1 − α_t."),
        ),
        generic_hint="alphas_cumprod = torch.cumprod(1 - betas, 0); put a 1 in front of all but its last value for ᾱ_{t−1}.",
    )


register(Exercise("nb05.ddpm_step", "05_sampling_with_ddpm", "ddpm_step",
                  "one ancestral sampling step (Algorithm 2, line 4)", "medium", samplers.ddpm_step))


def check_ddpm_step(ddpm_step):
    """Check ``ddpm_step(x_t, t, eps, schedule, z) -> x_{t-1}`` for an int t."""
    s = _schedule
    x_t = _x0 * 0.5 + _eps * 0.8

    def mean(x, t, e):
        return (x - s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t] * e) / s.alphas[t].sqrt()

    return run_check(
        "nb05.ddpm_step", ddpm_step,
        [Case((x_t, 1, _eps, s, _z), label="t = 1"), Case((x_t, 500, _eps, s, _z), label="t = 500"),
         Case((x_t, 999, _eps, s, _z), label="t = 999"),
         Case((x_t, 0, _eps, s, _z), label="t = 0, the last step")],
        mistakes=(
            KnownMistake(lambda x, t, e, s_, z: mean(x, t, e), "Add the fresh noise σ_t z (except that σ_0 = 0 at the last step)."),
            KnownMistake(lambda x, t, e, s_, z: mean(x, t, e) + s.betas[t].sqrt() * z,
                         "The course uses σ_t² = β̃_t, the posterior variance (schedule.posterior_variance), not β_t."),
            KnownMistake(lambda x, t, e, s_, z: x - s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t] * e + s.posterior_variance[t].sqrt() * z,
                         "Divide the bracket by √α_t."),
            KnownMistake(lambda x, t, e, s_, z: (x - s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t] * e) / s.sqrt_alphas_cumprod[t] + s.posterior_variance[t].sqrt() * z,
                         "Divide by √α_t of this one step, not by √ᾱ_t."),
            KnownMistake(lambda x, t, e, s_, z: mean(x, t, e) + s.posterior_variance[t] * z,
                         "σ_t is a standard deviation: multiply z by √β̃_t, not β̃_t."),
        ),
    )
