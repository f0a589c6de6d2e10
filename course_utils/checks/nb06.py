"""Checks for notebook 6, DDIM: sigma(eta), one DDIM step, slerp between noises."""

from __future__ import annotations

import torch

from .. import samplers
from ..schedules import linear_betas, make_schedule, schedule_from_betas
from .core import Case, Exercise, KnownMistake, register, run_check

_g = torch.Generator().manual_seed(2468)
_schedule = make_schedule("linear", 1000)
_x0 = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_z = torch.randn(4, 1, 28, 28, generator=_g)

register(Exercise("nb06.ddim_sigma", "06_ddim_fast_deterministic_sampling", "ddim_sigma",
                  "σ(η), DDIM's fresh-noise level (Eq. 16 of Song et al. 2021)", "medium", samplers.ddim_sigma))


def check_ddim_sigma(ddim_sigma):
    """Check ``ddim_sigma(abar_t, abar_prev, eta) -> σ`` for 0-d tensors abar_t, abar_prev."""
    s = schedule_from_betas("linear", linear_betas(1000))
    a = s.alphas_cumprod
    one = torch.tensor(1.0)

    def var(at, ap, eta):
        return eta**2 * (1 - ap) / (1 - at) * (1 - at / ap)

    return run_check(
        "nb06.ddim_sigma", ddim_sigma,
        [Case((a[600], a[400], 0.5), label="η = 0.5, t = 600 → 400"), Case((a[600], a[400], 1.0), label="η = 1"),
         Case((a[999], a[979], 0.3), label="η = 0.3, t = 999 → 979"), Case((a[600], a[400], 0.0), label="η = 0"),
         Case((a[20], one, 1.0), label="last step, ᾱ_prev = 1")],
        mistakes=(
            KnownMistake(lambda at, ap, eta: var(at, ap, eta), "That is σ²; return the standard deviation σ (take the square root)."),
            KnownMistake(lambda at, ap, eta: var(at, ap, 1.0).sqrt(), "Multiply by η: η = 0 must give σ = 0 (deterministic DDIM)."),
            KnownMistake(lambda at, ap, eta: eta * var(at, ap, 1.0), "Square root: σ = η·√((1−ᾱ_prev)/(1−ᾱ_t))·√(1−ᾱ_t/ᾱ_prev)."),
            KnownMistake(lambda at, ap, eta: eta * ((1 - at) / (1 - ap) * (1 - at / ap)).sqrt(),
                         "The first ratio is (1−ᾱ_prev)/(1−ᾱ_t): the noise left after the step over the noise before it."),
            KnownMistake(lambda at, ap, eta: eta * ((1 - ap) / (1 - at) * (1 - ap / at)).abs().sqrt(),
                         "The second factor is 1 − ᾱ_t/ᾱ_prev (ᾱ_t < ᾱ_prev, so it lies between 0 and 1)."),
        ),
        generic_hint="σ = η · √((1 − ᾱ_prev) / (1 − ᾱ_t)) · √(1 − ᾱ_t / ᾱ_prev); work with tensors (torch.sqrt or .sqrt()).",
    )


register(Exercise("nb06.ddim_step", "06_ddim_fast_deterministic_sampling", "ddim_step",
                  "one DDIM update and the meaning of η", "hard", samplers.ddim_step))


