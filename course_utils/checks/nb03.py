"""Checks for notebook 3, learning to denoise: x0 from eps, the timestep embedding."""

from __future__ import annotations

import math

import torch

from .. import forward, model, schedules
from .registry import Case, Exercise, KnownMistake, per_image, register

_g = torch.Generator().manual_seed(1234)
_x = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1  # images in [-1, 1]
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_eps_predicted = torch.randn(4, 1, 28, 28, generator=_g)  # a network's guess: not the noise x_t was made with
_schedule = schedules.make_schedule("linear", 1000)
_t = torch.tensor([0, 10, 500, 999])
_T_ITEMS = ("t = 0", "t = 10", "t = 500", "t = 999")


def _x0_cases():
    x_t = forward.q_sample(_x, _t, _schedule, _eps)
    return [Case((x_t, _t, _eps, _schedule), label="t = 0, 10, 500, 999", items=_T_ITEMS),
            Case((x_t[2:3], _t[2:3], _eps[2:3], _schedule), label="one image at t = 500"),
            Case((x_t, _t, _eps_predicted, _schedule), label="a predicted ε, not the noise x_t was made with", items=_T_ITEMS)]


def _sa(t):
    return per_image(_schedule.sqrt_alphas_cumprod, t)


def _s1(t):
    return per_image(_schedule.sqrt_one_minus_alphas_cumprod, t)


def _a(t):
    return per_image(_schedule.alphas, t)


register(Exercise(
    "nb03.predict_x0_from_eps", "03_learning_to_denoise", "predict_x0_from_eps", "recovering the image from predicted noise",
    "medium", forward.predict_x0_from_eps,
    cases=_x0_cases, aliases=("nb03.x0_from_eps",),
    mistakes=(
        KnownMistake("the noise added instead of subtracted", lambda x, t, e, s: (x + _s1(t) * e) / _sa(t),
                     "Sign error: x_t *contains* the scaled noise, so take it away before undoing the image's scaling."),
        KnownMistake("no division", lambda x, t, e, s: x - _s1(t) * e,
                     "After removing the noise you still hold a *scaled* image: undo that scaling at the end."),
        KnownMistake("multiplied instead of divided", lambda x, t, e, s: (x - _s1(t) * e) * _sa(t),
                     "You scaled the image down a second time; to undo a multiplication, divide."),
        KnownMistake("no square roots", lambda x, t, e, s: (x - _s1(t) ** 2 * e) / _sa(t) ** 2,
                     "Forgot the square roots: ᾱ_t and 1 − ᾱ_t are variances, the coefficients in x_t are their roots "
                     "(schedule.sqrt_alphas_cumprod, schedule.sqrt_one_minus_alphas_cumprod)."),
        KnownMistake("the coefficients swapped", lambda x, t, e, s: (x - _sa(t) * e) / _s1(t),
                     "The coefficients are swapped: the noise's coefficient is the one that is small at t = 0."),
        KnownMistake("α_t for ᾱ_t", lambda x, t, e, s: (x - (1 - _a(t)).sqrt() * e) / _a(t).sqrt(),
                     "α_t is one step's factor; x_t was made in one jump from x₀ with the cumulative ᾱ_t."),
        KnownMistake("only x_t divided", lambda x, t, e, s: x / _sa(t) - _s1(t) * e,
                     "Divide the whole difference, not only x_t: the noise term must be removed first."),
        KnownMistake("only the noise term divided", lambda x, t, e, s: x - _s1(t) / _sa(t) * e,
                     "Solve for x₀ in two moves: take the whole noise term away from x_t, then undo the image's "
                     "scaling on everything that is left; you undid it on the noise term only."),
        KnownMistake("off by one (ᾱ_{t−1})", lambda x, t, e, s: (x - (1 - per_image(s.alphas_cumprod_prev, t)).sqrt() * e)
                     / per_image(s.alphas_cumprod_prev, t).sqrt(),
                     "Off by one: x_t was made with ᾱ_t at index t itself, not one step earlier."),
        KnownMistake("off by one (index t − 1, wrapping round at t = 0)",
                     lambda x, t, e, s: (x - _s1(t - 1) * e) / _sa(t - 1),
                     "Off by one: x_t was made with ᾱ_t at index t itself, not one step earlier (and t − 1 = −1 "
                     "indexes the *last* step)."),
        KnownMistake("the result clipped to [-1, 1]", lambda x, t, e, s: forward.predict_x0_from_eps(x, t, e, s).clamp(-1, 1),
                     "Do not clip: return x̂₀ as it comes out, even outside [-1, 1] (with a predicted ε it often is; "
                     "the samplers decide later whether to clip)."),
        KnownMistake("one t for the whole batch", lambda x, t, e, s: (x - _s1(t[:1]) * e) / _sa(t[:1]),
                     "Each image has its own step: index the schedule with the whole tensor t, not t[0]."),
    ),
    generic_hint="Solve x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε for x₀ as you would for numbers, then check both ends in your "
                 "head: at t = 0 (ᾱ ≈ 1) the result is almost x_t; at t = 999 (ᾱ ≈ 4e-5) almost nothing of x₀ is left "
                 "in x_t, and undoing that tiny scaling makes the result large.",
    atol=1e-3,
))


