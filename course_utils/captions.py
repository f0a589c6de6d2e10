"""Captions made from the data: what each MNIST digit looks like, measured, and said in words (notebook 10).

MNIST comes with one label per image. A text-to-image model needs more to read, so every training
digit gets captions built from its label and from three attributes **measured on the image itself**
(the measurements follow Morpho-MNIST, Castro et al. 2019, computed here in a few lines of torch):

* **thickness** (:func:`stroke_thickness`): the stroke width in pixels, 2 A / P, where A is the ink's
  area (pixels brighter than mid-grey) and P the length of its outline (ink/background edges between
  4-neighbours). For a stroke of length L and width w, A = L w and P = 2 (L + w) ≈ 2 L, so 2 A / P ≈ w.
* **slant** (:func:`slant_degrees`): the angle of the ink's main vertical axis from upright, in degrees,
  positive when the top leans right: atan(−μ₁₁ / μ₀₂) from the ink's second moments (rows grow downwards).
* **width** (:func:`width_pixels`): the ink's horizontal spread once the slant is taken out, the standard
  deviation sqrt(μ₂₀ − μ₁₁² / μ₀₂) of its columns after the shear x → x + (μ₁₁/μ₀₂) y, in pixels.

MNIST scales every digit into a 20×20 box and centres its centre of mass, so **size and position hardly
vary** (notebook 10 measures it: the height is 20 px for most digits and the centre of mass within half a
pixel of the middle); the captions leave them out and use the width instead.

Each attribute falls into a named class or into an unnamed middle, which captions never mention
(:func:`attribute_classes`):

    thickness   thin: < 1.75 px,  thick: > 2.2 px  (the training digits' thirds, all digits together)
    slant       leaning left: < −10°,  upright: within ±5°,  leaning right: > 15°
    width       narrow / wide: the lowest / highest third of the training digits *of the same digit*
                (a wide 1 is wide for a 1; WIDTH_THIRDS holds the limits per digit)

**Captions** (:func:`random_caption`) say the digit (as a word or a numeral) and any of its named
attributes, in one of several word orders and with synonyms ("a thick, slanted seven", "7, bold and
narrow", "a 7 that is tilted right"), so the text encoder has to read words, not memorise sentences.
Some (digit, attribute) combinations are **held out** (:data:`HELD_OUT`): those training digits are left
out, so the model never sees, say, a thick 3, and asking for one tests whether it combines "thick" (learned
on other digits) with "3". :func:`read_prompt` turns a prompt back into the attributes it asks for.

Key from code names to symbols: ``attributes`` -> one row (digit, thickness, slant, width) per image,
each a class index or :data:`UNNAMED`.
"""

from __future__ import annotations

import re

import torch

INK_THRESHOLD = 0.0  # a pixel is ink where the image (in [-1, 1]) is brighter than mid-grey
UNNAMED = -1  # an attribute in the unnamed middle (or not asked for): captions do not mention it

ATTRIBUTES = ("thickness", "slant", "width")
CLASSES = {  # the named classes of each attribute, by index
    "thickness": ("thin", "thick"),
    "slant": ("leaning left", "upright", "leaning right"),
    "width": ("narrow", "wide"),
}
THIN_BELOW, THICK_ABOVE = 1.75, 2.2  # px: the thirds of the training digits' stroke thickness
LEFT_BELOW, UPRIGHT_WITHIN, RIGHT_ABOVE = -10.0, 5.0, 15.0  # degrees of slant
# the thirds of each digit's width (px) in the training set: (narrow below, wide above), digits 0-9
WIDTH_THIRDS = ((4.36, 5.17), (0.89, 1.13), (3.75, 4.36), (3.21, 3.81), (3.47, 4.20),
                (3.40, 3.94), (3.13, 3.90), (3.12, 3.79), (2.89, 3.45), (2.89, 3.48))

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Synonyms: each class's words before a noun ("a thick seven") and after it ("a seven that is thick")
WORDS_BEFORE = {
    ("thickness", 0): ("thin", "light", "fine"),
    ("thickness", 1): ("thick", "bold", "heavy"),
    ("slant", 0): ("left-leaning", "backslanted"),
    ("slant", 1): ("upright", "straight"),
    ("slant", 2): ("slanted", "right-leaning", "italic"),
    ("width", 0): ("narrow", "slim"),
    ("width", 1): ("wide", "broad"),
}
WORDS_AFTER = {
    **WORDS_BEFORE,
    ("slant", 0): ("leaning left", "tilted left", "slanted left"),
    ("slant", 1): ("upright", "standing straight"),
    ("slant", 2): ("leaning right", "tilted right", "slanted right"),
}
# Templates: {digit} a digit's name or numeral, {before} / {after} the attribute words
TEMPLATES_BEFORE = ("a {before} {digit}", "{before} {digit}", "a {before} number {digit}", "the {before} digit {digit}")
TEMPLATES_AFTER = ("a {digit} that is {after}", "{digit}, {after}", "the digit {digit}, {after}",
                   "number {digit} written {after}")
