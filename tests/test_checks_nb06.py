"""Notebook 6's checks (ddim_sigma, ddim_step, slerp): every wrong answer in the table fails with a hint that names
it and never gives the formula; right answers in several styles pass; the cells below run."""

import math

import check_table
import pytest
import torch

from course_utils import samplers, schedules
from course_utils.checks import EXERCISES

_S = schedules.make_schedule("linear", 1000)


def _later_sigma(ddim_sigma):  # cell 11: every t, ᾱ_prev = 1 at t = 0
    abar = _S.alphas_cumprod
    abar_prev_all = torch.cat([torch.ones(1), abar[:-1]])
    sigma_sq = torch.stack([ddim_sigma(abar[t], abar_prev_all[t], 1.0) ** 2 for t in range(1000)])
    assert (sigma_sq - _S.posterior_variance).abs().max() < 1e-4
    print(f"σ(η=1)² − β̃_t below 1e-6 for every t: {bool((sigma_sq - _S.posterior_variance).abs().max() < 1e-6)}")


def _later_step(ddim_step):  # cell 19: deterministic DDIM by hand, ᾱ_prev = 1 at the end, against the library's
    g = torch.Generator().manual_seed(6)
    x, one = torch.randn(2, 1, 28, 28, generator=g), torch.ones(())
    reference = x
    for t, t_prev in ((999, 899), (899, 499), (499, -1)):
        abar_prev = _S.alphas_cumprod[t_prev] if t_prev >= 0 else one
        eps = 0.5 * x
        x = ddim_step(x, eps, _S.alphas_cumprod[t], abar_prev, 0.0, torch.zeros_like(x))
        reference = samplers.ddim_step(reference, 0.5 * reference, _S.alphas_cumprod[t], abar_prev, 0.0, torch.zeros_like(x))
    assert torch.isfinite(x).all()
    print(f"largest difference from the course's DDIM below 1e-4: {bool((x - reference).abs().max() < 1e-4)}")


def _later_slerp(slerp):  # cell 44
    g = torch.Generator().manual_seed(4)
    z0, z1 = torch.randn(3, 1, 28, 28, generator=g), torch.randn(3, 1, 28, 28, generator=g)
    lengths = [slerp(z0, z1, a).flatten(1).norm(dim=1).mean().item() for a in torch.linspace(0, 1, 9).tolist()]
    assert all(math.isfinite(v) for v in lengths)
    print(f"slerp: length at u = 0.5 is {lengths[4]:.1f}")


def _later_second_order(second_order_x0):  # the cells below: D from two predictions, shaped like them
    x0_hat, x0_hat_prev = torch.rand(2, 1, 28, 28) * 2 - 1, torch.rand(2, 1, 28, 28) * 2 - 1
    d = second_order_x0(x0_hat, x0_hat_prev, torch.tensor(0.8), torch.tensor(0.4))
    assert d.shape == x0_hat.shape and torch.isfinite(d).all()


LATER = {"nb06.ddim_sigma": _later_sigma, "nb06.ddim_step": _later_step, "nb06.slerp": _later_slerp,
         "nb06.second_order_x0": _later_second_order}


def good_ddim_sigma(abar_t, abar_prev, eta):
    return eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()


def _var(at, ap, eta):
    return eta**2 * (1 - ap) / (1 - at) * (1 - at / ap)


def _x0(x, e, a):
    return (x - (1 - a).sqrt() * e) / a.sqrt()


def _ddim(x, e, a, ap, eta, z, x0=_x0, direction_abar=None, sigma_room=True, noise_power=1):
    sigma = good_ddim_sigma(a, ap, eta)
    d_abar = ap if direction_abar is None else direction_abar
    direction = (1 - d_abar - (sigma**2 if sigma_room else 0)).clamp(min=0).sqrt()
    return ap.sqrt() * x0(x, e, a) + direction * e + sigma**noise_power * z


def _cos(a, b):
    fa, fb = a.flatten(1), b.flatten(1)
    return ((fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1))).view(-1, 1, 1, 1)


def _theta(a, b):
    return _cos(a, b).clamp(-1, 1).acos()


def _mix(a, b, w, th, divide=True):
    out = ((1 - w) * th).sin() * a + (w * th).sin() * b
    return out / th.sin() if divide else out


