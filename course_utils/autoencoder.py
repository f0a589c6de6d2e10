"""The latent space of notebook 10: an autoencoder that squeezes a 28×28 digit into 4×7×7 numbers and back.

Stable Diffusion does not denoise pixels. A separately trained autoencoder (Rombach et al. 2022, "latent
diffusion") turns each image into a smaller **latent** z, the diffusion model learns to generate latents, and
the decoder turns a generated latent into an image. Here:

    encoder   x (B, 1, 28, 28) in [-1, 1]  ->  z (B, 4, 7, 7)       784 numbers -> 196 (4× fewer)
    decoder   z (B, 4, 7, 7)               ->  x̂ (B, 1, 28, 28)     2 sigmoid(logits) − 1

The decoder gives one Bernoulli probability of ink per pixel, and training minimises the binary
cross-entropy of the ink (x + 1) / 2 against it (as notebook 8's VAE does), which keeps strokes sharp.
Two details make the latents good to diffuse in:

* **noise on the latents during training** (``latent_noise``): the decoder sees z + s σ_z ε instead of z
  (σ_z the batch's latent standard deviation), so nearby latents decode to nearby digits and a generated
  latent that is slightly off still decodes cleanly. (Stable Diffusion's autoencoder gets the same from a
  small KL term; this is the deterministic version.)
* **scaled latents** (``latent_scale``): after training, the latents of the training digits are measured
  and the encoder's output is multiplied by 1 / their standard deviation, so the latents the diffusion
  model sees have about unit variance, like the N(0, I) noise it starts from (Stable Diffusion's
  "scale factor" 0.18215 is the same thing for its autoencoder). :func:`latent_scale_factor` computes it.

Unlike notebook 8's :class:`~course_utils.vae.TinyVAE`, this is not a generator by itself: its latents
follow no known distribution, which is why a diffusion model is trained to produce them.

The shipped model, data/autoencoder_mnist.pt, is made by ``python -m course_utils.recipes autoencoder``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoints import StoredConfig, save_checkpoint
from .env import progress


@dataclass(frozen=True)
class AutoencoderConfig(StoredConfig):
    """Architecture of :class:`Autoencoder`."""

    channels: tuple[int, int] = (32, 48)  # conv channels at 28×28 / 14×14, and at 7×7
    latent_channels: int = 4  # z is (latent_channels, 7, 7)


@dataclass(frozen=True)
class AutoencoderTrainConfig:
    """Everything that decides the shipped autoencoder's weights, stored in its checkpoint."""

    epochs: int = 12
    batch_size: int = 128
    lr: float = 2e-3  # Adam, decayed to 0 by a cosine over the run
    latent_noise: float = 0.1  # the decoder sees z + latent_noise * std(z) * eps
    seed: int = 0


