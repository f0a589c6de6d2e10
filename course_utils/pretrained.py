"""The course's shipped models in data/: load them in one line.

    model, schedule = load_ddpm("uncond")     # unconditional tiny DDPM
    model, schedule = load_ddpm("cond")       # class-conditional, for guidance
    model = load_flow()                       # notebook 9's flow-matching model (a velocity network)
    classifier = load_classifier()            # the reference digit classifier
    vae = load_vae()                          # notebook 8's tiny VAE, the one-shot generator
    autoencoder = load_autoencoder()          # notebook 10's latent space (28×28 <-> 4×7×7)
    model = load_text2img()                   # notebook 10's text-to-image model (it generates latents)

Every file is made by a course command (``python -m course_utils.train``);
data/MODEL_CARD.md gives each recipe and its measured quality.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import torch

from .checkpoints import CheckpointError, load_weights, read_checkpoint
from .classifier import ClassifierConfig, DigitClassifier
from .data import data_dir
from .model import TinyUNet, UNetConfig
from .schedules import NoiseSchedule, make_schedule
from .vae import TinyVAE, VAEConfig

CHECKPOINTS = {
    "uncond": "ddpm_mnist_uncond.pt",
    "cond": "ddpm_mnist_cond.pt",
    "classifier": "classifier.pt",
    "vae": "vae_mnist.pt",
    "flow": "flow_mnist.pt",
    "autoencoder": "autoencoder_mnist.pt",
    "text2img": "text2img_mnist.pt",
}


def _unknown_name(name, choices) -> ValueError:
    close = difflib.get_close_matches(str(name), choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValueError(
        f"unknown checkpoint {name!r}{hint}: give one of the course's, {', '.join(map(repr, choices))}, "
        "or the path of a checkpoint file"
    )


def checkpoint_path(name: str) -> Path:
    """Path of a shipped checkpoint: ``"uncond"``, ``"cond"``, ``"classifier"``, ``"vae"``, ``"autoencoder"`` or
    ``"text2img"``."""
    if name not in CHECKPOINTS:
        raise _unknown_name(name, sorted(CHECKPOINTS))
    return data_dir() / CHECKPOINTS[name]


def _resolve(name_or_path: str | Path, names: list[str]) -> Path:
    """A shipped checkpoint's name -> its path; a path stays a path. A bare word that is neither is refused."""
    if isinstance(name_or_path, str) and name_or_path in names:
        return checkpoint_path(name_or_path)
    path = Path(name_or_path)
    looks_like_a_name = isinstance(name_or_path, str) and not path.suffix and len(path.parts) == 1
    if looks_like_a_name and not path.exists():
        raise _unknown_name(name_or_path, names)
    return path


def load_ddpm(name_or_path: str | Path = "uncond", device: torch.device | str = "cpu") -> tuple[TinyUNet, NoiseSchedule]:
    """A DDPM in eval mode with the noise schedule it was trained with.

    ``name_or_path`` is ``"uncond"``, ``"cond"``, or the path of any checkpoint
    written by ``course_utils.training.save_train_state``. The architecture
    comes from the checkpoint itself.
    """
    path = _resolve(name_or_path, ["uncond", "cond"])
    ckpt = read_checkpoint(path, kind="ddpm")
    model = TinyUNet(UNetConfig.from_dict(ckpt["model_config"]))
    load_weights(model, ckpt["state_dict"], source=str(path))
    schedule = make_schedule(ckpt["schedule"]["name"], int(ckpt["schedule"]["num_timesteps"]))
    return model.to(device).eval().requires_grad_(False), schedule


def load_flow(name_or_path: str | Path = "flow", device: torch.device | str = "cpu") -> TinyUNet:
    """Notebook 9's flow-matching model in eval mode: ``model(x_t, t)`` is the velocity v at flow time t in [0, 1]
    (course_utils.flow). ``name_or_path``: ``"flow"`` or the path of a flow checkpoint (``--preset mnist-flow``)."""
    path = _resolve(name_or_path, ["flow"])
    ckpt = read_checkpoint(path, kind="flow")
    model = TinyUNet(UNetConfig.from_dict(ckpt["model_config"]))
    load_weights(model, ckpt["state_dict"], source=str(path))
    return model.to(device).eval().requires_grad_(False)


