"""Notebook 10's captions (course_utils.captions): the measurements on drawn shapes whose answers are known,
the classes and their thresholds against the training data, paraphrases, held-out combinations, read_prompt."""

import math

import pytest
import torch

from course_utils import captions
from course_utils.captions import UNNAMED


def _canvas(n: int = 1) -> torch.Tensor:
    return -torch.ones(n, 1, 28, 28)


def _bar(width: int, height: int = 20, shear: float = 0.0) -> torch.Tensor:
    """A white bar ``width`` px wide and ``height`` tall, centred; each row shifted right by shear px per row up."""
    x = _canvas()
    top = (28 - height) // 2
    for r in range(height):
        shift = round(shear * (height - 1 - r - (height - 1) / 2))
        left = 14 - width // 2 + shift
        x[0, 0, top + r, left : left + width] = 1.0
    return x


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_thickness_of_an_upright_bar_is_close_to_its_width(width):
    # 2 A / P for a w × 20 bar: 2 · 20w / (2 · (20 + w)) = 20w / (20 + w), within 20% of w
    got = float(captions.stroke_thickness(_bar(width)))
    assert got == pytest.approx(20 * width / (20 + width), rel=1e-6)
    assert got == pytest.approx(width, rel=0.2)


def test_slant_of_upright_and_sheared_bars():
    assert float(captions.slant_degrees(_bar(3))) == pytest.approx(0.0, abs=1e-4)
    right, left = float(captions.slant_degrees(_bar(3, shear=0.5))), float(captions.slant_degrees(_bar(3, shear=-0.5)))
    assert right > 20 and left < -20  # shear 0.5 px per row: atan(0.5) = 26.6°, less for the rounding
    assert right == pytest.approx(math.degrees(math.atan(0.5)), abs=3.0)
    assert right == pytest.approx(-left, abs=1e-3)


def test_width_takes_the_slant_out():
    upright, sheared = captions.width_pixels(_bar(6)), captions.width_pixels(_bar(6, shear=0.5))
    # a uniform 6-px bar: the standard deviation of 6 evenly spaced columns, sqrt((6² - 1) / 12)
    assert float(upright) == pytest.approx(math.sqrt(35 / 12), rel=1e-4)
    assert float(sheared) == pytest.approx(float(upright), rel=0.15)
    assert float(captions.width_pixels(_bar(12))) > 1.8 * float(upright)


def test_blank_images_have_no_measurements_and_no_classes():
    values = captions.measure(_canvas(2))
    assert all(bool(torch.isnan(v).all()) for v in values.values())
    rows = captions.attribute_classes(_canvas(2), torch.tensor([3, 4]))
    assert rows[:, 1:].eq(UNNAMED).all() and rows[:, 0].tolist() == [3, 4]


def test_bad_shapes_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        captions.stroke_thickness(torch.zeros(28, 28))
    with pytest.raises(ValueError, match="one label per image"):
        captions.attribute_classes(_canvas(2), torch.tensor([1]))


def test_classes_follow_the_thresholds():
    thin, thick = _bar(1), _bar(4)
    rows = captions.attribute_classes(torch.cat([thin, thick, _bar(2, shear=0.6), _bar(2, shear=-0.6)]),
                                      torch.tensor([1, 1, 1, 1]))
    assert rows[0, 1] == 0 and rows[1, 1] == 1  # thin, thick
    assert rows[0, 2] == 1  # upright
    assert rows[2, 2] == 2 and rows[3, 2] == 0  # leaning right, leaning left


@pytest.mark.slow
def test_thresholds_are_the_training_digits_thirds():
    from course_utils.data import load_mnist

    images, labels = load_mnist("train")
    values = captions.measure(images)
    low, high = captions.thirds(values["thickness"])
    assert (captions.THIN_BELOW, captions.THICK_ABOVE) == pytest.approx((low, high), abs=0.02)
    for digit in range(10):
        got = captions.thirds(values["width"][labels == digit])
        assert captions.WIDTH_THIRDS[digit] == pytest.approx(got, abs=0.006), digit


