"""Numbers and claims in a lesson's prose come from its cells.

A figure typed into a markdown cell goes stale the day a model is retrained. So every measured-looking
number in a solution notebook's markdown (a decimal like 34.95, a percentage like 93%, a count like
623,537) must appear in that notebook's stored outputs or code, or be a constant of course_utils;
the few that are neither are listed below with the reason. The header's "Estimated time" is measured
by running the notebook (notebooks/AUTHORING.md) and is exempt.

A sentence about how a run turned out is printed by the cell (course_utils.claims.compare), or stated next to
a ``<!-- claim: ... -->`` or ``<!-- printed: ... -->`` marker that must agree with what the cells printed; here
against the stored outputs, in tests/test_lesson_claims.py against fresh runs with other seeds and sizes.
A cell that may take over a minute prints its estimate first (course_utils.budget.estimate). The prose never
points at stored outputs, which the student copies do not have.
"""

import json
import re
from pathlib import Path

import pytest
from notebook_runs import notebook_params, output_text

from course_utils.budget import ESTIMATE_HEAD
from course_utils.claims import CLAIM_MARKER, claim_problems

pytestmark = pytest.mark.instructor  # needs the instructor's files: the student edition leaves it out

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
NUMBER = re.compile(r"(?<![\w.,/])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+(?=\s?%))(?!\w)")
LINK = re.compile(r"\(https?://[^)]*\)")

# notebook prefix -> {number as written: why it is not printed by a cell}
NOT_MEASURED = {
    "02": {"0.0001": "β_1 of the linear schedule, written 1e-4 in course_utils/schedules.py"},
    "07": {"70": "the share of pixels a random mask hides: an option of the inpainting exercise",
           "7.5": "Stable Diffusion's default guidance scale (diffusers' guidance_scale), quoted, not a result"},
    "08": {"1.5": "a guidance scale suggested in Going further, not a result"},
}


def _output_text(output: dict) -> str:
    return output_text(output)  # embedded pictures (data: URIs) left out: their base64 holds stray digits


def _library_text() -> str:
    return "\n".join(path.read_text() for path in (ROOT / "course_utils").rglob("*.py"))


