"""Checks for notebook 5, sampling with DDPM: the posterior variance and one ancestral step."""

from __future__ import annotations

import torch

from .. import samplers, schedules
from ..schedules import cosine_betas, linear_betas, make_schedule
from .registry import Case, Exercise, KnownMistake, register

_g = torch.Generator().manual_seed(4321)
_schedule = make_schedule("linear", 1000)
_x0 = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_z = torch.randn(4, 1, 28, 28, generator=_g)


def _abar(betas: torch.Tensor) -> torch.Tensor:
    return schedules.alphas_cumprod_from_betas(betas)


def _abar_prev(betas: torch.Tensor) -> torch.Tensor:
    return schedules.alphas_cumprod_prev(_abar(betas))


def _abar_next(betas: torch.Tensor) -> torch.Tensor:
    a = _abar(betas)
    return torch.cat([a[1:], a[-1:] * (1 - betas[-1:])])


register(Exercise(
    "nb05.posterior_variance", "05_sampling_with_ddpm", "posterior_variance",
    "the variance σ_t² = β̃_t of the fresh noise in a DDPM step", "easy", schedules.posterior_variance,

    cases=lambda: [Case((linear_betas(1000).float(),), label="linear schedule, T = 1000"),
                   Case((cosine_betas(50).float(),), label="cosine schedule, T = 50"),
                   Case((torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5]),), label="five made-up betas"),
                   Case((linear_betas(20),), label="float64 betas, T = 20")],
    mistakes=(
        KnownMistake("β_t itself (ᾱ_t on top for ᾱ_{t−1})", lambda b: b.clone(),
                     "That is β_t itself: the numerator needs 1 − ᾱ_{t−1}, one step *earlier* than the 1 − ᾱ_t below it."),
        KnownMistake("ᾱ_{−1} = 0 instead of 1", lambda b: b * (1 - torch.cat([torch.zeros(1, dtype=b.dtype), _abar(b)[:-1]])) / (1 - _abar(b)),
                     "ᾱ_{−1} = 1 (the clean image has all its signal), so β̃_0 = 0: start ᾱ_{t−1} with a 1, not a 0."),
        KnownMistake("the standard deviation instead of the variance", lambda b: (b * (1 - _abar_prev(b)) / (1 - _abar(b))).sqrt(),
                     "β̃_t is a variance; the square root (the standard deviation σ_t) comes later, in the step."),
        KnownMistake("the factor β_t missing", lambda b: (1 - _abar_prev(b)) / (1 - _abar(b)),
                     "The ratio of the two noise levels is only a correction factor: it multiplies this step's β_t."),
        KnownMistake("1 − α_t for 1 − ᾱ_t in the denominator", lambda b: b * (1 - _abar_prev(b)) / (1 - (1 - b)),
                     "The denominator uses the cumulative ᾱ_t (a running product), not this one step's α_t."),
        KnownMistake("the ratio upside down", lambda b: b * (1 - _abar(b)) / (1 - _abar_prev(b)),
                     "The ratio is upside down: β̃_t is a little *smaller* than β_t, and β̃_0 = 0."),
        KnownMistake("ᾱ_{t+1} for ᾱ_{t−1}", lambda b: b * (1 - _abar_next(b)) / (1 - _abar(b)),
                     "Wrong neighbour: the numerator uses ᾱ one step *earlier* (t − 1), not later."),
        KnownMistake("α for ᾱ", lambda b: b * (1 - torch.cat([torch.ones(1, dtype=b.dtype), (1 - b)[:-1]])) / b,
                     "Use the cumulative ᾱ (torch.cumprod of 1 − β), not each step's own α."),
    ),
    dtype_hint="Keep the betas' dtype: float64 betas must give float64 β̃_t. Something in your code makes float32 "
               "values: a `.float()`, or a tensor you create without `dtype=betas.dtype` (`torch.ones`, `torch.zeros`, "
               "`torch.tensor`). Keep everything in the betas' dtype, or convert the result with `.to(betas.dtype)`.",
    checkpoints=(("five made-up betas", "Work out β̃_0 and β̃_1 by hand for the betas 0.1, 0.2, 0.3 and print yours for "
                                        "torch.tensor([0.1, 0.2, 0.3])."),),
    generic_hint="Work out β̃_0 and β̃_1 by hand for the betas 0.1, 0.2, 0.3 and print yours.",
    # β̃_t is about 1e-4 at small t: an absolute tolerance would accept anything there. float32 arithmetic on the
    # float32 schedules is off by at most 4e-4 of β̃_t, which is fine for sampling.
    atol=1e-9,
    rtol=1e-3,
))