def _whole(a, b, w):
    th = ((a * b).sum() / (a.norm() * b.norm())).clamp(-1, 1).acos()
    return _mix(a, b, w, th)


WRONG = {
    "nb06.ddim_sigma": [
        (lambda at, ap, eta: 0.0 if eta == 0 else good_ddim_sigma(at, ap, eta), "also for η = 0"),
        (lambda at, ap, eta: _var(at, ap, eta), "That is σ²"),
        (lambda at, ap, eta: _var(at, ap, 1.0).sqrt(), "η is missing"),
        (lambda at, ap, eta: eta * _var(at, ap, 1.0), "square roots"),
        (lambda at, ap, eta: eta * ((1 - at) / (1 - ap) * (1 - at / ap)).sqrt(), "first ratio is upside down"),
        (lambda at, ap, eta: eta * ((1 - ap) / (1 - at) * (1 - ap / at)).sqrt(), "second root the ratio is upside down"),
        (lambda at, ap, eta: eta * ((1 - ap) / (1 - at) * (1 - ap / at)).abs().sqrt(), "second root the ratio is upside down"),
        (lambda at, ap, eta: eta * (1 - at / ap).sqrt(), "One of the two factors is missing"),
        (lambda at, ap, eta: eta**2 * ((1 - ap) / (1 - at) * (1 - at / ap)).sqrt(), "not to η²"),
        (lambda at, ap, eta: torch.tensor(0.5), "η = 0 must give σ = 0"),  # generic, but says where to look
    ],
    "nb06.ddim_step": [
        (lambda x, e, a, ap, eta, z: ap.sqrt() * _x0(x, e, a) + (1 - ap).sqrt() * e, "Right for η = 0 only"),
        (lambda x, e, a, ap, eta, z: ap * _x0(x, e, a) + (1 - ap) * e, "standard deviations"),
        (lambda x, e, a, ap, eta, z: _ddim(x, e, a, ap, eta, z, x0=lambda x_, e_, a_: (x_ + (1 - a_).sqrt() * e_) / a_.sqrt()),
         "Sign error in x̂₀"),
        (lambda x, e, a, ap, eta, z: _ddim(x, e, a, ap, eta, z, x0=lambda x_, e_, a_: (x_ - (1 - a_ / ap).sqrt() * e_)
                                           / (a_ / ap).sqrt()), "not one step's α"),  # α for ᾱ in x̂₀
        (lambda x, e, a, ap, eta, z: _ddim(x, e, a, ap, eta, z, x0=lambda x_, e_, a_: (x_ - (1 - a_).sqrt() * e_) / a_),
         "*square root* of ᾱ_t"),
        (lambda x, e, a, ap, eta, z: _ddim(x, e, a, ap, eta, z, direction_abar=a), "uses ᾱ_prev, not ᾱ_t"),  # ᾱ_t in the direction
        (lambda x, e, a, ap, eta, z: _ddim(x, e, a, ap, eta, z, sigma_room=False), "that much less"),
        (lambda x, e, a, ap, eta, z: _ddim(x, e, a, ap, eta, z, noise_power=2), "not by σ²"),
        (lambda x, e, a, ap, eta, z: (1 - ap).sqrt() * _x0(x, e, a) + ap.sqrt() * e, "swapped"),
        (lambda x, e, a, ap, eta, z: _ddim(x, e, a, ap, eta, z, x0=lambda x_, e_, a_: _x0(x_, e_, a_).clamp(-1, 1)),
         "Do not clip x̂₀"),
        (lambda x, e, a, ap, eta, z: _ddim(x, e, a, ap, eta, z) - good_ddim_sigma(a, ap, eta) * z
         + good_ddim_sigma(a, ap, eta) * torch.randn_like(z), "use the noise it is given"),
    ],
    "nb06.slerp": [
        (lambda z0, z1, fraction: (1 - fraction) * z0 + fraction * z1, "straight line"),
        (lambda z0, z1, fraction: _mix(z0, z1, fraction, _theta(z0, z1), divide=False), "Divide by sin θ"),
        (lambda z0, z1, fraction: _mix(z0, z1, fraction, _cos(z0, z1)), "arccos"),
        (_whole, "per image"),
        (lambda z0, z1, fraction: (((fraction * _theta(z0, z1)).sin() * z0 + ((1 - fraction) * _theta(z0, z1)).sin() * z1)
                                / _theta(z0, z1).sin()), "The weights are swapped"),  # slerp's swapped weights
        (lambda z0, z1, fraction: _mix(z0, z1, fraction, (z0.flatten(1) * z1.flatten(1)).sum(1).clamp(-1, 1).acos().view(-1, 1, 1, 1)),
         "divided by both lengths"),
        (lambda z0, z1, fraction: z0.mul_(1 - fraction).add_(fraction * z1), "in place"),
        (lambda z0, z1, fraction: _mix(z0, z1, fraction, ((z0.flatten(1) * z1.flatten(1)).sum(1) / (z0.norm() * z1.norm()))
                                    .clamp(-1, 1).acos().view(-1, 1, 1, 1)), "own lengths"),
        (lambda z0, z1, fraction: _mix(z0, z1, fraction, ((z0.flatten(1) * z1.flatten(1)).sum(1)
                                                    / (z0.flatten(1).norm(dim=1) * z1.flatten(1).norm(dim=1))).acos()),
         "(B, 1, 1, 1)"),  # θ of shape (B,), not reshaped
    ],
}

