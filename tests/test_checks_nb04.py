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


def _later_train(train_step):  # the live run: train_ddpm with the student's step, a few steps
    from course_utils.data import mnist_subset
    from course_utils.training import TrainConfig, new_train_state, train_ddpm

    config = TrainConfig(architecture=UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4,
                                                 attention=False), batch_size=4, train_steps=3)
    state = train_ddpm(new_train_state(config), mnist_subset("train", 16, seed=0)[0], step_function=train_step)
    assert state.step == 3 and len(state.losses) == 3


LATER = {"nb04.eps_prediction_loss": _later_loss, "nb04.ema_step": _later_ema, "nb04.train_step": _later_train}


def _step(state, x0, *, zero=True, clip=True, ema=True, ema_first=False, order=("t", "noise"), t_low=0,
          own_noise=False, item=True, backward=True, target="noise"):
    """A student's train_step in the style the notebook asks for, with one switch per slip."""
    from course_utils.training import training_loss

    draws = {}
    for what in order:
        if what == "t":
            draws["t"] = torch.randint(t_low, state.schedule.num_timesteps, (x0.shape[0],), generator=state.generator)
        else:
            draws["noise"] = torch.randn_like(x0) if own_noise else torch.randn(x0.shape, generator=state.generator)
    t, noise = draws["t"], draws["noise"]
    if target == "noise":
        loss = training_loss(state.config, state.model, x0, t, noise, schedule=state.schedule)
    else:
        loss = F.mse_loss(state.model(_x_t(x0, t, noise, state.schedule), t), x0)
    if zero:
        state.optimizer.zero_grad()
    if backward:
        loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), state.config.grad_clip)
    if ema and ema_first:
        state.ema.update(state.model)
    state.optimizer.step()
    if ema and not ema_first:
        state.ema.update(state.model)
    return loss.item() if item else loss


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
    "nb04.train_step": [
        (lambda state, x0: _step(state, x0, zero=False), "*adds* new gradients"),
        (lambda state, x0: _step(state, x0, ema_first=True), "update the EMA last"),
        (lambda state, x0: _step(state, x0, ema=False), "never moves"),
        (lambda state, x0: _step(state, x0, t_low=1), "from 0 to T - 1"),
        (lambda state, x0: _step(state, x0, order=("noise", "t")), "wrong order"),
        (lambda state, x0: _step(state, x0, clip=False), "not clipped"),
        (lambda state, x0: _step(state, x0, own_noise=True), "generator=state.generator"),
        (lambda state, x0: _step(state, x0, target="x0"), "predicts the noise"),
        (lambda state, x0: _step(state, x0, item=False), "Python number"),
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
    "nb04.train_step": [
        _step,
        lambda state, x0: __import__("course_utils.training", fromlist=["train_step"]).train_step(state, x0),
    ],
}

FRAGMENTS = {
    "nb04.eps_prediction_loss": ["model(x_t, t) - noise", "noise - model(x_t, t)", "mse_loss(model(x_t, t), noise",
                                 "(ε − ε_θ(x_t, t))²", "mse_loss(model(q_sample("],
    "nb04.ema_step": ["decay · average + (1 − decay) · value", "decay * average + (1 - decay) * value",
                      "d·a + (1 − d)·v", "decay*a + (1-decay)*v"],
    "nb04.train_step": ["optimizer.zero_grad()", "clip_grad_norm_(", "ema.update(state.model)", "torch.randint(0,",
                        "loss.backward()"],
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
