"""The sampler benchmark: the table notebook 6 teaches from, reproducible by anyone.

    python -m course_utils.bench                      # 1,000 samples per row, every shipped model
    python -m course_utils.bench --n 2000 --markdown bench.md --csv bench.csv
    python -m course_utils.bench --quick              # 64 samples, a few rows: a smoke test
    python -m course_utils.bench --floor-curve        # the real-vs-real floor at growing N
    python -m course_utils.bench --models uncond --rows DDIM-50 --eta 1   # chosen rows, stochastic DDIM
    python -m course_utils.bench --models cond --scales 0 --rows DDIM-50 DDPM-1000  # chosen samplers and scales
    python -m course_utils.bench --models flow --rows Euler-10 Heun-9  # notebook 9's flow-matching model

Rows:
* unconditional model: DDPM with all 1000 steps, DDIM with 10, 20, 50 and 100 steps (η = 0),
  DPM-Solver++(2M) and its stochastic variant SDE-DPM-Solver++(2M) with 10 and 20 steps, and DDIM with
  η = 1 at 10, 20, 50 and 100 steps, every row from the same starting noise;
* class-conditional model: DDIM-50 (η = 0) with classifier-free guidance scales 0, 1, 1.5, 2, 3, 5,
  labels 0..9 in equal numbers (``--rows`` and ``--scales`` choose others). Scale 1 is the plain
  conditional model ("no guidance"), scale 0 the unconditional one (see guidance.guided_eps);
* flow-matching model (notebook 9): Euler with 5, 10, 20 and 50 steps, Heun with 5, 9, 19 and 49 network calls
  (3, 5, 10 and 25 steps), from the same starting noise as the unconditional model's rows.
A row names a sampler of :mod:`course_utils.sampler_registry` and its network calls (``DDIM-50``, ``Heun-9``);
``--rows`` gives each model the rows of its kind (DDPM samplers to uncond and cond, flow samplers to flow).
A model whose checkpoint is missing is skipped with the command that trains it.
Stochastic samplers draw their fresh noise per image, so a row does not depend on ``--batch-size``.

Columns: model, sampler, calls (network calls per image; with guidance w not 0 or 1, each on a double
batch), guidance, wall seconds per 100 images, digit-FID with its bootstrap standard deviation (how much it
moves with the draw of the samples), the real-vs-real floor at the same N, mean confidence, recognised %
(confidence >= 0.9 and features like a real digit's) with its binomial standard deviation, class accuracy.
Below the table: the floor's spread over ten draws of real images, the noise in any one score.
``--csv`` writes the same rows as numbers (each mean and its sd in columns of their own,
:data:`course_utils.bench_results.COLUMNS`);
``--markdown`` writes the table as shown.

Every argument is checked before any work; a bad one ends the command with one line (exit status 2).
"""

from __future__ import annotations

import math
from pathlib import Path

from .cli import Parser, UsageError, check_output_file, fail, interrupt_handling

PROG = "python -m course_utils.bench"

with interrupt_handling(PROG, active=__name__ == "__main__", what="while starting: nothing was written"):
    import torch

    from .bench_results import MARKDOWN_COLUMNS, BenchRow, markdown_table, write_atomically, write_csv
    from .env import MAX_THREADS, check_device, pick_device
    from .forward import ImageGenerators
    from .guidance import ClassifierFreeGuidance, scale_note
    from .metrics import (
        RECOGNISED_THRESHOLD,
        classify,
        evaluate_samples,
        fid_bootstrap_sd,
        fid_floor,
        floor_spread,
        real_reference,
    )
    from .pretrained import checkpoint_path, load_classifier, load_ddpm, load_flow
    from .sampler_registry import SAMPLERS, make_sampler, parse_row, sampler_entry
    from .samplers import sample
    from .validation import MAX_SEED

SHIPPED_T = 1000  # the shipped models' number of diffusion steps: DDPM runs all of them, DDIM at most that many
UNCONDITIONAL_ROWS = [("DDPM", SHIPPED_T), ("DDIM", 10), ("DDIM", 20), ("DDIM", 50), ("DDIM", 100),
                      ("DPM++2M", 10), ("DPM++2M", 20), ("SDE-DPM++2M", 10), ("SDE-DPM++2M", 20),
                      # stochastic DDIM (a third entry is the row's own η): notebook 6's verdict on fresh noise
                      ("DDIM", 10, 1.0), ("DDIM", 20, 1.0), ("DDIM", 50, 1.0), ("DDIM", 100, 1.0)]
