"""Checks for notebook 1, adding noise by hand: add_noise, noising_step, variance_after_steps."""

from __future__ import annotations

import math

import torch

from .. import forward
from .registry import Case, Exercise, KnownError, KnownMistake, register

_g = torch.Generator().manual_seed(1234)
_x = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1  # images in [-1, 1]
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_per_image_beta = torch.tensor([1e-4, 0.02, 0.2, 0.5]).view(-1, 1, 1, 1)


def _tensor(beta, like):
    return torch.as_tensor(beta, dtype=like.dtype)


register(Exercise(
    "nb01.add_noise", "01_adding_noise_by_hand", "add_noise", "additive Gaussian noise x + σε", "easy",
    forward.add_noise,
    cases=lambda: [Case((_x, 0.5, _eps), label="sigma=0.5"), Case((_x, 0.0, _eps), label="sigma=0"),
                   Case((_x[:1], 2.0, _eps[:1]), label="sigma=2")],
    mistakes=(
        KnownMistake("σ² for σ", lambda x, s, n: x + s**2 * n,
                     "σ is a standard deviation: it scales the noise as it is, not squared."),
        KnownMistake("√σ for σ", lambda x, s, n: x + math.sqrt(s) * n,
                     "σ is already the standard deviation: no square root is needed."),
        KnownMistake("the noise multiplied with the image", lambda x, s, n: x * s * n,
                     "Noise is added to the image, not multiplied with it."),
        KnownMistake("σ left out", lambda x, s, n: x + n,
                     "The noise must be scaled by σ: with σ = 0 the image has to come back unchanged."),
        KnownMistake("the image left out", lambda x, s, n: s * n,
                     "Keep the image: the noise is added on top of it, not returned alone."),
        KnownMistake("the image scaled instead of the noise", lambda x, s, n: s * x + n,
                     "σ scales the noise, not the image: the image stays as it is."),
        KnownMistake("the noise subtracted", lambda x, s, n: x - s * n,
                     "Add the scaled noise; subtracting it gives a different image."),
        KnownMistake("the result rescaled", lambda x, s, n: (x + s * n) / math.sqrt(1 + s**2),
                     "Do not rescale the result: this exercise adds plain noise (the rescaling comes in the next one)."),
    ),
))


_STD_HINT = "Think of the rule Var(a x + b ε) = a² Var(x) + b²: a coefficient is the square root of the variance it brings."

register(Exercise(
    "nb01.noising_step", "01_adding_noise_by_hand", "noising_step",
    "one variance-preserving step √(1-β)x + √βε", "easy", forward.noising_step,
    cases=lambda: [Case((_x, 0.02, _eps), label="beta=0.02"), Case((_x, 0.5, _eps), label="beta=0.5"),
                   Case((_x, 1e-4, _eps), label="beta=1e-4"),
                   Case((_x, _per_image_beta, _eps), label="beta a (B, 1, 1, 1) tensor, one per image",
                        items=("β = 1e-4", "β = 0.02", "β = 0.2", "β = 0.5")),
                   Case((_x[:2], torch.tensor(0.1), _eps[:2]), label="beta a 0-d tensor"),
                   Case((_x[:2], 1.0, _eps[:2]), label="beta=1 (all noise, as a later cell tries)")],
    mistakes=(
        KnownMistake("no square root on β", lambda x, b, n: (1 - _tensor(b, x)).sqrt() * x + _tensor(b, x) * n,
                     "Forgot the square root on the noise's coefficient: β is its variance, the coefficient is its "
                     "standard deviation."),
        KnownMistake("the image not scaled", lambda x, b, n: x + _tensor(b, x).sqrt() * n,
                     "Scale the image down too: without that, every step adds β to the variance, which then grows "
                     "without bound."),
        KnownMistake("no square root on (1 − β)", lambda x, b, n: (1 - _tensor(b, x)) * x + _tensor(b, x).sqrt() * n,
                     "Forgot the square root on the image's coefficient. " + _STD_HINT),
        KnownMistake("no square roots at all", lambda x, b, n: (1 - _tensor(b, x)) * x + _tensor(b, x) * n,
                     "Both coefficients need square roots: β and 1 − β are variances. " + _STD_HINT),
        KnownMistake("the two coefficients swapped", lambda x, b, n: _tensor(b, x).sqrt() * x + (1 - _tensor(b, x)).sqrt() * n,
                     "The coefficients are swapped: with a small β the image must keep almost all of itself and "
                     "get only a little noise."),
        KnownMistake("the noise subtracted", lambda x, b, n: (1 - _tensor(b, x)).sqrt() * x - _tensor(b, x).sqrt() * n,
                     "Add the noise term; subtracting it gives a different image."),
        KnownMistake("the whole sum scaled", lambda x, b, n: (1 - _tensor(b, x)).sqrt() * (x + _tensor(b, x).sqrt() * n),
                     "Only the image gets the shrinking factor; the noise term keeps its own coefficient."),
    ),
    errors=(
        KnownError("math.sqrt or float() on a per-image β tensor",
                   r"only one element tensors can be converted|must be real number, not Tensor|cannot be converted to Scalar",
                   "β can be a tensor with one value per image (shape (B, 1, 1, 1)), as later notebooks pass it: "
                   "`math.sqrt`, `float(beta)` and `.item()` take one number only. Use torch operations: "
                   "`torch.as_tensor(beta, dtype=x_prev.dtype)` turns a float or a tensor into a tensor, and "
                   "`torch.sqrt` works on every value."),
        KnownError("torch.sqrt on a Python float β",
                   r"must be Tensor, not (float|int)|'(float|int)' object has no attribute",
                   "β is a Python float in this case, and torch functions or tensor methods do not take floats: "
                   "`torch.as_tensor(beta, dtype=x_prev.dtype)` first turns it (or a tensor β) into a tensor."),
    ),
    dtype_hint="Keep x_prev's dtype (float32): a tensor made from β without `dtype=x_prev.dtype` (or with NumPy) can "
               "come out as float64.",
))


