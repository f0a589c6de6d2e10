"""Training a DDPM: the eps-prediction loss, EMA, and a resumable loop.

The loss is Algorithm 1 of Ho et al. (2020):

    repeat
        x_0 ~ data,  t ~ Uniform{0, ..., T-1},  eps ~ N(0, I)
        take a gradient step on  || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2

For class-conditional models a fraction ``label_dropout`` of labels is
replaced by the null label, so the same network also learns the
unconditional eps needed by classifier-free guidance (Ho & Salimans 2022).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoints import CheckpointError, load_weights, read_checkpoint, save_checkpoint
from .env import progress
from .flow import TIME_SAMPLING, flow_matching_loss, sample_flow_times
from .forward import q_sample, randn_like
from .loop import StopGuard, shuffled_batches
from .model import MODEL_PRESETS, TinyUNet, UNetConfig, count_parameters
from .schedules import SCHEDULE_NAMES, NoiseSchedule, make_schedule
from .text2img import TextToImage, TextToImageConfig
from .validation import (
    check_finite,
    check_labels,
    check_training_numbers,
    course_images,
    float_images,
    real_number,
    whole_number,
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; saved inside every checkpoint.

    ``architecture`` is the network's shape: a :class:`UNetConfig`, or notebook 10's ``TextToImageConfig`` (any
    config class of :data:`MODEL_CLASSES`); the network itself is ``TrainState.model``.
    """

    architecture: UNetConfig | TextToImageConfig = field(default_factory=UNetConfig)
    schedule: str = "linear"
    num_timesteps: int = 1000  # T, diffusion steps
    train_steps: int = 10_000  # optimizer steps
    batch_size: int = 128
    lr: float = 1e-3
    warmup_steps: int = 200  # linear learning-rate warm-up
    lr_decay: str = "constant"  # after warm-up: "constant", or "cosine" down to 0 at train_steps
    ema_decay: float = 0.999
    label_dropout: float = 0.1  # conditional models only
    grad_clip: float = 1.0
    seed: int = 0
    objective: str = "eps"  # "eps": predict the noise (DDPM, Algorithm 1); "flow": predict the velocity (flow.py)
    time_sampling: str = "uniform"  # flow matching only: how t in [0, 1] is drawn (flow.TIME_SAMPLING)
    min_snr_gamma: float | None = None  # DDPM only: Min-SNR-γ loss weighting (eps_prediction_loss); None: off

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.time_sampling not in TIME_SAMPLING:
            raise ValueError(f"time_sampling must be one of {TIME_SAMPLING}, got {self.time_sampling!r}")
        if self.min_snr_gamma is not None and (self.objective != "eps" or not self.min_snr_gamma > 0):
            raise ValueError(f"min_snr_gamma is a number > 0 for the eps objective, or None; got {self.min_snr_gamma!r}")
        if (self.objective == "flow") != self.architecture.continuous_time:
            raise ValueError("a flow-matching run needs a model with continuous_time=True, and a DDPM run one "
                             "without: set both together (the mnist-flow preset does)")
        check_train_config(self)

    @property
    def checkpoint_kind(self) -> str:
        """The "kind" of this run's checkpoints: "ddpm" (a noise-predicting U-Net), "flow" (a velocity one), or
        the model config's own (the text-to-image model's "text2img")."""
        return getattr(self.architecture, "checkpoint_kind", None) or ("flow" if self.objective == "flow" else "ddpm")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["architecture"] = self.architecture.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config from :meth:`to_dict`'s dict, or from a checkpoint's "train" entry (other keys are ignored).
        Checkpoints written before the field was renamed call ``architecture`` "model"."""
        d = dict(d)
        if "model" in d and "architecture" not in d:
            d["architecture"] = d.pop("model")
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        d["architecture"] = model_config_from_dict(d["architecture"])
        return cls(**d)


OBJECTIVES = ("eps", "flow")
UNET_KINDS = ("ddpm", "flow", "text2img")  # checkpoint kinds that hold a step-trained model and its TrainConfig
LR_DECAYS = ("constant", "cosine")


# ----------------------------------------------------------------------------- which network a config builds
MODEL_CLASSES = {UNetConfig: TinyUNet, TextToImageConfig: TextToImage}  # config class -> the network it builds


def build_model(config) -> nn.Module:
    """The network a model config describes: a TinyUNet, or notebook 10's text-to-image model."""
    return MODEL_CLASSES[type(config)](config)


