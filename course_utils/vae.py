"""A tiny variational autoencoder (VAE, Kingma & Welling 2014): the one-shot generator notebook 8
compares with diffusion.

A VAE has two networks and a prior:

* the **encoder** q_φ(z | x) = N(z; μ_φ(x), diag σ_φ²(x)) reads a digit x and gives a Gaussian over a
  small latent vector z (``latent_dim`` numbers);
* the **decoder** p_θ(x | z) turns a latent back into an image: one Bernoulli probability per pixel,
  sigmoid(logits_θ(z)), for the pixel's ink in [0, 1] (the course's [-1, 1] images are mapped by (x + 1) / 2);
* the **prior** p(z) = N(0, I).

Training maximises the evidence lower bound (ELBO) of each training digit, a bound on log p_θ(x):

    ELBO(x) = E_{q_φ(z|x)}[ log p_θ(x | z) ]  -  KL( q_φ(z | x) ‖ N(0, I) )     (Kingma & Welling 2014, Eq. 3)
              `--- reconstruction: how well ---'    `--- how far the code of x strays ---'
                   the decoder redraws x                 from the prior we will sample

For a diagonal Gaussian q the KL term has a closed form (Kingma & Welling 2014, Appendix B; Eq. 10):

    KL = ½ Σ_j ( μ_j² + σ_j² − 1 − log σ_j² ),

and the reconstruction term is the negative binary cross-entropy of x against the decoder's
probabilities, summed over the 784 pixels, estimated with one z per digit. That z is drawn with the
**reparameterisation trick** (Sec. 2.4): z = μ + σ ⊙ ε with ε ~ N(0, I), so the randomness sits in ε and
the gradient flows through μ and σ into the encoder. The loss minimised is −ELBO, averaged over a batch.

**Generation is one shot:** draw z ~ N(0, I) and run the decoder once (:meth:`TinyVAE.generate`),
against the tens to a thousand network calls of a diffusion sampler.

The shipped model, data/vae_mnist.pt, is made by ``python -m course_utils.recipes vae``
(= ``python -m course_utils.train --preset vae --epochs 10 --out data/vae_mnist.pt``).

Shapes: images (B, 1, 28, 28) in [-1, 1]; μ, log σ², z (B, latent_dim).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoints import StoredConfig, save_model
from .loop import fit, shuffled_batches
from .validation import check_training_numbers, course_images, whole_number, whole_numbers


@dataclass(frozen=True)
class VAEConfig(StoredConfig):
    channels: tuple[int, int] = (32, 48)  # conv channels at 14×14 and 7×7 pixels
    latent_dim: int = 16  # numbers in z

    def __post_init__(self):
        whole_numbers(self.channels, "VAEConfig.channels", count=2, example="(32, 48)")
        whole_number(self.latent_dim, "VAEConfig.latent_dim", low=1)


@dataclass(frozen=True)
class VAETrainConfig:
    """Everything that decides the shipped VAE's weights, stored in its checkpoint."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3  # Adam
    seed: int = 0

    def __post_init__(self):
        check_training_numbers(self)


