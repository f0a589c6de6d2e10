"""Command line: train a named preset and save its checkpoint.

    python -m course_utils.train --preset mnist-uncond --out data/ddpm_mnist_uncond.pt
    python -m course_utils.train --preset mnist-cond   --out data/ddpm_mnist_cond.pt
    python -m course_utils.train --preset classifier   --out data/classifier.pt
    python -m course_utils.train --preset vae          --out data/vae_mnist.pt

This is the command that made the shipped checkpoints (see data/MODEL_CARD.md).
The DDPM presets count optimizer steps (``--steps``); the classifier and the VAE
(notebook 8's one-shot generator, :mod:`course_utils.vae`) count passes over the
training digits (``--epochs``).

A DDPM run saves a resumable checkpoint next to ``--out`` every ``--checkpoint-every``
steps (``NAME.resume.pt``); ``--resume`` continues from it, exactly: the same losses
and weights as a run never stopped. Ctrl-C stops after the step in progress, saves
the resume file, prints the command that continues, and exits with status 130
without writing ``--out``. The final ``--out`` file holds only the EMA weights.

``--init CKPT`` starts a new run from the sampling (EMA) weights of an earlier
checkpoint, with a fresh optimizer and learning-rate schedule: this is how a
model whose resumable file is gone gets trained further, e.g.

    python -m course_utils.train --preset mnist-uncond --init data/ddpm_mnist_uncond.pt \
        --lr-decay cosine --steps 16000 --out data/ddpm_mnist_uncond.pt

The new checkpoint records where it started (``train["init"]``).

Every argument is checked before any work starts; a bad one stops the command
with one line that names it and says what to do (exit status 2).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from .checkpoints import CheckpointError, load_weights, read_checkpoint
from .data import MNISTDataError, load_mnist
from .env import pick_device
from .model import UNetConfig
from .training import (
    PRESETS,
    UNET_KINDS,
    checkpoint_config,
    config_differences,
    new_train_state,
    resume_train_state,
    save_train_state,
    train_ddpm,
)
from .vae import VAETrainConfig

PROG = "python -m course_utils.train"
DEFAULT_CHECKPOINT_EVERY = 1000
DEFAULT_CLASSIFIER_EPOCHS = 4
EPOCH_PRESETS = ("classifier", "vae")  # trained for --epochs passes, in one go (no resume file)
INTERRUPTED_EXIT_STATUS = 130  # the shell's convention for a command stopped by Ctrl-C (128 + SIGINT)
# Settings the command line may change on a resumed run; the seed stays the run's own.
RESUME_OVERRIDES = ("train_steps", "lr", "lr_decay", "seed")


class UsageError(Exception):
    """A bad argument: one line naming it and saying what to do."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors, one line too (the usage is in --help)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description=__doc__.split("\n")[0],
        epilog="Ctrl-C stops a DDPM run after the step in progress, keeps OUT.resume.pt and prints the command "
               "that continues it exactly; OUT itself is written only when the run finishes.",
    )
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS) + list(EPOCH_PRESETS))
    parser.add_argument("--out", type=Path, required=True, help="where to write the checkpoint")
    parser.add_argument("--steps", type=int, help="DDPM presets: total optimizer steps of the run (default: the preset's)")
    parser.add_argument("--epochs", type=int, help=f"classifier and vae presets: passes over the 60,000 training "
                        f"digits (default {DEFAULT_CLASSIFIER_EPOCHS} for the classifier, {VAETrainConfig().epochs} "
                        "for the vae)")
    parser.add_argument("--seed", type=int, help="random seed (default: the preset's)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--checkpoint-every", type=int,
                        help=f"DDPM presets: steps between saves of OUT.resume.pt (default {DEFAULT_CHECKPOINT_EVERY})")
    parser.add_argument("--resume", action="store_true", help="continue exactly from OUT.resume.pt")
    parser.add_argument("--init", type=Path, help="start from this checkpoint's EMA weights (fresh optimizer)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    parser.add_argument("--lr-decay", choices=["constant", "cosine"], help="after warm-up (default: the preset's)")
    return parser


def resume_path_for(out: Path) -> Path:
    """Where a run writing ``out`` keeps its resumable checkpoint: NAME.resume.pt beside it."""
    return out.with_suffix(".resume.pt")


def check_device(name: str | None) -> torch.device:
    """The device to train on, or a UsageError saying why it cannot be used."""
    source = "--device" if name else "COURSE_DEVICE"
    try:
        device = pick_device(name)
    except RuntimeError:
        raise UsageError(f"{source} {name or os.environ.get('COURSE_DEVICE')!r} is not a device: use cuda, mps or cpu") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"{source} {device}: torch sees no CUDA GPU on this machine; use --device cpu "
                             "(or leave --device out to take the best device there is)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"{source} {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                             f"numbered from 0; use --device cuda:0")
    elif device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UsageError(f"{source} mps: Apple's MPS is not available here; use --device cpu")
    elif device.type != "cpu":
        raise UsageError(f"{source} {device}: the course trains on cuda, mps or cpu")
    return device


def check_writable(out: Path) -> None:
    """Can the checkpoint be written to ``out``? Tries to create a file in its folder (and removes it)."""
    for path, flag in ((out, "--out"), (resume_path_for(out), f"--out (its resume file {resume_path_for(out).name})")):
        if path.is_dir():
            raise UsageError(f"{flag} {path} is a folder; give a file name, e.g. --out {out / 'model.pt'}")
    folder = out.parent
    while not folder.exists() and folder != folder.parent:  # folders still to be made: the first existing one decides
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"--out {out}: {folder} is a file, not a folder; choose another --out")
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".probe")
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        raise UsageError(f"--out {out}: cannot write in {folder} ({err.strerror or type(err).__name__}); "
                         "choose a folder you can write to") from None


