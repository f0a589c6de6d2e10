"""The benchmark's stored results (``data/bench.csv``, written by ``python -m course_utils.bench``), as numbers.

Notebooks quote the benchmark instead of re-running it, each score with its standard deviation:

    rows = load_bench()
    ddpm = find_row(rows, "uncond", "DDPM", 1000)
    ddpm.fid, ddpm.fid_sd          # 22.84, 3.88
    ddpm.score("digit-FID")        # (22.84, 3.88), ready for course_utils.claims.compare

Every layout the CSV has had is read: scores written as ``"22.84 ± 3.88"`` in one column, or each mean and
its sd in columns of their own; the network calls in a column named ``calls`` or, before it was renamed,
``steps``. The table is written in one layout, :data:`COLUMNS`.

Adding rows without re-running the whole table (about half an hour at N = 1,000 on a 2-core CPU): run the new
rows alone with the same N and seed, then merge them in; rows with the same model, sampler, calls and guidance
are replaced, new ones go after the last row of their model, and the Markdown table is rewritten to match,
keeping the notes below it:

    python -m course_utils.bench --models uncond --rows DDIM-10 DDIM-20 DDIM-50 DDIM-100 --eta 1 \\
        --n 1000 --threads 2 --csv eta1.csv
    python -m course_utils.bench_results merge eta1.csv --note "..."     # into data/bench.csv and data/bench.md
    python -m course_utils.bench_results rewrite                           # an older table in today's layout
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

from .data import data_dir

COLUMNS = ["model", "sampler", "calls", "guidance", "wall s / 100 img", "digit-FID", "digit-FID sd", "floor",
           "mean conf", "recognised %", "recognised % sd", "class acc %"]
"""The CSV's columns: numbers, each mean and its sd apart (percentages in percent; no class accuracy: empty)."""
MARKDOWN_COLUMNS = ["model", "sampler", "calls", "guidance", "wall s / 100 img", "digit-FID ± sd", "floor",
                    "mean conf", "recognised % ± sd", "class acc %"]
"""The table as people read it (``data/bench.md``, the model card): each score with its sd."""
_RENAMED = {"steps": "calls"}  # older tables' column names


@dataclass(frozen=True)
class BenchRow:
    """One row of the benchmark: a model, a sampler with its network calls, a guidance scale and the scores."""

    model: str  # "uncond", "cond" or "flow"
    sampler: str  # a name of course_utils.sampler_registry: "DDPM", "DDIM", "DDIM η=1", "DPM++2M", "Heun", ...
    calls: int  # network calls per image, the number in the row's name (Heun-9: 9); with guidance (w not 0 or 1)
    #             each call runs the network on a double batch
    guidance: str  # "—" without labels, else "w=2" or "w=1 (no guidance)"
    seconds_per_100: float
    fid: float
    fid_sd: float  # bootstrap standard deviation over the draw of the samples
    floor: float  # the real-vs-real digit-FID at the same N
    mean_confidence: float
    recognised: float  # percent
    recognised_sd: float  # percent: binomial, sqrt(p (1 - p) / N)
    class_accuracy: float | None  # percent; None without labels

    @property
    def key(self) -> tuple[str, str, int, str]:
        return (self.model, self.sampler, self.calls, self.guidance)

    @property
    def name(self) -> str:
        """A short name for sentences: "DDIM-50", "DDIM η=1-50" -> "DDIM-50, η = 1", "DDIM-50, w = 2"."""
        sampler, _, eta = self.sampler.partition(" η=")
        name = f"{sampler}-{self.calls}" + (f", η = {eta}" if eta else "")
        if self.guidance != "—":
            name += f", w = {self.guidance.split(' ')[0].removeprefix('w=')}"
        return name

    def score(self, column: str = "digit-FID") -> tuple[float, float]:
        """(value, sd) of "digit-FID" or "recognised %" (percent), for :func:`course_utils.claims.compare`."""
        if column == "digit-FID":
            return self.fid, self.fid_sd
        if column == "recognised %":
            return self.recognised, self.recognised_sd
        raise ValueError(f"a score with an sd is 'digit-FID' or 'recognised %', got {column!r}")

    def markdown_cells(self) -> list[str]:
        """The row as the table shows it (:data:`MARKDOWN_COLUMNS`)."""
        acc = "—" if self.class_accuracy is None else f"{self.class_accuracy:.1f}"
        return [self.model, self.sampler, str(self.calls), self.guidance, f"{self.seconds_per_100:.1f}",
                f"{self.fid:.2f} ± {self.fid_sd:.2f}", f"{self.floor:.2f}", f"{self.mean_confidence:.3f}",
                f"{self.recognised:.1f} ± {self.recognised_sd:.1f}", acc]

    def csv_record(self) -> dict[str, str]:
        """The row as numbers (:data:`COLUMNS`), at the precision the table shows."""
        acc = "" if self.class_accuracy is None else f"{self.class_accuracy:.1f}"
        values = [self.model, self.sampler, str(self.calls), "" if self.guidance == "—" else self.guidance,
                  f"{self.seconds_per_100:.1f}", f"{self.fid:.2f}", f"{self.fid_sd:.2f}", f"{self.floor:.2f}",
                  f"{self.mean_confidence:.3f}", f"{self.recognised:.1f}", f"{self.recognised_sd:.1f}", acc]
        return dict(zip(COLUMNS, values))


