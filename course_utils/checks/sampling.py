"""Checks for notebooks 4-8: the training loss, one DDPM step, one DDIM step, guidance, the Fréchet distance."""

from __future__ import annotations

import torch

from .. import metrics, samplers, training
from ..model import TinyUNet, UNetConfig
from ..schedules import make_schedule
from .core import Case, Exercise, KnownMistake, register, run_check

_g = torch.Generator().manual_seed(4321)
_schedule = make_schedule("linear", 1000)
_x0 = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_z = torch.randn(4, 1, 28, 28, generator=_g)
_t = torch.tensor([3, 100, 500, 999])


def _tiny_model() -> TinyUNet:
    torch.manual_seed(0)
    cfg = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)
    return TinyUNet(cfg).eval().requires_grad_(False)


def _col(values: torch.Tensor, t) -> torch.Tensor:
    return values[t].view(-1, 1, 1, 1)


# ---------------------------------------------------------------- notebook 4

register(Exercise("nb04.eps_prediction_loss", "04_training_a_tiny_ddpm", "eps_prediction_loss",
                  "the eps-prediction objective (Algorithm 1)", "medium", training.eps_prediction_loss))


def check_eps_prediction_loss(eps_prediction_loss):
    """Check ``eps_prediction_loss(model, x0, t, noise, schedule) -> scalar loss``."""
    model = _tiny_model()
    s = _schedule
    x_t = lambda x0, t, n: _col(s.sqrt_alphas_cumprod, t) * x0 + _col(s.sqrt_one_minus_alphas_cumprod, t) * n  # noqa: E731
    return run_check(
        "nb04.eps_prediction_loss", eps_prediction_loss,
        [Case((model, _x0, _t, _eps, s), label="t = 3, 100, 500, 999"), Case((model, _x0[:1], _t[2:3], _eps[:1], s), label="one image")],
        mistakes=(
            KnownMistake(lambda m, x0, t, n, s_: ((m(x_t(x0, t, n), t) - x0) ** 2).mean(),
                         "The network predicts the noise ε, so compare its output with `noise`, not with x0."),
            KnownMistake(lambda m, x0, t, n, s_: ((m(x0, t) - n) ** 2).mean(),
                         "Feed the network the *noisy* image x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε, not the clean one."),
            KnownMistake(lambda m, x0, t, n, s_: ((m(x_t(x0, t, n), t) - n) ** 2).sum(),
                         "Average the squared error (`.mean()` or F.mse_loss), don't sum it."),
            KnownMistake(lambda m, x0, t, n, s_: ((m(_col(s.alphas_cumprod, t) * x0 + _col(1 - s.alphas_cumprod, t) * n, t) - n) ** 2).mean(),
                         "x_t needs square roots: √ᾱ_t and √(1-ᾱ_t)."),
        ),
        generic_hint="Make x_t with q_sample(x0, t, schedule, noise), run model(x_t, t), and take the MSE against noise.",
    )


# ---------------------------------------------------------------- notebook 5

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


# ---------------------------------------------------------------- notebook 6

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


# ---------------------------------------------------------------- notebook 7

register(Exercise("nb07.guided_eps", "07_conditioning_and_guidance", "guided_eps",
                  "classifier-free guidance, w = 1 meaning no guidance", "easy", samplers.guided_eps))


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


# ---------------------------------------------------------------- notebook 8

register(Exercise("nb08.frechet_distance", "08_measuring_what_we_made", "frechet_distance",
                  "the Fréchet distance between two Gaussians", "hard", metrics.frechet_distance))


def check_frechet_distance(frechet_distance):
    """Check ``frechet_distance(mu1, sigma1, mu2, sigma2) -> float``."""
    g = torch.Generator().manual_seed(7)
    a, b = torch.randn(5, 5, generator=g, dtype=torch.float64), torch.randn(5, 5, generator=g, dtype=torch.float64)
    s1, s2 = a @ a.T + 0.1 * torch.eye(5, dtype=torch.float64), b @ b.T + 0.1 * torch.eye(5, dtype=torch.float64)
    m1, m2 = torch.randn(5, generator=g, dtype=torch.float64), torch.randn(5, generator=g, dtype=torch.float64)
    eye = torch.eye(5, dtype=torch.float64)
    full = metrics.frechet_distance
    return run_check(
        "nb08.frechet_distance", frechet_distance,
        [Case((m1, s1, m2, s2), label="general covariances"), Case((m1, eye, m1, 4 * eye), label="same mean, scaled identity"),
         Case((m1, s1, m1, s1), label="identical Gaussians")],
        mistakes=(
            KnownMistake(lambda a1, b1, a2, b2: full(a1, b1, a1, b2), "Include the mean term ||μ1 − μ2||²."),
            KnownMistake(lambda a1, b1, a2, b2: float((a1 - a2).pow(2).sum()), "Include the covariance term tr(Σ1 + Σ2 − 2(Σ1^½ Σ2 Σ1^½)^½)."),
            KnownMistake(lambda a1, b1, a2, b2: full(a1, b1, a2, b2) ** 0.5, "Return the squared distance d², as FID does (no final square root)."),
            KnownMistake(lambda a1, b1, a2, b2: float((a1 - a2).pow(2).sum() + torch.trace(b1 + b2 - 2 * (b1 * b2).clamp(min=0).sqrt())),
                         "The square root is a *matrix* square root (e.g. via torch.linalg.eigh), not an element-wise one."),
        ),
        atol=1e-6,
        rtol=1e-5,
    )
