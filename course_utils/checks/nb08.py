"""Checks for notebook 8, measuring what we made: Gaussian statistics and the Fréchet distance."""

from __future__ import annotations

import torch

from .. import metrics
from .registry import Case, Exercise, KnownError, KnownMistake, register

_F64 = torch.float64


def _stats_cases():
    g = torch.Generator().manual_seed(8)
    mix = torch.randn(3, 3, generator=g, dtype=_F64)
    small = torch.randn(6, 3, generator=g, dtype=_F64) @ mix + 2.0
    wide = torch.randn(40, 5, generator=g, dtype=_F64) * 3 - 1
    features32 = (torch.randn(30, 4, generator=g) * 2 + 1).float()
    return [Case((small,), label="N = 6 features of size 3"), Case((wide,), label="N = 40 features of size 5"),
            Case((features32,), label="float32 features (as the classifier gives them)")]


def _centred(f):
    return f.double() - f.double().mean(0)


register(Exercise(
    "nb08.gaussian_stats", "08_measuring_what_we_made", "gaussian_stats", "fitting a Gaussian to features: mean and covariance",
    "easy", metrics.gaussian_stats,
    cases=_stats_cases,
    mistakes=(
        KnownMistake("divided by N instead of N − 1", lambda f: (f.double().mean(0), _centred(f).T @ _centred(f) / f.shape[0]),
                     "Divide by N − 1, not N (the unbiased estimate, as torch.cov and numpy.cov do)."),
        KnownMistake("the features not centred", lambda f: (f.double().mean(0), f.double().T @ f.double() / (f.shape[0] - 1)),
                     "Subtract the mean from the features before multiplying them."),
        KnownMistake("torch.cov on the features without transposing", lambda f: (f.double().mean(0), torch.cov(f.double())),
                     "torch.cov treats each *row* as one variable: give it the features transposed (shape (d, N)), "
                     "or your covariance is (N, N) instead of (d, d)."),
        KnownMistake("centred @ centred.T: an (N, N) matrix", lambda f: (f.double().mean(0), _centred(f) @ _centred(f).T / (f.shape[0] - 1)),
                     "Your covariance is (N, N), a matrix over the samples; it must be (d, d), over the features: "
                     "check which side the transpose goes on."),
        KnownMistake("the mean over the features (dim 1)", lambda f: (f.double().mean(1), torch.cov(f.double().T)),
                     "The mean is over the N samples (dimension 0), one value per feature."),
        KnownMistake("only the variances (the diagonal)", lambda f: (f.double().mean(0), f.double().var(0)),
                     "The covariance is the full (d, d) matrix, not only the variance of each feature."),
        KnownMistake("the two results in the wrong order", lambda f: (torch.cov(f.double().T), f.double().mean(0)),
                     "Return the mean first, then the covariance."),
        KnownMistake("the standard deviations for the covariance", lambda f: (f.double().mean(0), torch.cov(f.double().T).sqrt()),
                     "Σ holds the covariances themselves (variances on the diagonal), no square roots."),
    ),
    dtype_hint="The text asks for float64: convert the features with `.double()` first (the next step takes matrix "
               "square roots, which float32 makes inaccurate).",
))


def _fd_cases():
    g = torch.Generator().manual_seed(7)
    a, b = torch.randn(5, 5, generator=g, dtype=_F64), torch.randn(5, 5, generator=g, dtype=_F64)
    s1, s2 = a @ a.T + 0.1 * torch.eye(5, dtype=_F64), b @ b.T + 0.1 * torch.eye(5, dtype=_F64)
    m1, m2 = torch.randn(5, generator=g, dtype=_F64), torch.randn(5, generator=g, dtype=_F64)
    eye = torch.eye(5, dtype=_F64)
    return [Case((m1, s1, m2, s2), label="general covariances"), Case((m1, eye, m1, 4 * eye), label="same mean, scaled identity"),
            Case((m1, s1, m1, s1), label="identical Gaussians")]


