"""The course's two digit classifiers, trained by one loop.

* :class:`DigitClassifier`, the **reference classifier**: the judge of generated digits.
  A small CNN trained on clean MNIST digits by

      python -m course_utils.train --preset classifier --out data/classifier.pt

  It is used two ways (see metrics.py): its softmax says which digit a sample
  looks like and how sure it is, and its ``feature_dim``-dimensional hidden layer
  is the feature space for digit-FID.
* :class:`NoisyDigitClassifier`, p_φ(y | x_t, t), the **noise-aware classifier** that classifier
  guidance needs (notebook 7, :mod:`course_utils.guidance`): trained on digits noised to every
  step t, because the reference classifier only ever saw clean digits.

Shapes: images (B, 1, 28, 28) in [-1, 1] -> logits (B, 10); features (B, feature_dim); t (B,) steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoints import StoredConfig, save_model
from .features import classifier_classes
from .forward import q_sample
from .loop import fit, shuffled_batches
from .model import sinusoidal_timestep_embedding
from .schedules import NoiseSchedule
from .validation import check_labels, check_training_numbers, course_images, real_number, whole_number, whole_numbers


@dataclass(frozen=True)
class ClassifierConfig(StoredConfig):
    channels: tuple[int, ...] = (32, 64)
    feature_dim: int = 64  # the layer digit-FID is computed in
    num_classes: int = 10
    dropout: float = 0.2

    def __post_init__(self):
        whole_numbers(self.channels, "ClassifierConfig.channels", count=2, example="(32, 64)")
        whole_number(self.feature_dim, "ClassifierConfig.feature_dim", low=1)
        whole_number(self.num_classes, "ClassifierConfig.num_classes", low=2)
        real_number(self.dropout, "ClassifierConfig.dropout", low=0, high=1)


class DigitClassifier(nn.Module):
    """Two conv blocks (28 -> 14 -> 7), a ``feature_dim`` ReLU layer, and a linear read-out."""

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = cfg = config or ClassifierConfig()
        c1, c2 = cfg.channels
        self.conv = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.Conv2d(c1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(),
            nn.MaxPool2d(2),  # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.Conv2d(c2, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(),
            nn.MaxPool2d(2),  # (B, c2, 7, 7)
        )
        self.hidden = nn.Sequential(nn.Flatten(), nn.Dropout(cfg.dropout), nn.Linear(c2 * 49, cfg.feature_dim), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(cfg.feature_dim, cfg.num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> (B, feature_dim): the digit-FID feature space."""
        return self.hidden(self.conv(x))

    def texture(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> (B, 2 * channels[-1]): the mean and standard deviation over the image of each
        channel of the last conv block's maps: which stroke patterns appear, and how much, wherever they are.
        Static and one-step smudges differ from real digits here even when ``features`` are fooled."""
        h = self.conv(x)  # (B, c2, 7, 7)
        return torch.cat([h.mean((2, 3)), h.std((2, 3))], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class NoisyDigitClassifier(nn.Module):
    """p_φ(y | x_t, t): a small CNN that reads a *noisy* digit x_t and the step t it was noised to.

    Three 3x3 conv layers (28 -> 14 -> 7 px); the timestep enters each as a per-channel bias,
    from the same sinusoidal embedding the U-Net uses. ``model(x_t, t)`` -> logits (B, 10).
    """

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64), time_embedding_dim: int = 32, num_classes: int = 10):
        super().__init__()
        self.time_embedding_dim = time_embedding_dim
        c1, c2, c3 = channels
        self.time_mlp = nn.Sequential(nn.Linear(time_embedding_dim, 64), nn.SiLU())
        self.convs = nn.ModuleList(
            [nn.Conv2d(1, c1, 3, padding=1), nn.Conv2d(c1, c2, 3, padding=1), nn.Conv2d(c2, c3, 3, padding=1)]
        )
        self.time_bias = nn.ModuleList([nn.Linear(64, c) for c in channels])
        self.norms = nn.ModuleList([nn.GroupNorm(8, c) for c in channels])
        self.head = nn.Linear(c3, num_classes)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=x_t.device)
        if t.dim() == 0:
            t = t.expand(x_t.shape[0])
        emb = self.time_mlp(sinusoidal_timestep_embedding(t, self.time_embedding_dim))  # (B, 64)
        h = x_t
        for i, (conv, bias, norm) in enumerate(zip(self.convs, self.time_bias, self.norms)):
            h = conv(h) + bias(emb)[:, :, None, None]
            h = F.silu(norm(h))
            if i < 2:
                h = F.avg_pool2d(h, 2)  # 28 -> 14 -> 7
        return self.head(h.mean(dim=(2, 3)))  # global average over the 7x7 positions


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels (padding with background), for augmentation."""
    b = x.shape[0]
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator).tolist()
    size = x.shape[-1]
    return torch.stack([padded[i, :, dy[i] : dy[i] + size, dx[i] : dx[i] + size] for i in range(b)])


