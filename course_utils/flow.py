"""Flow matching: straight paths from data to noise, and the velocity that walks them back.

Conditional flow matching with the straight ("rectified flow") path (Lipman et al. 2023, Liu et al.
2023; Stable Diffusion 3, Esser et al. 2024). Time is continuous, ``t`` in [0, 1]:

    x_t = (1 - t) x_0 + t eps,          eps ~ N(0, I)           t = 0: the data, t = 1: pure noise
    v   = d x_t / d t = eps - x_0                                the velocity along that path

A network v_theta(x_t, t) is trained to regress v (:func:`flow_matching_loss`); its
minimiser is the average velocity E[eps - x_0 | x_t], the field of an ODE

    dx/dt = v_theta(x, t)

that carries N(0, I) at t = 1 to the data at t = 0. Sampling integrates it from t = 1 down to
t = 0 with a few Euler or Heun steps (:mod:`course_utils.samplers`). The same network also
predicts the clean image and the noise:

    x0_hat  = x_t - t v                 eps_hat = x_t + (1 - t) v

The diffusion of notebooks 2-6 is the same family of Gaussian paths, x_t = a x_0 + s eps,
with a = sqrt(abar), s = sqrt(1 - abar) instead of a = 1 - t, s = t: :func:`flow_time_from_abar`
maps one onto the other.

Key from code names to symbols (GLOSSARY.md): ``t`` -> t in [0, 1] (flow time, 1 = noise);
``velocity`` -> v = eps - x_0; ``time_sampling`` -> the distribution of t during training.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

TIME_SAMPLING = ("uniform", "logit-normal")


def _per_image(t: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """``t`` (a number, or (B,)) as a (B, 1, 1, 1) tensor on ``like``'s device and dtype, to broadcast over images."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        t = t.expand(like.shape[0])
    return t.reshape(-1, *([1] * (like.dim() - 1)))


def flow_interpolate(x0: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
    """The point at time ``t`` on the straight path from ``x0`` (t = 0) to ``noise`` (t = 1):

        x_t = (1 - t) x_0 + t eps

    ``x0`` and ``noise`` (B, C, H, W); ``t`` a number or (B,) in [0, 1].
    """
    t = _per_image(t, x0)
    return (1 - t) * x0 + t * noise


def flow_velocity(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The velocity of the straight path, v = d x_t / dt = eps - x_0 (the same at every t)."""
    return noise - x0


def flow_x0_from_velocity(x_t: torch.Tensor, t, velocity: torch.Tensor) -> torch.Tensor:
    """The clean image the velocity points back to: x0_hat = x_t - t v (walk the straight line to t = 0)."""
    return x_t - _per_image(t, x_t) * velocity


def flow_matching_loss(
    model: nn.Module,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """The conditional flow-matching loss for given t and eps (Lipman et al. 2023, Eq. 23; Liu et al. 2023):

        mean over the batch and pixels of (v_theta(x_t, t) - (eps - x_0))^2,   x_t = (1 - t) x_0 + t eps

    ``x0`` and ``noise`` (B, C, H, W); ``t`` (B,) floats in [0, 1]; ``labels`` (B,) or None.
    """
    x_t = flow_interpolate(x0, noise, t)
    prediction = model(x_t, t) if labels is None else model(x_t, t, labels)
    return F.mse_loss(prediction, flow_velocity(x0, noise))


def sample_flow_times(
    n: int, time_sampling: str = "uniform", generator: torch.Generator | None = None, device="cpu"
) -> torch.Tensor:
    """``n`` training times t in (0, 1), drawn on the CPU with ``generator`` and moved to ``device``.

    ``"uniform"``: t ~ U(0, 1). ``"logit-normal"``: t = sigmoid(u), u ~ N(0, 1), which puts more of
    the training on the middle times, where predicting the velocity is hardest (Esser et al. 2024,
    Sec. 3.1, "lognorm(0, 1)": Stable Diffusion 3's choice).
    """
    if time_sampling == "uniform":
        t = torch.rand(n, generator=generator)
    elif time_sampling == "logit-normal":
        t = torch.sigmoid(torch.randn(n, generator=generator))
    else:
        raise ValueError(f"time_sampling must be one of {TIME_SAMPLING}, got {time_sampling!r}")
    return t.to(device)


def flow_time_from_abar(abar) -> torch.Tensor:
    """The flow time with the same signal-to-noise ratio as a diffusion step with abar_t.

    A diffusion x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps, divided by sqrt(abar) + sqrt(1 - abar),
    is the flow point x_t' = (1 - t) x_0 + t eps with t = sqrt(1 - abar) / (sqrt(abar) + sqrt(1 - abar)):
    both have noise-to-signal ratio t / (1 - t) = sqrt((1 - abar) / abar).
    """
    abar = torch.as_tensor(abar, dtype=torch.float64)
    signal, noise = abar.sqrt(), (1 - abar).sqrt()
    return noise / (signal + noise)


def logit_normal_density(t) -> torch.Tensor:
    """The density of the logit-normal(0, 1) distribution of training times at ``t`` in (0, 1)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    u = torch.log(t / (1 - t))
    return torch.exp(-u**2 / 2) / (math.sqrt(2 * math.pi) * t * (1 - t))
