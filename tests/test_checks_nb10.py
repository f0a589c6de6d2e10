"""Notebook 10's checks (stroke_thickness, pad_token_ids, attention_weights, latent_scale_factor): every wrong answer in
the table fails with a hint that names it and never gives the formula; right answers in several styles pass; the
cells below run with whatever the check returned. (The four tests of tests/test_checks_tables.py, for this table.)"""

import math

import check_table
import pytest
import torch
import torch.nn.functional as F

from course_utils import autoencoder, captions, text2img, text_encoder
from course_utils.checks.core import EXERCISES


def _later_thickness(stroke_thickness):  # the cells below measure MNIST digits and generated ones with it
    x = -torch.ones(3, 1, 28, 28)
    x[:, 0, 4:24, 12:15] = 1.0
    assert stroke_thickness(x).shape == (3,)


def _later_pad(pad_token_ids):  # the tokenizer cell: pad_token_ids(word_ids, tokenizer.length, START_ID, PAD_ID)
    ids = pad_token_ids([[3, 4], []], 16, text_encoder.START_ID, text_encoder.PAD_ID)
    assert ids.shape == (2, 16)


def _later_attention(attention_weights):  # recomputing one layer's recorded weights
    q, k = torch.randn(2, 49, 24), torch.randn(2, 16, 24)
    padding = torch.zeros(2, 16, dtype=torch.bool)
    padding[:, 5:] = True
    assert attention_weights(q, k, padding).shape == (2, 49, 16)


def _later_scale(latent_scale_factor):  # the scaling cell: raw latents times the factor
    raw = torch.randn(50, 4, 7, 7) * 3
    assert torch.as_tensor(latent_scale_factor(raw) * raw).shape == raw.shape


LATER = {"nb10.stroke_thickness": _later_thickness, "nb10.pad_token_ids": _later_pad,
         "nb10.attention_weights": _later_attention, "nb10.latent_scale_factor": _later_scale}


def _ink(x):
    return (x > 0).float()


def _edges(ink, pad=True, both=True):
    p = F.pad(ink, (1, 1, 1, 1)) if pad else ink
    vertical = (p[:, :, 1:, :] != p[:, :, :-1, :]).sum(dim=(1, 2, 3))
    horizontal = (p[:, :, :, 1:] != p[:, :, :, :-1]).sum(dim=(1, 2, 3))
    return (vertical + horizontal if both else horizontal).float()


def _thickness_loop(images):
    out = []
    for image in images:
        ink = (image[0] > 0).float()
        area = ink.sum()
        padded = F.pad(ink, (1, 1, 1, 1))
        outline = (padded.diff(dim=0) != 0).sum() + (padded.diff(dim=1) != 0).sum()
        out.append(2 * area / outline)
    return torch.stack(out)


def _pad_loop(word_ids, length, start_id, pad_id):
    rows = []
    for ids in word_ids:
        row = ([start_id] + list(ids))[:length]
        rows.append(row + [pad_id] * (length - len(row)))
    return torch.tensor(rows)


def _pad_no_cut(word_ids, length, start_id, pad_id):
    out = torch.full((len(word_ids), length), pad_id, dtype=torch.long)
    for b, ids in enumerate(word_ids):
        out[b, : len(ids) + 1] = torch.tensor([start_id, *ids])
    return out


def _pad_float(word_ids, length, start_id, pad_id):
    out = torch.full((len(word_ids), length), float(pad_id))
    for b, ids in enumerate(word_ids):
        row = [start_id, *ids][:length]
        out[b, : len(row)] = torch.tensor(row, dtype=torch.float32)
    return out


def _scores(q, k):
    return q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])


