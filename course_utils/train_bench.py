"""The training benchmark: how good a model notebook 4's live run makes in a few CPU-minutes.

    python -m course_utils.train_bench                          # both live recipes at 1, 2, 5 and 10 minutes
    python -m course_utils.train_bench --minutes 2 5 --recipes live-v2 --n 500
    python -m course_utils.train_bench --quick                  # a smoke test: seconds, not minutes

For every recipe (``training.LIVE_RECIPES``) and every budget of training wall-minutes it does what
notebook 4 does: times a few steps on this machine, sets the run's length to fit the budget (the
learning rate decays to 0 at its last step), trains from scratch, and scores the EMA weights' samples
from a fixed noise with the course's metrics, once per sampler (DDIM-50, which notebook 4 used before
0.3, and SDE-DPM++2M-20, which it uses now): recognised % (± its binomial sd) and digit-FID (± its
bootstrap sd) beside the real-vs-real floor. Each row also gives the minutes the run really took.
Below the table, the recipes compared at each budget with the same sampler, and as notebook 4 runs
each (its recipe with its sampler), and the machine it ran on. The figures in data/TRAINING_LOG.md and
notebook 4's table come from this command (``--markdown data/train_bench.md``); a run takes the sum of
the budgets times the recipes, plus scoring.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .data import load_mnist
from .env import choose_threads, pick_device
from .flow import FlowEulerSampler, FlowHeunSampler
from .metrics import classify, evaluate_samples, fid_bootstrap_sd, real_reference
from .pretrained import load_classifier
from .samplers import DDIMSampler, DPMSolverSampler, sample
from .training import LIVE_RECIPES, TrainConfig, new_train_state, train_ddpm

DEFAULT_MINUTES = (1.0, 2.0, 5.0, 10.0)
EVAL_NOISE_SEED = 3  # notebook 4's evaluation noise
SAMPLERS = {  # how notebook 4 scores its live run: DDIM-50 before 0.3, SDE-DPM++2M-20 since
    "DDIM-50": lambda schedule: DDIMSampler(schedule, 50),
    "SDE-DPM++2M-20": lambda schedule: DPMSolverSampler(schedule, 20, stochastic=True),
}
FLOW_SAMPLERS = {  # a flow-matching recipe (notebook 9's "live-flow") at 20 network calls and fewer
    "Euler-20": lambda schedule: FlowEulerSampler(20),
    "Heun-19": lambda schedule: FlowHeunSampler(10),  # 10 steps, 19 network calls (the last step is Euler)
}
DEFAULT_RECIPES = ("live-v1", "live-v2")  # notebook 4's, oldest first
NOTEBOOK_SAMPLER = {"live-v1": "DDIM-50", "live-flow": "Euler-20"}  # each recipe as its notebook runs it (4, or 9 for
# live-flow); the rest: SDE-DPM++2M-20
RESULTS = "train_bench.md"  # in data/: the last full run, which notebook 4 prints


def seconds_per_step(config: TrainConfig, images: torch.Tensor, device, steps: int = 20, warmup: int = 3) -> float:
    """Wall seconds per training step of ``config`` on this machine, timed on a throwaway run."""
    trial = new_train_state(replace(config, train_steps=warmup + steps), device)
    train_ddpm(trial, images, steps=warmup)
    start = time.perf_counter()
    train_ddpm(trial, images, steps=steps)
    return (time.perf_counter() - start) / steps


def steps_for(minutes: float, seconds_per_step_: float, margin: float = 0.0) -> int:
    """The training steps that fit in ``minutes``, leaving ``margin`` (a fraction) for a slower rerun."""
    return max(int(minutes * 60 * (1 - margin) / seconds_per_step_), 1)


@dataclass
class TrainingRow:
    recipe: str
    budget_minutes: float
    steps: int
    train_minutes: float  # what the run really took
    sampler: str
    recognised: float
    recognised_sd: float
    digit_fid: float
    digit_fid_sd: float
    floor: float

    def cells(self) -> list[str]:
        budget = f"{self.budget_minutes:g}" if self.budget_minutes else "—"
        return [self.recipe, budget, f"{self.steps:,}", f"{self.train_minutes:.2f}", self.sampler,
                f"{100 * self.recognised:.1f} ± {100 * self.recognised_sd:.1f}",
                f"{self.digit_fid:.2f} ± {self.digit_fid_sd:.2f}", f"{self.floor:.2f}"]


HEADER = ["recipe", "budget min", "steps", "train min", "sampler", "recognised % ± sd", "digit-FID ± sd", "floor"]


def parse_variant(text: str) -> tuple[str, dict]:
    """``"NAME:key=value,key=value"`` -> (NAME, {key: value}): a recipe's settings changed for a search."""
    name, _, settings = text.partition(":")
    changes = {}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition("=")
        if key not in TrainConfig.__dataclass_fields__ or key == "model" or not value:
            raise ValueError(f"a variant is NAME:key=value,... with TrainConfig settings other than model; got {item!r}")
        default = getattr(TrainConfig(), key)
        changes[key] = None if value == "none" else type(default)(value) if default is not None else float(value)
    if not name or not changes:
        raise ValueError(f"a variant is NAME:key=value,..., e.g. snr5:min_snr_gamma=5, got {text!r}")
    return name, changes


