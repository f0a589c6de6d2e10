"""Notebook 9's checks (flow_interpolate, flow_matching_loss, flow_euler_step): every wrong answer in the table fails
with a hint that names it and never gives the formula; right answers in several styles pass; the cells below run."""

import torch
import torch.nn.functional as F

from course_utils.flow import flow_times
from course_utils.model import TinyUNet, UNetConfig


def _later_interpolate(flow_interpolate):  # the path of one digit, and the statistics of x_t at t = 0.5
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(1, 1, 28, 28, generator=g) * 2 - 1
    noise = torch.randn(1, 1, 28, 28, generator=g)
    ts = torch.linspace(0, 1, 6)
    path = flow_interpolate(x0.expand(6, -1, -1, -1), noise.expand(6, -1, -1, -1), ts)
    print(f"{(path[0] - x0[0]).abs().max():.4f} {(path[-1] - noise[0]).abs().max():.4f}")
    many = flow_interpolate(x0.expand(256, -1, -1, -1), torch.randn(256, 1, 28, 28, generator=g), torch.full((256,), 0.5))
    print(f"{many.std(0).mean():.3f}")


def _later_loss(flow_matching_loss):  # the loss of a flow U-Net on a batch, and one gradient step
    torch.manual_seed(2)
    net = TinyUNet(UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False,
                              continuous_time=True))
    g = torch.Generator().manual_seed(3)
    x0, noise, t = torch.rand(8, 1, 28, 28, generator=g) * 2 - 1, torch.randn(8, 1, 28, 28, generator=g), torch.rand(8, generator=g)
    loss = flow_matching_loss(net, x0, t, noise)
    print(f"{loss.item():.3f}")
    loss.backward()


def _later_euler(flow_euler_step):  # a hand-written Euler loop on a known velocity field
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    target = torch.zeros_like(x)
    for t, t_prev in flow_times(4):
        velocity = (x - target) / t  # the straight line from x back to the target, per unit of t
        x = flow_euler_step(x, velocity, t, t_prev)
    print(f"{x.abs().max():.4f}")


LATER = {"nb09.flow_interpolate": _later_interpolate, "nb09.flow_matching_loss": _later_loss,
         "nb09.flow_euler_step": _later_euler}


def _tb(t):
    return t.view(-1, 1, 1, 1)


def _x_t(x0, t, noise):
    return (1 - _tb(t)) * x0 + _tb(t) * noise


WRONG = {
    "nb09.flow_interpolate": [
        (lambda x0, noise, t: _tb(t) * x0 + (1 - _tb(t)) * noise, "ends are swapped"),
        (lambda x0, noise, t: (1 - _tb(t)).sqrt() * x0 + _tb(t).sqrt() * noise, "square-root weights"),
        (lambda x0, noise, t: (1 - _tb(t)) * x0 + noise, "noise must be scaled"),
        (lambda x0, noise, t: x0 + _tb(t) * noise, "must fade out"),
        (lambda x0, noise, t: (1 - t) * x0 + t * noise, "shape (B, 1, 1, 1)"),
        (lambda x0, noise, t: noise - x0, "the velocity"),
        (lambda x0, noise, t: (1 - t[0]) * x0 + t[0] * noise, "Each image has its own t"),
        (lambda x0, noise, t: torch.lerp(x0, noise, _tb(t)).clamp(-1, 1), "Do not clip"),
    ],
    "nb09.flow_matching_loss": [
        (lambda m, x0, t, noise: F.mse_loss(m(_x_t(x0, t, noise), t), x0 - noise), "points the wrong way"),
        (lambda m, x0, t, noise: F.mse_loss(m(_x_t(x0, t, noise), t), noise), "notebook 4's ε"),
        (lambda m, x0, t, noise: F.mse_loss(m(_x_t(x0, t, noise), t), x0), "not the clean image"),
        (lambda m, x0, t, noise: F.mse_loss(m(x0, t), noise - x0), "not the clean image"),
        (lambda m, x0, t, noise: ((m(_x_t(x0, t, noise), t) - (noise - x0)) ** 2).sum(), "must not grow"),
        (lambda m, x0, t, noise: F.mse_loss(m(_x_t(x0, t, noise), 1 - t), noise - x0), "same t"),
        (lambda m, x0, t, noise: F.l1_loss(m(_x_t(x0, t, noise), t), noise - x0), "*squared*"),
        (lambda m, x0, t, noise: F.mse_loss(m(_x_t(x0, t, noise), t), noise - x0).item(), "calls `loss.backward()`"),
    ],
    "nb09.flow_euler_step": [
        (lambda x_t, v, t, t_prev: x_t + (t - t_prev) * v, "*down*"),
        (lambda x_t, v, t, t_prev: x_t + v, "per unit of t"),
        (lambda x_t, v, t, t_prev: x_t - t * v, "jumps all the way"),
        (lambda x_t, v, t, t_prev: x_t - t_prev * v, "difference between the two times"),
        (lambda x_t, v, t, t_prev: (t_prev - t) * v, "starts from where you are"),
        (lambda x_t, v, t, t_prev: x_t.add_((t_prev - t) * v), "in place"),
    ],
}

CORRECT = {
    "nb09.flow_interpolate": [
        lambda x0, noise, t: _x_t(x0, t, noise),
        lambda x0, noise, t: torch.lerp(x0, noise, t[:, None, None, None]),
        lambda x0, noise, t: x0 + t.view(-1, 1, 1, 1) * (noise - x0),
    ],
    "nb09.flow_matching_loss": [
        lambda m, x0, t, noise: F.mse_loss(m(_x_t(x0, t, noise), t), noise - x0),
        lambda m, x0, t, noise: ((noise - x0 - m(x0 + _tb(t) * (noise - x0), t)) ** 2).mean(),
    ],
    "nb09.flow_euler_step": [
        lambda x_t, v, t, t_prev: x_t + (t_prev - t) * v,
        lambda x_t, v, t, t_prev: x_t - (t - t_prev) * v,
    ],
}

FRAGMENTS = {
    "nb09.flow_interpolate": ["(1 - t) * x0 + t * noise", "(1 − t) x₀ + t ε", "(1-t)x0 + tε", "lerp(x0, noise"],
    "nb09.flow_matching_loss": ["noise - x0", "ε − x₀", "ε - x0", "eps - x0"],
    "nb09.flow_euler_step": ["x_t + (t_prev - t) * v", "(t_prev - t)", "x - (t - t_prev)", "(t − t_prev)"],
}
