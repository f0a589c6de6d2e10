"""DPM-Solver++(2M) and its SDE variant (samplers.DPMSolverSampler), against diffusers' implementation."""

import pytest
import torch

from course_utils.inpainting import KeepKnown
from course_utils.samplers import DDIMSampler, DPMSolverSampler, sample
from course_utils.schedules import make_schedule

S = make_schedule("linear", 1000)


V = 0.25  # the toy data: x0 ~ N(0, V I), whose exact eps-model is known


def exact_eps(x, t):
    """E[eps | x_t] for x0 ~ N(0, V I): sqrt(1 - abar_t) x_t / (abar_t V + 1 - abar_t)."""
    abar = S.alphas_cumprod.double()[t].view(-1, 1, 1, 1).to(x.dtype)
    return (1 - abar).sqrt() * x / (abar * V + 1 - abar)


def fake_model(x, t):
    """The exact eps of the toy data plus a smooth t-dependent wiggle, so every step's prediction differs."""
    return exact_eps(x, t) + 0.05 * torch.sin(3 * x + t.double().view(-1, 1, 1, 1).to(x.dtype) / 1000)


def _diffusers_run(algorithm, timesteps, noise, step_noises=None):
    # Compared without lower_order_final: our sampler makes the step into t = 0 first order (tested below against
    # DDIM's step); diffusers' option does that only for runs under 15 steps, and with given timesteps its result
    # there is not the first-order (DDIM) step.
    # imported here, not at the top: diffusers takes seconds to import, and only these comparisons need it
    diffusers = pytest.importorskip("diffusers", reason="diffusers is the independent reference (pip install diffusers)")
    scheduler = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear", algorithm_type=algorithm,
        solver_order=2, lower_order_final=False, final_sigmas_type="zero", thresholding=False)
    scheduler.set_timesteps(timesteps=timesteps)
    x = noise.clone()
    for i, t in enumerate(scheduler.timesteps):
        eps = fake_model(x, torch.full((len(x),), int(t)))
        variance = None if step_noises is None else step_noises[i]
        x = scheduler.step(eps, t, x, variance_noise=variance).prev_sample
    return x


@pytest.mark.parametrize("num_steps", [5, 10, 25])
def test_dpm_solver_pp_2m_matches_diffusers(num_steps):
    noise = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(num_steps))
    ours = DPMSolverSampler(S, num_steps, clip_x0=False, lower_order_final=False)
    timesteps = [t for t, _ in ours.timesteps()]
    got = sample(fake_model, ours, noise=noise, show_progress=False).images
    expected = _diffusers_run("dpmsolver++", timesteps, noise)
    assert torch.allclose(got, expected, atol=2e-4), (got - expected).abs().max()


def test_sde_variant_matches_diffusers_with_the_same_fresh_noise():
    noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    ours = DPMSolverSampler(S, 8, stochastic=True, clip_x0=False, lower_order_final=False)
    timesteps = [t for t, _ in ours.timesteps()]
    # our sampler draws one z per step except the last (the clean image): give diffusers the same draws
    g = torch.Generator().manual_seed(5)
    draws = [torch.randn(noise.shape, generator=g) for _ in range(len(timesteps) - 1)] + [torch.zeros_like(noise)]
    got = sample(fake_model, ours, noise=noise, generator=torch.Generator().manual_seed(5), show_progress=False).images
    expected = _diffusers_run("sde-dpmsolver++", timesteps, noise, step_noises=draws)
    assert torch.allclose(got, expected, atol=2e-4), (got - expected).abs().max()


def test_its_first_order_step_is_ddim_and_the_last_lands_on_x0_hat():
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    eps = fake_model(x, torch.full((2,), 700))
    dpm, ddim = DPMSolverSampler(S, 10, clip_x0=False), DDIMSampler(S, 10, clip_x0=False)
    ours, x0_hat = dpm.step(eps, 700, 600, x)  # no previous step yet: first order
    assert torch.allclose(ours, ddim.step(eps, 700, 600, x)[0], atol=1e-5)
    last, x0_last = dpm.step(eps, 20, -1, x)
    assert torch.equal(last, x0_last)


def test_the_step_into_the_last_timestep_is_first_order_unless_asked_otherwise():
    sampler = DPMSolverSampler(S, 5, clip_x0=False)
    (t2, t1), (t1_, t0) = sampler.timesteps()[-3:-1]
    assert t1 == t1_ and t0 == 0
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    for lower_order_final in (True, False):
        sampler = DPMSolverSampler(S, 5, clip_x0=False, lower_order_final=lower_order_final)
        y, _ = sampler.step(fake_model(x, torch.full((2,), t2)), t2, t1, x)  # remembered: second order is possible
        eps = fake_model(y, torch.full((2,), t1))
        into_zero, _ = sampler.step(eps, t1, t0, y)
        ddim_step, _ = DDIMSampler(S, 5, clip_x0=False).step(eps, t1, t0, y)
        assert torch.allclose(into_zero, ddim_step, atol=1e-5) == lower_order_final


def test_second_order_converges_faster_than_ddim_on_a_problem_with_a_known_answer():
    """For x0 ~ N(0, V I) the probability-flow ODE maps x_{T-1} to x_{T-1} sqrt(V / (abar_{T-1} V + 1 - abar_{T-1}))."""
    noise = torch.randn(64, 1, 4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    abar_T = S.alphas_cumprod.double()[-1]
    target = noise * (V / (abar_T * V + 1 - abar_T)).sqrt()

    def error(sampler):
        return (sample(exact_eps, sampler, noise=noise, show_progress=False).images - target).pow(2).mean().sqrt()

    ddim = {k: error(DDIMSampler(S, k, clip_x0=False)) for k in (10, 20, 50)}
    dpm = {k: error(DPMSolverSampler(S, k, clip_x0=False)) for k in (10, 20, 50)}
    assert all(dpm[k] < ddim[k] for k in ddim), (dpm, ddim)
    assert dpm[50] < ddim[50] / 10  # second order: the error falls much faster with more steps
    assert ddim[20] / ddim[50] < 3.5 < dpm[20] / dpm[50]  # DDIM's falls like 1/steps (first order)


def test_state_is_reset_between_runs_and_repeats_are_refused():
    noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    sampler = DPMSolverSampler(S, 6, clip_x0=False)
    first = sample(fake_model, sampler, noise=noise, show_progress=False).images
    again = sample(fake_model, sampler, noise=noise, show_progress=False).images
    assert torch.equal(first, again)
    with pytest.raises(ValueError, match="cannot repeat steps"):
        KeepKnown(sampler, noise, torch.ones_like(noise), resample=2)
    with pytest.raises(ValueError, match="whole number"):
        DPMSolverSampler(S, 2.5)