def model_config_from_dict(d: dict):
    """The model config stored in a checkpoint: the first config class whose fields hold all of its keys."""
    for config_class in MODEL_CLASSES:
        if set(d) <= set(config_class.__dataclass_fields__):
            return config_class.from_dict(d)
    return UNetConfig.from_dict(d)  # none fits: UNetConfig's error names the unknown fields


def training_data(model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None):
    """What ``model`` trains on: the images and labels themselves, or what a model that provides a
    ``training_data`` hook makes of them (the text-to-image model: latents and caption attributes)."""
    prepare = getattr(model, "training_data", None)
    return (images, labels) if prepare is None else prepare(images, labels)


def check_train_config(config: TrainConfig) -> None:
    """A clear error for any setting of ``config`` out of its range (called when a TrainConfig is built)."""
    if type(config.architecture) not in MODEL_CLASSES:
        names = " or ".join(cls.__name__ for cls in MODEL_CLASSES)
        raise ValueError(f"TrainConfig.architecture must be a {names}, got {type(config.architecture).__name__}")
    check_training_numbers(config)
    whole_number(config.warmup_steps, "TrainConfig.warmup_steps", low=0)
    real_number(config.ema_decay, "TrainConfig.ema_decay", low=0, high=1)
    real_number(config.label_dropout, "TrainConfig.label_dropout", low=0, high=1)
    real_number(config.grad_clip, "TrainConfig.grad_clip", low=0, why=" (0: no clipping)")
    if config.schedule not in SCHEDULE_NAMES:
        raise ValueError(f"TrainConfig.schedule must be one of {SCHEDULE_NAMES}, got {config.schedule!r}")
    if config.lr_decay not in LR_DECAYS:
        raise ValueError(f"TrainConfig.lr_decay must be one of {LR_DECAYS}, got {config.lr_decay!r}")


# The named recipes. `python -m course_utils.train --preset NAME` trains one;
# the shipped checkpoints in data/ were made this way (see data/MODEL_CARD.md).
PRESETS: dict[str, TrainConfig] = {
    "mnist-uncond": TrainConfig(architecture=MODEL_PRESETS["cpu"], train_steps=10_000),
    "mnist-cond": TrainConfig(architecture=replace(MODEL_PRESETS["cpu"], num_classes=10), train_steps=10_000),
    # Flow matching (notebook 9): the unconditional model's network and optimiser, the velocity objective.
    "mnist-flow": TrainConfig(architecture=replace(MODEL_PRESETS["cpu"], continuous_time=True), train_steps=10_000,
                              objective="flow", time_sampling="logit-normal"),
    # Notebook 10's text-to-image model: a latent denoiser that reads captions, trained with flow matching
    # in the latent space of data/autoencoder_mnist.pt (train that first: `python -m course_utils.recipes autoencoder`)
    "mnist-text": TrainConfig(architecture=TextToImageConfig(), train_steps=8_000, objective="flow",
                              time_sampling="logit-normal", label_dropout=0.1),
    "mnist-uncond-gpu": TrainConfig(architecture=MODEL_PRESETS["gpu"], train_steps=40_000, lr=2e-4),
    "mnist-cond-gpu": TrainConfig(
        architecture=replace(MODEL_PRESETS["gpu"], num_classes=10), train_steps=40_000, lr=2e-4
    ),
}


# Notebook 4's live run: a short run on a student's CPU, whose length (train_steps) the notebook sets from a
# time budget. "live-v1" is the recipe of the course before 0.3, kept for the training benchmark's comparison
# (python -m course_utils.train_bench); notebook 4 trains the last one.
LIVE_RECIPES: dict[str, TrainConfig] = {
    "live-v1": TrainConfig(architecture=MODEL_PRESETS["cpu"], batch_size=32, lr=2e-3, warmup_steps=100, lr_decay="cosine",
                           ema_decay=0.995),
    "live-v2": TrainConfig(architecture=MODEL_PRESETS["cpu"], batch_size=32, lr=2e-3, warmup_steps=100, lr_decay="cosine",
                           ema_decay=0.995, min_snr_gamma=5.0),
}
# Notebook 9's equal-compute experiment: notebook 4's live recipe with the flow-matching objective instead.
LIVE_RECIPES["live-flow"] = replace(LIVE_RECIPES["live-v2"], architecture=replace(MODEL_PRESETS["cpu"], continuous_time=True),
                                    objective="flow", time_sampling="logit-normal", min_snr_gamma=None)