FLOW_ROWS = [("Euler", 5), ("Euler", 10), ("Euler", 20), ("Euler", 50), ("Heun", 5), ("Heun", 9), ("Heun", 19),
              ("Heun", 49)]
GUIDANCE_SCALES = [0.0, 1.0, 1.5, 2.0, 3.0, 5.0]
GUIDED_CALLS = 50
NO_GUIDANCE = 1.0
MAX_N = 10_000  # the real test digits digit-FID compares with
QUICK_N = 64
MODELS = {"uncond": "ddpm", "cond": "ddpm", "flow": "flow"}  # --models: each shipped model and its samplers' kind
DEFAULT_N = 1000
DEFAULT_BATCH_SIZE = 500


def run_benchmark(
    n: int = DEFAULT_N,
    *,
    which: str = "all",
    unconditional_rows=None,
    guidance_scales=None,
    conditional_rows=None,
    flow_rows=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    eta: float = 0.0,
    device: torch.device | str | None = None,
) -> list[BenchRow]:
    """Sample and score every row; see the module docstring. ``eta`` is DDIM's η for every DDIM row.

    ``conditional_rows`` (default DDIM-50) are the conditional model's samplers, each run at every guidance scale.
    ``unconditional_rows``, ``conditional_rows`` and ``flow_rows`` default (None) to the module's lists; an empty
    list runs none of that model's rows.
    ``batch_size`` is how many images a network call takes (memory only: the rows do not depend on it).
    """
    device = check_device(device) if device is not None else pick_device()
    classifier = load_classifier(device=device)
    floor = fid_floor(classifier, n)
    reference_features, _ = classify(classifier, real_reference(n))
    noise = torch.randn(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    rows = []

    def run_row(model_name, model, sampler_name, calls, schedule, guidance, labels=None, row_eta=None):
        row_eta = eta if row_eta is None else row_eta  # a row of UNCONDITIONAL_ROWS may carry its own η
        sampler = make_sampler(sampler_name, calls, schedule, row_eta)
        fresh = ImageGenerators(torch.Generator().manual_seed(seed + 1), n)  # each image's noise its own: any batch size
        out = sample(model, sampler, noise=noise, labels=labels, generator=fresh, device=device, chunk_size=batch_size,
                     desc=f"{sampler_name}-{calls} {guidance}".rstrip(" —"))
        report = evaluate_samples(classifier, out.images.cpu(), labels, floor=floor)
        fid_sd = fid_bootstrap_sd(report.features, reference_features)
        recognised_sd = (report.recognised * (1 - report.recognised) / n) ** 0.5
        accuracy = None if report.class_accuracy is None else 100 * report.class_accuracy
        row = BenchRow(model_name, _label(sampler_name, row_eta), calls, guidance, 100 * out.seconds / n,
                       report.digit_fid, fid_sd, floor, report.mean_confidence, 100 * report.recognised,
                       100 * recognised_sd, accuracy)
        rows.append(row)
        print(" | ".join(row.markdown_cells()), flush=True)

    def shipped(name):
        if checkpoint_path(name).exists() or which == name:  # asked for by name: let loading explain
            return True
        print(f"skipping the {name} model: {checkpoint_path(name)} is missing "
              f"(train it with `python -m course_utils.recipes {name}`)")
        return False

    unconditional_rows = UNCONDITIONAL_ROWS if unconditional_rows is None else unconditional_rows
    conditional_rows = [("DDIM", GUIDED_CALLS)] if conditional_rows is None else conditional_rows
    flow_rows = FLOW_ROWS if flow_rows is None else flow_rows
    if which in ("all", "uncond") and unconditional_rows and shipped("uncond"):
        model, schedule = load_ddpm("uncond", device)
        for name, calls, *own_eta in unconditional_rows:
            run_row("uncond", model, name, calls, schedule, "—", row_eta=own_eta[0] if own_eta else None)
    if which in ("all", "cond") and conditional_rows and shipped("cond"):
        model, schedule = load_ddpm("cond", device)
        labels = torch.arange(n) % 10
        for name, calls in conditional_rows:
            for scale in GUIDANCE_SCALES if guidance_scales is None else guidance_scales:
                run_row("cond", ClassifierFreeGuidance(model, scale), name, calls, schedule, f"w={scale:g}{scale_note(scale)}",
                        labels)
    if which in ("all", "flow") and flow_rows and shipped("flow"):
        model = load_flow("flow", device)
        for name, calls in flow_rows:
            run_row("flow", model, name, calls, None, "—")
    return rows


def _label(sampler_name: str, eta: float) -> str:
    """The sampler column: a sampler that takes η (DDIM) is deterministic at η = 0; any other η is named."""
    return f"{sampler_name} η={eta:g}" if sampler_entry(sampler_name).uses_eta and eta != 0 else sampler_name


def format_text(rows: list[BenchRow]) -> str:
    table = [MARKDOWN_COLUMNS] + [r.markdown_cells() for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(MARKDOWN_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table) + "\n"


def floor_note(n: int, device=None, draws: int = 10) -> str:
    """One line on the noise in any one score: the floor's mean and spread over ``draws`` draws of real images."""
    mean, sd = floor_spread(load_classifier(device=device or pick_device()), n, draws)
    return (f"floor over {draws} draws of {n} real images per side: mean {mean:.2f}, standard deviation {sd:.2f} "
            "(the noise in any one digit-FID at this N)")


def floor_curve(sizes=(250, 500, 1000, 2000, 5000, 10000), device=None) -> list[tuple[int, float]]:
    """The real-vs-real digit-FID floor at growing N: it shrinks as estimation noise shrinks."""
    classifier = load_classifier(device=device or pick_device())
    return [(n, fid_floor(classifier, n)) for n in sizes]


def build_parser() -> Parser:
    parser = Parser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, help=f"samples per row, 2 to {MAX_N} (default {DEFAULT_N}; --quick: {QUICK_N})")
    parser.add_argument("--models", choices=["all", *MODELS], default="all",
                        help="which shipped model's rows to run (default: all, the unconditional, the conditional "
                             "and the flow-matching model)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_N} samples and a few rows: a smoke test")
    parser.add_argument("--rows", nargs="+", metavar="ROW",
                        help="samplers to run, e.g. DDPM-1000 DDIM-50 SDE-DPM++2M-20 Euler-10 Heun-9, each on the "
                             "models of its kind (default: the unconditional model's nine rows, DDIM-50 for the "
                             "conditional model, and the flow model's seven)")
    parser.add_argument("--scales", nargs="+", type=float, metavar="W",
                        help="guidance scales for the conditional model (default: 0 1 1.5 2 3 5)")
    parser.add_argument("--eta", type=float,
                        help="DDIM's η for every DDIM row (default 0, deterministic, as the targets are measured)")
    parser.add_argument("--batch-size", type=int, help=f"images per network call (default {DEFAULT_BATCH_SIZE}): "
                        "memory only; every row is the same for any batch size")
    parser.add_argument("--seed", type=int, help=f"seed of the starting noise and of fresh noise, 0 to {MAX_SEED} (default 0)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--csv", type=Path, help="also write the rows as numbers to this CSV file")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    parser.add_argument("--floor-curve", action="store_true", help="print the floor at N = 250 ... 10000 and exit")
    return parser


def check_arguments(args) -> None:
    """Every argument, before any work: a UsageError (one line) for the first bad one."""
    given = {"--n": args.n, "--rows": args.rows, "--scales": args.scales, "--eta": args.eta, "--batch-size":
             args.batch_size, "--seed": args.seed, "--csv": args.csv, "--markdown": args.markdown,
             "--quick": args.quick or None, "--models": None if args.models == "all" else args.models}
    if args.floor_curve:
        ignored = [flag for flag, value in given.items() if value is not None]
        if ignored:
            raise UsageError(f"--floor-curve prints the floor and exits; it does not use {', '.join(ignored)}: leave "
                             f"{'it' if len(ignored) == 1 else 'them'} out")
    if args.quick and args.n is not None:
        raise UsageError(f"--quick runs {QUICK_N} samples per row and would ignore --n {args.n}: give one of them")
    if args.n is not None and not 2 <= args.n <= MAX_N:
        raise UsageError(f"--n must be a whole number from 2 to {MAX_N} (digit-FID needs two samples, and compares with "
                         f"at most the {MAX_N} real test digits), got {args.n}")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1 (images per network call), got {args.batch_size}")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise UsageError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {args.seed}")
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise UsageError(f"--threads must be a whole number from 1 to {MAX_THREADS}, got {args.threads}")
    if args.eta is not None and not (math.isfinite(args.eta) and args.eta >= 0):
        raise UsageError(f"--eta must be a finite number >= 0 (0: deterministic DDIM, 1: like DDPM), got {args.eta:g}")
    try:
        args.rows = [parse_row(r, SHIPPED_T) for r in args.rows] if args.rows else None
    except ValueError as err:
        raise UsageError(f"--rows: {err}") from None
    for name, _ in args.rows or []:
        kind = sampler_entry(name).model
        if args.models != "all" and kind != MODELS[args.models]:
            fits = " or ".join(model for model, its in MODELS.items() if its == kind)
            raise UsageError(f"--rows: {name} samples a {kind} model, and --models {args.models} is a "
                             f"{MODELS[args.models]} model; leave {name} out, or give --models {fits} (or all)")
    default_rows = FLOW_ROWS if args.models == "flow" else UNCONDITIONAL_ROWS
    if args.eta is not None and not any(sampler_entry(name).uses_eta for name, *_ in args.rows or default_rows):
        takes = ", ".join(name for name, entry in SAMPLERS.items() if entry.uses_eta)
        raise UsageError(f"--eta is DDIM's η, and none of the --rows takes it (the samplers that do: {takes}): leave it "
                         "out, or add a DDIM row")
    if args.scales is not None and args.models in ("uncond", "flow"):
        raise UsageError(f"--scales are guidance scales of the conditional model; they cannot be used with "
                         f"--models {args.models}")
    if args.scales is not None and not all(math.isfinite(w) and w >= 0 for w in args.scales):
        raise UsageError(f"--scales must be finite and >= 0 (0 is the unconditional model, 1 no guidance), got {args.scales}")
    outputs = [(flag, path) for flag, path in (("--csv", args.csv), ("--markdown", args.markdown)) if path is not None]
    if len(outputs) == 2 and outputs[0][1].resolve() == outputs[1][1].resolve():
        raise UsageError(f"--csv and --markdown are the same file {args.csv}: give each its own")
    for flag, path in outputs:
        check_output_file(path, flag, example="bench.csv" if flag == "--csv" else "bench.md")
        if path.is_file() and path.read_bytes()[:4] == b"PK\x03\x04":  # torch.save's zip format: a model, maybe a run
            raise UsageError(f"{flag} {path} holds a saved model or run (a torch file), which the table would "
                             f"overwrite; choose another {flag}")
    if args.models != "all" and not checkpoint_path(args.models).is_file():
        raise UsageError(f"--models {args.models}: its checkpoint {checkpoint_path(args.models)} is missing; train it "
                         f"with `python -m course_utils.recipes {args.models}`, or choose another --models")


