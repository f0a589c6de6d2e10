"""course_utils.budget's estimate before a long cell: measured costs, the total, and the smaller setting offered."""

import pytest
import torch

from course_utils.budget import ESTIMATE_HEAD, estimate, measure_seconds, seconds_per_network_call
from course_utils.model import TinyUNet, UNetConfig


def test_the_estimate_names_the_knob_and_a_setting_that_fits_in_a_minute():
    text = str(estimate({"DDPM-1000": 100.0, "DDIM rows": 18.0, "scoring": 4.0}, knob="n_compare", value=128,
                        scales={"DDPM-1000", "DDIM rows"}, step=8))
    first, second = text.splitlines()
    assert first == f"{ESTIMATE_HEAD}: about 2.0 min (DDPM-1000 1.7 min, DDIM rows 18 s, scoring 4 s)."
    assert second == "To wait less, set n_compare = 56 at the top of the cell (about 56 s)."


def test_a_short_cell_still_says_what_it_costs_and_which_knob_it_has():
    text = str(estimate({"training": 20.0}, knob="num_steps", value=300))
    assert text == f"{ESTIMATE_HEAD}: about 20 s (training).\nThe knob at the top of the cell: num_steps = 300."


def test_a_knob_that_is_not_a_number_takes_its_smaller_setting_from_the_caller():
    est = estimate({"4 samplers": 120.0}, knob="calls_list", value=[5, 10, 20, 50], smaller=([5, 10, 20], 50.0))
    assert str(est).endswith("set calls_list = [5, 10, 20] at the top of the cell (about 50 s).")


def test_the_smaller_setting_respects_the_minimum():
    est = estimate({"sweep": 600.0}, knob="n_sweep", value=300, step=10, minimum=50)
    assert est.smaller == (50, 100.0)


@pytest.mark.parametrize("bad", [{"x": -1.0}, {"x": float("nan")}, {"x": "3"}, {}])
def test_bad_costs_are_refused_with_the_fix(bad):
    with pytest.raises(ValueError):
        estimate(bad, knob="n", value=10)


def test_the_measurements_are_positive_and_scale_with_the_batch():
    model = TinyUNet(UNetConfig(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4,
                                attention=False)).eval()
    small = seconds_per_network_call(model, 4, repeats=1)
    large = seconds_per_network_call(model, 256, largest_timed_batch=4, repeats=1)
    assert small > 0 and large == pytest.approx(small * 64, rel=1.0)  # timed at 4 images, scaled to 256
    assert measure_seconds(lambda: torch.ones(10).sum(), repeats=3) >= 0
    with pytest.raises(ValueError, match="batch_size"):
        seconds_per_network_call(model, 0)


def test_a_latent_model_is_timed_on_its_own_shape_and_time():
    seen = []

    def latent_model(z, t):
        seen.append((tuple(z.shape), float(t[0])))
        return z

    assert seconds_per_network_call(latent_model, 8, shape=(4, 7, 7), time=0.5, repeats=1) >= 0
    assert set(seen) == {((8, 4, 7, 7), 0.5)}
