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

A third wrapper, :class:`StepwiseGuidance`, is classifier-free guidance whose scale and label may
change from step to step (notebook 7 uses it to show that the label steers every step).

Shapes: eps and images (B, 1, 28, 28); t (B,) integer steps in [0, T-1]; labels (B,) digits.
"""

from __future__ import annotations

import inspect

import torch
from torch.nn import functional as F

from .features import classifier_classes
from .samplers import NULL_LABEL_HINT, call_model
from .schedules import NoiseSchedule
from .validation import check_labels, real_number


def _check_scale(name: str, value) -> float:
    return real_number(value, name)


def _digits(labels, x_t: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The labels a guided call steers to: (B,) classes 0 … num_classes-1 (the null label is guidance_scale=0)."""
    return check_labels(labels, x_t.shape[0], num_classes, hint=NULL_LABEL_HINT, device=x_t.device)


# ----------------------------------------------------------------------------- classifier-free guidance


def guided_eps(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance, the course's one convention (Ho & Salimans 2022, Eq. 6 rewritten):

        eps_guided = eps_uncond + guidance_scale * (eps_cond - eps_uncond)

    guidance_scale w = 0: the unconditional model; w = 1: the plain conditional model
    ("no guidance"); w > 1: pushed further towards the label.
    """
    return eps_uncond + guidance_scale * (eps_cond - eps_uncond)


def scale_note(guidance_scale: float) -> str:
    """What a scale w means when it is special, for labels: " (no guidance)" at w = 1, " (unconditional)" at w = 0."""
    return " (no guidance)" if guidance_scale == 1 else " (unconditional)" if guidance_scale == 0 else ""


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

    @property
    def num_classes(self) -> int:
        """The labels it steers to: the model's classes (its null label is reached with guidance_scale=0)."""
        return self.model.config.num_classes

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("guidance needs labels: pass labels=(B,) digits to sample()")
        labels = _digits(labels, x_t, self.num_classes)
        null = torch.full_like(labels, self.model.null_label)
        if self.guidance_scale == 1:
            return self.model(x_t, t, labels)
        if self.guidance_scale == 0:
            return self.model(x_t, t, null)
        eps_cond, eps_uncond = self.model(
            torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([labels, null])
        ).chunk(2)
        return guided_eps(eps_cond, eps_uncond, self.guidance_scale)


class StepwiseGuidance:
    """Classifier-free guidance whose scale w and label y may change with the step t.

        StepwiseGuidance(model, lambda t: 3.0 if t >= 500 else 1.0)     # guide only the noisier half
        StepwiseGuidance(model, lambda t: 1.0 if t >= 500 else 0.0)     # the label on the noisier half, ∅ after
        StepwiseGuidance(model, 1.0, label=lambda t: 3 if t >= 500 else 8)   # ask for a 3, then for an 8

    ``guidance_scale``: a number, or a function of the step t (an int) that returns one. At a step
    where it is 0 the model sees the null label ∅, at 1 the plain label (see :class:`ClassifierFreeGuidance`).
    ``label``: None to use the labels given to ``sample()``, or a function of t that returns a digit
    0-9 for every image at that step (or None there: the labels given to ``sample()``).
    A call is one sampling step, so t must be the same for the whole batch, as in ``sample()``.
    """

    def __init__(self, model, guidance_scale, label=None):
        if not getattr(model, "is_conditional", False):
            raise ValueError("classifier-free guidance needs a class-conditional model (num_classes set)")
        if not callable(guidance_scale):
            _check_scale("guidance_scale", guidance_scale)
        if label is not None and not callable(label):
            raise ValueError(f"label must be None or a function of the step t that returns a digit 0-9, "
                             f"got {label!r}; for the same label at every step pass labels= to sample()")
        self.model = model
        self.guidance_scale = guidance_scale
        self.label = label

    @property
    def num_classes(self) -> int:
        return self.model.config.num_classes

    def scale_at(self, t: int) -> float:
        """w at step t."""
        value = self.guidance_scale(t) if callable(self.guidance_scale) else self.guidance_scale
        return _check_scale(f"guidance_scale at step t={t}", value)

    def labels_at(self, t: int, labels: torch.Tensor | None, num_images: int) -> torch.Tensor | None:
        """The labels used at step t: ``label(t)`` for every image, or the given ``labels``."""
        digit = self.label(t) if self.label is not None else None
        if digit is None:
            return labels
        if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit < self.num_classes:
            what = "a digit 0-9" if self.num_classes == 10 else f"a class 0-{self.num_classes - 1}"
            raise ValueError(f"label(t) must return {what} (or None), got {digit!r} at step t={t}")
        return torch.full((num_images,), digit, dtype=torch.long)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        t = torch.as_tensor(t, device=x_t.device).reshape(-1)
        if t.numel() and not bool((t == t[0]).all()):
            raise ValueError("StepwiseGuidance takes one step t for the whole batch, as sample() gives it; "
                             f"got steps {sorted(set(t.tolist()))}")
        step = int(t[0])
        labels = self.labels_at(step, labels, x_t.shape[0])
        if labels is None:
            raise ValueError("guidance needs labels: pass labels=(B,) digits to sample(), or a label= function")
        labels = torch.as_tensor(labels).to(x_t.device)  # label(t)'s digits are made on the CPU; x_t may be on a GPU
        return ClassifierFreeGuidance(self.model, self.scale_at(step))(x_t, t.expand(x_t.shape[0]), labels)


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


def _check_noise_aware(classifier) -> None:
    """Classifier guidance needs p_φ(y | x_t, t): a classifier called as classifier(x_t, t)."""
    if not callable(classifier):
        raise ValueError(f"classifier guidance needs a classifier (a model called as classifier(x_t, t)), "
                         f"got {type(classifier).__name__}")
    called = classifier.forward if isinstance(classifier, torch.nn.Module) else classifier  # a module's call is (*args)
    try:
        inspect.signature(called).bind(torch.zeros(1), torch.zeros(1))
    except TypeError:
        raise ValueError(f"classifier guidance needs a noise-aware classifier p(y | x_t, t), called as classifier(x_t, t), "
                         f"such as course_utils.classifier.NoisyDigitClassifier; this {type(classifier).__name__} takes no "
                         "step t (the reference classifier only ever saw clean digits)") from None
    except ValueError:  # no signature to read (a builtin): it is tried when called
        pass


class ClassifierGuidance:
    """Wrap an eps-model so that calling it returns the classifier-guided eps (Eq. 14 above).

    ``ClassifierGuidance(model, classifier, schedule, classifier_scale)(x_t, t, labels)``: the labels
    go to the noise-aware ``classifier`` only; ``model`` may be unconditional (it is then called
    without labels), so a model trained without any labels can be steered to a digit.
    ``formula`` replaces :func:`classifier_guided_eps` (same arguments), e.g. with a student's own version.
    """

    def __init__(self, model, classifier, schedule: NoiseSchedule, classifier_scale: float, formula=None):
        _check_noise_aware(classifier)
        self.model = model
        self.classifier = classifier
        self.schedule = schedule
        self.classifier_scale = _check_scale("classifier_scale", classifier_scale)
        self.formula = classifier_guided_eps if formula is None else formula  # a notebook passes its own

    @property
    def num_classes(self) -> int:
        """The labels it steers to: the classifier's classes."""
        return classifier_classes(self.classifier)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError("classifier guidance needs labels: pass labels=(B,) digits to sample()")
        labels = _digits(labels, x_t, self.num_classes)
        conditional = getattr(self.model, "is_conditional", False)
        eps = call_model(self.model, x_t, t, labels if conditional else None)
        if self.classifier_scale == 0:
            return eps
        grad = log_prob_grad(self.classifier, x_t, t, labels)
        return self.formula(eps, grad, t, self.schedule, self.classifier_scale)


__all__ = ["guided_eps", "ClassifierFreeGuidance", "StepwiseGuidance", "classifier_guided_eps", "log_prob_grad",
           "ClassifierGuidance"]
