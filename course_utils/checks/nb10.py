"""Checks for notebook 10, a tiny text-to-image model: stroke thickness, padding and the null prompt,
cross-attention weights, and the latent scale factor."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .. import autoencoder, captions, text2img, text_encoder
from .registry import Case, Exercise, KnownError, KnownMistake, register

NOTEBOOK = "10_text_to_image"


# ----------------------------------------------------------------------------- stroke thickness


def _bar_images():
    """Drawn shapes with known thickness: bars of widths 1 to 4, an L, one touching the border, and a blurry bar."""
    x = -torch.ones(6, 1, 28, 28)
    for i, width in enumerate((1, 2, 3, 4)):
        x[i, 0, 4:24, 12 : 12 + width] = 1.0
    x[4, 0, 0:20, 0:3] = 1.0  # touches the top and left borders
    x[4, 0, 17:20, 0:15] = 1.0
    x[5, 0, 5:23, 10:16] = torch.tensor([-0.6, 0.2, 0.9, 0.9, 0.2, -0.6])  # grey edges: only brighter than mid-grey is ink
    return x


def _digits():
    from ..data import mnist_subset

    return mnist_subset("train", 6, seed=10)[0]


def _thickness_cases():
    return [Case((_bar_images(),), label="drawn bars and an L, one touching the border",
                 items=("1-px bar", "2-px bar", "3-px bar", "4-px bar", "an L at the border", "a bar with grey edges")),
            Case((_digits(),), label="six MNIST digits")]


def _ink(x, threshold=0.0):
    return (x > threshold).float()


def _outline(ink, pad=True, horizontal=True, vertical=True):
    p = F.pad(ink, (1, 1, 1, 1)) if pad else ink
    total = torch.zeros(ink.shape[0])
    if vertical:
        total = total + (p[..., 1:, :] != p[..., :-1, :]).flatten(1).sum(1)
    if horizontal:
        total = total + (p[..., :, 1:] != p[..., :, :-1]).flatten(1).sum(1)
    return total.float()


def _thickness(x, area=None, outline=None, factor=2.0):
    ink = _ink(x)
    area = ink.flatten(1).sum(1) if area is None else area
    outline = _outline(ink) if outline is None else outline
    return factor * area / outline


def _boundary_pixels(x):
    """Ink pixels with at least one background 4-neighbour (a count of pixels, not of edges)."""
    ink = _ink(x)
    p = F.pad(ink, (1, 1, 1, 1))
    neighbours = torch.stack([p[..., :-2, 1:-1], p[..., 2:, 1:-1], p[..., 1:-1, :-2], p[..., 1:-1, 2:]]).amin(0)
    return (ink * (1 - neighbours)).flatten(1).sum(1)


_BAR = ("Test your function on a long bar of known width w (the drawn cases here): for L ≫ w its area is L·w and its "
        "outline runs along both long sides.")

register(Exercise(
    "nb10.stroke_thickness", NOTEBOOK, "stroke_thickness", "measuring a caption attribute: stroke thickness from area and outline",
    "medium", captions.stroke_thickness,
    cases=_thickness_cases,
    mistakes=(
        KnownMistake("area over outline, without the factor", lambda x: _thickness(x, factor=1.0),
                     "Your values are half the stroke width: the outline of a long stroke runs along *both* of its "
                     "sides, so it is about twice the stroke's length. " + _BAR),
        KnownMistake("the brightness summed as the area", lambda x: _thickness(x, area=((x + 1) / 2).flatten(1).sum(1)),
                     "The area is a count of ink pixels (brighter than mid-grey, x > 0), not the sum of the brightness."),
        KnownMistake("ink at x > 0.5 instead of mid-grey", lambda x: 2 * _ink(x, 0.5).flatten(1).sum(1) / _outline(_ink(x, 0.5)),
                     "Images are in [-1, 1], so mid-grey is 0: a pixel is ink where x > 0."),
        KnownMistake("every pixel brighter than black counted as ink", lambda x: 2 * _ink(x, -1.0).flatten(1).sum(1) / _outline(_ink(x, -1.0)),
                     "Images are in [-1, 1], so mid-grey is 0: a pixel is ink where x > 0."),
        KnownMistake("only left-right neighbours in the outline", lambda x: _thickness(x, outline=_outline(_ink(x), vertical=False)),
                     "Count the outline's edges in both directions: between left-right neighbours and between up-down ones."),
        KnownMistake("only up-down neighbours in the outline", lambda x: _thickness(x, outline=_outline(_ink(x), horizontal=False)),
                     "Count the outline's edges in both directions: between left-right neighbours and between up-down ones."),
        KnownMistake("the image border not counted as outline", lambda x: _thickness(x, outline=_outline(_ink(x), pad=False)),
                     "Ink that touches the image's border has an outline there too: count the border as background "
                     "(pad the ink with a frame of zeros before comparing neighbours)."),
        KnownMistake("boundary pixels counted instead of edges", lambda x: _thickness(x, outline=_boundary_pixels(x)),
                     "The outline is a count of *edges* between an ink pixel and a background neighbour, not of ink pixels "
                     "that touch the background (a 1-px bar has two edges per pixel along its length)."),
    ),
    errors=(
        KnownError("a float image used as a boolean", r"bool value of Tensor|Boolean value of Tensor",
                   "`if` and `and`/`or` need a single True or False; to compare whole tensors element by element use "
                   "`x > 0`, `&`, `|` and `!=`."),
    ),
    type_hint="Return a tensor with one thickness per image, shape (N,).",
    dtype_hint="Return float32 thicknesses: convert the counts with `.float()` before dividing.",
    generic_hint=_BAR,
))



# ----------------------------------------------------------------------------- padding and the null prompt


def _pad_cases():
    return [Case(([[5, 9, 12], [7], []], 6, 1, 0), label="three prompts, the last the null prompt"),
            Case(([[4, 4, 8, 3, 2, 6, 5], [2, 3]], 5, 1, 0), label="a prompt longer than the length"),
            Case(([[6, 2], [], [3, 3, 3]], 7, 9, 8), label="start id 9 and padding id 8")]


def _rows(word_ids, length, fill, build):
    out = torch.full((len(word_ids), length), fill, dtype=torch.long)
    for b, ids in enumerate(word_ids):
        row = build(list(ids))[:length]
        out[b, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


_ORDER = "Each row is: the start token, then the prompt's words in order, then padding up to the length."

register(Exercise(
    "nb10.pad_token_ids", NOTEBOOK, "pad_token_ids", "tokens: the start token, padding, the null prompt",
    "easy", text_encoder.pad_token_ids,
    cases=_pad_cases,
    mistakes=(
        KnownMistake("no start token", lambda w, n, s, p: _rows(w, n, p, lambda ids: ids),
                     "Every row begins with the start token, also the null prompt's (it is then the only token that "
                     "is not padding, and the one thing attention can read). " + _ORDER),
        KnownMistake("the start token at the end", lambda w, n, s, p: _rows(w, n, p, lambda ids: ids + [s]),
                     "The start token comes *first*, before the words. " + _ORDER),
        KnownMistake("padding on the left", lambda w, n, s, p: torch.stack(
                     [torch.tensor(([p] * n + [s, *ids])[-n:] if len(ids) + 1 < n else [s, *ids][:n]) for ids in w]),
                     "Pad on the right: the words come right after the start token, and padding fills the end. " + _ORDER),
        KnownMistake("the words reversed", lambda w, n, s, p: _rows(w, n, p, lambda ids: [s, *ids[::-1]]),
                     "Keep the words in the prompt's order: position matters to the text encoder. " + _ORDER),
        KnownMistake("padding with the start id", lambda w, n, s, p: _rows(w, n, s, lambda ids: [s, *ids]),
                     "Fill the rest of each row with the padding id, not the start id: attention must be able to tell "
                     "the padding apart."),
        KnownMistake("the usual ids 1 and 0 hard-coded", lambda w, n, s, p: _rows(w, n, 0, lambda ids: [1, *ids]),
                     "Use the ids passed as arguments (start_id, pad_id): the last case uses other numbers."),
        KnownMistake("one row too short: the length counted without the start token",
                     lambda w, n, s, p: _rows(w, n, p, lambda ids: [s, *ids[: n - 2]]),
                     "A long prompt is cut so that the start token and the words *together* fill the length."),
    ),
    errors=(
        KnownError("a long prompt not cut to the length", r"expanded size of the tensor|must match the existing size|"
                   r"size mismatch|shape mismatch|out of bounds",
                   "A prompt can have more words than fit: cut the row (start token and words) to the length."),
        KnownError("a list of lists with different lengths", r"expected sequence of length|ValueError: expected sequence",
                   "The rows have different numbers of words, so torch.tensor cannot build the tensor from them directly: "
                   "start from a tensor filled with the padding id and write each row into it."),
    ),
    type_hint="Return one tensor of shape (number of prompts, length): `torch.full` or `torch.zeros` makes one.",
    dtype_hint="Token ids are whole numbers used as indices into an embedding table: make the tensor with dtype=torch.long.",
    generic_hint=_ORDER,
))



# ----------------------------------------------------------------------------- cross-attention weights


def _attention_cases():
    g = torch.Generator().manual_seed(10)
    q, k = torch.randn(2, 5, 8, generator=g) * 2, torch.randn(2, 6, 8, generator=g) * 2
    padding = torch.tensor([[False, False, False, True, True, True], [False, False, False, False, False, True]])
    q1, k1 = torch.randn(1, 49, 16, generator=g), torch.randn(1, 4, 16, generator=g)
    return [Case((q, k, padding), label="B = 2, 5 queries, 6 keys, some of them padding"),
            Case((q1, k1, torch.zeros(1, 4, dtype=torch.bool)), label="49 positions, 4 tokens, no padding")]


def _scores(q, k, scale=True):
    s = q @ k.transpose(1, 2)
    return s / math.sqrt(q.shape[-1]) if scale else s


def _masked(scores, padding, value=float("-inf")):
    return scores.masked_fill(padding[:, None, :], value)


_ROWS = ("Check two things on your result: each query's weights over the keys sum to 1, and a padded key gets weight 0.")

register(Exercise(
    "nb10.attention_weights", NOTEBOOK, "attention_weights", "cross-attention: which token each position reads, padding left out",
    "medium", text2img.attention_weights,
    cases=_attention_cases,
    mistakes=(
        KnownMistake("the scores not scaled", lambda q, k, p: _masked(_scores(q, k, False), p).softmax(-1),
                     "The scores must be divided by the square root of the vector size d before the softmax, or the "
                     "softmax saturates as d grows (Vaswani et al. 2017, Sec. 3.2.1)."),
        KnownMistake("divided by d instead of its square root", lambda q, k, p: _masked(_scores(q, k, False) / q.shape[-1], p).softmax(-1),
                     "Divide by the square root of d, not d itself: the dot product of two random d-vectors has a "
                     "standard deviation of √d."),
        KnownMistake("the softmax over the queries", lambda q, k, p: _masked(_scores(q, k), p).softmax(1),
                     "The softmax runs over the *keys* (the last dimension): each query spreads one unit of attention over "
                     "the tokens. " + _ROWS),
        KnownMistake("the padding not left out", lambda q, k, p: _scores(q, k).softmax(-1),
                     "Padded tokens must get no attention: leave them out before normalising. " + _ROWS),
        KnownMistake("padding weights zeroed after the softmax", lambda q, k, p: _scores(q, k).softmax(-1) * (~p[:, None, :]),
                     "Leave the padded keys out *before* normalising: zeroing their weights afterwards leaves rows that "
                     "sum to less than 1. " + _ROWS),
        KnownMistake("padded scores set to 0 instead of left out", lambda q, k, p: _masked(_scores(q, k), p, 0.0).softmax(-1),
                     "A score of 0 still gets weight after the softmax (e⁰ = 1): a padded key's score must be one that "
                     "the softmax turns into exactly 0."),
        KnownMistake("the mask the wrong way round", lambda q, k, p: _masked(_scores(q, k), ~p).softmax(-1),
                     "`padding` is True where a token is padding, the tokens to *ignore*: your mask keeps those and drops "
                     "the words. " + _ROWS),
        KnownMistake("keys times queries: (B, L, N)", lambda q, k, p: _masked(_scores(q, k), p).softmax(-1).transpose(1, 2),
                     "Your result is (B, L, N): one row per query is wanted, (B, N, L), so the queries go on the left of "
                     "the product."),
    ),
    errors=(
        KnownError("matmul of two (B, n, d) tensors without transposing", r"mat1 and mat2 shapes cannot be multiplied|"
                   r"Expected size for first two dimensions of batch2 tensor",
                   "queries (B, N, d) times keys (B, L, d) needs the keys transposed to (B, d, L): "
                   "`keys.transpose(1, 2)` (`.T` on a 3-d tensor reverses all dimensions)."),
        KnownError("masked_fill with a mask of the wrong shape", r"masked_fill.*|The size of tensor a \(\d+\) must match",
                   "`padding` is (B, L), the scores (B, N, L): add the query dimension, `padding[:, None, :]`, so it "
                   "broadcasts over the queries."),
    ),
    generic_hint=_ROWS,
))



# ----------------------------------------------------------------------------- the latent scale factor


def _scale_cases():
    g = torch.Generator().manual_seed(12)
    raw = torch.randn(30, 4, 7, 7, generator=g) * torch.tensor([4.0, 2.0, 6.0, 3.0]).view(1, 4, 1, 1) + 0.5
    small = torch.randn(12, 4, 7, 7, generator=g) * 0.2
    return [Case((raw,), label="30 latents (4, 7, 7), channels with different spreads"),
            Case((small,), label="12 latents with a small spread")]


_ONE = "One number for the whole set of latents, so that the scaled latents have variance 1 overall."

register(Exercise(
    "nb10.latent_scale_factor", NOTEBOOK, "latent_scale_factor", "latent scaling: unit-variance latents for the flow",
    "easy", autoencoder.latent_scale_factor,
    cases=_scale_cases,
    mistakes=(
        KnownMistake("the standard deviation itself", lambda z: z.float().std(),
                     "Multiplying the latents by their own spread makes it larger, not 1: a value c makes the standard "
                     "deviation c times as large. " + _ONE),
        KnownMistake("one over the variance", lambda z: 1 / z.float().var(),
                     "Multiplying by c multiplies the *standard deviation* by c (the variance by c²): aim the standard "
                     "deviation at 1. " + _ONE),
        KnownMistake("one over the mean absolute value", lambda z: 1 / z.float().abs().mean(),
                     "The spread to undo is the standard deviation, not the mean absolute value. " + _ONE),
        KnownMistake("one over the largest value", lambda z: 1 / z.float().abs().max(),
                     "Scaling by the largest value depends on one outlier; the flow's noise has standard deviation 1, "
                     "so match the latents' standard deviation. " + _ONE),
        KnownMistake("one over the root mean square (the mean not taken out)", lambda z: 1 / z.float().pow(2).mean().sqrt(),
                     "Take the mean out: the spread is measured around the latents' mean, as a standard deviation is. " + _ONE),
        KnownMistake("one factor per channel", lambda z: 1 / z.float().std(dim=(0, 2, 3)),
                     "Return a single number (a 0-d tensor), not one per channel. " + _ONE),
        KnownMistake("one factor per latent", lambda z: 1 / z.float().flatten(1).std(1),
                     "Return a single number (a 0-d tensor), not one per latent: all latents are scaled alike. " + _ONE),
        KnownMistake("the first latent only", lambda z: 1 / z[0].float().std(),
                     "Measure the spread over all the latents you are given, not the first one. " + _ONE),
    ),
    type_hint="Return a 0-d tensor (torch operations on the latents give one); the cells below multiply latents by it.",
    generic_hint=_ONE,
    rtol=2e-3,  # the unbiased and the biased standard deviation both pass
))

