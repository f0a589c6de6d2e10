"""Notebook 7's checks (guided_eps, classifier_guided_eps, inpaint_merge): every wrong answer in the table fails with a
hint that names it and never gives the formula; right answers in several styles pass; the cells below run."""

import torch

from course_utils import guidance, inpainting, schedules
from course_utils.checks import EXERCISES

_S = schedules.make_schedule("linear", 1000)


def _later_guided(guided_eps):  # cell 14
    g = torch.Generator().manual_seed(1)
    c, u = torch.randn(4, 1, 28, 28, generator=g), torch.randn(4, 1, 28, 28, generator=g)
    print(f"largest difference between the two below 1e-5: {bool((guided_eps(c, u, 3.0) - guidance.guided_eps(c, u, 3.0)).abs().max() < 1e-5)}")


def _later_classifier(classifier_guided_eps):  # cell 47: ClassifierGuidance calls formula(eps, grad, t, schedule, s)
    g = torch.Generator().manual_seed(5)
    eps, grad = torch.randn(4, 1, 28, 28, generator=g), torch.randn(4, 1, 28, 28, generator=g)
    for s in (0.0, 1.0, 3.0, 10.0):
        for t in (torch.full((4,), 999), torch.tensor([0, 1, 500, 999])):
            out = classifier_guided_eps(eps, grad, t, _S, s)
            assert out.shape == eps.shape and torch.isfinite(out).all()
        print(f"s = {s}: mean |ε̂ − ε| = {(out - eps).abs().mean():.4f}")


def _later_merge(inpaint_merge):  # cell 55: inpaint(..., merge=inpaint_merge) with one (1, 1, 28, 28) mask
    g = torch.Generator().manual_seed(7)
    known, generated = torch.randn(4, 1, 28, 28, generator=g), torch.randn(4, 1, 28, 28, generator=g)
    mask = inpainting.half_mask("bottom")
    merged = inpaint_merge(generated, known, mask)
    print("known half unchanged:", torch.equal(merged * mask, known * mask))


LATER = {"nb07.guided_eps": _later_guided, "nb07.classifier_guided_eps": _later_classifier,
         "nb07.inpaint_merge": _later_merge}


def _std(s, t):
    return s.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1)


WRONG = {
    "nb07.guided_eps": [
        (lambda cond, uncond, w: cond + w * (cond - uncond), "the other convention"),
        (lambda cond, uncond, w: uncond + w * (uncond - cond), "pushes away from the label"),
        (lambda cond, uncond, w: cond + w * (uncond - cond), "swapped roles"),
        (lambda cond, uncond, w: w * cond, "Start from the unconditional prediction"),
        (lambda cond, uncond, w: cond, "not used"),
        (lambda cond, uncond, w: w * (cond - uncond), "add it to the prediction you start from"),
        (lambda cond, uncond, w: uncond + w * cond, "*difference*"),
        (lambda cond, uncond, w: (1 + w) * cond - w * uncond, "the other convention"),
        (lambda cond, uncond, w: uncond.add_(w * (cond - uncond)), "in place"),
    ],
    "nb07.classifier_guided_eps": [
        (lambda e, g, t, s, w: e + w * _std(s, t) * g, "subtract the gradient term"),
        (lambda e, g, t, s, w: e - w * g, "Scale the gradient by the noise standard deviation"),
        (lambda e, g, t, s, w: e - w * (1 - s.alphas_cumprod[t]).view(-1, 1, 1, 1) * g, "square root of the noise variance"),
        (lambda e, g, t, s, w: e - w * s.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1) * g, "not the signal's √ᾱ_t"),
        (lambda e, g, t, s, w: e - w * s.sqrt_one_minus_alphas_cumprod[t] * g, "reshape it to (B, 1, 1, 1)"),  # missing reshape
        (lambda e, g, t, s, w: e - w * g / _std(s, t), "dividing by it"),
        (lambda e, g, t, s, w: e - w * _std(s, t[0]) * g, "not t[0]"),
        (lambda e, g, t, s, w: e - w**2 * _std(s, t) * g, "not squared"),
        (lambda e, g, t, s, w: -w * _std(s, t) * g, "Keep ε"),
    ],
    "nb07.inpaint_merge": [
        (lambda x, k, m: m * x + (1 - m) * k, "Swapped"),
        (lambda x, k, m: m * k, "must come from x_generated"),
        (lambda x, k, m: x + m * k, "instead of adding"),
        (lambda x, k, m: k + (1 - m) * x, "The known image must be masked too"),  # unmasked known part
        (lambda x, k, m: torch.where(m, k, x), "`mask > 0.5`"),  # a float mask in torch.where
        (lambda x, k, m: m * k + ~m * x, "`1 - mask`"),
        (lambda x, k, m: (1 - m) * x, "must come from x_known_t"),
        (lambda x, k, m: (x + k) / 2, "Do not average"),
        (lambda x, k, m: x, "the argument `x` itself"),
    ],
}

# Right on ordinary inputs, wrong on an edge case. A third element says the cells below break with it.
NEARLY_RIGHT = {
    "nb07.inpaint_merge": [  # the right values to rounding, but the known pixels are no longer exactly the known image
        (lambda x, k, m: x + m * (k - x), "bit for bit", "the cells below break"),
    ],
}

CORRECT = {
    "nb07.guided_eps": [lambda cond, uncond, w: uncond + w * (cond - uncond), lambda cond, uncond, w: w * cond + (1 - w) * uncond],
    "nb07.classifier_guided_eps": [lambda e, g, t, s, w: e - w * _std(s, t) * g,
                                   lambda e, g, t, s, w: e - w * (1 - s.alphas_cumprod[t]).sqrt()[:, None, None, None] * g],
    "nb07.inpaint_merge": [lambda x, k, m: m * k + (1 - m) * x, lambda x, k, m: torch.where(m.bool(), k, x),
                           lambda x, k, m: torch.lerp(x, k, m)],
}

FRAGMENTS = {
    "nb07.guided_eps": ["ε(x,∅) + w·(ε(x,y) − ε(x,∅))", "ε(x,∅) + w(", "eps_uncond + scale * (eps_cond - eps_uncond)",
                        "u + w(c - u)", "ε(x,y) − ε(x,∅)", "eps_cond - eps_uncond"],
    "nb07.classifier_guided_eps": ["ε − s √(1−ᾱ_t)", "ε − s·√(1 − ᾱ_t)·∇", "eps - scale * noise_std", "eps − scale · factor",
                                   "eps - scale * sqrt(1 - abar_t)", "eps - s * sqrt(1 - abar"],
    "nb07.inpaint_merge": ["mask · x_known_t + (1 − mask) · x_generated", "mask * x_known_t", "mask·x_known_t",
                           "(1 − mask) · x_generated", "(1 - mask) * x_generated", "m·k + (1 − m)·x"],
}


def test_the_exercises_belong_to_notebook_7_and_use_the_library_references():
    assert EXERCISES["nb07.classifier_guided_eps"].reference is guidance.classifier_guided_eps
    assert EXERCISES["nb07.guided_eps"].reference is guidance.guided_eps
    assert EXERCISES["nb07.inpaint_merge"].notebook == "07_conditioning_and_guidance"


def test_guidance_with_scale_one_is_the_conditional_prediction():
    c, u = torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    assert torch.allclose(guidance.guided_eps(c, u, 1.0), c, atol=1e-6) and torch.equal(guidance.guided_eps(c, u, 0.0), u)
