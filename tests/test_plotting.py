"""course_utils.plotting: text that a figure writes must be visible, not cut off or hidden behind images."""

import matplotlib.pyplot as plt
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
    html = plotting.animate_frames(frames, titles=["a", "b", "c"], nrow=4)
    assert html.data.count("data:image/png") == 3
    with pytest.raises(ValueError, match="one title per frame"):
        plotting.animate_frames(frames, titles=["a", "b"], nrow=4)
    with pytest.raises(ValueError, match="at least one frame"):
        plotting.animate_frames([], nrow=4)
