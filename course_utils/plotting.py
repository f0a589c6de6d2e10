"""Pictures the notebooks show: image grids, histograms, loss curves, animations.

Images are model-range tensors in [-1, 1] (see data.py); these functions map
them to [0, 1] for display and never change the caller's tensors.

Every figure a notebook shows goes through :func:`show`, with a sentence that says what it shows:

    fig, ax = plt.subplots()
    ax.plot(...)
    show(fig, "The loss falls fast for 50 steps, then slowly.")     # instead of plt.show()

:func:`show` stores the picture with that alt text for screen readers and notes what would make the figure
hard to read (see :mod:`course_utils.accessibility`); :func:`animate_frames` does the same for animations.
"""

from __future__ import annotations

import base64
import html
import re
import struct

import matplotlib.pyplot as plt
import torch

from .accessibility import describe_figure, figure_problems
from .validation import float_images, whole_number

MIN_ALT_WORDS = 4  # "A grid of digits." says too little; say what the reader should see


def _as_figure(fig):
    """A Figure from a Figure, an Axes (its figure), an array of Axes, or None (the current figure)."""
    if fig is None:
        return plt.gcf()
    if hasattr(fig, "savefig"):
        return fig
    if hasattr(fig, "figure") and hasattr(fig, "get_title"):
        return fig.figure
    if hasattr(fig, "flat"):  # a numpy array of Axes, as plt.subplots returns
        return next(iter(fig.flat)).figure
    raise TypeError(f"show() takes a matplotlib Figure or Axes (or nothing, for the current figure), got {type(fig).__name__}")


def alt_text(fig, alt: str) -> str:
    """The full alt text :func:`show` stores: the author's sentence, then what the figure is made of."""
    if not isinstance(alt, str) or len(alt.split()) < MIN_ALT_WORDS:
        raise ValueError(f"show() needs alt text of at least {MIN_ALT_WORDS} words that says what the figure shows "
                         f"(what a reader who cannot see it should learn from it), got {alt!r}")
    sentence = " ".join(alt.split())
    structure = describe_figure(fig)
    return f"{sentence}{'' if sentence.endswith('.') else '.'} {structure}".strip()


def figure_output(fig, alt: str) -> tuple[dict, dict]:
    """The (data, metadata) of the notebook output :func:`show` displays: an HTML ``<img>`` of ``fig`` (a PNG, as
    the inline backend makes it) with its alt text, the alt text as plain text, and the figure's problems."""
    from IPython.core.pylabtools import print_figure

    figure = _as_figure(fig)
    full_alt = alt_text(figure, alt)
    problems = figure_problems(figure)
    png = print_figure(figure, "png", bbox_inches="tight")
    width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR: width and height in pixels
    source = base64.b64encode(png).decode("ascii")
    tag = (f'<img src="data:image/png;base64,{source}" alt="{html.escape(full_alt)}" width="{width}" '
           f'height="{height}" style="max-width: 100%; height: auto;">')
    return {"text/html": tag, "text/plain": full_alt}, {"alt": full_alt, "course_figure": {"problems": problems}}


def show(fig=None, alt: str = "", *, close: bool = True):
    """Show ``fig`` (a Figure or Axes; None: the current figure) in the notebook with ``alt`` as its alt text.

    Use it where you would write ``plt.show()``. The picture is stored as an HTML ``<img>`` whose ``alt`` is
    ``alt`` followed by :func:`course_utils.accessibility.describe_figure`'s summary, so JupyterLab, Colab and
    classic Notebook hand it to a screen reader (the docstring of :mod:`course_utils.accessibility` says why
    HTML, with the sources). The output's metadata also records
    :func:`course_utils.accessibility.figure_problems` (raw TeX, unsafe colormaps, series told apart by colour
    alone, text that touches an image), which the course's tests read. Outside a notebook it falls back to
    ``plt.show()``. The figure is closed afterwards unless ``close=False``.
    """
    figure = _as_figure(fig)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        alt_text(figure, alt)  # the same check of the alt text as in a notebook
        plt.show()
    else:
        from IPython.display import display

        data, metadata = figure_output(figure, alt)
        display(data, raw=True, metadata=metadata)
    if close:
        plt.close(figure)


