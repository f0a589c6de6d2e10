"""Checks for notebook 7, conditioning and guidance: classifier-free and classifier guidance, the inpainting merge."""

from __future__ import annotations

import torch

from .. import guidance, inpainting
from ..schedules import make_schedule
from .registry import Case, Exercise, KnownError, KnownMistake, per_image, register

_g = torch.Generator().manual_seed(2024)
_schedule = make_schedule("linear", 1000)
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_z = torch.randn(4, 1, 28, 28, generator=_g)
_grad = torch.randn(4, 1, 28, 28, generator=_g)
_t = torch.tensor([0, 250, 600, 999])
_T_ITEMS = ("t = 0", "t = 250", "t = 600", "t = 999")


_AT_W = ("Check your formula at w = 0 (it must give eps_uncond) and at w = 1 (it must give eps_cond, the plain "
         "conditional prediction).")

register(Exercise(
    "nb07.guided_eps", "07_conditioning_and_guidance", "guided_eps", "classifier-free guidance, w = 1 meaning no guidance",
    "easy", guidance.guided_eps,
    cases=lambda: [Case((_eps, _z, 3.0), label="w = 3"), Case((_eps, _z, 1.0), label="w = 1"), Case((_eps, _z, 0.0), label="w = 0")],
    mistakes=(
        KnownMistake("the other convention (w = 0 meaning no guidance)", lambda c, u, w: c + w * (c - u),
                     "That is the other convention, in which w = 0 means no guidance. In the course's convention "
                     "w = 1 means no guidance and w = 0 gives the unconditional model. " + _AT_W),
        KnownMistake("the difference the wrong way round", lambda c, u, w: u + w * (u - c),
                     "Your guidance pushes away from the label: the push goes from the unconditional prediction towards "
                     "the conditional one (and past it when w > 1). " + _AT_W),
        KnownMistake("only w times the conditional prediction", lambda c, u, w: w * c,
                     "Start from the unconditional prediction and move w times the way towards the conditional one. " + _AT_W),
        KnownMistake("the two predictions swapped", lambda c, u, w: c + w * (u - c),
                     "The conditional and unconditional predictions have swapped roles: guidance starts from the "
                     "unconditional one and moves towards the label. " + _AT_W),
        KnownMistake("w ignored", lambda c, u, w: c,
                     "The scale w is not used: w = 3 must push further than w = 1. " + _AT_W),
        KnownMistake("the starting point left out", lambda c, u, w: w * (c - u),
                     "You return only the push; add it to the prediction you start from. " + _AT_W),
        KnownMistake("a sum without the difference", lambda c, u, w: u + w * c,
                     "Guidance moves along the *difference* of the two predictions. " + _AT_W),
    ),
    checkpoints=(("w = 0", "At w = 0 your result must be eps_uncond exactly: the label is ignored."),
                 ("w = 1", "At w = 1 your result must be eps_cond exactly: the plain conditional model, no guidance.")),
    generic_hint="With w > 1 your result must lie on the straight line through eps_uncond and eps_cond, beyond "
                 "eps_cond, and w = 3 must push further than w = 2.",
))


def _noise_std(t):
    return per_image(_schedule.sqrt_one_minus_alphas_cumprod, t)


