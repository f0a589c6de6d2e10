"""Checks for notebooks 1-3: noise by hand, the closed form and schedules, learning to denoise."""

from __future__ import annotations

import math

import torch

from .. import forward, model, schedules
from .core import Case, Exercise, KnownMistake, register, run_check

_g = torch.Generator().manual_seed(1234)
_x = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1  # images in [-1, 1]
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_schedule = schedules.make_schedule("linear", 1000)
_t = torch.tensor([0, 10, 500, 999])

# ---------------------------------------------------------------- notebook 1

register(Exercise("nb01.add_noise", "01_adding_noise_by_hand", "add_noise",
                  "additive Gaussian noise x + σε", "easy", forward.add_noise))


def check_add_noise(add_noise):
    """Check ``add_noise(x, sigma, noise) -> x + sigma * noise``."""
    return run_check(
        "nb01.add_noise", add_noise,
        [Case((_x, 0.5, _eps), label="sigma=0.5"), Case((_x, 0.0, _eps), label="sigma=0"), Case((_x[:1], 2.0, _eps[:1]), label="sigma=2")],
        mistakes=(
            KnownMistake(lambda x, s, n: x + s**2 * n, "σ is a standard deviation: multiply the noise by σ, not σ²."),
            KnownMistake(lambda x, s, n: x * s * n, "Noise is added to the image, not multiplied with it."),
            KnownMistake(lambda x, s, n: x + n, "Scale the noise by σ before adding it."),
            KnownMistake(lambda x, s, n: s * n, "Keep the image: the result is the image plus the scaled noise."),
        ),
    )


register(Exercise("nb01.noising_step", "01_adding_noise_by_hand", "noising_step",
                  "one variance-preserving step √(1-β)x + √β ε", "easy", forward.noising_step))


def check_noising_step(noising_step):
    """Check ``noising_step(x_prev, beta, noise) -> sqrt(1 - beta) x_prev + sqrt(beta) noise``."""
    return run_check(
        "nb01.noising_step", noising_step,
        [Case((_x, 0.02, _eps), label="beta=0.02"), Case((_x, 0.5, _eps), label="beta=0.5"), Case((_x, 1e-4, _eps), label="beta=1e-4")],
        mistakes=(
            KnownMistake(lambda x, b, n: math.sqrt(1 - b) * x + b * n, "Forgot the square root on β: the noise's *standard deviation* is √β."),
            KnownMistake(lambda x, b, n: x + math.sqrt(b) * n, "Scale the image by √(1-β) too, or its variance grows every step."),
            KnownMistake(lambda x, b, n: (1 - b) * x + math.sqrt(b) * n, "Forgot the square root on (1-β)."),
            KnownMistake(lambda x, b, n: (1 - b) * x + b * n, "Both coefficients need square roots: √(1-β) and √β."),
            KnownMistake(lambda x, b, n: math.sqrt(b) * x + math.sqrt(1 - b) * n, "The coefficients are swapped: the image keeps √(1-β), the noise gets √β."),
        ),
    )


register(Exercise("nb01.variance_after_steps", "01_adding_noise_by_hand", "variance_after_steps",
                  "why the variance tends to 1", "medium", forward.variance_after_steps))


def check_variance_after_steps(variance_after_steps):
    """Check ``variance_after_steps(var0, beta, num_steps) -> float``."""
    return run_check(
        "nb01.variance_after_steps", variance_after_steps,
        [Case((0.3, 0.02, 1), label="one step"), Case((0.3, 0.02, 100), label="100 steps"), Case((4.0, 0.1, 7), label="var0=4"),
         Case((1.0, 0.05, 50), label="var0=1 stays 1")],
        mistakes=(
            KnownMistake(lambda v, b, n: (1 - b) ** n * v, "Each step also *adds* noise of variance β; the signal part alone is not enough."),
            KnownMistake(lambda v, b, n: v + n * b, "The image is scaled by (1-β) each step before noise is added."),
            KnownMistake(lambda v, b, n: math.sqrt(1 - b) ** n * v + (1 - math.sqrt(1 - b) ** n),
                         "Variances scale with the *square* of the coefficient: (√(1-β))² = 1-β per step."),
        ),
        generic_hint="Write one step as v → (1-β)·v + β and apply it num_steps times (a loop is fine).",
        rtol=1e-6,
    )