register(Exercise(
    "nb01.variance_after_steps", "01_adding_noise_by_hand", "variance_after_steps", "why the variance tends to 1",
    "medium", forward.variance_after_steps,
    cases=lambda: [Case((0.3, 0.02, 1), label="one step"), Case((0.3, 0.02, 100), label="100 steps"),
                   Case((4.0, 0.1, 7), label="var0=4"), Case((1.0, 0.05, 50), label="var0=1 stays 1"),
                   Case((0.3, 0.02, 0), label="no steps")],
    mistakes=(
        KnownMistake("only the image's part, no added noise", lambda v, b, n: (1 - b) ** n * v,
                     "Each step also *adds* noise, and that noise has a variance of its own; the image's part alone "
                     "is not enough."),
        KnownMistake("var0 + nβ: the image not scaled", lambda v, b, n: v + n * b,
                     "var0 + nβ is the variance *without* the scaling (the straight line of the plot above). Each "
                     "scaled step first multiplies the image by √(1−β); by the rule Var(a x + b ε) = a² Var(x) + b², "
                     "that changes its variance too."),
        KnownMistake("the coefficient used where its square belongs",
                     lambda v, b, n: math.sqrt(1 - b) ** n * v + (1 - math.sqrt(1 - b) ** n),
                     "A variance scales with the *square* of the coefficient (a² in the rule above); you used the "
                     "coefficient itself."),
        KnownMistake("one step too few", lambda v, b, n: forward.variance_after_steps(v, b, max(n - 1, 0)),
                     "One step too few: num_steps = 1 must apply the step exactly once (and num_steps = 0 gives var0)."),
        KnownMistake("one step too many", lambda v, b, n: forward.variance_after_steps(v, b, n + 1),
                     "One step too many: num_steps = 0 must give var0 back, and num_steps = 1 apply the step once."),
        KnownMistake("the step applied once, whatever num_steps", lambda v, b, n: forward.variance_after_steps(v, b, 1),
                     "Apply the one-step rule num_steps times, not once (and not at all for num_steps = 0)."),
        KnownMistake("all the noise added at full strength", lambda v, b, n: (1 - b) ** n * v + n * b,
                     "The noise added by an early step is shrunk by every later step too: apply the whole one-step "
                     "rule to the whole variance, step after step."),
        KnownMistake("only one step's noise", lambda v, b, n: (1 - b) ** n * v + b,
                     "Every step adds fresh noise, not only the last one: apply the whole one-step rule in each step."),
        KnownMistake("the added noise taken as a fraction of v (var0 unchanged)", lambda v, b, n: v,
                     "The added noise does not depend on the image: its variance is added as it is, not as a "
                     "fraction of the current variance."),
    ),
    type_hint="The exercise asks for a Python float: if you computed a tensor, convert it with `float(...)`.",
    rtol=1e-6,
))
