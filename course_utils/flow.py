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


def ddpm_to_flow(x_t: torch.Tensor, abar) -> torch.Tensor:
    """A DDPM's x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps, rescaled onto the straight path: x_t / (sqrt(abar) +
    sqrt(1 - abar)) = (1 - t) x_0 + t eps with t = :func:`flow_time_from_abar` (abar = 1: the clean image)."""
    abar = torch.as_tensor(abar, dtype=torch.float64)
    return x_t / float(abar.sqrt() + (1 - abar).sqrt())


def path_straightness(trajectory) -> torch.Tensor:
    """How straight each image's sampling path is: the distance from its start to its end divided by the length
    of the path it took, |x_end - x_start| / sum_k |x_{k+1} - x_k|. 1 for a straight line, less for a curved one.

    ``trajectory``: the points x_k of the path in order, each (B, C, H, W) (e.g. ``sample(...,
    return_trajectory=True).trajectory``, in one model's coordinates). Returns (B,).
    """
    points = [p.flatten(1).double() for p in trajectory]
    if len(points) < 2:
        raise ValueError("a path needs at least two points")
    length = sum((b - a).norm(dim=1) for a, b in zip(points, points[1:]))
    return (points[-1] - points[0]).norm(dim=1) / length.clamp(min=1e-12)


def logit_normal_density(t) -> torch.Tensor:
    """The density of the logit-normal(0, 1) distribution of training times at ``t`` in (0, 1)."""
    t = torch.as_tensor(t, dtype=torch.float64)
    u = torch.log(t / (1 - t))
    return torch.exp(-u**2 / 2) / (math.sqrt(2 * math.pi) * t * (1 - t))


# ----------------------------------------------------------------------------- sampling: the ODE from t = 1 to 0


def flow_euler_step(x_t: torch.Tensor, velocity: torch.Tensor, t, t_prev) -> torch.Tensor:
    """One Euler step of dx/dt = v from time ``t`` to ``t_prev`` < t (towards the data):

        x_{t_prev} = x_t + (t_prev - t) v         (a step of length t - t_prev against the velocity)
    """
    return x_t + (t_prev - t) * velocity


def flow_times(num_steps: int, shift: float = 1.0) -> list[tuple[float, float]]:
    """``num_steps`` steps from t = 1 (noise) to t = 0 (the data), as (t, t_prev) pairs.

    Evenly spaced in t for ``shift`` = 1; ``shift`` > 1 moves them towards the noisy end with
    t -> shift t / (1 + (shift - 1) t) (Esser et al. 2024, Sec. 5.3.2: Stable Diffusion 3's time shift).
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a whole number >= 1, got {num_steps!r}")
    if isinstance(shift, bool) or not isinstance(shift, (int, float)) or not math.isfinite(shift) or shift <= 0:
        raise ValueError(f"shift must be a number > 0 (1: evenly spaced), got {shift!r}")
    ts = [1 - i / num_steps for i in range(num_steps + 1)]
    ts = [shift * t / (1 + (shift - 1) * t) for t in ts]
    ts[-1] = 0.0
    return list(zip(ts[:-1], ts[1:]))


class FlowEulerSampler:
    """Euler's method on the flow ODE dx/dt = v_theta(x, t), from t = 1 to t = 0: one network call per step.

        v      = v_theta(x_t, t)
        x_prev = x_t + (t_prev - t) v                     (:func:`flow_euler_step`)
        x0_hat = x_t - t v                                (where the straight line through x_t ends)

    First order: halving the step size halves the error. On a perfectly straight path one step is exact.
    """

    name = "Euler"
    multistep = False

    def __init__(self, num_steps: int = 10, shift: float = 1.0):
        self._times = flow_times(num_steps, shift)
        self.num_steps = num_steps
        self.shift = shift

    @property
    def network_calls(self) -> int:
        return self.num_steps

    def timesteps(self) -> list[tuple[float, float]]:
        return list(self._times)

    def reset(self) -> None:
        """Nothing to forget: each step uses only its own velocity."""

    def advance(self, predict, x_t: torch.Tensor, t: float, t_prev: float, generator=None):
        velocity = predict(x_t, t)
        return flow_euler_step(x_t, velocity, t, t_prev), flow_x0_from_velocity(x_t, t, velocity)


class FlowHeunSampler(FlowEulerSampler):
    """Heun's method (the trapezoidal rule with an Euler predictor) on the flow ODE: two calls per step.

        v1      = v_theta(x_t, t)
        x_euler = x_t + (t_prev - t) v1                   (Euler's guess)
        v2      = v_theta(x_euler, t_prev)                (the velocity where that guess lands)
        x_prev  = x_t + (t_prev - t) (v1 + v2) / 2        (the average of the two slopes)

    Second order: halving the step size quarters the error (Karras et al. 2022, Algorithm 1, which also
    takes the last step, into t = 0, with Euler alone; ``final_euler`` does the same here). Network calls
    per sample: 2 per step, one less with ``final_euler``.
    """

    name = "Heun"

    def __init__(self, num_steps: int = 5, shift: float = 1.0, final_euler: bool = True):
        super().__init__(num_steps, shift)
        self.final_euler = final_euler

    @classmethod
    def for_calls(cls, network_calls: int, **options) -> FlowHeunSampler:
        """The Heun sampler with the most steps that calls the network at most ``network_calls`` times."""
        final_euler = options.get("final_euler", True)
        steps = (network_calls + 1) // 2 if final_euler else network_calls // 2
        if isinstance(network_calls, bool) or not isinstance(network_calls, int) or steps < 1:
            raise ValueError(f"network_calls must be a whole number >= {2 - final_euler} for Heun, got {network_calls!r}")
        return cls(steps, **options)

    @property
    def network_calls(self) -> int:
        return 2 * self.num_steps - (1 if self.final_euler else 0)

    def advance(self, predict, x_t: torch.Tensor, t: float, t_prev: float, generator=None):
        v1 = predict(x_t, t)
        x_euler = flow_euler_step(x_t, v1, t, t_prev)
        if self.final_euler and t_prev == 0:
            return x_euler, flow_x0_from_velocity(x_t, t, v1)
        v2 = predict(x_euler, t_prev)
        return flow_euler_step(x_t, (v1 + v2) / 2, t, t_prev), flow_x0_from_velocity(x_t, t, v1)