def check_arguments(args: argparse.Namespace) -> None:
    """Every check that needs no file: numbers in range, options that fit the preset."""
    if args.preset in EPOCH_PRESETS:
        ddpm_only = {"--steps": args.steps, "--resume": args.resume or None, "--init": args.init, "--lr": args.lr,
                     "--lr-decay": args.lr_decay, "--checkpoint-every": args.checkpoint_every}
        for flag, value in ddpm_only.items():
            if value is not None:
                fix = "use --epochs N (passes over the training digits)" if flag == "--steps" else "leave it out"
                raise UsageError(f"{flag} is for the DDPM presets; the {args.preset} preset does not take it: {fix}")
        if args.epochs is not None and args.epochs < 1:
            raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    else:
        if args.epochs is not None:
            raise UsageError(f"--epochs is for --preset classifier or vae; {args.preset} counts optimizer steps: "
                             "use --steps N")
        if args.steps is not None and args.steps < 1:
            raise UsageError(f"--steps must be at least 1 (the run's total optimizer steps), got {args.steps}")
        if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
            raise UsageError(f"--lr must be a number > 0, e.g. --lr 2e-4, got {args.lr}")
        if args.checkpoint_every is not None and args.checkpoint_every < 1:
            raise UsageError(f"--checkpoint-every must be at least 1 (steps between saves), got {args.checkpoint_every}")
        if args.resume and args.init:
            raise UsageError("use --resume (continue OUT.resume.pt) or --init (start from a checkpoint's weights), not both")
        if args.resume and args.seed is not None:
            raise UsageError("--seed cannot change on --resume: a resumed run keeps its own seed; leave --seed out")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be a whole number >= 0, got {args.seed}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be at least 1, got {args.threads}")


def _does_not_fit(what: str, preset: str, differ: list[str], fits: list[str]) -> UsageError:
    """A checkpoint made for another recipe: say what differs, and which preset it does fit."""
    hint = f"use --preset {fits[0]}" if fits else "use the preset it was made with"
    return UsageError(f"{what} does not fit --preset {preset} (checkpoint vs preset: {'; '.join(differ)}); {hint}")


def _read(path: Path, flag: str) -> dict:
    if not path.is_file():
        raise UsageError(f"{flag}: there is no file {path}" + (
            " (a run keeps one beside --out once it has saved its first checkpoint); check --out, or start "
            "without --resume" if flag == "--resume" else "; check the path"))
    try:
        return read_checkpoint(path, kind=UNET_KINDS)
    except CheckpointError as err:
        raise UsageError(f"{flag}: {err}") from None


def check_resume(args: argparse.Namespace, resume_path: Path) -> dict:
    """The resume file's contents, after checking that it continues this preset's run."""
    ckpt = _read(resume_path, "--resume")
    if "resume" not in ckpt:
        raise UsageError(f"--resume: {resume_path} holds only sampling weights, not a run to continue; "
                         f"start a new run from them with --init {resume_path}")
    config = checkpoint_config(ckpt)
    differ = config_differences(config, PRESETS[args.preset], ignore=RESUME_OVERRIDES)
    if differ:
        fits = [name for name, cfg in PRESETS.items() if not config_differences(config, cfg, ignore=RESUME_OVERRIDES)]
        raise _does_not_fit(f"--resume: {resume_path}", args.preset, differ, fits)
    done, total = ckpt["train"]["steps_done"], args.steps or config.train_steps
    if args.steps is not None and args.steps < done:
        raise UsageError(f"--steps {args.steps}: {resume_path} has already trained {done} steps, and --steps is the "
                         f"run's total; give at least {done} ({done} writes --out from the steps already trained)")
    if total < done:
        raise UsageError(f"--resume: {resume_path} has trained {done} steps, more than its total {total}; give --steps")
    return ckpt