def _with_sd(text: str) -> tuple[float, float]:
    value, _, sd = text.partition("±")
    return float(value), float(sd)


def _row(record: dict[str, str]) -> BenchRow:
    if "digit-FID ± sd" in record:  # the older layout: display strings
        fid, fid_sd = _with_sd(record["digit-FID ± sd"])
        rec, rec_sd = _with_sd(record["recognised % ± sd"])
    else:
        fid, fid_sd = float(record["digit-FID"]), float(record["digit-FID sd"])
        rec, rec_sd = float(record["recognised %"]), float(record["recognised % sd"])
    acc = record["class acc %"].strip()
    return BenchRow(record["model"], record["sampler"], int(record["calls"]), record["guidance"].strip() or "—",
                    float(record["wall s / 100 img"]), fid, fid_sd, float(record["floor"]), float(record["mean conf"]),
                    rec, rec_sd, None if acc in ("", "—") else float(acc))


def read_table(path: Path) -> list[BenchRow]:
    """The rows of a benchmark CSV in any of its layouts."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        columns = [_RENAMED.get(name, name) for name in next(reader, [])]
        if columns not in (COLUMNS, MARKDOWN_COLUMNS):
            raise ValueError(f"{path} is not a benchmark table of `python -m course_utils.bench --csv`: its columns "
                             f"are {columns}")
        return [_row(dict(zip(columns, values))) for values in reader]


def load_bench(path: Path | str | None = None) -> list[BenchRow]:
    """The rows of the benchmark's table (default ``data/bench.csv``); a clear error when it is missing."""
    path = Path(path) if path is not None else data_dir() / "bench.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: make it with `python -m course_utils.bench --n 1000 --threads 2 "
                                f"--markdown data/bench.md --csv data/bench.csv` (about half an hour on a CPU)")
    return read_table(path)


def find_row(rows: list[BenchRow], model: str, sampler: str, calls: int, guidance: str | None = None) -> BenchRow:
    """The row of ``model`` and ``sampler`` with ``calls`` network calls; ``guidance`` like "w=2" (matched by its
    start, so "w=1" finds "w=1 (no guidance)"), or None for the "—" of a model run without labels."""
    for row in rows:
        if (row.model, row.sampler, row.calls) == (model, sampler, calls) and (
                row.guidance == "—" if guidance is None else row.guidance.split(" ")[0] == guidance):
            return row
    raise KeyError(f"the benchmark has no row model={model}, sampler={sampler}, calls={calls}, guidance={guidance}; "
                   f"it has {', '.join(f'{r.model} {r.name}' for r in rows)}")


