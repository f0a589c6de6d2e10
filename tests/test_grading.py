"""A generated class graded end to end: every kind of student gets exactly the expected gradebook.

Forged verdicts, copied references and a file-deleting cell change no grade; every student and every
due exercise appears; the course's files are untouched. Runs the real grader (os isolation as root,
else the best this machine offers) on notebooks 01 and 05, in checks-only mode.
"""

import csv
import json
import os
import uuid

import pytest

from course_tools import grading
from course_tools.grading import fakeclass, sandbox
from course_tools.grading.gradebook import COULD_NOT_RUN as CNR
from course_tools.grading.gradebook import FAILED as F
from course_tools.grading.gradebook import MISSING as M
from course_tools.grading.gradebook import NOT_ATTEMPTED as NA
from course_tools.grading.gradebook import PASSED as P
from course_tools.grading.gradebook import REFERENCE as REF

pytestmark = [pytest.mark.slow]

EXERCISES = ["nb01.add_noise", "nb01.noising_step", "nb01.variance_after_steps", "nb05.posterior_variance", "nb05.ddpm_step"]
EXPECTED = {
    "ada": [P, P, P, P, P],  # everything right
    "blank": [NA, NA, NA, NA, NA],
    "wrong": [F, F, F, F, F],
    "forger": [NA, NA, NA, NA, NA],  # blank, with printed ✓ PASSED lines and a monkeypatched evaluate
    "vandal": [P, P, P, P, P],  # right answers, and a cell that deletes and writes files it must not
    "looper": [CNR, P, P, P, P],  # add_noise never returns
    "malformed": [CNR, CNR, CNR, CNR, CNR],  # its only notebook is not JSON, oddly named, in a subfolder
    "missing": [P, P, P, M, M],  # never submitted notebook 05
    "wronglesson": [M, M, M, P, P],  # notebook 05 saved as 01_adding_noise_by_hand.ipynb
    "copier": [REF, REF, NA, REF, REF],  # the course's reference, imported or called
    "empty": [M, M, M, M, M],  # an empty folder
    "zoe": [P, P, P, NA, NA],  # a Canvas bulk download: flat file names
}


def _mode() -> str:
    return sandbox.choose_isolation("auto")[0]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    canary = grading.ROOT / "data" / f".grading-canary-{uuid.uuid4().hex}.txt"
    canary.write_text("the course's data\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("out") / "gradebook"
    out.mkdir()
    (out / "gradebook.csv").write_text("an earlier gradebook\n", encoding="utf-8")
    pwned = grading.ROOT / f"pwned-{uuid.uuid4().hex}"
    targets = {"delete": str(canary), "touch": str(pwned), "overwrite": str(root / "ada" / f"{fakeclass.NB01}.ipynb")}
    for kind in ("blank", "wrong", "forger", "looper", "malformed", "missing", "wronglesson", "copier", "empty"):
        fakeclass.student(root, kind, kind)
    fakeclass.student(root, "correct", "ada")
    fakeclass.student(root, "vandal", "vandal", vandal_targets=targets)
    fakeclass.canvas(root, "zoe", solution=True)
    (root / "notes.txt").write_text("not a submission", encoding="utf-8")
    (root / "ada" / "README.md").write_text("my notes", encoding="utf-8")
    options = grading.Options(mode=_mode(), jobs=2, timeout=300, call_timeout=3,
                              readonly=[grading.ROOT, root, out], watch=grading.COURSE_PATHS + [root])
    ada_before = (root / "ada" / f"{fakeclass.NB01}.ipynb").read_bytes()
    try:
        result = grading.grade_folder(root, out, notebooks=["01", "05"], options=options)
        yield {"result": result, "out": out, "root": root, "canary": canary, "pwned": pwned, "ada_before": ada_before,
               "mode": options.mode}
    finally:
        canary.unlink(missing_ok=True)
        pwned.unlink(missing_ok=True)


def _statuses(result):
    table = {}
    for row in result.rows:
        table.setdefault(row.student, {})[row.exercise] = row.status
    return {s: [table[s].get(e) for e in EXERCISES] for s in table}


def test_every_student_gets_exactly_the_expected_grades(graded):
    assert _statuses(graded["result"]) == EXPECTED
    assert len(graded["result"].rows) == len(EXPECTED) * len(EXERCISES)


def test_wrong_answers_get_the_checks_hints(graded):
    rows = {r.exercise: r for r in graded["result"].rows if r.student == "wrong"}
    assert "not squared" in rows["nb01.add_noise"].hint
    assert "square root on the noise's coefficient" in rows["nb01.noising_step"].hint
    assert "β_t itself" in rows["nb05.posterior_variance"].hint


def test_reference_copies_say_how_they_reached_the_reference(graded):
    rows = {r.exercise: r for r in graded["result"].rows if r.student == "copier"}
    assert "course_utils.forward.add_noise" in rows["nb01.add_noise"].message  # imported in place of the def
    assert "forward.noising_step" in rows["nb01.noising_step"].message  # called through an import
    assert "ddpm_step" in rows["nb05.ddpm_step"].message  # through a global alias, seen only at run time


def test_explanations_for_missing_and_unreadable_work(graded):
    rows = {(r.student, r.exercise): r for r in graded["result"].rows}
    assert "my work (final).ipynb could not be read: not valid notebook JSON" in rows["malformed", "nb01.add_noise"].message
    assert "holds notebook 05_sampling_with_ddpm" in rows["wronglesson", "nb01.add_noise"].message
    assert "did not return" in rows["looper", "nb01.add_noise"].message


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can check that even root's files are protected")
def test_the_vandal_changed_nothing(graded):
    assert graded["mode"] in ("os", "bwrap")
    assert graded["canary"].exists()
    assert not graded["pwned"].exists()
    assert (graded["root"] / "ada" / f"{fakeclass.NB01}.ipynb").read_bytes() == graded["ada_before"]
    assert graded["result"].tampered == []
    executed = json.loads((graded["out"] / "executed" / "vandal" / f"{fakeclass.NB01}.ipynb").read_text(encoding="utf-8"))
    said = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert said.count("refused:") == 3 and "done:" not in said


def test_files_left_aside_are_listed_with_a_reason(graded):
    ignored = dict(graded["result"].ignored)
    assert "not a notebook" in ignored["notes.txt"]
    assert "not a notebook" in ignored["ada/README.md"]
    assert "could not be read" in ignored["malformed/hw/my work (final).ipynb"]


def test_the_gradebook_files(graded):
    out = graded["out"]
    with open(out / "gradebook.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(EXPECTED) * len(EXERCISES)
    ada = [r for r in rows if r["student"] == "ada"]
    assert all(r["status"] == P and r["points"] == "1" for r in ada)
    assert (out / ada[0]["executed"]).exists()
    raw = (out / "gradebook_wide.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    with open(out / "gradebook_wide.csv", encoding="utf-8-sig") as f:
        wide = {r["student"]: r for r in csv.DictReader(f)}
    assert set(wide) == set(EXPECTED)
    assert wide["ada"]["total"] == "5" and wide["ada"]["percent"] == "100"
    assert wide["missing"]["nb05.ddpm_step"] == M and wide["missing"]["total"] == "3"
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "| `nb01.add_noise` |" in summary and "σ is a standard deviation" in summary
    assert "12 students" in summary and "notes.txt" in summary
