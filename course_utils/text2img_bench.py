"""Measuring the text-to-image model: does it draw what the prompt asks for? (notebook 10, data/MODEL_CARD.md)

    python -m course_utils.text2img_bench                       # N = 1,000 per prompt set, at the recommended scale
    python -m course_utils.text2img_bench --scales 1 2 3 5      # a guidance-scale sweep
    python -m course_utils.text2img_bench --quick               # 100 per set: a smoke test
    python -m course_utils.text2img_bench --markdown t2i.md --csv t2i.csv

Three sets of prompts, N images each, every prompt a random paraphrase (synonyms, word order, digits as words
or numerals) that names everything its row asks for:

* **digit**: the digit alone ("seven", "7"), digits 0-9 in equal numbers: the requested digit, digit-FID
  against N real test digits (beside the real-vs-real floor), recognised, and the time per 100 images;
* **seen**: one digit and one attribute ("a thick 7", "a 2 that is leaning left"), cycling through every
  (digit, attribute, class) combination the model was trained on;
* **held-out**: the same for the combinations left out of training (captions.HELD_OUT).

For each set: the requested digit (the reference classifier's reading), and the requested attributes met
(measured on the image with :func:`course_utils.captions.attributes_met`), with binomial standard deviations;
beside it the **base rate**, how often the digit-only prompts' images happen to have the attribute anyway (what
the attribute words add is the difference). The held-out set's adherence is also given as a share of the seen
set's. Last, the pixel-space class-conditional model of notebook 7 (DDIM-50, guided) on the digit task, for
digit-FID and time per 100 images on the same machine.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .captions import ATTRIBUTES, CLASSES, HELD_OUT, UNNAMED, attributes_met, random_caption
from .env import pick_device
from .flow import FlowEulerSampler, FlowHeunSampler
from .metrics import classify, evaluate_samples, fid_bootstrap_sd, fid_floor, real_reference
from .pretrained import load_autoencoder, load_classifier, load_ddpm, load_text2img
from .prompting import DEFAULT_STEPS, RECOMMENDED_SCALE, generate

PROMPT_SETS = ("digit", "seen", "held-out")
PIXEL_SCALE, PIXEL_STEPS = 1.5, 50  # the pixel-space conditional model: the benchmark's recommended w, DDIM-50


def combinations(which: str) -> list[tuple[int, str, int]]:
    """(digit, attribute, class) combinations: "seen" (trained on) or "held-out" (captions.HELD_OUT)."""
    if which == "held-out":
        return list(HELD_OUT)
    return [(d, a, c) for a in ATTRIBUTES for c in range(len(CLASSES[a])) for d in range(10) if (d, a, c) not in HELD_OUT]


def prompt_set(which: str, n: int, seed: int = 0) -> tuple[torch.Tensor, list[str]]:
    """``n`` requested rows (n, 4) and one paraphrased prompt each, for a prompt set of PROMPT_SETS."""
    generator = torch.Generator().manual_seed(seed)
    rows = torch.full((n, 4), UNNAMED, dtype=torch.long)
    if which == "digit":
        rows[:, 0] = torch.arange(n) % 10
    elif which in ("seen", "held-out"):
        combos = combinations(which)
        for i in range(n):
            digit, attribute, cls = combos[i % len(combos)]
            rows[i, 0], rows[i, 1 + ATTRIBUTES.index(attribute)] = digit, cls
    else:
        raise ValueError(f"a prompt set is one of {PROMPT_SETS}, got {which!r}")
    return rows, [random_caption(row, generator, mention=1.0, say_digit=1.0) for row in rows]


def _share(hits: torch.Tensor) -> tuple[float, float]:
    """The mean of 0/1 values (NaN ignored) and its binomial standard deviation sqrt(p (1 − p) / n)."""
    hits = hits[~torch.isnan(hits)]
    if len(hits) == 0:
        return math.nan, math.nan
    p = float(hits.mean())
    return p, math.sqrt(p * (1 - p) / len(hits))


@dataclass
class Result:
    """One row of the table: a prompt set (or the pixel model) at one guidance scale."""

    what: str
    scale: float
    n: int
    seconds_per_100: float
    digit: tuple[float, float]  # requested digit: share, sd
    attributes: tuple[float, float] = (math.nan, math.nan)  # requested attributes met: share, sd
    base_rate: float = math.nan  # the same attributes in the digit-only prompts' images
    digit_fid: tuple[float, float] = (math.nan, math.nan)  # value, bootstrap sd
    floor: float = math.nan
    recognised: tuple[float, float] = (math.nan, math.nan)
    extra: dict = field(default_factory=dict)

    def cells(self) -> list[str]:
        pct = lambda pair: "—" if math.isnan(pair[0]) else f"{100 * pair[0]:.1f} ± {100 * pair[1]:.1f}"  # noqa: E731
        num = lambda pair: "—" if math.isnan(pair[0]) else f"{pair[0]:.2f} ± {pair[1]:.2f}"  # noqa: E731
        return [self.what, f"{self.scale:g}", str(self.n), f"{self.seconds_per_100:.2f}", pct(self.digit),
                pct(self.attributes), "—" if math.isnan(self.base_rate) else f"{100 * self.base_rate:.1f}",
                num(self.digit_fid), "—" if math.isnan(self.floor) else f"{self.floor:.2f}", pct(self.recognised)]


HEADER = ["prompts", "w", "N", "wall s / 100 img", "requested digit % ± sd", "attributes met % ± sd",
          "base rate %", "digit-FID ± sd", "floor", "recognised % ± sd"]
# The CSV holds numbers: each mean and its sd in columns of their own, percentages in percent, empty where none.
CSV_HEADER = ["prompts", "w", "N", "wall s / 100 img", "requested digit %", "requested digit % sd",
              "attributes met %", "attributes met % sd", "base rate %", "digit-FID", "digit-FID sd", "floor",
              "recognised %", "recognised % sd"]


def csv_record(result: Result) -> list:
    """``result`` as the numbers of :data:`CSV_HEADER` (NaN: an empty cell)."""
    number = lambda value, scale=1.0: "" if math.isnan(value) else round(scale * value, 6)  # noqa: E731
    pair = lambda p, scale=100.0: [number(p[0], scale), number(p[1], scale)]  # noqa: E731
    return [result.what, result.scale, result.n, round(result.seconds_per_100, 4), *pair(result.digit),
            *pair(result.attributes), number(result.base_rate, 100.0), *pair(result.digit_fid, 1.0),
            number(result.floor), *pair(result.recognised)]


def _base_rate(rows: torch.Tensor, digit_rows: torch.Tensor, digit_images: torch.Tensor) -> float:
    """How often images made from the digit-only prompts have the attributes ``rows`` ask for, by chance."""
    rates = []
    for row in rows:
        same = digit_rows[:, 0] == row[0]
        asked = row.expand(int(same.sum()), 4)
        rates.append(float(torch.nanmean(attributes_met(digit_images[same], asked))))
    return sum(rates) / len(rates)


def run(n: int = 1000, *, scales=(RECOMMENDED_SCALE,), calls: int = DEFAULT_STEPS, sampler_name: str = "Euler",
        seed: int = 0, pixel: bool = True, device=None, batch_size: int = 500, model=None, autoencoder=None,
        classifier=None, printer=print) -> list[Result]:
    """Generate and score every prompt set at every scale (and the pixel-space model); see the module docstring."""
    device = torch.device(device) if device is not None else pick_device()
    model = model or load_text2img(device=device)
    autoencoder = autoencoder or load_autoencoder(model.config.autoencoder, device=device)
    classifier = classifier or load_classifier(device=device)
    sampler = FlowEulerSampler(calls) if sampler_name == "Euler" else FlowHeunSampler.for_calls(calls)  # network calls
    floor = fid_floor(classifier, n)
    reference_features, _ = classify(classifier, real_reference(n))
    noise = torch.randn(n, *model.latent_shape, generator=torch.Generator().manual_seed(seed))
    results = []
    for scale in scales:
        digit_rows = digit_images = None
        seen_share = None
        for which in PROMPT_SETS:
            rows, prompts = prompt_set(which, n, seed)
            out = generate(model, autoencoder, prompts, guidance_scale=scale, sampler=sampler, noise=noise,
                           batch_size=batch_size)
            _, probs = classify(classifier, out.images)
            result = Result(which, scale, n, 100 * out.seconds / n, _share((probs.argmax(1) == rows[:, 0]).float()))
            if which == "digit":
                digit_rows, digit_images = rows, out.images
                report = evaluate_samples(classifier, out.images, rows[:, 0], floor=floor)
                features, _ = classify(classifier, out.images)
                result.digit_fid = (report.digit_fid, fid_bootstrap_sd(features, reference_features))
                result.floor = floor
                result.recognised = (report.recognised, math.sqrt(report.recognised * (1 - report.recognised) / n))
            else:
                result.attributes = _share(attributes_met(out.images, rows).flatten())
                result.base_rate = _base_rate(rows, digit_rows, digit_images)
                if which == "seen":
                    seen_share = result.attributes
                else:
                    (a, sa), (b, sb) = result.attributes, seen_share
                    ratio = a / b if b else math.nan  # no seen prompt met: no ratio to give
                    sd = ratio * math.sqrt((sa / a) ** 2 + (sb / b) ** 2) if a and b else math.nan
                    result.extra["held_out_vs_seen"] = (ratio, sd)
            results.append(result)
            printer(" | ".join(result.cells()))
    if pixel:
        results.append(pixel_row(n, classifier, floor, reference_features, seed, device, batch_size))
        printer(" | ".join(results[-1].cells()))
    return results


def pixel_row(n, classifier, floor, reference_features, seed, device, batch_size) -> Result:
    """Notebook 7's class-conditional pixel-space model on the digit task: DDIM-50 at w = PIXEL_SCALE."""
    from .guidance import ClassifierFreeGuidance
    from .samplers import DDIMSampler, sample

    model, schedule = load_ddpm("cond", device)
    guided = ClassifierFreeGuidance(model, PIXEL_SCALE)
    labels = torch.arange(n) % 10
    noise = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    start, images = time.perf_counter(), []
    for i in range(0, n, batch_size):
        images.append(sample(guided, DDIMSampler(schedule, PIXEL_STEPS), noise=noise[i : i + batch_size].to(device),
                             labels=labels[i : i + batch_size].to(device), show_progress=False).images.cpu())
    seconds = time.perf_counter() - start
    images = torch.cat(images)
    report = evaluate_samples(classifier, images, labels, floor=floor)
    features, _ = classify(classifier, images)
    return Result(f"pixel-space cond model, DDIM-{PIXEL_STEPS}", PIXEL_SCALE, n, 100 * seconds / n,
                  (report.class_accuracy, math.sqrt(report.class_accuracy * (1 - report.class_accuracy) / n)),
                  digit_fid=(report.digit_fid, fid_bootstrap_sd(features, reference_features)), floor=floor,
                  recognised=(report.recognised, math.sqrt(report.recognised * (1 - report.recognised) / n)))


