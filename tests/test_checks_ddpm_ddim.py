"""The extra checks of notebooks 5 and 6 (posterior variance, DDIM's σ(η), slerp) and samplers.slerp."""

import pytest
import torch

from course_utils import checks, samplers, schedules
from course_utils.checks.core import EXERCISES
from course_utils.schedules import make_schedule

_S = make_schedule("linear", 1000)


def _abar(b):
    return torch.cumprod(1 - b, 0)


def _abar_prev(b):
    return torch.cat([torch.ones(1), _abar(b)[:-1]])


def good_posterior_variance(betas):
    return betas * (1 - _abar_prev(betas)) / (1 - _abar(betas))


def good_ddim_sigma(abar_t, abar_prev, eta):
    return eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()


def good_slerp(z0, z1, alpha):
    a, b = z0.flatten(1), z1.flatten(1)
    theta = ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))).clamp(-1, 1).acos().view(-1, 1, 1, 1)
    return (((1 - alpha) * theta).sin() * z0 + (alpha * theta).sin() * z1) / theta.sin()


def run(check, fn, capsys):
    returned = check(fn)
    return returned, capsys.readouterr().out


@pytest.mark.parametrize(
    "check, good, exercise_id",
    [
        (checks.check_posterior_variance, good_posterior_variance, "nb05.posterior_variance"),
        (checks.check_ddim_sigma, good_ddim_sigma, "nb06.ddim_sigma"),
        (checks.check_slerp, good_slerp, "nb06.slerp"),
    ],
)
def test_a_correct_answer_passes_and_is_returned(check, good, exercise_id, capsys):
    returned, out = run(check, good, capsys)
    assert out.startswith(f"✅ [{exercise_id}] passed") and returned is good


@pytest.mark.parametrize("exercise_id, check", [("nb05.posterior_variance", checks.check_posterior_variance),
                                                ("nb06.ddim_sigma", checks.check_ddim_sigma),
                                                ("nb06.slerp", checks.check_slerp)])
def test_the_reference_passes_its_own_check(exercise_id, check, capsys):
    reference = EXERCISES[exercise_id].reference
    _, out = run(check, lambda *a: reference(*a), capsys)
    assert out.startswith(f"✅ [{exercise_id}] passed")


def test_exercises_are_registered_with_their_notebooks():
    assert EXERCISES["nb05.posterior_variance"].notebook == "05_sampling_with_ddpm"
    assert EXERCISES["nb06.ddim_sigma"].notebook == "06_ddim_fast_deterministic_sampling"
    assert EXERCISES["nb06.slerp"].notebook == "06_ddim_fast_deterministic_sampling"
    assert {EXERCISES[i].function for i in ("nb05.posterior_variance", "nb06.ddim_sigma", "nb06.slerp")} == {
        "posterior_variance", "ddim_sigma", "slerp"}


def test_posterior_variance_is_the_schedules_own_and_matches_the_formula():
    assert EXERCISES["nb05.posterior_variance"].reference is schedules.posterior_variance
    betas = torch.tensor([0.1, 0.2, 0.3])  # by hand: abar = 0.9, 0.72, 0.504; abar_prev = 1, 0.9, 0.72
    expected = torch.tensor([0.0, 0.2 * 0.1 / 0.28, 0.3 * 0.28 / 0.496])
    assert torch.allclose(schedules.posterior_variance(betas), expected)
    assert torch.allclose(_S.posterior_variance, schedules.posterior_variance(_S.betas.double()).float())


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda b: b.clone(), "one step *earlier*"),
        (lambda b: b * (1 - torch.cat([torch.zeros(1), _abar(b)[:-1]])) / (1 - _abar(b)), "ᾱ_{−1} = 1"),
        (lambda b: good_posterior_variance(b).sqrt(), "is a variance"),
        (lambda b: (1 - _abar_prev(b)) / (1 - _abar(b)), "Multiply by β_t"),
        (lambda b: b * (1 - _abar_prev(b)) / (1 - b), "cumulative product), not 1 − α_t"),
        (lambda b: b * (1 - _abar(b)) / (1 - _abar_prev(b)), "NaN or infinity"),
        (lambda b: None, "forget the `return`"),
    ],
)
def test_posterior_variance_mistakes_get_their_hints(wrong, words, capsys):
    returned, out = run(checks.check_posterior_variance, wrong, capsys)
    assert out.startswith("❌ [nb05.posterior_variance] not yet") and words in out
    assert "course's reference" in out and returned is not wrong
    assert torch.allclose(returned(_S.betas), _S.posterior_variance)


