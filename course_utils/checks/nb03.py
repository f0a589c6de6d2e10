"""Checks for notebook 3, learning to denoise: the timestep embedding, x0 from eps."""

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
