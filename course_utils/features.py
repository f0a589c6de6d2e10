"""What the reference classifier reads from a batch of digits, and Gaussians fitted to it.

Every measurement of the course (:mod:`course_utils.metrics`, :mod:`course_utils.looks_real`) starts here:

    read_digits(classifier, images) -> features (N, d), probabilities (N, 10), texture (N, 2 c)
    gaussian_stats(features)        -> mean (d,), covariance (d, d)

``features`` is the classifier's hidden layer (digit-FID's feature space), ``texture`` the mean and spread of each
channel of its last conv maps (see ``DigitClassifier.texture``). Images are (N, 1, 28, 28) in [-1, 1].
"""

from __future__ import annotations

import torch

from .validation import check_finite, course_range, finite_output, float_images

MIN_IMAGES = 2  # a covariance (and so every digit-FID) needs at least two samples


def check_images(images, what: str = "samples", minimum: int = MIN_IMAGES) -> torch.Tensor:
    """``images`` as a float32 (N, 1, 28, 28) batch with N >= ``minimum``, finite, in the course's [-1, 1]
    (other float dtypes are converted; uint8 and [0, 255] or [0, 1] images are refused with the fix)."""
    images = float_images(images, what, dims=None)
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"{what} must be a batch of digits of shape (N, 1, 28, 28), got {tuple(images.shape)}")
    if len(images) < minimum:
        raise ValueError(
            f"{what}: got {len(images)} image(s), need at least {minimum}"
            + (": a covariance needs two, and the metrics fit one to the features" if minimum == MIN_IMAGES else "")
        )
    check_finite(images, what, "the sampler diverged, or the noise was not finite")
    return course_range(images, what)


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


def classifier_classes(classifier) -> int:
    """How many classes ``classifier`` tells apart: its config's ``num_classes``, or its last linear layer's outputs."""
    classes = getattr(getattr(classifier, "config", None), "num_classes", None)
    if classes is None and isinstance(classifier, torch.nn.Module):
        linears = [m for m in classifier.modules() if isinstance(m, torch.nn.Linear)]
        classes = linears[-1].out_features if linears else None
    return classes or 10


@torch.no_grad()
def read_digits(classifier, images, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass of the reference classifier: (features (N, d), probabilities (N, classes), texture (N, 2 c)),
    on the CPU. Values beyond [-1, 1] (noise, an unclipped sampler) are clipped to it first."""
    images = check_images(images, "images to classify", minimum=1)
    classifier.eval()
    device = next(classifier.parameters()).device
    feats, probs, textures = [], [], []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(device).clamp(-1, 1)
        f = finite_output(classifier, classifier.features(x), "the classifier")
        feats.append(f.cpu())
        probs.append(classifier.head(f).softmax(1).cpu())
        textures.append(classifier.texture(x).cpu())
    return torch.cat(feats), torch.cat(probs), torch.cat(textures)


def classify(classifier, images: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the reference classifier: returns (features (N, d), probabilities (N, 10)) on the CPU."""
    features, probs, _ = read_digits(classifier, images, batch_size)
    return features, probs
