"""The grader's parts, without running any notebook: names, cells, references, verdicts from returned values."""

import io
import json

import pytest
import torch

from course_tools import grading
from course_tools.grading import cells, harness, submissions, verdicts
from course_utils import forward
from course_utils.checks import EXERCISES


def _nb(*sources):
    return {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "source": s} for s in sources], "nbformat": 4}


@pytest.mark.parametrize("name, student, file", [
    ("ada_12345_67890_01_adding_noise_by_hand.ipynb", "ada", "01_adding_noise_by_hand.ipynb"),
    ("ada_late_12345_67890_01_adding_noise_by_hand.ipynb", "ada", "01_adding_noise_by_hand.ipynb"),
    ("Ada Lovelace_4321_assignsubmission_file_01_adding_noise_by_hand.ipynb", "Ada Lovelace", "01_adding_noise_by_hand.ipynb"),
    ("Homework 1_ada_attempt_2024-03-01-10-00-00_05_sampling_with_ddpm.ipynb", "ada", "05_sampling_with_ddpm.ipynb"),
])
def test_lms_bulk_download_names(name, student, file):
    assert submissions.lms_student(name) == (student, file)


def test_loose_names_are_not_mistaken_for_lms_names():
    assert submissions.lms_student("01_adding_noise_by_hand.ipynb") is None
    lessons = sorted({e.notebook for e in EXERCISES.values()})
    assert submissions.lesson_named("05 final.ipynb", lessons) == "05_sampling_with_ddpm"
    assert submissions.lesson_named("my work.ipynb", lessons) is None


def test_a_notebook_is_recognised_by_its_checks_not_its_name():
    nb = _nb("from course_utils.checks import check_ddpm_step\n", "def ddpm_step(x_t, t, eps, schedule, z):\n    pass\n",
             "ddpm_step = check_ddpm_step(ddpm_step)\n")
    assert cells.lesson_of(nb) == ("05_sampling_with_ddpm", {"nb05.ddpm_step"})
    assert cells.lesson_of(_nb("print('hello')\n")) == (None, set())


def test_checks_only_mode_runs_what_the_function_needs_and_nothing_else():
    nb = _nb(
        "import torch\nimport math\n",  # 0: needed (math)
        "images = load_everything()\nmodel = train_for_an_hour()\n",  # 1: not needed
        "SCALE = 2.0\n",  # 2: needed by the helper, at call time
        "def helper(x):\n    return x * SCALE\n",  # 3: needed
        "def add_noise(x, sigma, noise):\n    y = helper(x)\n    return y + math.sqrt(sigma ** 2) * noise\n",  # 4
        "add_noise = check_add_noise(add_noise)\n",  # 5: the check cell
        "plt.plot(add_noise(images, 1, 1))\n",  # 6: not needed
    )
    analysed = cells.analyse(nb)
    plan = cells.plan_exercise(nb, analysed, "nb01.add_noise")
    assert (plan.def_cell, plan.check_cell, plan.cells) == (4, 5, {0, 2, 3, 4})


def test_ipython_magics_do_not_hide_a_cell():
    nb = _nb("%matplotlib inline\nimport math\n",
             "def add_noise(x, sigma, noise):\n    return x + math.sqrt(1) * sigma * noise\n",
             "add_noise = check_add_noise(add_noise)\n")
    assert cells.plan_exercise(nb, cells.analyse(nb), "nb01.add_noise").cells == {0, 1}


