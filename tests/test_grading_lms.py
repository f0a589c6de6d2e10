"""nbgrader and Gradescope round trips: right, wrong, blank and looping submissions get what they earned.

The nbgrader test follows INSTRUCTORS.md's steps (install, PYTHONPATH, quick mode) in a folder of its own.
"""

import json
import os
import subprocess
import sys
import time
import zipfile

import pytest

from course_tools import gradescope, nbgrader, notebooks
from course_tools.grading import fakeclass

pytestmark = [pytest.mark.slow, pytest.mark.instructor]

NB = fakeclass.lesson("01")
EX01 = fakeclass.exercises_of(NB)


def _cells(nb):
    return [(c["cell_type"], "".join(c["source"]).rstrip()) for c in nb["cells"]]


@pytest.mark.network
def test_nbgrader_releases_the_student_copy_and_autogrades_full_and_zero(tmp_path):
    target = tmp_path / "nbgrader-install"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "nbgrader"], check=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), str(notebooks.ROOT)]),
               PATH=os.pathsep.join([str(target / "bin"), os.environ["PATH"]]), COURSE_QUICK="1", MPLBACKEND="Agg")
    course = tmp_path / "course"
    nbgrader.write_course(course, ["01"])

    def nbg(*args):
        done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    nbg("generate_assignment", "diffusion")
    release = json.loads((course / "release" / "diffusion" / f"{NB}.ipynb").read_text(encoding="utf-8"))
    student = json.loads((notebooks.STUDENT_DIR / f"{NB}.ipynb").read_text(encoding="utf-8"))
    assert _cells(release) == _cells(student)  # nbgrader's release is the course's student copy
    source = json.loads((course / "source" / "diffusion" / f"{NB}.ipynb").read_text(encoding="utf-8"))
    solved = json.loads(json.dumps(release))
    for mine, original in zip(solved["cells"], source["cells"]):
        if mine.get("metadata", {}).get("nbgrader", {}).get("solution"):
            mine["source"] = [line for line in original["source"] if "### " not in line]
    for name, nb in (("ada", solved), ("bob", release)):
        folder = course / "submitted" / name / "diffusion"
        folder.mkdir(parents=True)
        (folder / f"{NB}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    nbg("autograde", "diffusion")
    nbg("export")
    lines = (course / "grades.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    scores = {row[header.index("student_id")]: (float(row[header.index("score")]), float(row[header.index("max_score")]))
              for row in (line.split(",") for line in lines[1:])}
    n = float(len(EX01))
    assert scores == {"ada": (n, n), "bob": (0.0, n)}


def _autograder(tmp_path, notebooks_due, budget):
    zip_path = gradescope.build(tmp_path / "autograder.zip", notebooks_due, time_budget=budget)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        z.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "assignment.json", "course/course_utils/checks/core.py"} <= names
    assert not any("solutions" in n or n.startswith("course/.git") for n in names)  # no answers leave your machine
    return root


def _run(root):
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)  # the zip's own copy of the course must be enough
    started = time.monotonic()
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True)
    return done, time.monotonic() - started


def test_gradescope_autograder_grades_a_submission(tmp_path):
    root = _autograder(tmp_path, ["01"], gradescope.TIME_BUDGET)
    submission = root / "submission"
    answers = {"add_noise": "return x + sigma ** 2 * noise",
               "noising_step": "return (1 - beta) ** 0.5 * x_prev + beta ** 0.5 * noise"}  # wrong, then right
    nb = fakeclass.load(NB, False)
    for function, body in answers.items():
        nb = fakeclass.with_body(nb, function, body)
    fakeclass.write(submission / f"my upload {NB}.ipynb", nb)
    done, _ = _run(root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    tests = {t["name"].split(" ")[0]: t for t in results["tests"]}
    assert list(tests) == EX01
    assert [tests[e]["score"] for e in EX01] == [0, 1, 0] and results["score"] == 1
    assert all(t["max_score"] == 1 and t["status"] in ("passed", "failed") for t in tests.values())
    assert "not squared" in tests["nb01.add_noise"]["output"]
    assert tests["nb01.variance_after_steps"]["output"].startswith("not attempted")


def test_gradescope_shares_one_budget_and_always_writes_results(tmp_path):
    budget = 60.0
    root = _autograder(tmp_path, ["01", "05"], budget)
    first = fakeclass.exercises_of(NB)[0]
    from course_utils.checks import EXERCISES

    looping = fakeclass.prepend_to_def(fakeclass.load(NB, True), EXERCISES[first].function, "while True:\n    pass\n")
    fakeclass.write(root / "submission" / f"{NB}.ipynb", looping)
    fakeclass.write(root / "submission" / "05.ipynb", fakeclass.load(fakeclass.lesson("05"), True))
    done, seconds = _run(root)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert seconds < budget + 60  # the budget, its sandbox's start and the writing of the results
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    outputs = {t["name"].split(" ")[0]: t["output"] for t in results["tests"]}
    assert len(outputs) == len(EX01) + len(fakeclass.exercises_of(fakeclass.lesson("05")))
    assert all(outputs[e].startswith("timed out") for e in EX01)  # the looping notebook, killed at its share ...
    later = fakeclass.exercises_of(fakeclass.lesson("05"))
    assert all(outputs[e].startswith("passed") for e in later) and results["score"] == len(later)  # ... left 05 its time


def test_results_json_is_there_before_grading_starts(tmp_path):
    results = tmp_path / "results" / "results.json"
    spec = tmp_path / "assignment.json"
    spec.write_text(json.dumps({"notebooks": ["42"]}), encoding="utf-8")  # grading itself fails at once
    with pytest.raises(SystemExit):
        gradescope.run(tmp_path, results, spec)
    assert json.loads(results.read_text(encoding="utf-8"))["score"] == 0
