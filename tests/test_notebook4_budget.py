"""Notebook 4 at a 2-minute budget, at full size: what it says about the student's run still holds.

Notebook 4 trains a model for as long as the student's `budget_minutes` allows, so every statement about the
run must follow the run: numbers in its prose must be printed by its cells, and each printed comparison must
say what its own numbers say. This runs the solution notebook as a student with little time would (no quick
mode, the knob at 2 minutes) and checks both. It takes a few minutes on a 2-core CPU (more on a busy one).
"""

import json
import os
import re
from pathlib import Path

import pytest
from test_notebook_prose import _library_text, unsourced_numbers

pytestmark = pytest.mark.instructor  # reads the solution notebook: the student edition leaves it out

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "solutions" / "04_training_a_tiny_ddpm.ipynb"
KNOB = re.compile(r"^budget_minutes = [\d.]+", re.M)
# a claims.compare sentence: "A: what a ± sa, B: b ± sb; <verdict>"
COMPARISON = re.compile(
    r"(?P<a_name>[^:\n]+): (?P<what>[\w-]+) (?P<a>[\d.]+)%? ± (?P<sa>[\d.]+), (?P<b_name>[^:\n]+): (?P<b>[\d.]+)%? ± "
    r"(?P<sb>[\d.]+); (?P<verdict>[^\n]+)")


def run_at_budget(minutes: float) -> dict:
    import nbformat  # here, not at the top: the run needs it, collecting the tests does not
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    knobs = [cell for cell in nb.cells if cell.cell_type == "code" and KNOB.search(cell.source)]
    assert len(knobs) == 1, "notebook 4 must have exactly one `budget_minutes = ...` knob"
    knobs[0].source = KNOB.sub(f"budget_minutes = {minutes}", knobs[0].source)
    env = {k: v for k, v in os.environ.items() if k != "COURSE_QUICK"}
    env.update(COURSE_QUICK="0", TQDM_DISABLE="1")
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=3600, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return json.loads(nbformat.writes(nb))


def comparisons_that_contradict_their_numbers(text: str) -> list[str]:
    """Each printed comparison recomputed from its own numbers (a gap is claimed only beyond twice the larger sd)."""
    wrong = []
    for m in COMPARISON.finditer(text):
        a, b, sa, sb = (float(m[k]) for k in ("a", "b", "sa", "sb"))
        beyond = abs(a - b) > 2 * max(sa, sb) + 0.1  # + rounding of the printed figures
        within = abs(a - b) < 2 * max(sa, sb) - 0.1
        says_same = "the same within the noise" in m["verdict"]
        if (says_same and beyond) or (not says_same and within):
            wrong.append(m.group(0))
        if not says_same:
            lower = "lower (better)" in m["verdict"]
            winner = m["a_name"] if m["verdict"].startswith(m["a_name"].strip()) else m["b_name"]
            best = m["a_name"] if (a < b) == lower else m["b_name"]
            if winner.strip() != best.strip():
                wrong.append(m.group(0))
    return wrong


@pytest.mark.slow
def test_at_a_two_minute_budget_every_claim_about_the_run_holds():
    nb = run_at_budget(2)
    missing = unsourced_numbers(nb, _library_text(), {})
    assert not missing, "numbers in notebook 4's prose that this run did not print:\n  " + "\n  ".join(missing)
    printed = "\n".join("".join(o.get("text", "")) for cell in nb["cells"] if cell["cell_type"] == "code"
                        for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    assert len(COMPARISON.findall(printed)) >= 6, "notebook 4 should print its comparisons with claims.compare"
    assert not comparisons_that_contradict_their_numbers(printed)
    plan = re.search(r"budget_minutes = 2: planned ([\d.]+) min", printed)
    assert plan and float(plan.group(1)) <= 2


def test_the_comparison_reader_catches_a_wrong_verdict():
    from course_utils.claims import compare

    right = compare("EMA", 0.30, 0.02, "raw", 0.10, 0.02, what="recognised", percent=True)
    same = compare("EMA", 0.12, 0.02, "raw", 0.10, 0.02, what="recognised", percent=True)
    fid = compare("live", 118.4, 5.0, "pretrained", 42.9, 4.0, what="digit-FID", lower_is_better=True)
    assert comparisons_that_contradict_their_numbers("\n".join([right, same, fid])) == []
    forged = right.replace("EMA higher (better) than raw", "raw higher (better) than EMA")
    stale = same.split("; ")[0] + "; EMA higher (better) than raw by 2.0 points"
    assert len(comparisons_that_contradict_their_numbers(forged + "\n" + stale)) == 2
