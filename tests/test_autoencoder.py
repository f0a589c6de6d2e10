"""Notebook 10's autoencoder (course_utils.autoencoder): shapes, the latent scale, the loss, a short training run,
the course command, and the shipped data/autoencoder_mnist.pt against what its checkpoint records."""

import pytest
import torch
from torch.nn import functional as F

from course_utils import pretrained
from course_utils.autoencoder import (
    Autoencoder,
    AutoencoderConfig,
    AutoencoderTrainConfig,
    decode_in_batches,
    encode_in_batches,
    latent_scale_factor,
    reconstruction_loss,
    train_autoencoder,
)
from course_utils.data import mnist_subset

SMALL = AutoencoderConfig(channels=(4, 8))


def test_shapes_and_clear_errors():
    torch.manual_seed(0)
    model = Autoencoder(SMALL).eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    z = model.encode(x)
    assert z.shape == (3, 4, 7, 7) and model.latent_shape == (4, 7, 7)
    images = model.decode(z)
    assert images.shape == x.shape and images.min() >= -1 and images.max() <= 1
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        model.encode(torch.zeros(3, 28, 28))
    with pytest.raises(ValueError, match=r"\(B, 4, 7, 7\)"):
        model.decode(torch.zeros(3, 4, 8, 8))


def test_the_latent_scale_gives_unit_variance_and_decoding_undoes_it(generator):
    raw = torch.randn(200, 4, 7, 7, generator=generator) * 7 + 1
    scale = latent_scale_factor(raw)
    assert scale.dim() == 0
    assert float((raw * scale).std()) == pytest.approx(1.0, abs=1e-6)
    torch.manual_seed(0)
    model = Autoencoder(SMALL).eval()
    x = torch.rand(2, 1, 28, 28, generator=generator) * 2 - 1
    before = model.decode(model.encode(x))
    model.latent_scale.fill_(0.25)  # scaled latents change, the round trip does not
    torch.testing.assert_close(model.decode(model.encode(x)), before)
    torch.testing.assert_close(model.encode(x), 0.25 * model.encode_raw(x))


def test_loss_is_the_bernoulli_negative_log_likelihood_without_latent_noise(generator):
    torch.manual_seed(0)
    model = Autoencoder(SMALL)
    x = torch.rand(3, 1, 28, 28, generator=generator).round() * 2 - 1
    noise = torch.randn(3, 4, 7, 7, generator=generator)
    logits = model.decoder(model.encode_raw(x))
    expected = F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="sum") / 3
    torch.testing.assert_close(reconstruction_loss(model, x, noise, 0.0), expected)
    z = model.encode_raw(x)
    noisy = F.binary_cross_entropy_with_logits(model.decoder(z + 0.5 * z.std() * noise), (x + 1) / 2, reduction="sum") / 3
    torch.testing.assert_close(reconstruction_loss(model, x, noise, 0.5), noisy)


def test_a_short_run_learns_and_sets_the_scale():
    images = mnist_subset("train", 256, seed=0)[0]
    model, losses = train_autoencoder(images, config=SMALL, train=AutoencoderTrainConfig(epochs=3, batch_size=32))
    assert len(losses) == 24 and losses[-1] < losses[0]
    assert float(encode_in_batches(model, images).std()) == pytest.approx(1.0, rel=1e-3)
    again, _ = train_autoencoder(images, config=SMALL, train=AutoencoderTrainConfig(epochs=3, batch_size=32))
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)  # seeded: the same run twice
    assert decode_in_batches(model, encode_in_batches(model, images[:5], batch_size=2), batch_size=3).shape == (5, 1, 28, 28)


@pytest.mark.skipif(not pretrained.checkpoint_path("autoencoder").exists(), reason="data/autoencoder_mnist.pt not built")
def test_the_shipped_autoencoder_reconstructs_test_digits():
    from course_utils.checkpoints import read_checkpoint

    model = pretrained.load_autoencoder()
    train = read_checkpoint(pretrained.checkpoint_path("autoencoder"), kind="autoencoder")["train"]
    x, _ = mnist_subset("test", 200, seed=3)
    recon = model.reconstruct(x)
    assert float((recon - x).abs().mean()) < 0.08
    assert float(encode_in_batches(model, x).std()) == pytest.approx(1.0, abs=0.1)  # unit variance, on unseen digits too
    assert train["reconstruction_digit_fid"] < 2 * train["reconstruction_floor"]
