"""Checks for notebook 7, conditioning and guidance: classifier-free and classifier guidance, the inpainting merge."""

from __future__ import annotations

import torch

from .. import guidance, inpainting
from ..schedules import make_schedule
from .core import Case, Exercise, KnownMistake, register, run_check

_g = torch.Generator().manual_seed(2024)
_schedule = make_schedule("linear", 1000)
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_z = torch.randn(4, 1, 28, 28, generator=_g)
_grad = torch.randn(4, 1, 28, 28, generator=_g)
_t = torch.tensor([0, 250, 600, 999])


def _col(values: torch.Tensor, t) -> torch.Tensor:
    return values[t].view(-1, 1, 1, 1)

register(Exercise("nb07.guided_eps", "07_conditioning_and_guidance", "guided_eps",
                  "classifier-free guidance, w = 1 meaning no guidance", "easy", guidance.guided_eps))


def check_guided_eps(guided_eps):
    """Check ``guided_eps(eps_cond, eps_uncond, scale)`` = eps_uncond + scale (eps_cond - eps_uncond)."""
    return run_check(
        "nb07.guided_eps", guided_eps,
        [Case((_eps, _z, 3.0), label="w = 3"), Case((_eps, _z, 1.0), label="w = 1"), Case((_eps, _z, 0.0), label="w = 0")],
        mistakes=(
            KnownMistake(lambda c, u, w: c + w * (c - u),
                         "That is the other convention (w = 0 meaning no guidance). The course's: ε(x,∅) + w·(ε(x,y) − ε(x,∅)), so w = 1 is the plain conditional model."),
            KnownMistake(lambda c, u, w: c + w * (u - c), "The difference points from unconditional to conditional: ε(x,y) − ε(x,∅)."),
            KnownMistake(lambda c, u, w: w * c, "Start from the unconditional prediction and move w times the difference."),
        ),
    )


register(Exercise("nb07.classifier_guided_eps", "07_conditioning_and_guidance", "classifier_guided_eps",
                  "classifier guidance: nudging ε with a classifier's gradient", "medium", guidance.classifier_guided_eps))


def check_classifier_guided_eps(classifier_guided_eps):
    """Check ``classifier_guided_eps(eps, grad_log_prob, t, schedule, scale)`` = eps − s·√(1−ᾱ_t)·grad."""
    s = _schedule
    noise_std = lambda t: _col(s.sqrt_one_minus_alphas_cumprod, t)  # noqa: E731
    return run_check(
        "nb07.classifier_guided_eps", classifier_guided_eps,
        [Case((_eps, _grad, _t, s, 3.0), label="s = 3, t = 0, 250, 600, 999"),
         Case((_eps[:1], _grad[:1], _t[2:3], s, 10.0), label="one image, s = 10"),
         Case((_eps, _grad, _t, s, 0.0), label="s = 0")],
        mistakes=(
            KnownMistake(lambda e, g, t, s_, w: e + w * noise_std(t) * g,
                         "Sign: ε points *towards the noise*, so to move x_t towards the class, subtract the gradient term."),
            KnownMistake(lambda e, g, t, s_, w: e - w * g,
                         "Scale the gradient by √(1-ᾱ_t), the noise standard deviation at step t: ε and the score differ by that factor."),
            KnownMistake(lambda e, g, t, s_, w: e - w * _col(1 - s.alphas_cumprod, t) * g,
                         "The factor is a standard deviation: √(1-ᾱ_t), not 1-ᾱ_t."),
            KnownMistake(lambda e, g, t, s_, w: e - w * _col(s.sqrt_alphas_cumprod, t) * g,
                         "The factor is √(1-ᾱ_t) (schedule.sqrt_one_minus_alphas_cumprod), not √ᾱ_t."),
        ),
        generic_hint="Index schedule.sqrt_one_minus_alphas_cumprod with t and reshape it to (B, 1, 1, 1) so it "
                     "broadcasts over the pixels; then eps − scale · factor · grad_log_prob.",
    )


register(Exercise("nb07.inpaint_merge", "07_conditioning_and_guidance", "inpaint_merge",
                  "inpainting: keeping the known pixels at every step", "easy", inpainting.inpaint_merge))


def check_inpaint_merge(inpaint_merge):
    """Check ``inpaint_merge(x_generated, x_known_t, mask)`` = mask·x_known_t + (1 − mask)·x_generated."""
    g = torch.Generator().manual_seed(11)
    generated = torch.randn(4, 1, 28, 28, generator=g)
    known = torch.randn(4, 1, 28, 28, generator=g)
    shared = inpainting.half_mask("bottom")
    per_image = (torch.rand(4, 1, 28, 28, generator=g) > 0.5).float()
    return run_check(
        "nb07.inpaint_merge", inpaint_merge,
        [Case((generated, known, shared), label="one mask (1, 1, 28, 28) for the batch"),
         Case((generated, known, per_image), label="a different mask per image")],
        mistakes=(
            KnownMistake(lambda x, k, m: m * x + (1 - m) * k,
                         "Swapped: mask = 1 marks the *known* pixels, which come from x_known_t."),
            KnownMistake(lambda x, k, m: m * k,
                         "Where mask = 0 the pixels must come from the sampler: add (1 - mask) · x_generated."),
            KnownMistake(lambda x, k, m: x + m * k,
                         "Replace the known pixels instead of adding to them: use (1 - mask) · x_generated."),
        ),
        generic_hint="mask is 1 where the pixel is known: mask · x_known_t + (1 − mask) · x_generated.",
    )
