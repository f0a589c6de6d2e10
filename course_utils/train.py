"""Command line: train a named preset and save its checkpoint.

    python -m course_utils.train --preset mnist-uncond --out data/ddpm_mnist_uncond.pt
    python -m course_utils.train --preset mnist-cond   --out data/ddpm_mnist_cond.pt
    python -m course_utils.train --preset classifier   --out data/classifier.pt
    python -m course_utils.train --preset vae          --out data/vae_mnist.pt
    python -m course_utils.train --preset autoencoder  --out data/autoencoder_mnist.pt
    python -m course_utils.train --preset mnist-text   --out data/text2img_mnist.pt

This is the command that made the shipped checkpoints (see data/MODEL_CARD.md).
The DDPM presets count optimizer steps (``--steps``); the classifier, the VAE
(notebook 8's one-shot generator, :mod:`course_utils.vae`) and the autoencoder (notebook 10's
latent space, :mod:`course_utils.autoencoder`) count passes over the training digits (``--epochs``).
The text-to-image preset ``mnist-text`` (notebook 10) is a step preset like the DDPMs', trained in the
latent space of data/autoencoder_mnist.pt, which must exist first.

A DDPM run saves a resumable checkpoint next to ``--out`` every ``--checkpoint-every``
steps (``NAME.resume.pt``); ``--resume`` continues from it, exactly: the same losses
and weights as a run never stopped (with the same number of threads, which a resume keeps).
Ctrl-C or SIGTERM stops after the step in progress, saves the resume file, prints the command
that continues, and exits with status 130 without writing ``--out``. The final ``--out`` file
holds only the EMA weights.

``--init CKPT`` starts a new run from the sampling (EMA) weights of an earlier
checkpoint, with a fresh optimizer and learning-rate schedule: this is how a
model whose resumable file is gone gets trained further, e.g.

    python -m course_utils.train --preset mnist-uncond --init data/ddpm_mnist_uncond.pt \
        --lr-decay cosine --steps 16000 --out data/ddpm_mnist_uncond.pt

The new checkpoint records where it started (``train["init"]``).

Every argument is checked before any work starts; a bad one stops the command
with one line that names it and says what to do (exit status 2). One run at a time
writes a given ``--out`` (the lock file NAME.lock beside it names the run). A failure late in
a run (a full disk, a diverged loss, Ctrl-C or SIGTERM at any moment) ends with one line that says
what happened, what is intact on disk and the command that continues.
"""

from __future__ import annotations

import math
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from .cli import (
    INTERRUPTED_EXIT_STATUS,
    OutputLock,
    Parser,
    UsageError,
    fail,
    interrupt_handling,
)

PROG = "python -m course_utils.train"

with interrupt_handling(PROG, active=__name__ == "__main__", what="while starting: nothing was written; run the "
                        "command again"):
    import torch

    from .autoencoder import AutoencoderTrainConfig
    from .checkpoints import CheckpointError, load_weights, read_checkpoint
    from .classifier import CLASSIFIER_EPOCHS
    from .data import MNISTDataError, load_mnist
    from .env import MAX_THREADS, pick_device
    from .loop import StopGuard, Stopped
    from .run_files import (
        check_out,
        check_out_is_no_run,
        lock_path_for,
        resume_path_for,
        same_weights,
        saved_step,
        unfinished,
    )
    from .training import (
        PRESETS,
        UNET_KINDS,
        checkpoint_config,
        config_differences,
        model_config_from_dict,
        new_train_state,
        resume_train_state,
        save_train_state,
        train_ddpm,
        training_data,
    )
    from .vae import VAETrainConfig
    from .validation import MAX_SEED