WRONG = {
    "nb10.stroke_thickness": [
        (lambda x: _ink(x).sum(dim=(1, 2, 3)) / _edges(_ink(x)), "both* of its sides"),
        (lambda x: 2 * ((x + 1) / 2).sum(dim=(1, 2, 3)) / _edges(_ink(x)), "count of ink pixels"),
        (lambda x: 2 * (x > 0.5).float().sum(dim=(1, 2, 3)) / _edges((x > 0.5).float()), "mid-grey is 0"),
        (lambda x: 2 * _ink(x).sum(dim=(1, 2, 3)) / _edges(_ink(x), both=False), "both directions"),
        (lambda x: 2 * _ink(x).sum(dim=(1, 2, 3)) / _edges(_ink(x), pad=False), "border"),
        (lambda x: 2 * _ink(x).sum(dim=(1, 2, 3)).double() / _edges(_ink(x)), "float32"),
        (lambda x: (2 * _ink(x).sum(dim=(1, 2, 3)) / _edges(_ink(x))).tolist(), "torch operations"),
        (lambda x: 2 * _ink(x).sum() / _edges(_ink(x)).sum(), "wrong shape"),
    ],
    "nb10.pad_token_ids": [
        (lambda w, n, s, p: torch.tensor([(list(ids) + [p] * n)[:n] for ids in w]), "begins with the start token"),
        (lambda w, n, s, p: torch.tensor([(list(ids) + [s] + [p] * n)[:n] for ids in w]), "comes *first*"),
        (lambda w, n, s, p: torch.tensor([([p] * n + [s, *ids])[-n:] if len(ids) + 1 < n else [s, *ids][:n] for ids in w]),
         "Pad on the right"),
        (lambda w, n, s, p: torch.tensor([([s] + list(reversed(ids)) + [p] * n)[:n] for ids in w]), "prompt's order"),
        (lambda w, n, s, p: torch.tensor([([s, *ids] + [s] * n)[:n] for ids in w]), "not the start id"),
        (lambda w, n, s, p: torch.tensor([([1, *ids] + [0] * n)[:n] for ids in w]), "passed as arguments"),
        (_pad_no_cut, "cut the row"),
        (_pad_float, "dtype=torch.long"),
        (lambda w, n, s, p: torch.tensor([[s, *ids] for ids in w]), "torch.tensor cannot build"),
        (lambda w, n, s, p: [([s, *ids] + [p] * n)[:n] for ids in w], "torch operations"),
    ],
    "nb10.attention_weights": [
        (lambda q, k, p: (q @ k.transpose(1, 2)).masked_fill(p[:, None, :], float("-inf")).softmax(-1), "square root"),
        (lambda q, k, p: (q @ k.transpose(1, 2) / q.shape[-1]).masked_fill(p[:, None, :], -1e9).softmax(-1), "not d itself"),
        (lambda q, k, p: _scores(q, k).masked_fill(p[:, None, :], float("-inf")).softmax(dim=1), "over the *keys*"),
        (lambda q, k, p: _scores(q, k).softmax(-1), "no attention"),
        (lambda q, k, p: _scores(q, k).softmax(-1) * (~p).unsqueeze(1), "*before* normalising"),
        (lambda q, k, p: _scores(q, k).masked_fill(p[:, None, :], 0.0).softmax(-1), "exactly 0"),
        (lambda q, k, p: _scores(q, k).masked_fill(~p[:, None, :], float("-inf")).softmax(-1), "keeps those"),
        (lambda q, k, p: (k @ q.transpose(1, 2) / math.sqrt(q.shape[-1])).masked_fill(p[:, :, None], float("-inf")).softmax(1),
         "(B, N, L)"),
        (lambda q, k, p: (q @ k / math.sqrt(q.shape[-1])).softmax(-1), "keys.transpose(1, 2)"),
        (lambda q, k, p: _scores(q, k).masked_fill(p, float("-inf")).softmax(-1), "padding[:, None, :]"),
    ],
    "nb10.latent_scale_factor": [
        (lambda z: z.std(), "larger, not 1"),
        (lambda z: 1 / z.var(), "*standard deviation*"),
        (lambda z: 1 / z.abs().mean(), "not the mean absolute value"),
        (lambda z: 1 / z.abs().max(), "outlier"),
        (lambda z: 1 / torch.sqrt((z**2).mean()), "Take the mean out"),
        (lambda z: 1 / z.std(dim=(0, 2, 3)), "single number"),
        (lambda z: 1 / z[0].std(), "all the latents"),
        (lambda z: 1 / z.std().item(), "0-d tensor"),
        (lambda z: 1 / z.flatten(1).std(1), "not one per latent"),
    ],
}

