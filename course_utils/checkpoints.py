"""Saving and loading models with their recipe, safely.

A checkpoint is a plain dict saved with ``torch.save``:

    {"format": "course-checkpoint-v1",
     "kind": "ddpm" | "flow" | "classifier" | "vae",
     "model_config": {...},        # UNetConfig, ClassifierConfig or VAEConfig as a dict
     "schedule": {"name": "linear", "num_timesteps": 1000},   # DDPMs only (T)
     "train": {...},               # preset, steps done, seed, batch size, lr, ...
     "state_dict": {...},          # the weights to sample with (EMA weights for DDPMs)
     "resume": {...} | absent}     # raw weights, optimizer state, loss history

It is read back with ``torch.load(weights_only=True)``, which refuses to
run arbitrary pickled code, so opening a checkpoint from the internet is safe.
Checkpoints written before course 0.2 called T "num_steps"; :func:`read_checkpoint` renames it.

A save writes a temporary file of its own (unique to the process) and renames it over the target, so a
crash, a full disk or two runs saving at once never leave half a file, nor one run's file under another's name.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

FORMAT = "course-checkpoint-v1"
# What each kind of checkpoint must hold (besides "format" and "kind") to be loaded.
REQUIRED = {
    "ddpm": ("model_config", "schedule", "train", "state_dict"),
    "flow": ("model_config", "train", "state_dict"),
    "classifier": ("model_config", "state_dict"),
    "vae": ("model_config", "state_dict"),
}


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
    """Write ``payload`` (see module docstring) atomically (:func:`atomic_save`): a crash never leaves half a file."""
    return atomic_save({"format": FORMAT, **payload}, path)


def atomic_save(obj, path: str | Path) -> Path:
    """``torch.save(obj, path)``, atomically: the data goes to a temporary file unique to this process, beside
    ``path``, which is flushed to the disk and then renamed to ``path``. A failed write (a full disk, Ctrl-C)
    removes it and leaves ``path`` as it was; a full disk raises :class:`CheckpointError` saying so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise CheckpointError(f"cannot save a checkpoint as {path}: that is a folder. Give a file name, e.g. {path / 'model.pt'}")
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:  # a full disk, a read-only folder, Ctrl-C: leave no half-written file behind
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            free = shutil.disk_usage(path.parent).free
            raise CheckpointError(f"the disk is full: could not write {path} ({free / 2**20:.0f} MiB free in "
                                  f"{path.parent}); {path} is unchanged. Free some space and try again") from None
        raise
    return path


def save_model(path: str | Path, kind: str, model: nn.Module, train: dict, **extra) -> Path:
    """Save a model that is rebuilt from its config alone (the classifier, the VAE): its ``kind``, its
    ``model.config``, the ``train`` dict (the recipe and what it measured), its weights on the CPU and ``extra`` entries."""
    return save_checkpoint(path, {"kind": kind, "model_config": model.config.to_dict(), "train": train,
                                  "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, **extra})


def _upgrade(ckpt: dict) -> dict:
    """Rename what checkpoints before course 0.2 called otherwise: T was "num_steps" (schedule and train)."""
    for part in ("schedule", "train"):
        entry = ckpt.get(part)
        if isinstance(entry, dict) and "num_steps" in entry and "num_timesteps" not in entry:
            entry["num_timesteps"] = entry.pop("num_steps")
    return ckpt


def read_checkpoint(path: str | Path, kind: str | tuple[str, ...] | None = None) -> dict:
    """Load a checkpoint dict on the CPU without executing pickled code; check its format, kind (or kinds) and
    that it holds what its kind needs. Old names are brought up to date (see the module docstring)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist: check the path. (The course's own checkpoints are in its data/ "
            "folder, restored by git checkout -- data; `python -m course_utils.train --preset NAME` trains one.)"
        )
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file: give the path of the .pt file in it")
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
    missing = [key for key in REQUIRED.get(ckpt.get("kind"), ()) if not isinstance(ckpt.get(key), dict)]
    if missing:
        raise CheckpointError(f"{path} is a {ckpt.get('kind')!r} checkpoint without {' or '.join(map(repr, missing))}: "
                              "it is incomplete or was not written by the course; download it again or retrain it.")
    return _upgrade(ckpt)


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
