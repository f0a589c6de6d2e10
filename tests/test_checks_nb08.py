"""Notebook 8's checks (gaussian_stats, frechet_distance): every wrong answer in the table fails with a hint that
names it and never gives the formula; right answers in several styles pass; the cells below run."""

import check_table
import numpy as np
import torch

from course_utils import metrics
from course_utils.checks import EXERCISES


def _classifier_like(seed: int, n: int, d: int = 16, dead: int = 8) -> torch.Tensor:
    """float32 features like the classifier's (cell 13 prints 65% exact zeros): correlated ReLU outputs, some
    features 0 for every digit."""
    g = torch.Generator().manual_seed(seed)
    f = torch.relu(torch.randn(n, d, generator=g) @ torch.randn(d, d, generator=g) * 0.5 + 0.3)
    f[:, torch.randperm(d, generator=torch.Generator().manual_seed(99))[:dead]] = 0  # the same dead features in both sets
    return f.float()


_features_a, _features_b = _classifier_like(1, 200), _classifier_like(2, 200)


def _later_stats(gaussian_stats):  # cell 21, with the course's frechet_distance
    mu, cov = gaussian_stats(_features_a)
    assert mu.dtype == cov.dtype == torch.float64
    print(f"digit-FID: {metrics.frechet_distance(mu, cov, *gaussian_stats(_features_b)):.2f}")


def _later_fd(frechet_distance):  # cells 21 and 26: feature_fid, printed; floors with fewer samples than features
    def feature_fid(a, b):
        return frechet_distance(*metrics.gaussian_stats(a), *metrics.gaussian_stats(b))

    print(f"digit-FID, 200 vs 200: {feature_fid(_features_a, _features_b):.2f}")
    floors = {n: feature_fid(_features_a[:n], _features_b[:n]) for n in (8, 12, 50, 200)}
    assert all(isinstance(v, float) for v in floors.values())
    for n, value in floors.items():
        print(f"N = {n:5d}: real-vs-real digit-FID {value:6.2f}")


LATER = {"nb08.gaussian_stats": _later_stats, "nb08.frechet_distance": _later_fd}


def _centred(f):
    return f.double() - f.double().mean(0)


def good_stats(features):
    f = features.double()
    return f.mean(0), _centred(f).T @ _centred(f) / (len(f) - 1)


def _root(m):
    values, vectors = torch.linalg.eigh(m)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def _fd(mu1, cov1, mu2, cov2, cross=None, sign=-2.0, root=_root, at_least_0=True):
    r = root(cov1)
    cross = root(r @ cov2 @ r) if cross is None else cross
    d2 = float((mu1 - mu2).pow(2).sum() + torch.trace(cov1 + cov2 + sign * cross))
    return max(d2, 0.0) if at_least_0 else d2


def _root_unclamped(m):
    values, vectors = torch.linalg.eigh(m)
    return (vectors * values.sqrt()) @ vectors.T


WRONG = {
    "nb08.gaussian_stats": [
        (lambda f: (f.mean(0), _centred(f).T @ _centred(f) / (len(f) - 1)), "float64"),  # float32 for float32: formerly passed
        (lambda f: (f.mean(0), torch.cov(f.T)), "float64"),
        (lambda f: (f.double().mean(0), _centred(f).T @ _centred(f) / len(f)), "N − 1, not N"),
        (lambda f: (f.double().mean(0), f.double().T @ f.double() / (len(f) - 1)), "Subtract the mean"),
        (lambda f: (f.double().mean(0), torch.cov(f.double())), "transposed"),
        (lambda f: (f.double().mean(0), _centred(f) @ _centred(f).T / (len(f) - 1)), "which side the transpose goes on"),
        (lambda f: (f.double().mean(1), torch.cov(f.double().T)), "over the N samples"),
        (lambda f: (f.double().mean(0), f.double().var(0)), "full (d, d) matrix"),
        (lambda f: good_stats(f)[::-1], "mean first"),
        (lambda f: f.double().mean(0), "expected 2 values"),
        (lambda f: tuple(v.numpy() for v in good_stats(f)), "expected a torch.Tensor"),
    ],
    "nb08.frechet_distance": [
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2) - float((m1 - m2).pow(2).sum()), "Include the mean term"),
        (lambda m1, c1, m2, c2: float((m1 - m2).pow(2).sum()), "Include the covariance term"),
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2) ** 0.5, "no final square root"),
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=(c1 * c2).clamp(min=0).sqrt()), "*matrix* square roots"),
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=(c1 @ c2).sqrt()), "*matrix* square roots"),  # element-wise, form 1
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=(_root(c1) @ c2 @ _root(c1)) ** 0.5), "*matrix* square roots"),  # form 2
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=_root(c1.sqrt() @ c2 @ c1.sqrt())), "*matrix* square roots"),
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, sign=2.0), "sign of the cross term"),  # the wrong trace sign
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, sign=-1.0), "weight of the cross term"),
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, cross=_root(c1 @ c2)), "not symmetric"),
        (lambda m1, c1, m2, c2: (torch.linalg.eigvals(c1 @ c2).sqrt().sum() * -2 + torch.trace(c1 + c2)
                                 + (m1 - m2).pow(2).sum()).item(), "complex"),  # a complex result
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2) - float((m1 - m2).pow(2).sum()) + float((m1 - m2).norm()), "*squared* length"),
    ],
}

