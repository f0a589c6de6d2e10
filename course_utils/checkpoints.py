"""Saving and loading models with their recipe, safely.

A checkpoint is a plain dict saved with ``torch.save``:

    {"format": "course-checkpoint-v1",
     "kind": "ddpm" | "flow" | "classifier" | "vae",
     "model_config": {...},        # UNetConfig, ClassifierConfig or VAEConfig as a dict
     "schedule": {"name": "linear", "num_timesteps": 1000},   # DDPMs only (T;
                                                             # "num_steps" in checkpoints before 0.2)
     "train": {...},               # preset, steps done, seed, batch size, lr, ...
     "state_dict": {...},          # the weights to sample with (EMA weights for DDPMs)
     "resume": {...} | absent}     # raw weights, optimizer state, loss history

It is read back with ``torch.load(weights_only=True)``, which refuses to
run arbitrary pickled code, so opening a checkpoint from the internet is safe.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

FORMAT = "course-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit the model; the message says what to do."""


class StoredConfig:
    """Mixin for an architecture's settings dataclass, stored in a checkpoint's "model_config" as a plain dict.

    Tuples are stored as lists and read back as tuples; a field the class does not know is an error, so a
    checkpoint from another version of the course is never loaded into the wrong architecture.
    """

    def to_dict(self) -> dict:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict):
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"unknown {cls.__name__} fields {unknown}: this checkpoint was made by another version of the "
                "course. Update course_utils, or retrain the model with this version."
            )
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in d.items()})


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` (see module docstring) atomically: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise CheckpointError(f"cannot save a checkpoint as {path}: that is a folder. Give a file name, e.g. {path / 'model.pt'}")
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save({"format": FORMAT, **payload}, tmp)
        tmp.replace(path)
    except BaseException:  # a full disk, a read-only folder, Ctrl-C: leave no half-written file behind
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_checkpoint(path: str | Path, kind: str | tuple[str, ...] | None = None) -> dict:
    """Load a checkpoint dict on the CPU without executing pickled code; check its format and kind (or kinds)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist: check the path. (The course's own checkpoints are in its data/ "
            "folder, restored by git checkout -- data; `python -m course_utils.train --preset NAME` trains one.)"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"could not read checkpoint {path} ({type(err).__name__}: {err}). It may be truncated or not a "
            "course checkpoint; download it again or retrain it."
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a course checkpoint (expected format {FORMAT!r}). Load it with plain torch.load, "
            "or save it with course_utils.checkpoints.save_checkpoint."
        )
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and ckpt.get("kind") not in kinds:
        wanted = " or ".join(repr(k) for k in kinds)
        raise CheckpointError(f"{path} holds a {ckpt.get('kind')!r} model, but a {wanted} model was asked for.")
    return ckpt


def schedule_timesteps(schedule: dict) -> int:
    """T from a checkpoint's "schedule" entry, whichever name the checkpoint's version gave it."""
    return int(schedule["num_timesteps"] if "num_timesteps" in schedule else schedule["num_steps"])


def load_weights(model: nn.Module, state_dict: dict, source: str = "checkpoint") -> nn.Module:
    """Copy ``state_dict`` into ``model``, explaining any architecture mismatch in plain words."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong_shape = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and own[k].shape != state_dict[k].shape
    ]
    if missing or unexpected or wrong_shape:
        details = []
        if missing:
            details.append(f"{len(missing)} weights missing from the {source} (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} weights the model does not have (e.g. {unexpected[0]})")
        if wrong_shape:
            details.append(f"{len(wrong_shape)} with other shapes (e.g. {wrong_shape[0]})")
        raise CheckpointError(
            f"the {source} was made for a different architecture: " + "; ".join(details) + ". Build the model "
            "from the checkpoint's own config (course_utils.pretrained.load_ddpm or load_classifier do this), "
            "or retrain with the config you want."
        )
    model.load_state_dict(state_dict)
    return model
