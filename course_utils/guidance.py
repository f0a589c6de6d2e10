"""Steering a diffusion model towards a label: classifier-free and classifier guidance (notebook 7).

Both are wrappers that look like a model: ``guided(x_t, t, labels) -> eps``, so they go anywhere a
model goes, e.g. ``sample(guided, sampler, labels=...)``. Each has its own scale, named for it:

* **Classifier-free guidance** (Ho & Salimans 2022), scale ``guidance_scale`` = w. One
  class-conditional model, trained with label dropout, is run with the label y and with the null
  label ∅, and the two predictions are mixed:

      eps_guided = eps(x_t, ∅) + w * (eps(x_t, y) - eps(x_t, ∅))

  w = 0: the unconditional model; **w = 1: no guidance** (the plain conditional model); w > 1:
  pushed further towards the label.
* **Classifier guidance** (Dhariwal & Nichol 2021, Algorithm 2 / Eq. 14), scale
  ``classifier_scale`` = s. A noise-aware classifier p_φ(y | x_t, t)
  (:class:`course_utils.classifier.NoisyDigitClassifier`) nudges each eps with its gradient:

      eps_guided = eps - s * sqrt(1 - abar_t) * grad_{x_t} log p_φ(y | x_t, t)

  **s = 0: no guidance.** It steers a model after training, even one trained without labels.
  (Classifier-free guidance with scale w behaves like classifier guidance with s = w - 1 and an
  implicit classifier; Ho & Salimans 2022, Sec. 3.2.)

Shapes: eps and images (B, 1, 28, 28); t (B,) integer steps in [0, T-1]; labels (B,) digits.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .samplers import call_model, check_labels
from .schedules import NoiseSchedule


def _check_scale(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------- classifier-free guidance


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance, the course's one convention (Ho & Salimans 2022, Eq. 6 rewritten):

        eps_guided = eps_uncond + guidance_scale * (eps_cond - eps_uncond)

    guidance_scale w = 0: the unconditional model; w = 1: the plain conditional model
    ("no guidance"); w > 1: pushed further towards the label.
    """
    return eps_uncond + guidance_scale * (eps_cond - eps_uncond)


class ClassifierFreeGuidance:
    """Wrap a class-conditional eps-model so that calling it returns the guided eps.

    ``ClassifierFreeGuidance(model, guidance_scale)(x_t, t, labels)`` evaluates the model
    with the labels and with the null label (in one batch) and combines them with
    :func:`guided_eps`. ``guidance_scale`` = 0 gives the model's unconditional mode, the
    documented way to reach the null label.
    """

    def __init__(self, model, guidance_scale: float):
        if not getattr(model, "is_conditional", False):
            raise ValueError("classifier-free guidance needs a class-conditional model (num_classes set)")
        self.model = model
        self.guidance_scale = _check_scale("guidance_scale", guidance_scale)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("guidance needs labels: pass labels=(B,) digits to sample()")
        labels = check_labels(labels, x_t.shape[0], x_t.device)  # digits 0-9: the null label is guidance_scale=0
        null = torch.full_like(labels, self.model.null_label)
        if self.guidance_scale == 1:
            return self.model(x_t, t, labels)
        if self.guidance_scale == 0:
            return self.model(x_t, t, null)
        eps_cond, eps_uncond = self.model(
            torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, null])
        ).chunk(2)
        return guided_eps(eps_cond, eps_uncond, self.guidance_scale)


# ----------------------------------------------------------------------------- classifier guidance


def classifier_guided_eps(eps: torch.Tensor, grad_log_prob: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule,
                          classifier_scale: float) -> torch.Tensor:
    """Eq. 14 of Dhariwal & Nichol (2021): eps - s * sqrt(1 - abar_t) * grad_{x_t} log p(y | x_t).

    ``eps`` and ``grad_log_prob`` (B, C, H, W); ``t`` (B,) steps; classifier_scale s = 0 is no guidance.
    """
    return eps - classifier_scale * schedule.at("sqrt_one_minus_alphas_cumprod", t, eps) * grad_log_prob


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

    ``ClassifierGuidance(model, classifier, schedule, classifier_scale)(x_t, t, labels)``: the labels
    go to the noise-aware ``classifier`` only; ``model`` may be unconditional (it is then called
    without labels), so a model trained without any labels can be steered to a digit.
    ``formula`` replaces :func:`classifier_guided_eps` (same arguments), e.g. with a student's own version.
    """

    def __init__(self, model, classifier, schedule: NoiseSchedule, classifier_scale: float, formula=None):
        self.model = model
        self.classifier = classifier
        self.schedule = schedule
        self.classifier_scale = _check_scale("classifier_scale", classifier_scale)
        self.formula = classifier_guided_eps if formula is None else formula  # a notebook passes its own

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("classifier guidance needs labels: pass labels=(B,) digits to sample()")
        labels = check_labels(labels, x_t.shape[0], x_t.device)
        conditional = getattr(self.model, "is_conditional", False)
        eps = call_model(self.model, x_t, t, labels if conditional else None)
        if self.classifier_scale == 0:
            return eps
        grad = log_prob_grad(self.classifier, x_t, t, labels)
        return self.formula(eps, grad, t, self.schedule, self.classifier_scale)


__all__ = ["guided_eps", "ClassifierFreeGuidance", "classifier_guided_eps", "log_prob_grad", "ClassifierGuidance"]
