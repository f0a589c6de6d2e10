"""Notebook 4's checks (eps_prediction_loss, ema_step): every wrong answer in the table fails with a hint that
names it and never gives the formula; right answers in several styles pass; the cells below run."""

import check_table
import torch
import torch.nn.functional as F

from course_utils import forward, schedules
from course_utils.model import TinyUNet, UNetConfig

_schedule = schedules.make_schedule("linear")


def _net():
    torch.manual_seed(1)
    return TinyUNet(UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False))


def _later_loss(eps_prediction_loss):  # cells 16 and 47
    net = _net()
    g = torch.Generator().manual_seed(0)
    x0, t = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1, torch.randint(0, 1000, (4,), generator=g)
    noise = torch.randn(4, 1, 28, 28, generator=g)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss = eps_prediction_loss(net, x0, t, noise, _schedule)
    print(f"{loss.item():.3f}")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        print(f"{eps_prediction_loss(net, x0, torch.full((4,), 500), noise, _schedule).item():.3f}")


def _later_ema(ema_step):  # cell 23
    signal = (torch.arange(200) >= 50).float() + 0.3 * torch.randn(200, generator=torch.Generator().manual_seed(1))
    for decay in (0.9, 0.99):
        average, trace = torch.tensor(0.0), []
        for v in signal:
            average = ema_step(average, v, decay)
            trace.append(average.item())
        print(f"decay {decay}: the average ends at {trace[-1]:.3f}")


LATER = {"nb04.eps_prediction_loss": _later_loss, "nb04.ema_step": _later_ema}


def _x_t(x0, t, noise, s):
    return forward.q_sample(x0, t, s, noise=noise)


def _mse(model, x0, t, noise, s):
    return ((model(_x_t(x0, t, noise, s), t) - noise) ** 2).mean()


def _no_grad_loss(model, x0, t, noise, s):
    with torch.no_grad():
        return _mse(model, x0, t, noise, s)


WRONG = {
    "nb04.eps_prediction_loss": [
        (lambda m, x0, t, noise, s: float(_mse(m, x0, t, noise, s).detach()), "calls `loss.backward()`"),
        (lambda m, x0, t, noise, s: _mse(m, x0, t, noise, s).detach(), "not connected to the network"),
        (_no_grad_loss, "not connected to the network"),
        (lambda m, x0, t, noise, s: F.mse_loss(m(_x_t(x0, t, noise, s), t), x0), "compare its output with `noise`"),
        (lambda m, x0, t, noise, s: F.mse_loss(m(x0, t), noise), "*noisy* image"),
        (lambda m, x0, t, noise, s: ((m(_x_t(x0, t, noise, s), t) - noise) ** 2).sum(), "don't sum it"),
        (lambda m, x0, t, noise, s: ((m(_x_t(x0, t, noise, s), t) - noise) ** 2).sum(dim=(1, 2, 3)).mean(),
         "summed over the pixels"),  # summing over pixels
        (lambda m, x0, t, noise, s: F.mse_loss(m(_x_t(x0, t[0], noise, s), t[0].repeat(len(t))), noise), "not t[0]"),  # one t
        (lambda m, x0, t, noise, s: F.mse_loss(m(_x_t(x0, t, torch.randn_like(x0), s), t), noise), "use the noise it is given"),
        (lambda m, x0, t, noise, s: F.mse_loss(m(s.alphas_cumprod[t].view(-1, 1, 1, 1) * x0
                                                  + (1 - s.alphas_cumprod[t]).view(-1, 1, 1, 1) * noise, t), noise),
         "lacks its square roots"),
        (lambda m, x0, t, noise, s: F.l1_loss(m(_x_t(x0, t, noise, s), t), noise), "*squared*"),
        (lambda m, x0, t, noise, s: F.mse_loss(m(_x_t(x0, t, noise, s)), noise), "needs the steps too"),
        (lambda m, x0, t, noise, s: (m(_x_t(x0, t, noise, s), t) - noise) ** 2, "wrong shape"),
    ],
    "nb04.ema_step": [
        (lambda average, value, decay: decay * value + (1 - decay) * average, "*keep*"),
        (lambda average, value, decay: decay * average + decay * value, "add up to 1"),
        (lambda average, value, decay: average + (1 - decay) * value, "scaled down as well"),
        (lambda average, value, decay: (average + value) / 2, "plain mean"),
        (lambda average, value, decay: value, "throws the average away"),
        (lambda average, value, decay: average, "never moves"),
        (lambda average, value, decay: average.mul_(decay).add_((1 - decay) * value), "in place"),
        (lambda average, value, decay: float(decay * average + (1 - decay) * value), "take a single number"),
        (lambda average, value, decay: (decay * average + (1 - decay) * value).tolist(), "expected a torch.Tensor"),
        (lambda average, value, decay: decay * average - (1 - decay) * value, "subtracting"),
    ],
}

# Right on ordinary inputs, wrong on an edge case. A third element says the cells below break with it.
NEARLY_RIGHT = {
    "nb04.eps_prediction_loss": [  # formerly passed: the right number, but training cannot back-propagate it
        (lambda m, x0, t, noise, s: _mse(m, x0, t, noise, s).item(), "calls `loss.backward()`", "the cells below break"),
    ],
}

CORRECT = {
    "nb04.eps_prediction_loss": [
        _mse,
        lambda m, x0, t, noise, s: F.mse_loss(m(_x_t(x0, t, noise, s), t), noise),
        lambda m, x0, t, noise, s: F.mse_loss(noise, m(s.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1) * x0
                                                       + s.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1) * noise, t)),
    ],
    "nb04.ema_step": [
        lambda average, value, decay: decay * average + (1 - decay) * value,
        lambda average, value, decay: torch.lerp(value, average, decay),
        lambda average, value, decay: average + (1 - decay) * (value - average),
    ],
}

FRAGMENTS = {
    "nb04.eps_prediction_loss": ["model(x_t, t) - noise", "noise - model(x_t, t)", "mse_loss(model(x_t, t), noise",
                                 "(ε − ε_θ(x_t, t))²", "mse_loss(model(q_sample("],
    "nb04.ema_step": ["decay · average + (1 − decay) · value", "decay * average + (1 - decay) * value",
                      "d·a + (1 − d)·v", "decay*a + (1-decay)*v"],
}


def test_a_float_loss_fails_and_the_training_cell_gets_a_loss_it_can_back_propagate():
    out, returned = check_table.run_check("nb04.eps_prediction_loss", lambda m, x0, t, n, s: _mse(m, x0, t, n, s).item())
    assert "your result is a Python float, expected a torch.Tensor (0-d)" in out
    _later_loss(returned)


def test_the_check_does_not_change_the_notebooks_random_stream():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_table.run_check("nb04.eps_prediction_loss", lambda m, x0, t, n, s: F.mse_loss(m(_x_t(x0, t, torch.randn_like(x0), s), t), n))
    assert torch.equal(torch.rand(3), expected)
