"""MNIST, offline first.

The course ships the original MNIST files in ``data/mnist/`` (IDX format,
gzip-compressed). :func:`load_mnist` reads them there, checks their sha256
against the list below, and only when a file is missing tries torchvision's
download. If neither works it raises :class:`MNISTDataError`, which names the
file and says what to do.

Images come back as float tensors of shape ``(N, 1, 28, 28)`` scaled to
[-1, 1] (0 = mid grey, -1 = background black, +1 = ink white); labels as
``int64`` of shape ``(N,)``.

Credits: the MNIST database of handwritten digits by Yann LeCun, Corinna
Cortes and Christopher J.C. Burges, CC BY-SA 3.0 (see ``data/mnist/README.md``).
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from pathlib import Path

import torch

DATA_DIR_ENV_VAR = "COURSE_DATA_DIR"

# sha256 of the shipped .gz files (compressed with `gzip -9 -n`; see data/mnist/README.md).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
}
SPLITS = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60_000),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10_000),
}


class MNISTDataError(RuntimeError):
    """MNIST could not be loaded; the message says which file and what to do."""


def data_dir() -> Path:
    """The course's ``data/`` folder.

    Looked up in this order: the ``COURSE_DATA_DIR`` environment variable, the
    ``data/`` folder next to this package (a clone of the course), and
    ``./data`` or ``../data`` from the working directory (a notebook in
    ``notebooks/``).
    """
    env = os.environ.get(DATA_DIR_ENV_VAR)
    if env:
        return Path(env).expanduser()
    candidates = [
        Path(__file__).resolve().parent.parent / "data",
        Path.cwd() / "data",
        Path.cwd().parent / "data",
        Path.cwd().parent.parent / "data",
    ]
    for candidate in candidates:
        if (candidate / "mnist").is_dir():
            return candidate
    return candidates[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _what_to_do(folder: Path) -> str:
    return (
        f"Restore it from the course repository (git checkout -- data/mnist, or download "
        f"the file from the repository's data/mnist/ folder into {folder}), or set "
        f"{DATA_DIR_ENV_VAR} to a folder that holds data/mnist. With internet access, "
        "deleting the file lets course_utils download MNIST through torchvision instead."
    )


def _read_idx(path: Path, expected_dims: int) -> torch.Tensor:
    """Decode one gzip-compressed IDX file into a uint8 tensor."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic >> 8 != 0x08 or (magic & 0xFF) != expected_dims:  # 0x08 = unsigned byte
        raise MNISTDataError(f"{path} is not an MNIST IDX file (magic number {magic:#x}). {_what_to_do(path.parent)}")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(expected_dims)]
    offset = 4 + 4 * expected_dims
    data = torch.frombuffer(bytearray(raw[offset:]), dtype=torch.uint8)
    return data.reshape(dims)


def _download_with_torchvision(split: str, folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Fallback when shipped files are missing: torchvision downloads into ``folder``/torchvision."""
    from torchvision import datasets

    ds = datasets.MNIST(root=str(folder / "torchvision"), train=(split == "train"), download=True)
    return ds.data.clone(), ds.targets.clone()


def _folders_under(root: Path) -> set[Path]:
    """``root`` and every folder inside it (none if ``root`` does not exist)."""
    if not root.is_dir():
        return set()
    return {root} | {p for p in root.rglob("*") if p.is_dir()}


def _remove_new_empty_folders(root: Path, before: set[Path]) -> None:
    """Remove the folders under ``root`` (and ``root``) that were not in ``before`` and are empty, deepest first."""
    for folder in sorted(_folders_under(root) - before, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            pass


@lru_cache(maxsize=4)
def _load_uint8(split: str, folder: str) -> tuple[torch.Tensor, torch.Tensor]:
    folder_path = Path(folder)
    image_name, label_name, count = SPLITS[split]
    missing = [n for n in (image_name, label_name) if not (folder_path / n).exists()]
    if missing:
        download_root = folder_path.parent / "torchvision"
        while not download_root.parent.exists():  # the download may create folders above it too
            download_root = download_root.parent
        before = _folders_under(download_root)
        try:
            images, labels = _download_with_torchvision(split, folder_path.parent)
        except Exception as err:  # no network, no torchvision, a blocked host...
            _remove_new_empty_folders(download_root, before)  # a failed try leaves no empty data/torchvision/...
            raise MNISTDataError(
                f"MNIST file {folder_path / missing[0]} is missing, and downloading it with "
                f"torchvision failed ({type(err).__name__}: {err}). {_what_to_do(folder_path)}"
            ) from None
    else:
        for name in (image_name, label_name):
            if _sha256(folder_path / name) != MNIST_FILES[name]:
                raise MNISTDataError(
                    f"MNIST file {folder_path / name} is corrupt: its sha256 does not match the one "
                    f"in data/mnist/README.md. {_what_to_do(folder_path)}"
                )
        images = _read_idx(folder_path / image_name, 3)
        labels = _read_idx(folder_path / label_name, 1)
    if images.shape != (count, 28, 28) or labels.shape != (count,):
        raise MNISTDataError(
            f"MNIST {split} split has images {tuple(images.shape)} and labels {tuple(labels.shape)}, "
            f"expected ({count}, 28, 28) and ({count},). {_what_to_do(folder_path)}"
        )
    return images, labels


def to_model_range(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 pixels in [0, 255], shape (N, 28, 28) -> float in [-1, 1], shape (N, 1, 28, 28)."""
    return (images_uint8.float() / 127.5 - 1.0).unsqueeze(1)


def load_mnist(split: str = "train", folder: Path | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All images and labels of one split.

    Returns ``images`` (N, 1, 28, 28) float32 in [-1, 1] and ``labels`` (N,) int64,
    with N = 60,000 for ``"train"`` and 10,000 for ``"test"``. The caller gets
    fresh tensors each call; changing them changes nothing here.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = Path(folder) if folder is not None else data_dir() / "mnist"
    images, labels = _load_uint8(split, str(folder.resolve()))
    return to_model_range(images), labels.long().clone()


def subset_indices(n_total: int, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` distinct indices out of ``n_total``, the same for the same seed."""
    if not 0 < n <= n_total:
        raise ValueError(f"n must be between 1 and {n_total}, not {n}")
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(n_total, generator=generator)[:n]


def mnist_subset(split: str = "train", n: int = 1000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A small deterministic subset (same ``n`` and ``seed`` -> same images), for quick runs."""
    images, labels = load_mnist(split)
    idx = subset_indices(len(images), n, seed)
    return images[idx], labels[idx]