CORRECT = {
    "nb08.gaussian_stats": [good_stats, lambda f: (f.double().mean(0), torch.cov(f.double().T)),
                            lambda f: tuple(torch.from_numpy(v) for v in (f.double().numpy().mean(0), np.cov(f.double().numpy().T)))],
    "nb08.frechet_distance": [
        lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2),
        lambda m1, c1, m2, c2: max(float(((m1 - m2).pow(2).sum() + torch.trace(c1 + c2)
                                          - 2 * torch.linalg.eigvals(c1 @ c2).sqrt().sum()).real), 0.0),  # eigvals of Σ1Σ2
    ],
}

# Right on ordinary inputs, wrong on an edge case. A third element says the cells below break with it.
NEARLY_RIGHT = {
    "nb08.gaussian_stats": [  # formerly passed: float32 arithmetic, float64 only at the end
        (lambda f: tuple(v.double() for v in (f.mean(0), (f - f.mean(0)).T @ (f - f.mean(0)) / (len(f) - 1))), "*before*"),
    ],
    "nb08.frechet_distance": [
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, root=_root_unclamped), "negative eigenvalues to 0",
         "the cells below break"),  # formerly passed: cell 21 printed "digit-FID ...: nan"
        (lambda m1, c1, m2, c2: torch.tensor(_fd(m1, c1, m2, c2), dtype=torch.float64), "Python float",
         "the cells below break"),  # formerly passed: a 0-d tensor where the cells below collect numbers
        (lambda m1, c1, m2, c2: _fd(m1, c1, m2, c2, at_least_0=False), "return 0 then"),
    ],
}

FRAGMENTS = {
    "nb08.gaussian_stats": ["(F − μ)ᵀ (F − μ) / (N − 1)", "centered.T @ centered / (N - 1)", "centred.T @ centred / (N − 1)",
                            "centered.T @ centered / (f.shape[0] - 1)"],
    "nb08.frechet_distance": ["tr(Σ1 + Σ2 − 2", "Σ₁ + Σ₂ − 2", "Σ1 + Σ2 - 2(", "‖μ1 − μ2‖² + tr", "|mu1 - mu2|^2 + tr",
                              "trace(cov1 + cov2 - 2", "cov1 + cov2 - 2"],
}


def test_the_exercises_belong_to_notebook_8_and_use_the_library_references():
    assert EXERCISES["nb08.gaussian_stats"].reference is metrics.gaussian_stats
    assert EXERCISES["nb08.frechet_distance"].reference is metrics.frechet_distance
    assert EXERCISES["nb08.gaussian_stats"].notebook == "08_measuring_what_we_made"


def test_the_gaussian_stats_reference_matches_torch_cov_in_float64():
    f = torch.randn(50, 4)
    mu, cov = metrics.gaussian_stats(f)
    assert mu.dtype == cov.dtype == torch.float64
    assert torch.allclose(mu, f.double().mean(0)) and torch.allclose(cov, torch.cov(f.double().T))


def test_the_complex_hint_does_not_recommend_item():
    out, _ = check_table.run_check("nb08.frechet_distance", lambda m1, c1, m2, c2: complex(_fd(m1, c1, m2, c2)))
    assert "complex" in out and "use `.item()`" not in out and "do not remove them" in out