register(Exercise(
    "nb07.classifier_guided_eps", "07_conditioning_and_guidance", "classifier_guided_eps",
    "classifier guidance: nudging ε with a noise-aware classifier's gradient", "medium", guidance.classifier_guided_eps,

    cases=lambda: [Case((_eps, _grad, _t, _schedule, 3.0), label="s = 3, t = 0, 250, 600, 999", items=_T_ITEMS),
                   Case((_eps[:1], _grad[:1], _t[2:3], _schedule, 10.0), label="one image, s = 10"),
                   Case((_eps, _grad, _t, _schedule, 0.0), label="s = 0")],
    mistakes=(
        KnownMistake("the gradient added (sign)", lambda e, g, t, s, w: e + w * _noise_std(t) * g,
                     "Sign: ε points *towards the noise*, so to move x_t towards the class, subtract the gradient term."),
        KnownMistake("the gradient not scaled by the noise level", lambda e, g, t, s, w: e - w * g,
                     "Scale the gradient by the noise standard deviation at step t: ε and the score differ by that factor."),
        KnownMistake("1 − ᾱ_t without its root", lambda e, g, t, s, w: e - w * per_image(1 - _schedule.alphas_cumprod, t) * g,
                     "The factor is a standard deviation, the square root of the noise variance 1 − ᾱ_t."),
        KnownMistake("√ᾱ_t for √(1 − ᾱ_t)", lambda e, g, t, s, w: e - w * per_image(_schedule.sqrt_alphas_cumprod, t) * g,
                     "Wrong factor: the noise's standard deviation (schedule.sqrt_one_minus_alphas_cumprod), not the "
                     "signal's √ᾱ_t."),
        KnownMistake("divided by the noise level", lambda e, g, t, s, w: e - w * g / _noise_std(t).clamp(min=1e-12),
                     "Multiply the gradient by the noise standard deviation; dividing by it makes the push explode at small t."),
        KnownMistake("one t for the whole batch", lambda e, g, t, s, w: e - w * _noise_std(t[:1]) * g,
                     "Each image has its own step: index the schedule with the whole tensor t, not t[0]."),
        KnownMistake("the scale squared", lambda e, g, t, s, w: e - w**2 * _noise_std(t) * g,
                     "The scale s enters once, not squared: s = 3 must push three times as hard as s = 1."),
        KnownMistake("the gradient replacing ε", lambda e, g, t, s, w: -w * _noise_std(t) * g,
                     "Keep ε: guidance nudges the model's prediction, it does not replace it."),
    ),
    errors=(
        KnownError("the (B,) noise levels not reshaped", r"size of tensor a \(\d+\) must match the size of tensor b \(\d+\)",
                   "`schedule.sqrt_one_minus_alphas_cumprod[t]` has shape (B,), one value per image; reshape it to "
                   "(B, 1, 1, 1) (`.view(-1, 1, 1, 1)`) so that it broadcasts over each image's pixels."),
    ),
    checkpoints=(("s = 0", "With s = 0 (no guidance) ε must come back unchanged."),),
    generic_hint="Start from the relation between ε and the score, ε ≈ −√(1 − ᾱ_t) ∇ log p(x_t): guidance adds "
                 "s ∇ log p_φ(y | x_t, t) to the score; turn that back into ε. The nudge must be small at t = 0, where "
                 "little noise is left, and largest at t = 999.",
))


def _merge_cases():
    g = torch.Generator().manual_seed(11)
    generated = torch.randn(4, 1, 28, 28, generator=g)
    known = torch.randn(4, 1, 28, 28, generator=g)
    shared = inpainting.half_mask("bottom")
    per_image = (torch.rand(4, 1, 28, 28, generator=g) > 0.5).float()
    return [Case((generated, known, shared), label="one mask (1, 1, 28, 28) for the batch"),
            Case((generated, known, per_image), label="a different mask per image")]


_MASK = "mask = 1 marks the known pixels (taken from x_known_t), mask = 0 the ones the sampler fills in (from x_generated)."


def _known_pixels_exact(merged, x_generated, x_known_t, mask):
    """The known pixels must be x_known_t's bit for bit: the cell that inpaints checks them with torch.equal."""
    ones = torch.broadcast_to(mask, merged.shape) == 1
    if not torch.equal(merged[ones], torch.broadcast_to(x_known_t, merged.shape)[ones]):
        return ("your known pixels (mask = 1) are close to x_known_t but not exactly equal.",
                "Where mask = 1 the result must be x_known_t bit for bit (the cell that inpaints compares them exactly): "
                "take each pixel from one of the two images, with products by the 0/1 mask or torch.where, instead of "
                "arithmetic that mixes them and rounds.")
    return None

register(Exercise(
    "nb07.inpaint_merge", "07_conditioning_and_guidance", "inpaint_merge", "inpainting: keeping the known pixels at every step",
    "easy", inpainting.inpaint_merge,
    cases=_merge_cases,
    mistakes=(
        KnownMistake("the two images swapped", lambda x, k, m: m * x + (1 - m) * k,
                     "Swapped: " + _MASK),
        KnownMistake("the generated pixels left out", lambda x, k, m: m * k,
                     "Where mask = 0 your result is 0; those pixels must come from x_generated."),
        KnownMistake("the known pixels added instead of replacing", lambda x, k, m: x + m * k,
                     "Replace the known pixels instead of adding them on top of the generated ones."),
        KnownMistake("the known image not masked", lambda x, k, m: k + (1 - m) * x,
                     "The known image must be masked too: where mask = 0 its pixels must not leak into the result."),
        KnownMistake("the known pixels left out", lambda x, k, m: (1 - m) * x,
                     "Where mask = 1 your result is 0; those pixels must come from x_known_t."),
        KnownMistake("a mean of the two images", lambda x, k, m: (x + k) / 2,
                     "Do not average the two images: each pixel comes from exactly one of them. " + _MASK),
    ),
    errors=(
        KnownError("torch.where with a float mask", r"where expected condition to be a boolean tensor",
                   "mask is a float tensor of 0.0 and 1.0, and torch.where wants a boolean condition: compare it "
                   "(`mask > 0.5`) or convert it (`mask.bool()`)."),
        KnownError("~ on a float mask", r"operator.invert|bitwise_not",
                   "mask is a float tensor of 0.0 and 1.0, so `~mask` is not defined for it: its opposite is `1 - mask`."),
    ),
    generic_hint=_MASK,
    validate=_known_pixels_exact,
))
