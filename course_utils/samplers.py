"""Samplers: turning pure noise into images with a trained eps-model.

The model is an argument, never a global. Every sampler has the same loop
(:func:`sample`) and differs only in two things:

    sampler.timesteps()                       -> [(t, t_prev), ...] from noisy to clean
    sampler.step(eps, t, t_prev, x_t, gen)    -> (x_{t_prev}, x0_hat)

``t_prev = -1`` means "the clean image". Any callable ``model(x_t, t, labels)``
that returns eps works, including :class:`ClassifierFreeGuidance`, which
wraps a class-conditional model.

Key from code names to symbols (see also GLOSSARY.md):
    eps -> eps_theta(x_t, t)     x0_hat -> predicted x_0     eta -> η
    sigma -> σ_t, the std of the fresh noise added in a step
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from .env import progress
from .forward import predict_eps_from_x0, predict_x0_from_eps, q_posterior_mean_variance, randn_like
from .schedules import NoiseSchedule


def _abar(schedule: NoiseSchedule, t: int, like: torch.Tensor) -> torch.Tensor:
    """abar_t as a scalar tensor on ``like``'s device; abar_{-1} = 1 (the clean image)."""
    if t < 0:
        return torch.ones((), device=like.device, dtype=like.dtype)
    return schedule.alphas_cumprod[t].to(device=like.device, dtype=like.dtype)


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
    x0_hat = (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()
    sigma = ddim_sigma(abar_t, abar_prev, eta)
    direction = (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps  # "direction pointing to x_t"
    return abar_prev.sqrt() * x0_hat + direction + sigma * z


def slerp(z0: torch.Tensor, z1: torch.Tensor, alpha: float) -> torch.Tensor:
    """Spherical interpolation between two noise batches (B, ...), the angle taken per image:

        theta = arccos(<z0, z1> / (|z0| |z1|)),
        slerp = (sin((1 - alpha) theta) z0 + sin(alpha theta) z1) / sin(theta).

    alpha = 0 gives z0, alpha = 1 gives z1; in between the norm stays near that of
    Gaussian noise, where a straight line would shrink it (Shoemake 1985; Song et al. 2021, Sec. 6).
    Falls back to the straight line when z0 and z1 are (almost) parallel.
    """
    flat0, flat1 = z0.flatten(1), z1.flatten(1)
    cos = (flat0 * flat1).sum(1) / (flat0.norm(dim=1) * flat1.norm(dim=1))
    theta = cos.clamp(-1, 1).acos().view(-1, *([1] * (z0.dim() - 1)))
    sin = theta.sin()
    straight = (1 - alpha) * z0 + alpha * z1
    curved = (((1 - alpha) * theta).sin() * z0 + (alpha * theta).sin() * z1) / sin.clamp(min=1e-8)
    return torch.where(sin > 1e-6, curved, straight)


class DDPMSampler:
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
        return self.schedule.num_steps

    def timesteps(self) -> list[tuple[int, int]]:
        return [(t, t - 1) for t in reversed(range(self.schedule.num_steps))]

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


class DDIMSampler:
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
        if not 1 <= num_steps <= schedule.num_steps:
            raise ValueError(f"num_steps must be between 1 and T={schedule.num_steps}, got {num_steps}")
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        self.schedule = schedule
        self.num_steps = num_steps
        self.eta = eta
        self.clip_x0 = clip_x0

    def timesteps(self) -> list[tuple[int, int]]:
        ts = torch.linspace(self.schedule.num_steps - 1, 0, self.num_steps).round().long().tolist()
        ts = list(dict.fromkeys(ts))  # drop repeats, keep order
        return list(zip(ts, ts[1:] + [-1]))

    def sigma(self, t: int, t_prev: int, like: torch.Tensor) -> torch.Tensor:
        """sigma_t of Eq. 16 (Song et al. 2021) for a step from t to t_prev."""
        return ddim_sigma(_abar(self.schedule, t, like), _abar(self.schedule, t_prev, like), self.eta)

    def step(self, eps, t: int, t_prev: int, x_t, generator=None):
        x0_hat = predict_x0_from_eps(x_t, t, eps, self.schedule)
        if self.clip_x0:
            x0_hat = x0_hat.clamp(-1, 1)
            eps = predict_eps_from_x0(x_t, t, x0_hat, self.schedule)  # keep eps consistent with x0_hat
        fresh = self.eta > 0 and t_prev >= 0
        z = randn_like(x_t, generator) if fresh else torch.zeros_like(x_t)
        x_prev = ddim_step(x_t, eps, _abar(self.schedule, t, x_t), _abar(self.schedule, t_prev, x_t), self.eta, z)
        return x_prev, x0_hat


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance, the course's one convention (Ho & Salimans 2022, Eq. 6 rewritten):

        eps_guided = eps_uncond + scale * (eps_cond - eps_uncond)

    scale = 0: the unconditional model; scale = 1: the plain conditional model
    ("no guidance"); scale > 1: pushed further towards the label.
    """
    return eps_uncond + scale * (eps_cond - eps_uncond)


class ClassifierFreeGuidance:
    """Wrap a class-conditional eps-model so that calling it returns the guided eps.

    ``ClassifierFreeGuidance(model, scale)(x_t, t, labels)`` evaluates the model
    with the labels and with the null label (in one batch) and combines them with
    :func:`guided_eps`. Use it anywhere a model goes, e.g. ``sample(guided, ...)``.
    """

    def __init__(self, model, scale: float):
        if not getattr(model, "is_conditional", False):
            raise ValueError("classifier-free guidance needs a class-conditional model (num_classes set)")
        self.model = model
        self.scale = scale

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("guidance needs labels: pass labels=(B,) digits to sample()")
        null = torch.full_like(labels, self.model.null_label)
        if self.scale == 1:
            return self.model(x_t, t, labels)
        if self.scale == 0:
            return self.model(x_t, t, null)
        eps_cond, eps_uncond = self.model(
            torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, null])
        ).chunk(2)
        return guided_eps(eps_cond, eps_uncond, self.scale)


@dataclass
class SampleOutput:
    """What :func:`sample` returns. Trajectories are kept on the CPU."""

    images: torch.Tensor  # (N, C, H, W), the final samples, in about [-1, 1]
    timesteps: list[int] = field(default_factory=list)  # t of each step, noisy to clean
    trajectory: list[torch.Tensor] | None = None  # x_t before each step, then the final image
    pred_x0: list[torch.Tensor] | None = None  # x0_hat at each step
    seconds: float = 0.0  # wall time


@torch.no_grad()
def sample(
    model,
    sampler,
    num_images: int | None = None,
    *,
    noise: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    image_shape: tuple[int, int, int] = (1, 28, 28),
    return_trajectory: bool = False,
    show_progress: bool = True,
) -> SampleOutput:
    """Run ``sampler`` from pure noise to images with ``model``; the one loop every sampler shares.

    Give either ``num_images`` (noise is drawn with ``generator``) or the starting
    ``noise`` itself (N, C, H, W). ``labels`` (N,) go to the model for conditional
    sampling. With ``return_trajectory`` the output keeps x_t and x0_hat at every step.
    """
    if noise is None:
        if num_images is None:
            raise ValueError("give num_images or the starting noise")
        noise = torch.randn((num_images, *image_shape), generator=generator)
    device = torch.device(device) if device is not None else next(_parameters(model), noise).device
    x = noise.to(device)  # a new tensor on `device` (or the caller's, never changed in place)
    if labels is not None:
        labels = torch.as_tensor(labels, device=device).long()
        if labels.shape != (x.shape[0],):
            raise ValueError(f"labels must have shape ({x.shape[0]},), got {tuple(labels.shape)}")
    out = SampleOutput(images=x, trajectory=[] if return_trajectory else None, pred_x0=[] if return_trajectory else None)
    start = time.perf_counter()
    steps = sampler.timesteps()
    bar_options = {} if show_progress else {"disable": True}
    for t, t_prev in progress(steps, desc=f"{sampler.name} sampling", **bar_options):
        t_batch = torch.full((x.shape[0],), t, device=device, dtype=torch.long)
        eps = model(x, t_batch, labels) if labels is not None else model(x, t_batch)
        if return_trajectory:
            out.trajectory.append(x.cpu())
        x, x0_hat = sampler.step(eps, t, t_prev, x, generator)
        if return_trajectory:
            out.pred_x0.append(x0_hat.cpu())
        out.timesteps.append(t)
    if return_trajectory:
        out.trajectory.append(x.cpu())
    out.images = x
    out.seconds = time.perf_counter() - start
    return out


def _parameters(model):
    inner = getattr(model, "model", model)  # see through ClassifierFreeGuidance
    return inner.parameters() if hasattr(inner, "parameters") else iter(())


@torch.no_grad()
def ddim_invert(model, x0: torch.Tensor, schedule: NoiseSchedule, num_steps: int = 50, labels=None) -> torch.Tensor:
    """Run deterministic DDIM (η = 0) backwards: a clean image -> the noise that DDIM would turn into it.

    Each step applies the DDIM update from t_prev to t with eps evaluated at the
    current, less noisy point (Song et al. 2021, Sec. 4.3; the usual approximation).
    """
    sampler = DDIMSampler(schedule, num_steps=num_steps, eta=0.0, clip_x0=False)
    x = x0.clone()
    for t, t_prev in reversed(sampler.timesteps()):
        t_in = max(t_prev, 0)
        t_batch = torch.full((x.shape[0],), t_in, device=x.device, dtype=torch.long)
        eps = model(x, t_batch, labels) if labels is not None else model(x, t_batch)
        abar_prev, abar_t = _abar(schedule, t_prev, x), _abar(schedule, t, x)
        x0_hat = (x - (1 - abar_prev).sqrt() * eps) / abar_prev.sqrt()
        x = abar_t.sqrt() * x0_hat + (1 - abar_t).sqrt() * eps
    return x
