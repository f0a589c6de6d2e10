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
  *and* that look like a real digit (:func:`looks_real`, in :mod:`course_utils.looks_real`). A classifier
  trained only on digits is confident about things that are not digits (it calls pure noise an "8" with
  probability 1), so confidence alone would count static as a digit; the second condition asks that the
  sample's features and stroke texture lie where real digits' do.
* **class accuracy** (conditional samples): the fraction classified as the
  label they were generated for.
* **class histogram**: how many samples fall in each class (mode coverage).

The classifier's reading of a batch (features, probabilities) and Gaussians fitted to features are in
:mod:`course_utils.features`; this module re-exports them (``classify``, ``gaussian_stats``) with the gate's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .data import SPLITS, load_mnist, subset_indices
from .features import MIN_IMAGES, check_images, classifier_classes, classify, gaussian_stats, read_digits
from .looks_real import (
    REAL_STATS_FILE,
    REAL_STATS_SIZE,
    TYPICAL_QUANTILE,
    RealDigitStats,
    classifier_fingerprint,
    looks_real,
    real_digit_stats,
)
from .validation import check_labels, whole_number

RECOGNISED_THRESHOLD = 0.9


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


def real_reference(n: int, split: str = "test", seed: int = 0) -> torch.Tensor:
    """A fixed set of ``n`` real images (the same for the same n, split and seed)."""
    check_reference_size(n, split)
    images, _ = load_mnist(split)
    return images[subset_indices(len(images), n, seed)]


def check_reference_size(n: int, split: str = "test") -> None:
    """A clear error unless ``n`` real images can be drawn from ``split`` (at least 1, at most the split's size)."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    size = SPLITS[split][2]
    whole_number(n, f"the number of real images (the MNIST {split} split has {size})", low=1, high=size)


def digit_fid(classifier, samples: torch.Tensor, reference: torch.Tensor | None = None) -> float:
    """digit-FID of ``samples`` against ``reference`` (default: the same number of real test images); N >= 2."""
    samples = check_images(samples, "samples")
    if reference is not None:
        reference = check_images(reference, "reference")
        if len(reference) != len(samples):
            raise ValueError(f"use the same number of images on both sides ({len(samples)} vs {len(reference)})")
    reference = real_reference(len(samples)) if reference is None else reference
    f_s, _ = classify(classifier, samples)
    f_r, _ = classify(classifier, reference)
    return frechet_distance(*gaussian_stats(f_s), *gaussian_stats(f_r))


def fid_floor(classifier, n: int, seed: int = 0) -> float:
    """The real-vs-real floor: digit-FID of ``n`` training images against ``n`` test images (2 <= n <= 10,000)."""
    whole_number(n, "fid_floor's n (images on each side)", low=MIN_IMAGES, why=": a covariance needs two")
    check_reference_size(n, "test")
    return digit_fid(classifier, real_reference(n, "train", seed), real_reference(n, "test", seed))


def class_spread(features: torch.Tensor, labels: torch.Tensor) -> float:
    """Within-class diversity: the root-mean-square distance of features (N, d) from their class's mean
    feature, averaged over the classes present in ``labels`` (N,). Collapsed samples score near 0;
    compare with the same number computed for real digits and their true labels.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 2 or len(features) == 0:
        raise ValueError(f"class_spread needs features of shape (N, d) with N >= 1, got "
                         f"{tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__}")
    labels = check_labels(labels, len(features), None)
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
    features: torch.Tensor | None = field(default=None, repr=False)  # (N, d): the samples' classifier features, on the CPU

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
    """Score ``samples`` (N, 1, 28, 28) in [-1, 1] with every metric above; ``labels`` (N,) for conditional samples,
    the classes they were made for (checked against the classifier's classes).

    The floor is computed at the same N unless given (it depends only on N). N must be at least 2
    (digit-FID fits a covariance) and at most 10,000 (the real test digits it is compared with).
    The report keeps the samples' features (``report.features``), e.g. for :func:`fid_bootstrap_sd`,
    so nothing needs to classify them again.
    """
    samples = check_images(samples, "samples")
    n = len(samples)
    check_reference_size(n, "test")
    if labels is not None:
        labels = check_labels(labels, n, classifier_classes(classifier), hint="give the classes the samples were made for")
    feats, probs, textures = read_digits(classifier, samples)
    ref_feats, _ = classify(classifier, real_reference(n))
    confidence, predicted = probs.max(1)
    recognised = (confidence >= RECOGNISED_THRESHOLD) & real_digit_stats(classifier).contains(feats, textures)
    return SampleReport(
        n=n,
        digit_fid=frechet_distance(*gaussian_stats(feats), *gaussian_stats(ref_feats)),
        fid_floor=fid_floor(classifier, n) if floor is None else floor,
        mean_confidence=float(confidence.mean()),
        recognised=float(recognised.float().mean()),
        class_accuracy=None if labels is None else float((predicted == labels).float().mean()),
        class_histogram=torch.bincount(predicted, minlength=probs.shape[1]).tolist(),
        features=feats,
    )


def fid_bootstrap_sd(sample_features: torch.Tensor, reference_features: torch.Tensor, rounds: int = 200,
                     seed: int = 0) -> float:
    """How much digit-FID moves with the draw of the samples: its standard deviation over ``rounds``
    bootstrap resamples (the N sample features drawn with replacement; the reference kept fixed).

    Report it beside a score: two scores closer than a couple of these apart are not told apart by N samples.
    """
    if len(sample_features) < 2:
        raise ValueError("a bootstrap needs at least 2 samples: a covariance needs two")
    whole_number(rounds, "rounds", low=2, why=" (a standard deviation needs two)")
    generator = torch.Generator().manual_seed(seed)
    reference = gaussian_stats(reference_features)
    n = len(sample_features)
    values = [frechet_distance(*gaussian_stats(sample_features[torch.randint(n, (n,), generator=generator)]), *reference)
              for _ in range(rounds)]
    return float(torch.tensor(values).std())


def floor_spread(classifier, n: int, draws: int = 10) -> tuple[float, float]:
    """Mean and standard deviation of the real-vs-real floor over ``draws`` different draws of n images per side."""
    whole_number(draws, "draws", low=2, why=" (a standard deviation needs two)")
    values = torch.tensor([fid_floor(classifier, n, seed) for seed in range(draws)])
    return float(values.mean()), float(values.std())


__all__ = [
    "RECOGNISED_THRESHOLD", "MIN_IMAGES", "SampleReport", "evaluate_samples", "digit_fid", "fid_floor", "fid_bootstrap_sd",
    "floor_spread", "frechet_distance", "gaussian_stats", "classify", "check_images", "real_reference", "class_spread",
    # the looks-real gate's names, from course_utils.looks_real
    "looks_real", "real_digit_stats", "RealDigitStats", "classifier_fingerprint", "TYPICAL_QUANTILE", "REAL_STATS_FILE",
    "REAL_STATS_SIZE",
]