def run_training_benchmark(recipes, minutes, *, n: int = 500, device=None, images=None, steps=None,
                           variants=None) -> list[TrainingRow]:
    """Train each recipe for each budget and score it; see the module docstring. Prints each row as it comes.

    ``steps``: fixed step counts instead of minutes (a search that does not depend on the machine's speed;
    the budget column is then 0). ``variants``: {name: (recipe, {setting: value})}, recipes with settings changed.
    """
    device = torch.device(device) if device is not None else pick_device()
    images = load_mnist("train")[0] if images is None else images
    classifier = load_classifier(device=device)
    reference_features, _ = classify(classifier, real_reference(n))
    noise = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(EVAL_NOISE_SEED))
    rows = []
    configs = {name: LIVE_RECIPES[name] for name in recipes}
    configs.update({name: replace(LIVE_RECIPES[base], **changes) for name, (base, changes) in (variants or {}).items()})
    for name, config in configs.items():
        if steps is None:
            per_step = seconds_per_step(config, images, device)
            print(f"{name}: {per_step:.3f} s per step on {device} with {torch.get_num_threads()} thread(s)", flush=True)
        plan = [(0.0, s) for s in steps] if steps is not None else [(b, steps_for(b, per_step)) for b in minutes]
        for budget, run_steps in plan:
            state = new_train_state(replace(config, train_steps=run_steps), device)
            start = time.perf_counter()
            train_ddpm(state, images)
            took = (time.perf_counter() - start) / 60
            for sampler_name, make in (FLOW_SAMPLERS if config.objective == "flow" else SAMPLERS).items():
                samples = sample(state.ema.model, make(state.schedule), noise=noise, show_progress=False,
                                 generator=torch.Generator().manual_seed(EVAL_NOISE_SEED + 1)).images.cpu()
                report = evaluate_samples(classifier, samples)
                features, _ = classify(classifier, samples)
                rows.append(TrainingRow(name, budget, run_steps, took, sampler_name, report.recognised,
                                        (report.recognised * (1 - report.recognised) / n) ** 0.5, report.digit_fid,
                                        fid_bootstrap_sd(features, reference_features), report.fid_floor))
                print(" | ".join(rows[-1].cells()), flush=True)
    return rows


def notebook_sampler(recipe: str) -> str:
    return NOTEBOOK_SAMPLER.get(recipe, "SDE-DPM++2M-20")


def ratios(rows: list[TrainingRow], new: str, old: str) -> list[str]:
    """Lines comparing the new recipe with the old at each budget: with each sampler, and as notebook 4 runs each."""
    by = {(r.recipe, _length(r), r.sampler): r for r in rows}
    pairings = [(f"as the notebooks run them ({new} with {notebook_sampler(new)}, {old} with {notebook_sampler(old)})",
                 notebook_sampler(new), notebook_sampler(old))]
    pairings += [(f"both with {name}", name, name) for name in SAMPLERS]
    lines = []
    for title, new_sampler, old_sampler in pairings:
        lines.append(f"{new} against {old}, {title}:")
        for length in sorted({_length(r) for r in rows}):
            a, b = by.get((new, length, new_sampler)), by.get((old, length, old_sampler))
            if a is not None and b is not None:
                lines.append("  " + _ratio_line(a, b))
    return lines


def _length(row: TrainingRow) -> tuple[float, int]:
    """What makes two runs comparable: the same budget of minutes, or (with --steps, budget 0) the same steps."""
    return (row.budget_minutes, 0) if row.budget_minutes else (0.0, row.steps)