class ShownFigure:
    """A figure with its alt text, for the last line of a cell: Jupyter shows it as :func:`show` does.

    ``ShownFigure(fig, alt)`` closes ``fig`` (so pyplot does not show it a second time) and keeps it as
    ``.figure``; explorers without widgets return one.
    """

    def __init__(self, fig, alt: str):
        self.figure = _as_figure(fig)
        self.alt = alt_text(self.figure, alt)
        self._alt = alt
        plt.close(self.figure)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return figure_output(self.figure, self._alt)

    def __repr__(self) -> str:
        return self.alt



def to_display(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clipped, on the CPU, detached. (A uint8 or list input is refused with the fix.)"""
    return ((float_images(images, "images to show", dims=None).detach().float().cpu() + 1) / 2).clamp(0, 1)


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """Tile (N, 1, H, W) images into one (rows*H', nrow*W') array for ``imshow``."""
    whole_number(nrow, "nrow", low=1)
    whole_number(padding, "padding", low=0)
    x = to_display(images)
    if x.dim() != 4 or x.shape[1] != 1 or len(x) == 0:
        raise ValueError(f"images to show must be a batch of grey images, shape (N, 1, H, W) with N >= 1, got "
                         f"{tuple(x.shape)}" + ("; add the batch dimension with images[None]" if x.dim() == 3 else ""))
    n, _, h, w = x.shape
    nrow = max(1, min(nrow, n))
    rows = (n + nrow - 1) // nrow
    grid = torch.ones(rows * (h + padding) + padding, nrow * (w + padding) + padding)
    for i in range(n):
        r, c = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        grid[top : top + h, left : left + w] = x[i, 0]
    return grid


def _imshow_gray(ax, pixels: torch.Tensor):
    """The one ``imshow`` call: a (H, W) array of display values in [0, 1], grey, pixels unsmoothed."""
    return ax.imshow(pixels.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")


def draw_image(ax, image: torch.Tensor, title: str | None = None, ylabel: str | None = None, fontsize: float = 9):
    """Draw one image (C, H, W) or (H, W) in [-1, 1] in grey on ``ax``, without ticks.

    The one place a single image panel is drawn; ``ylabel`` names a row of panels (written
    horizontally, left of the image).
    """
    _imshow_gray(ax, to_display(image.reshape(-1, *image.shape[-2:])[0]))
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=fontsize)
    if ylabel is not None:
        ax.set_ylabel(ylabel, rotation=0, ha="right", va="center", fontsize=fontsize)
    return ax


def show_labelled_rows(rows: dict[str, torch.Tensor], n: int = 8, title: str | None = None,
                       size: float = 0.95, label_width: float = 1.6):
    """One row of ``n`` images per entry of ``rows`` ({"row label": (N, 1, H, W) images in [-1, 1]}).

    Returns the figure; the labels are written left of each row.
    """
    fig, axes = plt.subplots(len(rows), 1, figsize=(size * n + label_width, 1.1 * size * len(rows)), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows.items()):
        _imshow_gray(ax, image_grid(images[:n], nrow=n))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def show_images(images: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None, size: float = 1.0):
    """Show a grid of images (N, 1, 28, 28) in [-1, 1]; returns the matplotlib Axes."""
    grid = image_grid(images, nrow)
    if ax is None:
        rows = grid.shape[0] / grid.shape[1] * nrow
        _, ax = plt.subplots(figsize=(size * nrow, max(size * rows, 1.0)))
    _imshow_gray(ax, grid)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def show_row(images: list[torch.Tensor] | torch.Tensor, titles: list[str] | None = None, size: float = 1.6):
    """One image per panel, side by side, each with its own title (e.g. the same digit at several t)."""
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.15), squeeze=False)
    for i, ax in enumerate(axes[0]):
        draw_image(ax, images[i], title=titles[i] if titles else None)
        ax.set_axis_off()
    fig.tight_layout()
    return fig


LINE_STYLES = ["-", "--", ":", "-."]  # one per series, so that series differ by more than their colour


def plot_pixel_histogram(tensors: dict[str, torch.Tensor], bins: int = 60, ax=None, range_=(-4, 4)):
    """Overlaid histograms of pixel values, one per labelled tensor, each an outline in its own line style
    (solid, dashed, dotted, dash-dot) over a light fill, so they can be told apart without colour."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for k, (label, t) in enumerate(tensors.items()):
        values = t.detach().flatten().cpu().numpy()
        color = f"C{k}"
        ax.hist(values, bins=bins, range=range_, density=True, alpha=0.2, color=color)
        ax.hist(values, bins=bins, range=range_, density=True, histtype="step", linewidth=1.6, color=color,
                linestyle=LINE_STYLES[k % len(LINE_STYLES)], label=label)
    ax.set_xlabel("pixel value")
    ax.set_ylabel("density")
    ax.legend()
    return ax


def label_log_axis(ax, axis: str = "x"):
    """Ticks at 1, 2 and 5 times the powers of ten inside a log axis's range, written as plain numbers
    (…, 5, 10, 20, 50, 100, …), so a reader can find 20 calls or 5 seconds. Call it after drawing the data."""
    import math

    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    if axis not in ("x", "y"):
        raise ValueError(f"axis is 'x' or 'y', got {axis!r}")
    low, high = sorted(getattr(ax, f"get_{axis}lim")())
    if low <= 0:
        raise ValueError(f"label_log_axis needs a log axis with positive limits, got {low:g} to {high:g}")
    powers = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    ticks = [m * 10.0**k for k in powers for m in (1, 2, 5) if low <= m * 10.0**k <= high]
    target = getattr(ax, f"{axis}axis")
    target.set_major_locator(FixedLocator(ticks))
    target.set_minor_locator(NullLocator())
    target.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    return ax


def plot_loss(losses: list[float], window: int = 50, ax=None, title: str = "training loss"):
    """Raw per-step loss (faint) and its moving average."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    steps = torch.arange(1, len(losses) + 1)
    values = torch.tensor(losses)
    ax.plot(steps, values, alpha=0.25, linewidth=0.8, label="per step")
    if len(losses) >= window:
        smooth = values.unfold(0, window, 1).mean(1)
        ax.plot(steps[window - 1 :], smooth, linestyle="--", linewidth=2, label=f"mean of {window}")
    ax.set_xlabel("training step")
    ax.set_ylabel("MSE loss")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    return ax


def show_captioned(images: torch.Tensor, captions: list[str], ncol: int = 8, title: str | None = None,
                   size: float = 1.15, fontsize: float = 8):
    """A grid of images (N, 1, H, W) in [-1, 1], each with its own caption above it (e.g. a classifier's
    guesses); returns the figure.

    Each row is given room for its captions (as many lines as the longest one), so a caption never runs
    into the images of the row above it, and the figure is laid out by matplotlib's constrained layout.
    """
    n = len(images)
    if len(captions) != n:
        raise ValueError(f"show_captioned needs one caption per image: got {n} images and {len(captions)} captions")
    if n == 0:
        raise ValueError("show_captioned needs at least one image")
    ncol = max(1, min(ncol, n))
    rows = (n + ncol - 1) // ncol
    lines = max(caption.count("\n") + 1 for caption in captions)
    caption_height = 1.4 * lines * fontsize / 72  # inches: line spacing of about 1.4 font sizes
    title_height = 0.35 if title else 0.0
    fig, axes = plt.subplots(rows, ncol, figsize=(size * ncol, (size + caption_height) * rows + title_height),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, image, caption in zip(axes.flat, images, captions):
        draw_image(ax, image, title=caption, fontsize=fontsize)
    if title:
        fig.suptitle(title)
    return fig


def _animation_figure(first_grid: torch.Tensor, titles: list[str] | None, nrow: int, size: float,
                      fontsize: float = 10):
    """The figure ``animate_frames`` draws into: the image grid, and above it a band tall and wide
    enough for the longest of ``titles``. Returns (fig, ax, image artist, title text)."""
    rows = first_grid.shape[0] / first_grid.shape[1] * nrow
    image_width, image_height = size * nrow, max(size * rows, 1.0)
    titles = [t for t in (titles or []) if t]
    lines = max((t.count("\n") + 1 for t in titles), default=0)
    band = (1.4 * lines * fontsize + 8) / 72 if lines else 0.0  # inches: the title's lines plus a margin
    fig = plt.figure(figsize=(image_width, image_height + band))
    text = fig.text(0.5, 1.0, "", ha="center", va="top", fontsize=fontsize)
    width = image_width
    if titles:  # widen the figure when the longest title is wider than the images
        renderer = fig.canvas.get_renderer()
        for t in titles:
            text.set_text(t)
            width = max(width, text.get_window_extent(renderer).width / fig.dpi + 0.2)
    height = image_height + band
    fig.set_size_inches(width, height)
    text.set_position((0.5, 1 - 4 / 72 / height))  # 4 points below the top edge
    ax = fig.add_axes(((width - image_width) / 2 / width, 0, image_width / width, image_height / height))
    ax.set_axis_off()
    im = _imshow_gray(ax, first_grid)
    return fig, ax, im, text


# The buttons of matplotlib's animation player (jshtml) are Font Awesome icons loaded from a CDN; offline the
# player shows empty buttons. Each is drawn here as an inline SVG (16 x 16, in the button's text colour).
_ICONS = {
    "minus": '<rect x="2" y="7" width="12" height="2"/>',
    "plus": '<rect x="2" y="7" width="12" height="2"/><rect x="7" y="2" width="2" height="12"/>',
    "play": '<polygon points="4,2 14,8 4,14"/>',
    "play fa-flip-horizontal": '<polygon points="12,2 2,8 12,14"/>',
    "pause": '<rect x="3" y="2" width="4" height="12"/><rect x="9" y="2" width="4" height="12"/>',
    "step-forward": '<polygon points="3,2 11,8 3,14"/><rect x="11" y="2" width="2" height="12"/>',
    "step-backward": '<rect x="3" y="2" width="2" height="12"/><polygon points="13,2 5,8 13,14"/>',
    "fast-forward": '<polygon points="1,2 8,8 1,14"/><polygon points="8,2 15,8 8,14"/>',
    "fast-backward": '<polygon points="15,2 8,8 15,14"/><polygon points="8,2 1,8 8,14"/>',
}
_ICON = re.compile(r'<i class="fa fa-([a-z-]+(?: fa-flip-horizontal)?)"></i>')
_REMOTE_STYLESHEET = re.compile(r'<link\b[^>]*href="https?://[^"]*"[^>]*>\s*', re.IGNORECASE)


def offline_controls(page: str) -> str:
    """matplotlib's jshtml player with its CDN stylesheet removed and every icon drawn inline, so that its
    buttons (▶ and the others) show without a network. Unknown icons become their name in words."""

    def icon(match: re.Match) -> str:
        shapes = _ICONS.get(match.group(1))
        if shapes is None:
            return html.escape(match.group(1).replace("-", " "))
        return (f'<svg viewBox="0 0 16 16" width="1em" height="1em" fill="currentColor" aria-hidden="true" '
                f'focusable="false" style="vertical-align: -0.125em">{shapes}</svg>')

    return _ICON.sub(icon, _REMOTE_STYLESHEET.sub("", page))


def animate_frames(frames: list[torch.Tensor], titles: list[str] | None = None, nrow: int = 8, interval: int = 120,
                   size: float = 0.9, *, alt: str = ""):
    """Animate a list of image batches (e.g. a sampling trajectory) as inline HTML (jshtml, no ffmpeg).

    Returns an ``IPython.display.HTML`` object: a picture with ▶ (play), step and speed buttons under it, drawn
    without any download (:func:`offline_controls`). ``titles`` (one per frame) are written above the images, in a
    band sized for the longest one. ``alt`` says what the animation shows (as for :func:`show`); it becomes the
    picture's alt text, followed by the number of frames and the first and last title.
    Keep it small: a few dozen frames of at most 16 images stay well under 1 MB.
    """
    from IPython.display import HTML
    from matplotlib import animation

    if not frames:
        raise ValueError("animate_frames needs at least one frame")
    if titles is not None and len(titles) != len(frames):
        raise ValueError(f"animate_frames needs one title per frame: got {len(frames)} frames and {len(titles)} titles")
    if not isinstance(alt, str) or len(alt.split()) < MIN_ALT_WORDS:
        raise ValueError(f"animate_frames needs alt text of at least {MIN_ALT_WORDS} words that says what the "
                         f"animation shows, got {alt!r}")
    grids = [image_grid(f, nrow) for f in frames]
    fig, _, im, title = _animation_figure(grids[0], titles, nrow, size)
    title.set_text(titles[0] if titles else "")

    def update(i):
        im.set_data(grids[i].numpy())
        if titles:
            title.set_text(titles[i])
        return (im, title)

    sentence = " ".join(alt.split())
    full_alt = f"{sentence}{'' if sentence.endswith('.') else '.'} An animation of {len(frames)} frames"
    full_alt += f", from '{titles[0]}' to '{titles[-1]}'." if titles else "."
    anim = animation.FuncAnimation(fig, update, frames=len(grids), interval=interval, blit=False)
    page = offline_controls(anim.to_jshtml(default_mode="once"))
    page = re.sub(r'<img id="(_anim_img[0-9a-f]*)"', lambda m: f'<img id="{m.group(1)}" alt="{html.escape(full_alt)}"',
                  page)
    plt.close(fig)
    return HTML(page, metadata={"alt": full_alt})
