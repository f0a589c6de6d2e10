"""Flow matching (course_utils.flow): the path, the loss, and Euler's and Heun's samplers.

The samplers are checked against an independent reference (diffusers' flow-matching Euler scheduler,
the one Stable Diffusion 3's pipeline uses) and against a Gaussian toy problem whose velocity field
and ODE solution are known exactly, where Euler's error must fall at first order and Heun's at second.
"""

import math

import pytest
import torch

from course_utils.flow import (
    FlowEulerSampler,
    FlowHeunSampler,
    flow_euler_step,
    flow_interpolate,
    flow_matching_loss,
    flow_time_from_abar,
    flow_times,
    flow_velocity,
    flow_x0_from_velocity,
    sample_flow_times,
)
from course_utils.model import TinyUNet, UNetConfig
from course_utils.samplers import Sampler, sample
from course_utils.schedules import make_schedule

MU, S = 0.5, 0.3  # the toy data: every pixel ~ N(MU, S^2), independently


def exact_velocity(x: torch.Tensor, t) -> torch.Tensor:
    """E[eps - x_0 | x_t] for x_0 ~ N(MU, S^2), x_t = (1 - t) x_0 + t eps: the field a perfect network learns."""
    t = t.double().view(-1, *([1] * (x.dim() - 1)))
    variance = (1 - t) ** 2 * S**2 + t**2
    centred = x.double() - (1 - t) * MU
    x0_mean = MU + (1 - t) * S**2 / variance * centred
    eps_mean = t / variance * centred
    return (eps_mean - x0_mean).to(x.dtype)


def toy_error(sampler, n=4000) -> float:
    """Largest error of the sampler's end point against the ODE's exact solution MU + S z (the 1-D flow map is affine)."""
    noise = torch.randn(n, 1, 1, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample(exact_velocity, sampler, noise=noise, show_progress=False)
    return (out.images - (MU + S * noise)).abs().max().item()


def test_the_path_goes_from_the_data_to_the_noise_with_a_constant_velocity():
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 1, 4, 4, generator=g)
    assert torch.equal(flow_interpolate(x0, eps, 0.0), x0)
    assert torch.equal(flow_interpolate(x0, eps, 1.0), eps)
    t = torch.tensor([0.2, 0.5, 0.9])
    h = 1e-3
    slope = (flow_interpolate(x0, eps, t + h) - flow_interpolate(x0, eps, t - h)) / (2 * h)
    assert torch.allclose(slope, flow_velocity(x0, eps), atol=1e-3)
    x_t = flow_interpolate(x0, eps, t)
    assert torch.allclose(flow_x0_from_velocity(x_t, t, flow_velocity(x0, eps)), x0, atol=1e-6)


def test_the_loss_is_zero_for_the_true_velocity_and_the_mse_otherwise():
    g = torch.Generator().manual_seed(2)
    x0, eps, t = torch.randn(4, 1, 4, 4, generator=g), torch.randn(4, 1, 4, 4, generator=g), torch.rand(4, generator=g)

    def oracle(x_t, t_):
        return eps - x0

    assert flow_matching_loss(oracle, x0, t, eps).item() == 0

    def zero(x_t, t_):
        return torch.zeros_like(x_t)

    assert flow_matching_loss(zero, x0, t, eps).item() == pytest.approx(((eps - x0) ** 2).mean().item())


def test_training_times_lie_in_the_open_interval_and_logit_normal_favours_the_middle():
    g = torch.Generator().manual_seed(3)
    uniform = sample_flow_times(20_000, "uniform", g)
    logit = sample_flow_times(20_000, "logit-normal", g)
    for t in (uniform, logit):
        assert bool(((t > 0) & (t < 1)).all())
    middle = lambda t: ((t > 0.3) & (t < 0.7)).float().mean().item()  # noqa: E731
    assert middle(uniform) == pytest.approx(0.4, abs=0.02)
    assert middle(logit) > 0.55  # P(|u| < logit(0.7) = 0.85) for u ~ N(0, 1) is 0.60
    with pytest.raises(ValueError, match="time_sampling"):
        sample_flow_times(3, "normal")


def test_flow_times_run_from_noise_to_data_and_the_shift_moves_them_to_the_noisy_end():
    pairs = flow_times(4)
    assert pairs == [(1.0, 0.75), (0.75, 0.5), (0.5, 0.25), (0.25, 0.0)]
    shifted = flow_times(4, shift=3.0)
    assert shifted[0][0] == 1.0 and shifted[-1][1] == 0.0
    assert all(a > b for a, b in zip([p[1] for p in shifted[:-1]], [p[1] for p in pairs[:-1]]))
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="num_steps"):
            flow_times(bad)
    with pytest.raises(ValueError, match="shift"):
        flow_times(3, shift=0)