TEMPLATES_NO_DIGIT = ("a {before} digit", "a digit that is {after}")
MENTION_PROBABILITY = 0.5  # each named attribute of an image is mentioned in a caption with this probability
DIGIT_PROBABILITY = 0.9  # the digit is mentioned (else "a thick digit")

# (digit, attribute, class) combinations whose training digits are left out (section 6 of notebook 10)
HELD_OUT = ((3, "thickness", 1), (7, "thickness", 0), (4, "slant", 0), (5, "slant", 1))


# ----------------------------------------------------------------------------- measuring


def _check(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 1:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a batch of shape (N, 1, H, W) in [-1, 1], got {shape}")
    return images.float()


def stroke_thickness(images: torch.Tensor) -> torch.Tensor:
    """The stroke width in pixels, 2 A / P, of each image (N, 1, H, W) in [-1, 1] -> (N,).

    A: ink pixels (brighter than mid-grey); P: ink/background edges between 4-neighbours, the image's
    border counting as background. NaN for an image without ink.
    """
    ink = (_check(images) > INK_THRESHOLD).float()
    area = ink.flatten(1).sum(1)
    padded = torch.nn.functional.pad(ink, (1, 1, 1, 1))
    outline = ((padded[..., 1:, :] != padded[..., :-1, :]).flatten(1).sum(1)
               + (padded[..., :, 1:] != padded[..., :, :-1]).flatten(1).sum(1)).float()
    return torch.where(area > 0, 2 * area / outline.clamp(min=1), torch.nan)


def _moments(images: torch.Tensor):
    """Central second moments (mu20, mu11, mu02) of the ink, weighted by brightness in [0, 1]; x = column, y = row."""
    ink = ((_check(images) + 1) / 2).clamp(0, 1)[:, 0]  # (N, H, W)
    h, w = ink.shape[-2:]
    ys = torch.arange(h, dtype=ink.dtype, device=ink.device).view(1, h, 1)
    xs = torch.arange(w, dtype=ink.dtype, device=ink.device).view(1, 1, w)
    mass = ink.sum((1, 2)).clamp(min=1e-8)
    cy, cx = (ink * ys).sum((1, 2)) / mass, (ink * xs).sum((1, 2)) / mass
    dy, dx = ys - cy.view(-1, 1, 1), xs - cx.view(-1, 1, 1)
    mu20, mu11, mu02 = ((ink * dx * dx).sum((1, 2)) / mass, (ink * dx * dy).sum((1, 2)) / mass,
                        (ink * dy * dy).sum((1, 2)) / mass)
    has_ink = ink.flatten(1).amax(1) > (INK_THRESHOLD + 1) / 2
    return mu20, mu11, mu02, has_ink


def slant_degrees(images: torch.Tensor) -> torch.Tensor:
    """The slant of each image's ink in degrees, positive when the top leans right: atan(−μ₁₁ / μ₀₂). (N,); NaN without ink."""
    _, mu11, mu02, has_ink = _moments(images)
    angle = torch.rad2deg(torch.atan(-mu11 / mu02.clamp(min=1e-8)))
    return torch.where(has_ink, angle, torch.nan)


def width_pixels(images: torch.Tensor) -> torch.Tensor:
    """The ink's horizontal spread (standard deviation, px) with the slant taken out: sqrt(μ₂₀ − μ₁₁²/μ₀₂). (N,)."""
    mu20, mu11, mu02, has_ink = _moments(images)
    spread = (mu20 - mu11**2 / mu02.clamp(min=1e-8)).clamp(min=0).sqrt()
    return torch.where(has_ink, spread, torch.nan)


def measure(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """All three measurements of images (N, 1, H, W): {"thickness": px, "slant": degrees, "width": px}, each (N,)."""
    return {"thickness": stroke_thickness(images), "slant": slant_degrees(images), "width": width_pixels(images)}


def _classify(values: torch.Tensor, lower, upper) -> torch.Tensor:
    """0 below ``lower``, 1 above ``upper``, UNNAMED between them or for NaN."""
    out = torch.full(values.shape, UNNAMED, dtype=torch.long, device=values.device)
    out[values < lower] = 0
    out[values > upper] = 1
    return out


def attribute_classes(images: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
    """One row (digit, thickness, slant, width) per image, each a class index of CLASSES or UNNAMED: (N, 4) long.

    ``digits`` (N,) are the images' labels: width is judged against other images of the same digit.
    """
    digits = torch.as_tensor(digits, device=images.device).long()
    if digits.shape != (images.shape[0],):
        raise ValueError(f"digits must have shape ({images.shape[0]},), one label per image, got {tuple(digits.shape)}")
    values = measure(images)
    thickness = _classify(values["thickness"], THIN_BELOW, THICK_ABOVE)
    angle = values["slant"]
    slant = torch.full_like(thickness, UNNAMED)
    slant[angle < LEFT_BELOW] = 0
    slant[angle.abs() < UPRIGHT_WITHIN] = 1
    slant[angle > RIGHT_ABOVE] = 2
    thirds = torch.tensor(WIDTH_THIRDS, dtype=values["width"].dtype, device=images.device)[digits.clamp(0, 9)]
    width = _classify(values["width"], thirds[:, 0], thirds[:, 1])
    return torch.stack([digits, thickness, slant, width], dim=1)


def held_out(attributes: torch.Tensor) -> torch.Tensor:
    """(N,) bool: which rows (N, 4) show one of the HELD_OUT combinations (left out of training)."""
    mask = torch.zeros(attributes.shape[0], dtype=torch.bool, device=attributes.device)
    for digit, attribute, cls in HELD_OUT:
        mask |= (attributes[:, 0] == digit) & (attributes[:, 1 + ATTRIBUTES.index(attribute)] == cls)
    return mask


def attributes_met(images: torch.Tensor, requested: torch.Tensor) -> torch.Tensor:
    """For each image (N, 1, H, W) and each attribute asked for in ``requested`` (N, 4): was it met?

    Returns (N, 3) with 1.0 (met), 0.0 (missed) or NaN (not asked for), for thickness, slant and width,
    measured on the image and judged against the digit that was asked for.
    """
    digits = requested[:, 0].clamp(min=0)
    got = attribute_classes(images, digits)[:, 1:]
    asked = requested[:, 1:]
    met = (got == asked).float()
    return torch.where(asked == UNNAMED, torch.nan, met)


# ----------------------------------------------------------------------------- words


def _choice(options, generator: torch.Generator | None):
    return options[int(torch.randint(len(options), (1,), generator=generator))]


def _join(phrases: list[str], generator: torch.Generator | None) -> str:
    if len(phrases) == 1:
        return phrases[0]
    comma = _choice((", ", " and "), generator) if len(phrases) == 2 else ", "
    return comma.join(phrases[:-1]) + (" and " if len(phrases) > 2 else comma) + phrases[-1]


def _articles(text: str) -> str:
    """"a" before a vowel sound becomes "an" ("an upright 7", "an 8"; "a one" stays)."""
    return re.sub(r"\ba (?=(?!one\b)[aeiou]|8\b)", "an ", text)


def random_caption(row, generator: torch.Generator | None = None, *, mention: float = MENTION_PROBABILITY,
                   say_digit: float = DIGIT_PROBABILITY) -> str:
    """One caption for an image with attributes ``row`` (digit, thickness, slant, width), drawn with ``generator``.

    The digit is said with probability ``say_digit``, as a word or a numeral; each named attribute with
    probability ``mention``, by one of its synonyms, in a random order and template. (A prompt that asks for
    all of ``row``: ``mention=1, say_digit=1``.)
    """
    digit, *classes = (int(v) for v in row)
    named = [(a, c) for a, c in zip(ATTRIBUTES, classes) if c != UNNAMED]
    said = [key for key in named if float(torch.rand((), generator=generator)) < mention]
    if len(said) > 1:
        order = torch.randperm(len(said), generator=generator).tolist()
        said = [said[i] for i in order]
    with_digit = digit != UNNAMED and float(torch.rand((), generator=generator)) < say_digit
    if not said:
        return (_choice((DIGIT_NAMES[digit], str(digit)), generator) if with_digit else "")
    before = _join([_choice(WORDS_BEFORE[key], generator) for key in said], generator)
    after = _join([_choice(WORDS_AFTER[key], generator) for key in said], generator)
    if not with_digit:
        return _articles(_choice(TEMPLATES_NO_DIGIT, generator).format(before=before, after=after))
    name = _choice((DIGIT_NAMES[digit], str(digit)), generator)
    template = _choice(TEMPLATES_BEFORE + TEMPLATES_AFTER, generator)
    return _articles(template.format(digit=name, before=before, after=after))


def describe(row) -> str:
    """The plain caption of ``row`` (digit, thickness, slant, width): every named attribute, then the digit's name."""
    digit, *classes = (int(v) for v in row)
    words = [WORDS_BEFORE[(a, c)][0] for a, c in zip(ATTRIBUTES, classes) if c != UNNAMED]
    noun = DIGIT_NAMES[digit] if digit != UNNAMED else "digit"
    return _articles(("a " + ", ".join(words + [noun])).replace(", " + noun, " " + noun)) if words else noun


def split_words(prompt: str) -> list[str]:
    """The words of a prompt: lower case, split at spaces, commas, hyphens and other punctuation."""
    if not isinstance(prompt, str):
        raise ValueError(f"a prompt is a string, got {type(prompt).__name__}")
    return re.findall(r"[a-z]+|[0-9]", prompt.lower())


def _phrase_table() -> dict[tuple[str, ...], tuple[str, int]]:
    table = {}
    for (attribute, cls), words in list(WORDS_BEFORE.items()) + list(WORDS_AFTER.items()):
        for phrase in words:
            table[tuple(split_words(phrase))] = (attribute, cls)
    return table


def read_prompt(prompt: str) -> torch.Tensor:
    """The attributes a prompt asks for, as a row (digit, thickness, slant, width); UNNAMED where it says nothing.

    ``read_prompt("a thick, slanted 7")`` -> [7, 1, 2, -1]. A prompt that asks for two values of one
    attribute ("a thin thick 7") is refused with a clear error.
    """
    words = split_words(prompt)
    row = [UNNAMED] * 4
    table = _phrase_table()
    longest = max(len(k) for k in table)
    i = 0
    while i < len(words):
        for n in range(longest, 0, -1):
            key = tuple(words[i : i + n])
            if key in table:
                attribute, cls = table[key]
                slot = 1 + ATTRIBUTES.index(attribute)
                if row[slot] not in (UNNAMED, cls):
                    raise ValueError(f"{prompt!r} asks for two {attribute}s: use one of "
                                     f"{', '.join(CLASSES[attribute])}")
                row[slot] = cls
                i += n
                break
        else:
            word = words[i]
            digit = int(word) if word.isdigit() else DIGIT_NAMES.index(word) if word in DIGIT_NAMES else None
            if digit is not None:
                if row[0] not in (UNNAMED, digit):
                    raise ValueError(f"{prompt!r} asks for two digits ({row[0]} and {digit}): ask for one")
                row[0] = digit
            i += 1
    return torch.tensor(row)


def vocabulary() -> list[str]:
    """Every word a caption can use, in a fixed order (the tokenizer's vocabulary)."""
    texts = list(DIGIT_NAMES) + [str(d) for d in range(10)] + ["an", "and"]
    texts += [w for words in list(WORDS_BEFORE.values()) + list(WORDS_AFTER.values()) for w in words]
    texts += list(TEMPLATES_BEFORE + TEMPLATES_AFTER + TEMPLATES_NO_DIGIT)
    seen: dict[str, None] = {}
    for text in texts:
        for word in split_words(text.replace("{before}", " ").replace("{after}", " ").replace("{digit}", " ")):
            seen.setdefault(word, None)
    return list(seen)


def caption_table() -> str:
    """A Markdown table of the vocabulary: each attribute class with its rule and its words (for notebook 10)."""
    rules = {("thickness", 0): f"stroke < {THIN_BELOW} px", ("thickness", 1): f"stroke > {THICK_ABOVE} px",
             ("slant", 0): f"slant < {LEFT_BELOW:g}°", ("slant", 1): f"|slant| < {UPRIGHT_WITHIN:g}°",
             ("slant", 2): f"slant > {RIGHT_ABOVE:g}°", ("width", 0): "lowest third of its digit's widths",
             ("width", 1): "highest third of its digit's widths"}
    lines = ["| attribute | class | measured as | words |", "|---|---|---|---|"]
    for (attribute, cls), rule in rules.items():
        words = sorted(set(WORDS_BEFORE[(attribute, cls)]) | set(WORDS_AFTER[(attribute, cls)]))
        lines.append(f"| {attribute} | {CLASSES[attribute][cls]} | {rule} | {', '.join(words)} |")
    return "\n".join(lines)


def thirds(values: torch.Tensor) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles of ``values`` (NaN ignored): how the thresholds above were chosen."""
    values = values[~torch.isnan(values)].double()
    q = torch.quantile(values, torch.tensor([1 / 3, 2 / 3], dtype=torch.float64))
    return float(q[0]), float(q[1])


__all__ = ["ATTRIBUTES", "CLASSES", "HELD_OUT", "UNNAMED", "attribute_classes", "attributes_met", "caption_table",
           "describe", "held_out", "measure", "random_caption", "read_prompt", "slant_degrees", "split_words",
           "stroke_thickness", "thirds", "vocabulary", "width_pixels"]
