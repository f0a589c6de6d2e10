"""From a prompt to a picture: the text-to-image model on the course's sampling loop (notebook 10).

The model of :mod:`course_utils.text2img` predicts a velocity from a noisy latent, a time and a prompt.
:func:`course_utils.samplers.sample` runs any model called as ``model(x, t)``, so a prompt is bound to the
model first, by :class:`PromptedModel`, and the loop is used unchanged:

    prompted = PromptedModel(model, ["a thick 4", "a thin 4"], guidance_scale=3)   # prompted(z_t, t) -> v
    latents  = sample(prompted, FlowEulerSampler(20), noise=z_1).images            # (B, 4, 7, 7)
    images   = autoencoder.decode(latents)                                         # (B, 1, 28, 28)

:func:`generate` does these three lines in batches. **Classifier-free guidance on text** is notebook 7's
formula, :func:`course_utils.guidance.guided_eps`, applied to velocities (it is linear, so it means the same
for v as for ε; Stable Diffusion 3 guides its velocities the same way):

    v_guided = v(z_t, t, "") + w (v(z_t, t, prompt) − v(z_t, t, ""))      w = 1: no guidance, w = 0: the null prompt

The prompt may also be a function of the flow time t (a prompt switched midway, as notebook 7 switched a
label), and :func:`recording_attention` keeps the cross-attention weights of every step, to see which word
the model reads when.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .flow import FlowEulerSampler
from .guidance import guided_eps
from .samplers import sample
from .text_encoder import NULL_PROMPT

RECOMMENDED_SCALE = 4.0  # the smallest scale of the benchmark sweep that meets every adherence target (data/MODEL_CARD.md)
DEFAULT_STEPS = 20  # Euler steps of the flow ODE


class PromptedModel:
    """The text-to-image model with its prompts bound: ``prompted(z_t, t) -> v``, guided with scale w.

    ``prompts``: one prompt for the whole batch, a list with one per latent, or a function of the flow time t
    (a float, 1 = noise) that returns either (to switch prompts midway). ``guidance_scale`` w: 1 is the plain
    prompt, 0 the null prompt, above 1 guided; also a function of t. ``negative_prompt`` replaces the null
    prompt in the guidance formula (what guidance pushes away from).
    """

    def __init__(self, model, prompts, guidance_scale=1.0, negative_prompt: str = NULL_PROMPT):
        self.model = model  # samplers.model_device finds the weights' device through this attribute
        self.prompts = prompts
        self.guidance_scale = guidance_scale
        self.negative_prompt = negative_prompt
        self._cache: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    def _text(self, prompts: tuple[str, ...], device) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoded prompts (token vectors, padding), computed once per set of prompts."""
        if prompts not in self._cache:
            tokens = self.model.tokenizer.encode(list(prompts)).to(device)
            with torch.no_grad():
                self._cache[prompts] = self.model.encode_text(tokens)
        return self._cache[prompts]

    def prompts_at(self, t: float, batch: int) -> tuple[str, ...]:
        prompts = self.prompts(t) if callable(self.prompts) else self.prompts
        prompts = (prompts,) * batch if isinstance(prompts, str) else tuple(prompts)
        if len(prompts) != batch:
            raise ValueError(f"give one prompt, or one per latent ({batch}), got {len(prompts)}")
        return prompts

    def scale_at(self, t: float) -> float:
        return float(self.guidance_scale(t) if callable(self.guidance_scale) else self.guidance_scale)

    def __call__(self, z_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=z_t.device).reshape(-1).expand(z_t.shape[0])
        now = float(t[0])
        batch = z_t.shape[0]
        text, padding = self._text(self.prompts_at(now, batch), z_t.device)
        w = self.scale_at(now)
        if w == 1:
            return self.model.denoise(z_t, t, text, padding)
        null_text, null_padding = self._text((self.negative_prompt,) * batch, z_t.device)
        if w == 0:
            return self.model.denoise(z_t, t, null_text, null_padding)
        v_cond, v_uncond = self.model.denoise(torch.cat([z_t, z_t]), torch.cat([t, t]), torch.cat([text, null_text]),
                                              torch.cat([padding, null_padding])).chunk(2)
        return guided_eps(v_cond, v_uncond, w)  # notebook 7's formula, on velocities