def test_euler_steps_match_diffusers_flow_matching_euler_scheduler():
    diffusers = pytest.importorskip("diffusers")
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    scheduler.set_timesteps(8)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 1, 6, 6, generator=g)
    ours = x.clone()
    sigmas = scheduler.sigmas.tolist()
    for i, timestep in enumerate(scheduler.timesteps):
        velocity = torch.randn(x.shape, generator=g)
        x = scheduler.step(velocity, timestep, x).prev_sample
        ours = flow_euler_step(ours, velocity, sigmas[i], sigmas[i + 1])
    assert torch.allclose(ours, x, atol=1e-5)


def test_the_time_shift_is_diffusers_and_sd3s():
    diffusers = pytest.importorskip("diffusers")
    plain = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    shifted = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    base = plain.sigmas.double()  # before set_timesteps: the training sigmas, 1 down to 1/1000
    assert torch.allclose(3 * base / (1 + 2 * base), shifted.sigmas.double(), atol=1e-6)
    ours = torch.tensor([t for t, _ in flow_times(6, shift=3.0)], dtype=torch.float64)
    grid = torch.tensor([t for t, _ in flow_times(6)], dtype=torch.float64)
    assert torch.allclose(ours, 3 * grid / (1 + 2 * grid))


def test_on_an_exact_field_euler_converges_at_first_order_and_heun_at_second():
    euler = [toy_error(FlowEulerSampler(n)) for n in (8, 16, 32, 64)]
    heun = [toy_error(FlowHeunSampler(n, final_euler=False)) for n in (8, 16, 32, 64)]
    euler_orders = [math.log2(a / b) for a, b in zip(euler, euler[1:])]
    heun_orders = [math.log2(a / b) for a, b in zip(heun, heun[1:])]
    assert all(0.8 < p < 1.2 for p in euler_orders), euler_orders
    assert heun_orders[-1] > 1.8 and all(p > 1.1 for p in heun_orders), heun_orders
    assert heun[0] < euler[-1]  # 8 Heun steps (16 calls) beat 64 Euler steps here


def test_heun_counts_its_network_calls():
    calls = []

    def counting(x, t):
        calls.append(float(t[0]))
        return torch.zeros_like(x)

    for sampler in (FlowHeunSampler(4), FlowHeunSampler(4, final_euler=False), FlowEulerSampler(4),
                    FlowHeunSampler.for_calls(10), FlowHeunSampler.for_calls(5)):
        calls.clear()
        sample(counting, sampler, noise=torch.zeros(1, 1, 2, 2), show_progress=False)
        assert len(calls) == sampler.network_calls
        assert isinstance(sampler, Sampler)
    assert FlowHeunSampler.for_calls(10).network_calls == 9
    with pytest.raises(ValueError, match="network_calls"):
        FlowHeunSampler.for_calls(0)


def test_a_continuous_time_unet_takes_float_times_and_samples_through_the_one_loop():
    config = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, continuous_time=True)
    torch.manual_seed(0)
    model = TinyUNet(config).eval()
    x = torch.randn(2, 1, 28, 28)
    a, b = model(x, torch.tensor([0.25, 0.25])), model(x, torch.tensor([0.75, 0.75]))
    assert a.shape == x.shape and not torch.allclose(a, b)
    out = sample(model, FlowHeunSampler(2), noise=x, show_progress=False, return_trajectory=True)
    assert out.timesteps == [1.0, 0.5] and len(out.trajectory) == 3 and torch.isfinite(out.images).all()


def test_the_ddpm_path_is_a_rescaled_flow_path_with_the_same_noise_to_signal_ratio():
    schedule = make_schedule("linear")
    g = torch.Generator().manual_seed(7)
    x0, eps = torch.randn(1, 1, 4, 4, generator=g), torch.randn(1, 1, 4, 4, generator=g)
    for t in (10, 300, 900):
        abar = schedule.alphas_cumprod[t]
        x_ddpm = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
        tau = flow_time_from_abar(abar)
        rescaled = x_ddpm / (abar.sqrt() + (1 - abar).sqrt())
        assert torch.allclose(rescaled.float(), flow_interpolate(x0, eps, float(tau)), atol=1e-6)


def test_straightness_is_one_for_a_straight_path_and_less_for_a_bent_one():
    from course_utils.flow import path_straightness

    start, end = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    line = [start + k / 4 * (end - start) for k in range(5)]
    assert torch.allclose(path_straightness(line), torch.ones(2, dtype=torch.float64))
    corner = [start, start + torch.tensor([1.0, 0, 0, 0]).view(1, 1, 2, 2), end]
    bent = path_straightness(corner)
    assert bool((bent < 1).all()) and bent[0].item() == pytest.approx(2 / (1 + 3**0.5))
    with pytest.raises(ValueError, match="two points"):
        path_straightness([start])


def test_a_ddpm_x_t_rescaled_lies_on_the_straight_path_and_the_clean_image_stays():
    from course_utils.flow import ddpm_to_flow

    x0 = torch.randn(1, 1, 4, 4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(ddpm_to_flow(x0, torch.tensor(1.0)), x0)
