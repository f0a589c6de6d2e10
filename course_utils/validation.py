"""Checking what a caller passes in, in one place: each check either returns the value (converted where that
is safe) or raises a ``ValueError`` whose one line names the argument, says what it should be and how to fix it.

    whole_number(steps, "steps", low=1)                    a Python int in [low, high] (bool is not a number)
    real_number(eta, "eta", low=0)                         a finite int or float in [low, high]
    check_labels(labels, n, num_classes=10)                (n,) whole class numbers, as a long tensor
    float_images(x, "noise")                               a float32 tensor; other float dtypes are converted
    course_range(images, "samples")                        refuses [0, 255] and [0, 1] images: the course uses [-1, 1]
    weights_are_finite(model, "the model")                 names NaN weights as weights
    readable(path, "the real-digit statistics", load)      a file that cannot be read is named in the error

The course's images are float tensors in [-1, 1] (see data.py): -1 is the black background, +1 white ink.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch


def whole_number(value, name: str, *, low: int | None = None, high: int | None = None, why: str = "",
                 bounds: str | None = None) -> int:
    """``value`` if it is a whole number (a Python int, not a bool) in [low, high], else a clear ValueError
    (``bounds`` words the range in it, e.g. "from 1 to T=1000")."""
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low) or (
            high is not None and value > high):
        bounds = bounds or (f"from {low} to {high}" if low is not None and high is not None else
                            f">= {low}" if low is not None else f"<= {high}" if high is not None else "")
        raise ValueError(f"{name} must be a whole number {bounds}{why}, got {value!r}".replace("  ", " "))
    return value


def whole_numbers(values, name: str, *, count: int | None = None, low: int = 1, example: str = "") -> tuple:
    """``values`` if it is a tuple of ``count`` whole numbers >= ``low`` (e.g. a network's channel counts)."""
    if not isinstance(values, tuple) or not values or (count is not None and len(values) != count):
        what = f"{count} whole numbers" if count else "a tuple of whole numbers"
        raise ValueError(f"{name} must be {what}{', e.g. ' + example if example else ''}, got {values!r}")
    for i, value in enumerate(values):
        whole_number(value, f"{name}[{i}]", low=low)
    return values


def real_number(value, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
                why: str = "") -> float:
    """``value`` as a float if it is a finite number (int or float, not a bool) in [low, high] (or (low, high]
    with ``low_open``), else a clear ValueError."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (low is None or (value > low if low_open else value >= low)) and (high is None or value <= high)
    if not ok:
        bounds = [f"{'>' if low_open else '>='} {low:g}" if low is not None else "", f"<= {high:g}" if high is not None else ""]
        bounds = " and ".join(b for b in bounds if b)
        raise ValueError(f"{name} must be a finite number{' ' + bounds if bounds else ''}{why}, got {value!r}")
    return float(value)


def check_labels(labels, num_images: int, num_classes: int | None = 10, *, null_label: bool = False, hint: str = "",
                 device: torch.device | str | None = None) -> torch.Tensor:
    """``labels`` as a (num_images,) long tensor of classes 0 … num_classes-1 (and num_classes, the null label,
    when ``null_label``; any class >= 0 when ``num_classes`` is None), on ``device`` if given; a clear ValueError
    otherwise. ``hint`` is added to a range error."""
    if not isinstance(labels, torch.Tensor):
        if not isinstance(labels, (list, tuple, range)) and type(labels).__module__ != "numpy":
            raise ValueError(f"labels must be a tensor of {num_images} whole class numbers (shape ({num_images},)), "
                             f"got {type(labels).__name__}")
        labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"labels must be whole class numbers (an integer tensor), got dtype {labels.dtype}")
    if labels.shape != (num_images,):
        raise ValueError(f"labels must have shape ({num_images},), one per image, got {tuple(labels.shape)}")
    top = None if num_classes is None else num_classes if null_label else num_classes - 1
    if labels.numel() and (int(labels.min()) < 0 or (top is not None and int(labels.max()) > top)):
        bad = sorted({int(v) for v in labels.tolist() if not 0 <= v <= (top if top is not None else v)})
        what = ("classes >= 0" if num_classes is None else "digits 0-9" if num_classes == 10
                else f"classes 0-{num_classes - 1}")
        null = f" (or {num_classes}, the null label)" if null_label else ""
        raise ValueError(f"labels must be {what}{null}, got {bad}{'. ' + hint if hint else ''}")
    return labels.to(device=device, dtype=torch.long) if device is not None else labels.long()


def float_images(x, name: str, *, dtype: torch.dtype = torch.float32, dims: int | None = 4,
                 shape: str = "(N, C, H, W)") -> torch.Tensor:
    """``x`` as a ``dtype`` tensor: a tensor of another float dtype (float64, half, bfloat16) is converted;
    a list or array, an integer (e.g. uint8) or a bool tensor is refused with the fix in the message.
    ``dims``: the number of dimensions it must have (None: any); ``shape`` names the expected shape."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape {shape}, got {type(x).__name__}"
                         + (": convert it with torch.as_tensor(...).float()" if isinstance(x, (list, tuple)) or
                            type(x).__module__ == "numpy" else ""))
    if not x.dtype.is_floating_point:
        fix = ("uint8 pixels in [0, 255] become the course's [-1, 1] with x.float() / 127.5 - 1"
               if x.dtype == torch.uint8 else "convert it with .float()")
        raise ValueError(f"{name} must be a float tensor, got dtype {x.dtype}: {fix}")
    if dims is not None and x.dim() != dims:
        raise ValueError(f"{name} must have shape {shape} ({dims} dimensions), got {tuple(x.shape)}")
    return x if x.dtype == dtype else x.to(dtype)


