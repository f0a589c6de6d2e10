"""Notebook 8's tiny VAE (course_utils.vae): the ELBO's terms against independent references,
training, and the shipped data/vae_mnist.pt against the recipe that made it."""

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from course_utils import pretrained, recipes
from course_utils.vae import (
    TinyVAE,
    VAEConfig,
    VAETrainConfig,
    kl_to_standard_normal,
    negative_elbo,
    reparameterise,
    train_vae,
)

SMALL = VAEConfig(channels=(4, 8), latent_dim=3)


def test_kl_matches_torch_distributions(generator):
    mu = torch.randn(5, 4, generator=generator)
    logvar = torch.randn(5, 4, generator=generator)
    q = Normal(mu, torch.exp(0.5 * logvar))
    expected = kl_divergence(q, Normal(torch.zeros(4), torch.ones(4))).sum(1)
    torch.testing.assert_close(kl_to_standard_normal(mu, logvar), expected)
    assert torch.equal(kl_to_standard_normal(torch.zeros(2, 4), torch.zeros(2, 4)), torch.zeros(2))  # q = prior


def test_reparameterised_draws_have_the_encoders_mean_and_spread_and_pass_gradients(generator):
    mu = torch.tensor([[2.0, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 2 * torch.log(torch.tensor(3.0)).item()]], requires_grad=True)  # σ = 1 and 3
    z = reparameterise(mu.expand(20000, 2), logvar.expand(20000, 2), torch.randn(20000, 2, generator=generator))
    torch.testing.assert_close(z.mean(0), torch.tensor([2.0, -1.0]), atol=0.06, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 3.0]), atol=0.06, rtol=0)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None and bool((logvar.grad != 0).all())


def test_reconstruction_term_is_the_bernoulli_negative_log_likelihood(generator):
    torch.manual_seed(0)
    model = TinyVAE(SMALL)
    x = torch.rand(3, 1, 28, 28, generator=generator).round() * 2 - 1  # black-and-white digits
    eps = torch.randn(3, SMALL.latent_dim, generator=generator)
    reconstruction, kl = negative_elbo(model, x, eps)
    mu, logvar = model.encode(x)
    logits = model.decode_logits(mu + torch.exp(0.5 * logvar) * eps)
    expected = -Bernoulli(logits=logits).log_prob((x + 1) / 2).flatten(1).sum(1)
    torch.testing.assert_close(reconstruction, expected)
    torch.testing.assert_close(kl, kl_to_standard_normal(mu, logvar))


def test_generation_is_one_decoder_pass_of_seeded_latents():
    torch.manual_seed(0)
    model = TinyVAE(SMALL).eval()
    calls = []
    model.decoder.register_forward_hook(lambda *args: calls.append(1))
    a = model.generate(6, torch.Generator().manual_seed(1))
    assert a.shape == (6, 1, 28, 28) and len(calls) == 1
    assert float(a.min()) >= -1 and float(a.max()) <= 1
    assert torch.equal(a, model.generate(6, torch.Generator().manual_seed(1)))


def test_training_lowers_the_negative_elbo(generator):
    images = (torch.rand(64, 1, 28, 28, generator=generator) < 0.2).float() * 2 - 1
    model, losses = train_vae(images, config=SMALL, train=VAETrainConfig(epochs=12, batch_size=16, lr=3e-3))
    assert len(losses) == 12 * 4 and not model.training
    assert sum(losses[-4:]) < 0.8 * sum(losses[:4])


def test_the_shipped_vae_is_small_and_loads():
    path = pretrained.checkpoint_path("vae")
    assert path.stat().st_size < 1_000_000
    vae = pretrained.load_vae()
    assert vae.generate(4, torch.Generator().manual_seed(0)).shape == (4, 1, 28, 28)
    with pytest.raises(pretrained.CheckpointError, match="'vae' model"):
        pretrained.load_vae(pretrained.checkpoint_path("classifier"))


def test_the_vae_recipe_is_what_made_the_shipped_file():
    """The recipe's settings are the file's, and replaying its first steps gives the file's recorded losses."""
    from course_utils.checkpoints import read_checkpoint
    from course_utils.data import load_mnist

    (argv,) = recipes.commands("vae")
    assert argv[:2] == ["--preset", "vae"] and argv[-1] == recipes.RECIPES["vae"].out
    ckpt = read_checkpoint(pretrained.checkpoint_path("vae"), kind="vae")
    train = ckpt["train"]
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else VAETrainConfig().seed
    assert (int(argv[argv.index("--epochs") + 1]), seed) == (train["epochs"], train["seed"])
    shipped = VAETrainConfig(**{k: train[k] for k in ("epochs", "batch_size", "lr", "seed")})
    assert shipped == VAETrainConfig(epochs=train["epochs"], seed=seed)  # nothing else differs from the defaults
    assert VAEConfig.from_dict(ckpt["model_config"]) == VAEConfig()
    assert len(ckpt["losses"]) == train["steps_done"] == train["epochs"] * (60000 // shipped.batch_size)
    images, _ = load_mnist("train")
    _, replayed = train_vae(images, train=shipped, max_steps=3)
    torch.testing.assert_close(torch.tensor(replayed), ckpt["losses"][:3], rtol=1e-4, atol=0)
