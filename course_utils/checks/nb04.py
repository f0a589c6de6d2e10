"""Checks for notebook 4, training a tiny DDPM: the eps-prediction loss, one EMA update and one training step."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from .. import training
from ..forward import q_sample
from ..model import TinyUNet, UNetConfig
from ..schedules import make_schedule
from .registry import Case, Exercise, KnownError, KnownMistake, per_image, register

_g = torch.Generator().manual_seed(4321)
_schedule = make_schedule("linear", 1000)
_x0 = torch.rand(4, 1, 28, 28, generator=_g) * 2 - 1
_eps = torch.randn(4, 1, 28, 28, generator=_g)
_t = torch.tensor([3, 100, 500, 999])
_average = torch.randn(3, 5, generator=_g)
_value = torch.randn(3, 5, generator=_g)


def _tiny_model() -> TinyUNet:
    """A small untrained U-Net whose weights require gradients, so that the check can see the loss reach them."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cfg = UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)
        return TinyUNet(cfg).eval()


class _ProbeNet(nn.Module):
    """A stand-in network for the check, called like the U-Net: its output depends strongly on x_t and on t, down to
    a single step, so a loss made from the wrong x_t or the wrong t is far from the right one (an untrained U-Net's
    output is so small that its loss is close to mean(noise²) whatever it is given)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.7))
        self.shift = nn.Parameter(torch.tensor(0.5))

    def forward(self, x, t, labels=None):
        return self.scale * x + self.shift * torch.sin(1.3 * t.float()).view(-1, *([1] * (x.dim() - 1)))


def _x_t(x0, t, n, abar=None):
    abar = per_image(_schedule.alphas_cumprod if abar is None else abar, t)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * n


def _loss_cases():
    model, probe = _tiny_model(), _ProbeNet()
    return [Case((model, _x0, _t, _eps, _schedule), label="a small U-Net, t = 3, 100, 500, 999"),
            Case((probe, _x0, _t, _eps, _schedule), label="a network sensitive to x_t and t, t = 3, 100, 500, 999"),
            Case((probe, _x0[:1], _t[3:], _eps[:1], _schedule), label="one image at t = 999")]


def _reaches_the_weights(loss, model, *_):
    """The loss must be a tensor whose gradient reaches the network's weights (the training loop calls .backward())."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not loss.requires_grad:
        return ("your loss is not connected to the network (it has no gradient), so `loss.backward()` in the "
                "training loop below would fail.",
                "Keep the loss a tensor built from the model's output: no `.item()`, `.detach()`, `.data`, "
                "`torch.tensor(...)` around it, and no `torch.no_grad()` inside the function.")
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    if all(g is None for g in grads):
        return ("your loss does not depend on the network's weights, so training would not change them.",
                "Build the loss from the model's output, model(x_t, t).")
    return None


