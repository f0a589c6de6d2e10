"""course_utils.plotting: text that a figure writes must be visible, not cut off or hidden behind images."""

import html

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from course_utils import plotting


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(n):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _drawn(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def _inside(inner, outer, tolerance=1.0):
    return (inner.x0 >= outer.x0 - tolerance and inner.y0 >= outer.y0 - tolerance
            and inner.x1 <= outer.x1 + tolerance and inner.y1 <= outer.y1 + tolerance)


def _overlap(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("n, ncol", [(16, 8), (24, 8), (5, 3)])
def test_show_captioned_keeps_every_caption_visible(n, ncol):
    captions = [f"{k % 10}: 0.66\n{(k + 3) % 10}: 0.22" for k in range(n)]  # two lines, as notebook 5's galleries
    fig = plotting.show_captioned(_images(n), captions, ncol=ncol, title="a gallery with two-line captions")
    renderer = _drawn(fig)
    image_boxes = [ax.images[0].get_window_extent(renderer) for ax in fig.axes if ax.images]
    assert len(image_boxes) == n
    texts = [ax.title for ax in fig.axes if ax.images] + [fig._suptitle]
    assert [t.get_text() for t in texts[:-1]] == captions
    for text in texts:
        box = text.get_window_extent(renderer)
        assert _inside(box, fig.bbox), f"{text.get_text()!r} is cut off by the figure's edge"
        hidden = [i for i, image in enumerate(image_boxes) if _overlap(box, image)]
        assert not hidden, f"{text.get_text()!r} runs into image(s) {hidden}"


def test_show_captioned_says_what_is_wrong():
    with pytest.raises(ValueError, match="one caption per image"):
        plotting.show_captioned(_images(3), ["a", "b"])
    with pytest.raises(ValueError, match="at least one image"):
        plotting.show_captioned(_images(0), [])


@pytest.mark.parametrize("nrow, n_images, size", [(6, 12, 0.7), (1, 2, 0.7), (8, 8, 0.9)])
def test_animation_title_fits_above_the_images(nrow, n_images, size):
    titles = ["t = 999: x_t (top) and x̂₀ (bottom)", "a title\nof two lines", "the samples"]
    grid = plotting.image_grid(_images(n_images), nrow)
    fig, ax, image, text = plotting._animation_figure(grid, titles, nrow, size)
    for title in titles:  # the animation swaps the text frame by frame; each one must fit
        text.set_text(title)
        renderer = _drawn(fig)
        box = text.get_window_extent(renderer)
        assert _inside(box, fig.bbox), f"{title!r} is cut off by the figure's edge"
        assert not _overlap(box, image.get_window_extent(renderer)), f"{title!r} covers the images"
    # the images keep their proportions: one inch per `size` of a 28-pixel tile, as before
    width_px = image.get_window_extent(renderer).width
    assert width_px == pytest.approx(size * nrow * fig.dpi, rel=0.02)


def test_animate_frames_makes_one_frame_per_batch_and_checks_titles():
    frames = [_images(4) for _ in range(3)]
    html = plotting.animate_frames(frames, titles=["a", "b", "c"], nrow=4, alt="three frames of four noisy images")
    assert html.data.count("data:image/png") == 3
    with pytest.raises(ValueError, match="one title per frame"):
        plotting.animate_frames(frames, titles=["a", "b"], nrow=4, alt="three frames of four noisy images")
    with pytest.raises(ValueError, match="at least one frame"):
        plotting.animate_frames([], nrow=4, alt="three frames of four noisy images")


# ----------------------------------------------------------------------------- alt text, and figures everyone can read

from course_utils.accessibility import describe_figure, figure_problems, plain_maths, raw_tex  # noqa: E402


def test_figure_output_is_an_image_with_alt_text_that_says_what_it_shows():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], label="loss")
    ax.set(xlabel="training step", ylabel="MSE loss", yscale="log", title="training loss")
    ax.legend()
    data, metadata = plotting.figure_output(fig, "The loss falls from 3 to 1.")
    alt = metadata["alt"]
    assert alt.startswith("The loss falls from 3 to 1.") and "x axis: training step" in alt
    assert "y axis: MSE loss (log scale)" in alt and "legend: loss" in alt and "'training loss'" in alt
    assert data["text/plain"] == alt and data["text/html"].startswith('<img src="data:image/png;base64,')
    assert f'alt="{html.escape(alt)}"' in data["text/html"] and metadata["course_figure"]["problems"] == []


@pytest.mark.parametrize("alt", ["", "a plot", None, 3])
def test_show_refuses_alt_text_that_says_nothing(alt):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="alt text"):
        plotting.show(fig, alt)


def test_plain_maths_and_raw_tex():
    assert plain_maths(r"$\sqrt{\bar\alpha_t}$ and $1 - \bar\alpha_t$") == "√(ᾱ_t) and 1 - ᾱ_t"
    assert plain_maths(r"$x_{T-1}$") == "x_(T-1)"
    assert raw_tex("x_{T-1}") == ["_{"] and raw_tex("E[x_{t-1} | x_t]") == ["_{", "x_t"]
    assert raw_tex(r"$x_{T-1}$ and $\bar\alpha_t$") == [] and raw_tex("variance_after_steps, x0_hat") == []