CORRECT = {
    "nb10.stroke_thickness": [captions.stroke_thickness, _thickness_loop,
                              lambda x: 2 * _ink(x).sum(dim=(1, 2, 3)) / _edges(_ink(x))],
    "nb10.pad_token_ids": [text_encoder.pad_token_ids, _pad_loop],
    "nb10.attention_weights": [
        text2img.attention_weights,
        lambda q, k, p: torch.softmax(_scores(q, k) - 1e9 * p[:, None, :].float(), dim=-1),
        lambda q, k, p: torch.softmax(torch.einsum("bnd,bld->bnl", q, k) / q.shape[-1] ** 0.5
                                      + torch.where(p, float("-inf"), 0.0)[:, None, :], dim=-1),
    ],
    "nb10.latent_scale_factor": [autoencoder.latent_scale_factor, lambda z: 1 / z.std(unbiased=False),
                                 lambda z: z.flatten().std().reciprocal(), lambda z: 1 / torch.sqrt(z.var())],
}

FRAGMENTS = {
    "nb10.stroke_thickness": ["2 * area / outline", "2A/P", "2 · A / P", "2 * A / P", "2·area/perimeter"],
    "nb10.pad_token_ids": ["[start_id] + ids + [pad_id]", "[start_id, *ids]", "torch.full((B, length), pad_id"],
    "nb10.attention_weights": ["softmax(QKᵀ/√d)", "q @ k.transpose(1, 2) / math.sqrt", "QKᵀ/√d", "masked_fill(padding[:, None, :], -inf)",
                               "softmax(q kᵀ / √d"],
    "nb10.latent_scale_factor": ["1 / latents.std()", "1/std", "1 / z.std()", "latents.std() ** -1"],
}


@pytest.mark.parametrize("exercise_id, fn, words", check_table.cases(WRONG), ids=check_table.ids(WRONG))
def test_each_wrong_answer_fails_with_a_hint_that_names_it(exercise_id, fn, words):
    check_table.assert_wrong_answer_is_named(exercise_id, fn, words, LATER[exercise_id], FRAGMENTS[exercise_id])


@pytest.mark.parametrize("exercise_id, fn", [(k, f) for k, fs in CORRECT.items() for f in fs],
                         ids=[f"{k}-{i}" for k, fs in CORRECT.items() for i in range(len(fs))])
def test_right_answers_in_several_styles_pass_and_the_cells_below_run(exercise_id, fn):
    check_table.assert_correct_answer_passes(exercise_id, fn, LATER[exercise_id])


@pytest.mark.parametrize("exercise_id", sorted(FRAGMENTS))
def test_no_hint_gives_the_formula_away(exercise_id):
    check_table.assert_no_hint_gives_the_formula(exercise_id, FRAGMENTS[exercise_id])


def test_the_table_covers_every_exercise_of_the_notebook():
    check_table.assert_table_is_complete(globals(), "10_")


def test_the_exercises_use_the_library_references():
    assert EXERCISES["nb10.stroke_thickness"].reference is captions.stroke_thickness
    assert EXERCISES["nb10.pad_token_ids"].reference is text_encoder.pad_token_ids
    assert EXERCISES["nb10.attention_weights"].reference is text2img.attention_weights
    assert EXERCISES["nb10.latent_scale_factor"].reference is autoencoder.latent_scale_factor