class Autoencoder(nn.Module):
    """Encoder: 3×3 conv, two stride-2 4×4 convs (28 -> 14 -> 7 px), 3×3 conv, 1×1 conv to the latent channels.
    Decoder: the mirror image, with stride-2 transposed convolutions back to 28×28 logits."""

    def __init__(self, config: AutoencoderConfig | None = None):
        super().__init__()
        self.config = cfg = config or AutoencoderConfig()
        c1, c2 = cfg.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.SiLU(),                       # (B, c1, 28, 28)
            nn.Conv2d(c1, c1, 4, stride=2, padding=1), nn.SiLU(),            # (B, c1, 14, 14)
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), nn.SiLU(),            # (B, c2, 7, 7)
            nn.Conv2d(c2, c2, 3, padding=1), nn.SiLU(),
            nn.Conv2d(c2, cfg.latent_channels, 1),                           # (B, 4, 7, 7)
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(cfg.latent_channels, c2, 3, padding=1), nn.SiLU(),     # (B, c2, 7, 7)
            nn.Conv2d(c2, c2, 3, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.SiLU(),   # (B, c1, 14, 14)
            nn.ConvTranspose2d(c1, c1, 4, stride=2, padding=1), nn.SiLU(),   # (B, c1, 28, 28)
            nn.Conv2d(c1, 1, 3, padding=1),                                  # (B, 1, 28, 28) logits
        )
        # 1 / std of the raw training latents, set by train_autoencoder: encode() returns unit-variance latents
        self.register_buffer("latent_scale", torch.tensor(1.0))

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """The shape of one latent: (latent_channels, 7, 7)."""
        return (self.config.latent_channels, 7, 7)

    def encode_raw(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) in [-1, 1] -> unscaled latents (B, 4, 7, 7)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"the autoencoder encodes digits of shape (B, 1, 28, 28), got {tuple(x.shape)}")
        return self.encoder(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 1, 28, 28) in [-1, 1] -> latents (B, 4, 7, 7) of about unit variance (scaled by ``latent_scale``)."""
        return self.encode_raw(x) * self.latent_scale

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, 4, 7, 7) -> per-pixel ink logits (B, 1, 28, 28)."""
        if z.dim() != 4 or tuple(z.shape[1:]) != self.latent_shape:
            raise ValueError(f"the decoder takes latents of shape (B, {', '.join(map(str, self.latent_shape))}), "
                             f"got {tuple(z.shape)}")
        return self.decoder(z / self.latent_scale)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents (B, 4, 7, 7) -> images (B, 1, 28, 28) in [-1, 1]: 2 sigmoid(logits) − 1."""
        return 2 * torch.sigmoid(self.decode_logits(z)) - 1

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Encode and decode: what the 196 latent numbers keep of each digit."""
        return self.decode(self.encode(x))


def latent_scale_factor(latents: torch.Tensor) -> torch.Tensor:
    """The number that gives latents (N, C, H, W) unit variance when they are multiplied by it: 1 / their std.

    One number for all channels and positions (as Stable Diffusion's scale factor), a 0-d tensor.
    """
    return 1 / latents.float().std()


def reconstruction_loss(model: Autoencoder, x: torch.Tensor, noise: torch.Tensor, latent_noise: float) -> torch.Tensor:
    """Binary cross-entropy of the ink (x + 1) / 2 against the decoder's probabilities, summed over pixels, mean over
    the batch, with the latents jittered by ``latent_noise`` × their batch std × ``noise`` (B, 4, 7, 7) before decoding."""
    z = model.encode_raw(x)
    z = z + latent_noise * z.detach().std() * noise
    logits = model.decoder(z)
    return F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="none").flatten(1).sum(1).mean()


@torch.no_grad()
def encode_in_batches(model: Autoencoder, images: torch.Tensor, batch_size: int = 1000, raw: bool = False) -> torch.Tensor:
    """Latents of many images (N, 1, 28, 28), on the CPU: scaled (``encode``) or ``raw`` (``encode_raw``)."""
    device = next(model.parameters()).device
    encode = model.encode_raw if raw else model.encode
    return torch.cat([encode(images[i : i + batch_size].to(device)).cpu() for i in range(0, len(images), batch_size)])