register(Exercise(
    "nb04.eps_prediction_loss", "04_training_a_tiny_ddpm", "eps_prediction_loss", "the ε-prediction objective (Algorithm 1)",
    "medium", training.eps_prediction_loss,
    cases=_loss_cases,
    mistakes=(
        KnownMistake("compared with x0 instead of the noise", lambda m, x0, t, n, s: ((m(_x_t(x0, t, n), t) - x0) ** 2).mean(),
                     "The network predicts the noise ε, so compare its output with `noise`, not with x0."),
        KnownMistake("the clean image fed to the network", lambda m, x0, t, n, s: ((m(x0, t) - n) ** 2).mean(),
                     "Feed the network the *noisy* image x_t (q_sample), not the clean one."),
        KnownMistake("the noise fed to the network", lambda m, x0, t, n, s: ((m(n, t) - n) ** 2).mean(),
                     "Feed the network the noisy image x_t made by q_sample, not the noise itself."),
        KnownMistake("summed instead of averaged", lambda m, x0, t, n, s: ((m(_x_t(x0, t, n), t) - n) ** 2).sum(),
                     "Average the squared error (`.mean()` or F.mse_loss), don't sum it: the loss must not grow "
                     "with the batch size or the image size."),
        KnownMistake("summed over the pixels, averaged over the batch",
                     lambda m, x0, t, n, s: ((m(_x_t(x0, t, n), t) - n) ** 2).flatten(1).sum(1).mean(),
                     "Your loss is summed over the pixels of each image (784 times too large): take the mean over "
                     "the pixels as well as over the batch."),
        KnownMistake("x_t without square roots", lambda m, x0, t, n, s: ((m(per_image(s.alphas_cumprod, t) * x0
                     + per_image(1 - s.alphas_cumprod, t) * n, t) - n) ** 2).mean(),
                     "Your x_t lacks its square roots; the simplest fix is to make it with q_sample(x0, t, schedule, noise)."),
        KnownMistake("one t for the whole batch", lambda m, x0, t, n, s: ((m(_x_t(x0, t[:1], n), t[:1].expand_as(t)) - n) ** 2).mean(),
                     "Each image has its own step: pass the whole (B,) tensor t to q_sample and to the model, not t[0]."),
        KnownMistake("the noise step used for x_t but not passed to the model",
                     lambda m, x0, t, n, s: ((m(_x_t(x0, t, n), torch.zeros_like(t)) - n) ** 2).mean(),
                     "Pass the same steps t to the model that you used to make x_t: it needs to know how noisy x_t is."),
        KnownMistake("the absolute error (L1)", lambda m, x0, t, n, s: (m(_x_t(x0, t, n), t) - n).abs().mean(),
                     "Square the error (mean *squared* error), don't take its absolute value."),
        KnownMistake("the model given t − 1", lambda m, x0, t, n, s: ((m(_x_t(x0, t, n), t - 1) - n) ** 2).mean(),
                     "Give the model the very step t you used to make x_t (no t − 1): the network must know exactly "
                     "how noisy its input is."),
        KnownMistake("the model given t + 1", lambda m, x0, t, n, s: ((m(_x_t(x0, t, n), t + 1) - n) ** 2).mean(),
                     "Give the model the very step t you used to make x_t (no t + 1): the network must know exactly "
                     "how noisy its input is."),
        KnownMistake("x_t made with x0 in place of the noise", lambda m, x0, t, n, s: ((m(_x_t(x0, t, x0), t) - n) ** 2).mean(),
                     "Your x_t is made from x0 twice: q_sample's last argument is the noise ε that goes into x_t (`noise`), "
                     "the same noise the network must then predict."),
        KnownMistake("compared with x_t", lambda m, x0, t, n, s: ((m(_x_t(x0, t, n), t) - _x_t(x0, t, n)) ** 2).mean(),
                     "The network's target is the noise ε that went into x_t (`noise`), not x_t itself."),
        KnownMistake("the root of the mean squared error", lambda m, x0, t, n, s: ((m(_x_t(x0, t, n), t) - n) ** 2).mean().sqrt(),
                     "No square root at the end: the loss is the mean squared error itself."),
    ),
    errors=(
        KnownError("the model called without t", r"forward\(\) missing 1 required positional argument",
                   "The model needs the steps too: it is called with the noisy images and their t."),
    ),
    type_hint="Return the loss as a tensor (not `.item()` or `float(...)`): the training loop below calls "
              "`loss.backward()` on it.",
    validate=_reaches_the_weights,
))


register(Exercise(
    "nb04.ema_step", "04_training_a_tiny_ddpm", "ema_step", "the exponential moving average of the weights", "easy",
    training.ema_step,
    cases=lambda: [Case((_average, _value, 0.9), label="decay 0.9"), Case((_average, _value, 0.999), label="decay 0.999"),
                   Case((_average[0], _value[0], 0.0), label="decay 0 (no memory)"),
                   Case((_average, _value, 1.0), label="decay 1 (never moves)"),
                   Case((torch.tensor(0.5), torch.tensor(2.0), 0.9), label="0-d tensors, as in the plot below")],
    mistakes=(
        KnownMistake("decay and 1 − decay swapped", lambda a, v, d: d * v + (1 - d) * a,
                     "The decay is how much of the old average you *keep*; the new value gets the small rest."),
        KnownMistake("weights that do not add up to 1", lambda a, v, d: d * a + d * v,
                     "The two weights must add up to 1, or the average drifts away from the values."),
        KnownMistake("no weight on the average", lambda a, v, d: a + (1 - d) * v,
                     "The two weights must add up to 1: the old average must be scaled down as well."),
        KnownMistake("a plain mean", lambda a, v, d: (a + v) / 2, "Use the decay: a plain mean of the two forgets the average much too fast."),
        KnownMistake("the new value returned", lambda a, v, d: v,
                     "Returning the new value throws the average away; mix the two with the decay."),
        KnownMistake("the old average returned", lambda a, v, d: a,
                     "Your average never moves: the new value must get a small share of it."),
        KnownMistake("the new value subtracted", lambda a, v, d: d * a - (1 - d) * v,
                     "Add the new value's share; subtracting it pushes the average away from the values."),
    ),
    checkpoints=(("decay 0 (no memory)", "With decay = 0 nothing of the old average is kept: the result must be the new "
                                         "value itself."),
                 ("decay 1 (never moves)", "With decay = 1 all of the old average is kept: the result must be the old "
                                           "average itself.")),
    generic_hint="If average and value are equal, one update must leave them equal: that fixes the weight of the new "
                 "value once you know the weight of the old average.",
    type_hint="Return a tensor (do not convert with `float(...)` or `.item()`): the cell below calls `.item()` on it.",
))


