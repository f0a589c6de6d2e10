"""Hints that once sent students the wrong way (issue #32, item 4), each now targeted: the mistake gets the message
that names it, and nothing in the hint contradicts the verdict line above it."""

import check_table
import torch
import torch.nn.functional as F

from course_utils import forward, schedules
from course_utils.checks import EXERCISES, evaluate

_S = schedules.make_schedule("linear")


def _col(values, t):
    return values[t].view(-1, 1, 1, 1)


def test_the_model_given_t_minus_one_is_named_not_a_rounded_constant():
    def loss(model, x0, t, noise, schedule):
        return F.mse_loss(model(forward.q_sample(x0, t, schedule, noise=noise), t - 1), noise)

    out, _ = check_table.run_check("nb04.eps_prediction_loss", loss)
    assert "no t − 1" in out and "rounded constant" not in out


def test_x0_in_place_of_the_noise_is_named_and_not_said_as_one_over_one():
    def loss(model, x0, t, noise, schedule):  # the x0-for-ε mix-up
        return F.mse_loss(model(forward.q_sample(x0, t, schedule, noise=x0), t), noise)

    out, _ = check_table.run_check("nb04.eps_prediction_loss", loss)
    assert "made from x0 twice" in out and "(1/1)" not in out


def test_a_step_that_does_not_scale_the_image_points_at_no_plot():
    out, _ = check_table.run_check("nb01.noising_step", lambda x, beta, noise: x + beta**0.5 * noise)
    assert "Scale the image down too" in out and "plot" not in out


def test_a_dtype_hint_names_a_float_input_or_none_never_an_x_that_is_not_there():
    out, _ = check_table.run_check("nb03.sinusoidal_timestep_embedding",  # t is an integer tensor: no float input
                                   lambda t, dim: EXERCISES["nb03.sinusoidal_timestep_embedding"].reference(t, dim).double())
    assert "wrong dtype" in out and "float32" in out and "x.dtype" not in out and "`x`" not in out
    out, _ = check_table.run_check("nb02.snr_db", lambda abar: schedules.snr_db(abar.double()))
    assert "dtype=abar.dtype" in out  # the student's own name for the input


def test_a_module_that_is_not_imported_is_named_with_its_import():
    namespace = {"forward": forward}  # no F in the notebook
    exec("def loss(model, x0, t, noise, schedule):\n"  # noqa: S102 - a student's cell
         "    return F.mse_loss(model(forward.q_sample(x0, t, schedule, noise=noise), t), noise)\n", namespace)
    out, _ = check_table.run_check("nb04.eps_prediction_loss", namespace["loss"])
    assert "NameError" in out and "`import torch.nn.functional as F`" in out and "use the arguments" not in out
    namespace = {"torch": torch}
    exec("def ema_step(average, value, decay):\n    return decay * avg + (1 - decay) * value\n", namespace)  # noqa: S102
    out, _ = check_table.run_check("nb04.ema_step", namespace["ema_step"])
    assert "`avg` is neither an argument of your function (`average`, `value`, `decay`)" in out


def test_clipping_to_any_range_is_said_as_clipping():
    def clipped(x_t, t, eps, s):
        return ((x_t - _col(s.sqrt_one_minus_alphas_cumprod, t) * eps) / _col(s.sqrt_alphas_cumprod, t)).clamp(-5, 5)

    result = evaluate(EXERCISES["nb03.predict_x0_from_eps"], clipped)
    assert result.kind == "clipped" and "clips" in result.hint


def test_a_float_conversion_in_posterior_variance_is_not_blamed_on_torch_ones():
    def with_float(betas):
        b = betas.float()
        abar = torch.cumprod(1 - b, 0)
        return b * (1 - torch.cat([torch.ones(1), abar[:-1]])) / (1 - abar)

    out, _ = check_table.run_check("nb05.posterior_variance", with_float)
    assert "wrong dtype" in out and "`.float()`" in out


def test_dividing_only_the_noise_term_is_named_and_the_hint_does_not_contradict_itself():
    out, _ = check_table.run_check("nb03.predict_x0_from_eps", lambda x_t, t, eps, s: x_t - _col(
        s.sqrt_one_minus_alphas_cumprod, t) / _col(s.sqrt_alphas_cumprod, t) * eps)
    assert "noise term only" in out and "check t = 0" not in out.lower()


def test_a_checkpoint_on_a_case_already_right_is_not_given():
    def right_at_the_last_step_only(x, e, a, ap, eta, z):  # an invented mistake: the direction term doubled
        x0 = (x - (1 - a).sqrt() * e) / a.sqrt()
        sigma = EXERCISES["nb06.ddim_sigma"].reference(a, ap, eta)
        return ap.sqrt() * x0 + 2 * (1 - ap - sigma**2).clamp(min=0).sqrt() * e + sigma * z

    out, _ = check_table.run_check("nb06.ddim_step", right_at_the_last_step_only)
    assert "right for: last step" in out and "Check the last step" not in out


def test_every_checkpoint_names_one_of_its_exercises_cases():
    from course_utils.checks import cases_of

    for exercise in EXERCISES.values():
        labels = {case.label for case in cases_of(exercise)}
        assert all(label in labels for label, _ in exercise.checkpoints), exercise.id
