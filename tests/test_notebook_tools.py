import json
import os

import pytest

from course_tools import colab, notebooks

pytestmark = pytest.mark.instructor  # needs the instructor's files: the student edition leaves it out


def test_solution_regions_become_the_student_placeholder():
    source = "def f(x):\n    \"\"\"doc\"\"\"\n    ### BEGIN SOLUTION\n    y = x + 1\n    return y\n    ### END SOLUTION\n"
    assert notebooks.strip_solutions(source) == 'def f(x):\n    """doc"""\n    # YOUR CODE HERE\n    raise NotImplementedError\n'
    assert notebooks.strip_solutions("### BEGIN SOLUTION\nanswer\n### END SOLUTION", "markdown") == "YOUR ANSWER HERE"


@pytest.mark.parametrize("bad", ["### BEGIN SOLUTION\nx", "x\n### END SOLUTION", "### BEGIN SOLUTION\n### BEGIN SOLUTION\n"])
def test_unbalanced_markers_are_an_error(bad):
    with pytest.raises(notebooks.NotebookFormatError):
        notebooks.strip_solutions(bad, where="nb, cell 3")


def test_student_copy_drops_outputs_and_check_markers():
    solution = {
        "cells": [
            {"cell_type": "code", "execution_count": 3, "metadata": {}, "id": "a",
             "outputs": [{"output_type": "stream", "name": "stdout", "text": "✓ PASSED"}],
             "source": ["# NBVAL_CHECK_OUTPUT\n", "f = check_f(f)"]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    student = notebooks.make_student_notebook(solution)
    cell = student["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None and "".join(cell["source"]) == "f = check_f(f)"
    assert solution["cells"][0]["outputs"]  # the solution is not changed


def test_committed_student_copies_are_up_to_date():
    assert notebooks.build(check_only=True) == []


def test_every_notebook_has_a_solution_copy_and_exercises_with_checks():
    from course_utils.checks import EXERCISES

    solutions = sorted(notebooks.SOLUTIONS_DIR.glob("*.ipynb"))
    assert solutions, "no notebooks yet"
    for path in solutions:
        text = path.read_text(encoding="utf-8")
        mine = [ex for ex in EXERCISES.values() if ex.notebook == path.stem]
        assert 2 <= len(mine) <= 5, f"{path.name} should have 2 to 5 registered exercises"
        for ex in mine:
            assert f"def {ex.function}(" in text, f"{path.name} lacks exercise {ex.id}"
        assert text.count("### BEGIN SOLUTION") >= len(mine)
        assert text.count("NBVAL_CHECK_OUTPUT") >= len(mine)


def test_badges_and_setup_cells_agree_with_the_one_setting():
    assert colab.all_problems() == []


def test_sync_points_the_readme_badges_at_a_fork_and_check_notices_a_missing_one(monkeypatch):
    old = "| 1 | " + colab.badge("notebooks/01_x.ipynb") + " |\n| 2 | " + colab.badge("notebooks/02_y.ipynb") + " |"
    monkeypatch.setattr(colab, "REPOSITORY", "someone/fork")
    monkeypatch.setattr(colab, "REF", "v2")
    assert len(colab.readme_problems(old, [])) == 2
    new = colab.sync_readme(old)
    assert new.count("github/someone/fork/blob/v2/notebooks/") == 2 and colab.sync_readme(new) == new
    assert colab.readme_problems(new, ["notebooks/01_x.ipynb", "notebooks/02_y.ipynb"]) == []
    assert colab.readme_problems(new, ["notebooks/03_z.ipynb"]) == [
        "README.md: the course map has no Colab badge for notebooks/03_z.ipynb"]


def test_sync_rewrites_badge_and_setup_cell_for_a_fork(monkeypatch):
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Title"]}], "metadata": {}}
    monkeypatch.setattr(colab, "REPOSITORY", "someone/fork")
    monkeypatch.setattr(colab, "REF", "v2")
    colab.sync_notebook(nb, "notebooks/01_x.ipynb")
    colab.sync_notebook(nb, "notebooks/01_x.ipynb")  # idempotent
    text = json.dumps(nb)
    assert "github/someone/fork/blob/v2/notebooks/01_x.ipynb" in text and '\\"v2\\"' in text
    first = "".join(nb["cells"][0]["source"])
    assert first.count("Open In Colab") == 1 and nb["cells"][1]["source"][0].startswith(colab.SETUP_MARKER)


def test_setup_cell_is_valid_python_and_does_nothing_outside_colab(monkeypatch):
    import subprocess
    import sys

    source = colab.setup_cell_source()
    compile(source, "setup-cell", "exec")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(source, {})
    assert calls == []


def test_colab_check_fails_when_the_ref_is_a_branch_or_not_this_versions_tag(monkeypatch):
    version = colab.read_version()
    assert colab.REF == f"v{version}" and colab.ref_problems() == []
    assert "looks like a branch" in colab.ref_problems("main", version)[0]
    assert "is not the tag of this version" in colab.ref_problems("v0.0.1", version)[0]
    monkeypatch.setattr(colab, "REF", "main")
    found = colab.all_problems()
    assert "looks like a branch" in found[0] and len(found) > 16  # REF, then every notebook and the README
    assert colab.main(["check"]) == 1


def test_sync_refuses_to_write_a_branch(monkeypatch, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(colab.badge("notebooks/01_x.ipynb"))
    monkeypatch.setattr(colab, "README", readme)
    monkeypatch.setattr(notebooks, "SOLUTIONS_DIR", tmp_path)  # (empty of notebooks: nothing real to spoil)
    monkeypatch.setattr(colab, "REF", "main")
    assert colab.main(["sync"]) == 2 and "looks like a branch" in capsys.readouterr().err
    assert readme.read_text() == colab.badge("notebooks/01_x.ipynb", ref=colab.release_tag(colab.read_version()))


def test_a_colab_link_at_a_branch_is_reported_even_beside_a_good_badge():
    good = colab.badge("notebooks/01_x.ipynb")
    assert colab.link_problems(good, "nb") == []
    bad = good.replace(f"/blob/{colab.REF}/", "/blob/main/")
    assert "'main' is a branch, not a release tag" in colab.link_problems(good + " " + bad, "nb")[0]


def test_a_solution_badge_opens_the_student_copy_which_the_student_repository_holds():
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Title"]}], "metadata": {}}
    colab.sync_notebook(nb, "notebooks/solutions/01_x.ipynb")
    assert colab.badge("notebooks/01_x.ipynb") in "".join(nb["cells"][0]["source"])
    assert colab.notebook_problems(nb, "notebooks/solutions/01_x.ipynb") == []


def test_setup_cell_in_colab_clones_the_release_tag_into_dest_and_puts_it_on_the_path(monkeypatch, tmp_path):
    import subprocess
    import sys
    import types

    dest, url = str(tmp_path / "course"), "file:///srv/student-repo"
    source = colab.setup_cell_source(url=url, dest=dest)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a[0]))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", "/env/python")
    monkeypatch.setenv("COURSE_DATA_DIR", "recorded, so that teardown removes what the cell sets")
    monkeypatch.delenv("COURSE_DATA_DIR")
    exec(source, {})
    assert calls == [["git", "clone", "--quiet", "--depth", "1", "--branch", colab.REF, url, dest]]
    assert sys.path[0] == dest and os.environ["PYTHONPATH"] == dest + os.pathsep + "/env/python"
    assert os.environ["COURSE_DATA_DIR"] == dest + "/data"
