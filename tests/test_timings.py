"""The notebooks' run times are quoted from their stored runs (course_tools/timings.py)."""

import json

import pytest

from course_tools import timings
from course_tools.nbio import dumps
from course_tools.notebooks import NotebookFormatError

pytestmark = pytest.mark.instructor  # needs the instructor's files: the student edition leaves it out


def _code(seconds_from: float, seconds_to: float, printed: str = "") -> dict:
    def stamp(s):
        return f"2026-01-01T10:{int(s // 60):02d}:{s % 60:06.3f}Z"

    return {"cell_type": "code", "source": ["x = 1"], "execution_count": 1,
            "metadata": {"execution": {"iopub.execute_input": stamp(seconds_from),
                                       "shell.execute_reply": stamp(seconds_to)}},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": [printed]}] if printed else []}


def _notebook(seconds: float, environment: str = "torch 2.11 | device: cpu\n", header: str = "") -> dict:
    header = header or "**Estimated time.** On a CPU: about 9 minutes (9.9 min measured on a laptop).\n"
    cells = [{"cell_type": "markdown", "metadata": {}, "source": ["# Title\n"]},
             _code(0.5, 2.0, environment),
             {"cell_type": "markdown", "metadata": {}, "source": [header]},
             _code(2.1, seconds)]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


README = """# Course

| # | notebook | what you learn | CPU min | GPU min |
|---|---|---|---|---|
| 1 | [One](notebooks/01_one.ipynb) | noise | 0.4 | not measured |
| 2 | [Two](notebooks/02_two.ipynb) | more noise | 7.7 | not measured |

After the table.
"""


@pytest.fixture
def course(tmp_path):
    solutions = tmp_path / "notebooks" / "solutions"
    solutions.mkdir(parents=True)
    (solutions / "01_one.ipynb").write_text(dumps(_notebook(24.0)))   # 23.5 s: 0.4 min, as the README says
    (solutions / "02_two.ipynb").write_text(dumps(_notebook(158.0)))  # 157.5 s: 2.6 min, not 7.7
    (tmp_path / "README.md").write_text(README)
    return tmp_path


def test_a_stored_run_is_read_from_the_first_start_to_the_last_end():
    run = timings.stored_run(_notebook(158.0))
    assert (run.seconds, run.minutes, run.device, run.quick) == (157.5, "2.6", "cpu", False)
    quick = timings.stored_run(_notebook(30.0, "torch 2.11 | device: cuda | QUICK MODE (COURSE_QUICK=1)\n"))
    assert (quick.device, quick.quick) == ("cuda", True)


def test_check_names_each_stale_figure_and_write_fixes_all_of_them(course):
    found = timings.sync(course)
    assert found == [
        "01_one.ipynb: its header says \"about 9 minutes (9.9 min measured\"; its stored run took 0.4 min",
        "02_two.ipynb: its header says \"about 9 minutes (9.9 min measured\"; its stored run took 2.6 min",
        "README.md: notebook 02 takes 2.6 min in its stored run; the course map says '7.7'"]
    assert (course / "README.md").read_text() == README  # check writes nothing

    assert timings.sync(course, write=True) == found
    assert timings.sync(course) == []
    readme = (course / "README.md").read_text()
    assert "| noise | 0.4 | not measured |" in readme and "| more noise | 2.6 | not measured |" in readme
    assert readme.endswith("After the table.\n")
    header = "".join(json.loads((course / "notebooks/solutions/02_two.ipynb").read_text())["cells"][2]["source"])
    assert header == "**Estimated time.** On a CPU: about 3 minutes (2.6 min measured on a laptop).\n"
    header = "".join(json.loads((course / "notebooks/solutions/01_one.ipynb").read_text())["cells"][2]["source"])
    assert "about 1 minute (0.4 min measured" in header


@pytest.mark.parametrize("notebook, message", [
    (_notebook(60.0, "torch 2.11 | device: cpu | QUICK MODE (COURSE_QUICK=1): small sizes for CI\n"),
     "quick-mode run: run it at full size"),
    (_notebook(60.0, "torch 2.11 | device: cuda\n"), "cuda run; the CPU times need a CPU run"),
    (_notebook(60.0, header="**Estimated time.** Quick.\n"), "should say \"about 1 minute (1.0 min measured on ...)\""),
    ({"cells": [{"cell_type": "code", "source": [], "metadata": {}, "outputs": []}]}, "record no run times"),
    (_notebook(60.0, environment="hello\n"), "describe_environment()"),
])
def test_a_stored_run_that_cannot_give_a_cpu_time_is_refused_with_what_to_do(course, notebook, message):
    (course / "notebooks" / "solutions" / "02_two.ipynb").write_text(dumps(notebook))
    first = (course / "notebooks" / "solutions" / "01_one.ipynb").read_text()
    with pytest.raises(NotebookFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        timings.sync(course, write=True)
    # nothing written, not even notebook 1's stale header, which alone would have been rewritten
    assert (course / "README.md").read_text() == README
    assert (course / "notebooks" / "solutions" / "01_one.ipynb").read_text() == first


def test_write_can_bring_only_the_notebooks_just_run_up_to_date(course):
    """`write 02`: notebook 2 was re-executed; notebook 1 has no usable run (say, a draft without outputs)."""
    (course / "notebooks" / "solutions" / "01_one.ipynb").write_text(
        dumps({"cells": [{"cell_type": "code", "source": [], "metadata": {}, "outputs": []}]}))
    with pytest.raises(NotebookFormatError, match="record no run times"):
        timings.sync(course, write=True)
    found = timings.sync(course, write=True, only={"02"})
    assert found[-1] == "README.md: notebook 02 takes 2.6 min in its stored run; the course map says '7.7'"
    readme = (course / "README.md").read_text()
    assert "| noise | 0.4 | not measured |" in readme and "| more noise | 2.6 | not measured |" in readme
    assert timings.sync(course, only={"02"}) == []


def test_a_notebook_missing_from_the_course_map_is_named(course):
    (course / "notebooks" / "solutions" / "03_three.ipynb").write_text(dumps(_notebook(24.0)))
    assert "README.md: the course map has no row for notebook 03" in timings.sync(course)


def test_the_readme_and_the_headers_quote_the_stored_runs():
    """Rerunning a notebook changes its time: `python -m course_tools.timings write` carries it over."""
    assert timings.sync() == []