_root = metrics._sqrtm_psd


def _fd(m1, c1, m2, c2, mean=True, cross=None, weight=2.0, sign=-1.0):
    mean_term = (m1 - m2).pow(2).sum() if mean else 0.0
    if cross is None:
        r1 = _root(c1)
        cross = _root(r1 @ c2 @ r1)
    return float(mean_term + torch.trace(c1 + c2 + sign * weight * cross))


_MATRIX_ROOT = ("The square roots are *matrix* square roots (e.g. via torch.linalg.eigh), not element-wise ones "
                "(`.sqrt()` or `** 0.5` on a matrix takes the root of each entry).")

register(Exercise(
    "nb08.frechet_distance", "08_measuring_what_we_made", "frechet_distance", "the Fréchet distance between two Gaussians",
    "hard", metrics.frechet_distance,
    cases=_fd_cases,
    mistakes=(
        KnownMistake("the mean term left out", lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, mean=False),
                     "Include the mean term, the squared distance between the two means."),
        KnownMistake("only the mean term", lambda m1, c1, m2, c2: float((m1 - m2).pow(2).sum()),
                     "Include the covariance term: two Gaussians with the same mean but different spreads are not at distance 0."),
        KnownMistake("the distance, not its square", lambda m1, c1, m2, c2: metrics.frechet_distance(m1, c1, m2, c2) ** 0.5,
                     "Return the squared distance d², as FID does (no final square root)."),
        KnownMistake("the mean term not squared", lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2) - float((m1 - m2).pow(2).sum())
                     + float((m1 - m2).norm()),
                     "The mean term is the *squared* length of μ1 − μ2."),
        KnownMistake("an element-wise root of the product (clamped)", lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=(c1 * c2).clamp(min=0).sqrt()),
                     _MATRIX_ROOT),
        KnownMistake("an element-wise root of the matrix product", lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=(c1 @ c2).sqrt()),
                     _MATRIX_ROOT),
        KnownMistake("element-wise roots inside and outside", lambda m1, c1, m2, c2: _fd(
                     m1, c1, m2, c2, cross=(c1.sqrt() @ c2 @ c1.sqrt()).sqrt()), _MATRIX_ROOT),
        KnownMistake("an element-wise root outside", lambda m1, c1, m2, c2: _fd(
                     m1, c1, m2, c2, cross=(_root(c1) @ c2 @ _root(c1)).sqrt()), _MATRIX_ROOT),
        KnownMistake("eigh on the non-symmetric Σ1 Σ2", lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=_root(c1 @ c2)),
                     "torch.linalg.eigh assumes a symmetric matrix and reads only one triangle of it; Σ1 Σ2 is not "
                     "symmetric, so its result is wrong. Take the root of the symmetric Σ1^½ Σ2 Σ1^½ instead."),
        KnownMistake("the cross term added (wrong sign)", lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, sign=1.0),
                     "Check the sign of the cross term: the distance between two identical Gaussians must be 0."),
        KnownMistake("the cross term without its factor", lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, weight=1.0),
                     "Check the weight of the cross term: the distance between two identical Gaussians must be 0."),
        KnownMistake("Σ1^½ Σ2 Σ1^½ without its root", lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=_root(c1) @ c2 @ _root(c1)),
                     "The cross term needs the matrix square root of Σ1^½ Σ2 Σ1^½ as well."),
    ),
    errors=(
        KnownError("eigh failing on a matrix with NaN (an element-wise root inside)", r"linalg.eigh.*failed to converge",
                   "torch.linalg.eigh failed: the matrix you gave it probably holds NaN, which an element-wise `.sqrt()` "
                   "of a matrix with negative entries makes. " + _MATRIX_ROOT),
    ),
    type_hint="Return a Python float (`float(...)` on the one-element tensor): FID is reported and compared as a number.",
    atol=1e-6,
    rtol=1e-5,
))