def check_init(args: argparse.Namespace) -> dict:
    """The --init checkpoint's contents, after checking that its architecture is the preset's."""
    ckpt = _read(args.init, "--init")
    try:
        theirs = UNetConfig.from_dict(ckpt["model_config"])
    except (KeyError, TypeError, ValueError) as err:
        raise UsageError(f"--init: {args.init} has no usable model config ({err}); give a course checkpoint") from None
    ours = PRESETS[args.preset].model
    differ = [f"model.{k}: {v!r} vs {ours.to_dict()[k]!r}" for k, v in theirs.to_dict().items() if v != ours.to_dict()[k]]
    if differ:
        fits = [name for name, cfg in PRESETS.items() if cfg.model == theirs]
        raise _does_not_fit(f"--init: {args.init}", args.preset, differ, fits)
    return ckpt


def check_not_overwriting(resume_path: Path) -> None:
    """A new run would overwrite ``resume_path``: refuse if it holds an unfinished run, which would be lost."""
    if not resume_path.is_file():
        return
    try:
        train = read_checkpoint(resume_path, kind=UNET_KINDS)["train"]
        done, total = train["steps_done"], train["train_steps"]
    except (CheckpointError, KeyError):
        return  # not a run that could be continued: nothing is lost
    if done < total:
        raise UsageError(f"--out: {resume_path} holds an unfinished run (step {done} of {total}), which a new run would "
                         f"overwrite; continue it with --resume, or delete that file to start again")


def resume_command(args: argparse.Namespace) -> str:
    """The command line that continues an interrupted run exactly."""
    parts = [*PROG.split(), "--preset", args.preset, "--out", str(args.out), "--resume"]
    for flag, value in (("--device", args.device), ("--threads", args.threads), ("--checkpoint-every", args.checkpoint_every)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    """Check everything, then train; returns the exit status."""
    check_arguments(args)
    device = check_device(args.device)
    resume_path = resume_path_for(args.out)
    ckpt = None
    if args.preset not in EPOCH_PRESETS:
        ckpt = check_resume(args, resume_path) if args.resume else check_init(args) if args.init else None
        if not args.resume:
            check_not_overwriting(resume_path)
    check_writable(args.out)

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.preset == "classifier":
        from .classifier import train_classifier_command

        try:
            train_classifier_command(args.out, device=device, seed=args.seed, epochs=args.epochs or DEFAULT_CLASSIFIER_EPOCHS)
        except KeyboardInterrupt:
            print(f"Interrupted: the classifier was not saved, and {args.out} is unchanged. It has no resume file; "
                  "run the command again (fewer --epochs make it shorter).")
            return INTERRUPTED_EXIT_STATUS
        return 0
    if args.preset == "vae":
        from .vae import train_vae_command

        try:
            train_vae_command(args.out, device=device, seed=args.seed, epochs=args.epochs)
        except KeyboardInterrupt:
            print(f"Interrupted: the VAE was not saved, and {args.out} is unchanged. It has no resume file; "
                  "run the command again (fewer --epochs make it shorter).")
            return INTERRUPTED_EXIT_STATUS
        return 0

    # what the command line changes in the run's config (a resumed run keeps its seed)
    overrides = {"train_steps": args.steps, "lr": args.lr, "lr_decay": args.lr_decay}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.resume:
        state = resume_train_state(resume_path, device, checkpoint=ckpt)
        state.config = replace(state.config, **overrides)
        print(f"resuming {args.preset} from step {state.step} of {state.config.train_steps} ({resume_path})")
    else:
        seed = {} if args.seed is None else {"seed": args.seed}
        state = new_train_state(replace(PRESETS[args.preset], **overrides, **seed), device)
        if args.init:
            for model in (state.model, state.ema.model):
                load_weights(model, ckpt["state_dict"], source=str(args.init))
            before = ckpt["train"]
            kept = ("steps_done", "train_seconds", "device", "init")  # "init": where that run began, if anywhere
            state.init = {"from": str(args.init), **{k: before[k] for k in kept if k in before}}
            print(f"starting from the weights of {args.init} ({before.get('steps_done', '?')} steps trained)")
    images, labels = load_mnist("train")
    print(f"training {args.preset} on {device} for {state.config.train_steps} steps")
    every = args.checkpoint_every or DEFAULT_CHECKPOINT_EVERY
    train_ddpm(state, images, labels, checkpoint_path=resume_path, checkpoint_every=every)
    if state.interrupted:
        saved = read_checkpoint(resume_path, kind=UNET_KINDS)["train"]["steps_done"] if resume_path.exists() else None
        if saved is None:
            print(f"Nothing was saved: {args.out} is unchanged.")
        else:
            print(f"{resume_path} holds the run at step {saved} of {state.config.train_steps}; {args.out} was not "
                  f"written. To continue exactly where it stopped:\n    {resume_command(args)}")
        return INTERRUPTED_EXIT_STATUS
    save_train_state(state, args.out, resumable=False, extra={"preset": args.preset})
    print(f"saved {args.out} after {state.step} steps ({state.seconds / 60:.1f} min)")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and run; any bad argument or unusable file ends it with one line and a non-zero status."""
    args = build_parser().parse_args(argv)
    try:
        status = run(args)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except (CheckpointError, MNISTDataError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    if status:
        raise SystemExit(status)


if __name__ == "__main__":
    main()
