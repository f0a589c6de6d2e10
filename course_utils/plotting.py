"""Pictures the notebooks show: image grids, histograms, loss curves, animations.

Images are model-range tensors in [-1, 1] (see data.py); these functions map
them to [0, 1] for display and never change the caller's tensors.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch


def to_display(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clipped, on the CPU, detached."""
    return ((images.detach().float().cpu() + 1) / 2).clamp(0, 1)


def image_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> torch.Tensor:
    """Tile (N, 1, H, W) images into one (rows*H', nrow*W') array for ``imshow``."""
    x = to_display(images)
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


def animate_frames(frames: list[torch.Tensor], titles: list[str] | None = None, nrow: int = 8, interval: int = 120,
                   size: float = 0.9):
    """Animate a list of image batches (e.g. a sampling trajectory) as inline HTML (jshtml, no ffmpeg).

    Returns an ``IPython.display.HTML`` object.
    Keep it small: a few dozen frames of at most 16 images stay well under 1 MB.
    """
    from IPython.display import HTML
    from matplotlib import animation

    grids = [image_grid(f, nrow) for f in frames]
    rows = grids[0].shape[0] / grids[0].shape[1] * nrow
    fig, ax = plt.subplots(figsize=(size * nrow, max(size * rows, 1.0)))
    ax.set_axis_off()
    im = _imshow_gray(ax, grids[0])
    title = ax.set_title(titles[0] if titles else "")

    def update(i):
        im.set_data(grids[i].numpy())
        if titles:
            title.set_text(titles[i])
        return (im, title)

    anim = animation.FuncAnimation(fig, update, frames=len(grids), interval=interval, blit=False)
    html = HTML(anim.to_jshtml(default_mode="once"))
    plt.close(fig)
    return html
