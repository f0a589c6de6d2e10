"""Grade two submissions of notebook 1: one complete, one with a wrong and two missing answers."""

import csv
import json
import re

import pytest

from course_tools import grading, notebooks

pytestmark = [pytest.mark.slow]

NB = "01_adding_noise_by_hand"


def _student_copy_with(answers: dict[str, str]) -> dict:
    nb = json.loads((notebooks.STUDENT_DIR / f"{NB}.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        text = "".join(cell["source"])
        for function, body in answers.items():
            if f"def {function}(" in text:
                text = re.sub(r"# YOUR CODE HERE\n(\s*)raise NotImplementedError", lambda m, body=body: body, text, count=1)
        cell["source"] = text
    return nb


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    root = tmp_path_factory.mktemp("submissions")
    (root / "ada").mkdir()
    (root / "bob").mkdir()
    solution = json.loads((notebooks.SOLUTIONS_DIR / f"{NB}.ipynb").read_text(encoding="utf-8"))
    (root / "ada" / f"{NB}.ipynb").write_text(json.dumps(solution), encoding="utf-8")
    bob = _student_copy_with({"add_noise": "return x + sigma ** 2 * noise"})
    (root / "bob" / f"{NB}.ipynb").write_text(json.dumps(bob), encoding="utf-8")
    (root / "cy").mkdir()  # a broken notebook must not stop the others
    (root / "cy" / f"{NB}.ipynb").write_text("{not json", encoding="utf-8")
    grades = grading.grade_folder(root, timeout=600)
    csv_path, md_path = grading.write_gradebook(grades, root / "out" / "gradebook")
    with open(csv_path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return rows, md_path.read_text(encoding="utf-8")


def test_complete_submission_passes_everything(gradebook):
    rows, _ = gradebook
    ada = {r["exercise"]: r for r in rows if r["student"] == "ada"}
    assert set(ada) == {"nb01.add_noise", "nb01.noising_step", "nb01.variance_after_steps"}
    assert all(r["result"] == "pass" for r in ada.values())


def test_wrong_and_missing_answers_get_the_messages_the_student_saw(gradebook):
    rows, _ = gradebook
    bob = {r["exercise"]: r for r in rows if r["student"] == "bob"}
    assert bob["nb01.add_noise"]["result"] == "fail" and "values are off" in bob["nb01.add_noise"]["message"]
    for missing in ("nb01.noising_step", "nb01.variance_after_steps"):
        assert bob[missing]["result"] == "fail" and bob[missing]["message"] == "not implemented yet."


def test_a_broken_notebook_is_reported_not_fatal(gradebook):
    rows, markdown = gradebook
    cy = [r for r in rows if r["student"] == "cy"]
    assert len(cy) == 3 and all(r["result"] == "fail" and "could not be run" in r["message"] for r in cy)
    assert "| ada | 3 | 3 |" in markdown and "| bob | 0 | 3 |" in markdown
