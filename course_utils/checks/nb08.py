"""Checks for notebook 8, measuring what we made: Gaussian statistics and the Fréchet distance."""

from __future__ import annotations

import torch

from .. import metrics
from .core import Case, Exercise, KnownMistake, register, run_check

register(Exercise("nb08.gaussian_stats", "08_measuring_what_we_made", "gaussian_stats",
                  "fitting a Gaussian to features: mean and covariance", "easy", metrics.gaussian_stats))


def check_gaussian_stats(gaussian_stats):
    """Check ``gaussian_stats(features) -> (mu (d,), cov (d, d))`` on float64 features (N, d)."""
    g = torch.Generator().manual_seed(8)
    mix = torch.randn(3, 3, generator=g, dtype=torch.float64)
    small = torch.randn(6, 3, generator=g, dtype=torch.float64) @ mix + 2.0
    wide = torch.randn(40, 5, generator=g, dtype=torch.float64) * 3 - 1

    def centered(f):
        return f - f.mean(0)

    return run_check(
        "nb08.gaussian_stats", gaussian_stats,
        [Case((small,), label="N = 6 features of size 3"), Case((wide,), label="N = 40 features of size 5")],
        mistakes=(
            KnownMistake(lambda f: (f.mean(0), centered(f).T @ centered(f) / f.shape[0]),
                         "Divide by N − 1, not N (the unbiased estimate, as torch.cov and numpy.cov do)."),
            KnownMistake(lambda f: (f.mean(0), f.T @ f / (f.shape[0] - 1)),
                         "Subtract the mean from the features before multiplying them."),
        ),
        generic_hint="mu = features.mean(0); centre the features; cov = centred.T @ centred / (N − 1).",
    )


register(Exercise("nb08.frechet_distance", "08_measuring_what_we_made", "frechet_distance",
                  "the Fréchet distance between two Gaussians", "hard", metrics.frechet_distance))


def check_frechet_distance(frechet_distance):
    """Check ``frechet_distance(mu1, cov1, mu2, cov2) -> float``."""
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
