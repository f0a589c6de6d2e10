"""Notebook 5's checks (posterior_variance, ddpm_step): every wrong answer in the table fails with a hint that names
it and never gives the formula; right answers in several styles pass; the cells below run."""

import check_table
import torch

from course_utils import schedules
from course_utils.checks import EXERCISES

_S = schedules.make_schedule("linear", 1000)


def _later_posterior_variance(posterior_variance):  # cell 11
    beta_tilde = posterior_variance(_S.betas)
    assert (beta_tilde - _S.posterior_variance).abs().max() < 1e-6
    for t in [0, 1, 10, 100, 999]:
        print(f"t = {t:3d}: sqrt(beta~_t) = {beta_tilde[t].sqrt():.4f}")


def _later_ddpm_step(ddpm_step):  # cell 17: the sampling loop, t a Python int from 999 down to 0, zeros at t = 0
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 1, 28, 28, generator=g)
    for t in (999, 998, 500, 2, 1, 0):
        z = torch.randn(x.shape, generator=g) if t > 0 else torch.zeros_like(x)
        x = ddpm_step(x, t, 0.5 * x, _S, z)
    assert x.shape == (2, 1, 28, 28) and torch.isfinite(x).all()
    print(f"last step's result: mean {x.mean():.3f}, std {x.std():.3f}")


LATER = {"nb05.posterior_variance": _later_posterior_variance, "nb05.ddpm_step": _later_ddpm_step}


def _abar(b):
    return torch.cumprod(1 - b, 0)


def _abar_prev(b):
    return torch.cat([torch.ones(1, dtype=b.dtype), _abar(b)[:-1]])


def good_posterior_variance(b):
    return b * (1 - _abar_prev(b)) / (1 - _abar(b))


def _mean(x, t, e, s, sign=-1):
    return (x + sign * s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t] * e) / s.alphas[t].sqrt()


WRONG = {
    "nb05.posterior_variance": [
        (lambda b: b.clone(), "one step *earlier*"),
        (lambda b: b * (1 - _abar(b)) / (1 - _abar(b)), "one step *earlier*"),
        (lambda b: b * (1 - torch.cat([torch.zeros(1, dtype=b.dtype), _abar(b)[:-1]])) / (1 - _abar(b)), "ᾱ_{−1} = 1"),
        (lambda b: good_posterior_variance(b).sqrt(), "is a variance"),
        (lambda b: (1 - _abar_prev(b)) / (1 - _abar(b)), "it multiplies this step's β_t"),
        (lambda b: b * (1 - _abar_prev(b)) / (1 - (1 - b)), "not this one step's α_t"),
        (lambda b: b * (1 - _abar(b)) / (1 - _abar_prev(b)), "upside down"),
        (lambda b: good_posterior_variance(b.float()), "Keep the betas' dtype"),
        (lambda b: None, "forget the `return`"),
    ],
    "nb05.ddpm_step": [
        (lambda x, t, e, s, z: _mean(x, t, e, s), "Add the fresh noise z"),
        (lambda x, t, e, s, z: _mean(x, t, e, s) + s.betas[t].sqrt() * z, "posterior variance"),
        (lambda x, t, e, s, z: x - s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t] * e + s.posterior_variance[t].sqrt() * z,
         "scaled back up"),
        (lambda x, t, e, s, z: (x - s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t] * e) / s.sqrt_alphas_cumprod[t]
         + s.posterior_variance[t].sqrt() * z, "not by the cumulative ᾱ_t"),
        (lambda x, t, e, s, z: _mean(x, t, e, s) + s.posterior_variance[t] * z, "square root of the variance"),
        (lambda x, t, e, s, z: _mean(x, t, e, s, sign=+1) + s.posterior_variance[t].sqrt() * z, "Sign error"),  # flipped ε sign
        (lambda x, t, e, s, z: (x - s.betas[t] / (1 - s.alphas_cumprod[t]) * e) / s.alphas[t].sqrt()
         + s.posterior_variance[t].sqrt() * z, "a square root"),
        (lambda x, t, e, s, z: (x - s.betas[t] / (1 - s.alphas[t]).sqrt() * e) / s.alphas[t].sqrt()
         + s.posterior_variance[t].sqrt() * z, "cumulative ᾱ_t, not α_t"),
        (lambda x, t, e, s, z: (x - s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t] * e) / s.alphas[t]
         + s.posterior_variance[t].sqrt() * z, "square root of α_t"),
        (lambda x, t, e, s, z: _mean(x, t, e, s) + s.posterior_variance[t].sqrt() * torch.randn_like(x),
         "use the noise it is given"),
        (lambda x, t, e, s, z: (_mean(x, t, e, s) + s.posterior_variance[t].sqrt() * z).clamp(-1, 1), "Do not clip"),
    ],
}

CORRECT = {
    "nb05.posterior_variance": [good_posterior_variance, lambda b: schedules.posterior_variance(b.double()).to(b.dtype)],
    "nb05.ddpm_step": [
        lambda x, t, e, s, z: _mean(x, t, e, s) + s.posterior_variance[t].sqrt() * z,
        lambda x, t, e, s, z: (1 / s.alphas[t].sqrt()) * (x - (1 - s.alphas[t]) / (1 - s.alphas_cumprod[t]).sqrt() * e)
        + torch.sqrt(s.posterior_variance[t]) * z,
    ],
}

FRAGMENTS = {
    "nb05.posterior_variance": ["β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)", "(1 − ᾱ_{t−1}) / (1 − ᾱ_t)", "(1 - abar_prev) / (1 - abar)",
                                "betas * (1 - alphas_cumprod_prev) / (1 - alphas_cumprod)", "beta_t (1 - abar_{t-1})"],
    "nb05.ddpm_step": ["(x_t − β_t/√(1−ᾱ_t) ε) / √α_t", "β_t / √(1−ᾱ_t) ε", "β_t/√(1 − ᾱ_t)", "x_t - beta_t / sqrt(1 - abar_t)",
                       "betas[t] / schedule.sqrt_one_minus_alphas_cumprod[t] * eps", "posterior_variance[t].sqrt() * z",
                       "√β̃_t z", "+ σ_t z"],
}


def test_the_exercises_are_registered_with_their_notebook():
    assert EXERCISES["nb05.posterior_variance"].notebook == "05_sampling_with_ddpm"
    assert EXERCISES["nb05.posterior_variance"].function == "posterior_variance"
    assert EXERCISES["nb05.posterior_variance"].reference is schedules.posterior_variance


def test_posterior_variance_matches_a_hand_computation_and_the_schedule():
    betas = torch.tensor([0.1, 0.2, 0.3])  # by hand: abar = 0.9, 0.72, 0.504; abar_prev = 1, 0.9, 0.72
    expected = torch.tensor([0.0, 0.2 * 0.1 / 0.28, 0.3 * 0.28 / 0.496])
    assert torch.allclose(schedules.posterior_variance(betas), expected)
    assert torch.allclose(_S.posterior_variance, schedules.posterior_variance(_S.betas.double()).float())


def test_an_unknown_wrong_step_hears_which_cases_it_gets_right():
    def noise_doubled(x, t, e, s, z):  # an invented mistake, not in the registry
        return _mean(x, t, e, s) + 2 * s.posterior_variance[t].sqrt() * z

    out, _ = check_table.run_check("nb05.ddpm_step", noise_doubled)
    assert "right for: t = 0, the last step" in out
