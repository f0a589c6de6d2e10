"""course_utils.widgets: the render callbacks, the static fallback, and building each explorer."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_utils import widgets
from course_utils.model import TinyUNet, UNetConfig
from course_utils.plotting import ShownFigure
from course_utils.schedules import make_schedule

TINY = dict(base_channels=8, channel_mults=(1, 2), time_embedding_dim=16, groups=4, attention=False)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def digit():
    # A synthetic "1": a bright bar on a dark background, in [-1, 1] (no MNIST needed).
    x0 = -torch.ones(1, 1, 28, 28)
    x0[..., 4:24, 12:16] = 1.0
    return x0


@pytest.fixture(scope="module")
def schedule():
    return make_schedule("linear")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TinyUNet(UNetConfig(**TINY)).eval()


@pytest.fixture(scope="module")
def conditional_model():
    torch.manual_seed(0)
    return TinyUNet(UNetConfig(num_classes=10, **TINY)).eval()


@pytest.fixture(scope="module")
def noise():
    return torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def _pixels(fig) -> list[np.ndarray]:
    """The image data of every panel of a figure."""
    return [np.asarray(ax.get_images()[0].get_array()) for ax in fig.axes]


# ----------------------------------------------------------------------------- render_forward


def test_render_forward_has_one_titled_panel_per_schedule(digit, schedule):
    fig = widgets.render_forward(digit, 300, ("linear", "cosine"))
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 2
    assert titles[0].startswith("linear, t = 300") and titles[1].startswith("cosine, t = 300")
    abar = float(schedule.alphas_cumprod[300])
    assert f"$\\bar\\alpha_t$ = {abar:.3g}" in titles[0] and "dB" in titles[0]  # maths that renders


def test_render_forward_changes_with_t_and_uses_the_same_noise(digit):
    early, late = _pixels(widgets.render_forward(digit, 10)), _pixels(widgets.render_forward(digit, 900))
    assert not np.allclose(early[0], late[0]) and not np.allclose(early[1], late[1])
    # Same t, same seed: the same picture. At t = T-1 both schedules are (almost) only the shared noise.
    again = _pixels(widgets.render_forward(digit, 10))
    assert np.array_equal(early[0], again[0])
    last = _pixels(widgets.render_forward(digit, 999))
    assert np.abs(last[0] - last[1]).max() < 0.02


def test_render_forward_accepts_schedule_objects_and_a_dict(digit, schedule):
    cosine = make_schedule("cosine")
    fig = widgets.render_forward(digit[0, 0], 5, {"lin": schedule, "cos": cosine})
    assert [ax.get_title().split(",")[0] for ax in fig.axes] == ["lin", "cos"]
    assert len(widgets.render_forward(digit, 5, [cosine]).axes) == 1
    with pytest.raises(ValueError):
        widgets.render_forward(digit, 5, [schedule, make_schedule("cosine", 100)])


# ----------------------------------------------------------------------------- render_ddim / render_guidance


def test_render_ddim_title_and_change_with_steps_and_eta(model, schedule, noise):
    one = widgets.render_ddim(model, schedule, noise, num_steps=1, eta=0.0)
    assert len(one.axes) == 1 and one.axes[0].get_title().startswith("DDIM, 1 steps, η = 0.00")
    three = widgets.render_ddim(model, schedule, noise, num_steps=3, eta=0.0)
    noisy = widgets.render_ddim(model, schedule, noise, num_steps=3, eta=1.0)
    assert not np.allclose(_pixels(one)[0], _pixels(three)[0])
    assert not np.allclose(_pixels(three)[0], _pixels(noisy)[0])
    assert np.array_equal(_pixels(three)[0], _pixels(widgets.render_ddim(model, schedule, noise, 3, 0.0))[0])


def test_render_guidance_title_and_change_with_digit_and_scale(conditional_model, schedule, noise):
    base = widgets.render_guidance(conditional_model, schedule, noise, digit=3, guidance_scale=1.0, num_steps=2)
    assert len(base.axes) == 1
    assert base.axes[0].get_title() == "digit 3, guidance scale w = 1.0 (no guidance)"
    other_digit = widgets.render_guidance(conditional_model, schedule, noise, digit=7, guidance_scale=1.0, num_steps=2)
    stronger = widgets.render_guidance(conditional_model, schedule, noise, digit=3, guidance_scale=6.0, num_steps=2)
    assert not np.allclose(_pixels(base)[0], _pixels(other_digit)[0])
    assert not np.allclose(_pixels(base)[0], _pixels(stronger)[0])


def test_guidance_needs_a_conditional_model(model, schedule, noise):
    with pytest.raises(ValueError, match="class-conditional"):
        widgets.render_guidance(model, schedule, noise, num_steps=1)


# ----------------------------------------------------------------------------- static fallback


def test_widgets_are_off_outside_a_kernel_and_with_the_variable(monkeypatch):
    monkeypatch.delenv(widgets.NO_WIDGETS_ENV_VAR, raising=False)
    assert "not a Jupyter kernel" in widgets.why_no_widgets()  # pytest is not a Jupyter kernel
    monkeypatch.setenv(widgets.NO_WIDGETS_ENV_VAR, "1")
    assert widgets.why_no_widgets() == f"{widgets.NO_WIDGETS_ENV_VAR} is set"


def test_missing_ipywidgets_means_static(monkeypatch):
    import sys

    monkeypatch.delenv(widgets.NO_WIDGETS_ENV_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` raise ImportError
    assert "ipywidgets is not installed" in widgets.why_no_widgets()


def test_static_fallback_prints_a_note_and_returns_one_figure(monkeypatch, capsys, digit, model, conditional_model,
                                                             schedule, noise):
    monkeypatch.setenv(widgets.NO_WIDGETS_ENV_VAR, "1")
    for shown in (
        widgets.forward_process_explorer(digit, t=123),
        widgets.ddim_explorer(model, schedule, noise, num_steps=2),
        widgets.guidance_explorer(conditional_model, schedule, noise, digit=5, guidance_scale=2.0, num_steps=2),
    ):
        assert isinstance(shown, ShownFigure) and isinstance(shown.figure, plt.Figure)
        fig = shown.figure
        assert not plt.fignum_exists(fig.number)  # closed: a notebook shows it once, not twice
        data, metadata = shown._repr_mimebundle_()  # shown with its alt text, as course_utils.plotting.show does
        assert 'alt="' in data["text/html"] and metadata["alt"] == data["text/plain"] == shown.alt
    out = capsys.readouterr().out
    assert out.count("No interactive widget: COURSE_NO_WIDGETS is set") == 3
    assert fig.axes[0].get_title().startswith("digit 5, guidance scale w = 2.0")


# ----------------------------------------------------------------------------- the explorers with ipywidgets


def _controls(box):
    """The controls of an explorer: VBox([HBox(controls), Output])."""
    ipywidgets = pytest.importorskip("ipywidgets")
    row, out = box.children
    assert isinstance(row, ipywidgets.HBox) and isinstance(out, ipywidgets.Output)
    return list(row.children)


def test_forward_explorer_slider_redraws(monkeypatch, digit):
    ipywidgets = pytest.importorskip("ipywidgets")
    drawn = []
    real = widgets.render_forward
    monkeypatch.setattr(widgets, "render_forward", lambda image, t, *a, **k: drawn.append(t) or real(image, t, *a, **k))
    box = widgets.forward_process_explorer(digit, static=False)
    (slider,) = _controls(box)
    assert isinstance(slider, ipywidgets.IntSlider)
    assert (slider.min, slider.max, slider.value) == (0, 999, 500)
    slider.value = 20
    assert drawn == [500, 20]


def test_ddim_explorer_controls(monkeypatch, model, schedule, noise):
    ipywidgets = pytest.importorskip("ipywidgets")
    box = widgets.ddim_explorer(model, schedule, noise, num_steps=2, static=False)
    steps, eta = _controls(box)
    assert isinstance(steps, ipywidgets.IntSlider) and (steps.min, steps.max, steps.value) == (1, 100, 2)
    assert isinstance(eta, ipywidgets.FloatSlider) and (eta.min, eta.max) == (0.0, 1.0)
    assert steps.continuous_update is False and eta.continuous_update is False
    drawn = []
    monkeypatch.setattr(widgets, "render_ddim", lambda *a, **k: drawn.append(a[3:5]) or plt.figure())
    steps.value = 3
    eta.value = 0.5
    assert drawn == [(3, 0.0), (3, 0.5)]


def test_guidance_explorer_controls(monkeypatch, conditional_model, schedule, noise):
    ipywidgets = pytest.importorskip("ipywidgets")
    box = widgets.guidance_explorer(conditional_model, schedule, noise, num_steps=2, static=False)
    digit, scale = _controls(box)
    assert isinstance(digit, ipywidgets.Dropdown) and [v for _, v in digit.options] == list(range(10))
    assert isinstance(scale, ipywidgets.FloatSlider) and (scale.min, scale.max) == (0.0, 8.0)
    assert scale.continuous_update is False
    drawn = []
    monkeypatch.setattr(widgets, "render_guidance", lambda *a, **k: drawn.append(a[3:5]) or plt.figure())
    digit.value = 8
    scale.value = 1.0
    assert drawn == [(8, 3.0), (8, 1.0)]
