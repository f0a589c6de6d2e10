"""INSTRUCTORS.md's exercise index (course_tools/exercise_index.py), generated from the registry of checks."""

import pytest

from course_tools import exercise_index
from course_utils.checks import EXERCISES

pytestmark = pytest.mark.instructor  # needs the instructor's files: the student edition leaves it out


def test_the_exercise_index_in_instructors_md_matches_the_registry():
    text = exercise_index.INSTRUCTORS.read_text(encoding="utf-8")
    assert exercise_index.current(text) == exercise_index.section(), "run: python -m course_tools.exercise_index --write"
    assert exercise_index.main(["--check"]) == 0


def test_the_exercise_index_lists_every_exercise_its_old_ids_and_its_mistakes():
    table = exercise_index.exercise_index()
    for exercise in EXERCISES.values():
        assert f"| `{exercise.function}` |" in table and f"`{exercise.check}`" in table
        assert all(f"`{alias}`" in table for alias in exercise.aliases)
        line = next(line for line in table.splitlines() if line.startswith(f"- `{exercise.id}`"))
        assert all(m.name in line for m in exercise.mistakes)


def test_the_student_package_does_not_hold_the_index():
    import course_utils.checks

    assert not hasattr(course_utils.checks, "index") and not hasattr(course_utils.checks, "exercise_index")
