"""Notebook 1's checks (add_noise, noising_step, variance_after_steps): every wrong answer in the table fails with
a hint that names it and never gives the formula; right answers in several styles pass; the cells below run."""

import math

import check_table
import numpy as np
import torch

from course_utils import checks, forward

_digit = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
_eps = torch.randn(1, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def _many_steps(step, scale_image, num_steps=50):  # cell 35's run_many_steps, shorter
    g = torch.Generator().manual_seed(3)
    x = _digit
    for _ in range(num_steps):
        eps = torch.randn(x.shape, generator=g)
        x = step(x, 0.02, eps) if scale_image else step(x, math.sqrt(0.02), eps)
    return x.var().item()


def _later_add_noise(add_noise):  # cells 16, 19, 35
    for s in (0.0, 0.1, 0.25, 0.5, 1.0, 2.0):
        assert add_noise(_digit, s, _eps).shape == _digit.shape
    print(f"variance after 50 steps without the scaling: {_many_steps(add_noise, False):.2f}")


def _later_noising_step(noising_step):  # cells 29 (β up to 1), 32, 35
    for b in (0.001, 0.02, 0.1, 0.5, 1.0):
        assert noising_step(_digit, b, _eps).shape == _digit.shape
    print(f"variance after 50 steps with the scaling: {_many_steps(noising_step, True):.3f}")


def _later_variance(variance_after_steps):  # cells 43, 46
    predicted = [variance_after_steps(0.3, 0.02, n) for n in range(0, 50, 10)]
    print(f"{variance_after_steps(1.0, 0.02, 500):.6f}", predicted)


LATER = {"nb01.add_noise": _later_add_noise, "nb01.noising_step": _later_noising_step,
         "nb01.variance_after_steps": _later_variance}


def _math_sqrt_step(x, beta, noise):  # formerly passed: works for a float β only
    return math.sqrt(1 - beta) * x + math.sqrt(beta) * noise


def _variance_loop(var0, beta, num_steps, skip=0, add=None):
    v = var0
    for _ in range(num_steps - skip):
        v = (1 - beta) * v + (beta if add is None else add(v, beta))
    return v


WRONG = {
    "nb01.add_noise": [
        (lambda x, sigma, noise: x + sigma**2 * noise, "not squared"),
        (lambda x, sigma, noise: x * sigma * noise, "not multiplied"),
        (lambda x, sigma, noise: x + noise, "σ = 0 the image has to come back"),
        (lambda x, sigma, noise: sigma * noise, "Keep the image"),
        (lambda x, sigma, noise: x + math.sqrt(sigma) * noise, "no square root"),
        (lambda x, sigma, noise: x - sigma * noise, "subtracting"),
        (lambda x, sigma, noise: noise, "the argument `noise` itself"),  # returning ε
        (lambda x, sigma, noise: x.add_(sigma * noise), "in place"),
        (lambda x, sigma, noise: (x + sigma * noise).double(), "wrong dtype"),
        (lambda x, sigma, noise: (x + sigma * noise)[:, 0], "wrong shape"),
        (lambda x, sigma, noise: x + sigma * torch.randn_like(x), "use the noise it is given"),
    ],
    "nb01.noising_step": [
        (lambda x, beta, noise: math.sqrt(1 - float(beta)) * x + math.sqrt(float(beta)) * noise, "`float(beta)`"),
        (lambda x, beta, noise: torch.sqrt(1 - beta) * x + torch.sqrt(beta) * noise, "`torch.as_tensor(beta"),
        (lambda x, beta, noise: (1 - beta) ** 0.5 * x + beta * noise, "Forgot the square root on the noise"),
        (lambda x, beta, noise: x + beta**0.5 * noise, "Scale the image down too"),
        (lambda x, beta, noise: (1 - beta) * x + beta**0.5 * noise, "square root on the image's coefficient"),
        (lambda x, beta, noise: (1 - beta) * x + beta * noise, "Both coefficients need square roots"),
        (lambda x, beta, noise: beta**0.5 * x + (1 - beta) ** 0.5 * noise, "swapped"),
        (lambda x, beta, noise: noise, "the argument `noise` itself"),  # returning ε
        (lambda x, beta, noise: torch.as_tensor(beta, dtype=torch.float64).sqrt() * noise
         + (1 - torch.as_tensor(beta, dtype=torch.float64)).sqrt() * x, "Keep x_prev's dtype"),
        (lambda x, beta, noise: (1 - beta) ** 0.5 * (x + beta**0.5 * noise), "Only the image gets the shrinking factor"),
    ],
    "nb01.variance_after_steps": [
        (lambda var0, beta, n: (1 - beta) ** n * var0, "*adds* noise"),
        (lambda var0, beta, n: var0 + n * beta, "*without* the scaling"),
        (lambda var0, beta, n: math.sqrt(1 - beta) ** n * var0 + 1 - math.sqrt(1 - beta) ** n, "*square* of the coefficient"),
        (lambda var0, beta, n: _variance_loop(var0, beta, n, skip=1), "One step too few"),
        (lambda var0, beta, n: _variance_loop(var0, beta, n + 1), "One step too many"),
        (lambda var0, beta, n: (1 - beta) * var0 + beta, "num_steps times"),
        (lambda var0, beta, n: (1 - beta) ** n * var0 + n * beta, "shrunk by every later step"),
        (lambda var0, beta, n: _variance_loop(var0, beta, n, add=lambda v, b: b * v), "not as a fraction"),
        (lambda var0, beta, n: torch.tensor(forward.variance_after_steps(var0, beta, n)), "Python float"),
        (lambda var0, beta, n: np.array([forward.variance_after_steps(var0, beta, n)]), "Python float"),
    ],
}

# Right on ordinary inputs, wrong on an edge case. A third element says the cells below break with it.
NEARLY_RIGHT = {
    "nb01.noising_step": [(_math_sqrt_step, "one value per image")],  # formerly passed: a float β only
}

CORRECT = {
    "nb01.add_noise": [lambda x, sigma, noise: x + sigma * noise, lambda x, sigma, noise: torch.add(x, noise, alpha=sigma)],
    "nb01.noising_step": [
        lambda x, beta, noise: (lambda b: torch.sqrt(1 - b) * x + torch.sqrt(b) * noise)(torch.as_tensor(beta, dtype=x.dtype)),
        lambda x, beta, noise: (1 - beta) ** 0.5 * x + beta**0.5 * noise,  # ** works for floats and tensors alike
    ],
    "nb01.variance_after_steps": [
        lambda var0, beta, n: _variance_loop(var0, beta, n),
        lambda var0, beta, n: float(1 + (var0 - 1) * (1 - beta) ** n),
    ],
}

FRAGMENTS = {
    "nb01.add_noise": ["x + σε", "x + σ·ε", "x + sigma * noise", "x + σ * noise", "x + sigma * eps"],
    "nb01.noising_step": ["√(1-β)x", "√(1−β)·x_prev", "√β ε", "√β·noise", "sqrt(1 - beta) * x", "sqrt(beta) * noise"],
    "nb01.variance_after_steps": ["(1-β)v + β", "(1 − β)·v + β", "v → (1-β)", "(1-β)^n", "(1 - β)**n", "(1-β)ⁿ",
                                  "(1 - beta) ** num_steps", "(1 - beta) * v + beta", "1 - (1-β)"],
}


def test_noising_step_is_checked_with_a_per_image_beta_tensor():
    out, _ = check_table.run_check("nb01.noising_step", _math_sqrt_step)
    assert "case: beta a (B, 1, 1, 1) tensor, one per image" in out and "right for" not in out


def test_a_right_float_only_answer_hears_which_cases_it_gets_right():
    def only_the_first_step(var0, beta, n):
        return (1 - beta) * var0 + beta

    out, _ = check_table.run_check("nb01.variance_after_steps", only_the_first_step)
    assert "(case: 100 steps; right for: one step, var0=1 stays 1)" in out


def test_the_var0_plus_n_beta_hint_states_the_scaling_correctly():
    hint = next(m.hint for m in checks.EXERCISES["nb01.variance_after_steps"].mistakes if "nβ" in m.name)
    assert "√(1−β)" in hint and "scaled by (1-β)" not in hint


def test_the_checks_never_print_the_expected_value(capsys):
    checks.check_variance_after_steps(lambda v, b, n: 0.123)
    out = capsys.readouterr().out
    for case in [(0.3, 0.02, 1)]:
        expected = forward.variance_after_steps(*case)
        assert f"{expected:.3f}" not in out and str(expected) not in out