def test_figure_problems_finds_what_some_readers_cannot_read():
    fig, (ax_lines, ax_image, ax_scatter, ax_bars) = plt.subplots(1, 4, figsize=(12, 3))
    ax_lines.plot([1, 2], label="linear")
    ax_lines.plot([2, 1], label="cosine")  # same style: colour alone tells them apart
    ax_lines.set_title("x_{T-1}")
    ax_image.imshow(np.random.default_rng(0).random((4, 4)), cmap="jet")
    ax_scatter.scatter([1], [1], label="a")
    ax_scatter.scatter([2], [2], label="b")
    ax_bars.hist([[1, 2, 2], [2, 3, 3]], label=["x", "y"])
    problems = figure_problems(fig)
    assert any("raw TeX" in p for p in problems) and any("'jet'" in p for p in problems)
    assert any("lines ['linear', 'cosine'] differ only in colour" in p for p in problems)
    assert any("scatters ['a', 'b']" in p for p in problems) and any("bar series ['x', 'y']" in p for p in problems)


def test_figure_problems_accepts_a_figure_readable_without_colour():
    fig, (ax_lines, ax_image) = plt.subplots(1, 2)
    ax_lines.plot([1, 2], "-", label="linear")
    ax_lines.plot([2, 1], "--", label="cosine")
    ax_lines.set_title(r"$x_{T-1}$ and $\bar\alpha_t$")
    ax_image.imshow(np.random.default_rng(0).random((4, 4)), cmap="cividis")
    fig.tight_layout()
    assert figure_problems(fig) == []


def test_a_caption_pressed_against_the_image_above_is_found():
    fig, axes = plt.subplots(2, 8, figsize=(10, 2.9), squeeze=False)  # as notebook 3's nearest-digit figure was
    for k in range(8):
        plotting.draw_image(axes[0, k], _images(1)[0], ylabel="sample" if k == 0 else None)
        plotting.draw_image(axes[1, k], _images(1)[0], title="distance\n1e-06", fontsize=8,
                            ylabel="nearest\ntraining digit" if k == 0 else None)
    fig.suptitle("each sample beside its nearest training digit")
    fig.tight_layout()
    assert any("touches the image" in p for p in figure_problems(fig))


def test_overlapping_point_labels_are_found():
    fig, ax = plt.subplots()
    ax.scatter([1, 1.02], [1, 1.02])
    ax.set(xlim=(0, 2), ylim=(0, 2))
    ax.annotate("DDIM-20", (1, 1))
    ax.annotate("DDIM-50", (1.02, 1.02))
    assert any("overlap" in p for p in figure_problems(fig))


def test_describe_figure_summarises_many_panels_briefly():
    fig, axes = plt.subplots(2, 5)
    for ax in axes.flat:
        plotting.draw_image(ax, _images(1)[0], title="t = 1")
    text = describe_figure(fig)
    assert text.startswith("10 panels; the first: 't = 1', an image") and len(text) < 200


def test_plot_pixel_histogram_tells_the_sets_apart_without_colour():
    ax = plotting.plot_pixel_histogram({"clean": _images(4), "noisy": _images(4) * 2})
    assert figure_problems(ax.figure) == []
    outlines = [p for p in ax.patches if p.get_label() in ("clean", "noisy")]
    assert len(outlines) == 2 and outlines[0].get_linestyle() != outlines[1].get_linestyle()


def test_label_log_axis_marks_1_2_5():
    fig, ax = plt.subplots()
    ax.plot([5, 10, 20, 50], [1, 2, 3, 4])
    ax.set_xscale("log")
    plotting.label_log_axis(ax, "x")
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert {"5", "10", "20", "50"} <= set(ticks)
    with pytest.raises(ValueError, match="'x' or 'y'"):
        plotting.label_log_axis(ax, "z")


def test_animation_controls_work_offline_and_the_picture_has_alt_text():
    frames = [_images(4) for _ in range(3)]
    page = plotting.animate_frames(frames, titles=["a", "b", "c"], nrow=4, alt="four noisy images that stay noisy")
    html = page.data
    assert "http://" not in html and "https://" not in html, "the player must not load anything from the network"
    assert 'class="fa' not in html and html.count("<svg") == 9  # every button drawn inline
    assert 'alt="four noisy images that stay noisy. An animation of 3 frames' in html
    assert page.metadata["alt"].startswith("four noisy images")
    with pytest.raises(ValueError, match="alt text"):
        plotting.animate_frames(frames, nrow=4)


def test_offline_controls_replace_every_icon_and_name_unknown_ones():
    page = ('<link rel="stylesheet" href="https://cdn.example/fa.css">\n<button><i class="fa fa-play"></i></button>'
            '<button><i class="fa fa-rocket"></i></button>')
    out = plotting.offline_controls(page)
    assert "https://" not in out and "<polygon" in out and "rocket" in out and "<i " not in out


def test_a_shown_figure_carries_its_alt_text_to_the_last_line_of_a_cell():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2])
    shown = plotting.ShownFigure(fig, "a straight line going up")
    data, metadata = shown._repr_mimebundle_()
    assert not plt.fignum_exists(fig.number) and metadata["alt"].startswith("a straight line going up")
