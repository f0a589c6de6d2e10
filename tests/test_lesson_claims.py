"""Each lesson run afresh, with other seeds and sizes: its prose still agrees with what its cells print.

A sentence about how a run turned out must hold on every run, not only on the stored one. So every solution
notebook is executed as a student would run it, with every seed shifted (tests/notebook_runs.py), and the run
is checked the way the stored outputs are checked by tests/test_notebook_prose.py and tests/test_figures.py:

* every ``<!-- claim: ... -->`` and ``<!-- printed: ... -->`` marker of the prose agrees with what this run printed
  (course_utils.claims.claim_problems), so a printed verdict and the markdown cannot disagree;
* every number in the prose was printed by this run or stands in the code (test_notebook_prose.unsourced_numbers);
* every figure carries alt text and none is hard to read (course_utils.plotting.show's records);
* a cell that estimates its cost prints the estimate before anything else.

Two runs per notebook:

* quick mode (``COURSE_QUICK=1``), seeds shifted by 7: every notebook, in CI;
* full size, seeds shifted by 11: in CI only for notebooks 1, 2 and 3, which take under a minute each at full
  size on a quiet 2-core CPU (0.1, 0.1 and 0.8 min). Notebooks 5 to 8 take 2 to 6 minutes each there (10 to
  20 on a busy machine) and notebook 4 over 12, too long for every CI run: set ``COURSE_FULL_SIZE_CLAIMS=1`` to
  run them too (before a release, or after changing their prose).
"""

import os

import pytest
from notebook_runs import SOLUTIONS, execute, markdown_text, notebook_params, printed_text
from test_figures import figure_problems_recorded, figures_without_alt_text
from test_notebook_prose import NOT_MEASURED, _library_text, unsourced_numbers

from course_utils.budget import ESTIMATE_HEAD
from course_utils.claims import claim_problems

pytestmark = [pytest.mark.slow, pytest.mark.instructor]  # runs the solution notebooks: the student edition leaves it out

QUICK_SEED_SHIFT = 7
FULL_SEED_SHIFT = 11
FULL_SIZE_IN_CI = {"01", "02", "03"}  # under a minute each at full size on a quiet 2-core CPU
ALL_FULL_SIZE = os.environ.get("COURSE_FULL_SIZE_CLAIMS", "").strip().lower() in ("1", "true", "yes", "on")


def estimates_not_printed_first(nb: dict) -> list[str]:
    bad = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or "estimate(" not in "".join(cell["source"]):
            continue
        outputs = cell.get("outputs", [])
        first = "".join(outputs[0].get("text", "")) if outputs and outputs[0].get("output_type") == "stream" else ""
        if not first.lstrip().startswith(ESTIMATE_HEAD):
            bad.append(f"cell {index} (id {cell.get('id')}) computes an estimate but does not print it first")
    return bad


def lesson_problems(nb: dict, path) -> list[str]:
    problems = claim_problems(markdown_text(nb), printed_text(nb))
    problems += [f"number {m}" for m in unsourced_numbers(nb, _library_text(), NOT_MEASURED.get(path.name[:2], {}))]
    problems += figures_without_alt_text(nb) + figure_problems_recorded(nb) + estimates_not_printed_first(nb)
    return problems


@pytest.mark.parametrize("path", notebook_params(SOLUTIONS))
def test_a_quick_run_with_other_seeds_agrees_with_the_prose(path):
    nb = execute(path, quick=True, seed_shift=QUICK_SEED_SHIFT)
    problems = lesson_problems(nb, path)
    assert not problems, (f"{path.name}, quick mode, seeds + {QUICK_SEED_SHIFT}: the prose and this run "
                          "disagree:\n  " + "\n  ".join(problems))


FULL = [p for p in SOLUTIONS if ALL_FULL_SIZE or p.name[:2] in FULL_SIZE_IN_CI]


@pytest.mark.parametrize("path", notebook_params(FULL))
def test_a_full_size_run_with_other_seeds_agrees_with_the_prose(path):
    nb = execute(path, quick=False, seed_shift=FULL_SEED_SHIFT)
    problems = lesson_problems(nb, path)
    assert not problems, (f"{path.name}, full size, seeds + {FULL_SEED_SHIFT}: the prose and this run "
                          "disagree:\n  " + "\n  ".join(problems))