def _load_one_piece(path, name: str, kind: str, build, device) -> torch.nn.Module:
    """A model whose checkpoint holds its config and weights only (the classifier, the VAE), in eval mode."""
    path = Path(path) if path is not None else checkpoint_path(name)
    ckpt = read_checkpoint(path, kind=kind)
    model = build(ckpt["model_config"])
    load_weights(model, ckpt["state_dict"], source=str(path))
    return model.to(device).eval().requires_grad_(False)


def load_classifier(path: str | Path | None = None, device: torch.device | str = "cpu") -> DigitClassifier:
    """The reference digit classifier in eval mode (default: data/classifier.pt)."""
    return _load_one_piece(path, "classifier", "classifier",
                           lambda config: DigitClassifier(ClassifierConfig.from_dict(config)), device)


def load_vae(path: str | Path | None = None, device: torch.device | str = "cpu") -> TinyVAE:
    """Notebook 8's tiny VAE in eval mode (default: data/vae_mnist.pt); ``vae.generate(n)`` draws n digits."""
    return _load_one_piece(path, "vae", "vae", lambda config: TinyVAE(VAEConfig.from_dict(config)), device)


def load_autoencoder(path: str | Path | None = None, device: torch.device | str = "cpu"):
    """Notebook 10's autoencoder in eval mode (default: data/autoencoder_mnist.pt); a bare file name is looked up in
    data/. ``encode(x)`` gives unit-variance latents (B, 4, 7, 7), ``decode(z)`` images."""
    from .autoencoder import Autoencoder, AutoencoderConfig

    if path is not None and isinstance(path, str) and Path(path).name == path and not Path(path).exists():
        path = data_dir() / path  # a file name from a text-to-image model's config
    return _load_one_piece(path, "autoencoder", "autoencoder",
                           lambda config: Autoencoder(AutoencoderConfig.from_dict(config)), device)


def load_text2img(name_or_path: str | Path = "text2img", device: torch.device | str = "cpu"):
    """Notebook 10's text-to-image model in eval mode (EMA weights), built from its checkpoint's config.

    It generates *latents*; ``load_autoencoder(model.config.autoencoder)`` decodes them
    (:func:`course_utils.prompting.generate` does both).
    """
    from .text2img import TextToImage, TextToImageConfig

    path = _resolve(name_or_path, ["text2img"])
    ckpt = read_checkpoint(path, kind="text2img")
    model = TextToImage(TextToImageConfig.from_dict(ckpt["model_config"]))
    load_weights(model, {k: v.float() for k, v in ckpt["state_dict"].items()}, source=str(path))
    return model.to(device).eval().requires_grad_(False)


def checkpoint_info(name_or_path: str | Path) -> dict:
    """The recipe stored in a checkpoint (config, steps, training time, ...), without building the model.

    For a DDPM, ``info["train"]`` also gets ``total_steps`` and ``total_seconds``: the
    run's own ``steps_done`` and ``train_seconds`` plus those of every run it started
    from (``--init``, recorded in ``train["init"]``).
    """
    path = _resolve(name_or_path, sorted(CHECKPOINTS))
    ckpt = read_checkpoint(path)
    info = {k: v for k, v in ckpt.items() if k not in ("state_dict", "resume", "losses")}
    if info.get("kind") in ("ddpm", "flow", "text2img"):
        train, stage = dict(info["train"]), info["train"]
        train["total_steps"], train["total_seconds"] = 0, 0.0
        while stage:
            train["total_steps"] += stage.get("steps_done", 0)
            train["total_seconds"] += stage.get("train_seconds", 0.0)
            stage = stage.get("init")
        info["train"] = train
    return info


__all__ = ["CHECKPOINTS", "CheckpointError", "checkpoint_info", "checkpoint_path", "load_autoencoder", "load_classifier",
           "load_ddpm", "load_flow", "load_text2img", "load_vae"]