# ----------------------------------------------------------------------------- one training step (Algorithm 1)

_TINY_STEP_CONFIG = training.TrainConfig(
    architecture=UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False),
    batch_size=4, lr=5e-3, ema_decay=0.9, grad_clip=1.0, seed=0,
)


def _two_steps(train_step, seed: int, x0: torch.Tensor):
    """Run ``train_step`` twice on a fresh tiny run; what the check compares: the two losses, the weights, the
    EMA weights, and the generator's next draw (so t and ε must come from ``state.generator``, t first)."""
    with torch.random.fork_rng(devices=[]):
        state = training.new_train_state(replace(_TINY_STEP_CONFIG, seed=seed))
    losses = tuple(train_step(state, x0[i]) for i in range(2))
    flat = lambda module: torch.cat([p.detach().flatten() for p in module.parameters()])  # noqa: E731
    after = torch.rand(3, generator=state.generator)
    return (*losses, flat(state.model), flat(state.ema.model), after)


def _wrong_step(*, zero_grad=True, ema_first=False, ema=True, t_from_one=False, noise_first=False, clip=True,
                target="noise"):
    """A training step with one slip, for the table of known mistakes."""
    def step(state, x0):
        model, g, cfg = state.model, state.generator, state.config
        T = state.schedule.num_timesteps

        def draw_t():
            return torch.randint(1 if t_from_one else 0, T, (x0.shape[0],), generator=g)

        def draw_noise():
            return torch.randn(x0.shape, generator=g)

        if noise_first:
            noise = draw_noise()
            t = draw_t()
        else:
            t = draw_t()
            noise = draw_noise()
        if target == "noise":
            loss = training.training_loss(cfg, model, x0, t, noise, schedule=state.schedule)
        else:
            loss = ((model(q_sample(x0, t, state.schedule, noise=noise), t) - x0) ** 2).mean()
        if zero_grad:
            state.optimizer.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if ema and ema_first:
            state.ema.update(model)
        state.optimizer.step()
        if ema and not ema_first:
            state.ema.update(model)
        return loss.item()
    return step


def _step_cases():
    g = torch.Generator().manual_seed(77)
    x0 = torch.rand(2, 4, 1, 28, 28, generator=g) * 2 - 1  # two batches of 4 digits' worth of pixels
    return [Case((0, x0), label="two steps of a fresh run, seed 0"),
            Case((5, x0.flip(0)), label="two steps of a fresh run, seed 5")]


register(Exercise(
    "nb04.train_step", "04_training_a_tiny_ddpm", "train_step", "one training step: Algorithm 1 and the EMA", "medium",
    training.train_step,
    cases=_step_cases,
    call=_two_steps,  # a case is (seed, two batches): the check builds the run and takes two steps with the function
    mistakes=(
        KnownMistake("gradients never zeroed", _wrong_step(zero_grad=False),
                     "Your first step is right but the second is not: PyTorch *adds* new gradients to the old ones. "
                     "Clear them before each backward pass."),
        KnownMistake("the EMA updated before the optimizer step", _wrong_step(ema_first=True),
                     "The average must take in the weights *after* this step's update: update the EMA last."),
        KnownMistake("no EMA update", _wrong_step(ema=False),
                     "The weights are right but their average never moves: update `state.ema` after the optimizer "
                     "step."),
        KnownMistake("t drawn from 1 to T - 1", _wrong_step(t_from_one=True),
                     "The course numbers the steps from 0 to T - 1 (notebook 2's convention, not the paper's 1 to T): "
                     "draw t from all of them."),
        KnownMistake("ε drawn before t", _wrong_step(noise_first=True),
                     "Right pieces, wrong order: draw t first, then ε, from `state.generator`, so that a run can be "
                     "repeated (and resumed) exactly."),
        KnownMistake("no gradient clipping", _wrong_step(clip=False),
                     "Close, but the gradients are not clipped: limit their total norm to `state.config.grad_clip` "
                     "before the optimizer step (PyTorch's `torch.nn.utils` has the function)."),
        KnownMistake("the clean image as the target", _wrong_step(target="x0"),
                     "The network predicts the noise ε: the loss compares its output with the noise (use "
                     "`training_loss`, or your loss from exercise 1)."),
    ),
    type_hint="Return the loss as a Python number (`loss.item()`): the training loop records it in `state.losses`.",
    random_hint="Your steps differ from run to run: draw t and ε with `generator=state.generator` (t first), so that a "
                "run can be repeated and resumed exactly.",
    atol=1e-6, rtol=1e-5,
))