def unsourced_numbers(notebook: dict, library: str, allowed: dict[str, str]) -> list[str]:
    """The numbers in the notebook's markdown that no output, code cell or library constant holds."""
    cells = notebook["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    haystack = "\n".join(_output_text(o) for cell in code for o in cell.get("outputs", []))
    haystack += "\n".join("".join(cell["source"]) for cell in code) + library
    haystack = haystack.replace(",", "")
    missing = []
    for cell in cells:
        text = LINK.sub("", "".join(cell["source"]))
        if cell["cell_type"] != "markdown" or "Estimated time" in text:
            continue
        for match in NUMBER.finditer(text):
            number = match.group(1)
            value = re.escape(number.replace(",", ""))
            if number not in allowed and not re.search(rf"(?<![\d.]){value}(?!\d)", haystack):
                missing.append(f"{number!r} in: ...{' '.join(text[max(0, match.start() - 50):match.end() + 15].split())}...")
    return missing


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_number_in_the_prose_is_printed_by_a_cell(path):
    missing = unsourced_numbers(json.loads(path.read_text()), _library_text(), NOT_MEASURED.get(path.name[:2], {}))
    assert not missing, (f"{path.name}: numbers in markdown that no cell prints; print them from a cell "
                         "(\"the cell above prints ...\") or list them in NOT_MEASURED with the reason:\n  "
                         + "\n  ".join(missing))


def test_the_check_catches_a_figure_that_went_stale():
    notebook = {"cells": [
        {"cell_type": "code", "source": ["print(report)"], "outputs": [
            {"output_type": "stream", "name": "stdout", "text": ["digit-FID 34.95, recognised 86.3%, 623537 weights\n"]}]},
        {"cell_type": "markdown", "source": ["It scores 34.95 and 86.3% with 623,537 weights."]},
        {"cell_type": "markdown", "source": ["After retraining the prose still says 41.20 and 88%."]},
    ]}
    missing = unsourced_numbers(notebook, "", {})
    assert [m.split(" in:")[0] for m in missing] == ["'41.20'", "'88'"]
    assert unsourced_numbers(notebook, "", {"41.20": "why", "88": "why"}) == []


# ----------------------------------------------------------------------------- claims against the stored run


def _printed(notebook: dict) -> str:
    return "\n".join(_output_text(o) for cell in notebook["cells"] if cell["cell_type"] == "code"
                     for o in cell.get("outputs", []))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_every_claim_marker_agrees_with_the_stored_outputs(path):
    notebook = json.loads(path.read_text())
    markdown = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown")
    problems = claim_problems(markdown, _printed(notebook))
    assert not problems, f"{path.name}: the prose and the stored run disagree:\n  " + "\n  ".join(problems)


def test_the_claim_check_catches_prose_that_contradicts_the_run():
    from course_utils.claims import compare

    printed = compare("DDIM-50", 34.95, 4.02, "DDPM-1000", 22.84, 3.88, what="digit-FID", lower_is_better=True)
    assert claim_problems("<!-- claim: DDPM-1000 lower (better) than DDIM-50 -->", printed) == []
    assert claim_problems("<!-- claim: DDIM-50 lower (better) than DDPM-1000 -->", printed)
    assert claim_problems("<!-- claim: DDIM-50 vs DDPM-1000: the same within the noise -->", printed)
    assert claim_problems("<!-- claim: DDIM-20 lower (better) than DDPM-1000 -->", printed)  # never printed
    assert claim_problems("<!-- printed: identical: True -->", "identical: False")
    assert len(CLAIM_MARKER.findall("<!-- claim: a vs b: the same within the noise --> <!-- printed: x -->")) == 2


# ----------------------------------------------------------------------------- no silent waits

# Seconds on a quiet 2-core CPU beyond which a cell may pass a minute on a busy one (runs took up to 4.8 times as
# long under load). A stored run made on a busy machine is scaled to the quiet run the README's course map quotes.
LONG_CELL_SECONDS = 12
README_MINUTES = re.compile(r"\(notebooks/(\d\d)_[^)]*\.ipynb\).*\| (\d+(?:\.\d+)?) \| [^|]*\|\s*$", re.MULTILINE)
# Notebooks whose long cells say what they cost in their own way (notebook 4 plans its whole run from one knob).
OWN_ESTIMATES = {"04": "budget_minutes: the live run's plan prints what training and scoring will cost first"}


def _seconds(cell: dict) -> float | None:
    from datetime import datetime

    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def quiet_scale(notebook: dict, prefix: str) -> float:
    """Quiet-machine seconds per stored second: the README's minutes for the notebook over its stored run's."""
    quiet = {m.group(1): float(m.group(2)) for m in README_MINUTES.finditer((ROOT / "README.md").read_text())}
    stored = sum(s for c in notebook["cells"] if c["cell_type"] == "code" for s in [_seconds(c)] if s is not None)
    if prefix not in quiet or stored <= 0:
        return 1.0
    return min(1.0, 60 * quiet[prefix] / stored)


def slow_cells_without_an_estimate(notebook: dict, scale: float = 1.0) -> list[str]:
    """Code cells that ran longer than LONG_CELL_SECONDS (stored seconds times ``scale``) and did not print
    course_utils.budget's estimate first."""
    missing = []
    for index, cell in enumerate(notebook["cells"]):
        seconds = _seconds(cell) if cell["cell_type"] == "code" else None
        if seconds is None or seconds * scale <= LONG_CELL_SECONDS:
            continue
        outputs = [_output_text(o) for o in cell.get("outputs", [])]
        if not (outputs and outputs[0].lstrip().startswith(ESTIMATE_HEAD)):
            missing.append(f"cell {index} (id {cell.get('id')}, {seconds * scale:.0f} s on a quiet machine) does not print "
                           f"'{ESTIMATE_HEAD}: ...' first")
    return missing


@pytest.mark.parametrize("path", notebook_params([p for p in SOLUTIONS if p.name[:2] not in OWN_ESTIMATES]))
def test_every_long_cell_says_what_it_will_cost_first(path):
    notebook = json.loads(path.read_text())
    missing = slow_cells_without_an_estimate(notebook, quiet_scale(notebook, path.name[:2]))
    assert not missing, (f"{path.name}: cells that may take over a minute on a busy 2-core CPU must print "
                         "course_utils.budget.estimate(...) before they start, with the knob at their top:\n  "
                         + "\n  ".join(missing))


# ----------------------------------------------------------------------------- both copies

POINTS_AT_STORED_OUTPUTS = re.compile(r"stored outputs?|in this copy|as in this copy|stored with this notebook|"
                                      r"stored here", re.IGNORECASE)


@pytest.mark.parametrize("path", notebook_params(SOLUTIONS))
def test_the_prose_never_points_at_stored_outputs(path):
    """Student copies are generated from the solutions without outputs: "as in this copy" is false there."""
    notebook = json.loads(path.read_text())
    found = [f"cell {i}: ...{' '.join(''.join(c['source'])[max(0, m.start() - 40):m.end() + 20].split())}..."
             for i, c in enumerate(notebook["cells"]) if c["cell_type"] == "markdown"
             for m in POINTS_AT_STORED_OUTPUTS.finditer("".join(c["source"]))]
    assert not found, f"{path.name}: prose that refers to outputs a student copy does not have:\n  " + "\n  ".join(found)
