"""Other ways to steer a diffusion model: classifier guidance and inpainting (notebook 7).

Classifier-free guidance (samplers.py) needs a model trained with labels. The two tools here
steer a model *after* training, without retraining it:

* **Classifier guidance** (Dhariwal & Nichol 2021, Algorithm 2 / Eq. 14). A small classifier
  p_φ(y | x_t, t) is trained on *noisy* digits at every step t (a "noise-aware" classifier:
  the reference classifier only ever saw clean digits). Its gradient nudges each eps:

      eps_guided = eps - s * sqrt(1 - abar_t) * grad_{x_t} log p_φ(y | x_t, t)

  s = 0 is no guidance. (Classifier-free guidance with scale w behaves like classifier
  guidance with s = w - 1 and an implicit classifier; Ho & Salimans 2022, Sec. 3.2.)
* **Inpainting** by replacement (Song et al. 2021, App. I; RePaint, Lugmayr et al. 2022):
  after every sampling step, the known pixels are overwritten with the known image noised to
  the same step, so the model only invents the masked part, consistently with what is kept:

      x_prev = mask * q_sample(x_known, t_prev) + (1 - mask) * x_prev        (mask = 1: known)

  ``resample > 1`` repeats each step after noising back one step (RePaint's "resampling"),
  which lets the invented part agree better with the kept part.

Shapes: images (B, 1, 28, 28) in [-1, 1]; t (B,) integer steps in [0, T-1]; labels (B,) digits;
mask (B or 1, 1, 28, 28) with 1 where the pixel is known.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

from .env import progress
from .forward import q_sample, randn_like
from .model import sinusoidal_timestep_embedding
from .samplers import SampleOutput, _abar, _parameters
from .schedules import NoiseSchedule

# ----------------------------------------------------------------------------- noise-aware classifier


class NoisyDigitClassifier(nn.Module):
    """p_φ(y | x_t, t): a small CNN that reads a *noisy* digit x_t and the step t it was noised to.

    Three 3x3 conv layers (28 -> 14 -> 7 px); the timestep enters each as a per-channel bias,
    from the same sinusoidal embedding the U-Net uses. ``model(x_t, t)`` -> logits (B, 10).
    """

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64), time_embedding_dim: int = 32, num_classes: int = 10):
        super().__init__()
        self.time_embedding_dim = time_embedding_dim
        c1, c2, c3 = channels
        self.time_mlp = nn.Sequential(nn.Linear(time_embedding_dim, 64), nn.SiLU())
        self.convs = nn.ModuleList([nn.Conv2d(1, c1, 3, padding=1), nn.Conv2d(c1, c2, 3, padding=1), nn.Conv2d(c2, c3, 3, padding=1)])
        self.time_bias = nn.ModuleList([nn.Linear(64, c) for c in channels])
        self.norms = nn.ModuleList([nn.GroupNorm(8, c) for c in channels])
        self.head = nn.Linear(c3, num_classes)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x_t.device)
        if t.dim() == 0:
            t = t.expand(x_t.shape[0])
        emb = self.time_mlp(sinusoidal_timestep_embedding(t, self.time_embedding_dim))  # (B, 64)
        h = x_t
        for i, (conv, bias, norm) in enumerate(zip(self.convs, self.time_bias, self.norms)):
            h = conv(h) + bias(emb)[:, :, None, None]
            h = F.silu(norm(h))
            if i < 2:
                h = F.avg_pool2d(h, 2)  # 28 -> 14 -> 7
        return self.head(h.mean(dim=(2, 3)))  # global average over the 7x7 positions


def train_noisy_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    steps: int = 1500,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[NoisyDigitClassifier, list[float]]:
    """Train :class:`NoisyDigitClassifier` on digits noised to a random step t ~ Uniform{0, ..., T-1}.

    Each step: a batch of (x0, y), t and ε drawn with the seeded generator, x_t = q_sample(x0, t, ε),
    cross-entropy of p_φ(y | x_t, t); AdamW with a one-cycle learning rate. Returns the model
    (eval mode, gradients off) and the per-step losses.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = NoisyDigitClassifier().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    losses = []
    model.train()
    for _ in progress(range(steps), desc="noise-aware classifier", unit="step"):
        idx = torch.randint(len(images), (batch_size,), generator=generator)
        t = torch.randint(schedule.num_steps, (batch_size,), generator=generator)
        x_t = q_sample(images[idx], t, schedule, generator=generator)
        loss = F.cross_entropy(model(x_t.to(device), t.to(device)), labels[idx].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return model.eval().requires_grad_(False), losses


@torch.no_grad()
def noisy_accuracy(classifier, images: torch.Tensor, labels: torch.Tensor, t: int, schedule: NoiseSchedule,
                   *, seed: int = 0, batch_size: int = 1000) -> float:
    """Accuracy on ``images`` noised to step ``t`` (noise drawn with ``seed``).

    ``classifier`` is either noise-aware, called as ``classifier(x_t, t)``, or a plain one with one
    argument (like the reference classifier, which never saw noise): it is then called as ``classifier(x_t)``.
    """
    generator = torch.Generator().manual_seed(seed)
    device = next(classifier.parameters()).device
    takes_t = isinstance(classifier, NoisyDigitClassifier)
    correct = 0
    for i in range(0, len(images), batch_size):
        x0 = images[i : i + batch_size]
        t_batch = torch.full((len(x0),), t, dtype=torch.long)
        x_t = q_sample(x0, t_batch, schedule, generator=generator).to(device)
        logits = classifier(x_t, t_batch.to(device)) if takes_t else classifier(x_t)
        correct += int((logits.argmax(1).cpu() == labels[i : i + batch_size]).sum())
    return correct / len(images)


# ----------------------------------------------------------------------------- classifier guidance


def classifier_guided_eps(eps: torch.Tensor, grad_log_prob: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule,
                          scale: float) -> torch.Tensor:
    """Eq. 14 of Dhariwal & Nichol (2021): eps - scale * sqrt(1 - abar_t) * grad_{x_t} log p(y | x_t).

    ``eps`` and ``grad_log_prob`` (B, C, H, W); ``t`` (B,) steps; scale = 0 is no guidance.
    """
    return eps - scale * schedule.at("sqrt_one_minus_alphas_cumprod", t, eps) * grad_log_prob


def log_prob_grad(classifier, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """grad_{x_t} log p_φ(y | x_t, t) for each image (B, C, H, W); works inside ``torch.no_grad()``.

    The images are independent, so the gradient of the *sum* of the log-probabilities gives each
    image's own gradient.
    """
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        log_probs = F.log_softmax(classifier(x, t), dim=1)
        chosen = log_probs[torch.arange(len(x), device=x.device), labels.to(x.device)]
        (grad,) = torch.autograd.grad(chosen.sum(), x)
    return grad


class ClassifierGuidance:
    """Wrap an eps-model so that calling it returns the classifier-guided eps (Eq. 14 above).

    ``ClassifierGuidance(model, classifier, schedule, scale)(x_t, t, labels)``: the labels go to
    the noise-aware ``classifier`` only; ``model`` may be unconditional (it is then called
    without labels), so a model trained without any labels can be steered to a digit.
    Use it anywhere a model goes: ``sample(guided, sampler, labels=...)``. ``formula`` replaces
    :func:`classifier_guided_eps` (same arguments), e.g. with a student's own version.
    """

    def __init__(self, model, classifier, schedule: NoiseSchedule, scale: float, formula=None):
        self.model = model
        self.classifier = classifier
        self.schedule = schedule
        self.scale = scale
        self.formula = classifier_guided_eps if formula is None else formula  # a notebook passes its own

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("classifier guidance needs labels: pass labels=(B,) digits to sample()")
        conditional = getattr(self.model, "is_conditional", False)
        eps = self.model(x_t, t, labels) if conditional else self.model(x_t, t)
        if self.scale == 0:
            return eps
        grad = log_prob_grad(self.classifier, x_t, t, labels)
        return self.formula(eps, grad, t, self.schedule, self.scale)


# ----------------------------------------------------------------------------- inpainting


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


@torch.no_grad()
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
    """Fill in the pixels where ``mask`` is 0, keeping ``known`` where it is 1 (the loop of :func:`samplers.sample`).

    After every step t -> t_prev the known pixels are replaced by ``q_sample(known, t_prev)``
    (fresh noise from ``generator``; at the last step, ``known`` itself) using ``merge``.
    With ``resample`` = r > 1 each step is repeated r times: the merged x_{t_prev} is noised back
    to step t with q(x_t | x_{t_prev}) and stepped again (RePaint, Lugmayr et al. 2022).
    ``known`` (B, C, H, W); ``mask`` broadcasts against it; ``labels`` (B,) for conditional models.
    """
    if resample < 1:
        raise ValueError(f"resample must be >= 1, got {resample}")
    device = next(_parameters(model), known).device
    known = known.to(device)
    mask = mask.to(device=device, dtype=known.dtype)
    x = (torch.randn(known.shape, generator=generator) if noise is None else noise).to(device)
    if labels is not None:
        labels = torch.as_tensor(labels, device=device).long()
    out = SampleOutput(images=x)
    start = time.perf_counter()
    bar_options = {} if show_progress else {"disable": True}
    for t, t_prev in progress(sampler.timesteps(), desc=f"{sampler.name} inpainting", **bar_options):
        t_batch = torch.full((x.shape[0],), t, device=device, dtype=torch.long)
        x_t = x
        for r in range(resample):
            eps = model(x_t, t_batch, labels) if labels is not None else model(x_t, t_batch)
            x_prev, _ = sampler.step(eps, t, t_prev, x_t, generator)
            known_prev = known if t_prev < 0 else q_sample(known, t_prev, sampler.schedule, generator=generator)
            x = merge(x_prev, known_prev, mask)
            if r < resample - 1 and t_prev >= 0:  # noise back from t_prev to t and repeat the step
                ratio = _abar(sampler.schedule, t, x) / _abar(sampler.schedule, t_prev, x)
                x_t = ratio.sqrt() * x + (1 - ratio).sqrt() * randn_like(x, generator)
            else:
                break
        out.timesteps.append(t)
    out.images = x
    out.seconds = time.perf_counter() - start
    return out


__all__ = [
    "NoisyDigitClassifier", "train_noisy_classifier", "noisy_accuracy",
    "classifier_guided_eps", "log_prob_grad", "ClassifierGuidance",
    "inpaint_merge", "half_mask", "inpaint",
]