WRONG["nb06.second_order_x0"] = [
    (lambda x0, x0p, h, hp: x0 + h / hp * (x0 - x0p), "twice too large"),
    (lambda x0, x0p, h, hp: x0 + hp / (2 * h) * (x0 - x0p), "upside down"),
    (lambda x0, x0p, h, hp: x0 + h / (2 * hp) * (x0p - x0), "Wrong direction"),
    (lambda x0, x0p, h, hp: (x0 + x0p) / 2, "Averaging the two predictions"),
    (lambda x0, x0p, h, hp: x0 + h / 2 * (x0 - x0p), "divide the change by the distance h_prev"),
    (lambda x0, x0p, h, hp: x0p + h / (2 * hp) * (x0 - x0p), "Start from the newest prediction"),
    (lambda x0, x0p, h, hp: x0, "unchanged"),  # DDIM's first-order x0_hat
    (lambda x0, x0p, h, hp: float((x0 + h / (2 * hp) * (x0 - x0p)).mean()), "torch.Tensor"),
]

# Wrong answers that match no known mistake: their hint is the exercise's generic one, which still says where to look.
GENERIC = {"η = 0 must give σ = 0"}


def _slerp_with_limit(z0, z1, fraction):  # the θ → 0 limit where θ is (almost) 0
    theta = _theta(z0, z1)
    return torch.where(theta < 1e-4, (1 - fraction) * z0 + fraction * z1, _mix(z0, z1, fraction, theta))


def _slerp_unclamped_with_limit(z0, z1, fraction):
    theta = _cos(z0, z1).acos()  # NaN when rounding puts the cosine above 1
    return torch.where(theta < 1e-4, (1 - fraction) * z0 + fraction * z1, _mix(z0, z1, fraction, theta))


def _slerp_small_sin_fallback(z0, z1, fraction):  # no clamp needed: a NaN angle fails the test and takes the line
    theta = _cos(z0, z1).acos()
    return torch.where(theta.sin() > 1e-6, _mix(z0, z1, fraction, theta), (1 - fraction) * z0 + fraction * z1)


# Right on ordinary inputs, wrong on an edge case. A third element says the cells below break with it.
NEARLY_RIGHT = {
    "nb06.ddim_sigma": [  # formerly passed: the right numbers as Python floats, which the cell below cannot stack
        (lambda at, ap, eta: eta * math.sqrt((1 - ap) / (1 - at)) * math.sqrt(1 - at / ap), "must be a tensor",
         "the cells below break"),
    ],
    "nb06.slerp": [
        (lambda z0, z1, fraction: _mix(z0, z1, fraction, _theta(z0, z1)), "tend to as θ → 0"),  # formerly the solution itself
        (lambda z0, z1, fraction: _mix(z0, z1, fraction, _cos(z0, z1).acos()), "tend to as θ → 0"),  # formerly passed: no clamp
        (_slerp_unclamped_with_limit, "clamp the cosine"),
    ],
}

