"""nbgrader and Gradescope round trips: a correct and a blank submission get full and zero points."""

import json
import os
import subprocess
import sys
import zipfile

import pytest

from course_tools import gradescope, nbgrader, notebooks
from course_tools.grading import fakeclass

pytestmark = [pytest.mark.slow]

NB = fakeclass.NB01
EX01 = ["nb01.add_noise", "nb01.noising_step", "nb01.variance_after_steps"]


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
    assert scores == {"ada": (3.0, 3.0), "bob": (0.0, 3.0)}


def test_gradescope_autograder_grades_a_submission(tmp_path):
    zip_path = gradescope.build(tmp_path / "autograder.zip", ["01"])
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as z:
        names = set(z.namelist())
        assert {"setup.sh", "run_autograder", "assignment.json", "course/course_utils/checks/core.py"} <= names
        z.extractall(root / "source")
    submission = root / "submission"
    answers = {"add_noise": fakeclass.WRONG["add_noise"],
               "noising_step": "return (1 - beta) ** 0.5 * x_prev + beta ** 0.5 * noise"}  # right, for floats and tensors
    wrong = fakeclass.with_answers(fakeclass.load(NB, False), answers)
    fakeclass.write(submission / f"my upload {NB}.ipynb", wrong)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)  # the zip's own copy of the course must be enough
    done = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    tests = {t["name"].split(" ")[0]: t for t in results["tests"]}
    assert list(tests) == EX01
    assert [tests[e]["score"] for e in EX01] == [0, 1, 0] and results["score"] == 1
    assert all(t["max_score"] == 1 and t["status"] in ("passed", "failed") for t in tests.values())
    assert "not squared" in tests["nb01.add_noise"]["output"]
    assert tests["nb01.variance_after_steps"]["output"].startswith("not attempted")
