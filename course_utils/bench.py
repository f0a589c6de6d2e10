"""The sampler benchmark: the table notebook 6 teaches from, reproducible by anyone.

    python -m course_utils.bench                      # 1,000 samples per row, both shipped models
    python -m course_utils.bench --n 2000 --markdown bench.md --csv bench.csv
    python -m course_utils.bench --quick              # 64 samples, a few rows: a smoke test
    python -m course_utils.bench --floor-curve        # the real-vs-real floor at growing N
    python -m course_utils.bench --models uncond --rows DDIM-50 --eta 1   # chosen rows, stochastic DDIM
    python -m course_utils.bench --models cond --scales 0 --rows DDIM-50 DDPM-1000  # chosen samplers and scales

Rows:
* unconditional model: DDPM with all 1000 steps, DDIM with 10, 20, 50 and 100 steps (η = 0),
  DPM-Solver++(2M) and its stochastic variant SDE-DPM-Solver++(2M) with 10 and 20 steps, and DDIM with
  η = 1 at 10, 20, 50 and 100 steps, every row from the same starting noise;
* class-conditional model: DDIM-50 (η = 0) with classifier-free guidance scales 0, 1, 1.5, 2, 3, 5,
  labels 0..9 in equal numbers (``--rows`` and ``--scales`` choose others). Scale 1 is the plain
  conditional model ("no guidance"), scale 0 the unconditional one (see guidance.guided_eps).

Columns: sampler, steps (= network calls; twice that with guidance w not 0 or 1), guidance, wall
seconds per 100 images, digit-FID with its bootstrap standard deviation (how much it moves with the
draw of the samples), the real-vs-real floor at the same N, mean confidence, recognised % (confidence
>= 0.9 and features like a real digit's) with its binomial standard deviation, class accuracy.
Below the table: the floor's spread over ten draws of real images, the noise in any one score.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .env import pick_device, progress
from .guidance import ClassifierFreeGuidance
from .metrics import RECOGNISED_THRESHOLD, classify, evaluate_samples, fid_bootstrap_sd, fid_floor, floor_spread, real_reference
from .pretrained import checkpoint_path, load_classifier, load_ddpm
from .samplers import DDIMSampler, DDPMSampler, DPMSolverSampler, sample

SHIPPED_T = 1000  # the shipped models' number of diffusion steps: DDPM runs all of them, DDIM at most that many
SAMPLER_NAMES = ("DDPM", "DDIM", "DPM++2M", "SDE-DPM++2M")
UNCONDITIONAL_ROWS = [("DDPM", SHIPPED_T), ("DDIM", 10), ("DDIM", 20), ("DDIM", 50), ("DDIM", 100),
                      ("DPM++2M", 10), ("DPM++2M", 20), ("SDE-DPM++2M", 10), ("SDE-DPM++2M", 20),
                      # stochastic DDIM (a third entry is the row's own η): notebook 6's verdict on fresh noise
                      ("DDIM", 10, 1.0), ("DDIM", 20, 1.0), ("DDIM", 50, 1.0), ("DDIM", 100, 1.0)]
GUIDANCE_SCALES = [0.0, 1.0, 1.5, 2.0, 3.0, 5.0]
GUIDED_STEPS = 50
NO_GUIDANCE = 1.0


@dataclass
class Row:
    model: str
    sampler: str
    steps: int
    guidance: str
    seconds_per_100: float
    digit_fid: float
    digit_fid_sd: float  # bootstrap standard deviation over the draw of the samples
    floor: float
    mean_confidence: float
    recognised: float
    recognised_sd: float  # binomial: sqrt(p (1 - p) / N)
    class_accuracy: float | None

    def cells(self) -> list[str]:
        acc = "—" if self.class_accuracy is None else f"{100 * self.class_accuracy:.1f}"
        return [self.model, self.sampler, str(self.steps), self.guidance, f"{self.seconds_per_100:.1f}",
                f"{self.digit_fid:.2f} ± {self.digit_fid_sd:.2f}", f"{self.floor:.2f}", f"{self.mean_confidence:.3f}",
                f"{100 * self.recognised:.1f} ± {100 * self.recognised_sd:.1f}", acc]


HEADER = ["model", "sampler", "steps", "guidance", "wall s / 100 img", "digit-FID ± sd", "floor",
          "mean conf", "recognised % ± sd", "class acc %"]


def make_sampler(name: str, steps: int, schedule, eta: float = 0.0):
    """The sampler of a row: DDPM (all T steps), DDIM (η = ``eta``), DPM++2M or SDE-DPM++2M with ``steps`` calls."""
    if name == "DDPM":
        return DDPMSampler(schedule)
    if name == "DDIM":
        return DDIMSampler(schedule, steps, eta=eta)
    return DPMSolverSampler(schedule, steps, stochastic=name == "SDE-DPM++2M")


def _sample_in_batches(model, sampler, noise, labels, batch_size, device, desc, seed=0):
    """Sample from ``noise`` in chunks (fresh noise of stochastic samplers from ``seed``); returns (images on CPU, seconds)."""
    images, start = [], time.perf_counter()
    generator = torch.Generator().manual_seed(seed + 1)
    chunks = range(0, len(noise), batch_size)
    for i in progress(chunks, desc=desc, unit="batch"):
        y = labels[i : i + batch_size].to(device) if labels is not None else None
        out = sample(model, sampler, noise=noise[i : i + batch_size].to(device), labels=y, generator=generator,
                     show_progress=False)
        images.append(out.images.cpu())
    return torch.cat(images), time.perf_counter() - start


def run_benchmark(
    n: int = 1000,
    *,
    which: str = "all",
    unconditional_rows=None,
    guidance_scales=None,
    conditional_rows=None,
    batch_size: int = 500,
    seed: int = 0,
    eta: float = 0.0,
    device: torch.device | str | None = None,
) -> list[Row]:
    """Sample and score every row; see the module docstring. ``eta`` is DDIM's η for every DDIM row.

    ``conditional_rows`` (default DDIM-50) are the conditional model's samplers, each run at every guidance scale.
    """
    device = torch.device(device) if device is not None else pick_device()
    classifier = load_classifier(device=device)
    floor = fid_floor(classifier, n)
    reference_features, _ = classify(classifier, real_reference(n))
    noise = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    rows = []

    def score(model_name, sampler_name, steps, guidance, images, seconds, labels=None):
        report = evaluate_samples(classifier, images, labels, floor=floor)
        features, _ = classify(classifier, images)
        fid_sd = fid_bootstrap_sd(features, reference_features)
        recognised_sd = (report.recognised * (1 - report.recognised) / n) ** 0.5
        row = Row(model_name, sampler_name, steps, guidance, 100 * seconds / n, report.digit_fid, fid_sd, floor,
                  report.mean_confidence, report.recognised, recognised_sd, report.class_accuracy)
        rows.append(row)
        print(" | ".join(row.cells()), flush=True)

    def shipped(name):
        if checkpoint_path(name).exists() or which == name:  # asked for by name: let loading explain
            return True
        print(f"skipping the {name} model: {checkpoint_path(name)} is missing "
              f"(train it with `python -m course_utils.train --preset mnist-{name} --out {checkpoint_path(name)}`)")
        return False

    if which in ("all", "uncond") and shipped("uncond"):
        model, schedule = load_ddpm("uncond", device)
        for name, steps, *own_eta in unconditional_rows or UNCONDITIONAL_ROWS:
            row_eta = own_eta[0] if own_eta else eta
            sampler = make_sampler(name, steps, schedule, row_eta)
            images, seconds = _sample_in_batches(model, sampler, noise, None, batch_size, device, f"{name}-{steps}",
                                                 seed)
            score("uncond", _label(name, row_eta), steps, "—", images, seconds)
    if which in ("all", "cond") and shipped("cond"):
        model, schedule = load_ddpm("cond", device)
        labels = torch.arange(n) % 10
        for name, steps in conditional_rows or [("DDIM", GUIDED_STEPS)]:
            sampler = make_sampler(name, steps, schedule, eta)
            for scale in GUIDANCE_SCALES if guidance_scales is None else guidance_scales:
                guided = ClassifierFreeGuidance(model, scale)
                images, seconds = _sample_in_batches(guided, sampler, noise, labels, batch_size, device,
                                                     f"{name}-{steps} w={scale:g}", seed)
                note = " (no guidance)" if scale == NO_GUIDANCE else " (unconditional)" if scale == 0 else ""
                score("cond", _label(name, eta), steps, f"w={scale:g}{note}", images, seconds, labels)
    return rows


def _label(sampler_name: str, eta: float) -> str:
    """The sampler column: "DDIM" is deterministic (η = 0); any other η is named."""
    return f"DDIM η={eta:g}" if sampler_name == "DDIM" and eta != 0 else sampler_name


def parse_row(text: str) -> tuple[str, int]:
    """``"DDIM-50"`` -> ("DDIM", 50), also DPM++2M-<steps> and SDE-DPM++2M-<steps>; DDPM runs every step,
    so only ``"DDPM-1000"`` (T = SHIPPED_T)."""
    name, _, steps = text.rpartition("-")
    ok = name in SAMPLER_NAMES and steps.isdigit() and 1 <= int(steps) <= SHIPPED_T
    if not ok or (name == "DDPM" and int(steps) != SHIPPED_T):
        raise ValueError(f"a row is DDIM-<steps>, DPM++2M-<steps> or SDE-DPM++2M-<steps> with 1 <= steps <= {SHIPPED_T} "
                         f"(e.g. DDIM-50), or DDPM-{SHIPPED_T}, got {text!r}")
    return name, int(steps)


def format_markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def format_text(rows: list[Row]) -> str:
    table = [HEADER] + [r.cells() for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table) + "\n"


def write_csv(rows: list[Row], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(r.cells() for r in rows)


def floor_note(n: int, device=None, draws: int = 10) -> str:
    """One line on the noise in any one score: the floor's mean and spread over ``draws`` draws of real images."""
    mean, sd = floor_spread(load_classifier(device=device or pick_device()), n, draws)
    return (f"floor over {draws} draws of {n} real images per side: mean {mean:.2f}, standard deviation {sd:.2f} "
            "(the noise in any one digit-FID at this N)")


