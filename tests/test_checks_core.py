"""The machinery every check shares (course_utils/checks: registry, compare, inputs, judging, diagnosis, formatting):
verdicts, hints, the hand-back, the registry, and saying how values are off."""

import dataclasses
import json
import math
import re

import check_table
import pytest
import torch
import torch.nn.functional as F

from course_tools import notebooks
from course_utils import checks, forward, samplers, training
from course_utils.checks import EXERCISES, VERDICT_PATTERN, Case, evaluate
from course_utils.checks.compare import Mismatch, compare
from course_utils.checks.diagnosis import describe_values


def diagnose(got, expected, items=()):
    return describe_values(got, expected, items).text

pytestmark = pytest.mark.instructor  # needs the instructor's files: the student edition leaves it out


def _raise(*args, **kwargs):
    raise NotImplementedError


def verdict(check, fn, capsys):
    returned = check(fn)
    return returned, capsys.readouterr().out


@pytest.mark.parametrize(
    "wrong, expected_words",
    [
        (_raise, "not implemented yet"),
        (lambda x, s, n: None, "forget the `return`"),
        (lambda x, s, n: x + s**2 * n, "not squared"),
        (lambda x, s, n: x * s * n, "not multiplied"),
        (lambda x, s, n: (x + s * n)[:, 0], "wrong shape"),
        (lambda x, s, n: (x + s * n).double(), "wrong dtype"),
        (lambda x, s, n: x.add_(s * n), "in place"),
        (lambda x, s, n: (x + s * n) * float("nan"), "NaN"),
        (lambda x, s, n: 1 / 0, "ZeroDivisionError"),
        (lambda x, s, n: [1, 2], "expected a torch.Tensor"),
        (lambda x, s, n: (x + s * n).sum().item(), "Python float"),
    ],
)
def test_add_noise_mistakes_get_specific_messages_and_the_reference_is_handed_back(wrong, expected_words, capsys):
    returned, out = verdict(checks.check_add_noise, wrong, capsys)
    assert re.match(VERDICT_PATTERN, out.splitlines()[0]) and out.startswith("✗ NOT YET [nb01.add_noise]:")
    assert expected_words in out
    assert "reference" in out and returned(torch.zeros(1), 1.0, torch.ones(1)).item() == 1.0


def test_a_passing_answer_is_used_and_announced(capsys):
    def mine(x, sigma, noise):
        return x + sigma * noise

    returned, out = verdict(checks.check_add_noise, mine, capsys)
    assert out.startswith("✓ PASSED [nb01.add_noise]: 3 cases agree with the reference.")
    assert returned is mine and "use your `add_noise`" in out


def test_checking_the_reference_stand_in_again_does_not_pass(capsys):
    stand_in, _ = verdict(checks.check_add_noise, _raise, capsys)
    again, out = verdict(checks.check_add_noise, stand_in, capsys)
    assert "NOT YET" in out and "course's reference" in out and again is stand_in


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_every_check_says_not_implemented_and_hands_back_the_reference(exercise_id):
    out, returned = check_table.run_check(exercise_id, _raise)
    assert out.startswith(f"✗ NOT YET [{exercise_id}]: not implemented yet") and "course's reference" in out
    assert returned is not _raise and getattr(returned, "__course_reference__", False)


def test_a_non_function_is_explained():
    result = evaluate(EXERCISES["nb01.add_noise"], 3, [])
    assert not result.passed and "expected a function, got an int" in result.message


# ---------------------------------------------------------------------------------------------------------------
# The solution notebooks' own answers pass, and the verdicts stored in them are exactly what the checks print now.


