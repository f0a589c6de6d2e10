"""One verdict: every registered answer, right or wrong, gets the same verdict, message and hint from the grader as
from the notebook's check; and the course's own solutions pass every hidden case the grader may draw.

Built from the registry: a new exercise, or a new known mistake, is covered with no edit here.
"""

import ast
import inspect
import io
import json

import pytest
import torch

from course_tools import notebooks
from course_tools.grading import harness, hidden, verdicts
from course_utils.checks import EXERCISES, evaluate, input_tensors

pytestmark = [pytest.mark.slow, pytest.mark.instructor]


def _roundtrip(value):
    buffer = io.BytesIO()
    torch.save(value, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)  # what the grader reads off the pipe


def _grader(exercise, fn, cases):
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    calls = _roundtrip(harness.call_cases(fn, cases, 60, validate=exercise.validate, run=exercise.run))
    return verdicts.judge(exercise.id, {"calls": calls, "params": params}, cases)


def _in_place(reference):
    """The reference's answer, after changing every tensor it was given (inside dataclasses and modules too) in place."""
    def answer(*args, **kwargs):
        out = reference(*args, **kwargs)
        with torch.no_grad():
            for tensor in input_tensors(args, kwargs).values():
                if tensor.is_floating_point():
                    tensor.add_(0.5)
        return out
    return answer


def _fresh_noise(reference):
    def answer(*args, **kwargs):
        out = reference(*args, **kwargs)
        return out + 1e-2 * torch.randn_like(out) if isinstance(out, torch.Tensor) and out.is_floating_point() else out
    return answer


def _answers(exercise):
    yield "the reference", exercise.reference
    for mistake in exercise.mistakes:
        yield mistake.name, mistake.wrong
    yield "changes its inputs in place", _in_place(exercise.reference)
    yield "draws fresh noise", _fresh_noise(exercise.reference)
    yield "returns None", lambda *a, **k: None
    yield "raises", lambda *a, **k: {}["missing"]
    yield "not implemented", lambda *a, **k: (_ for _ in ()).throw(NotImplementedError())


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_every_registered_answer_gets_the_same_verdict_from_the_grader_as_from_the_notebook(exercise_id):
    exercise = EXERCISES[exercise_id]
    cases = verdicts.cases_for(exercise_id)
    for name, fn in _answers(exercise):
        notebook = evaluate(exercise, fn, cases)
        grader = _grader(exercise, fn, cases)
        assert (grader.passed, grader.message, grader.hint) == (notebook.passed, notebook.message, notebook.hint), name


def _imports(cells: list[dict]) -> dict:
    """The names the notebook's import statements bind (whatever its solutions use: torch, F, training_loss, ...)."""
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:
            continue
        statements = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        exec(compile(ast.Module(statements, []), "<imports>", "exec"), namespace)  # noqa: S102 - the course's imports
    return namespace


def _solutions():
    """exercise id -> the solution notebook's own function, defined as the notebook defines it, with its imports
    (the registered reference for an exercise whose notebook does not hold it yet)."""
    namespaces, out = {}, {}
    for exercise in EXERCISES.values():
        cells = json.loads((notebooks.SOLUTIONS_DIR / f"{exercise.notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
        source = next(("".join(c["source"]) for c in cells if f"def {exercise.function}(" in "".join(c["source"])
                       and "### BEGIN SOLUTION" in "".join(c["source"])), None)
        if source is None:
            out[exercise.id] = exercise.reference
            continue
        namespace = namespaces.setdefault(exercise.notebook, _imports(cells))
        exec(source, namespace)  # noqa: S102 - the course's own solution code
        out[exercise.id] = namespace[exercise.function]
    return out


@pytest.fixture(scope="module")
def solutions():
    return _solutions()


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_the_solution_passes_every_hidden_case_and_the_known_mistakes_fail_them(exercise_id, solutions):
    exercise = EXERCISES[exercise_id]
    public = verdicts.cases_for(exercise_id)
    # A mistake that is wrong on every one of the notebook's cases must be wrong on drawn ones too; one that is right
    # on some (an edge mistake: 0/0 on an identical pair) is caught by the notebook's own edge case.
    general = [m for m in exercise.mistakes if not any(evaluate(exercise, m.wrong, [c]).passed for c in public)]
    for seed in (0, 1):
        drawn = hidden.draw(exercise_id, seed)
        assert len(drawn) == hidden.PER_EXERCISE, seed
        result = evaluate(exercise, solutions[exercise_id], drawn)
        assert result.passed, (seed, result.message)
        assert [m.name for m in general if evaluate(exercise, m.wrong, drawn).passed] == [], seed