@torch.no_grad()
def decode_in_batches(model: Autoencoder, latents: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Images (N, 1, 28, 28) from many scaled latents (N, 4, 7, 7), on the CPU."""
    device = next(model.parameters()).device
    return torch.cat([model.decode(latents[i : i + batch_size].to(device)).cpu() for i in range(0, len(latents), batch_size)])


def train_autoencoder(images: torch.Tensor, *, config: AutoencoderConfig | None = None,
                      train: AutoencoderTrainConfig | None = None, device: torch.device | str = "cpu",
                      max_steps: int | None = None) -> tuple[Autoencoder, list[float]]:
    """Train an :class:`Autoencoder` on ``images`` (N, 1, 28, 28) with Adam, then set its ``latent_scale``.

    Each epoch visits the digits in a new order drawn with the seeded generator (which also draws the latent
    noise). Returns the model (eval mode, gradients off) and the loss (nats per digit) of every step.
    """
    train = train or AutoencoderTrainConfig()
    torch.manual_seed(train.seed)  # the initial weights
    generator = torch.Generator().manual_seed(train.seed)
    model = Autoencoder(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train.lr)
    steps_per_epoch = len(images) // train.batch_size
    total = train.epochs * steps_per_epoch if max_steps is None else min(max_steps, train.epochs * steps_per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + torch.cos(torch.tensor(torch.pi * step / max(total, 1)))).item())
    losses: list[float] = []
    model.train()
    order = torch.empty(0, dtype=torch.long)
    for step in progress(range(total), desc="autoencoder", unit="step"):
        i = step % steps_per_epoch
        if i == 0:
            order = torch.randperm(len(images), generator=generator)
        x = images[order[i * train.batch_size : (i + 1) * train.batch_size]].to(device)
        noise = torch.randn(len(x), *model.latent_shape, generator=generator).to(device)
        loss = reconstruction_loss(model, x, noise, train.latent_noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    model.eval().requires_grad_(False)
    model.latent_scale.fill_(float(latent_scale_factor(encode_in_batches(model, images, raw=True))))
    return model, losses


def reconstruction_scores(model, classifier, n: int = 10_000, seed: int = 0, batch_size: int = 1000) -> dict[str, float]:
    """How much the latents keep: digit-FID of the reconstructions of ``n`` training digits against ``n`` test
    digits, beside the real-vs-real floor of the same two sets (the reconstructions replace the training
    digits), the mean absolute pixel error, and the share still classified as their own digit.

    ``model`` is anything with a ``reconstruct(x)`` method: this autoencoder, or notebook 8's VAE (its z = μ)."""
    from .data import load_mnist, subset_indices
    from .metrics import classify, digit_fid, real_reference

    images, labels = load_mnist("train")
    chosen = subset_indices(len(images), n, seed)
    x, y = images[chosen], labels[chosen]
    reference = real_reference(n, "test", seed)
    device = next(model.parameters()).device
    with torch.no_grad():
        recon = torch.cat([model.reconstruct(x[i : i + batch_size].to(device)).cpu() for i in range(0, n, batch_size)])
    _, probs = classify(classifier, recon)
    return {"n": n, "digit_fid": digit_fid(classifier, recon, reference), "floor": digit_fid(classifier, x, reference),
            "pixel_error": float((recon - x).abs().mean()), "still_their_digit": float((probs.argmax(1) == y).float().mean())}


def train_autoencoder_command(out: Path, device="cpu", seed: int | None = None, epochs: int | None = None,
                              half: bool = False) -> None:
    """What ``python -m course_utils.train --preset autoencoder`` runs: train, measure the reconstructions, save
    (the weights in float16 with ``half``, measured after rounding them, as they ship)."""
    from .data import load_mnist
    from .pretrained import load_classifier
    from .training import half_weights

    defaults = AutoencoderTrainConfig()
    train = AutoencoderTrainConfig(epochs=epochs or defaults.epochs, seed=defaults.seed if seed is None else seed)
    x_train, _ = load_mnist("train")
    start = time.perf_counter()
    model, losses = train_autoencoder(x_train, train=train, device=device)
    seconds = time.perf_counter() - start
    weights = {k: v.cpu() for k, v in model.state_dict().items()}
    if half:
        weights = half_weights(weights)
        model.cpu().load_state_dict(weights)  # measure the model as it ships
    scores = reconstruction_scores(model.cpu(), load_classifier())
    save_checkpoint(
        out,
        {
            "kind": "autoencoder",
            "model_config": model.config.to_dict(),
            "train": {**asdict(train), "train_seconds": round(seconds, 1), "device": str(device), "half": half,
                      "steps_done": len(losses), "latent_scale": round(float(model.latent_scale), 6),
                      **{f"reconstruction_{k}": round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}},
            "losses": torch.tensor(losses, dtype=torch.float32),
            "state_dict": weights,
        },
    )
    print(f"saved {out}: reconstructions of {scores['n']:,} training digits score digit-FID {scores['digit_fid']:.2f} "
          f"(real-vs-real floor {scores['floor']:.2f}), {100 * scores['still_their_digit']:.1f}% still their digit; "
          f"latent scale {float(model.latent_scale):.4f}; {train.epochs} epochs in {seconds / 60:.1f} min")