def floor_curve(sizes=(250, 500, 1000, 2000, 5000, 10000), device=None) -> list[tuple[int, float]]:
    """The real-vs-real digit-FID floor at growing N: it shrinks as estimation noise shrinks."""
    classifier = load_classifier(device=device or pick_device())
    return [(n, fid_floor(classifier, n)) for n in sizes]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_utils.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="samples per row (default 1000)")
    parser.add_argument("--models", choices=["all", "uncond", "cond"], default="all")
    parser.add_argument("--quick", action="store_true", help="64 samples and a few rows: a smoke test")
    parser.add_argument("--rows", nargs="+", metavar="ROW",
                        help="samplers to run, e.g. DDPM-1000 DDIM-50 SDE-DPM++2M-20 (default: the unconditional "
                             "model's nine rows, and DDIM-50 for the conditional model)")
    parser.add_argument("--scales", nargs="+", type=float, metavar="W",
                        help="guidance scales for the conditional model (default: 0 1 1.5 2 3 5)")
    parser.add_argument("--eta", type=float, default=0.0,
                        help="DDIM's η for every DDIM row (default 0, deterministic, as the targets are measured)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    parser.add_argument("--floor-curve", action="store_true", help="print the floor at N = 250 ... 10000 and exit")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)

    if args.floor_curve:
        print("N      real-vs-real digit-FID floor")
        for n, value in floor_curve(device=device):
            print(f"{n:<6} {value:.3f}")
        return

    n, scales = args.n, args.scales
    try:
        chosen = [parse_row(r) for r in args.rows] if args.rows else None
    except ValueError as err:
        parser.error(str(err))
    if scales is not None and args.models == "uncond":
        parser.error("--scales are guidance scales of the conditional model; they cannot be used with --models uncond")
    if scales is not None and not all(math.isfinite(w) and w >= 0 for w in scales):
        parser.error(f"--scales must be finite and >= 0 (0 is the unconditional model, 1 no guidance), got {args.scales}")
    if args.eta < 0:
        parser.error(f"--eta must be >= 0, got {args.eta:g}")
    uncond_rows = cond_rows = chosen
    if args.quick:
        n, uncond_rows, scales = 64, chosen or [("DDIM", 10), ("DDIM", 20)], scales or [1.0, 3.0]
    print(f"benchmark: {n} samples per row on {device}; "
          f"recognised = confidence >= {RECOGNISED_THRESHOLD} and real-looking features and strokes (metrics.looks_real)")
    print(" | ".join(HEADER))
    rows = run_benchmark(n, which=args.models, unconditional_rows=uncond_rows, guidance_scales=scales,
                         conditional_rows=cond_rows, batch_size=args.batch_size, seed=args.seed, eta=args.eta,
                         device=device)
    print()
    print(format_text(rows))
    print(f"guidance: eps = eps(x, ∅) + w (eps(x, y) - eps(x, ∅)); w = {NO_GUIDANCE:g} means no guidance, "
          "w = 0 the unconditional model.")
    spread = floor_note(n, device)
    print(spread)
    if args.csv:
        write_csv(rows, args.csv)
        print(f"wrote {args.csv}")
    if args.markdown:
        args.markdown.write_text(format_markdown(rows) + "\n" + spread + "\n", encoding="utf-8")
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