def eps_prediction_loss(
    model: nn.Module,
    x0: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    schedule: NoiseSchedule,
    labels: torch.Tensor | None = None,
    *,
    min_snr_gamma: float | None = None,
) -> torch.Tensor:
    """Algorithm 1, line 5 of Ho et al. (2020), for given t and eps:

        mean over the batch and pixels of (eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t))^2

    ``x0`` and ``noise`` (B, C, H, W); ``t`` (B,) timesteps; ``labels`` (B,) or None.
    With ``min_snr_gamma`` = γ each image's error is weighted by min(SNR_t, γ) / SNR_t, SNR_t = abar_t / (1 - abar_t):
    the Min-SNR-γ weighting of Hang et al. (2023, Eq. 6 for ε-prediction), which lowers the weight of the
    nearly clean steps, whose ε is hard to predict and matters little, so the network learns the rest faster.
    """
    x_t = q_sample(x0, t, schedule, noise=noise)
    prediction = model(x_t, t) if labels is None else model(x_t, t, labels)
    if min_snr_gamma is None:
        return F.mse_loss(prediction, noise)
    abar = schedule.alphas_cumprod.to(device=x0.device, dtype=x0.dtype)[t]
    snr = abar / (1 - abar)
    weight = snr.clamp(max=min_snr_gamma) / snr  # (B,)
    return (weight * ((prediction - noise) ** 2).flatten(1).mean(1)).mean()


