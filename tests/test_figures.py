"""Every figure the course draws carries alt text, and says nothing that only some readers can see.

Figures are shown with course_utils.plotting.show(fig, alt) (notebooks/AUTHORING.md): the stored output is an
HTML <img> with the alt text (course_utils/accessibility.py says why HTML), and its metadata lists what would make
the figure hard to read (raw TeX, a colormap that is not colour-blind safe, series told apart by colour alone, a
caption touching an image). These tests read the stored outputs of every notebook under notebooks/ and name the
cells at fault; tests/test_lesson_claims.py checks fresh runs the same way.
"""

import json
import re
from pathlib import Path

import pytest
from notebook_runs import NOT_YET_ADOPTED, notebook_params

from course_utils.accessibility import output_alt_problems

pytestmark = pytest.mark.instructor  # reads the solution notebooks' stored outputs: the student edition leaves them out

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb"))
PLT_SHOW = re.compile(r"^\s*plt\.show\(\)", re.MULTILINE)


def figures_without_alt_text(notebook: dict) -> list[str]:
    """Each cell with an image output that has no alt text, by index and id."""
    bad = []
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            for problem in output_alt_problems(output):
                bad.append(f"cell {index} (id {cell.get('id')}): {problem}")
    return bad


def figure_problems_recorded(notebook: dict) -> list[str]:
    """The problems course_utils.plotting.show recorded for each figure (raw TeX, colormaps, colour alone, ...)."""
    bad = []
    for index, cell in enumerate(notebook["cells"]):
        for output in cell.get("outputs", []):
            for problem in output.get("metadata", {}).get("course_figure", {}).get("problems", []):
                bad.append(f"cell {index} (id {cell.get('id')}): {problem}")
    return bad


@pytest.mark.parametrize("path", notebook_params(NOTEBOOKS))
def test_every_image_output_has_alt_text(path):
    bad = figures_without_alt_text(json.loads(path.read_text()))
    assert not bad, (f"{path.relative_to(ROOT)}: image outputs without alt text; show figures with "
                     "course_utils.plotting.show(fig, 'what it shows') instead of plt.show():\n  " + "\n  ".join(bad))


@pytest.mark.parametrize("path", notebook_params(SOLUTIONS))
def test_figures_are_shown_with_alt_text_in_the_source(path):
    """Caught before a notebook is re-executed: a bare plt.show() stores a picture without alt text."""
    cells = json.loads(path.read_text())["cells"]
    bad = [f"cell {i} (id {c.get('id')})" for i, c in enumerate(cells)
           if c["cell_type"] == "code" and PLT_SHOW.search("".join(c["source"]))]
    assert not bad, f"{path.name}: plt.show() (no alt text) in " + ", ".join(bad) + "; use show(fig, alt)"


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_no_figure_is_hard_to_read(path):
    bad = figure_problems_recorded(json.loads(path.read_text()))
    assert not bad, f"{path.name}: figures that some readers cannot read:\n  " + "\n  ".join(bad)


def test_the_alt_text_check_names_what_is_missing():
    html_ok = {"output_type": "display_data", "data": {"text/html": '<img src="data:image/png;base64,AA" alt="a 7">'}}
    html_bad = {"output_type": "display_data", "data": {"text/html": '<img src="data:image/png;base64,AA">'}}
    png_bad = {"output_type": "display_data", "data": {"image/png": "AA", "text/plain": "<Figure>"}, "metadata": {}}
    png_ok = {"output_type": "display_data", "data": {"image/png": "AA"}, "metadata": {"image/png": {"alt": "a 7"}}}
    assert output_alt_problems(html_ok) == [] and output_alt_problems(png_ok) == []
    assert output_alt_problems(html_bad) == ["an <img> without alt text in an HTML output"]
    assert output_alt_problems(png_bad) == ["an image/png output without alt text"]
    notebook = {"cells": [{"cell_type": "code", "id": "abc", "outputs": [png_bad]}]}
    assert figures_without_alt_text(notebook) == ["cell 0 (id abc): an image/png output without alt text"]


def test_the_pending_list_names_only_notebooks_of_others():
    """Notebooks 4, 9 and 10, written by others, waited on this list until they adopted course_utils.plotting.show;
    all three have, and a notebook written from now on shows its figures with alt text from the start."""
    assert not NOT_YET_ADOPTED, ("notebooks 4, 9 and 10 have adopted course_utils.plotting.show and none may wait for "
                                 "it any more: show figures with show(fig, alt) instead of listing the notebook")


def test_the_pending_list_holds_only_notebooks_that_still_need_it():
    """A notebook leaves NOT_YET_ADOPTED once its source shows every figure with alt text (no plt.show() left)."""
    adopted = [p.name for p in SOLUTIONS if p.name[:2] in NOT_YET_ADOPTED
               and not any(c["cell_type"] == "code" and PLT_SHOW.search("".join(c["source"]))
                           for c in json.loads(p.read_text())["cells"])]
    assert not adopted, f"take these off NOT_YET_ADOPTED in tests/notebook_runs.py: {', '.join(adopted)}"
