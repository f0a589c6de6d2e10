"""The tests every per-notebook table of answers gets (the tables are in tests/test_checks_nbNN.py).

For each notebook's exercises: every wrong or nearly right answer fails with a hint that names it and never gives
the formula; the cells below then print exactly what they print with the reference (no NaN, inf or wrong verdict),
while the nearly right answers, let through, would break them; right answers in several styles pass and the cells
below run cleanly with them; no hint of the exercise contains the formula; the table covers every exercise of the
notebook with at least five wrong answers.
"""

import importlib
from pathlib import Path

import check_table
import pytest

# Every tests/test_checks_nbNN.py, found by name: a new notebook's table needs no edit here.
NOTEBOOKS = {f"{path.stem[-2:]}_": importlib.import_module(path.stem)
             for path in sorted(Path(__file__).parent.glob("test_checks_nb[0-9][0-9].py"))}


# Checks that train a tiny network for every case (about a second per answer): `make test-fast` leaves their
# tables to `make test`, which runs every test.
TRAINS = {"nb04.train_step"}


def _marks(exercise_id: str) -> tuple:
    return (pytest.mark.slow,) if exercise_id in TRAINS else ()


def _wrong(m) -> dict:
    """The table's wrong answers and its nearly right ones (right on ordinary inputs, wrong on an edge case)."""
    merged = {k: list(v) for k, v in m.WRONG.items()}
    for k, v in getattr(m, "NEARLY_RIGHT", {}).items():
        merged.setdefault(k, []).extend(entry[:2] for entry in v)
    return merged


@pytest.mark.parametrize("prefix, exercise_id, fn, words",
                         [pytest.param(prefix, *case, id=case_id, marks=_marks(case[0])) for prefix, m in NOTEBOOKS.items()
                          for case, case_id in zip(check_table.cases(_wrong(m)), check_table.ids(_wrong(m)))])
def test_each_wrong_answer_fails_with_a_hint_that_names_it(prefix, exercise_id, fn, words):
    module = NOTEBOOKS[prefix]
    if words in getattr(module, "GENERIC", ()):  # no known mistake matches: the generic hint must still say it
        out, returned = check_table.run_check(exercise_id, fn)
        assert out.startswith("✗ NOT YET") and words in out and returned is not fn
        return
    check_table.assert_wrong_answer_is_named(exercise_id, fn, words, module.LATER[exercise_id],
                                             module.FRAGMENTS[exercise_id])


@pytest.mark.parametrize("prefix, exercise_id, fn",
                         [pytest.param(prefix, k, f, id=f"{k}-{i}") for prefix, m in NOTEBOOKS.items()
                          for k, fs in m.CORRECT.items() for i, f in enumerate(fs)])
def test_right_answers_in_several_styles_pass_and_the_cells_below_run(prefix, exercise_id, fn):
    check_table.assert_correct_answer_passes(exercise_id, fn, NOTEBOOKS[prefix].LATER[exercise_id])


@pytest.mark.parametrize("prefix, exercise_id",
                         [pytest.param(prefix, k, id=k) for prefix, m in NOTEBOOKS.items() for k in sorted(m.FRAGMENTS)])
def test_no_hint_gives_the_formula_away(prefix, exercise_id):
    check_table.assert_no_hint_gives_the_formula(exercise_id, NOTEBOOKS[prefix].FRAGMENTS[exercise_id])


@pytest.mark.parametrize("prefix", sorted(NOTEBOOKS))
def test_the_table_covers_every_exercise_of_the_notebook(prefix):
    check_table.assert_table_is_complete(vars(NOTEBOOKS[prefix]), prefix)


def _reference_printed(module, exercise_id: str) -> str:
    from course_utils.checks import EXERCISES

    return check_table.run_later(module.LATER[exercise_id], EXERCISES[exercise_id].reference)


@pytest.mark.parametrize("prefix, exercise_id, fn, words",
                         [pytest.param(prefix, *case, id=case_id, marks=_marks(case[0])) for prefix, m in NOTEBOOKS.items()
                          for case, case_id in zip(check_table.cases(_wrong(m)), check_table.ids(_wrong(m)))])
def test_the_cells_below_print_what_they_print_with_the_reference(prefix, exercise_id, fn, words):
    """Whatever the student wrote, the cells after the check (LATER: their calls, their edge cases, their prints)
    print exactly what they print with the course's reference: no NaN, no inf, no exception, no wrong verdict.
    A wrong answer the check let through would show here."""
    module = NOTEBOOKS[prefix]
    _, returned = check_table.run_check(exercise_id, fn)
    printed, expected = check_table.run_later(module.LATER[exercise_id], returned), _reference_printed(module, exercise_id)
    assert not check_table.broken(expected), expected  # the reference itself runs cleanly
    assert printed == expected, printed


@pytest.mark.parametrize("prefix, exercise_id, fn", [
    pytest.param(prefix, exercise_id, entry[0], id=f"{exercise_id}-{i}")
    for prefix, m in NOTEBOOKS.items() for exercise_id, entries in getattr(m, "NEARLY_RIGHT", {}).items()
    for i, entry in enumerate(entries) if entry[2:] == ("the cells below break",)])
def test_the_nearly_right_answers_would_break_the_cells_below(prefix, exercise_id, fn):
    """LATER meets the edges the real cells meet: used directly, as if its check had passed, each nearly right answer
    marked so makes the cells below print NaN, raise, or print a wrong verdict or value."""
    module = NOTEBOOKS[prefix]
    printed = check_table.run_later(module.LATER[exercise_id], fn)
    assert check_table.broken(printed) or printed != _reference_printed(module, exercise_id), printed


@pytest.mark.parametrize("prefix", sorted(NOTEBOOKS))
def test_the_cells_below_run_cleanly_with_every_right_answer(prefix):
    """A right answer never makes the cells below print NaN, raise or print a False verdict (such as a tolerance
    tighter than float32 allows)."""
    module = NOTEBOOKS[prefix]
    for exercise_id, answers in module.CORRECT.items():
        for fn in answers:
            printed = check_table.run_later(module.LATER[exercise_id], fn)
            assert not check_table.broken(printed), (exercise_id, printed)
