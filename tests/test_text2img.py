"""Notebook 10's text-to-image model: tokenizer and padding, the text encoder, cross-attention against an
independent reference, the training hooks on the course's loop (with exact resume), guidance on text through
notebook 7's formula, prompt switching and attention recording on the course's one sampling loop."""

from dataclasses import replace

import pytest
import torch
from torch.nn import functional as F

from course_utils import captions, guidance, prompting
from course_utils.checkpoints import read_checkpoint
from course_utils.flow import FlowEulerSampler, FlowHeunSampler
from course_utils.samplers import sample
from course_utils.text2img import CrossAttention, TextToImage, TextToImageConfig, attention_weights
from course_utils.text_encoder import PAD_ID, START_ID, TextEncoder, Tokenizer, pad_token_ids
from course_utils.training import (
    PRESETS,
    TrainConfig,
    build_model,
    checkpoint_config,
    model_config_from_dict,
    new_train_state,
    resume_train_state,
    train_ddpm,
)

TINY = TextToImageConfig(channels=16, num_blocks=2, time_embedding_dim=16, groups=4, text_dim=16, text_layers=1,
                         text_heads=2)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return TextToImage(TINY).eval()


# ----------------------------------------------------------------------------- tokenizer and text encoder


def test_tokenizer_puts_start_words_then_padding():
    tokenizer = Tokenizer(captions.vocabulary(), length=8)
    ids = tokenizer.encode(["a thick 7", ""])
    assert ids.shape == (2, 8) and ids.dtype == torch.long
    assert ids[0, 0] == START_ID and ids[1, 0] == START_ID
    assert tokenizer.decode(ids)[0][:4] == ["<start>", "a", "thick", "7"]
    assert ids[0, 4:].eq(PAD_ID).all() and ids[1, 1:].eq(PAD_ID).all()  # the null prompt: <start> and padding
    assert tokenizer.words_of(ids[0]) == ["<start>", "a", "thick", "7"]
    assert tokenizer.encode("A THICK, 7").tolist() == tokenizer.encode("a thick 7").tolist()


def test_tokenizer_refuses_unknown_and_long_prompts_clearly():
    tokenizer = Tokenizer(captions.vocabulary(), length=6)
    with pytest.raises(ValueError, match=r"unknown word 'thik'.*did you mean 'thick'"):
        tokenizer.encode("a thik 7")
    with pytest.raises(ValueError, match="at most 5"):
        tokenizer.encode("a thick slanted narrow number 7")
    with pytest.raises(ValueError, match="once"):
        Tokenizer(["a", "a"])


def test_pad_token_ids_cuts_long_rows_to_the_length():
    out = pad_token_ids([[5, 6, 7], []], 3)
    assert out.tolist() == [[START_ID, 5, 6], [START_ID, PAD_ID, PAD_ID]]


def test_text_encoder_ignores_padding_and_reads_word_order():
    torch.manual_seed(0)
    tokenizer = Tokenizer(captions.vocabulary(), length=10)
    encoder = TextEncoder(tokenizer.vocab_size, 10, dim=16, layers=2, heads=2).eval()
    ids = tokenizer.encode(["a thick 7", "7 thick a"])
    out = encoder(ids)
    assert out.shape == (2, 10, 16)
    # the words' vectors do not depend on what the padding holds
    changed = ids.clone()
    changed[:, 6:] = tokenizer.ids["seven"]
    changed_out = encoder.transformer(encoder.token_embedding(changed) + encoder.position_embedding,
                                      src_key_padding_mask=ids == PAD_ID)
    torch.testing.assert_close(encoder.norm(changed_out)[:, :4], out[:, :4])
    assert not torch.allclose(out[0, 1], out[1, 3])  # "a" first and last: positions matter
    with pytest.raises(ValueError, match="long tensor"):
        encoder(ids.float())


# ----------------------------------------------------------------------------- cross-attention


def test_attention_weights_match_scaled_dot_product_attention(generator):
    q, k, v = (torch.randn(3, n, 8, generator=generator) for n in (5, 6, 6))
    padding = torch.tensor([[False] * 6, [False] * 4 + [True] * 2, [False] + [True] * 5])
    weights = attention_weights(q, k, padding)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))
    assert weights[1, :, 4:].eq(0).all() and weights[2, :, 1:].eq(0).all()
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=~padding[:, None, :])
    torch.testing.assert_close(weights @ v, expected)


def test_cross_attention_records_weights_and_ignores_padding(generator):
    torch.manual_seed(0)
    layer = CrossAttention(8, 6, heads=2, groups=2)
    h, text = torch.randn(2, 8, 3, 3, generator=generator), torch.randn(2, 5, 6, generator=generator)
    padding = torch.tensor([[False, False, True, True, True], [False, False, False, False, True]])
    layer.recorded = []
    out = layer(h, text, padding)
    assert out.shape == h.shape and layer.recorded[0].shape == (2, 2, 9, 5)
    other = text.clone()
    other[padding] = 100.0  # what sits under the padding makes no difference
    torch.testing.assert_close(layer(h, other, padding), out)


