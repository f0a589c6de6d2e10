"""Checks for notebook 8, measuring what we made: Gaussian statistics and the Fréchet distance."""

from __future__ import annotations

import torch

from .. import metrics
from .registry import Case, Exercise, KnownError, KnownMistake, register

_F64 = torch.float64


def _relu_features(g: torch.Generator, n: int, d: int = 16, dead: int = 8) -> torch.Tensor:
    """float32 features like the classifier's: correlated ReLU outputs, ``dead`` of the d always exactly 0."""
    f = torch.relu(torch.randn(n, d, generator=g) @ torch.randn(d, d, generator=g) * 0.5 + 0.3)
    f[:, torch.randperm(d, generator=g)[:dead]] = 0
    return f.float()


def _stats_cases():
    g = torch.Generator().manual_seed(8)
    mix = torch.randn(3, 3, generator=g, dtype=_F64)
    small = torch.randn(6, 3, generator=g, dtype=_F64) @ mix + 2.0
    wide = torch.randn(40, 5, generator=g, dtype=_F64) * 3 - 1
    features32 = (torch.randn(30, 4, generator=g) * 2 + 1).float()
    far = (torch.randn(50, 3, generator=g) * 0.1 + 100).float()
    return [Case((small,), label="N = 6 features of size 3"), Case((wide,), label="N = 40 features of size 5"),
            Case((features32,), label="float32 features (as the classifier gives them)"),
            Case((_relu_features(g, 60),), label="float32 ReLU features, 8 of 16 always 0"),
            Case((far,), label="float32 features far from 0 (mean 100, spread 0.1)")]


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
        # Last, as it matches loosely: the float32 rounding is all that differs.
        KnownMistake("computed in float32, converted to float64 at the end",
                     lambda f: tuple(v.double() for v in (f.mean(0), (f - f.mean(0)).T @ (f - f.mean(0)) / (f.shape[0] - 1))),
                     "Your statistics carry float32's rounding (about 7 digits): convert the features to float64 "
                     "*before* computing, not the results after. Subtracting the mean from large features loses "
                     "digits, and the square roots of the next exercise magnify the loss."),
    ),
    dtype_hint="The text asks for float64: convert the features with `.double()` first (the next step takes matrix "
               "square roots, which float32 makes inaccurate).",
    # float64 arithmetic agrees to about 1e-12 whatever the spelling; float32's rounding (1e-7) must not pass.
    atol=1e-12,
    rtol=1e-8,
))


def _fd_cases():
    g = torch.Generator().manual_seed(7)
    a, b = torch.randn(5, 5, generator=g, dtype=_F64), torch.randn(5, 5, generator=g, dtype=_F64)
    s1, s2 = a @ a.T + 0.1 * torch.eye(5, dtype=_F64), b @ b.T + 0.1 * torch.eye(5, dtype=_F64)
    m1, m2 = torch.randn(5, generator=g, dtype=_F64), torch.randn(5, generator=g, dtype=_F64)
    eye = torch.eye(5, dtype=_F64)
    singular_a, singular_b = metrics.gaussian_stats(_relu_features(g, 60)), metrics.gaussian_stats(_relu_features(g, 60))
    few_a, few_b = metrics.gaussian_stats(_relu_features(g, 6, dead=0)), metrics.gaussian_stats(_relu_features(g, 6, dead=0))
    return [Case((m1, s1, m2, s2), label="general covariances"), Case((m1, eye, m1, 4 * eye), label="same mean, scaled identity"),
            Case((m1, s1, m1, s1), label="identical Gaussians"),
            Case((*singular_a, *singular_b), label="singular covariances: 8 of 16 features always 0"),
            Case((*few_a, *few_b), label="rank-deficient covariances: N = 6 samples of 16 features"),
            Case((*few_a, *few_a), label="the same rank-deficient Gaussian twice")]


_root = metrics._sqrtm_psd


def _fd(m1, c1, m2, c2, mean=True, cross=None, weight=2.0, sign=-1.0, root=_root):
    mean_term = (m1 - m2).pow(2).sum() if mean else 0.0
    if cross is None:
        r1 = root(c1)
        cross = root(r1 @ c2 @ r1)
    d2 = float(mean_term + torch.trace(c1 + c2 + sign * weight * cross))
    return max(d2, 0.0)  # (NaN stays NaN) with or without the final clamp, a mistake is the same mistake


def _root_unclamped(matrix):  # the root of every eigenvalue, also of the tiny negative ones rounding makes
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.sqrt()) @ vectors.T


def _not_negative(d2, *_):
    if d2 < 0:
        return ("your distance is negative.",
                "A squared distance is never negative, but rounding can make d² come out a tiny bit below 0 when the "
                "two Gaussians are (almost) the same: return 0 then.")
    return None


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
        KnownMistake("the root of tiny negative eigenvalues (no clamp)",
                     lambda m1, c1, m2, c2: max(_fd(m1, c1, m2, c2, root=_root_unclamped), 0.0),
                     "A singular covariance (a feature that is always 0, or fewer samples than features) has eigenvalues "
                     "0, which rounding makes about −1e−16, and their square root is NaN: set negative eigenvalues to 0 "
                     "before taking the root."),
        KnownMistake("Σ1^½ Σ2 Σ1^½ without its root", lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=_root(c1) @ c2 @ _root(c1)),
                     "The cross term needs the matrix square root of Σ1^½ Σ2 Σ1^½ as well."),
    ),
    errors=(
        KnownError("eigh failing on a matrix with NaN (a root of negative numbers inside)", r"linalg.eigh.*failed to converge",
                   "torch.linalg.eigh failed: the matrix you gave it probably holds NaN, made by a square root of "
                   "negative numbers. Either the eigenvalues of a singular covariance (a feature that is always 0, or "
                   "fewer samples than features), which rounding makes about −1e−16: set negative eigenvalues to 0 "
                   "before taking the root; or an element-wise `.sqrt()` of a matrix with negative entries. "
                   + _MATRIX_ROOT),
    ),
    type_hint="Return a Python float (`float(...)` on the one-element tensor): FID is reported and compared as a number.",
    validate=_not_negative,
    atol=1e-6,
    rtol=1e-5,
))
