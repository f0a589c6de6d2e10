"""Checks for notebook 2, the forward process and schedules: alphas_cumprod, q_sample, snr_db."""

from __future__ import annotations

import torch

from .. import forward, schedules
from .core import Case, Exercise, KnownMistake, register, run_check

_g = torch.Generator().manual_seed(1234)
_x = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1  # images in [-1, 1]
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_schedule = schedules.make_schedule("linear", 1000)
_t = torch.tensor([0, 10, 500, 999])

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