def merge_rows(rows: list[BenchRow], new: list[BenchRow]) -> list[BenchRow]:
    """``rows`` with each of ``new`` replacing the row with its key, or after the last row of its model."""
    merged = list(rows)
    for row in new:
        same = [i for i, old in enumerate(merged) if old.key == row.key]
        if same:
            merged[same[0]] = row
            continue
        of_model = [i for i, old in enumerate(merged) if old.model == row.model]
        merged.insert(of_model[-1] + 1 if of_model else len(merged), row)
    return merged


def markdown_table(rows: list[BenchRow]) -> str:
    """The rows as a Markdown table (:data:`MARKDOWN_COLUMNS`), as ``data/bench.md`` and the model card show it."""
    lines = ["| " + " | ".join(MARKDOWN_COLUMNS) + " |", "|" + "---|" * len(MARKDOWN_COLUMNS)]
    lines += ["| " + " | ".join(row.markdown_cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """``text`` into a temporary file beside ``path``, then renamed over it: never half a table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def csv_text(rows: list[BenchRow]) -> str:
    """The rows as the CSV file holds them (:data:`COLUMNS`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(row.csv_record() for row in rows)
    return out.getvalue()


def write_csv(rows: list[BenchRow], path: Path) -> None:
    """The rows as numbers (:data:`COLUMNS`): read them back with :func:`load_bench`."""
    write_atomically(path, csv_text(rows))


def write_tables(rows: list[BenchRow], csv_path: Path, markdown_path: Path | None, note: str | None = None) -> None:
    """Write ``rows`` to ``csv_path`` and the Markdown table to ``markdown_path``, keeping the lines below the old
    Markdown table and adding ``note`` to them."""
    write_csv(rows, csv_path)
    if markdown_path is None:
        return
    notes = []
    if markdown_path.exists():
        notes = [line for line in markdown_path.read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.startswith("|")]
    if note:
        notes.append(note)
    write_atomically(markdown_path, markdown_table(rows) + "\n" + "\n\n".join(notes) + ("\n" if notes else ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_utils.bench_results",
                                     description="Merge new benchmark rows into the stored table, or rewrite it in "
                                                 "today's layout.")
    sub = parser.add_subparsers(dest="command", required=True)
    merge = sub.add_parser("merge", help="merge the rows of NEW.csv into the stored table")
    merge.add_argument("new", type=Path, help="a CSV written by `python -m course_utils.bench --csv`")
    rewrite = sub.add_parser("rewrite", help="write the stored table again in today's layout (same rows, same numbers)")
    for command in (merge, rewrite):
        command.add_argument("--into", type=Path, default=None, help="the stored table (default data/bench.csv)")
        command.add_argument("--markdown", type=Path, default=None,
                             help="the Markdown table to rewrite (default: the CSV's name with .md)")
    merge.add_argument("--note", help="a line to add below the Markdown table (say how and where the rows were run)")
    args = parser.parse_args(argv)
    into = args.into or data_dir() / "bench.csv"
    markdown = args.markdown or into.with_suffix(".md")
    try:
        rows = read_table(into)
        new = read_table(args.new) if args.command == "merge" else []
    except (OSError, ValueError) as err:
        parser.error(str(err))
    floors = {row.floor for row in rows + new if math.isfinite(row.floor)}
    if new and len({round(f, 2) for f in floors}) > 1:
        parser.error(f"the rows were scored at different N (floors {sorted(floors)}): merge only runs with the "
                     "same --n and --seed")
    merged = merge_rows(rows, new)
    write_tables(merged, into, markdown, getattr(args, "note", None))
    print(f"merged {len(new)} row(s) into {into} ({len(merged)} rows) and {markdown}" if args.command == "merge"
          else f"rewrote {into} ({len(merged)} rows) and {markdown}")


if __name__ == "__main__":
    main()
