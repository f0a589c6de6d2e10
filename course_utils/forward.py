"""The forward (noising) process q and the identities the samplers need.

Timesteps follow the convention in :mod:`course_utils.schedules`: code index
``t`` in [0, T-1]; ``x_t`` is the image after ``t + 1`` noising steps.
No function here changes a tensor it is given; the ones that draw noise take
an optional ``torch.Generator`` (noise is drawn on the CPU with it and moved
to the input's device, so results match across devices), or :class:`ImageGenerators`,
one generator per image, so that an image's noise does not depend on the images drawn beside it.
"""

from __future__ import annotations

import torch

from .schedules import NoiseSchedule


class ImageGenerators:
    """One ``torch.Generator`` per image of a batch, seeded from one ``generator``: image i's noise comes from its
    own stream, so it is the same whether the image is drawn alone, in a batch of 10 or of 1,000 (sampling in
    chunks of any size gives the same images). :func:`randn_like` draws row i of its noise from stream i.

    The streams are seeded the first time noise is drawn (a deterministic sampler leaves ``generator`` untouched).
    """

    def __init__(self, generator: torch.Generator, num_images: int):
        self._parent, self.num_images = generator, num_images
        self._streams: list[torch.Generator] | None = None

    def __len__(self) -> int:
        return self.num_images

    def __getitem__(self, images: slice) -> ImageGenerators:
        """The streams of some of the images (a slice), e.g. to sample those images again on their own."""
        part = ImageGenerators(self._parent, 0)
        part._streams = self.streams()[images]
        part.num_images = len(part._streams)
        return part

    def streams(self) -> list[torch.Generator]:
        if self._streams is None:
            seeds = torch.randint(0, 2**62, (self.num_images,), generator=self._parent).tolist()
            self._streams = [torch.Generator(device=self._parent.device).manual_seed(s) for s in seeds]
        return self._streams

    def randn_like(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != self.num_images:
            raise ValueError(f"ImageGenerators holds {self.num_images} streams, one per image, but noise for "
                             f"{x.shape[0]} images was asked for")
        out = torch.empty(x.shape, dtype=x.dtype, device=self._parent.device)
        for row, stream in zip(out, self.streams()):
            torch.randn(row.shape, generator=stream, dtype=x.dtype, device=self._parent.device, out=row)
        return out.to(x.device)


def randn_like(x: torch.Tensor, generator: torch.Generator | ImageGenerators | None = None) -> torch.Tensor:
    """Standard normal noise shaped like ``x``, drawn with ``generator`` (CPU) when given; with
    :class:`ImageGenerators`, each image's noise from its own stream."""
    if generator is None:
        return torch.randn_like(x)
    if isinstance(generator, ImageGenerators):
        return generator.randn_like(x)
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=generator.device).to(x.device)


def add_noise(x: torch.Tensor, sigma: float, noise: torch.Tensor) -> torch.Tensor:
    """Plain additive Gaussian noise, x + sigma * eps: the first thing notebook 1 does by hand."""
    return x + sigma * noise


def noising_step(x_prev: torch.Tensor, beta, noise: torch.Tensor) -> torch.Tensor:
    """One variance-preserving noising step: sqrt(1 - beta) * x_prev + sqrt(beta) * eps.

    ``beta`` is a float or a tensor that broadcasts against ``x_prev``.
    """
    beta = torch.as_tensor(beta, dtype=x_prev.dtype, device=x_prev.device)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise


def variance_after_steps(var0: float, beta: float, num_steps: int) -> float:
    """Pixel variance after ``num_steps`` noising steps of constant ``beta``, starting from ``var0``.

    Each step maps v -> (1 - beta) v + beta, so after n steps
    v_n = (1 - beta)^n var0 + (1 - (1 - beta)^n): it tends to 1 whatever var0 was.
    """
    keep = (1 - beta) ** num_steps
    return keep * var0 + (1 - keep)


def q_step(
    x_prev: torch.Tensor,
    t: torch.Tensor | int,
    schedule: NoiseSchedule,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One noising step, a sample of q(x_t | x_{t-1}) (Eq. 2 of Ho et al. 2020):

        x_t = sqrt(1 - beta_t) * x_{t-1} + sqrt(beta_t) * eps,    eps ~ N(0, I)

    ``x_prev`` is the image before step ``t`` (the clean image when t = 0).
    """
    if noise is None:
        noise = randn_like(x_prev, generator)
    return noising_step(x_prev, schedule.at("betas", t, x_prev), noise)


def q_sample(
    x0: torch.Tensor,
    t: torch.Tensor | int,
    schedule: NoiseSchedule,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Jump straight to step ``t``, a sample of q(x_t | x_0) (Eq. 4 of Ho et al. 2020):

        x_t = sqrt(abar_t) * x_0 + sqrt(1 - abar_t) * eps,    eps ~ N(0, I)

    Shapes: ``x0`` (B, C, H, W); ``t`` an int or (B,); ``noise`` like ``x0``.
    """
    if noise is None:
        noise = randn_like(x0, generator)
    return (
        schedule.at("sqrt_alphas_cumprod", t, x0) * x0
        + schedule.at("sqrt_one_minus_alphas_cumprod", t, x0) * noise
    )


def q_renoise(
    x_s: torch.Tensor, s: int, t: int, schedule: NoiseSchedule, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Noise an image at step ``s`` further, to a later step ``t`` > s: a sample of q(x_t | x_s).

        x_t = sqrt(abar_t / abar_s) * x_s + sqrt(1 - abar_t / abar_s) * eps,    eps ~ N(0, I)

    (The steps from s+1 to t in one jump; with s = t - 1 this is :func:`q_step`.) RePaint's
    resampling uses it to go back up one sampling step.
    """
    if not s < t:
        raise ValueError(f"q_renoise goes to a noisier step: need s < t, got s={s}, t={t}")
    ratio = schedule.abar(t, x_s) / schedule.abar(s, x_s)
    return ratio.sqrt() * x_s + (1 - ratio).sqrt() * randn_like(x_s, generator)


def predict_x0_from_eps(x_t: torch.Tensor, t, eps: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """Invert q_sample for x_0 given the noise: x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)."""
    return (x_t - schedule.at("sqrt_one_minus_alphas_cumprod", t, x_t) * eps) / schedule.at(
        "sqrt_alphas_cumprod", t, x_t
    )


def predict_eps_from_x0(x_t: torch.Tensor, t, x0: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """Invert q_sample for the noise given x_0: eps = (x_t - sqrt(abar_t) x_0) / sqrt(1 - abar_t)."""
    return (x_t - schedule.at("sqrt_alphas_cumprod", t, x_t) * x0) / schedule.at(
        "sqrt_one_minus_alphas_cumprod", t, x_t
    )


def q_posterior_mean_variance(
    x0: torch.Tensor, x_t: torch.Tensor, t, schedule: NoiseSchedule
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance of q(x_{t-1} | x_t, x_0) (Eqs. 6-7 of Ho et al. 2020).

        mu~_t   = coef1_t * x_0 + coef2_t * x_t
        beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)

    At t = 0 the variance is 0: the previous "step" is the clean image.
    """
    mean = schedule.at("posterior_mean_coef1", t, x_t) * x0 + schedule.at("posterior_mean_coef2", t, x_t) * x_t
    variance = schedule.at("posterior_variance", t, x_t)
    return mean, variance
