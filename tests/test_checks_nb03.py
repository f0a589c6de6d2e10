"""Notebook 3's checks (predict_x0_from_eps, sinusoidal_timestep_embedding): every wrong answer in the table fails
with a hint that names it and never gives the formula; right answers in several styles pass; the cells below run."""

import math

import check_table
import torch
import torch.nn.functional as F

from course_utils import forward, schedules
from course_utils.model import sinusoidal_timestep_embedding as unet_embedding

_schedule = schedules.make_schedule("linear")


def _later_x0(predict_x0_from_eps):  # cells 54, 58: t anywhere in 0 ... 999, the true noise and a predicted one
    g = torch.Generator().manual_seed(4)
    x = torch.rand(8, 1, 28, 28, generator=g) * 2 - 1
    t = torch.cat([torch.tensor([0, 999]), torch.randint(0, 1000, (6,), generator=g)])
    eps = torch.randn(8, 1, 28, 28, generator=g)
    x_t = forward.q_sample(x, t, _schedule, eps)
    print(f"largest |x0_hat - x0| with the true noise below 1e-2: {(predict_x0_from_eps(x_t, t, eps, _schedule) - x).abs().max() < 1e-2}")
    print(f"test MSE with a predicted noise: {F.mse_loss(predict_x0_from_eps(x_t, t, 0.9 * eps, _schedule), x).item():.4f}")


def _later_embedding(sinusoidal_timestep_embedding):  # cells 69 and 76, with the U-Net's dim = 128
    assert sinusoidal_timestep_embedding(torch.arange(1000), 128).shape == (1000, 128)
    t_some = torch.tensor([0, 1, 250, 999])
    same = torch.allclose(sinusoidal_timestep_embedding(t_some, 128), unet_embedding(t_some, 128), atol=2.5e-4)
    print("same as the embedding inside TinyUNet:", same)
    assert same  # cell 76's verdict: a right answer must never print False


LATER = {"nb03.predict_x0_from_eps": _later_x0, "nb03.sinusoidal_timestep_embedding": _later_embedding}


def _col(values, t):
    return values[t].view(-1, 1, 1, 1)


def _sa(s, t):
    return _col(s.sqrt_alphas_cumprod, t)


def _s1(s, t):
    return _col(s.sqrt_one_minus_alphas_cumprod, t)


def _w(dim, base=10_000.0, over=None, start=0, log=math.log):
    half = dim // 2
    return torch.exp(-log(base) * torch.arange(start, start + half, dtype=torch.float32) / (over or half))


def _emb(t, dim, w=None, order="sin-cos"):
    w = _w(dim) if w is None else w
    a = t.float()[:, None] * w[None, :]
    parts = [torch.sin(a), torch.cos(a)]
    return torch.cat(parts if order == "sin-cos" else parts[::-1], dim=1)


