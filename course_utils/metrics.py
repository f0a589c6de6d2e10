"""Measuring generated digits with the course's reference classifier.

* **digit-FID**: the Fréchet distance between Gaussians fitted to classifier
  features of the samples and of N real test images (Heusel et al. 2017, but
  in the reference classifier's feature space instead of Inception's, which
  was trained on colour photos and knows nothing about handwriting).
  Always read it beside the **floor**: the same distance between N training
  images and the same N test images. Two real sets are not identical, so a
  perfect generator scores about the floor, not 0.
* **mean confidence**: the average top softmax probability.
* **recognised**: the fraction of samples whose top probability is >= 0.9
  *and* whose features look like a real digit's. A classifier trained only
  on digits is confident about things that are not digits (it calls pure
  noise an "8" with probability 1), so confidence alone would count static
  as a digit, and a single denoising step's grey smudge an "8" too. The second
  condition, :func:`looks_real`, asks that two summaries of the sample lie where
  real digits' do: its feature vector (what digit it makes) and its stroke
  texture (each channel's mean and spread over the image in the classifier's last
  conv maps: which stroke patterns appear, and how much, wherever they are).
  "Where real digits lie" is a Gaussian fitted to 5,000 training digits and the
  Mahalanobis distance that 99.8% of 5,000 other training digits stay within. The statistics ship in data/ beside the classifier
  (``python -m course_utils.metrics --write-real-stats`` makes them); a classifier
  of your own gets its own, computed once (about half a minute on a CPU).
* **class accuracy** (conditional samples): the fraction classified as the
  label they were generated for.
* **class histogram**: how many samples fall in each class (mode coverage).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .data import SPLITS, data_dir, load_mnist, subset_indices

RECOGNISED_THRESHOLD = 0.9
TYPICAL_QUANTILE = 0.998  # share of held-out real digits inside each typical region of looks_real
REAL_STATS_FILE = "classifier_real_stats.pt"  # in data/, beside classifier.pt
REAL_STATS_SIZE = 5000  # training digits a typical region is fitted to, and as many others that set its size


MIN_IMAGES = 2  # a covariance (and so every digit-FID) needs at least two samples


def check_images(images: torch.Tensor, what: str = "samples", minimum: int = MIN_IMAGES) -> None:
    """A clear error unless ``images`` is a finite (N, 1, 28, 28) batch with N >= ``minimum``."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"{what} must be a batch of digits of shape (N, 1, 28, 28), got {shape}")
    if len(images) < minimum:
        raise ValueError(
            f"{what}: got {len(images)} image(s), need at least {minimum}"
            + (": a covariance needs two, and the metrics fit one to the features" if minimum == MIN_IMAGES else "")
        )
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{what} contain NaN or infinity: the sampler diverged, or the noise was not finite")


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (d,) and covariance (d, d) of features (N, d), in float64; N must be at least 2."""
    if features.dim() != 2 or features.shape[0] < MIN_IMAGES:
        raise ValueError(
            f"gaussian_stats needs features of shape (N, d) with N >= 2 (a covariance needs two samples), "
            f"got {tuple(features.shape)}"
        )
    f = features.double()
    mu = f.mean(0)
    centered = f - mu
    return mu, centered.T @ centered / (f.shape[0] - 1)


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix, via its eigendecomposition."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2), covariances (d, d):

        d^2 = ||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 (cov1^{1/2} cov2 cov1^{1/2})^{1/2})
    """
    mu1, mu2, cov1, cov2 = (a.double() for a in (mu1, mu2, cov1, cov2))
    root1 = _sqrtm_psd(cov1)
    cross = _sqrtm_psd(root1 @ cov2 @ root1)
    value = (mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * torch.trace(cross)
    return float(value.clamp(min=0))


@torch.no_grad()
def _read(classifier, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass of the reference classifier: (features (N, d), probabilities (N, 10), texture (N, 2 c1)), on the CPU."""
    check_images(images, "images to classify", minimum=1)
    classifier.eval()
    device = next(classifier.parameters()).device
    feats, probs, textures = [], [], []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(device).clamp(-1, 1)
        f = classifier.features(x)
        feats.append(f.cpu())
        probs.append(classifier.head(f).softmax(1).cpu())
        textures.append(classifier.texture(x).cpu())
    return torch.cat(feats), torch.cat(probs), torch.cat(textures)


def classify(classifier, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the reference classifier: returns (features (N, d), probabilities (N, 10)) on the CPU."""
    features, probs, _ = _read(classifier, images, batch_size)
    return features, probs


def real_reference(n: int, split: str = "test", seed: int = 0) -> torch.Tensor:
    """A fixed set of ``n`` real images (the same for the same n, split and seed)."""
    check_reference_size(n, split)
    images, _ = load_mnist(split)
    return images[subset_indices(len(images), n, seed)]


def check_reference_size(n: int, split: str = "test") -> None:
    """A clear error unless ``n`` real images can be drawn from ``split`` (at least 1, at most the split's size)."""
    size = SPLITS[split][2] if split in SPLITS else None
    if isinstance(n, bool) or not isinstance(n, int) or n < 1 or (size is not None and n > size):
        raise ValueError(f"the MNIST {split} split has {size} images: ask for a whole number from 1 to {size}, got {n!r}")


def digit_fid(classifier, samples: torch.Tensor, reference: torch.Tensor | None = None) -> float:
    """digit-FID of ``samples`` against ``reference`` (default: the same number of real test images); N >= 2."""
    check_images(samples, "samples")
    if reference is not None:
        check_images(reference, "reference")
        if len(reference) != len(samples):
            raise ValueError(f"use the same number of images on both sides ({len(samples)} vs {len(reference)})")
    reference = real_reference(len(samples)) if reference is None else reference
    f_s, _ = classify(classifier, samples)
    f_r, _ = classify(classifier, reference)
    return frechet_distance(*gaussian_stats(f_s), *gaussian_stats(f_r))


def fid_floor(classifier, n: int, seed: int = 0) -> float:
    """The real-vs-real floor: digit-FID of ``n`` training images against ``n`` test images (2 <= n <= 10,000)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < MIN_IMAGES:
        raise ValueError(f"fid_floor needs n >= 2 images on each side (a covariance needs two), got {n!r}")
    check_reference_size(n, "test")
    return digit_fid(classifier, real_reference(n, "train", seed), real_reference(n, "test", seed))


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
    features, _, textures = _read(classifier, chosen)
    return RealDigitStats(
        classifier_fingerprint(classifier),
        features=TypicalRegion.fit(features[:n], features[n:]),
        texture=TypicalRegion.fit(textures[:n], textures[n:]),
    )


def real_digit_stats(classifier) -> RealDigitStats:
    """The statistics of ``classifier``: the shipped file when it belongs to this classifier, else fitted once."""
    cached = getattr(classifier, "_course_real_stats", None)
    if cached is not None:
        return cached
    fingerprint = classifier_fingerprint(classifier)
    path = data_dir() / REAL_STATS_FILE
    stats = None
    if path.is_file():
        shipped = RealDigitStats.from_dict(torch.load(path, map_location="cpu", weights_only=True))
        stats = shipped if shipped.fingerprint == fingerprint else None
    if stats is None:
        print(f"Fitting where real digits lie for this classifier ({2 * REAL_STATS_SIZE:,} training digits, "
              "once per classifier: about half a minute on a CPU)...", flush=True)
        stats = fit_real_digit_stats(classifier)
    classifier._course_real_stats = stats
    return stats


def _looks_real(classifier, features: torch.Tensor, textures: torch.Tensor) -> torch.Tensor:
    stats = real_digit_stats(classifier)
    return stats.features.contains(features) & stats.texture.contains(textures)


def looks_real(classifier, images: torch.Tensor) -> torch.Tensor:
    """(N,) bool: do these images (N, 1, 28, 28) look like real digits to the classifier, both in its
    features (the digit they make) and in the texture of their strokes? See the module docstring."""
    features, _, textures = _read(classifier, images)
    return _looks_real(classifier, features, textures)


def write_real_digit_stats(classifier, path: str | Path) -> RealDigitStats:
    """Fit ``classifier``'s statistics and save them to ``path`` (what ``--write-real-stats`` ships)."""
    stats = fit_real_digit_stats(classifier)
    torch.save(stats.to_dict(), path)
    return stats


def class_spread(features: torch.Tensor, labels: torch.Tensor) -> float:
    """Within-class diversity: the root-mean-square distance of features (N, d) from their class's mean
    feature, averaged over the classes present in ``labels`` (N,). Collapsed samples score near 0;
    compare with the same number computed for real digits and their true labels.
    """
    if len(features) == 0 or len(labels) != len(features):
        raise ValueError(f"class_spread needs one label per feature row and at least one, got {len(features)} and {len(labels)}")
    f = features.double()
    spreads = [(f[labels == c] - f[labels == c].mean(0)).pow(2).sum(1).mean().sqrt() for c in labels.unique()]
    return float(torch.stack(spreads).mean())


@dataclass
class SampleReport:
    """The course's scorecard for a batch of samples (see the module docstring)."""

    n: int
    digit_fid: float
    fid_floor: float
    mean_confidence: float
    recognised: float  # fraction with confidence >= RECOGNISED_THRESHOLD whose features look real
    class_accuracy: float | None  # conditional samples only
    class_histogram: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        acc = "" if self.class_accuracy is None else f"class accuracy {100 * self.class_accuracy:.1f}%  "
        return (
            f"N={self.n}  digit-FID {self.digit_fid:.2f} (real-vs-real floor {self.fid_floor:.2f})  "
            f"mean confidence {self.mean_confidence:.3f}  recognised {100 * self.recognised:.1f}%  "
            f"{acc}classes {self.class_histogram}"
        )


def evaluate_samples(
    classifier, samples: torch.Tensor, labels: torch.Tensor | None = None, *, floor: float | None = None
) -> SampleReport:
    """Score ``samples`` (N, 1, 28, 28) with every metric above; ``labels`` (N,) for conditional samples.

    The floor is computed at the same N unless given (it depends only on N). N must be at least 2
    (digit-FID fits a covariance) and at most 10,000 (the real test digits it is compared with).
    """
    check_images(samples, "samples")
    n = len(samples)
    check_reference_size(n, "test")
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape != (n,) or labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(f"labels must be ({n},) whole digits, the ones the samples were made for; "
                             f"got {tuple(labels.shape)} {labels.dtype}")
    feats, probs, textures = _read(classifier, samples)
    ref_feats, _ = classify(classifier, real_reference(n))
    confidence, predicted = probs.max(1)
    return SampleReport(
        n=n,
        digit_fid=frechet_distance(*gaussian_stats(feats), *gaussian_stats(ref_feats)),
        fid_floor=fid_floor(classifier, n) if floor is None else floor,
        mean_confidence=float(confidence.mean()),
        recognised=float(((confidence >= RECOGNISED_THRESHOLD) & _looks_real(classifier, feats, textures)).float().mean()),
        class_accuracy=None if labels is None else float((predicted == labels.cpu()).float().mean()),
        class_histogram=torch.bincount(predicted, minlength=probs.shape[1]).tolist(),
    )


def fid_bootstrap_sd(sample_features: torch.Tensor, reference_features: torch.Tensor, rounds: int = 200,
                     seed: int = 0) -> float:
    """How much digit-FID moves with the draw of the samples: its standard deviation over ``rounds``
    bootstrap resamples (the N sample features drawn with replacement; the reference kept fixed).

    Report it beside a score: two scores closer than a couple of these apart are not told apart by N samples.
    """
    if len(sample_features) < 2:
        raise ValueError("a bootstrap needs at least 2 samples: a covariance needs two")
    generator = torch.Generator().manual_seed(seed)
    reference = gaussian_stats(reference_features)
    n = len(sample_features)
    values = [frechet_distance(*gaussian_stats(sample_features[torch.randint(n, (n,), generator=generator)]), *reference)
              for _ in range(rounds)]
    return float(torch.tensor(values).std())


def floor_spread(classifier, n: int, draws: int = 10) -> tuple[float, float]:
    """Mean and standard deviation of the real-vs-real floor over ``draws`` different draws of n images per side."""
    values = torch.tensor([fid_floor(classifier, n, seed) for seed in range(draws)])
    return float(values.mean()), float(values.std())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.metrics",
                                     description="Write the real-digit statistics that looks_real uses.")
    parser.add_argument("--write-real-stats", action="store_true", required=True,
                        help=f"fit them (about half a minute) and write data/{REAL_STATS_FILE}")
    parser.add_argument("--classifier", type=Path, help="a classifier checkpoint (default: data/classifier.pt)")
    parser.add_argument("--out", type=Path, help=f"where to write them (default: data/{REAL_STATS_FILE})")
    args = parser.parse_args(argv)
    from .pretrained import load_classifier  # pretrained imports this module's neighbours, not this module

    out = args.out or data_dir() / REAL_STATS_FILE
    stats = write_real_digit_stats(load_classifier(args.classifier), out)
    print(f"wrote {out} for classifier {stats.fingerprint}: squared-distance thresholds "
          f"features {stats.features.threshold:.1f}, texture {stats.texture.threshold:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