@pytest.mark.parametrize("def_cell, found", [
    ("from course_utils.forward import add_noise\n", "it is imported from course_utils.forward.add_noise"),
    ("import course_utils.forward as fw\nadd_noise = fw.add_noise\n", "it is course_utils.forward.add_noise"),
    ("def add_noise(x, sigma, noise):\n    from course_utils import forward\n    return forward.add_noise(x, sigma, noise)\n",
     "it calls course_utils.forward.add_noise"),
    ("from course_utils.forward import add_noise as _r\ndef _h(*a):\n    return _r(*a)\ndef add_noise(x, sigma, noise):\n"
     "    return _h(x, sigma, noise)\n", "it calls course_utils.forward.add_noise (through _h)"),
    ("def add_noise(x, sigma, noise):\n    return x + sigma * noise\n", ""),
    ("import course_utils.forward as fw\ndef add_noise(x, sigma, noise):\n    return fw.randn_like(x) * 0 + x + sigma * noise\n",
     ""),
])
def test_copied_references_are_found_in_the_source(def_cell, found):
    nb = _nb(def_cell, "add_noise = check_add_noise(add_noise)\n")
    analysed = cells.analyse(nb)
    assert cells.reference_use(analysed, cells.plan_exercise(nb, analysed, "nb01.add_noise")) == found


def test_copied_references_are_found_at_run_time():
    ns = {}  # a notebook's namespace: a module reached through a global alias the source analysis cannot follow
    exec("import course_utils\nalias = course_utils.forward\n"
         "def f(x, sigma, noise):\n    return alias.add_noise(x, sigma, noise)\n", ns)
    assert "calls the reference" in harness.runtime_reference(ns["f"], forward.add_noise, ns)
    assert harness.runtime_reference(forward.add_noise, forward.add_noise, {}) == "it is the course's reference"
    assert harness.runtime_reference(lambda x, s, n: x + s * n, forward.add_noise, {}) == ""


def _calls(fn, exercise_id):
    """What the harness would send back for ``fn``, through the same safe serialisation."""
    out = []
    for case in verdicts.cases_for(exercise_id).cases:
        try:
            out.append({"out": harness.sanitize(fn(*case.args, **case.kwargs)), "error": None, "changed": {}})
        except Exception as err:
            out.append({"out": None, "error": (type(err).__name__, str(err)), "changed": {}})
            break
    buffer = io.BytesIO()
    torch.save(out, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_verdicts_come_from_returned_values_judged_here():
    assert verdicts.judge("nb01.add_noise", _calls(lambda x, s, n: x + s * n, "nb01.add_noise")).passed
    wrong = verdicts.judge("nb01.add_noise", _calls(lambda x, s, n: x + s ** 2 * n, "nb01.add_noise"))
    assert not wrong.passed and "not squared" in wrong.hint and wrong.source == "mistake"
    odd = verdicts.judge("nb01.add_noise", _calls(lambda x, s, n: x.numpy(), "nb01.add_noise"))
    assert not odd.passed and "ndarray" in odd.message
    raised = verdicts.judge("nb01.add_noise", _calls(lambda x, s, n: 1 / 0, "nb01.add_noise"))
    assert not raised.passed and "ZeroDivisionError" in raised.message
    # a claimed result with nothing behind it is no pass
    assert not verdicts.judge("nb01.add_noise", []).passed


def test_in_place_changes_travel_back_and_are_caught():
    case = verdicts.cases_for("nb01.add_noise").cases[0]
    x = case.args[0].clone()
    changed = x + 1
    calls = [{"out": changed, "error": None, "changed": {0: changed}}]
    result = verdicts.judge("nb01.add_noise", calls)
    assert not result.passed and "in place" in result.message


def test_every_exercise_has_a_check_and_cases():
    assert set(verdicts.check_functions()) == set(EXERCISES)
    for exercise_id in EXERCISES:
        assert verdicts.cases_for(exercise_id).cases, exercise_id


def test_bad_input_gets_a_one_line_error(tmp_path, capsys):
    assert grading.main([str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "subs").mkdir()
    assert grading.main([str(tmp_path / "subs"), "--notebooks", "42", "--isolation", "plain", "--out", str(tmp_path / "o")]) == 2
    assert "no single notebook matches '42'" in capsys.readouterr().err
    (tmp_path / "a.json").write_text(json.dumps({"notebooks": []}), encoding="utf-8")
    assert grading.main([str(tmp_path / "subs"), "--assignment", str(tmp_path / "a.json"), "--isolation", "plain"]) == 2
