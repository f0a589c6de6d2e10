"""The recipes that made the shipped checkpoints in data/, one command each.

    python -m course_utils.recipes --list                 # the recipes and their stages
    python -m course_utils.recipes uncond --dry-run       # print the commands, run nothing
    python -m course_utils.recipes uncond                 # run every stage (hours on a CPU)
    python -m course_utils.recipes uncond --from-stage 3  # continue after stage 2 finished
    python -m course_utils.recipes vae                    # notebook 8's tiny VAE (minutes on a CPU)
    python -m course_utils.recipes autoencoder            # notebook 10's latent space, then
    python -m course_utils.recipes text2img               # its text-to-image model (hours on a CPU)

A recipe is a list of stages; each stage is one ``python -m course_utils.train`` command, and
every stage after the first starts from the weights the stage before it wrote (``--init``),
with a fresh optimizer and learning-rate schedule. A stage interrupted with Ctrl-C continues
with the ``--resume`` command that training prints; then run the recipe again ``--from-stage``
the next one. data/MODEL_CARD.md says how each shipped model was made and how good it is.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from . import train


@dataclass(frozen=True)
class Stage:
    """One training command: its options after ``--preset`` and before ``--out``."""

    options: tuple[str, ...]
    note: str

    def argv(self, preset: str, out: Path, first: bool, threads: int | None) -> list[str]:
        start = [] if first else ["--init", str(out)]  # every later stage starts from the last one's weights
        extra = [] if threads is None else ["--threads", str(threads)]
        return ["--preset", preset, *start, *self.options, *extra, "--out", str(out)]


@dataclass(frozen=True)
class Recipe:
    preset: str
    out: str  # the shipped file, relative to the repository root
    stages: tuple[Stage, ...]


_COSINE_FROM_5E4 = ("--lr", "5e-4", "--lr-decay", "cosine")
RECIPES: dict[str, Recipe] = {
    "classifier": Recipe("classifier", "data/classifier.pt", (Stage((), "4 epochs, seed 0"),)),
    "vae": Recipe("vae", "data/vae_mnist.pt", (Stage(("--epochs", "10"), "10 epochs, seed 0"),)),
    # notebook 10: the latent space first, then the text-to-image model trained in it (MODEL_CARD.md)
    "autoencoder": Recipe("autoencoder", "data/autoencoder_mnist.pt",
                          (Stage(("--epochs", "12", "--half"), "12 epochs, seed 0, stored in float16"),)),
    "text2img": Recipe("mnist-text", "data/text2img_mnist.pt", (
        Stage(("--steps", "8000"), "8,000 steps, constant lr 1e-3, seed 0"),
        Stage(("--lr-decay", "cosine", "--steps", "6000", "--half"),
              "6,000 steps, lr 1e-3 decayed to 0 by a cosine; stored in float16"),
    )),
    "cond": Recipe("mnist-cond", "data/ddpm_mnist_cond.pt", (
        Stage(("--steps", "6000"), "6,000 steps, constant lr 1e-3, seed 0"),
        Stage(("--lr-decay", "cosine", "--seed", "1", "--steps", "16000"), "16,000 steps, lr 1e-3 cosine-decayed, seed 1"),
        Stage((*_COSINE_FROM_5E4, "--seed", "2", "--steps", "12000"), "12,000 steps from lr 5e-4, seed 2"),
    )),
    # notebook 9's flow-matching model: the unconditional model's first stage, cut to 7,000 steps, with the
    # velocity objective, then a short cosine decay: what one afternoon on a 2-core machine allows (MODEL_CARD.md)
    "flow": Recipe("mnist-flow", "data/flow_mnist.pt", (
        Stage(("--steps", "7000"), "7,000 steps, constant lr 1e-3, seed 0"),
        Stage(("--lr-decay", "cosine", "--steps", "3000"), "3,000 steps, lr 1e-3 decayed to 0 by a cosine"),
    )),
    "uncond": Recipe("mnist-uncond", "data/ddpm_mnist_uncond.pt", (
        Stage(("--steps", "14000"), "14,000 steps, constant lr 1e-3, seed 0"),
        Stage(("--lr-decay", "cosine", "--steps", "16000"), "16,000 steps, lr 1e-3 decayed to 0 by a cosine"),
        Stage((*_COSINE_FROM_5E4, "--seed", "1", "--steps", "20000"), "20,000 steps from lr 5e-4, seed 1"),
        Stage((*_COSINE_FROM_5E4, "--seed", "2", "--steps", "18000"), "18,000 steps from lr 5e-4, seed 2"),
        Stage((*_COSINE_FROM_5E4, "--seed", "3", "--steps", "16000"), "16,000 steps from lr 5e-4, seed 3"),
    )),
}


def commands(name: str, out: Path | None = None, threads: int | None = None, from_stage: int = 1) -> list[list[str]]:
    """The ``course_utils.train`` argument lists of recipe ``name``, from stage ``from_stage`` (1-based) on."""
    recipe = RECIPES[name]
    if not 1 <= from_stage <= len(recipe.stages):
        raise ValueError(f"--from-stage must be between 1 and {len(recipe.stages)} for the {name} recipe, got {from_stage}")
    out = Path(recipe.out) if out is None else out
    return [stage.argv(recipe.preset, out, first=i == 0, threads=threads)
            for i, stage in enumerate(recipe.stages) if i + 1 >= from_stage]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.recipes", description=__doc__.split("\n")[0])
    parser.add_argument("recipe", nargs="?", choices=sorted(RECIPES), help="which shipped model to make")
    parser.add_argument("--list", action="store_true", help="show every recipe and its stages")
    parser.add_argument("--dry-run", action="store_true", help="print the commands without running them")
    parser.add_argument("--out", type=Path, help="where to write the model (default: its file in data/)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch, passed to every stage")
    parser.add_argument("--from-stage", type=int, default=1, help="skip the stages before this one (1-based)")
    args = parser.parse_args(argv)
    if args.list or args.recipe is None:
        for name, recipe in RECIPES.items():
            print(f"{name}: {len(recipe.stages)} stage(s) -> {recipe.out}")
            for i, stage in enumerate(recipe.stages, 1):
                print(f"  {i}. {stage.note}")
        return 0
    try:
        todo = commands(args.recipe, args.out, args.threads, args.from_stage)
    except ValueError as err:
        parser.error(str(err))
    total = len(RECIPES[args.recipe].stages)
    for number, stage_argv in enumerate(todo, start=args.from_stage):
        print(f"stage {number} of {total}: python -m course_utils.train {shlex.join(stage_argv)}", flush=True)
        if not args.dry_run:
            train.main(stage_argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
