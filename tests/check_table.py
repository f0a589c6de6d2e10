"""What every per-notebook check test (tests/test_checks_nbNN.py) asserts about its table of answers.

Each of those modules holds, per exercise of its notebook:

- WRONG: plausible wrong answers written the way a student would, each with words its hint must contain;
- NEARLY_RIGHT (optional): answers right on ordinary inputs and wrong on an edge case (an identical pair, a
  singular covariance, t at an end, float32 rounding), each with its hint's words and, as a third element,
  "the cells below break" when the cells after the check would print NaN, raise or print a wrong verdict with it;
- CORRECT: right answers in several styles, which must pass and be handed back unchanged;
- LATER: what the cells after the check do with the name (called as they call it, on the edges they meet, printing
  what they print), which must run with whatever the check returned, whatever the student wrote;
- FRAGMENTS: the pieces of the formula the exercise asks for, which no hint may contain.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable

from course_utils import checks
from course_utils.checks import EXERCISES, evaluate
from course_utils.checks.diagnosis import COMMON_ERRORS

# A hint that names the mistake: a known mistake or exception, a wrong type/shape/dtype, an input changed in
# place or returned unchanged, noise drawn instead of the one given. Not "diagnosis" or "generic".
TARGETED = {"mistake", "error", "structure", "behaviour"}


def run_check(exercise_id: str, fn: Callable) -> tuple[str, Callable]:
    """Run the exercise's check the way a notebook cell does; return what it printed and what it returned."""
    check = getattr(checks, EXERCISES[exercise_id].check)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        returned = check(fn)
    return out.getvalue(), returned


def normalise(text: str) -> str:
    """Spelling-insensitive form for finding formula fragments: no spaces, no multiplication signs, one minus."""
    text = text.lower()
    for old, new in (("−", "-"), ("–", "-"), ("sqrt", "√"), ("{", ""), ("}", ""), ("`", ""), ("·", ""), ("*", ""),
                     ("×", ""), ("\u2009", ""), (" ", ""), ("\n", ""), ("abar", "ᾱ"), ("alpha", "α"), ("beta", "β"),
                     ("sigma", "σ"), ("theta", "θ"), ("noise", "ε"), ("eps", "ε")):
        text = text.replace(old, new)
    return text


def formula_fragments_in(text: str, fragments: list[str]) -> list[str]:
    return [f for f in fragments if normalise(f) in normalise(text)]


def assert_wrong_answer_is_named(exercise_id: str, fn: Callable, words: str, later: Callable,
                                 fragments: list[str]) -> None:
    out, returned = run_check(exercise_id, fn)
    assert out.startswith(f"✗ NOT YET [{exercise_id}]: "), out
    assert words in out, out
    result = evaluate(EXERCISES[exercise_id], fn)
    assert not result.passed and result.source in TARGETED, (result.source, out)
    assert not formula_fragments_in(out, fragments), out
    assert returned is not fn and getattr(returned, "__course_reference__", False), out
    later(returned)  # the cells below still run: they get the reference


def assert_correct_answer_passes(exercise_id: str, fn: Callable, later: Callable) -> None:
    out, returned = run_check(exercise_id, fn)
    assert out.startswith(f"✓ PASSED [{exercise_id}]"), out
    assert returned is fn
    later(returned)


def assert_no_hint_gives_the_formula(exercise_id: str, fragments: list[str]) -> None:
    assert fragments, f"{exercise_id}: list the formula's fragments"
    hints = EXERCISES[exercise_id].hints() + [e.hint for e in COMMON_ERRORS if isinstance(e.hint, str)]
    for hint in hints:
        assert not formula_fragments_in(hint, fragments), (exercise_id, hint)


def assert_table_is_complete(module_globals: dict, notebook: str) -> None:
    """Every exercise of the notebook has ≥ 5 wrong answers, a correct one, a later use and its fragments."""
    ids = {ex.id for ex in EXERCISES.values() if ex.notebook.startswith(notebook)}
    assert ids
    for table in ("WRONG", "CORRECT", "LATER", "FRAGMENTS"):
        assert set(module_globals[table]) == ids, table
    for exercise_id in ids:
        assert len(module_globals["WRONG"][exercise_id]) >= 5, exercise_id


def cases(table: dict) -> list[tuple]:
    """Flatten {exercise_id: [(fn, words[, note]), ...]} into pytest parameters (exercise_id, fn, words)."""
    return [(exercise_id, *entry[:2]) for exercise_id, entries in table.items() for entry in entries]


def run_later(later: Callable, fn: Callable) -> str:
    """What the cells after the check print when they use ``fn``; an exception they raise becomes the last line."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            later(fn)
        except Exception as err:  # noqa: BLE001 - any exception is a broken cell
            print(f"a cell below raised {type(err).__name__}: {err}")
    return out.getvalue()


def broken(printed: str) -> bool:
    """A NaN, an infinity, an exception or a False verdict in what the cells below printed."""
    return bool(re.search(r"\bnan\b|\binf\b|a cell below raised|: False\b", printed, re.IGNORECASE))


def ids(table: dict) -> list[str]:
    return [f"{exercise_id}-{i}" for exercise_id, entries in table.items() for i in range(len(entries))]