def _ddpm_cases():
    x_t = _x0 * 0.5 + _eps * 0.8
    return [Case((x_t, 1, _eps, _schedule, _z), label="t = 1"), Case((x_t, 500, _eps, _schedule, _z), label="t = 500"),
            Case((x_t, 999, _eps, _schedule, _z), label="t = 999"),
            Case((x_t, 0, _eps, _schedule, _z), label="t = 0, the last step")]


def _coef(s, t):
    return s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t]


def _mean(x, t, e, s):
    return (x - _coef(s, t) * e) / s.alphas[t].sqrt()


def _std(s, t):
    return s.posterior_variance[t].sqrt()


register(Exercise(
    "nb05.ddpm_step", "05_sampling_with_ddpm", "ddpm_step", "one ancestral sampling step (Algorithm 2, line 4)", "medium",
    samplers.ddpm_step,
    cases=_ddpm_cases,
    mistakes=(
        KnownMistake("the fresh noise left out", lambda x, t, e, s, z: _mean(x, t, e, s),
                     "Add the fresh noise z, scaled by σ_t (σ_0 = 0 takes care of the last step)."),
        KnownMistake("σ_t² = β_t instead of β̃_t", lambda x, t, e, s, z: _mean(x, t, e, s) + s.betas[t].sqrt() * z,
                     "The course uses the posterior variance β̃_t (schedule.posterior_variance) for σ_t², not β_t."),
        KnownMistake("no division by √α_t", lambda x, t, e, s, z: x - _coef(s, t) * e + _std(s, t) * z,
                     "After removing the noise, the bracket must be scaled back up (divided by a root of α_t)."),
        KnownMistake("√ᾱ_t for √α_t", lambda x, t, e, s, z: (x - _coef(s, t) * e) / s.sqrt_alphas_cumprod[t] + _std(s, t) * z,
                     "The bracket is divided by the factor of this one step (α_t), not by the cumulative ᾱ_t."),
        KnownMistake("α_t without its square root", lambda x, t, e, s, z: (x - _coef(s, t) * e) / s.alphas[t] + _std(s, t) * z,
                     "The bracket is divided by a *standard deviation*-like factor: the square root of α_t."),
        KnownMistake("multiplied by √α_t", lambda x, t, e, s, z: (x - _coef(s, t) * e) * s.alphas[t].sqrt() + _std(s, t) * z,
                     "Divide the bracket by the root of α_t; multiplying shrinks the image at every step."),
        KnownMistake("σ_t² for σ_t", lambda x, t, e, s, z: _mean(x, t, e, s) + s.posterior_variance[t] * z,
                     "σ_t is a standard deviation: z is scaled by the square root of the variance β̃_t."),
        KnownMistake("the result clipped to [-1, 1]", lambda x, t, e, s, z: (_mean(x, t, e, s) + _std(s, t) * z).clamp(-1, 1),
                     "Do not clip: x_{t−1} is still noisy, and its values may lie outside [-1, 1]."),
        KnownMistake("the sign of the ε term flipped", lambda x, t, e, s, z: (x + _coef(s, t) * e) / s.alphas[t].sqrt() + _std(s, t) * z,
                     "Sign error: the step *removes* the predicted noise from x_t; you added it."),
        KnownMistake("1 − ᾱ_t without its root", lambda x, t, e, s, z: (x - s.betas[t] / (1 - s.alphas_cumprod[t]) * e)
                     / s.alphas[t].sqrt() + _std(s, t) * z,
                     "The noise's coefficient divides β_t by the *standard deviation* of the noise in x_t, a square root."),
        KnownMistake("α_t for ᾱ_t in the ε coefficient", lambda x, t, e, s, z: (x - s.betas[t] / (1 - s.alphas[t]).sqrt() * e)
                     / s.alphas[t].sqrt() + _std(s, t) * z,
                     "The noise in x_t has built up over all the steps so far: its coefficient uses the cumulative ᾱ_t, not α_t."),
    ),
    generic_hint="Compare your code with the formula above term by term: the bracket, what divides it, and the noise term.",
))