@dataclass
class Cost:
    """What one image costs in the latent space and in pixel space (one network call each, on this machine)."""

    batch: int
    latent_numbers: int  # numbers the latent model denoises per image (4 · 7 · 7)
    pixel_numbers: int  # numbers the pixel model denoises per image (28 · 28)
    latent_call: float  # seconds per image for one call of the text-to-image model (text encoder included)
    pixel_call: float  # seconds per image for one call of notebook 7's conditional TinyUNet
    decode: float  # seconds per image for the autoencoder's decoder (once per image, after sampling)
    latent_parameters: int
    pixel_parameters: int

    def __str__(self) -> str:
        ratio = self.pixel_call / self.latent_call
        verdict = (f"{ratio:.1f}× cheaper in the latent space" if ratio >= 1 else
                   f"{1 / ratio:.1f}× dearer in the latent space")  # on a machine where the latent call is slower
        return (f"per image and network call: latent {1000 * self.latent_call:.2f} ms ({self.latent_numbers} numbers, "
                f"{self.latent_parameters:,} parameters) vs pixel {1000 * self.pixel_call:.2f} ms "
                f"({self.pixel_numbers} numbers, {self.pixel_parameters:,} parameters): {verdict}; decoding once "
                f"costs {1000 * self.decode:.2f} ms")


