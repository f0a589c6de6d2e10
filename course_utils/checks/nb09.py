"""Checks for notebook 9, flow matching: the straight path x_t, the velocity loss, and one Euler step."""

from __future__ import annotations

import torch

from .. import flow
from ..model import TinyUNet, UNetConfig
from .registry import Case, Exercise, KnownError, KnownMistake, register

_g = torch.Generator().manual_seed(909)
_x0 = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_t = torch.tensor([0.0, 0.25, 0.7, 1.0])
_T_ITEMS = ("t = 0", "t = 0.25", "t = 0.7", "t = 1")


def _tb(t):
    """t (B,) as (B, 1, 1, 1), to write the wrong answers."""
    return t.view(-1, 1, 1, 1)


def _path_cases():
    return [Case((_x0, _eps, _t), label="t = 0, 0.25, 0.7, 1", items=_T_ITEMS),
            Case((_x0[:2], _eps[:2], torch.tensor([0.5, 0.5])), label="t = 0.5")]


register(Exercise(
    "nb09.flow_interpolate", "09_flow_matching", "flow_interpolate", "the straight path from data to noise", "easy",
    flow.flow_interpolate,
    cases=_path_cases,
    mistakes=(
        KnownMistake("the ends swapped", lambda x0, n, t: _tb(t) * x0 + (1 - _tb(t)) * n,
                     "The ends are swapped: at t = 0 the path must be at the clean image, at t = 1 at the noise."),
        KnownMistake("the diffusion's square-root weights", lambda x0, n, t: (1 - _tb(t)).sqrt() * x0 + _tb(t).sqrt() * n,
                     "Those are square-root weights, as in the diffusion's q(x_t | x₀): a straight line weighs the two "
                     "ends with weights that change linearly in t."),
        KnownMistake("the noise added unscaled", lambda x0, n, t: (1 - _tb(t)) * x0 + n,
                     "The noise must be scaled too: at t = 0 none of it may be left."),
        KnownMistake("the image not scaled", lambda x0, n, t: x0 + _tb(t) * n,
                     "The image must fade out as t grows: at t = 1 nothing of it may be left."),
        KnownMistake("the weights do not add up to 1", lambda x0, n, t: (1 - _tb(t)) * x0 + (1 + _tb(t)) * n / 2,
                     "At every t the two weights must add up to 1, so that the path goes from one end to the other."),
        KnownMistake("one t for the whole batch", lambda x0, n, t: (1 - _tb(t[:1])) * x0 + _tb(t[:1]) * n,
                     "Each image has its own t: use the whole (B,) tensor, shaped to broadcast over (B, C, H, W)."),
        KnownMistake("the velocity returned", lambda x0, n, t: n - x0,
                     "That is the path's direction (the velocity), not the point on the path at time t."),
        KnownMistake("clipped to [-1, 1]", lambda x0, n, t: ((1 - _tb(t)) * x0 + _tb(t) * n).clamp(-1, 1),
                     "Do not clip: noise has values beyond [-1, 1], and x_t must keep them so that the model sees "
                     "the same inputs it was trained on."),
    ),
    errors=(
        KnownError("t not shaped per image", r"size of tensor a \(\d+\) must match the size of tensor b",
                   "t is one number per image, shape (B,); to multiply whole images, give it shape (B, 1, 1, 1) "
                   "(the course's other exercises reshape t the same way)."),
    ),
))


