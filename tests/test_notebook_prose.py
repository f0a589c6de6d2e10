"""Numbers in a lesson's prose come from its cells.

A figure typed into a markdown cell goes stale the day a model is retrained. So every measured-looking
number in a solution notebook's markdown (a decimal like 34.95, a percentage like 93%, a count like
623,537) must appear in that notebook's stored outputs or code, or be a constant of course_utils;
the few that are neither are listed below with the reason. The header's "Estimated time" is measured
by running the notebook (notebooks/AUTHORING.md) and is exempt.
"""

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.instructor  # needs the instructor's files: the student edition leaves it out

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
NUMBER = re.compile(r"(?<![\w.,/])(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+(?=\s?%))(?!\w)")
LINK = re.compile(r"\(https?://[^)]*\)")

# notebook prefix -> {number as written: why it is not printed by a cell}
NOT_MEASURED = {
    "02": {"0.0001": "β_1 of the linear schedule, written 1e-4 in course_utils/schedules.py"},
    "07": {"70": "the share of pixels a random mask hides: an option of the inpainting exercise"},
    "08": {"1.5": "a guidance scale suggested in Going further, not a result"},
}


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return "".join(output["text"])
    data = output.get("data", {})
    return "".join("".join(data.get(kind, "")) for kind in ("text/plain", "text/markdown", "text/html"))


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
