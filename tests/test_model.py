import pytest
import torch

from course_utils.classifier import ClassifierConfig
from course_utils.model import MODEL_PRESETS, TinyUNet, UNetConfig, count_parameters, sinusoidal_timestep_embedding
from course_utils.vae import VAEConfig


def test_unet_predicts_noise_of_the_input_shape():
    model = TinyUNet()
    x, t = torch.randn(3, 1, 28, 28), torch.tensor([0, 500, 999])
    assert model(x, t).shape == (3, 1, 28, 28)


def test_conditional_model_uses_labels_and_null_label():
    torch.manual_seed(0)
    model = TinyUNet(UNetConfig(num_classes=10)).eval()
    torch.nn.init.normal_(model.label_embedding.weight)
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([10, 10])
    with torch.no_grad():
        a = model(x, t, torch.tensor([3, 3]))
        b = model(x, t, torch.tensor([7, 7]))
        none = model(x, t)
        null = model(x, t, torch.full((2,), model.null_label))
    assert not torch.allclose(a, b)
    assert torch.allclose(none, null)


def test_unconditional_model_refuses_labels():
    with pytest.raises(ValueError, match="unconditional"):
        TinyUNet()(torch.randn(1, 1, 28, 28), torch.tensor([0]), torch.tensor([1]))


def test_wrong_input_shape_is_explained():
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        TinyUNet()(torch.randn(1, 28, 28), torch.tensor([0]))


def test_presets_and_parameter_count():
    assert 300_000 < count_parameters(TinyUNet(MODEL_PRESETS["cpu"])) < 1_500_000
    assert count_parameters(TinyUNet(MODEL_PRESETS["gpu"])) > count_parameters(TinyUNet(MODEL_PRESETS["cpu"]))


def test_config_round_trips_through_a_dict():
    cfg = UNetConfig(num_classes=10, channel_mults=(1, 2))
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg


def test_timestep_embedding_is_sines_then_cosines():
    emb = sinusoidal_timestep_embedding(torch.tensor([0, 7]), 8)
    assert emb.shape == (2, 8)
    assert torch.equal(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert emb[1, 0].item() == pytest.approx(torch.sin(torch.tensor(7.0)).item())


@pytest.mark.parametrize(
    "config", [UNetConfig(channel_mults=(1, 2)), ClassifierConfig(channels=(8, 16)), VAEConfig(channels=(8, 16))]
)
def test_every_stored_config_round_trips_and_refuses_unknown_fields(config):
    stored = config.to_dict()
    assert all(not isinstance(v, tuple) for v in stored.values())  # plain lists, as older checkpoints hold them
    assert type(config).from_dict(stored) == config
    with pytest.raises(ValueError, match=f"unknown {type(config).__name__} fields \\['width'\\].*another version"):
        type(config).from_dict({**stored, "width": 3})