class _Reacting(torch.nn.Module):
    """A small deterministic network whose output depends strongly on both x_t and t, so that feeding it the
    wrong image or the wrong time changes the loss by far more than rounding."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.7))

    def forward(self, x, t):
        t = torch.as_tensor(t, dtype=x.dtype).view(-1, 1, 1, 1)
        return self.scale * x * (1 + 3 * t) - t


def _tiny_flow_model() -> TinyUNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cfg = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False,
                         continuous_time=True)
        return TinyUNet(cfg).eval()


def _loss_cases():
    t = torch.tensor([0.1, 0.4, 0.6, 0.9])
    return [Case((_Reacting(), _x0, t, _eps), label="a small network that reacts to x_t and t"),
            Case((_tiny_flow_model(), _x0[:2], t[:2], _eps[:2]), label="a flow-matching U-Net")]


def _mse(prediction, target):
    return ((prediction - target) ** 2).mean()


def _x_t(x0, t, n):
    return (1 - _tb(t)) * x0 + _tb(t) * n


def _reaches_the_weights(loss, model, *_):
    params = [p for p in model.parameters() if p.requires_grad]
    if not isinstance(loss, torch.Tensor) or not loss.requires_grad:
        return ("your loss is not connected to the network (it has no gradient), so training could not use it.",
                "Keep the loss a tensor built from the model's output: no `.item()`, `.detach()` or `torch.no_grad()`.")
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    if all(g is None for g in grads):
        return ("your loss does not depend on the network's weights, so training would not change them.",
                "Build the loss from the model's output at the point x_t of the path.")
    return None


register(Exercise(
    "nb09.flow_matching_loss", "09_flow_matching", "flow_matching_loss", "the velocity target and its loss", "medium",
    flow.flow_matching_loss,
    cases=_loss_cases,
    mistakes=(
        KnownMistake("the velocity's sign flipped", lambda m, x0, t, n: _mse(m(_x_t(x0, t, n), t), x0 - n),
                     "The target points the wrong way: t grows from the data (t = 0) to the noise (t = 1), and the "
                     "velocity is the rate of change of x_t as t grows."),
        KnownMistake("the noise as the target (ε-prediction)", lambda m, x0, t, n: _mse(m(_x_t(x0, t, n), t), n),
                     "That target is notebook 4's ε. Here the network predicts the velocity: differentiate your x_t "
                     "with respect to t."),
        KnownMistake("the clean image as the target", lambda m, x0, t, n: _mse(m(_x_t(x0, t, n), t), x0),
                     "The network predicts the velocity, not the clean image: differentiate x_t with respect to t."),
        KnownMistake("the clean image fed to the network", lambda m, x0, t, n: _mse(m(x0, t), n - x0),
                     "Feed the network the point x_t on the path (exercise 1), not the clean image."),
        KnownMistake("the noise fed to the network", lambda m, x0, t, n: _mse(m(n, t), n - x0),
                     "Feed the network the point x_t on the path (exercise 1), not the noise."),
        KnownMistake("summed instead of averaged", lambda m, x0, t, n: ((m(_x_t(x0, t, n), t) - (n - x0)) ** 2).sum(),
                     "Average the squared error over images and pixels, as in notebook 4: the loss must not grow with "
                     "the batch size."),
        KnownMistake("the time given to the network as 1 - t", lambda m, x0, t, n: _mse(m(_x_t(x0, t, n), 1 - t), n - x0),
                     "Pass the network the same t you used to make x_t: it needs to know where on the path x_t lies."),
        KnownMistake("the path's ends swapped", lambda m, x0, t, n: _mse(m(_tb(t) * x0 + (1 - _tb(t)) * n, t), n - x0),
                     "x_t is made with its ends swapped: at t = 0 it must be the clean image (exercise 1)."),
        KnownMistake("the absolute error (L1)", lambda m, x0, t, n: (m(_x_t(x0, t, n), t) - (n - x0)).abs().mean(),
                     "Square the error (mean *squared* error), don't take its absolute value."),
    ),
    type_hint="Return the loss as a tensor (not `.item()`): training calls `loss.backward()` on it.",
    validate=_reaches_the_weights,
))


def _euler_cases():
    v = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    return [Case((_eps, v, 1.0, 0.75), label="from t = 1 to 0.75"),
            Case((_x0, v, 0.3, 0.0), label="the last step, to t = 0"),
            Case((_eps, v, 1.0, 0.0), label="one step for the whole path")]


register(Exercise(
    "nb09.flow_euler_step", "09_flow_matching", "flow_euler_step", "one Euler step of the flow ODE", "easy",
    flow.flow_euler_step,
    cases=_euler_cases,
    mistakes=(
        KnownMistake("a step in the wrong direction", lambda x, v, t, tp: x + (t - tp) * v,
                     "Sampling runs t *down* from 1 to 0: the step's length in time is negative. Which way does "
                     "x move when t decreases along a velocity v?"),
        KnownMistake("the velocity added whole", lambda x, v, t, tp: x + v,
                     "Scale the velocity by how far in time the step goes: a velocity is a change *per unit of t*."),
        KnownMistake("the velocity subtracted whole", lambda x, v, t, tp: x - v,
                     "Scale the velocity by how far in time the step goes: a velocity is a change *per unit of t*."),
        KnownMistake("scaled by t instead of the step", lambda x, v, t, tp: x - t * v,
                     "That jumps all the way to t = 0 whatever t_prev is: scale by the step's own length in time."),
        KnownMistake("scaled by t_prev", lambda x, v, t, tp: x - tp * v,
                     "Scale the velocity by the step's length in time, the difference between the two times."),
        KnownMistake("x_t not kept", lambda x, v, t, tp: (tp - t) * v,
                     "An Euler step starts from where you are: add the move to x_t."),
    ),
))