def _freqs(dim, sign=-1.0, denominator=None, start=0, log=math.log):
    half = dim // 2
    return torch.exp(sign * log(10_000.0) * torch.arange(start, start + half).float() / (denominator or half))


def _angles(t, dim, **kw):
    return t.float()[:, None] * _freqs(dim, **kw)[None, :]


def _embed(t, dim, **kw):
    a = _angles(t, dim, **kw)
    return torch.cat([torch.sin(a), torch.cos(a)], 1)


register(Exercise(
    "nb03.sinusoidal_timestep_embedding", "03_learning_to_denoise", "sinusoidal_timestep_embedding",
    "telling the network which step it is on", "medium", model.sinusoidal_timestep_embedding,
    aliases=("nb03.timestep_embedding",),
    cases=lambda: [Case((torch.tensor([0, 1, 10, 999]), 16), label="dim=16", items=("t = 0", "t = 1", "t = 10", "t = 999")),
                   Case((torch.tensor([5, 500]), 64), label="dim=64", items=("t = 5", "t = 500")),
                   Case((torch.tensor([0, 999]), 128), label="dim=128 (the U-Net's), t = 0 and 999",
                        items=("t = 0", "t = 999"))],
    mistakes=(
        KnownMistake("cosines first", lambda t, d: _embed(t, d).roll(d // 2, dims=1),
                     "Sines first, then cosines."),
        KnownMistake("sines and cosines interleaved",
                     lambda t, d: torch.stack([torch.sin(_angles(t, d)), torch.cos(_angles(t, d))], 2).flatten(1),
                     "Put all the sines first, then all the cosines (torch.cat along dim 1), instead of interleaving them."),
        KnownMistake("one frequency for every feature",
                     lambda t, d: torch.cat([torch.sin(t.float()[:, None]).expand(-1, d // 2),
                                             torch.cos(t.float()[:, None]).expand(-1, d // 2)], 1),
                     "Each feature i needs its own frequency w_i; yours are all the same."),
        KnownMistake("dim instead of dim/2 in the exponent", lambda t, d: _embed(t, d, denominator=d),
                     "Your frequencies fall too slowly: the exponent's i runs over dim/2 values and is divided by that "
                     "count, not by dim."),
        KnownMistake("log10 for ln", lambda t, d: _embed(t, d, log=math.log10),
                     "ln(10000) is the natural log (math.log), not log10."),
        KnownMistake("i counted from 1", lambda t, d: _embed(t, d, start=1),
                     "i starts at 0, so the first frequency w_0 is exactly 1."),
        KnownMistake("sines only", lambda t, d: torch.sin(_angles(t, d)),
                     "Half the features are missing: the sines *and* the cosines, side by side (dim values in all)."),
        KnownMistake("the result transposed", lambda t, d: _embed(t, d).T,
                     "One row per step: the result has shape (B, dim), not (dim, B)."),
        # Last, as it matches loosely: angles reach 1e6, where float32 rounding differs between equivalent spellings.
        KnownMistake("growing frequencies (the sign of the exponent)", lambda t, d: _embed(t, d, sign=1.0),
                     "Your frequencies grow with i; they must fall from w_0 = 1 towards 1/10000 (mind the sign of the exponent).",
                     tolerance=0.5),
    ),
    generic_hint="Print your frequencies for dim = 8: they must start at 1 and fall towards 1/10000.",
    # Angles reach 999 radians, where float32 rounds to about 6e-5: equivalent spellings differ by that much.
    atol=2.5e-4,
))
