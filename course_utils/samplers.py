"""Samplers: turning pure noise into images with a trained model.

The model is an argument, never a global. Every sampler runs in the same loop
(:func:`sample`) and keeps the written contract :class:`Sampler`:

    sampler.timesteps()                                  -> [(t, t_prev), ...] from noisy to clean
    sampler.advance(predict, x_t, t, t_prev, generator)  -> (x_{t_prev}, x0_hat)

``predict(x, t)`` calls the model at time t (with the run's labels), as often as the step
needs: once for DDPM, DDIM and DPM-Solver++, twice for Heun's method (:mod:`course_utils.flow`).
Samplers that call it once (:class:`OneCallSampler`) only write
``step(prediction, t, t_prev, x_t, generator)``.

For the DDPM samplers here ``t`` is a step index and ``t_prev = -1`` means "the clean image";
:func:`spaced_timesteps` spreads fewer steps over the T of a schedule. Any callable
``model(x_t, t, labels)`` that returns eps works, including the guidance wrappers of
:mod:`course_utils.guidance`. :func:`call_model` is the one place that calls a model with or
without labels. Inpainting (:mod:`course_utils.inpainting`) wraps a sampler.

Key from code names to symbols (see also GLOSSARY.md):
    eps -> eps_theta(x_t, t)     x0_hat -> predicted x_0     eta -> η
    sigma -> σ_t, the std of the fresh noise added in a step
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch

from .env import available_memory, check_device, progress
from .forward import ImageGenerators, predict_eps_from_x0, predict_x0_from_eps, q_posterior_mean_variance, randn_like
from .schedules import NoiseSchedule
from .validation import check_finite, check_labels, course_images, finite_output, float_images, real_number, whole_number


def ddpm_step(x_t: torch.Tensor, t: int, eps: torch.Tensor, schedule: NoiseSchedule, z: torch.Tensor) -> torch.Tensor:
    """Algorithm 2, line 4 of Ho et al. (2020), with the fresh noise ``z`` given:

        x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) * eps) / sqrt(alpha_t) + sigma_t * z,
        sigma_t^2 = beta~_t (the posterior variance; 0 at t = 0, so the last step adds no noise).
    """
    beta = schedule.at("betas", t, x_t)
    mean = (x_t - beta / schedule.at("sqrt_one_minus_alphas_cumprod", t, x_t) * eps) / schedule.at("alphas", t, x_t).sqrt()
    return mean + schedule.at("posterior_variance", t, x_t).sqrt() * z


def ddim_sigma(abar_t, abar_prev, eta: float):
    """sigma_t of Eq. 16 (Song et al. 2021): eta * sqrt((1 - abar_prev)/(1 - abar_t)) * sqrt(1 - abar_t/abar_prev)."""
    abar_t, abar_prev = torch.as_tensor(abar_t), torch.as_tensor(abar_prev)
    return eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, abar_t, abar_prev, eta: float, z: torch.Tensor) -> torch.Tensor:
    """One DDIM update from x_t to x_prev, Eq. 12 of Song et al. (2021), with the fresh noise ``z`` given:

        x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
        x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma z,   sigma = ddim_sigma(...)

    ``abar_t`` and ``abar_prev`` are numbers or 0-d tensors (abar_prev = 1 for the clean image).
    """
    abar_t = torch.as_tensor(abar_t, dtype=x_t.dtype, device=x_t.device)
    abar_prev = torch.as_tensor(abar_prev, dtype=x_t.dtype, device=x_t.device)
    sigma = ddim_sigma(abar_t, abar_prev, eta)
    return ddim_move(x_t, eps, abar_t, abar_prev, sigma) + sigma * z


def ddim_move(x: torch.Tensor, eps: torch.Tensor, abar_from, abar_to, sigma=0.0) -> torch.Tensor:
    """The deterministic part of a DDIM update, from noise level abar_from to abar_to (Eq. 12 of Song et al. 2021):

        x0_hat = (x - sqrt(1 - abar_from) eps) / sqrt(abar_from)
        return   sqrt(abar_to) x0_hat + sqrt(1 - abar_to - sigma^2) eps     ("direction pointing to x_t")

    :func:`ddim_step` moves down in noise (abar_to > abar_from); :func:`ddim_invert` moves up.
    ``abar_from`` and ``abar_to`` are 0-d tensors on ``x``'s device.
    """
    x0_hat = (x - (1 - abar_from).sqrt() * eps) / abar_from.sqrt()
    direction = (1 - abar_to - sigma**2).clamp(min=0).sqrt() * eps
    return abar_to.sqrt() * x0_hat + direction


def slerp(z0: torch.Tensor, z1: torch.Tensor, fraction: float) -> torch.Tensor:
    """Spherical interpolation between two noise batches (B, ...), the angle taken per image:

        theta = arccos(<z0, z1> / (|z0| |z1|)),
        slerp = (sin((1 - u) theta) z0 + sin(u theta) z1) / sin(theta).

    ``fraction`` = u in [0, 1], how far along: u = 0 gives z0, u = 1 gives z1; in between the norm stays near that of
    Gaussian noise, where a straight line would shrink it (Shoemake 1985; Song et al. 2021, Sec. 6).
    Falls back to the straight line when z0 and z1 are (almost) parallel.
    """
    flat0, flat1 = z0.flatten(1), z1.flatten(1)
    cos = (flat0 * flat1).sum(1) / (flat0.norm(dim=1) * flat1.norm(dim=1))
    theta = cos.clamp(-1, 1).acos().view(-1, *([1] * (z0.dim() - 1)))
    sin = theta.sin()
    straight = (1 - fraction) * z0 + fraction * z1
    curved = (((1 - fraction) * theta).sin() * z0 + (fraction * theta).sin() * z1) / sin.clamp(min=1e-8)
    return torch.where(sin > 1e-6, curved, straight)


Predict = Callable[[torch.Tensor, object], torch.Tensor]  # predict(x, t): the model's output at time t


@runtime_checkable
class Sampler(Protocol):
    """What :func:`sample` asks of a sampler: the contract every sampler of the course keeps.

    ``name``            a short name for progress bars and tables ("DDIM", "Heun", ...)
    ``num_steps``       the number of steps (pairs in ``timesteps()``)
    ``network_calls``   model calls per sample (= num_steps, except for samplers like Heun's)
    ``multistep``       True if a step uses what earlier steps predicted (then steps cannot be repeated)
    ``timesteps()``     [(t, t_prev), ...] from the noisiest t to the clean image
    ``reset()``         forget what the last run left behind; :func:`sample` calls it before every run
    ``advance(predict, x_t, t, t_prev, generator)`` -> (x_prev, x0_hat): one step from t to t_prev, calling
                        ``predict(x, t)`` for the model's output; fresh noise, if any, comes from ``generator``
    """

    name: str
    multistep: bool

    @property
    def num_steps(self) -> int: ...

    @property
    def network_calls(self) -> int: ...

    def timesteps(self) -> list[tuple]: ...

    def reset(self) -> None: ...

    def advance(self, predict: Predict, x_t: torch.Tensor, t, t_prev, generator=None) -> tuple[torch.Tensor, torch.Tensor]: ...


class OneCallSampler:
    """Base of the samplers that call the model once per step; they write ``step`` instead of ``advance``:

        step(prediction, t, t_prev, x_t, generator) -> (x_prev, x0_hat)
    """

    name = "sampler"
    multistep = False

    @property
    def network_calls(self) -> int:
        return self.num_steps

    def reset(self) -> None:
        """Nothing to forget: each step uses only its own prediction."""

    def advance(self, predict: Predict, x_t: torch.Tensor, t, t_prev, generator=None):
        return self.step(predict(x_t, t), t, t_prev, x_t, generator)


def check_num_steps(num_steps, most: int | None = None, what: str = "num_steps (sampling steps)") -> int:
    """``num_steps`` if it is a whole number from 1 to ``most`` (a schedule's T; None: no limit), or a clear error."""
    return whole_number(num_steps, what, low=1, high=most, bounds=f"from 1 to T={most}" if most else None)


def spaced_timesteps(num_timesteps: int, num_steps: int) -> list[tuple[int, int]]:
    """``num_steps`` of a schedule's T steps, evenly spread from T-1 down to 0, as (t, t_prev) pairs.

    The last pair ends at t_prev = -1, the clean image. num_steps <= T evenly spaced points from T-1
    down to 0 are at least 1 apart, so none repeats. (DDIM's and DPM-Solver++'s timesteps.)
    """
    check_num_steps(num_steps, num_timesteps)
    ts = torch.linspace(num_timesteps - 1, 0, num_steps).round().long().tolist()
    return list(zip(ts, ts[1:] + [-1]))


class DDPMSampler(OneCallSampler):
    """Ancestral sampling, Algorithm 2 of Ho et al. (2020): all T steps, fresh noise at each.

    One step draws x_{t-1} from q(x_{t-1} | x_t, x0_hat), the forward posterior
    with the predicted clean image plugged in:

        x0_hat  = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)           (clipped to [-1, 1])
        x_{t-1} = mu~_t(x0_hat, x_t) + sqrt(beta~_t) z,   z ~ N(0, I)

    Without clipping this is exactly Algorithm 2, line 4:
        x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma_t z,
    with sigma_t^2 = beta~_t (the "lower bound" choice of Ho et al., Sec. 3.2).
    """

    name = "DDPM"

    def __init__(self, schedule: NoiseSchedule, clip_x0: bool = True):
        self.schedule = schedule
        self.clip_x0 = clip_x0

    @property
    def num_steps(self) -> int:
        """Network calls per sample: all T timesteps."""
        return self.schedule.num_timesteps

    def timesteps(self) -> list[tuple[int, int]]:
        return [(t, t - 1) for t in reversed(range(self.schedule.num_timesteps))]

    def step(self, eps, t: int, t_prev: int, x_t, generator=None):
        if t_prev != t - 1:
            raise ValueError("DDPM steps one timestep at a time; use DDIMSampler to skip steps")
        x0_hat = predict_x0_from_eps(x_t, t, eps, self.schedule)
        z = randn_like(x_t, generator) if t > 0 else torch.zeros_like(x_t)  # no noise on the final image
        if not self.clip_x0:
            return ddpm_step(x_t, t, eps, self.schedule, z), x0_hat
        x0_hat = x0_hat.clamp(-1, 1)
        mean, variance = q_posterior_mean_variance(x0_hat, x_t, t, self.schedule)
        return mean + variance.sqrt() * z, x0_hat


class DDIMSampler(OneCallSampler):
    """DDIM (Song et al. 2021): any number of steps, with η setting how much fresh noise each adds.

        x0_hat  = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)                  (Eq. 12, "predicted x_0")
        sigma   = η sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)   (Eq. 16)
        x_prev  = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma z  (Eq. 12)

    η = 0: deterministic (the same starting noise always gives the same image).
    η = 1 with all T steps: sigma^2 equals the DDPM posterior variance beta~_t.
    The timesteps are spread evenly from T-1 down to 0 (``num_steps`` of them).
    """

    name = "DDIM"

    def __init__(self, schedule: NoiseSchedule, num_steps: int = 50, eta: float = 0.0, clip_x0: bool = True):
        check_num_steps(num_steps, schedule.num_timesteps)
        real_number(eta, "eta", low=0, why=" (0: deterministic, 1: like DDPM)")
        self.schedule = schedule
        self.num_steps = num_steps
        self.eta = eta
        self.clip_x0 = clip_x0

    def timesteps(self) -> list[tuple[int, int]]:
        return spaced_timesteps(self.schedule.num_timesteps, self.num_steps)

    def step(self, eps, t: int, t_prev: int, x_t, generator=None):
        x0_hat = predict_x0_from_eps(x_t, t, eps, self.schedule)
        if self.clip_x0:
            x0_hat = x0_hat.clamp(-1, 1)
            eps = predict_eps_from_x0(x_t, t, x0_hat, self.schedule)  # keep eps consistent with x0_hat
        fresh = self.eta > 0 and t_prev >= 0
        z = randn_like(x_t, generator) if fresh else torch.zeros_like(x_t)
        x_prev = ddim_step(x_t, eps, self.schedule.abar(t, x_t), self.schedule.abar(t_prev, x_t), self.eta, z)
        return x_prev, x0_hat


def second_order_x0(x0_hat: torch.Tensor, x0_hat_prev: torch.Tensor, h, h_prev) -> torch.Tensor:
    """DPM-Solver++(2M)'s corrected data prediction for a step of size h (Lu et al. 2022, Algorithm 2):

        D = x0_hat + (h / (2 h_prev)) (x0_hat - x0_hat_prev)

    x0_hat is predicted at the start of this step, x0_hat_prev at the start of the previous one, h_prev
    earlier in lambda. Treating x0_hat as a straight line in lambda through the two, D is that line's value
    halfway through the step ahead (the midpoint rule): the second-order replacement for DDIM's x0_hat.
    """
    return x0_hat + h / (2 * h_prev) * (x0_hat - x0_hat_prev)


class DPMSolverSampler(OneCallSampler):
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), and its stochastic variant.

    A second-order multistep solver of the same ODE that deterministic DDIM follows. In the
    half-log-SNR lambda_t = log(sqrt(abar_t) / sqrt(1 - abar_t)), a step from s to t (h = lambda_t - lambda_s > 0) is

        x0_hat = (x_s - sqrt(1 - abar_s) eps) / sqrt(abar_s)                     (clipped to [-1, 1])
        D      = x0_hat + (h / (2 h_prev)) (x0_hat - x0_hat_prev)                (first step: D = x0_hat)
        x_t    = sqrt((1 - abar_t) / (1 - abar_s)) x_s - sqrt(abar_t) (exp(-h) - 1) D   (exact with x0_hat = D)

    (Lu et al. write alpha_t for sqrt(abar_t) and sigma_t for sqrt(1 - abar_t); the course keeps alpha_t = 1 - beta_t
    and sigma_t for the fresh noise of a step, see GLOSSARY.md.) With D = x0_hat this is exactly deterministic DDIM;
    the correction uses the x0_hat of the previous step (kept between steps, so no extra network call) to make the
    step second order: fewer, larger steps stay accurate. ``stochastic=True`` gives SDE-DPM-Solver++(2M) (the
    stochastic form by the same authors; diffusers' "sde-dpmsolver++"), which adds fresh noise like DDPM:

        x_t = sqrt((1 - abar_t) / (1 - abar_s)) exp(-h) x_s + sqrt(abar_t) (1 - exp(-2h)) D
              + sqrt(1 - abar_t) sqrt(1 - exp(-2h)) z

    Timesteps are spread like DDIM's: ``num_steps`` network calls from T-1 down to 0. The last step
    (to the clean image, sigma = 0, an infinite h) is first order and returns x0_hat. With
    ``lower_order_final`` (the default) the step before it, into t = 0, is first order too: with evenly
    spaced t its h in lambda is the largest of the run (several times the one before), and extrapolating
    x0_hat that far is unstable. (The reference implementations do this for runs under 15 steps; on the
    toy problem of tests/test_dpm_solver.py it helps at 20 and 50 steps as well.)
    """

    multistep = True  # each step uses the x0_hat of the step before

    def __init__(self, schedule: NoiseSchedule, num_steps: int = 20, stochastic: bool = False, clip_x0: bool = True,
                 lower_order_final: bool = True):
        self._timesteps = spaced_timesteps(schedule.num_timesteps, num_steps)  # DDIM's, with its argument checks
        self.schedule = schedule
        self.num_steps = num_steps
        self.stochastic = stochastic
        self.clip_x0 = clip_x0
        self.lower_order_final = lower_order_final
        self._last_t = self._timesteps[-1][0]  # 0: the last noisy timestep
        self.name = "SDE-DPM++2M" if stochastic else "DPM++2M"
        self.reset()

    def reset(self) -> None:
        """Forget the previous step's x0_hat: :func:`sample` calls this before every run."""
        self._previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (x0_hat, lambda) of the last step

    def timesteps(self) -> list[tuple[int, int]]:
        return list(self._timesteps)

    def _scales_and_lambda(self, t: int, like: torch.Tensor):
        """sqrt(abar_t), sqrt(1 - abar_t) and lambda_t, in float64."""
        abar = self.schedule.abar(t, like).double()
        sqrt_abar, sqrt_one_minus_abar = abar.sqrt(), (1 - abar).sqrt()
        return sqrt_abar, sqrt_one_minus_abar, sqrt_abar.log() - sqrt_one_minus_abar.log()

    def step(self, eps, t: int, t_prev: int, x_t, generator=None):
        x0_hat = predict_x0_from_eps(x_t, t, eps, self.schedule)
        if self.clip_x0:
            x0_hat = x0_hat.clamp(-1, 1)
        if t_prev < 0:  # the clean image: no noise left, lambda = infinity; a first-order step lands on x0_hat
            self.reset()
            return x0_hat, x0_hat
        _, noise_s, lambda_s = self._scales_and_lambda(t, x_t)  # noise_s = sqrt(1 - abar_s)
        signal_t, noise_t, lambda_t = self._scales_and_lambda(t_prev, x_t)  # sqrt(abar_t), sqrt(1 - abar_t)
        h = lambda_t - lambda_s
        d = x0_hat
        first_order = self.lower_order_final and t_prev == self._last_t  # the step into the last timestep
        if self._previous is not None and not first_order:
            x0_hat_prev, lambda_prev = self._previous
            d = second_order_x0(x0_hat, x0_hat_prev, h.to(x_t.dtype), (lambda_s - lambda_prev).to(x_t.dtype))
        self._previous = (x0_hat, lambda_s)
        cast = {"dtype": x_t.dtype}
        if not self.stochastic:
            x_prev = (noise_t / noise_s).to(**cast) * x_t - (signal_t * torch.expm1(-h)).to(**cast) * d
        else:
            z = randn_like(x_t, generator)
            x_prev = ((noise_t / noise_s) * torch.exp(-h)).to(**cast) * x_t \
                - (signal_t * torch.expm1(-2 * h)).to(**cast) * d + (noise_t * (-torch.expm1(-2 * h)).sqrt()).to(**cast) * z
        return x_prev, x0_hat


def call_model(model, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """eps_theta(x_t, t[, labels]): the one place a sampler calls a model.

    Labels go to the model only when there are any, so unconditional models (which take no labels)
    and class-conditional ones or guidance wrappers (which do) are called the same way.
    """
    return model(x_t, t) if labels is None else model(x_t, t, labels)


def _first_weight(model) -> torch.Tensor | None:
    inner = getattr(model, "model", model)  # see through guidance wrappers
    return next(inner.parameters(), None) if hasattr(inner, "parameters") else None


def model_device(model, default: torch.device) -> torch.device:
    """The device of ``model``'s weights (seeing through guidance wrappers), or ``default`` if it has none."""
    weight = _first_weight(model)
    return default if weight is None else weight.device


def model_dtype(model) -> torch.dtype | None:
    """The dtype of ``model``'s weights (seeing through guidance wrappers), or None if it has none."""
    weight = _first_weight(model)
    return None if weight is None else weight.dtype


NULL_LABEL_HINT = ("For unconditional samples from a class-conditional model use ClassifierFreeGuidance(model, "
                   "guidance_scale=0) (the null label), not a label of its own.")


def label_classes(model) -> int:
    """How many classes the labels given to ``model`` may name: a guidance wrapper's or the model's ``num_classes``
    (the classifier's, for classifier guidance), or 10 digits for a model that does not say."""
    return getattr(model, "num_classes", None) or getattr(getattr(model, "config", None), "num_classes", None) or 10


@dataclass
class SampleOutput:
    """What :func:`sample` returns. Trajectories are kept on the CPU."""

    images: torch.Tensor  # (N, C, H, W), the final samples, in about [-1, 1]
    timesteps: list[int] = field(default_factory=list)  # t of each step, noisy to clean
    trajectory: list[torch.Tensor] | None = None  # x_t before each step, then the final image (of the kept images)
    x0_hat: list[torch.Tensor] | None = None  # the predicted x_0 at each step (of the kept images)
    seconds: float = 0.0  # wall time
    trajectory_images: list[int] | None = None  # which images the trajectory follows (None: all of them)


def time_batch(t, x: torch.Tensor) -> torch.Tensor:
    """The time ``t`` of a step as a (B,) tensor for the model: whole step indices as long, flow times as float."""
    dtype = torch.long if isinstance(t, int) else torch.float32
    return torch.full((x.shape[0],), t, device=x.device, dtype=dtype)


MEMORY_SHARE = 0.25  # of the free memory, at most MEMORY_CAP, for one chunk's network call
MEMORY_CAP = 2**30
BYTES_PER_ACTIVATION = 4 * 40  # float32 x about 40 feature maps of the image's size per base channel, kept at once


def chunk_size_for(model, image_shape: tuple[int, ...], device: torch.device, num_images: int) -> int:
    """How many images one network call takes at once: as many as fit in a quarter of the free memory
    (at most 1 GiB), by an estimate of the network's working memory per image (generous for the tiny U-Net:
    measured about 0.5 MiB per image, estimated 2 MiB), and never more than ``num_images``."""
    inner = getattr(model, "model", model)
    width = getattr(getattr(inner, "config", None), "base_channels", 64)
    per_image = BYTES_PER_ACTIVATION * width * math.prod(image_shape[1:])
    budget = min(MEMORY_SHARE * available_memory(device), MEMORY_CAP)
    return max(1, min(num_images, int(budget // per_image)))


def _starting_noise(num_images, noise, image_shape, generator, dtype) -> torch.Tensor:
    """The starting noise x_T: given (checked, other float dtypes converted to the model's ``dtype``) or drawn."""
    if noise is None:
        if num_images is None:
            raise ValueError("give num_images or the starting noise")
        whole_number(num_images, "num_images", low=1)
        return torch.randn((num_images, *image_shape), generator=generator)
    if num_images is not None and num_images != len(noise):
        raise ValueError(f"num_images ({num_images!r}) and the noise's {len(noise)} images disagree: give one of them")
    noise = float_images(noise, "noise", dims=None, dtype=dtype or (noise.dtype if isinstance(noise, torch.Tensor)
                                                                     and noise.is_floating_point() else torch.float32))
    if noise.dim() != 4 or noise.shape[0] < 1:
        raise ValueError(f"noise must hold at least one image, shape (N, C, H, W), got shape {tuple(noise.shape)}")
    return check_finite(noise, "the starting noise", "draw it with torch.randn")


def _trajectory_rows(return_trajectory: bool, trajectory_images, num_images: int) -> list[int] | None:
    """The images whose trajectory is kept: None for none, a list of indices (all of them for True)."""
    if trajectory_images is None:
        return list(range(num_images)) if return_trajectory else None
    rows = trajectory_images.tolist() if isinstance(trajectory_images, torch.Tensor) else list(trajectory_images)
    for i in rows:
        whole_number(i, "each of trajectory_images", low=0, high=num_images - 1, why=" (an image's index)")
    return rows


@torch.no_grad()
def sample(
    model,
    sampler: Sampler,
    num_images: int | None = None,
    *,
    noise: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    return_trajectory: bool = False,
    show_progress: bool = True,
    desc: str = "sampling",
    chunk_size: int | None = None,
    trajectory_images=None,
) -> SampleOutput:
    """Run ``sampler`` from pure noise to images with ``model``; the one loop every sampler shares.

    Give either ``num_images`` (noise is drawn with ``generator``) or the starting
    ``noise`` itself (N, C, H, W). ``labels`` (N,) digits 0-9 go to the model for conditional
    sampling. With ``return_trajectory`` the output keeps x_t and x0_hat at every step, for every image
    or, with ``trajectory_images`` (a few indices), for those only: a trajectory costs 2 x steps images.
    ``sampler`` is any :class:`Sampler`; it calls the model through ``predict(x, t)``.

    Memory does not grow with N: the network sees at most ``chunk_size`` images per call (default: as many
    as fit in the free memory, :func:`chunk_size_for`), while each step, and its fresh noise, is taken for the
    whole batch at once, so the images are the same for any ``chunk_size`` (up to float rounding in the
    network, about 1e-6, which batches of other sizes sum in another order). Fresh noise is drawn with
    ``generator`` for the whole batch (as a loop written by hand would draw it); with
    ``generator=ImageGenerators(torch.Generator().manual_seed(s), N)`` (:mod:`course_utils.forward`) each image
    draws its own, so an image is also the same whatever other images are sampled beside it (the benchmark does this).
    """
    noise = _starting_noise(num_images, noise, image_shape, generator, model_dtype(model))
    n = len(noise)
    device = check_device(device) if device is not None else model_device(model, noise.device)
    chunk = chunk_size_for(model, tuple(noise.shape), device, n) if chunk_size is None else \
        whole_number(chunk_size, "chunk_size", low=1, why=" (images per network call)")
    kept = _trajectory_rows(return_trajectory, trajectory_images, n)
    x = noise.to(device)  # a new tensor on `device` (or the caller's, never changed in place)
    labels = None if labels is None else check_labels(labels, n, label_classes(model), hint=NULL_LABEL_HINT, device=device)
    if isinstance(generator, ImageGenerators) and len(generator) != n:
        raise ValueError(f"generator holds {len(generator)} image streams (ImageGenerators), but {n} images are sampled")

    def predict(x_t: torch.Tensor, t) -> torch.Tensor:
        parts = [call_model(model, x_t[i : i + chunk], time_batch(t, x_t[i : i + chunk]),
                            None if labels is None else labels[i : i + chunk]) for i in range(0, len(x_t), chunk)]
        return finite_output(model, parts[0] if len(parts) == 1 else torch.cat(parts), "the model")

    sampler.reset()
    out = SampleOutput(images=x, trajectory=None if kept is None else [], x0_hat=None if kept is None else [],
                       trajectory_images=None if kept is None or len(kept) == n else kept)
    keep = (lambda v: v.cpu()) if kept is None or len(kept) == n else (lambda v: v[kept].cpu())
    start = time.perf_counter()
    bar_options = {} if show_progress else {"disable": True}
    for t, t_prev in progress(sampler.timesteps(), desc=f"{sampler.name} {desc}", **bar_options):
        if kept is not None:
            out.trajectory.append(keep(x))
        x, x0_hat = sampler.advance(predict, x, t, t_prev, generator)
        if kept is not None:
            out.x0_hat.append(keep(x0_hat))
        out.timesteps.append(t)
    if kept is not None:
        out.trajectory.append(keep(x))
    out.images = x
    out.seconds = time.perf_counter() - start
    return out


@torch.no_grad()
def ddim_invert(model, x0: torch.Tensor, schedule: NoiseSchedule, num_steps: int = 50, labels=None) -> torch.Tensor:
    """Run deterministic DDIM (η = 0) backwards: a clean image -> the noise that DDIM would turn into it.

    Each step applies the DDIM update from t_prev to t with eps evaluated at the
    current, less noisy point (Song et al. 2021, Sec. 4.3; the usual approximation).
    """
    x0 = course_images(x0, "the images to invert").to(model_device(model, x0.device))
    labels = None if labels is None else check_labels(labels, x0.shape[0], label_classes(model), hint=NULL_LABEL_HINT,
                                                      device=x0.device)
    x = x0.clone()
    for t, t_prev in reversed(spaced_timesteps(schedule.num_timesteps, num_steps)):
        t_batch = torch.full((x.shape[0],), max(t_prev, 0), device=x.device, dtype=torch.long)
        eps = call_model(model, x, t_batch, labels)
        x = ddim_move(x, eps, schedule.abar(t_prev, x), schedule.abar(t, x))
    return x
