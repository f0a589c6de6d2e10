"""The exact denoiser of a finite set of images: the best any network could do on that set.

Treat a set of N images x0^(i) as the whole data distribution, each equally likely. Then the
MSE-optimal answer to "which clean image made x_t?" needs no network. Bayes' rule with the
Gaussian q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) (Eq. 4 of Ho et al. 2020) gives

    w_i(x_t, t)   = p(x_0 = x0^(i) | x_t)  proportional to  exp(-||x_t - sqrt(abar_t) x0^(i)||^2 / (2 (1 - abar_t)))
    E[x_0 | x_t]  = sum_i w_i x0^(i)
    Var[x_0 | x_t] = sum_i w_i (x0^(i) - E[x_0 | x_t])^2            (per pixel)

One sampling step asks a smaller question, x_{t-1} given x_t: :meth:`ExactDenoiser.x_prev_mean_variance`.

:class:`ExactDenoiser` is also an eps-model, ``model(x_t, t)`` with eps = (x_t - sqrt(abar_t) E[x_0 | x_t]) /
sqrt(1 - abar_t), so the course's own samplers (:mod:`course_utils.samplers`) run on it unchanged.
Sampled with many small steps it returns training images themselves: a perfect denoiser of a finite
set memorises it. :func:`nearest_images` measures that.

Shapes: images (N, C, H, W); x_t (B, C, H, W); t an int or a (B,) integer tensor of steps in [0, T-1].
"""

from __future__ import annotations

import torch

from .forward import predict_eps_from_x0, q_posterior_mean_variance
from .schedules import NoiseSchedule


def effective_number(weights: torch.Tensor) -> torch.Tensor:
    """1 / sum_i w_i^2 for each row of weights (B, N) that sums to 1: how many images an average really mixes.

    1 when one image has all the weight, N when all N are equally likely. Returns (B,).
    """
    return 1 / weights.pow(2).sum(dim=-1)


class ExactDenoiser:
    """E[x_0 | x_t] over a fixed set of images, and the eps-model it defines (see the module docstring).

    ``images`` (N, C, H, W) in [-1, 1] are the whole "data set"; ``schedule`` gives abar_t.
    The distances are computed in float64 so that at small t, where 1 - abar_t is tiny, the
    weights stay accurate. Nothing here changes the tensors it is given.
    """

    def __init__(self, images: torch.Tensor, schedule: NoiseSchedule):
        if not isinstance(images, torch.Tensor) or images.dim() != 4 or len(images) < 1:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images must be a batch (N, C, H, W) with N >= 1, got {shape}")
        self.images = images
        self.schedule = schedule
        self._flat = images.flatten(1).double()  # (N, D)
        self._sq_norms = self._flat.pow(2).sum(dim=1)  # (N,)

    def _check(self, x_t: torch.Tensor) -> None:
        if x_t.dim() != 4 or tuple(x_t.shape[1:]) != tuple(self.images.shape[1:]):
            raise ValueError(f"x_t must have shape (B, {', '.join(map(str, self.images.shape[1:]))}), "
                             f"like the images, got {tuple(x_t.shape)}")

    def weights(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """p(x_0 = images[i] | x_t) for every image in x_t: (B, N), each row summing to 1."""
        self._check(x_t)
        x = x_t.flatten(1).double().to(self._flat.device)
        abar = self.schedule.at("alphas_cumprod", t, x).double().reshape(-1, 1)  # (B, 1) or (1, 1)
        # ||x_t - sqrt(abar) x0_i||^2 = ||x_t||^2 - 2 sqrt(abar) <x_t, x0_i> + abar ||x0_i||^2
        sq_dist = x.pow(2).sum(dim=1, keepdim=True) - 2 * abar.sqrt() * (x @ self._flat.T) + abar * self._sq_norms
        return torch.softmax(-sq_dist / (2 * (1 - abar)), dim=1)

    def x0_mean(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """E[x_0 | x_t], the MSE-optimal guess of the clean image: (B, C, H, W), on x_t's device and dtype."""
        mean = self.weights(x_t, t) @ self._flat
        return mean.reshape(x_t.shape).to(device=x_t.device, dtype=x_t.dtype)

    def x0_variance(self, x_t: torch.Tensor, t) -> torch.Tensor:
        """Var[x_0 | x_t] per pixel, (B, C, H, W): how uncertain the clean image still is given x_t."""
        w = self.weights(x_t, t)
        mean = w @ self._flat
        variance = (w @ self._flat.pow(2) - mean.pow(2)).clamp(min=0)
        return variance.reshape(x_t.shape).to(device=x_t.device, dtype=x_t.dtype)

    def x_prev_mean_variance(self, x_t: torch.Tensor, t) -> tuple[torch.Tensor, torch.Tensor]:
        """E[x_{t-1} | x_t] and Var[x_{t-1} | x_t] per pixel: what one small sampling step has to answer.

        Average q(x_{t-1} | x_t, x_0) (Eqs. 6-7 of Ho et al. 2020) over x_0 ~ p(x_0 | x_t). Its mean is linear
        in x_0, so
            E[x_{t-1} | x_t]   = mu~_t(E[x_0 | x_t], x_t) = coef1_t E[x_0 | x_t] + coef2_t x_t
            Var[x_{t-1} | x_t] = beta~_t + coef1_t^2 Var[x_0 | x_t]
        coef1_t is far below 1 except in the last few steps (it is 1 at t = 0), so x_{t-1} is much less
        uncertain than x_0.
        """
        mean, beta_tilde = q_posterior_mean_variance(self.x0_mean(x_t, t), x_t, t, self.schedule)
        coef1 = self.schedule.at("posterior_mean_coef1", t, x_t)
        return mean, beta_tilde + coef1.pow(2) * self.x0_variance(x_t, t)

    def __call__(self, x_t: torch.Tensor, t, labels=None) -> torch.Tensor:
        """The eps this denoiser implies, (x_t - sqrt(abar_t) E[x_0 | x_t]) / sqrt(1 - abar_t): an eps-model."""
        if labels is not None:
            raise ValueError("ExactDenoiser is unconditional: call it without labels")
        return predict_eps_from_x0(x_t, t, self.x0_mean(x_t, t), self.schedule)


def nearest_images(samples: torch.Tensor, images: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """For each sample (B, C, H, W), its nearest image in ``images`` (N, C, H, W) by Euclidean distance.

    Returns (distances (B,), indices (B,)). A distance near 0 means the sample is a copy of that image.
    Computed in float64 (so a copy reads ~1e-6, not float32's ~1e-2), ``chunk`` images at a time.
    """
    if samples.shape[1:] != images.shape[1:]:
        raise ValueError(f"samples {tuple(samples.shape)} and images {tuple(images.shape)} must have the same image shape")
    flat = samples.flatten(1).double()
    best = torch.full((len(samples),), float("inf"), dtype=torch.float64, device=flat.device)
    index = torch.zeros(len(samples), dtype=torch.long, device=flat.device)
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk].flatten(1).double().to(flat.device)
        distances, where = torch.cdist(flat, part).min(dim=1)
        closer = distances < best
        best = torch.where(closer, distances, best)
        index = torch.where(closer, where + start, index)
    return best.float(), index
