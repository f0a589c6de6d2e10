"""How long each notebook takes to run, quoted from one place: the notebook's own stored run.

    python -m course_tools.timings          # each solution notebook's run time, read from its stored outputs
    python -m course_tools.timings check    # exit 1 where the README's course map or a header disagrees (make test)
    python -m course_tools.timings write    # rewrite those figures from the stored runs
    python -m course_tools.timings write 03 05   # only those notebooks' figures (the ones just re-executed)

A solution notebook's outputs come from one full-size run on a CPU (notebooks/AUTHORING.md), and
Jupyter records when each cell started and finished. From the first cell's start to the last cell's
end is the notebook's run time. The README's course map (the "CPU min" column) and the notebook's
"Estimated time" header quote it in minutes, to one decimal: after rerunning a notebook, `write`
brings both up to date, and `check` fails on a figure typed by hand that no stored run gives.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from course_tools.nbio import cell_source, read_notebook, write_notebook
from course_tools.notebooks import ROOT, SOLUTIONS_DIR, NotebookFormatError

README = ROOT / "README.md"
CPU_COLUMN = "CPU min"
# In the header: "... about 3 minutes (2.6 min measured on ..." -- the rounded figure, then the measured one.
HEADER_FIGURES = re.compile(r"about (\d+) minutes? \((\d+\.\d) min measured")


@dataclass(frozen=True)
class StoredRun:
    """What a solution notebook's stored outputs say about the run that made them."""

    seconds: float
    device: str  # as describe_environment() printed it: "cpu", "cuda", "mps"
    quick: bool  # made in quick mode (COURSE_QUICK=1), so not a full-size run

    @property
    def minutes(self) -> str:
        return f"{self.seconds / 60:.1f}"


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _printed(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))


def stored_run(notebook: dict, name: str = "notebook") -> StoredRun:
    """Read the run time, device and mode of the run whose outputs ``notebook`` holds."""
    starts, ends, environment = [], [], None
    for cell in notebook["cells"]:
        times = cell.get("metadata", {}).get("execution", {})
        if cell["cell_type"] == "code" and "iopub.execute_input" in times and "shell.execute_reply" in times:
            starts.append(_when(times["iopub.execute_input"]))
            ends.append(_when(times["shell.execute_reply"]))
        found = re.search(r"device: (\w+)", _printed(cell)) if cell["cell_type"] == "code" else None
        if found and environment is None:
            environment = (found.group(1), "QUICK MODE" in _printed(cell))
    if not starts:
        raise NotebookFormatError(f"{name}: its cells record no run times; run it with nbconvert as "
                                  "notebooks/AUTHORING.md shows, then run this again")
    if environment is None:
        raise NotebookFormatError(f"{name}: no cell printed describe_environment()'s line, so the device of its "
                                  "stored run is unknown; print it from the imports cell (notebooks/AUTHORING.md)")
    return StoredRun((max(ends) - min(starts)).total_seconds(), *environment)


def _solution_paths(solutions: Path, only: set[str] | None = None) -> list[Path]:
    return [path for path in sorted(solutions.glob("*.ipynb")) if only is None or path.name[:2] in only]


def stored_runs(solutions: Path = SOLUTIONS_DIR, only: set[str] | None = None) -> dict[str, StoredRun]:
    """Every solution notebook's stored run (or only those numbered in ``only``), by its number ("01", ...)."""
    return {path.name[:2]: stored_run(read_notebook(path), path.name)
            for path in _solution_paths(solutions, only)}


def _usable(number: str, run: StoredRun) -> str | None:
    """Why this stored run cannot give a CPU time, or None."""
    if run.quick:
        return f"notebook {number}'s stored outputs come from a quick-mode run: run it at full size (COURSE_QUICK unset)"
    if run.device != "cpu":
        return f"notebook {number}'s stored outputs come from a {run.device} run; the CPU times need a CPU run"
    return None


def _course_map(lines: list[str]) -> tuple[int, dict[str, int]]:
    """The CPU column's index and, by notebook number, the line of each course-map row."""
    header = next((i for i, line in enumerate(lines) if line.startswith("|") and CPU_COLUMN in line), None)
    if header is None:
        raise NotebookFormatError(f"README.md: no course-map table with a {CPU_COLUMN!r} column")
    column = [c.strip() for c in lines[header].split("|")].index(CPU_COLUMN)
    rows = {}
    for i in range(header + 2, len(lines)):
        cells = [c.strip() for c in lines[i].split("|")]
        if not lines[i].startswith("|") or len(cells) <= column or not cells[1].isdigit():
            break
        rows[f"{int(cells[1]):02d}"] = i
    return column, rows


