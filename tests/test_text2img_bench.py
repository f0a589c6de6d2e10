"""The text-to-image benchmark (course_utils.text2img_bench): its prompt sets ask for what they say, every row is
scored, the held-out share carries its sd, the command line refuses bad arguments; and the shipped model's card
table is the benchmark file's."""

import math

import pytest
import torch

from course_utils import captions, text2img_bench
from course_utils.autoencoder import Autoencoder, AutoencoderConfig
from course_utils.pretrained import checkpoint_path, load_classifier
from course_utils.text2img import TextToImage, TextToImageConfig


def test_prompt_sets_ask_for_their_rows():
    for which in text2img_bench.PROMPT_SETS:
        rows, prompts = text2img_bench.prompt_set(which, 40, seed=1)
        assert rows.shape == (40, 4) and len(prompts) == 40
        for row, prompt in zip(rows, prompts):
            assert captions.read_prompt(prompt).tolist() == row.tolist(), prompt
        named = (rows[:, 1:] != captions.UNNAMED).sum(1)
        assert named.eq(0 if which == "digit" else 1).all()
        held = captions.held_out(rows)
        assert held.all() if which == "held-out" else not held.any()
    digits, _ = text2img_bench.prompt_set("digit", 30)
    assert torch.bincount(digits[:, 0]).tolist() == [3] * 10
    seen = text2img_bench.combinations("seen")
    assert len(seen) == 10 * 7 - len(captions.HELD_OUT) and not set(seen) & set(captions.HELD_OUT)
    with pytest.raises(ValueError, match="prompt set"):
        text2img_bench.prompt_set("unseen", 3)


def test_a_run_scores_every_prompt_set_with_its_sd():
    torch.manual_seed(0)
    model = TextToImage(TextToImageConfig(channels=16, num_blocks=2, time_embedding_dim=16, groups=4, text_dim=16,
                                          text_layers=1, text_heads=2)).eval()
    autoencoder = Autoencoder(AutoencoderConfig(channels=(4, 8))).eval()
    last = [m for m in autoencoder.decoder.modules() if hasattr(m, "bias") and m.bias is not None][-1]
    torch.nn.init.constant_(last.bias, -3.0)  # untrained, it would paint every pixel mid-grey: give it a dark page
    printed = []
    results = text2img_bench.run(20, scales=(1.0, 2.0), calls=2, pixel=False, model=model, autoencoder=autoencoder,
                                 classifier=load_classifier(), printer=printed.append, device="cpu")
    assert [(r.what, r.scale) for r in results] == [(w, s) for s in (1.0, 2.0) for w in text2img_bench.PROMPT_SETS]
    assert len(printed) == 6
    for r in results:
        share, sd = r.digit
        assert 0 <= share <= 1 and sd == pytest.approx(math.sqrt(share * (1 - share) / 20))
        if r.what == "digit":
            assert r.digit_fid[0] > 0 and r.digit_fid[1] >= 0 and math.isnan(r.attributes[0])
        else:
            assert 0 <= r.base_rate <= 1 and not math.isnan(r.attributes[0])
    assert "held_out_vs_seen" in results[2].extra and len(results[2].extra["held_out_vs_seen"]) == 2
    table = text2img_bench.format_markdown(results)
    assert table.count("\n|") == 7 and "held-out adherence at w = 1" in table
    for r in results:  # the CSV's numbers say what the table's cells say
        record = dict(zip(text2img_bench.CSV_HEADER, text2img_bench.csv_record(r)))
        assert record["requested digit %"] == pytest.approx(100 * r.digit[0])
        assert record["requested digit % sd"] == pytest.approx(100 * r.digit[1])
        assert (record["digit-FID"] == "") == (r.what != "digit")


def test_the_command_line_refuses_bad_arguments(capsys):
    for argv, words in ((["--n", "1"], "--n must be"), (["--scales", "-1"], "--scales"), (["--steps", "0"], "--steps")):
        with pytest.raises(SystemExit):
            text2img_bench.main(argv)
        assert words in capsys.readouterr().err


@pytest.mark.skipif(not checkpoint_path("text2img").exists(), reason="data/text2img_mnist.pt not built")
def test_the_model_card_quotes_the_benchmark_file():
    from course_utils.data import data_dir

    table = (data_dir() / "text2img_bench.md").read_text(encoding="utf-8")
    card = (data_dir() / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert table.strip() in card


def test_the_cost_line_says_which_space_is_cheaper_either_way():
    cost = dict(batch=10, latent_numbers=196, pixel_numbers=784, decode=1e-4, latent_parameters=1, pixel_parameters=2)
    assert "4.0× cheaper in the latent space" in str(text2img_bench.Cost(latent_call=1e-3, pixel_call=4e-3, **cost))
    assert "2.0× dearer in the latent space" in str(text2img_bench.Cost(latent_call=2e-3, pixel_call=1e-3, **cost))
