"""The course's reference MNIST classifier: the judge of generated digits.

A small CNN trained on the MNIST training set by

    python -m course_utils.train --preset classifier --out data/classifier.pt

It is used two ways (see metrics.py): its softmax says which digit a sample
looks like and how sure it is, and its ``feature_dim``-dimensional hidden layer
is the feature space for digit-FID.

Shapes: images (B, 1, 28, 28) in [-1, 1] -> logits (B, 10); features (B, feature_dim).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoints import save_checkpoint
from .env import progress


@dataclass(frozen=True)
class ClassifierConfig:
    channels: tuple[int, ...] = (32, 64)
    feature_dim: int = 64  # the layer digit-FID is computed in
    num_classes: int = 10
    dropout: float = 0.2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierConfig":
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        return cls(**d)


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels (padding with background), for augmentation."""
    b = x.shape[0]
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator).tolist()
    size = x.shape[-1]
    return torch.stack([padded[i, :, dy[i] : dy[i] + size, dx[i] : dx[i] + size] for i in range(b)])


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(images), batch_size):
        logits = model(images[i : i + batch_size].to(device))
        correct += (logits.argmax(1).cpu() == labels[i : i + batch_size]).sum().item()
    return correct / len(images)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    config: ClassifierConfig | None = None,
    epochs: int = 4,
    batch_size: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> DigitClassifier:
    """Train :class:`DigitClassifier` with Adam, a one-cycle learning rate and random 2-pixel shifts."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = DigitClassifier(config).to(device)
    steps_per_epoch = len(images) // batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    bar = progress(total=epochs * steps_per_epoch, desc="classifier", unit="step")
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            x = random_shift(images[idx], 2, generator).to(device)
            loss = F.cross_entropy(model(x), labels[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            bar.update(1)
    bar.close()
    return model.eval()


def train_classifier_command(out: Path, device="cpu", seed: int | None = None, epochs: int | None = None) -> None:
    """What ``python -m course_utils.train --preset classifier`` runs."""
    from .data import load_mnist

    seed = 0 if seed is None else seed
    epochs = epochs or 4
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    start = time.perf_counter()
    model = train_classifier(x_train, y_train, epochs=epochs, seed=seed, device=device)
    seconds = time.perf_counter() - start
    test_acc = accuracy(model, x_test, y_test)
    save_checkpoint(
        out,
        {
            "kind": "classifier",
            "model_config": model.config.to_dict(),
            "train": {"epochs": epochs, "seed": seed, "train_seconds": round(seconds, 1), "device": str(device),
                      "test_accuracy": test_acc},
            "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        },
    )
    print(f"saved {out}: test accuracy {test_acc:.4f} after {epochs} epochs ({seconds / 60:.1f} min)")
