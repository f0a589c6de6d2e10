"""Checks for notebook 1, adding noise by hand: add_noise, noising_step, variance_after_steps."""

from __future__ import annotations

import math

import torch

from .. import forward
from .core import Case, Exercise, KnownMistake, register, run_check

_g = torch.Generator().manual_seed(1234)
_x = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1  # images in [-1, 1]
_eps = torch.randn(4, 1, 28, 28, generator=_g)

register(Exercise("nb01.add_noise", "01_adding_noise_by_hand", "add_noise",
                  "additive Gaussian noise x + σε", "easy", forward.add_noise))


def check_add_noise(add_noise):
    """Check ``add_noise(x, sigma, noise) -> x + sigma * noise``."""
    return run_check(
        "nb01.add_noise", add_noise,
        [Case((_x, 0.5, _eps), label="sigma=0.5"), Case((_x, 0.0, _eps), label="sigma=0"), Case((_x[:1], 2.0, _eps[:1]), label="sigma=2")],
        mistakes=(
            KnownMistake(lambda x, s, n: x + s**2 * n, "σ is a standard deviation: multiply the noise by σ, not σ²."),
            KnownMistake(lambda x, s, n: x * s * n, "Noise is added to the image, not multiplied with it."),
            KnownMistake(lambda x, s, n: x + n, "Scale the noise by σ before adding it."),
            KnownMistake(lambda x, s, n: s * n, "Keep the image: the result is the image plus the scaled noise."),
        ),
    )


register(Exercise("nb01.noising_step", "01_adding_noise_by_hand", "noising_step",
                  "one variance-preserving step √(1-β)x + √β ε", "easy", forward.noising_step))


def check_noising_step(noising_step):
    """Check ``noising_step(x_prev, beta, noise) -> sqrt(1 - beta) x_prev + sqrt(beta) noise``."""
    return run_check(
        "nb01.noising_step", noising_step,
        [Case((_x, 0.02, _eps), label="beta=0.02"), Case((_x, 0.5, _eps), label="beta=0.5"), Case((_x, 1e-4, _eps), label="beta=1e-4")],
        mistakes=(
            KnownMistake(lambda x, b, n: math.sqrt(1 - b) * x + b * n, "Forgot the square root on β: the noise's *standard deviation* is √β."),
            KnownMistake(lambda x, b, n: x + math.sqrt(b) * n, "Scale the image by √(1-β) too, or its variance grows every step."),
            KnownMistake(lambda x, b, n: (1 - b) * x + math.sqrt(b) * n, "Forgot the square root on (1-β)."),
            KnownMistake(lambda x, b, n: (1 - b) * x + b * n, "Both coefficients need square roots: √(1-β) and √β."),
            KnownMistake(lambda x, b, n: math.sqrt(b) * x + math.sqrt(1 - b) * n, "The coefficients are swapped: the image keeps √(1-β), the noise gets √β."),
        ),
    )


register(Exercise("nb01.variance_after_steps", "01_adding_noise_by_hand", "variance_after_steps",
                  "why the variance tends to 1", "medium", forward.variance_after_steps))


def check_variance_after_steps(variance_after_steps):
    """Check ``variance_after_steps(var0, beta, num_steps) -> float``."""
    return run_check(
        "nb01.variance_after_steps", variance_after_steps,
        [Case((0.3, 0.02, 1), label="one step"), Case((0.3, 0.02, 100), label="100 steps"), Case((4.0, 0.1, 7), label="var0=4"),
         Case((1.0, 0.05, 50), label="var0=1 stays 1")],
        mistakes=(
            KnownMistake(lambda v, b, n: (1 - b) ** n * v, "Each step also *adds* noise of variance β; the signal part alone is not enough."),
            KnownMistake(lambda v, b, n: v + n * b, "The image is scaled by (1-β) each step before noise is added."),
            KnownMistake(lambda v, b, n: math.sqrt(1 - b) ** n * v + (1 - math.sqrt(1 - b) ** n),
                         "Variances scale with the *square* of the coefficient: (√(1-β))² = 1-β per step."),
        ),
        generic_hint="Write one step as v → (1-β)·v + β and apply it num_steps times (a loop is fine).",
        rtol=1e-6,
    )
