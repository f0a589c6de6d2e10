"""Notebook 2's checks (alphas_cumprod_from_betas, q_sample, snr_db): every wrong answer in the table fails with a
hint that names it and never gives the formula; right answers in several styles pass; the cells below run."""

import math

import check_table
import torch

from course_utils import schedules

_linear = schedules.make_schedule("linear")
_cosine = schedules.make_schedule("cosine")


def _later_abar(alphas_cumprod_from_betas):  # cells 16, 40
    for s in (_linear, _cosine):
        abar = alphas_cumprod_from_betas(s.betas)
        assert (abar - s.alphas_cumprod).abs().max() < 1e-4
        print(f"{abar[0]:.4g}", int((abar < 0.5).nonzero()[0]), f"{(abar < 0.01).float().mean():.0%}")


def _later_q_sample(q_sample):  # cells 24, 29
    g = torch.Generator().manual_seed(3)
    x0 = torch.rand(1, 1, 28, 28, generator=g) * 2 - 1
    ts = [0, 50, 999]
    x_ts = q_sample(x0.expand(3, -1, -1, -1), torch.tensor(ts), _linear, torch.randn(1, 1, 28, 28, generator=g).expand(3, -1, -1, -1))
    assert x_ts.shape == (3, 1, 28, 28)
    x_jump = q_sample(x0.expand(64, -1, -1, -1), torch.full((64,), 300), _linear, torch.randn(64, 1, 28, 28, generator=g))
    mean_pred = _linear.alphas_cumprod[300].sqrt() * x0[0]
    print(f"largest |mean - closed form|: {(x_jump.mean(0) - mean_pred).abs().max():.4f}, "
          f"largest |variance - closed form|: {(x_jump.var(0) - (1 - _linear.alphas_cumprod[300])).abs().max():.4f}")


def _later_snr(snr_db):  # cell 46
    for abar in (_linear.alphas_cumprod, _cosine.alphas_cumprod):
        s = snr_db(abar)
        print(f"{s[0]:+.1f} dB", int((s < -20).nonzero()[0]))


LATER = {"nb02.alphas_cumprod_from_betas": _later_abar, "nb02.q_sample": _later_q_sample, "nb02.snr_db": _later_snr}


def _abar(t, s):
    return s.alphas_cumprod[t].view(-1, 1, 1, 1)


def _loop_product(betas):
    out, running = [], 1.0
    for b in betas:
        running = running * (1 - b)
        out.append(running)
    return torch.stack(out)


WRONG = {
    "nb02.alphas_cumprod_from_betas": [
        (lambda betas: torch.cumprod(betas, 0), "You multiplied the β_t"),
        (lambda betas: torch.cumsum(1 - betas, 0), "running *sum*"),  # cumsum for cumprod
        (lambda betas: 1 - torch.cumsum(betas, 0), "not 1 minus a running sum"),
        (lambda betas: 1 - betas, "That is α_t"),  # returning α
        (lambda betas: torch.cat([torch.ones(1, dtype=betas.dtype), torch.cumprod(1 - betas, 0)[:-1]]), "Off by one"),
        (lambda betas: torch.cumprod(1 - betas, 0)[1:], "One entry is missing"),
        (lambda betas: torch.prod(1 - betas) * torch.ones_like(betas), "*running* product"),
        (lambda betas: torch.cumprod(1 - betas, 0).sqrt(), "No square roots"),
        (lambda betas: torch.cumprod(1 - betas.double(), 0), "wrong dtype"),
        (lambda betas: [float(v) for v in torch.cumprod(1 - betas, 0)], "expected a torch.Tensor"),
        (lambda betas: betas.mul_(-1).add_(1).cumprod_(0), "in place"),
    ],
    "nb02.q_sample": [
        (lambda x0, t, s, noise: _abar(t, s) * x0 + (1 - _abar(t, s)) * noise, "Forgot the square roots"),
        (lambda x0, t, s, noise: (1 - _abar(t, s)).sqrt() * x0 + _abar(t, s).sqrt() * noise, "swapped"),
        (lambda x0, t, s, noise: s.alphas[t].view(-1, 1, 1, 1).sqrt() * x0 + s.betas[t].view(-1, 1, 1, 1).sqrt() * noise,
         "a single step"),
        (lambda x0, t, s, noise: _abar(t, s).sqrt() * x0, "Add the noise term"),
        (lambda x0, t, s, noise: x0 + (1 - _abar(t, s)).sqrt() * noise, "Scale the image too"),
        (lambda x0, t, s, noise: s.alphas_cumprod_prev[t].view(-1, 1, 1, 1).sqrt() * x0
         + (1 - s.alphas_cumprod_prev[t].view(-1, 1, 1, 1)).sqrt() * noise, "Off by one"),
        (lambda x0, t, s, noise: _abar(t[0], s).sqrt() * x0 + (1 - _abar(t[0], s)).sqrt() * noise, "not t[0]"),
        (lambda x0, t, s, noise: s.alphas_cumprod[t].sqrt() * x0 + (1 - s.alphas_cumprod[t]).sqrt() * noise, "(B, 1, 1, 1)"),
        (lambda x0, t, s, noise: _abar(t, s).sqrt() * x0 + (1 - _abar(t, s)).sqrt() * torch.randn_like(x0),
         "use the noise it is given"),  # fresh noise: no misleading reshape hint
        (lambda x0, t, s, noise: _abar(t + 1, s).sqrt() * x0 + (1 - _abar(t + 1, s)).sqrt() * noise, "index the schedule with t"),
        (lambda x0, t, s, noise: _abar(t, s).sqrt() * x0 + (1 - _abar(t, s)).sqrt() * noise.double(), "wrong dtype"),
        (lambda x0, t, s, noise: torch.clamp(_abar(t, s).sqrt() * x0 + (1 - _abar(t, s)).sqrt() * noise, -1, 1), "Do not clip"),
    ],
    "nb02.snr_db": [
        (lambda a: a / (1 - a), "convert it to decibels"),
        (lambda a: 20 * torch.log10(a / (1 - a)), "not 20·log10"),
        (lambda a: 10 * torch.log(a / (1 - a)), "natural log"),
        (lambda a: 10 * torch.log10((1 - a) / a), "Signal over noise"),
        (lambda a: 10 * torch.log10(torch.sqrt(a / (1 - a))), "ratio of amplitudes"),  # the amplitude ratio
        (lambda a: 10 * torch.log10(torch.sqrt(a) / torch.sqrt(1 - a)), "ratio of amplitudes"),
        (lambda a: 10 * torch.log10(a), "Divide by the noise's variance"),
        (lambda a: torch.log10(a / (1 - a)), "bels"),
        (lambda a: torch.tensor([10 * math.log10(v / (1 - v)) for v in a.tolist()], dtype=torch.float64), "wrong dtype"),
        (lambda a: 10 * math.log10(a / (1 - a)), "one per image"),
    ],
}