def _exercise_cells():
    """(exercise, the solution's exercise cell source, the stored output of its check cell), per exercise."""
    out = []
    for exercise in EXERCISES.values():
        cells = json.loads((notebooks.SOLUTIONS_DIR / f"{exercise.notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
        i = next(i for i, c in enumerate(cells) if f"def {exercise.function}(" in "".join(c["source"])
                 and "### BEGIN SOLUTION" in "".join(c["source"]))
        check_cell = cells[i + 1]
        assert f"{exercise.function} = {exercise.check}({exercise.function})" in "".join(check_cell["source"])
        stored = "".join("".join(o.get("text", "")) for o in check_cell["outputs"] if o.get("name") == "stdout")
        out.append((exercise, "".join(cells[i]["source"]), stored))
    return out


def test_every_solution_passes_its_check_and_the_stored_verdict_is_what_the_check_prints(capsys):
    namespaces = {}
    for exercise, source, stored in _exercise_cells():
        # The names a solution takes from the notebook: torch, math, F, and course_utils' q_sample and training_loss; an earlier
        # exercise of the same notebook (ddim_step calls ddim_sigma) is the solution's own.
        namespace = namespaces.setdefault(exercise.notebook, {"torch": torch, "math": math, "F": F, "q_sample": forward.q_sample,
                                                              "training_loss": training.training_loss})
        exec(source, namespace)  # noqa: S102 - the course's own solution code
        fn = namespace[exercise.function]
        returned = getattr(checks, exercise.check)(fn)
        printed = capsys.readouterr().out
        assert printed.startswith(f"✓ PASSED [{exercise.id}]"), printed
        assert returned is fn
        assert printed == stored, f"{exercise.notebook}: the stored verdict of {exercise.id} is stale"


# ---------------------------------------------------------------------------------------------------------------
# The registry


def test_every_exercise_is_registered_with_its_check_and_at_least_five_known_mistakes():
    assert EXERCISES  # every notebook's count is checked by tests/test_notebook_tools.py (2 to 5 exercises)
    for exercise in EXERCISES.values():
        assert exercise.check in checks.__all__ and callable(getattr(checks, exercise.check)), exercise.id
        assert exercise.difficulty in {"easy", "medium", "hard"} and exercise.practises
        assert len(exercise.mistakes) >= 5, exercise.id
        assert len({m.name for m in exercise.mistakes}) == len(exercise.mistakes), exercise.id


@pytest.mark.parametrize("exercise_id", list(EXERCISES))
def test_every_registered_mistake_submitted_as_an_answer_fails_with_its_own_hint(exercise_id):
    exercise = EXERCISES[exercise_id]
    for mistake in exercise.mistakes:
        result = evaluate(exercise, mistake.wrong)
        assert not result.passed, (exercise_id, mistake.name)
        if result.source == "error":  # the mistake raises on some case (e.g. eigh on a NaN matrix): a known error's hint
            assert result.hint in [e.hint for e in exercise.errors], (exercise_id, mistake.name, result.hint)
            continue
        assert result.hint == mistake.hint, (exercise_id, mistake.name, result.hint)


# ---------------------------------------------------------------------------------------------------------------
# Types the cells below need


def test_a_python_float_is_not_a_tensor_and_a_tensor_is_not_a_python_float(capsys):
    _, out = verdict(checks.check_ddim_sigma, lambda at, ap, eta: float(samplers.ddim_sigma(at, ap, eta)), capsys)
    assert "your result is a Python float, expected a torch.Tensor (0-d)" in out and "torch.stack" in out
    _, out = verdict(checks.check_variance_after_steps, lambda v, b, n: torch.tensor(forward.variance_after_steps(v, b, n)), capsys)
    assert "your result is a torch.Tensor, expected a Python float" in out and "`float(...)`" in out


def test_a_tensor_where_a_python_int_is_expected_is_named_as_such():
    """An exercise whose reference returns a whole number asks for a Python int, not a float."""
    exercise = dataclasses.replace(EXERCISES["nb01.variance_after_steps"], type_hint="")  # the default hint
    with pytest.raises(Mismatch) as caught:
        compare(torch.tensor(3), 3, 1e-5, 0.0, exercise)
    assert "expected a Python int" in caught.value.message and "`int(...)`" in caught.value.hint
    with pytest.raises(Mismatch) as caught:
        compare("3", 3, 1e-5, 0.0, exercise)
    assert "expected a Python int" in caught.value.message


def test_a_complex_result_is_named_without_recommending_item(capsys):
    _, out = verdict(checks.check_ddim_sigma, lambda at, ap, eta: samplers.ddim_sigma(at, ap, eta).to(torch.complex64), capsys)
    assert "complex tensor" in out and "`.real`" in out and "use `.item()`" not in out


def test_a_list_is_accepted_where_a_tuple_of_values_is_expected(capsys):
    _, out = verdict(checks.check_gaussian_stats, lambda f: list(schedules_free_stats(f)), capsys)
    assert out.startswith("✓ PASSED")


def schedules_free_stats(f):
    f = f.double()
    return f.mean(0), torch.cov(f.T)


def test_an_input_changed_inside_a_schedule_is_caught(capsys):
    def q_sample_that_edits_the_schedule(x0, t, s, noise):
        abar = s.alphas_cumprod
        abar[0] = 0.5  # an in-place edit of the caller's schedule
        return abar[t].sqrt().view(-1, 1, 1, 1) * x0 + (1 - abar[t]).sqrt().view(-1, 1, 1, 1) * noise

    _, out = verdict(checks.check_q_sample, q_sample_that_edits_the_schedule, capsys)
    assert "changed one of its input tensors in place" in out


def test_a_check_leaves_the_random_stream_as_it_was():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    evaluate(EXERCISES["nb02.q_sample"], lambda x0, t, s, n: x0 + torch.randn_like(x0))
    assert torch.equal(torch.rand(2), expected)


def test_a_check_never_raises_even_when_the_answer_is_odd():
    class Weird:
        def __eq__(self, other):
            raise RuntimeError("no comparing me")

    for answer in (lambda *a: Weird(), lambda *a: (i for i in range(3)), lambda *a: torch.zeros(4, 1, 28, 28, dtype=torch.long)):
        for exercise in EXERCISES.values():
            result = evaluate(exercise, answer)
            assert not result.passed and result.message


# ---------------------------------------------------------------------------------------------------------------
# Saying how the values are off, without giving them


@pytest.mark.parametrize(
    "got, words",
    [
        (lambda e: -e, "opposite sign"),
        (lambda e: 2.0 * e, "too large by a constant factor of about 2"),
        (lambda e: 0.5 * e, "too small by a constant factor: about 0.5 times"),
        (lambda e: e + 0.3, "off by the same amount everywhere: about +0.3"),
        (lambda e: e * (1 + 1e-3), "close to the expected ones"),
    ],
)
def test_diagnose_names_the_direction_and_size_of_a_simple_error(got, words):
    e = torch.randn(4, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    note = diagnose(got(e), e)
    assert words in note
    assert f"{e[0, 0, 0, 0].item():.3g}" not in note  # never the expected values


def test_diagnose_says_for_which_steps_a_batch_is_right_and_how_the_factor_changes():
    e = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    g = e * torch.tensor([1.0, 2.0, 30.0]).view(-1, 1, 1, 1)
    note = diagnose(g, e, ("t = 0", "t = 500", "t = 999"))
    assert "right for t = 0 but off for t = 500, t = 999" in note
    assert "×1 at t = 0, ×2 at t = 500, ×30 at t = 999" in note


def test_diagnose_finds_a_series_shifted_by_one_and_where_a_series_goes_wrong():
    e = torch.cumprod(1 - torch.linspace(0.05, 0.5, 10), 0)
    assert "your entry t holds the expected entry t − 1" in diagnose(torch.cat([torch.ones(1), e[:-1]]), e)
    drifting = e.clone()
    drifting[6:] += 0.1
    assert "right up to index 5 and off from index 6 on" in diagnose(drifting, e)


def test_diagnose_of_single_numbers_gives_a_ratio():
    assert "too large: about 3 times" in diagnose(3.0, 1.0)
    assert "opposite sign" in diagnose(-1.0, 1.0)
    assert "too small: about 0.5 times" in diagnose(torch.tensor(0.5), torch.tensor(1.0))


def test_an_unknown_mistake_gets_the_diagnosis_and_the_exercises_method_hint():
    exercise = EXERCISES["nb02.q_sample"]
    result = evaluate(exercise, lambda x0, t, s, n: 1.7 * forward.q_sample(x0, t, s, n))
    assert result.source == "diagnosis" and "factor of about 1.7" in result.hint and exercise.generic_hint in result.hint


def test_an_unknown_mistake_in_one_term_is_told_which_input_that_term_holds():
    def ddpm_step(x_t, t, eps, schedule, z):  # the fresh noise scaled by σ of the wrong step: not a registered mistake
        mean = (x_t - schedule.betas[t] / schedule.sqrt_one_minus_alphas_cumprod[t] * eps) / schedule.alphas[t].sqrt()
        return mean + schedule.posterior_variance[max(t - 1, 0)].sqrt() * z

    result = evaluate(EXERCISES["nb05.ddpm_step"], ddpm_step)
    assert result.source == "diagnosis" and "Only the term with `z` is off" in result.hint


def test_an_unknown_mistake_with_a_mask_is_told_on_which_side_it_is_right():
    result = evaluate(EXERCISES["nb07.inpaint_merge"], lambda x_generated, x_known_t, mask: mask * x_known_t * 2
                      + (1 - mask) * x_generated)
    assert "right where `mask` = 0 but off where `mask` = 1" in result.hint


def test_an_answer_returning_an_input_is_told_which_one():
    result = evaluate(EXERCISES["nb04.ema_step"], lambda average, value, decay: value.clone())
    assert result.source == "mistake"  # a registered mistake comes first ...
    result = evaluate(EXERCISES["nb02.snr_db"], lambda alphas_cumprod: alphas_cumprod)
    assert result.source == "behaviour" and "the argument `alphas_cumprod` itself" in result.hint  # ... else this


def test_custom_cases_and_tolerances_can_be_given():
    exercise = EXERCISES["nb01.add_noise"]
    cases = [Case((torch.ones(2), 0.5, torch.ones(2)), label="tiny")]
    assert evaluate(exercise, lambda x, s, n: x + s * n + 1e-3, cases, atol=1e-2).passed
    assert not evaluate(exercise, lambda x, s, n: x + s * n + 1e-3, cases).passed


# ---------------------------------------------------------------------------------------------------------------
# Hints and the formula


def test_the_formula_finder_sees_through_spelling():
    assert check_table.formula_fragments_in("Hint: use √(1 − β) · x and add …", ["√(1-β)x"]) == ["√(1-β)x"]
    assert check_table.formula_fragments_in("sqrt(1 - beta) * x_prev", ["√(1−β)·x_prev"])
    assert not check_table.formula_fragments_in("scale the image by a root", ["√(1-β)x"])


# ---------------------------------------------------------------------------------------------------------------
# In-place detection (course_utils/checks/inputs.py), shared with the grader


def test_input_tensors_reach_into_dataclasses_modules_lists_and_dicts():
    from course_utils import schedules
    from course_utils.checks.inputs import input_tensors

    schedule = schedules.make_schedule("linear", 1000)
    net = torch.nn.Linear(2, 3)
    found = input_tensors((torch.zeros(2), schedule, [torch.ones(1), {"a": torch.ones(2)}]), {"model": net})
    assert {"0", "1.alphas_cumprod", "2[0]", "2[1]['a']", "model.weight", "model.bias"} <= set(found)
    assert found["1.alphas_cumprod"] is schedule.alphas_cumprod
    assert list(input_tensors((schedule,), {})) == list(input_tensors((schedule,), {}))  # same order every time


def test_changed_inputs_names_what_changed_and_nothing_else():
    from course_utils.checks.inputs import changed_inputs, snapshot_inputs

    x, nested = torch.tensor([1.0, float("nan")]), [torch.zeros(3)]
    args = (x, {"inner": nested})
    before = snapshot_inputs(args, {})
    assert changed_inputs(before, args, {}) == {}  # NaN equals NaN
    nested[0][1] = 5.0
    assert list(changed_inputs(before, args, {})) == ["1['inner'][0]"]
    nested.pop()
    assert changed_inputs(before, args, {}) == {"1['inner'][0]": None}


def test_a_change_to_a_models_weights_or_a_list_item_is_caught_and_named(capsys):
    def loss_that_trains(model, x0, t, noise, schedule):
        x_t = forward.q_sample(x0, t, schedule, noise=noise)
        loss = F.mse_loss(model(x_t, t), noise)
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1  # an optimizer step inside the loss
        return loss

    _, out = verdict(checks.check_eps_prediction_loss, loss_that_trains, capsys)
    assert "changed one of its input tensors in place (`model." in out


# ---------------------------------------------------------------------------------------------------------------
# Ids equal function names; old ids and old check names keep working


def test_every_id_is_the_notebook_and_the_function_and_every_check_is_named_after_it():
    for exercise in EXERCISES.values():
        assert exercise.id == f"nb{exercise.notebook[:2]}.{exercise.function}"
        assert exercise.check == f"check_{exercise.function}" and callable(getattr(checks, exercise.check))


@pytest.mark.parametrize("old_id, old_check, new_id", [
    ("nb02.alphas_cumprod", "check_alphas_cumprod", "nb02.alphas_cumprod_from_betas"),
    ("nb03.x0_from_eps", "check_x0_from_eps", "nb03.predict_x0_from_eps"),
    ("nb03.timestep_embedding", "check_timestep_embedding", "nb03.sinusoidal_timestep_embedding"),
])
def test_old_ids_and_old_check_names_still_work(old_id, old_check, new_id, capsys):
    assert old_id in EXERCISES and EXERCISES[old_id].id == new_id and EXERCISES.canonical(old_id) == new_id
    assert old_id not in list(EXERCISES) and len(list(EXERCISES.values())) == len(EXERCISES)
    getattr(checks, old_check)(EXERCISES[new_id].reference)
    assert capsys.readouterr().out.startswith(f"✓ PASSED [{new_id}]")


# ---------------------------------------------------------------------------------------------------------------
# The stand-in lends the reference's results, not its code


def test_the_stand_in_computes_the_reference_but_shows_no_code(capsys):
    import inspect

    from IPython.core import oinspect

    stand_in, _ = verdict(checks.check_ema_step, _raise, capsys)
    a, v = torch.randn(3), torch.randn(3)
    assert torch.equal(stand_in(a, v, 0.9), EXERCISES["nb04.ema_step"].reference(a, v, 0.9))
    for shown in (inspect.getsource(stand_in), oinspect.getsource(stand_in), stand_in.__doc__):
        assert "The course's reference: write your own" in shown
        assert "decay" not in shown and "average" not in shown  # nothing of the reference's code or names
    assert stand_in.__name__ == "ema_step" and not hasattr(stand_in, "__wrapped__")


# ---------------------------------------------------------------------------------------------------------------
# Diagnosis returns kinds; the hint is chosen by kind, never by its wording


@pytest.mark.parametrize("got, kind", [
    (lambda e: e * (1 + 1e-3), "close"), (lambda e: -e, "sign"), (lambda e: 2.0 * e, "factor"),
    (lambda e: e + 0.3, "offset"), (lambda e: e.clamp(-0.5, 0.5), "clipped"), (lambda e: e**2, "norm"),
])
def test_describe_values_returns_a_kind_with_its_text(got, kind):
    e = torch.randn(4, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    assert describe_values(got(e), e).kind == kind


def test_a_factor_close_to_one_is_said_as_a_percentage_not_as_one_over_one():
    note = diagnose(torch.ones(10) * 0.99, torch.ones(10) + torch.linspace(0, 1e-9, 10))
    assert "1.0% too small" in note and "(1/1)" not in note
    assert "1.0% too small" in diagnose(0.99, 1.0)