@torch.no_grad()
def accuracy(classifier: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, noised_to: int | None = None,
             schedule: NoiseSchedule | None = None, seed: int = 0, batch_size: int = 1000) -> float:
    """The fraction of ``images`` (N, 1, 28, 28) that ``classifier`` labels as ``labels`` (N,).

    With ``noised_to=t`` (and the ``schedule``) the images are first noised to step t (noise drawn
    with ``seed``). A :class:`NoisyDigitClassifier` is then told t; a plain classifier (like the
    reference, which never saw noise) only gets the noisy image.
    """
    if noised_to is not None and schedule is None:
        raise ValueError("noised_to needs the schedule the images are noised with: accuracy(..., schedule=schedule)")
    if noised_to is not None:
        whole_number(noised_to, "noised_to", low=0, high=schedule.num_timesteps - 1, why=" (a step t)")
    images = course_images(images, "images")
    labels = check_labels(labels, len(images), classifier_classes(classifier))
    whole_number(batch_size, "batch_size", low=1)
    classifier.eval()
    device = next(classifier.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    correct = 0
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size]
        if noised_to is not None:
            t = torch.full((len(x),), noised_to, dtype=torch.long)
            x = q_sample(x, t, schedule, generator=generator)
        x = x.to(device)
        told_t = isinstance(classifier, NoisyDigitClassifier) and noised_to is not None
        logits = classifier(x, t.to(device)) if told_t else classifier(x)
        correct += int((logits.argmax(1).cpu() == labels[i : i + batch_size]).sum())
    return correct / len(images)


def cross_entropy_loss(model: nn.Module, batch) -> torch.Tensor:
    """The loss both classifiers minimise: cross-entropy of ``model(*inputs)`` against ``labels``, batch = (inputs, labels)."""
    inputs, labels = batch
    return F.cross_entropy(model(*inputs), labels)


def _fit_one_cycle(model: nn.Module, batches, *, steps: int, lr: float, optimizer, desc: str) -> list[float]:
    """Both classifiers' training: :func:`loop.fit` on the cross-entropy, with a one-cycle learning rate up to ``lr``."""
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    return fit(model, lambda batch: cross_entropy_loss(model, batch), batches, steps=steps, optimizer=optimizer,
               scheduler=scheduler, desc=desc)


CLASSIFIER_EPOCHS = 4  # the reference classifier's passes over the training digits (data/classifier.pt)


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Everything that decides the reference classifier's weights, stored in its checkpoint."""

    epochs: int = CLASSIFIER_EPOCHS
    batch_size: int = 128
    lr: float = 2e-3  # Adam, the one-cycle schedule's peak
    seed: int = 0

    def __post_init__(self):
        check_training_numbers(self)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    config: ClassifierConfig | None = None,
    epochs: int = CLASSIFIER_EPOCHS,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> DigitClassifier:
    """Train the reference :class:`DigitClassifier` with Adam and random 2-pixel shifts, ``epochs`` passes."""
    train = ClassifierTrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)  # checks the numbers
    images = course_images(images, "images")
    labels = check_labels(labels, len(images), (config or ClassifierConfig()).num_classes)
    torch.manual_seed(train.seed)
    generator = torch.Generator().manual_seed(train.seed)
    model = DigitClassifier(config).to(device)
    batches = shuffled_batches((images, labels), train.batch_size, generator=generator)
    steps = train.epochs * max(len(images) // train.batch_size, 1)

    def shifted(batch):  # random 2-pixel shifts, drawn with the same generator as the order
        x, y = batch
        return (random_shift(x, 2, generator).to(device),), y.to(device)

    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
    _fit_one_cycle(model, map(shifted, batches), steps=steps, lr=train.lr, optimizer=optimizer, desc="classifier")
    return model.eval()


def train_noisy_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    steps: int = 1500,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[NoisyDigitClassifier, list[float]]:
    """Train :class:`NoisyDigitClassifier` on digits noised to a random step t ~ Uniform{0, ..., T-1}.

    Each step: a batch of (x0, y), t and ε drawn with the seeded generator, x_t = q_sample(x0, t, ε),
    cross-entropy of p_φ(y | x_t, t); AdamW with a one-cycle learning rate. Returns the model
    (eval mode, gradients off) and the per-step losses.
    """
    whole_number(steps, "steps", low=1)
    whole_number(batch_size, "batch_size", low=1)
    real_number(lr, "lr", low=0, low_open=True)
    images = course_images(images, "images")
    labels = check_labels(labels, len(images))
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = NoisyDigitClassifier().to(device)

    def noisy_batches():  # digits drawn with replacement, each noised to its own random step
        while True:
            idx = torch.randint(len(images), (batch_size,), generator=generator)
            t = torch.randint(schedule.num_timesteps, (batch_size,), generator=generator)
            x_t = q_sample(images[idx], t, schedule, generator=generator)
            yield (x_t.to(device), t.to(device)), labels[idx].to(device)

    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    losses = _fit_one_cycle(model, noisy_batches(), steps=steps, lr=lr, optimizer=optimizer, desc="noise-aware classifier")
    return model.eval().requires_grad_(False), losses


def train_classifier_command(out: Path, device="cpu", seed: int | None = None, epochs: int | None = None) -> None:
    """What ``python -m course_utils.train --preset classifier`` runs: train, measure the test accuracy, save."""
    from .data import load_mnist

    train = ClassifierTrainConfig(epochs=epochs or CLASSIFIER_EPOCHS, seed=0 if seed is None else seed)
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    start = time.perf_counter()
    model = train_classifier(x_train, y_train, epochs=train.epochs, seed=train.seed, device=device)
    seconds = time.perf_counter() - start
    test_acc = accuracy(model, x_test, y_test)
    save_model(out, "classifier", model, {"epochs": train.epochs, "seed": train.seed, "train_seconds": round(seconds, 1),
                                          "device": str(device), "test_accuracy": test_acc})
    print(f"saved {out}: test accuracy {test_acc:.4f} after {train.epochs} epochs ({seconds / 60:.1f} min)")