DEFAULT_CHECKPOINT_EVERY = 1000
EPOCH_PRESETS = ("classifier", "vae", "autoencoder")  # trained for --epochs passes, in one go (no resume file)
DEFAULT_EPOCHS = {"classifier": CLASSIFIER_EPOCHS, "vae": VAETrainConfig().epochs, "autoencoder": AutoencoderTrainConfig().epochs}
# Settings the command line may change on a resumed run; the seed stays the run's own.
RESUME_OVERRIDES = ("train_steps", "lr", "lr_decay", "seed")


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG, description=__doc__.split("\n")[0],
        epilog="Ctrl-C or SIGTERM stops a DDPM run after the step in progress, keeps OUT.resume.pt and prints the "
               "command that continues it exactly; OUT itself is written only when the run finishes.",
    )
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS) + list(EPOCH_PRESETS),
                        help="what to train: a DDPM recipe (see course_utils.training.PRESETS), the classifier or the vae")
    parser.add_argument("--out", type=Path, required=True, help="where to write the checkpoint")
    parser.add_argument("--steps", type=int, help="DDPM presets: total optimizer steps of the run (default: the preset's)")
    parser.add_argument("--epochs", type=int, help="classifier, vae and autoencoder presets: passes over the 60,000 "
                        f"training digits (default {DEFAULT_EPOCHS['classifier']} for the classifier, {DEFAULT_EPOCHS['vae']} "
                        f"for the vae, {DEFAULT_EPOCHS['autoencoder']} for the autoencoder)")
    parser.add_argument("--seed", type=int, help=f"random seed, 0 to {MAX_SEED} (default: the preset's)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice; a resumed run "
                        "keeps the count it was trained with)")
    parser.add_argument("--checkpoint-every", type=int,
                        help=f"DDPM presets: steps between saves of OUT.resume.pt (default {DEFAULT_CHECKPOINT_EVERY})")
    parser.add_argument("--resume", action="store_true", help="continue exactly from OUT.resume.pt")
    parser.add_argument("--init", type=Path, help="start from this checkpoint's EMA weights (fresh optimizer)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    parser.add_argument("--lr-decay", choices=["constant", "cosine"], help="after warm-up (default: the preset's)")
    parser.add_argument("--half", action="store_true",
                        help="store OUT's weights in float16 (half the file; notebook 10's shipped models); "
                             "the resume file stays float32")
    return parser


def check_device(name: str | None) -> torch.device:
    """The device to train on (``--device``, else COURSE_DEVICE, else the best there is), or a UsageError saying
    why it cannot be used."""
    try:
        return pick_device(name, flag="--device")
    except ValueError as err:
        raise UsageError(str(err)) from None


def check_arguments(args) -> None:
    """Every check that needs no file: numbers in range, options that fit the preset."""
    if args.preset in EPOCH_PRESETS:
        ddpm_only = {"--steps": args.steps, "--resume": args.resume or None, "--init": args.init, "--lr": args.lr,
                     "--lr-decay": args.lr_decay, "--checkpoint-every": args.checkpoint_every,
                     "--half": (args.half and args.preset != "autoencoder") or None}
        for flag, value in ddpm_only.items():
            if value is not None:
                fix = "use --epochs N (passes over the training digits)" if flag == "--steps" else "leave it out"
                raise UsageError(f"{flag} is for the DDPM presets; the {args.preset} preset does not take it: {fix}")
        if args.epochs is not None and args.epochs < 1:
            raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    else:
        if args.epochs is not None:
            raise UsageError(f"--epochs is for --preset {', '.join(EPOCH_PRESETS)}; {args.preset} counts optimizer "
                             "steps: use --steps N")
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
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be a whole number >= 0 and at most {MAX_SEED}, got {args.seed}")
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise UsageError(f"--threads must be a whole number from 1 to {MAX_THREADS}, got {args.threads}")
    check_out(args.out)


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


def _presets_fitting(config) -> list[str]:
    return [name for name, cfg in PRESETS.items() if not config_differences(config, cfg, ignore=RESUME_OVERRIDES)]


def _config_of(ckpt: dict, path: Path, flag: str):
    """The run's TrainConfig, or a UsageError when the file's recipe cannot be read (another course version)."""
    try:
        return checkpoint_config(ckpt)
    except (KeyError, TypeError, ValueError) as err:
        raise UsageError(f"{flag}: {path} holds a recipe this version of the course cannot read ({err}); "
                         "use the course version that wrote it, or start a new run") from None


def check_resume(args, resume_path: Path) -> dict:
    """The resume file's contents, after checking that it continues this preset's run."""
    ckpt = _read(resume_path, "--resume")
    if "resume" not in ckpt:
        raise UsageError(f"--resume: {resume_path} holds only sampling weights, not a run to continue; "
                         f"start a new run from them with --init {resume_path}")
    config = _config_of(ckpt, resume_path, "--resume")
    differ = config_differences(config, PRESETS[args.preset], ignore=RESUME_OVERRIDES)
    if differ:
        raise _does_not_fit(f"--resume: {resume_path}", args.preset, differ, _presets_fitting(config))
    done, total = ckpt["train"]["steps_done"], args.steps or config.train_steps
    if args.steps is not None and args.steps < done:
        raise UsageError(f"--steps {args.steps}: {resume_path} has already trained {done} steps, and --steps is the "
                         f"run's total; give at least {done} ({done} writes --out from the steps already trained)")
    if total < done:
        raise UsageError(f"--resume: {resume_path} has trained {done} steps, more than its total {total}; give --steps")
    return ckpt


def check_init(args) -> dict:
    """The --init checkpoint's contents, after checking that its architecture is the preset's."""

    ckpt = _read(args.init, "--init")
    try:
        theirs = model_config_from_dict(ckpt["model_config"])
    except (KeyError, TypeError, ValueError) as err:
        raise UsageError(f"--init: {args.init} has no usable model config ({err}); give a course checkpoint") from None
    ours = PRESETS[args.preset].architecture
    if type(theirs) is not type(ours):
        differ = [f"a {type(theirs).__name__} vs a {type(ours).__name__}"]
    else:
        differ = [f"architecture.{k}: {v!r} vs {ours.to_dict()[k]!r}" for k, v in theirs.to_dict().items()
                  if v != ours.to_dict()[k]]
    if differ:
        fits = [name for name, cfg in PRESETS.items() if cfg.architecture == theirs]
        raise _does_not_fit(f"--init: {args.init}", args.preset, differ, fits)
    return ckpt


def check_not_overwriting(args, resume_path: Path) -> bool:
    """A new run would overwrite ``resume_path``: refuse if it holds an unfinished run, or a finished one whose
    result never reached ``--out`` (offered to be written, at a terminal). Returns True when that is accepted."""
    if not resume_path.is_file():
        return False
    try:
        ckpt = read_checkpoint(resume_path, kind=UNET_KINDS)
    except CheckpointError:
        return False  # not a run that could be continued: nothing is lost
    run = unfinished(ckpt)
    if run:
        done, total = run
        raise UsageError(f"--out: {resume_path} holds an unfinished run (step {done} of {total}), which a new run would "
                         "overwrite; continue it with --resume, or delete that file to start again")
    if "resume" not in ckpt:
        return False
    try:
        written = same_weights(read_checkpoint(args.out), ckpt) if args.out.is_file() else False
    except CheckpointError:
        written = False
    if written:
        return False  # a finished run whose checkpoint is --out: a new run (a next stage) may start
    fits = _presets_fitting(_config_of(ckpt, resume_path, "--out"))
    command = resume_command(args, preset=fits[0] if fits and args.preset not in fits else args.preset)
    done = ckpt["train"]["steps_done"]
    if sys.stdin.isatty() and input(f"{resume_path} holds a finished run (step {done} of {done}) whose checkpoint "
                                    f"{args.out} was never written. Write it now instead of training again? [Y/n] "
                                    ).strip().lower() in ("", "y", "yes"):
        return True
    raise UsageError(f"{resume_path} holds a finished run (step {done} of {done}) whose checkpoint {args.out} was never "
                     f"written; write it in seconds with: {command} (or delete {resume_path.name} to train again)")


def resume_command(args, preset: str | None = None) -> str:
    """The command line that continues an interrupted run exactly (of ``preset``, if not the command's own)."""
    parts = [*PROG.split(), "--preset", preset or args.preset, "--out", str(args.out), "--resume"]
    for flag, value in (("--device", args.device), ("--threads", args.threads), ("--checkpoint-every", args.checkpoint_every)):
        if value is not None:
            parts += [flag, str(value)]
    if args.half:
        parts.append("--half")
    return shlex.join(parts)


def same_command(args, **changes) -> str:
    """The command as given (with ``changes``, e.g. lr=1e-4): what starts the run again."""
    argv = list(args.argv)
    for name, value in changes.items():
        flag = "--" + name.replace("_", "-")
        argv = [a for a in argv if not a.startswith(flag + "=")]
        if flag in argv:
            i = argv.index(flag)
            del argv[i : i + 2]
        argv += [flag, str(value)]
    return shlex.join([*PROG.split(), *argv])


def resume_threads(args, ckpt: dict, device: torch.device) -> None:
    """A resumed run keeps its thread count (results then match an uninterrupted run bit for bit); another
    count or device is allowed, with a warning that the last bits will differ."""
    train = ckpt["train"]
    threads = train.get("threads")
    if args.threads is None and threads:
        args.threads = threads
        print(f"resuming with --threads {threads}, the count this run was trained with (another count gives results "
              "that differ in the last bits)")
    elif threads and args.threads != threads:
        print(f"warning: --threads {args.threads} differs from the {threads} this run was trained with: the result will "
              f"differ from an uninterrupted run in the last bits (about 1e-7); --threads {threads} keeps it exact",
              file=sys.stderr)
    trained_on = str(train.get("device", "cpu")).split(":")[0]
    if trained_on != device.type:
        print(f"warning: this run was trained on {trained_on} and continues on {device.type}: the result will differ "
              "from an uninterrupted run in the last bits", file=sys.stderr)


def run(args) -> int:
    """Check everything, then train; returns the exit status."""
    check_arguments(args)
    device = check_device(args.device)
    resume_path = resume_path_for(args.out)
    with OutputLock(lock_path_for(args.out), "--out", shlex.join([*PROG.split(), *args.argv])):
        ckpt, finish = None, False
        check_out_is_no_run(args.out)
        if args.preset not in EPOCH_PRESETS:
            ckpt = check_resume(args, resume_path) if args.resume else check_init(args) if args.init else None
            if not args.resume:
                finish = check_not_overwriting(args, resume_path)
                if finish:  # accepted at a terminal: the command becomes its --resume (which takes no recipe options)
                    args.resume, args.init, args.seed, args.steps, args.lr, args.lr_decay = True, None, None, None, None, None
                    ckpt = check_resume(args, resume_path)
            if args.resume:
                resume_threads(args, ckpt, device)
        if args.threads:
            torch.set_num_threads(args.threads)
        return _train(args, device, ckpt, resume_path)


def _train(args, device: torch.device, ckpt: dict | None, resume_path: Path) -> int:
    """The work, and the one line each way it can end early."""
    out, phase = args.out, "starting"
    try:
        if args.preset in EPOCH_PRESETS:
            from .autoencoder import train_autoencoder_command
            from .classifier import train_classifier_command
            from .vae import train_vae_command

            phase = "training"
            epochs = args.epochs or DEFAULT_EPOCHS[args.preset]
            if args.preset == "autoencoder":
                train_autoencoder_command(out, device=device, seed=args.seed, epochs=epochs, half=args.half)
            else:
                command = train_classifier_command if args.preset == "classifier" else train_vae_command
                command(out, device=device, seed=args.seed, epochs=epochs)
            return 0
        state = _ddpm_state(args, device, ckpt, resume_path)
        images, labels = training_data(state.model, *load_mnist("train"))  # a latent model: latents and captions
        print(f"training {args.preset} on {device} for {state.config.train_steps} steps")
        every = args.checkpoint_every or DEFAULT_CHECKPOINT_EVERY
        phase = "training"
        train_ddpm(state, images, labels, checkpoint_path=resume_path, checkpoint_every=every)
        if state.interrupted:
            raise Stopped(state.stopped_by or "Ctrl-C", state.step, state.config.train_steps)
        phase = "writing"
        with StopGuard() as stop:  # a Ctrl-C now waits for the file to be complete
            save_train_state(state, out, resumable=False, extra={"preset": args.preset}, half=args.half)
        print(f"saved {out} after {state.step} steps ({state.seconds / 60:.1f} min)")
        if stop.requested:
            print(f"{PROG}: stopped by {stop.signal_name} as {out} was written; it is complete (the run finished)")
            return INTERRUPTED_EXIT_STATUS
        return 0
    except KeyboardInterrupt as err:
        print(_interrupted_line(args, err, resume_path, phase), flush=True)
        return INTERRUPTED_EXIT_STATUS
    except CheckpointError as err:
        if phase == "starting":
            raise
        fail(PROG, f"{err}; " + _what_is_left(args, resume_path), status=1)
    except FloatingPointError as err:
        err = str(err).rstrip(".")
        lower = f"{(args.lr or _preset_lr(args, ckpt)) / 10:g}"
        step = saved_step(resume_path)
        if step is not None:
            fail(PROG, f"training diverged: {err}; {resume_path} holds the run at step {step} and {out} was not written; "
                       f"continue with a lower learning rate: {resume_command(args)} --lr {lower}", status=1)
        fail(PROG, f"training diverged: {err}; nothing was saved; start again with a lower learning rate: "
                   f"{same_command(args, lr=lower)}", status=1)


def _preset_lr(args, ckpt: dict | None) -> float:
    return checkpoint_config(ckpt).lr if args.resume and ckpt else PRESETS[args.preset].lr


def _ddpm_state(args, device, ckpt, resume_path):
    """The run to train: resumed from its file, or new (from the preset, or from --init's weights)."""
    overrides = {"train_steps": args.steps, "lr": args.lr, "lr_decay": args.lr_decay}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.resume:
        state = resume_train_state(resume_path, device, checkpoint=ckpt)
        state.config = replace(state.config, **overrides)
        print(f"resuming {args.preset} from step {state.step} of {state.config.train_steps} ({resume_path})")
        return state
    seed = {} if args.seed is None else {"seed": args.seed}
    state = new_train_state(replace(PRESETS[args.preset], **overrides, **seed), device)
    if args.init:
        for model in (state.model, state.ema.model):
            load_weights(model, ckpt["state_dict"], source=str(args.init))
        before = ckpt["train"]
        kept = ("steps_done", "train_seconds", "device", "init")  # "init": where that run began, if anywhere
        state.init = {"from": str(args.init), **{k: before[k] for k in kept if k in before}}
        print(f"starting from the weights of {args.init} ({before.get('steps_done', '?')} steps trained)")
    return state


def _what_is_left(args, resume_path: Path) -> str:
    """What is intact on disk after a failed save, and the command that goes on from it."""
    if args.preset in EPOCH_PRESETS:
        return f"{args.out} is unchanged and this preset keeps no resume file: run the command again: {same_command(args)}"
    step = saved_step(resume_path)
    if step is None:
        return f"nothing of this run was saved; run the command again: {same_command(args)}"
    return f"{resume_path} holds the run at step {step}, intact; continue with: {resume_command(args)}"


def _interrupted_line(args, err: KeyboardInterrupt, resume_path: Path, phase: str) -> str:
    """The one line that ends a stopped run: what happened, what is on disk, the command that goes on."""
    name = getattr(err, "signal_name", "Ctrl-C")
    stopped = f"{PROG}: stopped by {name}"
    if args.preset in EPOCH_PRESETS or (phase == "starting" and not args.resume):
        where = f" after step {err.step} of {err.total}" if isinstance(err, Stopped) else ""
        what = f"the {args.preset} was not saved and {args.out} is unchanged" if phase != "starting" else "nothing was written"
        again = ("it keeps no resume file, so run the command again (fewer --epochs make it shorter)"
                 if args.preset in EPOCH_PRESETS and phase != "starting" else "run the command again")
        return f"{stopped}{where}: {what}; {again}: {same_command(args)}"
    saved = saved_step(resume_path)
    if saved is None:
        return f"{stopped} before anything was saved; run the command again: {same_command(args)}"
    if phase == "writing":
        return (f"{stopped} while {args.out} was written: it is unchanged, and {resume_path} holds the finished run "
                f"(step {saved}); write {args.out} with: {resume_command(args)}")
    where = (f" after step {err.step} of {err.total}" if isinstance(err, Stopped) else
             " before training went on" if phase == "starting" else " during training")
    exact = "exactly " if isinstance(err, Stopped) else ""
    return (f"{stopped}{where}: {resume_path} holds the run at step {saved} and {args.out} was not written; "
            f"continue {exact}with: {resume_command(args)}")


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and run; any bad argument or unusable file ends it with one line and a non-zero status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    with interrupt_handling(PROG, what="before training started: nothing was written; run the command again"):
        args = build_parser().parse_args(argv)
        args.argv = argv
        try:
            status = run(args)
        except UsageError as err:
            fail(PROG, err)
        except (CheckpointError, MNISTDataError) as err:
            fail(PROG, err, status=1)
    if status:
        raise SystemExit(status)


if __name__ == "__main__":
    main()