@dataclass
class Generated:
    """What :func:`generate` returns."""

    images: torch.Tensor  # (N, 1, 28, 28) in [-1, 1], decoded
    latents: torch.Tensor  # (N, 4, 7, 7), what the flow produced
    seconds: float  # wall time, sampling and decoding


@torch.no_grad()
def generate(model, autoencoder, prompts, *, guidance_scale=RECOMMENDED_SCALE, sampler=None,
             noise: torch.Tensor | None = None, generator: torch.Generator | None = None, num_images: int | None = None,
             batch_size: int = 500, negative_prompt: str = NULL_PROMPT) -> Generated:
    """Images for ``prompts`` (a list, one per image; or one prompt and ``num_images``), on the CPU.

    The flow ODE runs in the latent space with ``sampler`` (default: Euler, DEFAULT_STEPS steps) from ``noise``
    (N, 4, 7, 7) (default: drawn with ``generator``), then the autoencoder decodes the latents. ``prompts`` may
    be a function of the flow time t (see :class:`PromptedModel`); then give ``num_images``.
    """
    sampler = sampler or FlowEulerSampler(DEFAULT_STEPS)
    if isinstance(prompts, str) or callable(prompts):
        if num_images is None:
            num_images = len(noise) if noise is not None else 1
        prompt_list = None
    else:
        prompt_list = list(prompts)
        num_images = len(prompt_list)
    if noise is None:
        noise = torch.randn(num_images, *model.latent_shape, generator=generator)
    if len(noise) != num_images:
        raise ValueError(f"give one noise per image: {len(noise)} noises for {num_images} images")
    device = next(model.parameters()).device
    start = time.perf_counter()
    latents, images = [], []
    for i in range(0, num_images, batch_size):
        chunk = prompts if prompt_list is None else prompt_list[i : i + batch_size]
        prompted = PromptedModel(model, chunk, guidance_scale, negative_prompt)
        z = sample(prompted, sampler, noise=noise[i : i + batch_size].to(device), generator=generator,
                   show_progress=False).images
        latents.append(z.cpu())
        images.append(autoencoder.decode(z.to(next(autoencoder.parameters()).device)).cpu())
    return Generated(torch.cat(images), torch.cat(latents), time.perf_counter() - start)


@dataclass
class AttentionRecord:
    """Cross-attention weights kept during sampling: ``calls[c][layer]`` is (B, heads, 49, L) at network call c
    (with Euler, one call per step; a Heun step calls the network twice)."""

    calls: list[list[torch.Tensor]]

    def word_weights(self, rows: slice | None = None) -> torch.Tensor:
        """(calls, B, L): how much attention each token received at each network call, averaged over the layers, the heads
        and the 49 latent positions. ``rows`` picks the batch rows (with guidance the model also ran the null
        prompt: the first half of each batch is the prompts')."""
        out = torch.stack([torch.stack(layers).mean(dim=(0, 2, 3)) for layers in self.calls])  # (C, B', L)
        return out if rows is None else out[:, rows]

    def spatial(self, call: int, row: int = 0) -> torch.Tensor:
        """(L, 7, 7): at network call ``call``, how much each latent position attends to each token (layers and heads
        averaged)."""
        weights = torch.stack(self.calls[call]).mean(dim=(0, 2))[row]  # (49, L)
        side = int(round(weights.shape[0] ** 0.5))
        return weights.T.reshape(-1, side, side)


@contextmanager
def recording_attention(model) -> Iterator[AttentionRecord]:
    """``with recording_attention(model) as record:`` sample; then ``record.calls`` holds each network call's
    cross-attention weights, one list per call (a Heun step calls the network twice)."""
    layers = list(model.cross_attention)
    record = AttentionRecord([])
    for layer in layers:
        layer.recorded = []
    original = model.denoise

    def denoise_and_keep(*args, **kwargs):
        out = original(*args, **kwargs)
        record.calls.append([layer.recorded.pop() for layer in layers])
        return out

    model.denoise = denoise_and_keep
    try:
        yield record
    finally:
        del model.denoise  # back to the class's method
        for layer in layers:
            layer.recorded = None


def prompt_schedule(first: str, then: str, switch_at: float) -> Callable[[float], str]:
    """A prompt that is ``first`` while the flow time t > ``switch_at`` (the noisy start) and ``then`` after."""
    return lambda t: first if t > switch_at else then
