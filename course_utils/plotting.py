"""Pictures the notebooks show: image grids, histograms, loss curves, animations.

Images are model-range tensors in [-1, 1] (see data.py); these functions map
them to [0, 1] for display and never change the caller's tensors.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .validation import float_images, whole_number


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


def plot_pixel_histogram(tensors: dict[str, torch.Tensor], bins: int = 60, ax=None, range_=(-4, 4)):
    """Overlaid histograms of pixel values, one per labelled tensor."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    for label, t in tensors.items():
        ax.hist(t.detach().flatten().cpu().numpy(), bins=bins, range=range_, density=True, alpha=0.5, label=label)
    ax.set_xlabel("pixel value")
    ax.set_ylabel("density")
    ax.legend()
    return ax


def plot_loss(losses: list[float], window: int = 50, ax=None, title: str = "training loss"):
    """Raw per-step loss (faint) and its moving average."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    steps = torch.arange(1, len(losses) + 1)
    values = torch.tensor(losses)
    ax.plot(steps, values, alpha=0.25, label="per step")
    if len(losses) >= window:
        smooth = values.unfold(0, window, 1).mean(1)
        ax.plot(steps[window - 1 :], smooth, label=f"mean of {window}")
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


def animate_frames(frames: list[torch.Tensor], titles: list[str] | None = None, nrow: int = 8, interval: int = 120,
                   size: float = 0.9):
    """Animate a list of image batches (e.g. a sampling trajectory) as inline HTML (jshtml, no ffmpeg).

    Returns an ``IPython.display.HTML`` object: a picture with ▶ (play), step and speed buttons under it.
    ``titles`` (one per frame) are written above the images, in a band sized for the longest one.
    Keep it small: a few dozen frames of at most 16 images stay well under 1 MB.
    """
    from IPython.display import HTML
    from matplotlib import animation

    if not frames:
        raise ValueError("animate_frames needs at least one frame")
    if titles is not None and len(titles) != len(frames):
        raise ValueError(f"animate_frames needs one title per frame: got {len(frames)} frames and {len(titles)} titles")
    grids = [image_grid(f, nrow) for f in frames]
    fig, _, im, title = _animation_figure(grids[0], titles, nrow, size)
    title.set_text(titles[0] if titles else "")

    def update(i):
        im.set_data(grids[i].numpy())
        if titles:
            title.set_text(titles[i])
        return (im, title)

    anim = animation.FuncAnimation(fig, update, frames=len(grids), interval=interval, blit=False)
    html = HTML(anim.to_jshtml(default_mode="once"))
    plt.close(fig)
    return html
