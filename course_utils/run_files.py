"""The files a training run keeps beside its ``--out``, and which of them another command may write over.

    OUT           the final checkpoint (EMA weights), written when the run finishes
    OUT.resume.pt everything needed to continue the run exactly (``--resume``), saved every few steps
    OUT.lock      held while the run writes them; names the run (:class:`course_utils.cli.OutputLock`)

(``OUT.resume.pt`` and ``OUT.lock`` are named after OUT without its suffix, so ``--out m.pt`` and ``--out m.ckpt``
share them, and the lock keeps those two runs apart too.) A command never writes over a resume file or a
checkpoint that holds an unfinished run.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoints import CheckpointError, read_checkpoint
from .cli import UsageError, check_output_file
from .training import UNET_KINDS

RESERVED_SUFFIXES = (".resume.pt", ".lock")  # names a run keeps beside --out


def resume_path_for(out: Path) -> Path:
    """Where a run writing ``out`` keeps its resumable checkpoint: NAME.resume.pt beside it."""
    return out.with_suffix(".resume.pt")


def lock_path_for(out: Path) -> Path:
    """The lock a run writing ``out`` holds: NAME.lock, named like its resume file, which two --out may share."""
    return out.with_suffix(".lock")


def check_out(out: Path) -> None:
    """``--out`` names a file this command may write, and not one a run keeps beside another --out."""
    for suffix in RESERVED_SUFFIXES:
        if out.name.endswith(suffix) and len(out.name) > len(suffix):
            owner = out.with_name(out.name[: -len(suffix)] + ".pt")
            raise UsageError(f"--out {out} is the name of the {suffix[1:].split('.')[0]} file that a run on {owner} keeps; "
                             f"give the final checkpoint's name instead, e.g. --out {owner}")
    check_output_file(out, "--out")
    check_output_file(resume_path_for(out), f"--out (its resume file {resume_path_for(out).name})")


def unfinished(ckpt: dict) -> tuple[int, int] | None:
    """(steps done, total) of a resumable run that has not reached its total, else None."""
    train = ckpt.get("train", {})
    done, total = train.get("steps_done"), train.get("train_steps")
    if "resume" not in ckpt or not isinstance(done, int) or not isinstance(total, int):
        return None
    return (done, total) if done < total else None


def same_weights(a: dict, b: dict) -> bool:
    """Do two checkpoints hold the same sampling weights (the same step of the same run)?"""
    ours, theirs = a.get("state_dict", {}), b.get("state_dict", {})
    return ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def check_out_is_no_run(out: Path) -> None:
    """``--out`` itself must not be a checkpoint of an unfinished run (another run's resume file, renamed)."""
    if not out.is_file():
        return
    try:
        run = unfinished(read_checkpoint(out))
    except CheckpointError:
        return
    if run:
        raise UsageError(f"--out {out} holds an unfinished run (step {run[0]} of {run[1]}) that this command would "
                         "overwrite; choose another --out")


def saved_step(resume_path: Path) -> int | None:
    """The step the resume file holds, or None if there is none (or it cannot be read)."""
    try:
        return read_checkpoint(resume_path, kind=UNET_KINDS)["train"]["steps_done"] if resume_path.is_file() else None
    except CheckpointError:
        return None