def check_ddim_step(ddim_step):
    """Check ``ddim_step(x_t, eps, abar_t, abar_prev, eta, z) -> x_prev``."""
    x_t = _x0 * 0.6 + _eps * 0.8
    a_t, a_prev = _schedule.alphas_cumprod[600], _schedule.alphas_cumprod[400]

    def x0_hat(x, e, a):
        return (x - (1 - a).sqrt() * e) / a.sqrt()

    return run_check(
        "nb06.ddim_step", ddim_step,
        [Case((x_t, _eps, a_t, a_prev, 0.0, _z), label="η = 0"), Case((x_t, _eps, a_t, a_prev, 1.0, _z), label="η = 1"),
         Case((x_t, _eps, a_t, torch.tensor(1.0), 0.0, _z), label="last step, abar_prev = 1")],
        mistakes=(
            KnownMistake(lambda x, e, a, ap, eta, z: ap.sqrt() * x0_hat(x, e, a) + (1 - ap).sqrt() * e,
                         "With η > 0 the direction term is √(1 - ᾱ_prev - σ²)·ε and you add σ·z."),
            KnownMistake(lambda x, e, a, ap, eta, z: ap * x0_hat(x, e, a) + (1 - ap) * e,
                         "Square roots: √ᾱ_prev in front of x̂₀ and √(1-ᾱ_prev) in front of ε."),
            KnownMistake(lambda x, e, a, ap, eta, z: ap.sqrt() * (x + (1 - a).sqrt() * e) / a.sqrt() + (1 - ap).sqrt() * e,
                         "Sign error in x̂₀ = (x_t − √(1-ᾱ_t) ε) / √ᾱ_t."),
        ),
        generic_hint="σ = η·√((1-ᾱ_prev)/(1-ᾱ_t))·√(1-ᾱ_t/ᾱ_prev); x_prev = √ᾱ_prev x̂₀ + √(1-ᾱ_prev-σ²) ε + σ z.",
    )


register(Exercise("nb06.slerp", "06_ddim_fast_deterministic_sampling", "slerp",
                  "spherical interpolation between two noises", "medium", samplers.slerp))


def check_slerp(slerp):
    """Check ``slerp(z0, z1, alpha) -> tensor like z0`` (angle per image of the batch)."""
    z0 = torch.randn(3, 1, 28, 28, generator=_g)
    z1 = torch.randn(3, 1, 28, 28, generator=_g)
    z1[1] = 0.6 * z0[1] + 0.8 * z1[1]  # a different angle for each image

    def lerp(a, b, w):
        return (1 - w) * a + w * b

    def whole_batch(a, b, w):  # one angle for the whole batch
        cos = (a * b).sum() / (a.norm() * b.norm())
        th = cos.clamp(-1, 1).acos()
        return (((1 - w) * th).sin() * a + (w * th).sin() * b) / th.sin()

    def per_image(a, b, w, undivided=False, no_acos=False):
        fa, fb = a.flatten(1), b.flatten(1)
        cos = (fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1))
        th = (cos if no_acos else cos.clamp(-1, 1).acos()).view(-1, 1, 1, 1)
        out = ((1 - w) * th).sin() * a + (w * th).sin() * b
        return out if undivided else out / th.sin()

    return run_check(
        "nb06.slerp", slerp,
        [Case((z0, z1, 0.3), label="α = 0.3"), Case((z0, z1, 0.5), label="α = 0.5"),
         Case((z0, z1, 0.0), label="α = 0 gives z0"), Case((z0, z1, 1.0), label="α = 1 gives z1")],
        mistakes=(
            KnownMistake(lerp, "That is the straight line (1−α) z0 + α z1; slerp follows the arc: weights sin((1−α)θ)/sin θ and sin(αθ)/sin θ."),
            KnownMistake(lambda a, b, w: per_image(a, b, w, undivided=True), "Divide by sin θ, so that α = 0 gives z0 and α = 1 gives z1 exactly."),
            KnownMistake(lambda a, b, w: per_image(a, b, w, no_acos=True),
                         "θ is the angle itself, θ = arccos(cos θ) (torch.acos), not the cosine."),
            KnownMistake(whole_batch, "Take the angle per image: flatten each image (x.flatten(1)) and sum over dim=1, not over the whole batch."),
        ),
        generic_hint="cos θ = <z0, z1> / (|z0| |z1|) per image (shape (B,)); reshape θ to (B, 1, 1, 1) before mixing.",
    )
