"""Command line: train a named preset and save its checkpoint.

    python -m course_utils.train --preset mnist-uncond --out data/ddpm_mnist_uncond.pt
    python -m course_utils.train --preset mnist-cond   --out data/ddpm_mnist_cond.pt
    python -m course_utils.train --preset classifier   --out data/classifier.pt

This is the command that made the shipped checkpoints (see data/MODEL_CARD.md).
A run saves a resumable checkpoint next to ``--out`` every ``--checkpoint-every``
steps (``NAME.resume.pt``); ``--resume`` continues from it, and Ctrl-C keeps
what has been trained. The final ``--out`` file holds only the EMA weights.

``--init CKPT`` starts a new run from the sampling (EMA) weights of an earlier
checkpoint, with a fresh optimizer and learning-rate schedule: this is how a
model whose resumable file is gone gets trained further, e.g.

    python -m course_utils.train --preset mnist-uncond --init data/ddpm_mnist_uncond.pt \
        --lr-decay cosine --steps 16000 --out data/ddpm_mnist_uncond.pt

The new checkpoint records where it started (``train["init"]``).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from .checkpoints import load_weights, read_checkpoint
from .data import load_mnist
from .env import pick_device
from .training import PRESETS, new_train_state, resume_train_state, save_train_state, train_ddpm


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_utils.train", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", required=True, choices=sorted(PRESETS) + ["classifier"])
    parser.add_argument("--out", type=Path, required=True, help="where to write the checkpoint")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the preset's)")
    parser.add_argument("--seed", type=int, help="random seed (default: the preset's)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--resume", action="store_true", help="continue from OUT.resume.pt")
    parser.add_argument("--init", type=Path, help="start from this checkpoint's EMA weights (fresh optimizer)")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    parser.add_argument("--lr-decay", choices=["constant", "cosine"], help="after warm-up (default: the preset's)")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)

    if args.preset == "classifier":
        from .classifier import train_classifier_command

        train_classifier_command(args.out, device=device, seed=args.seed, epochs=args.steps)
        return

    if args.resume and args.init:
        parser.error("use --resume (continue OUT.resume.pt) or --init (start from a checkpoint's weights), not both")
    resume_path = args.out.with_suffix(".resume.pt")
    # what the command line changes in the run's config (a resumed run keeps its seed)
    overrides = {"train_steps": args.steps, "lr": args.lr, "lr_decay": args.lr_decay}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.resume:
        state = resume_train_state(resume_path, device)
        print(f"resuming {args.preset} from step {state.step}")
        state.config = replace(state.config, **overrides)
    else:
        seed = {} if args.seed is None else {"seed": args.seed}
        state = new_train_state(replace(PRESETS[args.preset], **overrides, **seed), device)
        if args.init:
            start = read_checkpoint(args.init, kind="ddpm")
            for model in (state.model, state.ema.model):
                load_weights(model, start["state_dict"], source=str(args.init))
            before = start["train"]
            kept = ("steps_done", "train_seconds", "device", "init")  # "init": where that run began, if anywhere
            state.init = {"from": str(args.init), **{k: before[k] for k in kept if k in before}}
            print(f"starting from the weights of {args.init} ({before.get('steps_done', '?')} steps trained)")
    images, labels = load_mnist("train")
    print(f"training {args.preset} on {device} for {state.config.train_steps} steps")
    train_ddpm(state, images, labels, checkpoint_path=resume_path, checkpoint_every=args.checkpoint_every)
    save_train_state(state, args.out, resumable=False, extra={"preset": args.preset})
    print(f"saved {args.out} after {state.step} steps ({state.seconds / 60:.1f} min)")


if __name__ == "__main__":
    main()
