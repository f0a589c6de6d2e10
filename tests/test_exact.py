"""The exact denoiser of a finite image set (course_utils/exact.py), checked against Bayes' rule directly."""

import math

import pytest
import torch

from course_utils.exact import ExactDenoiser, effective_number, nearest_images
from course_utils.forward import q_posterior_mean_variance, q_sample
from course_utils.samplers import DDPMSampler, sample
from course_utils.schedules import make_schedule

SCHEDULE = make_schedule("linear")


def images(n=3, seed=0):
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_weights_follow_bayes_rule_with_gaussian_likelihoods():
    x0 = images(2)
    t = 400
    x_t = q_sample(x0[:1], t, SCHEDULE, generator=torch.Generator().manual_seed(1))
    abar = SCHEDULE.alphas_cumprod[t].double()
    normal = torch.distributions.Normal(abar.sqrt() * x0.double(), (1 - abar).sqrt())
    log_lik = normal.log_prob(x_t.double()).flatten(1).sum(1)  # log q(x_t | x0_i), equal priors
    w = ExactDenoiser(x0, SCHEDULE).weights(x_t, t)
    assert w.shape == (1, 2) and float(w.sum()) == pytest.approx(1.0)
    assert float(w[0, 0].log() - w[0, 1].log()) == pytest.approx(float(log_lik[0] - log_lik[1]), rel=1e-6)


def test_one_image_gives_back_the_image_and_the_true_noise():
    x0 = images(1)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(2))
    x_t = q_sample(x0, 700, SCHEDULE, noise=noise)
    exact = ExactDenoiser(x0, SCHEDULE)
    assert torch.allclose(exact.x0_mean(x_t, 700), x0, atol=1e-6)
    assert torch.allclose(exact.x0_variance(x_t, 700), torch.zeros_like(x0), atol=1e-6)
    assert torch.allclose(exact(x_t, torch.tensor([700])), noise, atol=1e-4)
    mean, variance = exact.x_prev_mean_variance(x_t, 700)
    posterior_mean, beta_tilde = q_posterior_mean_variance(x0, x_t, 700, SCHEDULE)
    assert torch.allclose(mean, posterior_mean, atol=1e-6) and torch.allclose(variance, beta_tilde.expand_as(x0), atol=1e-8)


def test_sharp_at_small_t_and_the_plain_mean_at_the_last_step():
    x0 = images(5)
    exact = ExactDenoiser(x0, SCHEDULE)
    x_t = q_sample(x0[3:4], 0, SCHEDULE, generator=torch.Generator().manual_seed(3))
    assert float(effective_number(exact.weights(x_t, 0))) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(exact.x0_mean(x_t, 0), x0[3:4], atol=1e-5)
    noise = torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(4))
    assert float(effective_number(exact.weights(noise, 999))) > 4.9  # almost all 5 equally likely
    assert torch.allclose(exact.x0_mean(noise, 999), x0.mean(0, keepdim=True), atol=1e-2)


def test_x_prev_is_less_uncertain_than_x0_and_its_variance_adds_up():
    x0 = images(4)
    exact = ExactDenoiser(x0, SCHEDULE)
    x_t = q_sample(x0[:2], 550, SCHEDULE, generator=torch.Generator().manual_seed(5))
    _, var_prev = exact.x_prev_mean_variance(x_t, 550)
    var_x0 = exact.x0_variance(x_t, 550)
    coef1 = float(SCHEDULE.posterior_mean_coef1[550])
    assert torch.allclose(var_prev, SCHEDULE.posterior_variance[550] + coef1**2 * var_x0, atol=1e-7)
    assert bool((var_prev < var_x0 + SCHEDULE.posterior_variance[550]).all()) and coef1 < 0.01


def test_a_step_per_image_matches_single_calls():
    x0 = images(4)
    exact = ExactDenoiser(x0, SCHEDULE)
    x_t = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(6))
    both = exact(x_t, torch.tensor([100, 800]))
    assert torch.allclose(both[:1], exact(x_t[:1], 100), atol=1e-6)
    assert torch.allclose(both[1:], exact(x_t[1:], 800), atol=1e-6)


def test_the_course_sampler_run_on_it_returns_copies_of_the_images():
    x0 = images(3)
    noise = torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(7))
    out = sample(ExactDenoiser(x0, SCHEDULE), DDPMSampler(SCHEDULE), noise=noise,
                 generator=torch.Generator().manual_seed(8), show_progress=False)
    distances, index = nearest_images(out.images, x0)
    assert float(distances.max()) < 1e-3 and index.shape == (4,)


def test_nearest_images_and_clear_errors():
    x0 = images(3)
    distances, index = nearest_images(x0[[2, 0]], x0)
    assert index.tolist() == [2, 0] and float(distances.max()) < 1e-6
    many = images(20, seed=9)
    assert nearest_images(many[[17, 3, 11]], many, chunk=4)[1].tolist() == [17, 3, 11]  # found across chunks
    far = x0[:1] + 1.0
    assert float(nearest_images(far, x0[:1])[0][0]) == pytest.approx(math.sqrt(16), abs=1e-5)  # 16 pixels, each 1 away
    with pytest.raises(ValueError, match="same image shape"):
        nearest_images(torch.zeros(1, 1, 5, 5), x0)
    with pytest.raises(ValueError, match="x_t must have shape"):
        ExactDenoiser(x0, SCHEDULE).x0_mean(torch.zeros(1, 1, 5, 5), 10)
    with pytest.raises(ValueError, match="images must be a batch"):
        ExactDenoiser(torch.zeros(4, 4), SCHEDULE)
    with pytest.raises(ValueError, match="unconditional"):
        ExactDenoiser(x0, SCHEDULE)(x0, 10, labels=torch.tensor([1, 2, 3]))
