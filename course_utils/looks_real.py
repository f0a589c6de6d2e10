"""Does a sample look like a real digit? The second half of the course's "recognised" (see metrics.py).

A classifier trained only on digits is confident about things that are not digits: it calls pure noise an
"8" with probability 1, and a single denoising step's grey smudge an "8" too. So a sample counts as
recognised only if the classifier is confident *and* two summaries of the sample lie where real digits' do:

* its **feature vector** (the classifier's hidden layer: what digit it makes), and
* its **stroke texture** (each channel's mean and spread over the image in the classifier's last conv maps:
  which stroke patterns appear, and how much, wherever they are).

"Where real digits lie" is a :class:`TypicalRegion`: a Gaussian N(μ, Σ) fitted to 5,000 training digits, and the
squared Mahalanobis distance (v - μ)ᵀ Σ⁻¹ (v - μ) that 99.8% of 5,000 other training digits stay within.

The regions belong to one classifier (named by a hash of its weights, :func:`classifier_fingerprint`). The
shipped classifier's ship in data/ beside it, written by

    python -m course_utils.looks_real --write-real-stats

and a classifier of your own gets its own, fitted once (about half a minute on a CPU) and kept in a
:class:`RealStatsCache`, one entry per fingerprint: :data:`REAL_STATS` unless you pass a cache of your own.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import atomic_save
from .data import data_dir, load_mnist, subset_indices
from .features import gaussian_stats, read_digits
from .validation import readable

TYPICAL_QUANTILE = 0.998  # share of held-out real digits inside each typical region
REAL_STATS_FILE = "classifier_real_stats.pt"  # in data/, beside classifier.pt
REAL_STATS_SIZE = 5000  # training digits a typical region is fitted to, and as many others that set its size


@dataclass(frozen=True)
class TypicalRegion:
    """Where real digits' vectors lie: a Gaussian N(mu, precision^-1) fitted to them, and the squared
    Mahalanobis distance (v - mu)^T precision (v - mu) that TYPICAL_QUANTILE of other real digits stay within."""

    mu: torch.Tensor  # (d,) float64
    precision: torch.Tensor  # (d, d) float64, the inverse covariance
    threshold: float

    @classmethod
    def fit(cls, vectors: torch.Tensor, held_out: torch.Tensor, quantile: float = TYPICAL_QUANTILE) -> TypicalRegion:
        mu, cov = gaussian_stats(vectors)
        precision = torch.linalg.inv(cov + 1e-6 * torch.eye(len(mu), dtype=cov.dtype))
        region = cls(mu, precision, 0.0)
        return cls(mu, precision, float(torch.quantile(region.distance2(held_out), quantile)))

    def distance2(self, vectors: torch.Tensor) -> torch.Tensor:
        z = vectors.double() - self.mu
        return ((z @ self.precision) * z).sum(1)

    def contains(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.distance2(vectors) <= self.threshold


@dataclass(frozen=True)
class RealDigitStats:
    """What :func:`looks_real` compares a sample with, for one classifier (named by its fingerprint)."""

    fingerprint: str
    features: TypicalRegion
    texture: TypicalRegion

    def to_dict(self) -> dict:
        return {"fingerprint": self.fingerprint, "quantile": TYPICAL_QUANTILE, "size": REAL_STATS_SIZE,
                **{f"{name}.{key}": getattr(getattr(self, name), key) for name in ("features", "texture")
                   for key in ("mu", "precision", "threshold")}}

    @classmethod
    def from_dict(cls, d: dict) -> RealDigitStats:
        regions = {name: TypicalRegion(d[f"{name}.mu"], d[f"{name}.precision"], float(d[f"{name}.threshold"]))
                   for name in ("features", "texture")}
        return cls(d["fingerprint"], **regions)

    def contains(self, features: torch.Tensor, textures: torch.Tensor) -> torch.Tensor:
        """(N,) bool: which of these vectors lie inside both regions."""
        return self.features.contains(features) & self.texture.contains(textures)


def classifier_fingerprint(classifier) -> str:
    """A short hash of the classifier's weights: the shipped statistics belong to exactly one classifier."""
    digest = hashlib.sha256()
    for name, tensor in classifier.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def fit_real_digit_stats(classifier, n: int = REAL_STATS_SIZE) -> RealDigitStats:
    """Fit both typical regions to n training digits, sized on n other training digits (test digits stay unseen)."""
    images, _ = load_mnist("train")
    chosen = images[subset_indices(len(images), 2 * n, seed=1)]
    features, _, textures = read_digits(classifier, chosen)
    return RealDigitStats(
        classifier_fingerprint(classifier),
        features=TypicalRegion.fit(features[:n], features[n:]),
        texture=TypicalRegion.fit(textures[:n], textures[n:]),
    )


