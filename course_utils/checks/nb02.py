"""Checks for notebook 2, the forward process and schedules: alphas_cumprod, q_sample, snr_db."""

from __future__ import annotations

import torch

from .. import forward, schedules
from .registry import Case, Exercise, KnownMistake, per_image, register

_g = torch.Generator().manual_seed(1234)
_x = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1  # images in [-1, 1]
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_schedule = schedules.make_schedule("linear", 1000)
_t = torch.tensor([0, 10, 500, 999])
_T_ITEMS = ("t = 0", "t = 10", "t = 500", "t = 999")


def _running_product_cases():
    return [Case((schedules.linear_betas(1000).float(),), label="linear, T=1000"),
            Case((torch.tensor([0.1, 0.2, 0.3]),), label="three steps"),
            Case((schedules.cosine_betas(50),), label="cosine, T=50, float64")]


register(Exercise(
    "nb02.alphas_cumprod_from_betas", "02_forward_process_and_schedules", "alphas_cumprod_from_betas", "ᾱ_t as a running product",
    "easy", schedules.alphas_cumprod_from_betas,
    cases=_running_product_cases, aliases=("nb02.alphas_cumprod",),
    mistakes=(
        KnownMistake("a running product of β instead of α", lambda b: torch.cumprod(b, 0),
                     "You multiplied the β_t; ᾱ is built from the α_t = 1 − β_t, the fraction each step keeps."),
        KnownMistake("1 minus a running sum", lambda b: 1 - torch.cumsum(b, 0),
                     "ᾱ is a running *product*, not 1 minus a running sum (the two agree only while the β are tiny)."),
        KnownMistake("a running sum of α", lambda b: torch.cumsum(1 - b, 0),
                     "That is a running *sum* (torch.cumsum); ᾱ_t is a running *product* (torch.cumprod)."),
        KnownMistake("off by one (ᾱ_{t−1})", lambda b: torch.cat([torch.ones(1, dtype=b.dtype), torch.cumprod(1 - b, 0)[:-1]]),
                     "Off by one: ᾱ_0 already includes step 0, so it is not 1; do not put a 1 in front."),
        KnownMistake("the first entry dropped", lambda b: torch.cumprod(1 - b, 0)[1:],
                     "One entry is missing: return one ᾱ_t per β_t, the first one included."),
        KnownMistake("the total product for every t", lambda b: torch.prod(1 - b).expand_as(b),
                     "Use a *running* product, one value per t; the total product is only the last one."),
        KnownMistake("α_t returned", lambda b: 1 - b,
                     "That is α_t, the fraction of one step; ᾱ_t combines every step from 0 to t."),
        KnownMistake("√ᾱ_t (square roots taken)", lambda b: torch.cumprod(1 - b, 0).sqrt(),
                     "No square roots here: that is √ᾱ_t, and this exercise asks for ᾱ_t itself."),
    ),
    generic_hint="Print your result for betas = torch.tensor([0.1, 0.2, 0.3]) and work the three values out by hand.",
))


def _abar(t):
    return per_image(_schedule.alphas_cumprod, t)


def _q_cases():
    return [Case((_x, _t, _schedule, _eps), label="t = 0, 10, 500, 999", items=_T_ITEMS),
            Case((_x[:2], torch.tensor([250, 250]), _schedule, _eps[:2]), label="t = 250")]