@torch.no_grad()
def sampling_cost(model, autoencoder, pixel_model, batch: int = 100, repeats: int = 3) -> Cost:
    """Time one network call of the latent text model and of the pixel-space model on ``batch`` images
    (the fastest of ``repeats``, env.seconds_per_call), and one decoder pass: the cost of a sample in each space."""
    from .env import seconds_per_call

    device = next(model.parameters()).device
    z = torch.randn(batch, *model.latent_shape, device=device)
    ids = model.tokenizer.encode(["a thick, slanted seven"] * batch).to(device)
    t = torch.full((batch,), 0.5, device=device)
    x = torch.randn(batch, 1, 28, 28, device=device)
    steps, labels = torch.full((batch,), 500, device=device), torch.arange(batch, device=device) % 10
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return Cost(batch, z[0].numel(), x[0].numel(),
                seconds_per_call(lambda: model(z, t, ids), repeats=repeats) / batch,
                seconds_per_call(lambda: pixel_model(x, steps, labels), repeats=repeats) / batch,
                seconds_per_call(lambda: autoencoder.decode(z), repeats=repeats) / batch, count(model), count(pixel_model))


def format_markdown(results: list[Result]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in results]
    notes = [f"held-out adherence at w = {r.scale:g}: {100 * r.extra['held_out_vs_seen'][0]:.1f} ± "
             f"{100 * r.extra['held_out_vs_seen'][1]:.1f}% of the seen combinations'"
             for r in results if "held_out_vs_seen" in r.extra]
    return "\n".join(lines) + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.text2img_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="images per prompt set (default 1000)")
    parser.add_argument("--scales", type=float, nargs="+", default=[RECOMMENDED_SCALE],
                        help=f"guidance scales w (default {RECOMMENDED_SCALE:g}; 1 is no guidance)")
    parser.add_argument("--calls", type=int, default=DEFAULT_STEPS,
                        help=f"network calls per image (default {DEFAULT_STEPS}: Euler's steps; Heun takes odd counts)")
    parser.add_argument("--sampler", choices=["Euler", "Heun"], default="Euler")
    parser.add_argument("--no-pixel", action="store_true", help="leave out the pixel-space conditional model")
    parser.add_argument("--quick", action="store_true", help="100 images per set: a smoke test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    args = parser.parse_args(argv)
    n = 100 if args.quick else args.n
    if not 2 <= n <= 10_000:
        parser.error(f"--n must be between 2 and 10,000 (the real test digits digit-FID compares with), got {n}")
    if any(not math.isfinite(w) or w < 0 for w in args.scales):
        parser.error(f"--scales must be finite and >= 0, got {args.scales}")
    if args.calls < 1:
        parser.error(f"--calls must be at least 1, got {args.calls}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"text-to-image benchmark: {n} images per prompt set, {args.sampler} with {args.calls} network calls "
          "(with guidance, each on a double batch)")
    print(" | ".join(HEADER))
    results = run(n, scales=args.scales, calls=args.calls, sampler_name=args.sampler, seed=args.seed,
                  pixel=not args.no_pixel, device=pick_device(args.device))
    table = format_markdown(results)
    print()
    print(table)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
        print(f"wrote {args.markdown}")
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_HEADER)
            writer.writerows(csv_record(r) for r in results)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