WRONG = {
    "nb03.predict_x0_from_eps": [
        (lambda x_t, t, eps, s: (x_t + _s1(s, t) * eps) / _sa(s, t), "Sign error"),
        (lambda x_t, t, eps, s: x_t - _s1(s, t) * eps, "undo that scaling"),
        (lambda x_t, t, eps, s: (x_t - (1 - s.alphas_cumprod[t]).view(-1, 1, 1, 1) * eps) / s.alphas_cumprod[t].view(-1, 1, 1, 1),
         "Forgot the square roots"),
        (lambda x_t, t, eps, s: (x_t - _sa(s, t) * eps) / _s1(s, t), "swapped"),  # swapped coefficients
        (lambda x_t, t, eps, s: (x_t - (1 - _col(s.alphas, t)).sqrt() * eps) / _col(s.alphas, t).sqrt(), "cumulative ᾱ_t"),  # α for ᾱ
        (lambda x_t, t, eps, s: (x_t - _s1(s, t) * eps) * _sa(s, t), "divide"),
        (lambda x_t, t, eps, s: x_t / _sa(s, t) - _s1(s, t) * eps, "Divide the whole difference"),
        (lambda x_t, t, eps, s: (x_t - _s1(s, t[0]) * eps) / _sa(s, t[0]), "not t[0]"),
        (lambda x_t, t, eps, s: (x_t - s.sqrt_one_minus_alphas_cumprod[t] * eps) / s.sqrt_alphas_cumprod[t], "(B, 1, 1, 1)"),
        (lambda x_t, t, eps, s: (x_t - _col(s.sqrt_one_minus_alphas_cumprod, t - 1) * eps) / _col(s.sqrt_alphas_cumprod, t - 1),
         "Off by one"),
        (lambda x_t, t, eps, s: eps, "the argument `eps` itself"),
    ],
    "nb03.sinusoidal_timestep_embedding": [
        (lambda t, dim: _emb(t, dim, order="cos-sin"), "Sines first"),
        (lambda t, dim: torch.stack([torch.sin(t.float()[:, None] * _w(dim)), torch.cos(t.float()[:, None] * _w(dim))], 2)
         .reshape(len(t), dim), "interleaving"),
        (lambda t, dim: _emb(t, dim, w=torch.ones(dim // 2)), "its own frequency"),
        (lambda t, dim: _emb(t, dim, w=1 / _w(dim)), "sign of the exponent"),
        (lambda t, dim: _emb(t, dim, w=_w(dim, over=dim)), "fall too slowly"),
        (lambda t, dim: _emb(t, dim, w=_w(dim, log=math.log10)), "natural log"),
        (lambda t, dim: _emb(t, dim, w=_w(dim, start=1)), "i starts at 0"),
        (lambda t, dim: torch.sin(t.float()[:, None] * _w(dim)), "Half the features are missing"),
        (lambda t, dim: _emb(t, dim).T, "(B, dim), not (dim, B)"),
        (lambda t, dim: _emb(t, dim).double(), "wrong dtype"),
    ],
}

# Right on ordinary inputs, wrong on an edge case. A third element says the cells below break with it.
NEARLY_RIGHT = {
    "nb03.predict_x0_from_eps": [  # formerly passed: right wherever x̂₀ stays in [-1, 1]
        (lambda x_t, t, eps, s: ((x_t - _s1(s, t) * eps) / _sa(s, t)).clamp(-1, 1), "Do not clip", "the cells below break"),
    ],
}

CORRECT = {
    "nb03.predict_x0_from_eps": [
        lambda x_t, t, eps, s: (x_t - _s1(s, t) * eps) / _sa(s, t),
        lambda x_t, t, eps, s: (x_t - (1 - s.alphas_cumprod[t]).sqrt().reshape(-1, 1, 1, 1) * eps)
        / s.alphas_cumprod[t].sqrt().reshape(-1, 1, 1, 1),
    ],
    "nb03.sinusoidal_timestep_embedding": [
        lambda t, dim: _emb(t, dim),
        lambda t, dim: _emb(t, dim, w=10_000.0 ** (-torch.arange(dim // 2).float() / (dim // 2))),
    ],
}

FRAGMENTS = {
    "nb03.predict_x0_from_eps": ["(x_t − √(1−ᾱ_t) ε) / √ᾱ_t", "x_t − √(1−ᾱ_t) ε", "x_t - √(1 - ᾱ_t)·eps",
                         "x_t - sqrt(1 - abar_t) * eps", "(x_t - sqrt_one_minus", "x_t - sqrt_one_minus_abar * eps"],
    "nb03.sinusoidal_timestep_embedding": ["exp(-ln(10000)", "exp(-math.log(10000", "exp(-math.log(10_000", "10000^(-i", "10000**(-i",
                                "10000 ** (-i", "t.float()[:, None] * w"],
}


def test_an_unknown_scaling_mistake_hears_how_the_factor_changes_with_t():
    def divided_twice(x_t, t, eps, s):  # an invented mistake, not in the registry
        return (x_t - _s1(s, t) * eps) / _sa(s, t) ** 3

    out, _ = check_table.run_check("nb03.predict_x0_from_eps", divided_twice)
    assert "the multiple changes" in out and "at t = 0" in out and "at t = 999" in out
