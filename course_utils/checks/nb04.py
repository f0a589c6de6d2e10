"""Checks for notebook 4, training a tiny DDPM: the eps-prediction loss and one EMA update."""

from __future__ import annotations

import torch

from .. import training
from ..model import TinyUNet, UNetConfig
from ..schedules import make_schedule
from .core import Case, Exercise, KnownMistake, register, run_check

_g = torch.Generator().manual_seed(4321)
_schedule = make_schedule("linear", 1000)
_x0 = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_t = torch.tensor([3, 100, 500, 999])
_average = torch.randn(3, 5, generator=_g)
_value = torch.randn(3, 5, generator=_g)


def _tiny_model() -> TinyUNet:
    torch.manual_seed(0)
    cfg = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)
    return TinyUNet(cfg).eval().requires_grad_(False)


def _col(values: torch.Tensor, t) -> torch.Tensor:
    return values[t].view(-1, 1, 1, 1)

register(Exercise("nb04.eps_prediction_loss", "04_training_a_tiny_ddpm", "eps_prediction_loss",
                  "the eps-prediction objective (Algorithm 1)", "medium", training.eps_prediction_loss))


def check_eps_prediction_loss(eps_prediction_loss):
    """Check ``eps_prediction_loss(model, x0, t, noise, schedule) -> scalar loss``."""
    model = _tiny_model()
    s = _schedule
    x_t = lambda x0, t, n: _col(s.sqrt_alphas_cumprod, t) * x0 + _col(s.sqrt_one_minus_alphas_cumprod, t) * n  # noqa: E731
    return run_check(
        "nb04.eps_prediction_loss", eps_prediction_loss,
        [Case((model, _x0, _t, _eps, s), label="t = 3, 100, 500, 999"), Case((model, _x0[:1], _t[2:3], _eps[:1], s), label="one image")],
        mistakes=(
            KnownMistake(lambda m, x0, t, n, s_: ((m(x_t(x0, t, n), t) - x0) ** 2).mean(),
                         "The network predicts the noise ε, so compare its output with `noise`, not with x0."),
            KnownMistake(lambda m, x0, t, n, s_: ((m(x0, t) - n) ** 2).mean(),
                         "Feed the network the *noisy* image x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε, not the clean one."),
            KnownMistake(lambda m, x0, t, n, s_: ((m(x_t(x0, t, n), t) - n) ** 2).sum(),
                         "Average the squared error (`.mean()` or F.mse_loss), don't sum it."),
            KnownMistake(lambda m, x0, t, n, s_: ((m(_col(s.alphas_cumprod, t) * x0 + _col(1 - s.alphas_cumprod, t) * n, t) - n) ** 2).mean(),
                         "x_t needs square roots: √ᾱ_t and √(1-ᾱ_t)."),
        ),
        generic_hint="Make x_t with q_sample(x0, t, schedule, noise), run model(x_t, t), and take the MSE against noise.",
    )


register(Exercise("nb04.ema_step", "04_training_a_tiny_ddpm", "ema_step",
                  "the exponential moving average of the weights", "easy", training.ema_step))


def check_ema_step(ema_step):
    """Check ``ema_step(average, value, decay) -> decay * average + (1 - decay) * value``."""
    return run_check(
        "nb04.ema_step", ema_step,
        [Case((_average, _value, 0.9), label="decay 0.9"), Case((_average, _value, 0.999), label="decay 0.999"),
         Case((_average[0], _value[0], 0.0), label="decay 0 (no memory)"),
         Case((_average, _value, 1.0), label="decay 1 (never moves)")],
        mistakes=(
            KnownMistake(lambda a, v, d: d * v + (1 - d) * a,
                         "The decay multiplies the old average (it is how much you *keep*); the new value gets 1 - decay."),
            KnownMistake(lambda a, v, d: d * a + d * v, "The two weights must add up to 1: decay and 1 - decay."),
            KnownMistake(lambda a, v, d: (a + v) / 2, "Use the decay: a plain mean of the two forgets the average much too fast."),
            KnownMistake(lambda a, v, d: v, "Returning the new value throws the average away; mix the two with the decay."),
        ),
        generic_hint="Return decay * average + (1 - decay) * value, as a new tensor (do not change `average` in place).",
    )
