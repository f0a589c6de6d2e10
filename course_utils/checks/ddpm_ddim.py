"""Extra checks for notebooks 5 and 6: the posterior variance, DDIM's σ(η), and slerp between noises.

(The one-step checks of these notebooks, ``check_ddpm_step`` and ``check_ddim_step``, are in sampling.py.)
"""

from __future__ import annotations

import torch

from .. import samplers
from ..schedules import linear_betas, cosine_betas, schedule_from_betas
from .core import Case, Exercise, KnownMistake, register, run_check

_g = torch.Generator().manual_seed(2468)


def _abar(betas: torch.Tensor) -> torch.Tensor:
    return torch.cumprod(1 - betas, 0)


def _abar_prev(betas: torch.Tensor) -> torch.Tensor:
    a = _abar(betas)
    return torch.cat([torch.ones(1, dtype=a.dtype), a[:-1]])


# ---------------------------------------------------------------- notebook 5


def posterior_variance_reference(betas: torch.Tensor) -> torch.Tensor:
    """β̃_t = β_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t) for every t, with ᾱ_{-1} = 1: the schedule's own formula."""
    return schedule_from_betas("exercise", betas).posterior_variance.to(betas.dtype)


register(Exercise("nb05.posterior_variance", "05_sampling_with_ddpm", "posterior_variance",
                  "the variance σ_t² = β̃_t of the fresh noise in a DDPM step", "easy", posterior_variance_reference))


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


# ---------------------------------------------------------------- notebook 6

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


__all__ = ["check_posterior_variance", "check_ddim_sigma", "check_slerp", "posterior_variance_reference"]
