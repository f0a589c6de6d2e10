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
  as a digit. The second condition, :func:`looks_real`, asks that the
  sample's feature vector be no further (in Mahalanobis distance) from the
  features of real training digits than 99.5% of real test digits are.
  Real test digits score about 98% recognised.
* **class accuracy** (conditional samples): the fraction classified as the
  label they were generated for.
* **class histogram**: how many samples fall in each class (mode coverage).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .data import SPLITS, load_mnist, subset_indices

RECOGNISED_THRESHOLD = 0.9
TYPICAL_QUANTILE = 0.995  # real test digits whose features pass looks_real


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
def classify(classifier, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the reference classifier: returns (features (N, d), probabilities (N, 10)) on the CPU."""
    check_images(images, "images to classify", minimum=1)
    classifier.eval()
    device = next(classifier.parameters()).device
    feats, probs = [], []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(device).clamp(-1, 1)
        f = classifier.features(x)
        feats.append(f.cpu())
        probs.append(classifier.head(f).softmax(1).cpu())
    return torch.cat(feats), torch.cat(probs)


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


@torch.no_grad()
def _real_feature_model(classifier, n: int = 5000) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mean, inverse covariance and distance threshold of real-digit features (cached on the classifier)."""
    cached = getattr(classifier, "_course_real_features", None)
    if cached is not None:
        return cached
    train_feats, _ = classify(classifier, real_reference(n, "train", seed=1))
    mu, cov = gaussian_stats(train_feats)
    precision = torch.linalg.inv(cov + 1e-6 * torch.eye(len(mu), dtype=cov.dtype))
    test_feats, _ = classify(classifier, real_reference(n, "test", seed=1))
    threshold = float(torch.quantile(_mahalanobis2(test_feats, mu, precision), TYPICAL_QUANTILE))
    classifier._course_real_features = (mu, precision, threshold)
    return classifier._course_real_features


def _mahalanobis2(features: torch.Tensor, mu: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    z = features.double() - mu
    return ((z @ precision) * z).sum(1)


def looks_real(classifier, features: torch.Tensor) -> torch.Tensor:
    """(N,) bool: are these classifier features (N, d) within the range of real digits' features?"""
    mu, precision, threshold = _real_feature_model(classifier)
    return _mahalanobis2(features, mu, precision) <= threshold


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
    feats, probs = classify(classifier, samples)
    ref_feats, _ = classify(classifier, real_reference(n))
    confidence, predicted = probs.max(1)
    return SampleReport(
        n=n,
        digit_fid=frechet_distance(*gaussian_stats(feats), *gaussian_stats(ref_feats)),
        fid_floor=fid_floor(classifier, n) if floor is None else floor,
        mean_confidence=float(confidence.mean()),
        recognised=float(((confidence >= RECOGNISED_THRESHOLD) & looks_real(classifier, feats)).float().mean()),
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