class TinyVAE(nn.Module):
    """Encoder: two stride-2 4×4 convolutions (28 -> 14 -> 7 px) and a linear layer to (μ, log σ²).
    Decoder: a linear layer to 7×7 feature maps and two stride-2 transposed convolutions back to 28×28 logits.
    """

    def __init__(self, config: VAEConfig | None = None):
        super().__init__()
        self.config = cfg = config or VAEConfig()
        c1, c2 = cfg.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1), nn.SiLU(),  # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.SiLU(),  # (B, c2, 7, 7)
            nn.Flatten(), nn.Linear(c2 * 49, 2 * cfg.latent_dim),  # (B, 2 latent_dim): μ and log σ²
        )
        self.decoder = nn.Sequential(
            nn.Linear(cfg.latent_dim, c2 * 49), nn.SiLU(), nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.SiLU(),  # (B, c1, 14, 14)
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),  # (B, 1, 28, 28) logits
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q_φ(z | x): images (B, 1, 28, 28) in [-1, 1] -> μ (B, latent_dim), log σ² (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """p_θ(x | z): latents (B, latent_dim) -> per-pixel Bernoulli logits (B, 1, 28, 28)."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image, 2 sigmoid(logits) − 1, in the course's [-1, 1] range."""
        return 2 * torch.sigmoid(self.decode_logits(z)) - 1

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n new digits in one decoder pass: z ~ N(0, I) (drawn on the CPU with ``generator``), then decode."""
        whole_number(n, "n (digits to generate)", low=1)
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(device)
        return self.decode(z)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Encode and decode real digits with z = μ (no sampling): what the latent code keeps of x."""
        mu, _ = self.encode(course_images(x, "digits to reconstruct").to(next(self.parameters()).device))
        return self.decode(mu)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = μ + σ ⊙ ε with σ = exp(½ log σ²): a draw from q_φ(z | x) that gradients flow through (Sec. 2.4)."""
    return mu + torch.exp(0.5 * logvar) * eps


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL( N(μ, diag σ²) ‖ N(0, I) ) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), one value per row (B,)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)


def negative_elbo(model: TinyVAE, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """−ELBO per digit (Kingma & Welling 2014, Eq. 3), one reparameterised z per digit: (reconstruction (B,), KL (B,)), nats.

    reconstruction = −log p_θ(x | z) = binary cross-entropy of the ink (x + 1) / 2 against sigmoid(logits),
    summed over the pixels; −ELBO = reconstruction + KL. ``eps`` (B, latent_dim) is the ε of the trick.
    """
    mu, logvar = model.encode(x)
    logits = model.decode_logits(reparameterise(mu, logvar, eps))
    target = (x + 1) / 2
    reconstruction = F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)
    return reconstruction, kl_to_standard_normal(mu, logvar)


def train_vae(images: torch.Tensor, *, config: VAEConfig | None = None, train: VAETrainConfig | None = None,
              device: torch.device | str = "cpu", max_steps: int | None = None) -> tuple[TinyVAE, list[float]]:
    """Train a :class:`TinyVAE` on ``images`` (N, 1, 28, 28) by minimising −ELBO with Adam.

    Each epoch visits the digits in a new order (drawn with the seeded generator, which also draws every ε).
    Returns the model (eval mode, gradients off) and the −ELBO (nats per digit) of every step.
    ``max_steps`` stops early (the tests use it to replay the start of the shipped run).
    """
    train = train or VAETrainConfig()
    images = course_images(images, "images")
    if max_steps is not None:
        whole_number(max_steps, "max_steps", low=1)
    torch.manual_seed(train.seed)  # the initial weights
    generator = torch.Generator().manual_seed(train.seed)
    model = TinyVAE(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
    total = train.epochs * max(len(images) // train.batch_size, 1)
    total = total if max_steps is None else min(max_steps, total)

    def loss_of(batch) -> torch.Tensor:  # −ELBO, one ε per digit drawn after the batch's order
        x = batch[0].to(device)
        eps = torch.randn(len(x), model.config.latent_dim, generator=generator).to(device)
        reconstruction, kl = negative_elbo(model, x, eps)
        return (reconstruction + kl).mean()

    batches = shuffled_batches((images,), train.batch_size, generator=generator)
    losses = fit(model, loss_of, batches, steps=total, optimizer=optimizer, desc="VAE")
    return model.eval().requires_grad_(False), losses


@torch.no_grad()
def mean_elbo_terms(model: TinyVAE, images: torch.Tensor, seed: int = 0, batch_size: int = 1000) -> tuple[float, float]:
    """Mean reconstruction and KL terms (nats per digit) over ``images``, one seeded z per digit."""
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    rec_sum = kl_sum = 0.0
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(device)
        eps = torch.randn(len(x), model.config.latent_dim, generator=generator).to(device)
        reconstruction, kl = negative_elbo(model, x, eps)
        rec_sum += float(reconstruction.sum())
        kl_sum += float(kl.sum())
    return rec_sum / len(images), kl_sum / len(images)


def train_vae_command(out: Path, device="cpu", seed: int | None = None, epochs: int | None = None) -> None:
    """What ``python -m course_utils.train --preset vae`` runs: train, measure the test ELBO, save."""
    from .data import load_mnist

    defaults = VAETrainConfig()
    train = VAETrainConfig(epochs=epochs or defaults.epochs, seed=defaults.seed if seed is None else seed)
    x_train, _ = load_mnist("train")
    x_test, _ = load_mnist("test")
    start = time.perf_counter()
    model, losses = train_vae(x_train, train=train, device=device)
    seconds = time.perf_counter() - start
    reconstruction, kl = mean_elbo_terms(model, x_test)
    save_model(out, "vae", model, {**asdict(train), "train_seconds": round(seconds, 1), "device": str(device),
                                   "steps_done": len(losses), "test_reconstruction": round(reconstruction, 2),
                                   "test_kl": round(kl, 2)},
               losses=torch.tensor(losses, dtype=torch.float32))
    print(f"saved {out}: test −ELBO {reconstruction + kl:.1f} nats per digit (reconstruction {reconstruction:.1f} "
          f"+ KL {kl:.1f}) after {train.epochs} epochs ({seconds / 60:.1f} min)")