def check_finite(x: torch.Tensor, name: str, fix: str = "") -> torch.Tensor:
    """``x`` unless it holds NaN or infinity."""
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contain NaN or infinity{': ' + fix if fix else ''}")
    return x


BEYOND_RANGE = 10.0  # no course image, nor Gaussian noise, comes near this; pixels in [0, 255] do


def course_range(images: torch.Tensor, name: str) -> torch.Tensor:
    """``images`` unless they look like pixels in [0, 255] or [0, 1]: the course's images are in [-1, 1].

    [0, 255]: a value beyond ±10 (clipped samples stay in [-1, 1], and even pure Gaussian noise stays within
    about ±6). [0, 1]: no value below 0 but some above it (a real or generated digit has a background near -1).
    """
    if images.numel() == 0:
        return images
    low, high = float(images.min()), float(images.max())
    if high > BEYOND_RANGE or low < -BEYOND_RANGE:
        raise ValueError(f"{name} reach {high if high > BEYOND_RANGE else low:g}, far outside the course's [-1, 1]: "
                         "pixels in [0, 255] become [-1, 1] with x / 127.5 - 1 (a sampler that made them diverged)")
    if low >= 0 and high > 0:
        raise ValueError(f"{name} have no pixel below 0 (they lie in [0, {high:.3g}]): images in [0, 1] become the "
                         "course's [-1, 1] (background -1) with 2 * x - 1")
    return images


def course_images(images, name: str = "images", *, dims: int | None = 4) -> torch.Tensor:
    """Clean images for the course: a float32 tensor (other float dtypes converted), finite, in [-1, 1]."""
    images = float_images(images, name, dims=dims)
    check_finite(images, name)
    return course_range(images, name)


MAX_SEED = 2**63 - 1  # torch seeds are 64-bit; a run adds the epoch to its seed, so keep one bit spare


def seed_number(seed, name: str = "seed") -> int:
    """``seed`` if it is a whole number from 0 to :data:`MAX_SEED`."""
    return whole_number(seed, name, low=0, high=MAX_SEED)


def check_training_numbers(config) -> None:
    """The numbers every training config has, where it has them: epochs, batch size, learning rate, seed."""
    for name in ("epochs", "batch_size", "train_steps", "num_timesteps"):
        if hasattr(config, name):
            whole_number(getattr(config, name), f"{type(config).__name__}.{name}", low=1)
    if hasattr(config, "lr"):
        real_number(config.lr, f"{type(config).__name__}.lr", low=0, low_open=True)
    if hasattr(config, "seed"):
        seed_number(config.seed, f"{type(config).__name__}.seed")


def weights_are_finite(model, what: str = "the model") -> None:
    """A clear error naming the weights when any parameter or buffer of ``model`` is NaN or infinite."""
    inner = getattr(model, "model", model)  # see through guidance wrappers
    tensors = list(inner.parameters()) + list(inner.buffers()) if isinstance(inner, torch.nn.Module) else []
    bad = [t for t in tensors if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise ValueError(f"the weights of {what} contain NaN or infinity ({len(bad)} tensor(s)), e.g. from a training "
                         "run that diverged: load them again, or retrain with a lower learning rate")


def finite_output(model, output: torch.Tensor, what: str = "the model") -> torch.Tensor:
    """``output`` of ``model`` unless it holds NaN or infinity; then say whether the weights are to blame."""
    if not bool(torch.isfinite(output).all()):
        weights_are_finite(model, what)
        raise ValueError(f"{what} returned NaN or infinity for finite inputs: its weights are finite, so look at what "
                         "was given to it (the timesteps, labels or a wrapper)")
    return output


def readable(path: str | Path, what: str, load: Callable[[Path], object], fix: str):
    """``load(path)``, or a ValueError that names the file, says what it holds and how to get it back (``fix``)."""
    path = Path(path)
    try:
        return load(path)
    except Exception as err:
        raise ValueError(f"could not read {what} from {path} ({type(err).__name__}: {err}); it may be truncated or "
                         f"not what it should be: {fix}") from None