register(Exercise(
    "nb02.q_sample", "02_forward_process_and_schedules", "q_sample", "the closed form q(x_t ∣ x₀)", "medium",
    forward.q_sample,
    cases=_q_cases,
    mistakes=(
        KnownMistake("no square roots", lambda x, t, s, n: _abar(t) * x + (1 - _abar(t)) * n,
                     "Forgot the square roots: ᾱ_t and 1 − ᾱ_t are variances, the coefficients are standard deviations."),
        KnownMistake("no square root on the noise's coefficient", lambda x, t, s, n: _abar(t).sqrt() * x + (1 - _abar(t)) * n,
                     "Forgot the square root on the noise's coefficient: 1 − ᾱ_t is the noise's variance."),
        KnownMistake("no square root on the image's coefficient", lambda x, t, s, n: _abar(t) * x + (1 - _abar(t)).sqrt() * n,
                     "Forgot the square root on the image's coefficient: ᾱ_t is the signal's variance."),
        KnownMistake("the coefficients swapped", lambda x, t, s, n: (1 - _abar(t)).sqrt() * x + _abar(t).sqrt() * n,
                     "The coefficients are swapped: at t = 0 (ᾱ_t ≈ 1) x_t must be almost the clean image."),
        KnownMistake("α_t for ᾱ_t (a single step's α_t, β_t)", lambda x, t, s, n: per_image(s.alphas, t).sqrt() * x + per_image(s.betas, t).sqrt() * n,
                     "That is a single step (α_t, β_t); the jump from x₀ to step t uses the cumulative ᾱ_t (schedule.alphas_cumprod)."),
        KnownMistake("off by one (ᾱ_{t−1})",
                     lambda x, t, s, n: per_image(s.alphas_cumprod_prev, t).sqrt() * x + (1 - per_image(s.alphas_cumprod_prev, t)).sqrt() * n,
                     "Off by one: x_t uses ᾱ_t at index t itself, not the value one step earlier."),
        KnownMistake("the noise term left out", lambda x, t, s, n: _abar(t).sqrt() * x,
                     "Add the noise term: x_t is the scaled image *plus* scaled noise."),
        KnownMistake("the image not scaled", lambda x, t, s, n: x + (1 - _abar(t)).sqrt() * n,
                     "Scale the image too: only a fraction of the signal is left at step t."),
        KnownMistake("the result clipped to [-1, 1]", lambda x, t, s, n: forward.q_sample(x, t, s, n).clamp(-1, 1),
                     "Do not clip: a noisy image x_t has values outside [-1, 1], and it must keep them."),
        KnownMistake("one t for the whole batch", lambda x, t, s, n: per_image(s.alphas_cumprod, t[:1]).sqrt() * x
                     + (1 - per_image(s.alphas_cumprod, t[:1])).sqrt() * n,
                     "Each image has its own step: index the schedule with the whole tensor t, not t[0]."),
    ),
    generic_hint="Try both ends in your head: at t = 0, ᾱ_0 ≈ 1 and x_t must be almost x₀; at t = 999, ᾱ ≈ 0 and "
                 "x_t must be almost pure noise.",
))


def _ratio(a):
    return a / (1 - a)


register(Exercise(
    "nb02.snr_db", "02_forward_process_and_schedules", "snr_db", "signal-to-noise ratio in decibels", "easy",
    schedules.snr_db,
    cases=lambda: [Case((_schedule.alphas_cumprod,), label="linear schedule"),
                   Case((torch.tensor([0.5, 0.9, 0.01]),), label="abar = 0.5, 0.9, 0.01"),
                   Case((schedules.make_schedule("cosine", 1000).alphas_cumprod,),
                        label="cosine schedule, ᾱ from 0.99996 down to 2e-9")],
    mistakes=(
        KnownMistake("the SNR itself, not in decibels", lambda a: _ratio(a),
                     "That is the SNR itself; convert it to decibels."),
        KnownMistake("20·log10 (amplitude decibels)", lambda a: 20 * torch.log10(_ratio(a)),
                     "SNR is a power ratio: its decibels use 10·log10, not 20·log10."),
        KnownMistake("the natural log", lambda a: 10 * torch.log(_ratio(a)),
                     "Use log base 10 (torch.log10), not the natural log."),
        KnownMistake("log10 without the factor 10", lambda a: torch.log10(_ratio(a)),
                     "That is in bels: decibels are ten times as many."),
        KnownMistake("noise over signal", lambda a: 10 * torch.log10(1 / _ratio(a)),
                     "Signal over noise: the signal's variance goes on top."),
        KnownMistake("the amplitude ratio", lambda a: 10 * torch.log10(_ratio(a).sqrt()),
                     "That is the ratio of amplitudes (standard deviations); the SNR compares powers, that is "
                     "variances, so no square root."),
        KnownMistake("the signal alone", lambda a: 10 * torch.log10(a),
                     "Divide by the noise's variance: the SNR is a ratio of signal to noise."),
        KnownMistake("signal minus noise", lambda a: 10 * torch.log10(a - (1 - a)),
                     "The SNR is a ratio of the two variances, not their difference."),
    ),
    checkpoints=(("abar = 0.5, 0.9, 0.01", "0 dB means as much signal as noise: work out by hand what ᾱ = 0.5, 0.9 "
                                           "and 0.01 must give, and print yours."),),
    generic_hint="0 dB means as much signal as noise, +10 dB ten times more signal: work out by hand what ᾱ = 0.5 "
                 "and 0.9 must give.",
))