# ----------------------------------------------------------------------------- the model on the course's loops


def test_the_model_gives_a_velocity_per_latent(tiny_model):
    z = torch.randn(3, 4, 7, 7)
    ids = tiny_model.tokenizer.encode(["a thick 7", "three", ""])
    v = tiny_model(z, torch.tensor([0.1, 0.5, 0.9]), ids)
    assert v.shape == z.shape and torch.isfinite(v).all()
    with pytest.raises(ValueError, match="latents of shape"):
        tiny_model(torch.randn(2, 1, 28, 28), torch.rand(2), ids[:2])
    with pytest.raises(ValueError, match="token ids"):
        tiny_model(z, torch.rand(3), None)


def test_the_config_builds_the_model_and_round_trips_through_a_checkpoint_dict():
    assert isinstance(build_model(TINY), TextToImage)
    again = model_config_from_dict(TINY.to_dict())
    assert again == TINY and isinstance(again, TextToImageConfig)
    unet = PRESETS["mnist-cond"].architecture
    assert model_config_from_dict(unet.to_dict()) == unet
    assert PRESETS["mnist-text"].checkpoint_kind == "text2img" and PRESETS["mnist-cond"].checkpoint_kind == "ddpm"


def test_training_condition_draws_captions_and_drops_some(tiny_model):
    rows = torch.tensor([[7, 1, 2, UNNAMED] for UNNAMED in [captions.UNNAMED]] * 400)
    ids = tiny_model.training_condition(rows, 0.25, torch.Generator().manual_seed(0))
    again = tiny_model.training_condition(rows, 0.25, torch.Generator().manual_seed(0))
    assert torch.equal(ids, again)  # the generator decides everything
    null = ids[:, 1:].eq(PAD_ID).all(1)
    assert 0.15 < float(null.float().mean()) < 0.35
    words = [" ".join(tiny_model.tokenizer.words_of(row)[1:]) for row in ids[~null]]
    assert len(set(words)) > 40
    assert all(captions.read_prompt(w)[0] in (7, captions.UNNAMED) for w in words)


def _latent_run(steps=6):
    config = TrainConfig(architecture=TINY, batch_size=4, train_steps=steps, warmup_steps=2, objective="flow",
                         time_sampling="logit-normal")
    g = torch.Generator().manual_seed(3)
    latents = torch.randn(12, 4, 7, 7, generator=g)
    rows = torch.tensor([[d % 10, d % 2, d % 3, captions.UNNAMED] for d in range(12)])
    return config, latents, rows


def test_the_course_training_loop_trains_it_and_resumes_exactly(tmp_path):
    config, latents, rows = _latent_run()
    whole = train_ddpm(new_train_state(config), latents, rows)
    path = tmp_path / "run.pt"
    first = train_ddpm(new_train_state(config), latents, rows, steps=3, checkpoint_path=path)
    ckpt = read_checkpoint(path)
    assert ckpt["kind"] == "text2img" and checkpoint_config(ckpt) == config and first.step == 3
    resumed = train_ddpm(resume_train_state(path), latents, rows)
    assert resumed.losses == whole.losses
    for a, b in zip(resumed.ema.model.state_dict().values(), whole.ema.model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="pass the labels"):
        train_ddpm(new_train_state(config), latents)


def test_prompted_model_guides_with_notebook_7s_formula(tiny_model):
    z, t = torch.randn(2, 4, 7, 7), torch.full((2,), 0.6)
    prompts = ["a thick 4", "a thin 4"]
    ids, null = tiny_model.tokenizer.encode(prompts), tiny_model.tokenizer.encode(["", ""])
    v_cond, v_uncond = tiny_model(z, t, ids), tiny_model(z, t, null)
    for w in (0.0, 1.0, 3.0):
        got = prompting.PromptedModel(tiny_model, prompts, w)(z, t)
        torch.testing.assert_close(got, guidance.guided_eps(v_cond, v_uncond, w), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="one per latent"):
        prompting.PromptedModel(tiny_model, ["a", "b", "c"])(z, t)


def test_generate_runs_the_one_sampling_loop_and_decodes(tiny_model):
    from course_utils.autoencoder import Autoencoder, AutoencoderConfig

    torch.manual_seed(0)
    autoencoder = Autoencoder(AutoencoderConfig(channels=(4, 8))).eval()
    noise = torch.randn(3, 4, 7, 7, generator=torch.Generator().manual_seed(1))
    out = prompting.generate(tiny_model, autoencoder, ["7", "a bold 3", ""], guidance_scale=2.0,
                             sampler=FlowEulerSampler(3), noise=noise)
    assert out.images.shape == (3, 1, 28, 28) and out.latents.shape == (3, 4, 7, 7)
    direct = sample(prompting.PromptedModel(tiny_model, ["7", "a bold 3", ""], 2.0), FlowEulerSampler(3), noise=noise,
                    show_progress=False).images
    torch.testing.assert_close(out.latents, direct)
    torch.testing.assert_close(out.images, autoencoder.decode(direct))


