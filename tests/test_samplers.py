import pytest
import torch

from course_utils.guidance import ClassifierFreeGuidance, guided_eps
from course_utils.model import TinyUNet, UNetConfig
from course_utils.samplers import DDIMSampler, DDPMSampler, ddim_invert, ddim_sigma, sample
from course_utils.schedules import make_schedule

SMALL = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)


@pytest.fixture(scope="module")
def schedule():
    return make_schedule("linear", 1000)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TinyUNet(SMALL).eval()


def test_ddim_eta_one_over_all_steps_has_the_ddpm_posterior_variance(schedule):
    ddim = DDIMSampler(schedule, num_steps=schedule.num_timesteps, eta=1.0)
    like = torch.zeros(1, dtype=torch.float64)
    pairs = ddim.timesteps()
    assert pairs == DDPMSampler(schedule).timesteps()
    variances = torch.stack([ddim_sigma(schedule.abar(t, like.float()), schedule.abar(t_prev, like.float()), ddim.eta) ** 2
                             for t, t_prev in pairs])
    expected = schedule.posterior_variance.flip(0)
    assert torch.allclose(variances, expected, rtol=1e-3, atol=1e-9)


def test_ddim_eta_one_step_equals_the_ddpm_step(schedule):
    x_t, eps = torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28) * 0.5
    for t in (999, 500, 3):
        a, _ = DDPMSampler(schedule).step(eps, t, t - 1, x_t, torch.Generator().manual_seed(1))
        b, _ = DDIMSampler(schedule, 1000, eta=1.0).step(eps, t, t - 1, x_t, torch.Generator().manual_seed(1))
        assert torch.allclose(a, b, atol=1e-4)


def test_ddim_eta_zero_is_deterministic_given_the_noise(schedule, model):
    noise = torch.randn(2, 1, 28, 28)
    sampler = DDIMSampler(schedule, num_steps=5, eta=0.0)
    a = sample(model, sampler, noise=noise, generator=torch.Generator().manual_seed(1), show_progress=False)
    b = sample(model, sampler, noise=noise, generator=torch.Generator().manual_seed(2), show_progress=False)
    assert torch.equal(a.images, b.images)


@pytest.mark.parametrize("make", [lambda s: DDPMSampler(s), lambda s: DDIMSampler(s, 10, eta=0.5)])
def test_samplers_return_the_right_shape_and_respect_the_generator(schedule, model, make):
    sampler = make(make_schedule("linear", 50))  # a short schedule keeps DDPM cheap
    run = lambda seed: sample(model, sampler, 3, generator=torch.Generator().manual_seed(seed), show_progress=False)  # noqa: E731
    a, b, c = run(0), run(0), run(1)
    assert a.images.shape == (3, 1, 28, 28)
    assert torch.equal(a.images, b.images) and not torch.equal(a.images, c.images)


def test_trajectory_keeps_every_step(schedule, model):
    out = sample(model, DDIMSampler(schedule, 4), 2, return_trajectory=True, show_progress=False)
    assert len(out.trajectory) == 5 and len(out.x0_hat) == 4 and out.timesteps == [999, 666, 333, 0]


def test_sample_does_not_change_the_callers_noise(schedule, model):
    noise = torch.randn(2, 1, 28, 28)
    copy = noise.clone()
    sample(model, DDIMSampler(schedule, 3), noise=noise, show_progress=False)
    assert torch.equal(noise, copy)


def test_guidance_scale_one_is_the_conditional_prediction_and_zero_the_unconditional():
    torch.manual_seed(0)
    cond = TinyUNet(UNetConfig(**{**SMALL.__dict__, "num_classes": 10})).eval()
    torch.nn.init.normal_(cond.label_embedding.weight)
    x, t, y = torch.randn(2, 1, 28, 28), torch.tensor([100, 100]), torch.tensor([1, 2])
    with torch.no_grad():
        eps_c, eps_u = cond(x, t, y), cond(x, t)
        assert torch.allclose(ClassifierFreeGuidance(cond, 1.0)(x, t, y), eps_c)
        assert torch.allclose(ClassifierFreeGuidance(cond, 0.0)(x, t, y), eps_u)
        # the batched two-branch path agrees with the formula
        assert torch.allclose(ClassifierFreeGuidance(cond, 3.0)(x, t, y), guided_eps(eps_c, eps_u, 3.0), atol=1e-5)


def test_guidance_needs_a_conditional_model_and_labels(model):
    with pytest.raises(ValueError, match="class-conditional"):
        ClassifierFreeGuidance(model, 2.0)


def test_ddim_inversion_then_sampling_reconstructs(schedule):
    # For data x0 ~ N(0, s^2 I) the optimal eps-model is known in closed form:
    # E[eps | x_t] = sqrt(1 - abar) x_t / (abar s^2 + 1 - abar). With it, DDIM inversion should map
    # data to unit-variance noise, and sampling from that noise should give the data back.
    s2 = 0.25

    def oracle(x_t, t):
        abar = schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
        return (1 - abar).sqrt() * x_t / (abar * s2 + 1 - abar)

    x0 = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * s2**0.5

    def round_trip_error(num_steps):
        noise = ddim_invert(oracle, x0, schedule, num_steps=num_steps)
        out = sample(oracle, DDIMSampler(schedule, num_steps, clip_x0=False), noise=noise, show_progress=False)
        return noise, ((out.images - x0).abs().max() / x0.abs().max()).item()

    noise, error_full = round_trip_error(1000)
    _, error_coarse = round_trip_error(100)
    assert abs(noise.std().item() - 1) < 0.02  # data went all the way to unit-variance noise
    assert error_full < 0.01  # and came back
    assert error_full < error_coarse / 5  # the error is discretisation error: it shrinks with more steps


def test_bad_sampler_arguments():
    s = make_schedule("linear", 100)
    with pytest.raises(ValueError):
        DDIMSampler(s, num_steps=0)
    with pytest.raises(ValueError):
        DDIMSampler(s, eta=-1)


def test_algorithm_2_equals_sampling_the_posterior_with_the_predicted_x0(schedule):
    # Ho et al.'s line 4 and "mu~_t(x0_hat, x_t) + sqrt(beta~_t) z" are the same formula written two ways.
    from course_utils.forward import predict_x0_from_eps, q_posterior_mean_variance
    from course_utils.samplers import ddpm_step

    x_t, eps, z = torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    for t in (999, 400, 1, 0):
        mean, var = q_posterior_mean_variance(predict_x0_from_eps(x_t, t, eps, schedule), x_t, t, schedule)
        assert torch.allclose(ddpm_step(x_t, t, eps, schedule, z), mean + var.sqrt() * z, atol=1e-4)
