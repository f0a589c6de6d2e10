import pytest
import torch

from course_utils import forward
from course_utils.schedules import SCHEDULE_NAMES, make_schedule, snr_db


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_alphas_cumprod_is_decreasing_and_in_open_unit_interval(name):
    s = make_schedule(name, 1000)
    abar = s.alphas_cumprod
    assert abar.shape == (1000,)
    assert bool((abar > 0).all() and (abar < 1).all())
    assert bool((abar[1:] < abar[:-1]).all())
    assert s.alphas_cumprod_prev[0] == 1 and torch.allclose(s.alphas_cumprod_prev[1:], abar[:-1])


def test_linear_schedule_endpoints_follow_ho_et_al():
    s = make_schedule("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)


def test_closed_form_matches_iterated_noising_in_mean_and_variance(generator):
    s = make_schedule("linear", 1000)
    x0 = torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4)
    t = 300
    batch = x0.expand(20_000, -1, -1, -1)
    x = batch
    for step in range(t + 1):  # x_t is the image after t + 1 steps
        x = forward.q_step(x, step, s, generator=generator)
    closed = forward.q_sample(batch, t, s, generator=generator)
    expected_mean = s.sqrt_alphas_cumprod[t] * x0[0]
    expected_var = 1 - s.alphas_cumprod[t]
    for samples in (x, closed):
        assert torch.allclose(samples.mean(0), expected_mean, atol=0.03)
        assert torch.allclose(samples.var(0), expected_var.expand(1, 4, 4), atol=0.03)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_last_step_is_close_to_standard_normal(name, generator):
    s = make_schedule(name, 1000)
    x0 = torch.ones(2000, 1, 28, 28)  # the brightest possible image
    x = forward.q_sample(x0, s.num_timesteps - 1, s, generator=generator)
    assert abs(x.mean().item()) < 0.01 and abs(x.std().item() - 1) < 0.01


def test_forward_functions_do_not_mutate_inputs_and_respect_the_generator():
    s = make_schedule("linear", 1000)
    x0 = torch.randn(3, 1, 28, 28)
    copy = x0.clone()
    a = forward.q_sample(x0, torch.tensor([1, 2, 3]), s, generator=torch.Generator().manual_seed(1))
    b = forward.q_sample(x0, torch.tensor([1, 2, 3]), s, generator=torch.Generator().manual_seed(1))
    c = forward.q_step(x0, 5, s, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x0, copy) and torch.equal(a, b) and not torch.equal(a, c)


def test_x0_and_eps_predictions_invert_q_sample():
    s = make_schedule("cosine", 1000)
    x0, eps, t = torch.rand(4, 1, 28, 28) * 2 - 1, torch.randn(4, 1, 28, 28), torch.tensor([0, 9, 400, 990])
    x_t = forward.q_sample(x0, t, s, noise=eps)
    assert torch.allclose(forward.predict_x0_from_eps(x_t, t, eps, s), x0, atol=1e-3)
    assert torch.allclose(forward.predict_eps_from_x0(x_t, t, x0, s), eps, atol=1e-3)


def test_posterior_has_zero_variance_at_the_first_step():
    s = make_schedule("linear", 1000)
    x0, x_t = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    mean, var = forward.q_posterior_mean_variance(x0, x_t, 0, s)
    assert var.item() == 0 and torch.allclose(mean, x0)


def test_variance_after_steps_tends_to_one():
    assert forward.variance_after_steps(0.3, 0.02, 0) == pytest.approx(0.3)
    assert forward.variance_after_steps(0.3, 0.02, 2000) == pytest.approx(1.0)
    assert forward.variance_after_steps(1.0, 0.5, 7) == pytest.approx(1.0)


def test_snr_db_crosses_zero_where_signal_equals_noise():
    assert snr_db(torch.tensor([0.5])).item() == pytest.approx(0.0)


def test_out_of_range_timestep_is_a_clear_error():
    s = make_schedule("linear", 100)
    with pytest.raises(ValueError, match=r"\[0, 99\]"):
        forward.q_sample(torch.zeros(1, 1, 28, 28), 100, s)


def test_cosine_betas_are_clipped_at_max_beta():
    from course_utils.schedules import cosine_alphas_cumprod, cosine_betas

    raw = 1 - cosine_alphas_cumprod(1000)[1:] / cosine_alphas_cumprod(1000)[:-1]
    assert raw.max() > 0.999  # the last step of the unclipped schedule would remove all the signal
    clipped = cosine_betas(1000)
    assert clipped.max() == pytest.approx(0.999) and torch.equal(clipped[raw <= 0.999], raw[raw <= 0.999])
    assert cosine_betas(1000, max_beta=0.5).max() == pytest.approx(0.5)


@pytest.mark.parametrize("T", [50, 200, 4000])
def test_linear_betas_rescale_for_other_T_so_the_total_noise_stays_comparable(T):
    from course_utils.schedules import linear_betas

    betas = linear_betas(T)
    assert betas.shape == (T,)
    assert betas[0].item() == pytest.approx(1e-4 * 1000 / T) and betas[-1].item() == pytest.approx(0.02 * 1000 / T)
    # the same endpoints stretched over T steps leave about as much signal at the end as T = 1000 does
    final_abar = make_schedule("linear", T).alphas_cumprod[-1].item()
    assert final_abar < 1e-3 and make_schedule("linear", T).num_timesteps == T


def test_q_renoise_goes_from_one_step_to_a_later_one_in_distribution(generator):
    s = make_schedule("linear", 1000)
    x_s = torch.full((20_000, 1, 1, 1), 0.5)
    x_t = forward.q_renoise(x_s, 100, 400, s, generator=generator)
    ratio = s.alphas_cumprod[400] / s.alphas_cumprod[100]
    assert x_t.mean().item() == pytest.approx((ratio.sqrt() * 0.5).item(), abs=0.02)
    assert x_t.var().item() == pytest.approx((1 - ratio).item(), abs=0.02)
    with pytest.raises(ValueError, match="noisier step"):
        forward.q_renoise(x_s, 400, 100, s)