def test_a_prompt_switched_midway_uses_each_prompt_on_its_steps(tiny_model):
    seen = []
    switch = prompting.prompt_schedule("a 3", "an 8", switch_at=0.5)
    prompted = prompting.PromptedModel(tiny_model, lambda t: seen.append((t, switch(t))) or switch(t))
    sample(prompted, FlowEulerSampler(4), noise=torch.randn(2, 4, 7, 7), show_progress=False)
    assert [p for _, p in seen] == ["a 3", "a 3", "an 8", "an 8"] and [t for t, _ in seen] == [1.0, 0.75, 0.5, 0.25]


def test_recording_attention_keeps_every_network_call(tiny_model):
    prompted = prompting.PromptedModel(tiny_model, ["a thick 7", "2"], 3.0)
    with prompting.recording_attention(tiny_model) as record:
        sample(prompted, FlowHeunSampler(2), noise=torch.randn(2, 4, 7, 7), show_progress=False)
    assert len(record.calls) == 3  # Heun: two calls, then one for the last step
    L = TINY.max_tokens
    assert len(record.calls[0]) == TINY.num_blocks and record.calls[0][0].shape == (4, 2, 49, L)  # guided: 2 × B
    words = record.word_weights(slice(0, 2))
    assert words.shape == (3, 2, L)
    torch.testing.assert_close(words.sum(-1), torch.ones(3, 2))
    assert words[..., 5:].eq(0).all()  # padding gets no attention
    assert record.spatial(0, row=0).shape == (L, 7, 7)
    assert all(layer.recorded is None for layer in tiny_model.cross_attention)
    assert "denoise" not in vars(tiny_model)


def test_the_text_preset_is_a_flow_run_on_latents():
    preset = PRESETS["mnist-text"]
    assert preset.objective == "flow" and preset.architecture.continuous_time and preset.label_dropout > 0
    assert replace(preset, train_steps=5).checkpoint_kind == "text2img"


# ----------------------------------------------------------------------------- the course's training command


@pytest.fixture
def tiny_text_cli(monkeypatch, tmp_path):
    """`python -m course_utils.train --preset tiny-text`: a tiny text model in the latent space of a tiny autoencoder
    saved to tmp_path, trained on 40 digits."""
    from course_utils import train as train_cli
    from course_utils.autoencoder import Autoencoder, AutoencoderConfig
    from course_utils.checkpoints import save_checkpoint
    from course_utils.data import mnist_subset

    torch.manual_seed(0)
    ae = Autoencoder(AutoencoderConfig(channels=(4, 8)))
    ae_path = tmp_path / "ae.pt"
    save_checkpoint(ae_path, {"kind": "autoencoder", "model_config": ae.config.to_dict(), "train": {},
                              "state_dict": ae.state_dict()})
    config = TrainConfig(architecture=replace(TINY, autoencoder=str(ae_path)), batch_size=8, train_steps=6, warmup_steps=2,
                         objective="flow")
    monkeypatch.setitem(PRESETS, "tiny-text", config)
    images, labels = mnist_subset("train", 40, seed=0)
    monkeypatch.setattr(train_cli, "load_mnist", lambda split: (images, labels))
    return train_cli


def test_the_training_command_trains_resumes_and_halves_the_text_model(tiny_text_cli, tmp_path, capsys):
    from course_utils import pretrained

    out = tmp_path / "t2i.pt"
    tiny_text_cli.main(["--preset", "tiny-text", "--out", str(out), "--steps", "4"])
    assert "held out" in capsys.readouterr().out
    tiny_text_cli.main(["--preset", "tiny-text", "--out", str(out), "--resume", "--steps", "6", "--half"])
    ckpt = read_checkpoint(out)
    assert ckpt["kind"] == "text2img" and ckpt["train"]["steps_done"] == 6
    assert all(v.dtype == torch.float16 for v in ckpt["state_dict"].values() if v.numel() > 1)
    resume = read_checkpoint(out.with_suffix(".resume.pt"))
    assert all(v.dtype == torch.float32 for v in resume["state_dict"].values() if v.is_floating_point())
    model = pretrained.load_text2img(out)
    assert isinstance(model, TextToImage) and next(model.parameters()).dtype == torch.float32
    for name, value in model.state_dict().items():
        assert torch.equal(value, ckpt["state_dict"][name].float()), name
    info = pretrained.checkpoint_info(out)
    assert info["train"]["total_steps"] == 6


def test_the_training_command_checks_the_text_preset_arguments(tiny_text_cli, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        tiny_text_cli.main(["--preset", "tiny-text", "--out", str(tmp_path / "x.pt"), "--epochs", "2"])
    assert exit_.value.code == 2 and "--steps" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        tiny_text_cli.main(["--preset", "vae", "--out", str(tmp_path / "x.pt"), "--half"])
    assert exit_.value.code == 2 and "--half" in capsys.readouterr().err
