"""The four tests every per-notebook table of answers gets (the tables are in tests/test_checks_nbNN.py).

For each notebook's exercises: every wrong answer fails with a hint that names it and never gives the formula,
and the cells below still run; right answers in several styles pass; no hint of the exercise contains the
formula; the table covers every exercise of the notebook with at least five wrong answers.
"""

import importlib

import check_table
import pytest

NOTEBOOKS = {f"0{n}_": importlib.import_module(f"test_checks_nb0{n}") for n in range(1, 9)}


@pytest.mark.parametrize("prefix, exercise_id, fn, words",
                         [pytest.param(prefix, *case, id=case_id) for prefix, m in NOTEBOOKS.items()
                          for case, case_id in zip(check_table.cases(m.WRONG), check_table.ids(m.WRONG))])
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
