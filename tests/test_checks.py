"""Every check gives a helpful message for the typical wrong answers, and never raises."""

import math

import pytest
import torch

from course_utils import checks, forward, model, schedules
from course_utils.checks.core import EXERCISES, evaluate


def _raise(*args, **kwargs):
    raise NotImplementedError


def verdict(check, fn, capsys):
    returned = check(fn)
    out = capsys.readouterr().out
    return returned, out


@pytest.mark.parametrize(
    "wrong, expected_words",
    [
        (_raise, "not implemented yet"),
        (lambda x, s, n: None, "forget the `return`"),
        (lambda x, s, n: x + s**2 * n, "not σ²"),
        (lambda x, s, n: x * s * n, "not multiplied"),
        (lambda x, s, n: (x + s * n)[:, 0], "wrong shape"),
        (lambda x, s, n: (x + s * n).double(), "wrong dtype"),
        (lambda x, s, n: x.add_(s * n), "in place"),
        (lambda x, s, n: (x + s * n) * float("nan"), "NaN"),
        (lambda x, s, n: 1 / 0, "ZeroDivisionError"),
        (lambda x, s, n: [1, 2], "expected a torch.Tensor"),
    ],
)
def test_add_noise_mistakes_get_specific_messages(wrong, expected_words, capsys):
    returned, out = verdict(checks.check_add_noise, wrong, capsys)
    assert out.startswith("❌ [nb01.add_noise] not yet:")
    assert expected_words in out
    assert "reference" in out and returned(torch.zeros(1), 1.0, torch.ones(1)).item() == 1.0


def test_a_passing_answer_is_used_and_announced(capsys):
    def mine(x, sigma, noise):
        return x + sigma * noise

    returned, out = verdict(checks.check_add_noise, mine, capsys)
    assert out.startswith("✅ [nb01.add_noise] passed") and returned is mine and "use your `add_noise`" in out


def test_checking_the_reference_stand_in_again_does_not_pass(capsys):
    stand_in, _ = verdict(checks.check_add_noise, _raise, capsys)
    again, out = verdict(checks.check_add_noise, stand_in, capsys)
    assert "not yet" in out and "course's reference" in out and again is stand_in


@pytest.mark.parametrize(
    "check, wrong, expected_words",
    [
        (checks.check_noising_step, lambda x, b, n: math.sqrt(1 - b) * x + b * n, "square root on β"),
        (checks.check_noising_step, lambda x, b, n: x + math.sqrt(b) * n, "√(1-β) too"),
        (checks.check_noising_step, lambda x, b, n: math.sqrt(b) * x + math.sqrt(1 - b) * n, "swapped"),
        (checks.check_variance_after_steps, lambda v, b, n: (1 - b) ** n * v, "adds"),
        (checks.check_variance_after_steps, lambda v, b, n: "1", "expected a number"),
        (checks.check_alphas_cumprod, lambda b: torch.cumprod(b, 0), "1 - β_t"),
        (checks.check_alphas_cumprod, lambda b: torch.cat([torch.ones(1), torch.cumprod(1 - b, 0)[:-1]]), "Off by one"),
        (checks.check_q_sample,
         lambda x, t, s, n: s.alphas_cumprod[t].view(-1, 1, 1, 1) * x + (1 - s.alphas_cumprod[t].view(-1, 1, 1, 1)) * n,
         "square roots"),
        (checks.check_q_sample, lambda x, t, s, n: s.alphas_cumprod[t] * x, "broadcast"),
        (checks.check_snr_db, lambda a: 20 * torch.log10(a / (1 - a)), "10·log10"),
        (checks.check_snr_db, lambda a: a / (1 - a), "decibels"),
        (checks.check_timestep_embedding,
         lambda t, d: model.sinusoidal_timestep_embedding(t, d).roll(d // 2, dims=1), "Sines first"),
        (checks.check_x0_from_eps,
         lambda x, t, e, s: (x + s.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1) * e)
         / s.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1), "Sign error"),
    ],
)
def test_typical_mistakes_get_hints(check, wrong, expected_words, capsys):
    _, out = verdict(check, wrong, capsys)
    assert "not yet" in out and expected_words in out