# ---------------------------------------------------------------- notebook 2

register(Exercise("nb02.alphas_cumprod", "02_forward_process_and_schedules", "alphas_cumprod_from_betas",
                  "ᾱ_t as a running product", "easy", schedules.alphas_cumprod_from_betas))


def check_alphas_cumprod(alphas_cumprod_from_betas):
    """Check ``alphas_cumprod_from_betas(betas) -> abar`` (same shape as betas)."""
    betas = schedules.linear_betas(1000).float()
    return run_check(
        "nb02.alphas_cumprod", alphas_cumprod_from_betas,
        [Case((betas,), label="linear, T=1000"), Case((torch.tensor([0.1, 0.2, 0.3]),), label="three steps")],
        mistakes=(
            KnownMistake(lambda b: torch.cumprod(b, 0), "Multiply the α_t = 1 - β_t, not the β_t."),
            KnownMistake(lambda b: 1 - torch.cumsum(b, 0), "ᾱ is a running *product* of (1 - β_t), not 1 minus a sum."),
            KnownMistake(lambda b: torch.cat([torch.ones(1), torch.cumprod(1 - b, 0)[:-1]]),
                         "Off by one: ᾱ_0 already includes step 0, so ᾱ_0 = 1 - β_0."),
            KnownMistake(lambda b: torch.prod(1 - b).expand_as(b), "Use a cumulative product (torch.cumprod), one value per t."),
        ),
    )


register(Exercise("nb02.q_sample", "02_forward_process_and_schedules", "q_sample",
                  "the closed form q(x_t | x_0)", "medium", forward.q_sample))


def check_q_sample(q_sample):
    """Check ``q_sample(x0, t, schedule, noise) -> x_t``."""
    abar = lambda t: _schedule.alphas_cumprod[t].view(-1, 1, 1, 1)  # noqa: E731
    return run_check(
        "nb02.q_sample", q_sample,
        [Case((_x, _t, _schedule, _eps), label="t = 0, 10, 500, 999"), Case((_x[:2], torch.tensor([250, 250]), _schedule, _eps[:2]), label="t = 250")],
        mistakes=(
            KnownMistake(lambda x, t, s, n: abar(t) * x + (1 - abar(t)) * n, "Forgot the square roots: √ᾱ_t and √(1-ᾱ_t) are standard deviations' scales."),
            KnownMistake(lambda x, t, s, n: (1 - abar(t)).sqrt() * x + abar(t).sqrt() * n, "The coefficients are swapped: the image keeps √ᾱ_t."),
            KnownMistake(lambda x, t, s, n: s.alphas[t].view(-1, 1, 1, 1).sqrt() * x + s.betas[t].view(-1, 1, 1, 1).sqrt() * n,
                         "That is a single step (α_t, β_t); the closed form uses the cumulative ᾱ_t."),
            KnownMistake(lambda x, t, s, n: abar(t).sqrt() * x + (1 - abar(t)).sqrt() * n * 0 + x * 0, "Add the noise term."),
        ),
        generic_hint="Index the schedule with t and reshape to (B, 1, 1, 1) so it broadcasts over the image: schedule.alphas_cumprod[t].view(-1, 1, 1, 1).",
    )


register(Exercise("nb02.snr_db", "02_forward_process_and_schedules", "snr_db",
                  "signal-to-noise ratio in decibels", "easy", schedules.snr_db))