CORRECT = {
    "nb02.alphas_cumprod_from_betas": [lambda betas: torch.cumprod(1 - betas, dim=0), lambda betas: torch.exp(torch.cumsum(torch.log1p(-betas), 0)),
                            _loop_product],
    "nb02.q_sample": [
        lambda x0, t, s, noise: _abar(t, s).sqrt() * x0 + (1 - _abar(t, s)).sqrt() * noise,
        lambda x0, t, s, noise: s.sqrt_alphas_cumprod[t][:, None, None, None] * x0
        + s.sqrt_one_minus_alphas_cumprod[t][:, None, None, None] * noise,
    ],
    "nb02.snr_db": [lambda a: 10 * torch.log10(a / (1 - a)), lambda a: 10 * (torch.log10(a) - torch.log10(1 - a)),
                    lambda a: 10 * torch.log(a / (1 - a)) / math.log(10)],
}

FRAGMENTS = {
    "nb02.alphas_cumprod_from_betas": ["cumprod(1 - β", "cumprod(1 - betas", "cumprod(1-b", "∏(1 - β", "(1 − β_0)(1 − β_1)"],
    "nb02.q_sample": ["√ᾱ_t x₀", "√ᾱ_t x0", "√ᾱ_t·x_0", "√(1-ᾱ_t) ε", "√(1 − ᾱ_t)·noise", "abar.sqrt() * x0",
                      "(1 - abar).sqrt() * noise", "sqrt(abar_t) * x0", "sqrt(1 - abar_t) * noise"],
    "nb02.snr_db": ["10 · log10(ᾱ / (1 − ᾱ))", "10·log₁₀(ᾱ_t / (1−ᾱ_t))", "log10(a / (1 - a))", "log10(abar / (1 - abar))",
                    "log10(alphas_cumprod / (1 - alphas_cumprod))"],
}


def test_fresh_noise_is_named_instead_of_a_reshape_hint():
    out, _ = check_table.run_check("nb02.q_sample", lambda x0, t, s, noise: _abar(t, s).sqrt() * x0
                                   + (1 - _abar(t, s)).sqrt() * torch.randn_like(x0))
    assert "different result each time" in out and "view(-1, 1, 1, 1)" not in out


def test_an_unknown_wrong_answer_hears_at_which_steps_it_is_right():
    def noise_scaled_by_abar(x0, t, s, noise):  # an invented mistake, not in the registry
        return _abar(t, s).sqrt() * x0 + (1 - _abar(t, s)).sqrt() * noise * (1 + _abar(t, s))

    out, _ = check_table.run_check("nb02.q_sample", noise_scaled_by_abar)
    assert "right for t = 999 but off for t = 0, t = 10, t = 500" in out


def test_alphas_cumprod_keeps_the_dtype_of_the_betas():
    out, _ = check_table.run_check("nb02.alphas_cumprod_from_betas", lambda b: torch.cumprod(1 - b.float(), 0))
    assert "case: cosine, T=50, float64" in out and "wrong dtype" in out
