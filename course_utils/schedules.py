"""Noise schedules: how much noise each forward step adds.

Index convention (used everywhere in the course)
------------------------------------------------
There are ``T`` noising steps, numbered in code by ``t = 0, 1, ..., T-1``.
``x_0`` is a clean image. Step ``t`` adds noise of variance ``betas[t]``:

    x_{t+1} = sqrt(1 - beta_t) * x_t + sqrt(beta_t) * eps        (one step)

so the noisy image *after* step ``t`` has seen ``t + 1`` steps, and

    alphas_cumprod[t] = prod_{s=0..t} (1 - beta_s)                 (abar_t)

is the fraction of signal variance left in it. ``t = 0`` therefore means
"one small step of noise" (almost clean) and ``t = T-1`` means "all T steps"
(indistinguishable from N(0, I)). The network is told this integer ``t``.
This is the convention of improved-diffusion and diffusers; in Ho et al.
(2020) the same quantities carry the index ``t + 1``.

See ``course_utils/GLOSSARY.md`` for every name and its symbol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .validation import whole_number

SCHEDULE_NAMES = ("linear", "cosine")


def linear_betas(num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """beta_t rising linearly from ``beta_start`` to ``beta_end`` (Ho et al. 2020, Sec. 4).

    The endpoints are given for T = 1000 and rescaled for other T so that the
    total amount of noise stays comparable (as in improved-diffusion).
    """
    scale = 1000 / num_timesteps
    return torch.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=torch.float64)


def cosine_alphas_cumprod(num_timesteps: int = 1000, s: float = 0.008) -> torch.Tensor:
    """abar at the T+1 boundaries i/T, from Eq. 17 of Nichol & Dhariwal (2021), normalised to abar(0)=1."""
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return f / f[0]


def cosine_betas(num_timesteps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """beta_t = 1 - abar(t+1)/abar(t), clipped at ``max_beta`` (Nichol & Dhariwal 2021, Sec. 3.2)."""
    abar = cosine_alphas_cumprod(num_timesteps, s)
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


def alphas_cumprod_from_betas(betas: torch.Tensor) -> torch.Tensor:
    """abar_t = prod_{s=0..t} (1 - beta_s), for every t (the closed form's key quantity)."""
    return torch.cumprod(1 - betas, dim=0)


def alphas_cumprod_prev(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """abar_{t-1} for every t, with abar_{-1} = 1 (the clean image has all its signal)."""
    return torch.cat([torch.ones(1, dtype=alphas_cumprod.dtype, device=alphas_cumprod.device), alphas_cumprod[:-1]])


def posterior_variance(betas: torch.Tensor) -> torch.Tensor:
    """beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t) for every t (Eq. 7 of Ho et al. 2020).

    The variance of q(x_{t-1} | x_t, x_0); 0 at t = 0, where the previous "step" is the clean image.
    Computed in float64 (1 - abar_t is tiny at small t) and returned in ``betas``' dtype.
    """
    b = betas.double()
    abar = alphas_cumprod_from_betas(b)
    return (b * (1 - alphas_cumprod_prev(abar)) / (1 - abar)).to(betas.dtype)


def snr_db(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio of x_t in decibels: 10 log10(abar_t / (1 - abar_t))."""
    return 10 * torch.log10(alphas_cumprod / (1 - alphas_cumprod))


@dataclass(frozen=True)
class NoiseSchedule:
    """Every per-step quantity of one schedule, as 1-D float32 tensors of length T.

    Build one with :func:`make_schedule`. The arrays live on the CPU; use
    :meth:`at` to read them for a batch of timesteps on the batch's device.
    """

    name: str
    betas: torch.Tensor  # beta_t, noise variance added by step t
    alphas: torch.Tensor  # alpha_t = 1 - beta_t
    alphas_cumprod: torch.Tensor  # abar_t = prod_{s<=t} alpha_s
    alphas_cumprod_prev: torch.Tensor  # abar_{t-1}, with abar_{-1} = 1 (the clean image)
    sqrt_alphas_cumprod: torch.Tensor  # sqrt(abar_t): how much of x_0 is left
    sqrt_one_minus_alphas_cumprod: torch.Tensor  # sqrt(1 - abar_t): std of the noise in x_t
    posterior_variance: torch.Tensor  # beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)
    posterior_mean_coef1: torch.Tensor  # coefficient of x_0 in mu~_t (Eq. 7, Ho et al. 2020)
    posterior_mean_coef2: torch.Tensor  # coefficient of x_t in mu~_t

    @property
    def num_timesteps(self) -> int:
        """T, the number of noising steps (timesteps t = 0 ... T-1)."""
        return int(self.betas.shape[0])

    def abar(self, t: int, like: torch.Tensor) -> torch.Tensor:
        """abar_t for one integer step as a 0-d tensor on ``like``'s device; abar_{-1} = 1 (the clean image).

        Samplers step from t to t_prev = -1 at the end, so this accepts t = -1.
        """
        if t < 0:
            return torch.ones((), device=like.device, dtype=like.dtype)
        return self.alphas_cumprod[t].to(device=like.device, dtype=like.dtype)

    def at(self, name: str, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        """``self.<name>[t]`` shaped to broadcast against ``like`` (B, C, H, W) on its device.

        ``t`` is an int or a (B,) integer tensor of code timesteps in [0, T-1].
        """
        values = getattr(self, name).to(device=like.device, dtype=like.dtype)
        t = torch.as_tensor(t, device=like.device, dtype=torch.long)
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_timesteps):
            raise ValueError(f"timestep t must lie in [0, {self.num_timesteps - 1}], got {t.tolist()}")
        out = values[t]
        return out.reshape(out.shape + (1,) * (like.dim() - out.dim()))


def schedule_from_betas(name: str, betas: torch.Tensor) -> NoiseSchedule:
    """Derive every quantity of :class:`NoiseSchedule` from beta_t (in float64, stored as float32)."""
    betas = betas.to(torch.float64)
    if betas.dim() != 1 or not bool(((betas > 0) & (betas < 1)).all()):
        raise ValueError("betas must be a 1-D tensor with every value in (0, 1)")
    alphas = 1 - betas
    abar = alphas_cumprod_from_betas(betas)
    abar_prev = alphas_cumprod_prev(abar)
    fields = dict(
        betas=betas,
        alphas=alphas,
        alphas_cumprod=abar,
        alphas_cumprod_prev=abar_prev,
        sqrt_alphas_cumprod=abar.sqrt(),
        sqrt_one_minus_alphas_cumprod=(1 - abar).sqrt(),
        posterior_variance=posterior_variance(betas),
        posterior_mean_coef1=betas * abar_prev.sqrt() / (1 - abar),
        posterior_mean_coef2=(1 - abar_prev) * alphas.sqrt() / (1 - abar),
    )
    return NoiseSchedule(name=name, **{k: v.float() for k, v in fields.items()})


def make_schedule(name: str = "linear", num_timesteps: int = 1000) -> NoiseSchedule:
    """The ``"linear"`` (Ho et al. 2020) or ``"cosine"`` (Nichol & Dhariwal 2021) schedule with T steps."""
    whole_number(num_timesteps, "num_timesteps (T, the diffusion steps)", low=1)
    if name == "linear" and num_timesteps <= 20:  # its last beta, 0.02 * 1000 / T, must stay below 1
        raise ValueError(f"the linear schedule needs T >= 21 (its last beta is 20 / T, which must stay below 1), got "
                         f"num_timesteps={num_timesteps}; use the cosine schedule for fewer steps")
    if name == "linear":
        return schedule_from_betas(name, linear_betas(num_timesteps))
    if name == "cosine":
        return schedule_from_betas(name, cosine_betas(num_timesteps))
    raise ValueError(f"unknown schedule {name!r}; choose one of {SCHEDULE_NAMES}")