CORRECT = {
    "nb06.ddim_sigma": [good_ddim_sigma, lambda at, ap, eta: eta * torch.sqrt((1 - ap) / (1 - at)) * torch.sqrt(1 - at / ap)],
    "nb06.ddim_step": [lambda x, e, a, ap, eta, z: _ddim(x, e, a, ap, eta, z),
                       lambda x, e, a, ap, eta, z: samplers.ddim_step(x, e, a, ap, eta, z)],
    "nb06.slerp": [_slerp_with_limit, _slerp_small_sin_fallback, lambda z0, z1, fraction: samplers.slerp(z0, z1, fraction)],
    "nb06.second_order_x0": [lambda x0, x0p, h, hp: x0 + h / (2 * hp) * (x0 - x0p),
                             lambda x0, x0p, h, hp: (1 + h / (2 * hp)) * x0 - h / (2 * hp) * x0p],
}

FRAGMENTS = {
    "nb06.ddim_sigma": ["√((1 − ᾱ_prev) / (1 − ᾱ_t))", "(1−ᾱ_prev)/(1−ᾱ_t)", "√(1 − ᾱ_t/ᾱ_prev)", "1 − ᾱ_t / ᾱ_prev",
                        "(1 - abar_prev) / (1 - abar_t)", "1 - abar_t / abar_prev"],
    "nb06.ddim_step": ["√ᾱ_prev x̂₀", "√(1 − ᾱ_prev − σ²)", "1 - ᾱ_prev - σ²", "abar_prev.sqrt() * x0_hat",
                       "(1 - abar_prev - sigma**2)", "(x_t − √(1−ᾱ_t) ε) / √ᾱ_t", "+ σ z", "+ sigma * z"],
    "nb06.slerp": ["sin((1 − u)θ)", "sin(uθ) / sin θ", "sin((1 - fraction) * theta)", "sin(fraction * theta)",
                   "sin((1−u)θ)/sin θ"],
    "nb06.second_order_x0": ["h / (2 h_prev)", "h / (2 * h_prev)", "(x0_hat - x0_hat_prev)", "x̂₀ − x̂₀_prev",
                             "(h / 2h_prev)"],
}


def test_the_exercises_are_registered_with_their_notebook():
    assert {EXERCISES[i].notebook for i in ("nb06.ddim_sigma", "nb06.ddim_step", "nb06.slerp", "nb06.second_order_x0")} == {
        "06_ddim_fast_deterministic_sampling"}
    assert {EXERCISES[i].function for i in ("nb06.ddim_sigma", "nb06.slerp")} == {"ddim_sigma", "slerp"}


def test_a_python_float_sigma_fails_and_the_cell_that_stacks_sigmas_gets_a_tensor():
    def with_math(at, ap, eta):
        return eta * math.sqrt((1 - ap) / (1 - at)) * math.sqrt(1 - at / ap)

    out, returned = check_table.run_check("nb06.ddim_sigma", with_math)
    assert "your result is a Python float, expected a torch.Tensor (0-d)" in out
    with pytest.raises(TypeError):
        _later_sigma(with_math)  # what cell 11 did before: torch.stack of floats
    _later_sigma(returned)


def test_ddim_sigma_with_eta_one_is_the_posterior_std():
    a = _S.alphas_cumprod
    for t in (1, 500, 999):
        assert torch.allclose(samplers.ddim_sigma(a[t], a[t - 1], 1.0) ** 2, _S.posterior_variance[t], rtol=1e-3)


def test_slerp_ends_keeps_the_norm_and_handles_parallel_inputs():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(4, 1, 28, 28, generator=g), torch.randn(4, 1, 28, 28, generator=g)
    assert torch.allclose(samplers.slerp(z0, z1, 0.0), z0, atol=1e-5)
    assert torch.allclose(samplers.slerp(z0, z1, 1.0), z1, atol=1e-5)
    mid_norm = samplers.slerp(z0, z1, 0.5).flatten(1).norm(dim=1)
    ends = (z0.flatten(1).norm(dim=1) + z1.flatten(1).norm(dim=1)) / 2
    assert torch.allclose(mid_norm, ends, rtol=0.02)  # the straight line would lose about 30%
    assert (((1 - 0.5) * z0 + 0.5 * z1).flatten(1).norm(dim=1) < 0.8 * ends).all()
    same = samplers.slerp(z0, z0.clone(), 0.3)  # parallel: falls back to the straight line, no NaN
    assert torch.isfinite(same).all() and torch.allclose(same, z0, atol=1e-5)
    z0_before = z0.clone()
    samplers.slerp(z0, z1, 0.4)
    assert torch.equal(z0, z0_before)