def _ratio_line(a: TrainingRow, b: TrainingRow) -> str:
    length = f"{a.budget_minutes:g} min" if a.budget_minutes else f"{a.steps:,} steps"
    times = f"{a.recognised / b.recognised:.2f}×" if b.recognised > 0 else "the old recipe recognised none"
    gap = a.recognised - b.recognised
    sd = max((a.recognised_sd**2 + b.recognised_sd**2) ** 0.5, 1e-12)
    return (f"{length}: recognised {100 * a.recognised:.1f}% vs {100 * b.recognised:.1f}% ({times}; "
            f"difference {100 * gap:+.1f} points, {gap / sd:+.1f} sd), digit-FID {a.digit_fid:.2f} vs "
            f"{b.digit_fid:.2f} ({a.digit_fid / b.digit_fid:.2f}×)")


def machine_line() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    cpu = platform.processor() or platform.machine()
    return (f"machine: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"
            + (f", load average at the end {load[0]:.2f}" if load else ""))


def read_results(path: Path | None = None) -> str:
    """The last full run's table (data/train_bench.md), as notebook 4 prints it, or how to make it."""
    from .data import data_dir

    path = data_dir() / RESULTS if path is None else Path(path)
    if not path.is_file():
        return (f"{path} is missing: `python -m course_utils.train_bench --markdown {path}` makes it "
                "(about an hour on a 2-core CPU)")
    return path.read_text(encoding="utf-8").strip()


def result_steps(path: Path | None = None) -> list[int]:
    """The step counts of the stored run's rows (data/train_bench.md), smallest first; [] if it is missing."""
    text = read_results(path)
    cells = [line.split("|")[3].strip() for line in text.splitlines() if line.startswith("| live")]
    return sorted({int(cell.replace(",", "")) for cell in cells})


def format_markdown(rows: list[TrainingRow]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(r.cells()) + " |" for r in rows]) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_utils.train_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--recipes", nargs="+", choices=sorted(LIVE_RECIPES), default=list(DEFAULT_RECIPES),
                        help="live recipes to train, the older first (default: notebook 4's, live-v1 and live-v2; "
                             "live-flow is notebook 9's flow-matching twin of live-v2)")
    parser.add_argument("--minutes", nargs="+", type=float, default=list(DEFAULT_MINUTES),
                        help="training budgets in wall-minutes (default: 1 2 5 10)")
    parser.add_argument("--steps", nargs="+", type=int,
                        help="train fixed step counts instead of --minutes (a recipe search that does not depend on "
                             "the machine's speed)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="also train --recipes' first recipe with settings changed, e.g. "
                             "snr2:min_snr_gamma=2,lr=4e-3 (repeatable)")
    parser.add_argument("--n", type=int, default=500, help="samples scored per row (default 500)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: the course's measured choice)")
    parser.add_argument("--markdown", type=Path, help="also write the table and ratios as Markdown")
    parser.add_argument("--quick", action="store_true", help="a smoke test: budgets of a few seconds, N = 64")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error(f"--n must be at least 2 (samples per row), got {args.n}")
    if any(not 0 < m <= 600 for m in args.minutes):
        parser.error(f"--minutes must be between 0 and 600, got {args.minutes}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.steps is not None and any(s < 1 for s in args.steps):
        parser.error(f"--steps must be whole numbers >= 1, got {args.steps}")
    try:
        variants = {name: (args.recipes[0], changes) for name, changes in map(parse_variant, args.variant)}
        for base, changes in variants.values():
            replace(LIVE_RECIPES[base], **changes)
    except (ValueError, TypeError) as err:
        parser.error(f"--variant: {err}")
    if args.markdown and not args.markdown.parent.is_dir():
        parser.error(f"--markdown {args.markdown}: the folder {args.markdown.parent} does not exist")
    if args.threads:
        torch.set_num_threads(args.threads)
    else:
        choose_threads()
    minutes, n = (([0.05, 0.1], 64) if args.quick else (args.minutes, args.n))
    print(machine_line())
    print(" | ".join(HEADER))
    rows = run_training_benchmark(args.recipes, minutes, n=n, steps=None if args.quick else args.steps,
                                  variants=variants)
    notes = ratios(rows, args.recipes[-1], args.recipes[0]) if len(args.recipes) > 1 else []
    for line in notes:
        print(line)
    print(machine_line())
    if args.markdown:
        command = " ".join(["python -m course_utils.train_bench", *(sys.argv[1:] if argv is None else argv)])
        text = (format_markdown(rows) + "\n" + "\n".join(f"- {line}" for line in notes) + "\n\n" + machine_line()
                + f"\n\nmade by `{command}`\n")
        args.markdown.write_text(text, encoding="utf-8")
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