def _set_cell(line: str, column: int, value: str) -> str:
    cells = line.split("|")
    cells[column] = f" {value} "
    return "|".join(cells)


def _header_cell(notebook: dict) -> dict | None:
    return next((c for c in notebook["cells"] if c["cell_type"] == "markdown"
                 and "Estimated time" in cell_source(c)), None)


def _header_text(minutes: str) -> str:
    rounded = max(1, round(float(minutes)))
    return f"about {rounded} minute{'s' if rounded > 1 else ''} ({minutes} min measured"


def sync(root: Path = ROOT, write: bool = False, only: set[str] | None = None) -> list[str]:
    """Compare (or, with ``write``, rewrite) the README's CPU column and each header with the stored runs.

    Returns what disagrees (or what was rewritten), one line each. Raises NotebookFormatError, before
    writing anything, where a stored run cannot give a CPU time (quick mode, another device) or a header
    has no sentence to hold the figures. ``only``: the numbers of the notebooks to compare or rewrite (default
    all), so a notebook re-executed alone can be brought up to date while another has no full-size run yet.
    """
    solutions = root / "notebooks" / "solutions"
    runs = stored_runs(solutions, only)
    unusable = [why for number, run in runs.items() if (why := _usable(number, run))]
    if unusable:
        raise NotebookFormatError("; ".join(unusable))
    found, notebooks = [], {}
    for path in _solution_paths(solutions, only):
        notebook = read_notebook(path)
        header, run = _header_cell(notebook), runs[path.name[:2]]
        text = cell_source(header) if header else ""
        if not HEADER_FIGURES.search(text):
            raise NotebookFormatError(f"{path.name}: its \"Estimated time\" header should say \""
                                      f"{_header_text(run.minutes)} on ...)\"; write that once by hand, "
                                      "then `write` keeps its figures up to date")
        wanted = HEADER_FIGURES.sub(_header_text(run.minutes), text, count=1)
        if wanted != text:
            found.append(f"{path.name}: its header says \"{HEADER_FIGURES.search(text).group(0)}\"; "
                         f"its stored run took {run.minutes} min")
            header["source"] = wanted.splitlines(keepends=True)
            notebooks[path] = notebook

    readme = root / "README.md"
    lines = readme.read_text(encoding="utf-8").split("\n")
    column, rows = _course_map(lines)
    for number, run in runs.items():
        if number not in rows:
            found.append(f"README.md: the course map has no row for notebook {number}")
            continue
        current = lines[rows[number]].split("|")[column].strip()
        if current != run.minutes:
            found.append(f"README.md: notebook {number} takes {run.minutes} min in its stored run; "
                         f"the course map says {current!r}")
            lines[rows[number]] = _set_cell(lines[rows[number]], column, run.minutes)
    if write:
        for path, notebook in notebooks.items():
            write_notebook(path, notebook)
        if any(line.startswith("README.md: notebook") for line in found):
            readme.write_text("\n".join(lines), encoding="utf-8")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.timings", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", choices=["show", "check", "write"], default="show")
    parser.add_argument("notebooks", nargs="*", metavar="NN",
                        help="check or write only these notebooks (two-digit numbers, e.g. 03 05); default: all")
    args = parser.parse_args(argv)
    only = {f"{int(n):02d}" for n in args.notebooks} or None
    try:
        if args.command == "show":
            for number, run in stored_runs(only=only).items():
                mode = " QUICK MODE" if run.quick else ""
                print(f"notebook {number}: {run.minutes} min ({run.seconds:.0f} s) on {run.device}{mode}")
            return 0
        found = sync(write=args.command == "write", only=only)
    except NotebookFormatError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in found:
        print(line)
    if args.command == "check":
        if found:
            print("run `python -m course_tools.timings write` after a full-size run (notebooks/AUTHORING.md)")
            return 1
        print("the README's course map and the notebook headers quote the stored runs")
    elif not found:
        print("nothing to rewrite")
    return 0


if __name__ == "__main__":
    sys.exit(main())
