"""The checks of notebooks 7 and 8 (classifier guidance, inpainting merge, Gaussian stats): hints and hand-back."""

import pytest
import torch

from course_utils import checks, guidance, metrics
from course_utils.checks.core import EXERCISES

_CHECKS = {
    "nb07.classifier_guided_eps": checks.check_classifier_guided_eps,
    "nb07.inpaint_merge": checks.check_inpaint_merge,
    "nb08.gaussian_stats": checks.check_gaussian_stats,
}


def _noise_std(schedule, t):
    return schedule.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1)


def _centered(f):
    return f - f.mean(0)


def _raise(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("exercise_id", sorted(_CHECKS))
def test_the_reference_passes_and_the_students_function_is_returned(exercise_id, capsys):
    reference = EXERCISES[exercise_id].reference

    def mine(*args, **kwargs):
        return reference(*args, **kwargs)

    returned = _CHECKS[exercise_id](mine)
    out = capsys.readouterr().out
    assert out.startswith(f"✅ [{exercise_id}] passed") and returned is mine


@pytest.mark.parametrize("exercise_id", sorted(_CHECKS))
def test_a_failing_function_gets_the_reference_stand_in(exercise_id, capsys):
    returned = _CHECKS[exercise_id](_raise)
    out = capsys.readouterr().out
    assert out.startswith(f"❌ [{exercise_id}] not yet: not implemented yet") and "course's reference" in out
    assert returned is not _raise and getattr(returned, "__course_reference__", False)


@pytest.mark.parametrize(
    "check, wrong, expected_words",
    [
        (checks.check_classifier_guided_eps, lambda e, g, t, s, w: e + w * _noise_std(s, t) * g, "subtract the gradient"),
        (checks.check_classifier_guided_eps, lambda e, g, t, s, w: e - w * g, "Scale the gradient by √(1-ᾱ_t)"),
        (checks.check_classifier_guided_eps,
         lambda e, g, t, s, w: e - w * (1 - s.alphas_cumprod[t]).view(-1, 1, 1, 1) * g, "not 1-ᾱ_t"),
        (checks.check_classifier_guided_eps,
         lambda e, g, t, s, w: e - w * s.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1) * g, "not √ᾱ_t"),
        (checks.check_classifier_guided_eps, lambda e, g, t, s, w: e - w * s.sqrt_one_minus_alphas_cumprod[t] * g,
         "reshape it to (B, 1, 1, 1)"),
        (checks.check_inpaint_merge, lambda x, k, m: m * x + (1 - m) * k, "Swapped"),
        (checks.check_inpaint_merge, lambda x, k, m: m * k, "add (1 - mask) · x_generated"),
        (checks.check_inpaint_merge, lambda x, k, m: x + m * k, "instead of adding"),
        (checks.check_gaussian_stats, lambda f: (f.mean(0), _centered(f).T @ _centered(f) / f.shape[0]), "N − 1"),
        (checks.check_gaussian_stats, lambda f: (f.mean(0), f.T @ f / (f.shape[0] - 1)), "Subtract the mean"),
        (checks.check_gaussian_stats, lambda f: f.mean(0), "expected 2 values"),
    ],
)
def test_known_mistakes_get_their_hints(check, wrong, expected_words, capsys):
    returned = check(wrong)
    out = capsys.readouterr().out
    assert "not yet" in out and expected_words in out
    assert getattr(returned, "__course_reference__", False)


def test_the_exercises_belong_to_notebooks_7_and_8():
    assert EXERCISES["nb07.classifier_guided_eps"].reference is guidance.classifier_guided_eps
    assert EXERCISES["nb07.inpaint_merge"].notebook == "07_conditioning_and_guidance"
    assert EXERCISES["nb08.gaussian_stats"].reference is metrics.gaussian_stats
    assert EXERCISES["nb08.gaussian_stats"].notebook == "08_measuring_what_we_made"


def test_the_gaussian_stats_reference_matches_torch_cov():
    f = torch.randn(50, 4, dtype=torch.float64)
    mu, cov = metrics.gaussian_stats(f)
    assert torch.allclose(mu, f.mean(0)) and torch.allclose(cov, torch.cov(f.T))