def test_captions_name_only_true_attributes_and_vary():
    generator = torch.Generator().manual_seed(0)
    row = torch.tensor([7, 1, 2, UNNAMED])  # a thick, right-leaning 7 of ordinary width
    texts = {captions.random_caption(row, generator) for _ in range(300)}
    assert len(texts) > 60  # paraphrases
    assert any("seven" in t for t in texts) and any("7" in t for t in texts)  # words and numerals
    for text in texts:
        asked = captions.read_prompt(text)
        assert asked[0] in (7, UNNAMED)
        assert asked[1] in (1, UNNAMED) and asked[2] in (2, UNNAMED) and asked[3] == UNNAMED, text
    orders = [t for t in texts if "thick" in t and "right" in t]
    assert any(t.index("thick") < t.index("right") for t in orders)
    assert any(t.index("thick") > t.index("right") for t in orders)


def test_a_caption_asking_for_everything_names_everything():
    generator = torch.Generator().manual_seed(1)
    row = torch.tensor([4, 0, 0, 1])
    for _ in range(50):
        text = captions.random_caption(row, generator, mention=1.0, say_digit=1.0)
        assert captions.read_prompt(text).tolist() == row.tolist(), text


def test_articles_follow_the_next_word():
    assert captions.describe([8, 1, UNNAMED, UNNAMED]) == "a thick eight"
    assert captions.describe([8, UNNAMED, 1, UNNAMED]) == "an upright eight"
    assert captions._articles("a 8 and a one") == "an 8 and a one"
    assert captions.describe([3, UNNAMED, UNNAMED, UNNAMED]) == "three"


def test_read_prompt():
    assert captions.read_prompt("a thick, slanted 7").tolist() == [7, 1, 2, UNNAMED]
    assert captions.read_prompt("Seven, leaning LEFT and wide").tolist() == [7, UNNAMED, 0, 1]
    assert captions.read_prompt("a left-leaning 3").tolist() == [3, UNNAMED, 0, UNNAMED]
    assert captions.read_prompt("").tolist() == [UNNAMED] * 4
    with pytest.raises(ValueError, match="two thicknesss|two thickness"):
        captions.read_prompt("a thin thick 7")
    with pytest.raises(ValueError, match="two digits"):
        captions.read_prompt("a 7 and a 3")


def test_every_caption_word_is_in_the_vocabulary():
    vocabulary = set(captions.vocabulary())
    generator = torch.Generator().manual_seed(2)
    for _ in range(500):
        row = [int(torch.randint(10, (1,), generator=generator))] + [
            int(torch.randint(-1, len(captions.CLASSES[a]), (1,), generator=generator)) for a in captions.ATTRIBUTES]
        assert set(captions.split_words(captions.random_caption(row, generator))) <= vocabulary


def test_held_out_rows_are_found():
    rows = torch.tensor([[3, 1, UNNAMED, UNNAMED], [3, 0, UNNAMED, UNNAMED], [7, 0, 2, 1], [4, UNNAMED, 0, 0],
                         [5, 1, 1, 1], [5, 1, 2, 1]])
    assert captions.held_out(rows).tolist() == [True, False, True, True, True, False]


def test_attributes_met_compares_what_was_asked_only():
    images = torch.cat([_bar(1), _bar(4)])
    asked = torch.tensor([[1, 0, UNNAMED, UNNAMED], [1, 0, 1, UNNAMED]])  # both asked "thin"; the second also "upright"
    met = captions.attributes_met(images, asked)
    assert met[0, 0] == 1 and met[1, 0] == 0 and met[1, 1] == 1
    assert torch.isnan(met[0, 1:]).all() and torch.isnan(met[1, 2])


def test_caption_table_lists_every_class():
    table = captions.caption_table()
    for attribute, classes in captions.CLASSES.items():
        for name in classes:
            assert f"| {attribute} | {name} |" in table