def _var(at, ap, eta):
    return eta**2 * (1 - ap) / (1 - at) * (1 - at / ap)


@pytest.mark.parametrize(
    "wrong, words",
    [
        (lambda at, ap, eta: _var(at, ap, eta), "That is σ²"),
        (lambda at, ap, eta: _var(at, ap, 1.0).sqrt(), "Multiply by η"),
        (lambda at, ap, eta: eta * _var(at, ap, 1.0), "Square root"),
        (lambda at, ap, eta: eta * ((1 - at) / (1 - ap) * (1 - at / ap)).sqrt(), "first ratio"),
        (lambda at, ap, eta: eta * ((1 - ap) / (1 - at) * (1 - ap / at)).abs().sqrt(), "second factor"),
        (lambda at, ap, eta: 0.5, "the values are off"),
    ],
)
def test_ddim_sigma_mistakes_get_their_hints(wrong, words, capsys):
    returned, out = run(checks.check_ddim_sigma, wrong, capsys)
    assert out.startswith("❌ [nb06.ddim_sigma] not yet") and words in out
    a = _S.alphas_cumprod
    assert torch.allclose(returned(a[600], a[400], 1.0), samplers.ddim_sigma(a[600], a[400], 1.0))


def test_ddim_sigma_with_eta_one_is_the_posterior_std():
    a = _S.alphas_cumprod
    for t in (1, 500, 999):
        assert torch.allclose(samplers.ddim_sigma(a[t], a[t - 1], 1.0) ** 2, _S.posterior_variance[t], rtol=1e-3)


def _lerp(a, b, w):
    return (1 - w) * a + w * b


@pytest.mark.parametrize(
    "wrong, words",
    [
        (_lerp, "straight line"),
        (lambda a, b, w: ((1 - w) * _theta(a, b)).sin() * a + (w * _theta(a, b)).sin() * b, "Divide by sin θ"),
        (lambda a, b, w: ((((1 - w) * _cos(a, b)).sin() * a + (w * _cos(a, b)).sin() * b) / _cos(a, b).sin()), "arccos"),
        (lambda a, b, w: _whole(a, b, w), "per image"),
        (lambda a, b, w: a.mul_(1 - w).add_(w * b), "in place"),
    ],
)
def test_slerp_mistakes_get_their_hints(wrong, words, capsys):
    returned, out = run(checks.check_slerp, wrong, capsys)
    assert out.startswith("❌ [nb06.slerp] not yet") and words in out
    z0, z1 = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    assert torch.allclose(returned(z0, z1, 0.25), samplers.slerp(z0, z1, 0.25))


def _cos(a, b):
    fa, fb = a.flatten(1), b.flatten(1)
    return ((fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1))).view(-1, 1, 1, 1)


def _theta(a, b):
    return _cos(a, b).clamp(-1, 1).acos()


def _whole(a, b, w):
    th = ((a * b).sum() / (a.norm() * b.norm())).clamp(-1, 1).acos()
    return (((1 - w) * th).sin() * a + (w * th).sin() * b) / th.sin()


def test_slerp_ends_keeps_the_norm_and_handles_parallel_inputs():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(4, 1, 28, 28, generator=g), torch.randn(4, 1, 28, 28, generator=g)
    assert torch.allclose(samplers.slerp(z0, z1, 0.0), z0, atol=1e-5)
    assert torch.allclose(samplers.slerp(z0, z1, 1.0), z1, atol=1e-5)
    mid_norm = samplers.slerp(z0, z1, 0.5).flatten(1).norm(dim=1)
    ends = (z0.flatten(1).norm(dim=1) + z1.flatten(1).norm(dim=1)) / 2
    assert torch.allclose(mid_norm, ends, rtol=0.02)  # the straight line would lose about 30%
    assert (_lerp(z0, z1, 0.5).flatten(1).norm(dim=1) < 0.8 * ends).all()
    same = samplers.slerp(z0, z0.clone(), 0.3)  # parallel: falls back to the straight line, no NaN
    assert torch.isfinite(same).all() and torch.allclose(same, z0, atol=1e-5)
    z0_before = z0.clone()
    samplers.slerp(z0, z1, 0.4)
    assert torch.equal(z0, z0_before)
