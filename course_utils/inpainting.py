"""Inpainting: fill in the hidden part of a digit with a model trained on whole digits (notebook 7).

Replacement (Song et al. 2021, App. I; RePaint, Lugmayr et al. 2022): after every sampling step,
the known pixels are overwritten with the known image noised to the same step, so the model only
invents the masked part, consistently with what is kept:

    x_prev = mask * q_sample(x_known, t_prev) + (1 - mask) * x_prev        (mask = 1: known)

``resample`` = r > 1 repeats each step after noising back one step (RePaint's "resampling"), which
lets the invented part agree better with the kept part. The loop is :func:`samplers.sample`'s: the
merge is its ``after_step`` hook and the resampling its ``repeats``.

Shapes: images (B, 1, 28, 28) in [-1, 1]; mask (B or 1, 1, 28, 28) with 1 where the pixel is known.
"""

from __future__ import annotations

import torch

from .forward import q_sample
from .samplers import SampleOutput, model_device, sample


def inpaint_merge(x_generated: torch.Tensor, x_known_t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Keep the known pixels, take the rest from the sampler: mask * x_known_t + (1 - mask) * x_generated.

    ``mask`` is 1 where the pixel is known and 0 where the model fills it in; it broadcasts
    against the images (e.g. (1, 1, 28, 28) for one mask shared by the batch).
    """
    return mask * x_known_t + (1 - mask) * x_generated


def half_mask(side: str = "bottom", size: int = 28) -> torch.Tensor:
    """A (1, 1, size, size) mask that keeps one half of the image: 1 = known, 0 = to fill in.

    ``side`` names the half that is *hidden*: "bottom", "top", "left" or "right".
    """
    mask = torch.ones(1, 1, size, size)
    half = size // 2
    region = {"bottom": (slice(half, None), slice(None)), "top": (slice(None, half), slice(None)),
              "right": (slice(None), slice(half, None)), "left": (slice(None), slice(None, half))}
    if side not in region:
        raise ValueError(f"side must be one of {sorted(region)}, got {side!r}")
    rows, cols = region[side]
    mask[:, :, rows, cols] = 0
    return mask


def inpaint(
    model,
    sampler,
    known: torch.Tensor,
    mask: torch.Tensor,
    *,
    labels: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    resample: int = 1,
    merge=inpaint_merge,
    show_progress: bool = True,
) -> SampleOutput:
    """Fill in the pixels where ``mask`` is 0, keeping ``known`` where it is 1.

    After every step t -> t_prev the known pixels are replaced by ``q_sample(known, t_prev)``
    (fresh noise from ``generator``; at the last step, ``known`` itself) using ``merge``.
    With ``resample`` = r > 1 each step is repeated r times (RePaint, Lugmayr et al. 2022).
    ``known`` (B, C, H, W); ``mask`` broadcasts against it; ``labels`` (B,) for conditional models.
    """
    if isinstance(resample, bool) or not isinstance(resample, int) or resample < 1:
        raise ValueError(f"resample must be a whole number >= 1, got {resample!r}")
    device = model_device(model, known.device)
    known = known.to(device)
    mask = mask.to(device=device, dtype=known.dtype)
    if noise is None:
        noise = torch.randn(known.shape, generator=generator)

    def keep_known(x_prev: torch.Tensor, t: int, t_prev: int) -> torch.Tensor:
        known_prev = known if t_prev < 0 else q_sample(known, t_prev, sampler.schedule, generator=generator)
        return merge(x_prev, known_prev, mask)

    return sample(model, sampler, noise=noise, labels=labels, generator=generator, device=device,
                  show_progress=show_progress, after_step=keep_known, repeats=resample, desc="inpainting")


__all__ = ["inpaint_merge", "half_mask", "inpaint"]
