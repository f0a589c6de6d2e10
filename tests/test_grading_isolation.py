"""The isolation modes other than the class test's: plain (reports tampering) and bubblewrap (prevents it)."""

import shutil
import uuid

import pytest

from course_tools import grading
from course_tools.grading import fakeclass, sandbox
from course_tools.grading.gradebook import PASSED

pytestmark = [pytest.mark.slow]


def _vandal_class(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    canary = course / "bench.md"
    canary.write_text("numbers\n", encoding="utf-8")
    root = tmp_path / "submissions"
    fakeclass.student(root, "vandal", "vandal", vandal_targets={"delete": str(canary), "touch": str(course / "pwned")})
    fakeclass.student(root, "correct", "ada")
    return course, canary, root


def _grade(root, course, mode, out):
    options = grading.Options(mode=mode, jobs=2, timeout=300, readonly=[grading.ROOT, root, course],
                              watch=[course])
    return grading.grade_folder(root, out, notebooks=["01"], options=options)


def test_plain_mode_reports_what_it_cannot_prevent(tmp_path):
    course, canary, root = _vandal_class(tmp_path)
    result = _grade(root, course, "plain", tmp_path / "out")
    assert all(r.status == PASSED for r in result.rows)  # the grades stay right
    assert not canary.exists()  # plain mode protects nothing ...
    assert any(line.startswith(f"deleted: {canary}") for line in result.tampered)  # ... but says what changed
    assert any(line.startswith(f"created: {course / 'pwned'}") for line in result.tampered)
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert f"deleted: {canary}" in summary and "WARNING" in summary


@pytest.mark.skipif(shutil.which("bwrap") is None or not sandbox._bwrap_works(),
                    reason="needs bubblewrap (apt-get install bubblewrap) and user namespaces")
def test_bubblewrap_mode_prevents_it(tmp_path):
    course, canary, root = _vandal_class(tmp_path)
    result = _grade(root, course, "bwrap", tmp_path / f"out-{uuid.uuid4().hex[:6]}")
    assert [r.status for r in result.rows] == [PASSED] * 6
    assert canary.exists() and not (course / "pwned").exists()
    assert result.tampered == []