_S = schedules.make_schedule("linear", 1000)


@pytest.mark.parametrize(
    "check, wrong, expected_words",
    [
        (checks.check_eps_prediction_loss, lambda m, x0, t, n, s: ((m(x0, t) - n) ** 2).mean(), "*noisy* image"),
        (checks.check_eps_prediction_loss,
         lambda m, x0, t, n, s: ((m(forward.q_sample(x0, t, s, n), t) - x0) ** 2).mean(), "predicts the noise"),
        (checks.check_ddpm_step,
         lambda x, t, e, s, z: (x - s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t] * e) / s.alphas[t].sqrt() + s.betas[t].sqrt() * z,
         "posterior variance"),
        (checks.check_ddpm_step,
         lambda x, t, e, s, z: (x - s.betas[t] / s.sqrt_one_minus_alphas_cumprod[t] * e) / s.alphas[t].sqrt(), "fresh noise"),
        (checks.check_ddim_step,
         lambda x, e, a, ap, eta, z: ap.sqrt() * (x - (1 - a).sqrt() * e) / a.sqrt() + (1 - ap).sqrt() * e, "σ·z"),
        (checks.check_ema_step, lambda a, v, d: d * v + (1 - d) * a, "how much you *keep*"),
        (checks.check_ema_step, lambda a, v, d: v, "throws the average away"),
        (checks.check_guided_eps, lambda c, u, w: c + w * (c - u), "other convention"),
        (checks.check_frechet_distance, lambda a, b, c, d: float((a - c).pow(2).sum()), "covariance term"),
        (checks.check_frechet_distance,
         lambda a, b, c, d: float((a - c).pow(2).sum() + torch.trace(b + d - 2 * (b * d).clamp(min=0).sqrt())), "*matrix* square root"),
    ],
)
def test_typical_mistakes_in_later_notebooks_get_hints(check, wrong, expected_words, capsys):
    _, out = verdict(check, wrong, capsys)
    assert "not yet" in out and expected_words in out


def test_checks_never_print_the_answer(capsys):
    checks.check_variance_after_steps(lambda v, b, n: 0.123)
    out = capsys.readouterr().out
    expected = forward.variance_after_steps(0.3, 0.02, 1)
    assert f"{expected:.3f}" not in out and str(expected) not in out


def test_every_reference_passes_its_own_check(capsys):
    by_function = {
        "nb01.add_noise": checks.check_add_noise, "nb01.noising_step": checks.check_noising_step,
        "nb01.variance_after_steps": checks.check_variance_after_steps, "nb02.alphas_cumprod": checks.check_alphas_cumprod,
        "nb02.q_sample": checks.check_q_sample, "nb02.snr_db": checks.check_snr_db,
        "nb03.timestep_embedding": checks.check_timestep_embedding, "nb03.x0_from_eps": checks.check_x0_from_eps,
        "nb04.eps_prediction_loss": checks.check_eps_prediction_loss, "nb04.ema_step": checks.check_ema_step, "nb05.ddpm_step": checks.check_ddpm_step,
        "nb06.ddim_step": checks.check_ddim_step, "nb07.guided_eps": checks.check_guided_eps,
        "nb08.frechet_distance": checks.check_frechet_distance,
    }
    assert set(by_function) <= set(EXERCISES)
    for exercise_id, check in by_function.items():
        reference = EXERCISES[exercise_id].reference
        check(lambda *a, _r=reference, **k: _r(*a, **k))
        assert capsys.readouterr().out.startswith(f"✅ [{exercise_id}] passed")


def test_a_non_function_is_explained():
    result = evaluate(EXERCISES["nb01.add_noise"], 3, [])
    assert not result.passed and "function" in result.message