def check_snr_db(snr_db):
    """Check ``snr_db(alphas_cumprod) -> 10 log10(abar / (1 - abar))``."""
    abar = _schedule.alphas_cumprod
    return run_check(
        "nb02.snr_db", snr_db,
        [Case((abar,), label="linear schedule"), Case((torch.tensor([0.5, 0.9, 0.01]),), label="abar = 0.5, 0.9, 0.01")],
        mistakes=(
            KnownMistake(lambda a: a / (1 - a), "That is the SNR itself; convert to decibels with 10·log10."),
            KnownMistake(lambda a: 20 * torch.log10(a / (1 - a)), "SNR is a power ratio: decibels are 10·log10, not 20·log10."),
            KnownMistake(lambda a: 10 * torch.log(a / (1 - a)), "Use log base 10 (torch.log10), not the natural log."),
            KnownMistake(lambda a: 10 * torch.log10((1 - a) / a), "Signal over noise: ᾱ on top, (1-ᾱ) below."),
        ),
    )


# ---------------------------------------------------------------- notebook 3

register(Exercise("nb03.timestep_embedding", "03_learning_to_denoise", "sinusoidal_timestep_embedding",
                  "telling the network which step it is on", "medium", model.sinusoidal_timestep_embedding))


def check_timestep_embedding(sinusoidal_timestep_embedding):
    """Check ``sinusoidal_timestep_embedding(t, dim) -> (B, dim)``: sines then cosines."""
    def freqs(dim):
        return torch.exp(-math.log(10_000.0) * torch.arange(dim // 2).float() / (dim // 2))

    return run_check(
        "nb03.timestep_embedding", sinusoidal_timestep_embedding,
        [Case((torch.tensor([0, 1, 10, 999]), 16), label="dim=16"), Case((torch.tensor([5, 500]), 64), label="dim=64")],
        mistakes=(
            KnownMistake(lambda t, d: torch.cat([torch.cos(t.float()[:, None] * freqs(d)), torch.sin(t.float()[:, None] * freqs(d))], 1),
                         "Sines first, then cosines."),
            KnownMistake(lambda t, d: torch.stack([torch.sin(t.float()[:, None] * freqs(d)), torch.cos(t.float()[:, None] * freqs(d))], 2).flatten(1),
                         "Concatenate all sines, then all cosines (torch.cat along dim 1), instead of interleaving them."),
            KnownMistake(lambda t, d: torch.cat([torch.sin(t.float()[:, None] * freqs(d) * 0 + t.float()[:, None]), torch.cos(t.float()[:, None] * 0 + t.float()[:, None]).expand(-1, d // 2)], 1),
                         "Each feature needs its own frequency w_i = 10000^(-i/(dim/2))."),
        ),
        generic_hint="Frequencies w_i = exp(-ln(10000) · i / (dim/2)) for i = 0..dim/2-1; angles = t[:, None] * w[None, :].",
    )


register(Exercise("nb03.x0_from_eps", "03_learning_to_denoise", "predict_x0_from_eps",
                  "recovering the image from predicted noise", "medium", forward.predict_x0_from_eps))


def check_x0_from_eps(predict_x0_from_eps):
    """Check ``predict_x0_from_eps(x_t, t, eps, schedule) -> x0_hat``."""
    x_t = forward.q_sample(_x, _t, _schedule, _eps)
    sa = lambda t: _schedule.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1)  # noqa: E731
    s1 = lambda t: _schedule.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1)  # noqa: E731
    return run_check(
        "nb03.x0_from_eps", predict_x0_from_eps,
        [Case((x_t, _t, _eps, _schedule), label="t = 0, 10, 500, 999"),
         Case((x_t[2:3], _t[2:3], _eps[2:3], _schedule), label="one image at t = 500")],
        mistakes=(
            KnownMistake(lambda x, t, e, s: (x + s1(t) * e) / sa(t), "Sign error: subtract the noise term before dividing."),
            KnownMistake(lambda x, t, e, s: x - s1(t) * e, "Divide by √ᾱ_t at the end: x_t holds only √ᾱ_t times the image."),
            KnownMistake(lambda x, t, e, s: (x - s1(t) ** 2 * e) / sa(t) ** 2, "Forgot the square roots."),
        ),
        generic_hint="Solve x_t = √ᾱ_t·x_0 + √(1-ᾱ_t)·ε for x_0.",
        atol=1e-3,
    )