def read_real_digit_stats(path: str | Path) -> RealDigitStats:
    """The statistics saved in ``path`` by :func:`write_real_digit_stats`; an unreadable file is named."""
    return readable(path, "the real-digit statistics", lambda p: RealDigitStats.from_dict(
        torch.load(p, map_location="cpu", weights_only=True)),
        "restore the shipped file (git checkout -- data) or write it again with python -m course_utils.looks_real "
        "--write-real-stats")


class RealStatsCache:
    """The statistics of each classifier seen so far, by fingerprint, so each is read or fitted once.

    A classifier whose weights change (training it further) gets a new fingerprint, so it never meets stale
    statistics. ``clear()`` forgets them all.
    """

    def __init__(self):
        self._stats: dict[str, RealDigitStats] = {}

    def __len__(self) -> int:
        return len(self._stats)

    def clear(self) -> None:
        self._stats.clear()

    def get(self, classifier) -> RealDigitStats:
        """The statistics of ``classifier``: the shipped file when it belongs to this classifier, else fitted once."""
        fingerprint = classifier_fingerprint(classifier)
        if fingerprint not in self._stats:
            path = data_dir() / REAL_STATS_FILE
            shipped = read_real_digit_stats(path) if path.is_file() else None
            if shipped is not None and shipped.fingerprint == fingerprint:
                self._stats[fingerprint] = shipped
            else:
                print(f"Fitting where real digits lie for this classifier ({2 * REAL_STATS_SIZE:,} training digits, "
                      "once per classifier: about half a minute on a CPU)...", flush=True)
                self._stats[fingerprint] = fit_real_digit_stats(classifier)
        return self._stats[fingerprint]


REAL_STATS = RealStatsCache()  # the one every function here uses unless given another


def real_digit_stats(classifier, cache: RealStatsCache = REAL_STATS) -> RealDigitStats:
    """The statistics :func:`looks_real` compares ``classifier``'s readings with (from ``cache``)."""
    return cache.get(classifier)


def looks_real(classifier, images: torch.Tensor, cache: RealStatsCache = REAL_STATS) -> torch.Tensor:
    """(N,) bool: do these images (N, 1, 28, 28) look like real digits to the classifier, both in its
    features (the digit they make) and in the texture of their strokes? See the module docstring."""
    features, _, textures = read_digits(classifier, images)
    return real_digit_stats(classifier, cache).contains(features, textures)


def write_real_digit_stats(classifier, path: str | Path) -> RealDigitStats:
    """Fit ``classifier``'s statistics and save them to ``path`` (what ``--write-real-stats`` ships)."""
    stats = fit_real_digit_stats(classifier)
    atomic_save(stats.to_dict(), path)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.looks_real",
                                     description="Write the real-digit statistics that looks_real uses.")
    parser.add_argument("--write-real-stats", action="store_true", required=True,
                        help=f"fit them (about half a minute) and write data/{REAL_STATS_FILE}")
    parser.add_argument("--classifier", type=Path, help="a classifier checkpoint (default: data/classifier.pt)")
    parser.add_argument("--out", type=Path, help=f"where to write them (default: data/{REAL_STATS_FILE})")
    args = parser.parse_args(argv)
    from .pretrained import load_classifier  # pretrained loads the models; this module only reads them

    out = args.out or data_dir() / REAL_STATS_FILE
    stats = write_real_digit_stats(load_classifier(args.classifier), out)
    print(f"wrote {out} for classifier {stats.fingerprint}: squared-distance thresholds "
          f"features {stats.features.threshold:.1f}, texture {stats.texture.threshold:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