def _device(name: str | None) -> torch.device:
    try:
        return pick_device(name, flag="--device")
    except ValueError as err:
        raise UsageError(str(err)) from None


def run(args) -> None:
    check_arguments(args)
    device = _device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.floor_curve:
        print("N      real-vs-real digit-FID floor")
        for n, value in floor_curve(device=device):
            print(f"{n:<6} {value:.3f}")
        return

    n, scales, chosen, eta = args.n or DEFAULT_N, args.scales, args.rows, args.eta or 0.0
    ddpm_rows = flow_rows = None  # None: each model's default rows
    if chosen is not None:
        ddpm_rows = [row for row in chosen if sampler_entry(row[0]).model == "ddpm"]
        flow_rows = [row for row in chosen if sampler_entry(row[0]).model == "flow"]
    uncond_rows = ddpm_rows
    if args.quick:
        n, scales = QUICK_N, scales or [1.0, 3.0]
        if chosen is None:
            uncond_rows, flow_rows = [("DDIM", 10), ("DDIM", 20)], [("Euler", 10)]
    print(f"benchmark: {n} samples per row on {device}; "
          f"recognised = confidence >= {RECOGNISED_THRESHOLD} and real-looking features and strokes (looks_real)")
    print(" | ".join(MARKDOWN_COLUMNS))
    rows = run_benchmark(n, which=args.models, unconditional_rows=uncond_rows, guidance_scales=scales,
                         conditional_rows=ddpm_rows, flow_rows=flow_rows, batch_size=args.batch_size or DEFAULT_BATCH_SIZE,
                         seed=args.seed or 0, eta=eta, device=device)
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
        write_atomically(args.markdown, markdown_table(rows) + "\n" + spread + "\n")
        print(f"wrote {args.markdown}")


def main(argv: list[str] | None = None) -> None:
    with interrupt_handling(PROG, what="before the table was written: nothing was written; run the command again"):
        args = build_parser().parse_args(argv)
        try:
            run(args)
        except UsageError as err:
            fail(PROG, err)


if __name__ == "__main__":
    main()