def draw_times(config: TrainConfig, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
    """``n`` training times: steps t ~ Uniform{0, ..., T-1} for a DDPM, t in (0, 1) by ``time_sampling`` for a flow."""
    if config.objective == "flow":
        return sample_flow_times(n, config.time_sampling, generator, device)
    return torch.randint(0, config.num_timesteps, (n,), generator=generator, device="cpu").to(device)


def drop_labels(model: nn.Module, labels: torch.Tensor | None, fraction: float, generator: torch.Generator | None):
    """Replace each label by the model's null label with probability ``fraction`` (label dropout, Ho & Salimans 2022).

    A model that reads captions provides its own ``training_condition`` hook, which turns each image's
    attributes into a caption and drops that fraction of them to the null prompt (notebook 10).
    """
    if labels is not None and hasattr(model, "training_condition"):
        return model.training_condition(labels, fraction, generator)
    if labels is None or fraction <= 0:
        return labels
    drop = torch.rand(labels.shape[0], generator=generator, device="cpu").to(labels.device) < fraction
    return torch.where(drop, torch.full_like(labels, model.null_label), labels)


def training_loss(config: TrainConfig, model: nn.Module, x0, t, noise, labels=None, schedule=None) -> torch.Tensor:
    """The loss of ``config``'s objective for given t and eps: eps-prediction (DDPM) or velocity (flow matching)."""
    if config.objective == "flow":
        return flow_matching_loss(model, x0, t, noise, labels)
    return eps_prediction_loss(model, x0, t, noise, schedule, labels, min_snr_gamma=config.min_snr_gamma)


def diffusion_loss(
    model: nn.Module,
    x0: torch.Tensor,
    schedule: NoiseSchedule,
    labels: torch.Tensor | None = None,
    *,
    label_dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The simple eps-prediction loss of Algorithm 1 (Ho et al. 2020), with t and eps drawn here.

    ``x0`` (B, C, H, W) clean images in [-1, 1]; ``labels`` (B,) or None.
    With ``label_dropout`` > 0, that fraction of labels becomes the model's null label.
    """
    config = TrainConfig(num_timesteps=schedule.num_timesteps)
    t = draw_times(config, x0.shape[0], generator, x0.device)
    noise = randn_like(x0, generator)
    labels = drop_labels(model, labels, label_dropout, generator)
    return eps_prediction_loss(model, x0, t, noise, schedule, labels)


def ema_step(average: torch.Tensor, value: torch.Tensor, decay: float) -> torch.Tensor:
    """One exponential-moving-average update: decay * average + (1 - decay) * value (a new tensor)."""
    return average.lerp(value, 1 - decay)


class EMA:
    """Exponential moving average of a model's weights: theta_ema <- d * theta_ema + (1 - d) * theta.

    Early on the decay is lowered to (1 + n) / (10 + n) after n updates, so a
    short run's average is not dominated by the random initial weights.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.num_updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.num_updates += 1
        d = min(self.decay, (1 + self.num_updates) / (10 + self.num_updates))
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.copy_(ema_step(ema_p, p.detach(), d))
        for ema_b, b in zip(self.model.buffers(), model.buffers()):
            ema_b.copy_(b)


@dataclass
class TrainState:
    """What a run has produced so far; ``train_ddpm`` returns it and can continue from it."""

    config: TrainConfig
    model: nn.Module  # a TinyUNet, or another network built from config.architecture (build_model)
    ema: EMA
    optimizer: torch.optim.Optimizer
    step: int = 0
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall time spent training
    device: str = "cpu"
    generator: torch.Generator = field(default_factory=torch.Generator)  # draws t, noise and label dropout
    init: dict | None = None  # the checkpoint this run started from, if not from random weights
    interrupted: bool = False  # the last train_ddpm call was stopped early by Ctrl-C or SIGTERM
    stopped_by: str | None = None  # what stopped it: "Ctrl-C" or "SIGTERM"

    @property
    def schedule(self) -> NoiseSchedule:
        return make_schedule(self.config.schedule, self.config.num_timesteps)


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate at ``step``: a linear warm-up, then constant or a cosine decay to 0 at train_steps."""
    warm_up = min(1.0, (step + 1) / max(config.warmup_steps, 1))
    if config.lr_decay == "cosine":
        done = min(step / max(config.train_steps, 1), 1.0)
        return config.lr * warm_up * 0.5 * (1 + math.cos(math.pi * done))
    if config.lr_decay != "constant":
        raise ValueError(f"lr_decay must be 'constant' or 'cosine', got {config.lr_decay!r}")
    return config.lr * warm_up


def new_train_state(config: TrainConfig, device: torch.device | str = "cpu") -> TrainState:
    """A fresh model (seeded by ``config.seed``), its EMA copy and an AdamW optimizer on ``device``."""
    torch.manual_seed(config.seed)
    model = build_model(config.architecture).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    return TrainState(config, model, EMA(model, config.ema_decay), optimizer, device=str(device), generator=generator)


def train_step(state: TrainState, x0: torch.Tensor, labels: torch.Tensor | None = None) -> float:
    """One training step: Algorithm 1 of Ho et al. (2020), then the EMA update. Returns the loss.

    ``x0`` (B, C, H, W) a batch of clean images in [-1, 1] on the model's device; ``labels`` (B,) or None.
    t, eps and label dropout are drawn with ``state.generator``, so a run can be repeated exactly.
    """
    cfg, model, generator = state.config, state.model, state.generator
    t = draw_times(cfg, x0.shape[0], generator, x0.device)            # t ~ Uniform{0, ..., T-1}
    noise = randn_like(x0, generator)                                 # eps ~ N(0, I)
    labels = drop_labels(model, labels, cfg.label_dropout, generator)  # some labels -> the null label
    loss = training_loss(cfg, model, x0, t, noise, labels, state.schedule)  # ||eps - eps_theta(x_t, t)||^2
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    value = loss.item()
    if not math.isfinite(value):  # a diverged step is not applied
        raise FloatingPointError(f"the loss became {value}")
    state.optimizer.step()                                            # gradient step on theta
    state.ema.update(model)                                           # theta_EMA <- d theta_EMA + (1 - d) theta
    return value


def _optimizer_progress(optimizer: torch.optim.Optimizer) -> list:
    """The step count of each parameter's optimizer state: they differ while a step is half applied."""
    return [float(s["step"]) for s in optimizer.state.values() if "step" in s]


def train_ddpm(
    state: TrainState,
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    steps: int | None = None,
    callback: Callable[[TrainState], None] | None = None,
    callback_every: int = 500,
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 1000,
    step_function: Callable[..., float] | None = None,
) -> TrainState:
    """Train ``state`` for ``steps`` more optimizer steps (default: up to ``config.train_steps``).

    Each step is ``step_function(state, x0[, labels])``: :func:`train_step` unless given (notebook 4 gives the
    student's own).

    ``images`` (N, 1, 28, 28) in [-1, 1] and, for conditional models, ``labels`` (N,).
    Shows a progress bar and records the loss of every step in ``state.losses``.
    ``callback(state)`` runs every ``callback_every`` steps (e.g. to draw samples);
    with ``checkpoint_path`` the run is saved every ``checkpoint_every`` steps and at the end.

    Pressing Ctrl-C (or "interrupt kernel") stops after the step in progress and keeps everything trained so
    far; ``state.interrupted`` is then True. The run stays exact: calling ``train_ddpm`` again (or resuming the
    checkpoint) gives the same losses and weights as a run never stopped. SIGTERM stops the same way, and
    then ends the process as SIGTERM asks (unless the caller handles SIGTERM, as the train command does).
    """
    cfg = state.config
    if state.model.is_conditional and labels is None:
        raise ValueError("this model is class-conditional: pass the labels too (train_ddpm(state, images, labels))")
    if steps is not None:
        whole_number(steps, "steps", low=0)
    for name, every in (("callback_every", callback_every), ("checkpoint_every", checkpoint_every)):
        whole_number(every, name, low=1, why=" (steps between calls)")
    if hasattr(state.model, "training_data"):  # latents and caption attributes, made by its training_data hook
        images = check_finite(float_images(images, "latents", dims=4), "latents")
        if labels is None or len(labels) != len(images):
            raise ValueError("pass the latents and attribute rows that training_data(model, images, labels) returns")
    else:
        images = course_images(images, "images")
        if state.model.is_conditional:
            labels = check_labels(labels, len(images), state.model.config.num_classes)
    model, device = state.model.train(), torch.device(state.device)
    target = state.step + steps if steps is not None else cfg.train_steps
    generator = state.generator
    batches = shuffled_batches((images, labels if model.is_conditional else None), cfg.batch_size, seed=cfg.seed,
                               start_step=state.step)

    state.interrupted, state.stopped_by = False, None
    torn = False  # an interrupt raised by code while a step was being applied: that step is half done
    saved_at = None  # the step the checkpoint file last got
    bar = progress(total=max(target - state.step, 0), desc="training", unit="step")
    start = time.perf_counter()
    with StopGuard() as stop:
        try:
            while state.step < target and not stop.requested:
                # Drawing t, noise and label dropout moves the generator: remember where this step began,
                # so an interrupt before the step is applied leaves the run exactly at the step's start.
                at_step_start = generator.get_state()
                before = (_optimizer_progress(state.optimizer), state.ema.num_updates)
                try:
                    x0, y = next(batches)
                    x0 = x0.to(device)
                    y = y.to(device) if y is not None else None
                    for group in state.optimizer.param_groups:
                        group["lr"] = learning_rate(cfg, state.step)
                    value = (step_function or train_step)(state, x0, *(() if y is None else (y,)))
                except FloatingPointError as err:
                    generator.set_state(at_step_start)
                    state.optimizer.zero_grad(set_to_none=True)
                    raise FloatingPointError(
                        f"{err} at step {state.step + 1}; the step was not applied. "
                        f"Lower the learning rate (now {cfg.lr:g}), or check the images for NaN or infinity."
                    ) from None
                except BaseException:
                    torn = (_optimizer_progress(state.optimizer), state.ema.num_updates) != before
                    if not torn:
                        generator.set_state(at_step_start)
                        state.optimizer.zero_grad(set_to_none=True)
                    raise
                state.step += 1
                state.losses.append(value)
                bar.update(1)
                if state.step % 50 == 0:
                    bar.set_postfix(loss=f"{sum(state.losses[-50:]) / 50:.4f}")
                if callback is not None and state.step % callback_every == 0:
                    callback(state)
                if checkpoint_path is not None and state.step % checkpoint_every == 0:
                    state.seconds += time.perf_counter() - start
                    start = time.perf_counter()
                    save_train_state(state, checkpoint_path)
                    saved_at = state.step
        except KeyboardInterrupt:
            state.interrupted, state.stopped_by = True, stop.signal_name or "Ctrl-C"
        finally:
            bar.close()
            state.seconds += time.perf_counter() - start
            model.eval()
        if stop.requested and state.step < target:
            state.interrupted, state.stopped_by = True, stop.signal_name
        if checkpoint_path is not None and not torn and state.step != saved_at:
            save_train_state(state, checkpoint_path)
    if torn:
        print(
            f"Interrupted while step {state.step + 1} was being applied: the weights in memory are partly "
            "updated, so this run cannot continue exactly."
            + (f" {checkpoint_path} still holds the run as last saved." if checkpoint_path is not None else "")
        )
    elif state.interrupted:
        where = f" (saved to {checkpoint_path})" if checkpoint_path is not None else ""
        by = "" if state.stopped_by == "Ctrl-C" else f" by {state.stopped_by}"
        print(
            f"Interrupted{by}: stopped after step {state.step} of {target}, keeping the weights trained so far{where}. "
            "Training again continues exactly where it stopped."
        )
    stop.pass_on()  # a SIGTERM meant for a script or a kernel still ends it, now that the run is saved
    return state


def half_weights(state_dict: dict) -> dict:
    """The weights stored in float16 (half the bytes; loading casts them back to float32). Numbers of one
    element (scales, counters) stay as they are."""
    return {k: v.half() if v.is_floating_point() and v.numel() > 1 else v for k, v in state_dict.items()}


def save_train_state(state: TrainState, path: str | Path, *, resumable: bool = True, extra: dict | None = None,
                     half: bool = False) -> Path:
    """Save the EMA weights (for sampling) and, if ``resumable``, what is needed to continue training.

    ``half`` stores the EMA weights in float16 (``half_weights``): notebook 10's shipped model, to keep the
    student edition small. A resumable checkpoint keeps float32 everywhere.
    """
    cpu = lambda sd: {k: v.detach().cpu() for k, v in sd.items()}  # noqa: E731
    payload = {
        "kind": state.config.checkpoint_kind,
        "model_config": state.config.architecture.to_dict(),
        # a flow-matching model has no noise schedule: its time is continuous (flow.py)
        **({} if state.config.objective == "flow" else
           {"schedule": {"name": state.config.schedule, "num_timesteps": state.config.num_timesteps}}),
        "train": {
            **state.config.to_dict(),
            "steps_done": state.step,
            "train_seconds": round(state.seconds, 1),
            "device": state.device,
            "parameters": count_parameters(state.model),
            "threads": torch.get_num_threads(),  # a resume with another count differs in the last bits
            **({"init": state.init} if state.init else {}),
            **(extra or {}),
        },
        "state_dict": cpu(state.ema.model.state_dict()),
    }
    if half:
        payload["state_dict"] = half_weights(payload["state_dict"])
    if resumable:
        payload["resume"] = {
            "model": cpu(state.model.state_dict()),
            "optimizer": state.optimizer.state_dict(),
            "ema_updates": state.ema.num_updates,
            "losses": list(state.losses),
            "generator": state.generator.get_state(),
        }
    return save_checkpoint(path, payload)


def resume_train_state(path: str | Path, device: torch.device | str = "cpu", *, checkpoint: dict | None = None) -> TrainState:
    """Rebuild a :class:`TrainState` from a resumable checkpoint written by :func:`save_train_state`.

    ``checkpoint``: the file's contents, if already read with ``read_checkpoint(path, kind=UNET_KINDS)``.
    """
    ckpt = read_checkpoint(path, kind=UNET_KINDS) if checkpoint is None else checkpoint
    if "resume" not in ckpt:
        raise CheckpointError(
            f"{path} holds only sampling weights; resume needs a checkpoint saved with resumable=True "
            "(python -m course_utils.train keeps one as OUT.resume.pt)"
        )
    config = checkpoint_config(ckpt)
    train = ckpt["train"]
    state = new_train_state(config, device)
    load_weights(state.model, ckpt["resume"]["model"], source=str(path))
    load_weights(state.ema.model, ckpt["state_dict"], source=str(path))
    state.optimizer.load_state_dict(ckpt["resume"]["optimizer"])
    state.ema.num_updates = ckpt["resume"]["ema_updates"]
    state.losses = list(ckpt["resume"]["losses"])
    state.step = train["steps_done"]
    state.seconds = train.get("train_seconds", 0.0)
    state.init = train.get("init")
    if "generator" in ckpt["resume"]:
        state.generator.set_state(ckpt["resume"]["generator"])
    else:  # early checkpoints did not store the generator: continue with a new, step-dependent stream
        state.generator.manual_seed(config.seed + state.step)
    return state


def checkpoint_config(ckpt: dict) -> TrainConfig:
    """The :class:`TrainConfig` a DDPM checkpoint (as read by ``read_checkpoint``) was trained with."""
    return TrainConfig.from_dict(ckpt["train"])


def config_differences(ours: TrainConfig, theirs: TrainConfig, *, ignore: tuple[str, ...] = ()) -> list[str]:
    """``"name: a vs b"`` for each setting (the network's as ``architecture.name``) where two configs differ."""
    a, b = ours.to_dict(), theirs.to_dict()
    arch_a, arch_b = a["architecture"], b["architecture"]
    out = [f"architecture.{k}: {arch_a[k]!r} vs {arch_b.get(k)!r}" for k in arch_a if arch_a[k] != arch_b.get(k)]
    return out + [f"{k}: {a[k]!r} vs {b[k]!r}" for k in a if k != "architecture" and k not in ignore and a[k] != b[k]]
