"""Inpainting: fill in the hidden part of a digit with a model trained on whole digits (notebook 7).

Replacement (Song et al. 2021, App. I; RePaint, Lugmayr et al. 2022): after every sampling step,
the known pixels are overwritten with the known image noised to the same step, so the model only
invents the masked part, consistently with what is kept:

    x_prev = mask * q_sample(x_known, t_prev) + (1 - mask) * x_prev        (mask = 1: known)

``resample`` = r > 1 repeats each step after noising back one step (RePaint's "resampling"), which
lets the invented part agree better with the kept part. The loop is :func:`samplers.sample`'s: inpainting
wraps the sampler (:class:`KeepKnown`), merging after each of its steps and repeating them.

Shapes: images (B, 1, 28, 28) in [-1, 1]; mask (B or 1, 1, 28, 28) with 1 where the pixel is known.
"""

from __future__ import annotations

import torch

from .forward import q_renoise, q_sample
from .samplers import SampleOutput, model_device, sample
from .validation import check_finite, course_images, float_images, whole_number


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
    whole_number(size, "size", low=2)
    mask = torch.ones(1, 1, size, size)
    half = size // 2
    region = {"bottom": (slice(half, None), slice(None)), "top": (slice(None, half), slice(None)),
              "right": (slice(None), slice(half, None)), "left": (slice(None), slice(None, half))}
    if side not in region:
        raise ValueError(f"side must be one of {sorted(region)}, got {side!r}")
    rows, cols = region[side]
    mask[:, :, rows, cols] = 0
    return mask


class KeepKnown:
    """A sampler that wraps another: after each of its steps the known pixels are put back, noised to t_prev.

    With ``resample`` = r > 1 each step is taken r times: after all but the last, x_prev is noised
    back to step t with q(x_t | x_{t_prev}) and stepped again (RePaint's resampling, Lugmayr et al. 2022).
    It keeps the :class:`course_utils.samplers.Sampler` contract, so :func:`samplers.sample` runs it.
    """

    multistep = False

    def __init__(self, sampler, known: torch.Tensor, mask: torch.Tensor, *, resample: int = 1, merge=None):
        whole_number(resample, "resample", low=1)
        if resample > 1 and sampler.multistep:
            raise ValueError(f"{sampler.name} remembers its previous step, so it cannot repeat steps (resample > 1, "
                             "RePaint's resampling); use DDPMSampler or DDIMSampler for that")
        self.sampler, self.known, self.mask, self.resample = sampler, known, mask, resample
        self.merge = inpaint_merge if merge is None else merge
        self.name = sampler.name

    @property
    def num_steps(self) -> int:
        return self.sampler.num_steps

    @property
    def network_calls(self) -> int:
        return self.sampler.network_calls * self.resample

    def timesteps(self):
        return self.sampler.timesteps()

    def reset(self) -> None:
        self.sampler.reset()

    def advance(self, predict, x_t, t, t_prev, generator=None):
        schedule = self.sampler.schedule
        for r in range(self.resample):
            x_prev, x0_hat = self.sampler.advance(predict, x_t, t, t_prev, generator)
            known_prev = self.known if t_prev < 0 else q_sample(self.known, t_prev, schedule, generator=generator)
            x_prev = self.merge(x_prev, known_prev, self.mask)
            if r == self.resample - 1 or t_prev < 0:
                break
            x_t = q_renoise(x_prev, t_prev, t, schedule, generator=generator)
        return x_prev, x0_hat


def _check_mask(mask, known: torch.Tensor) -> torch.Tensor:
    """``mask`` as a float tensor of 0s and 1s that broadcasts against ``known`` (B, C, H, W)."""
    mask = float_images(mask.float() if isinstance(mask, torch.Tensor) and mask.dtype == torch.bool else mask,
                        "mask", dims=4)
    try:
        torch.broadcast_shapes(mask.shape, known.shape)
    except RuntimeError:
        raise ValueError(f"mask {tuple(mask.shape)} must broadcast against the images {tuple(known.shape)}, e.g. "
                         "(1, 1, 28, 28) for one mask shared by every image (half_mask makes one)") from None
    check_finite(mask, "mask")
    if bool(((mask < 0) | (mask > 1)).any()):
        raise ValueError("mask must hold 1 where a pixel is known and 0 where it is filled in (values in [0, 1])")
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
    known = course_images(known, "known (the images to fill in)")
    device = model_device(model, known.device)
    known = known.to(device)
    mask = _check_mask(mask, known).to(device=device)
    wrapped = KeepKnown(sampler, known, mask, resample=resample, merge=merge)
    if noise is None:
        noise = torch.randn(known.shape, generator=generator)
    return sample(model, wrapped, noise=noise, labels=labels, generator=generator, device=device,
                  show_progress=show_progress, desc="inpainting")


__all__ = ["KeepKnown", "inpaint_merge", "half_mask", "inpaint"]
