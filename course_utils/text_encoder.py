"""From a prompt to vectors: a word tokenizer and a tiny transformer text encoder (notebook 10).

Stable Diffusion reads a prompt in two steps, and so does the course's model:

1. **Tokenize.** The prompt is split into words, and each word becomes its number in a fixed vocabulary
   (:class:`Tokenizer`). Every prompt gets the same length L: a **start token** first, then the words, then
   **padding** tokens up to L. The **null prompt** "" is the start token and padding only: it is what
   classifier-free guidance compares a prompt with (the text version of notebook 7's null label).
   Real models split words into sub-word pieces (CLIP: byte-pair encoding, 49,408 tokens); with the
   course's 48 caption words, whole words are enough.

       "a thick 7"  ->  [<start>, a, thick, 7, <pad>, <pad>, ...]        (L numbers)

2. **Encode.** An embedding table turns each token into a vector, a learned position embedding is added,
   and a small transformer (Vaswani et al. 2017; pre-norm layers, as CLIP's text encoder) lets the words
   look at each other, so that "left" after "leaning" can mean something else than "left" elsewhere.
   The output is **one vector per token**, (B, L, text_dim), which the denoiser reads through
   cross-attention (:mod:`course_utils.text2img`). Padding tokens are masked: no word attends to them, and
   the denoiser ignores them too (:func:`padding_mask`).

Shapes: token ids (B, L) long; padding mask (B, L) bool, True at padding; encoder output (B, L, text_dim).
"""

from __future__ import annotations

import difflib

import torch
from torch import nn

from .captions import split_words

PAD, START = "<pad>", "<start>"
PAD_ID, START_ID = 0, 1  # the first two rows of every vocabulary
NULL_PROMPT = ""  # the empty prompt: classifier-free guidance's "no text"


class Tokenizer:
    """Words -> token ids (B, L): ``<start>``, the words' ids, then ``<pad>`` up to ``length``.

    ``words`` is the vocabulary (ids 2, 3, ... in this order; 0 is ``<pad>`` and 1 ``<start>``).
    An unknown word, or a prompt longer than ``length`` − 1 words, is a clear error.
    """

    def __init__(self, words, length: int = 16):
        words = list(words)
        if len(set(words)) != len(words) or PAD in words or START in words:
            raise ValueError("the vocabulary must list each word once, without <pad> or <start>")
        if length < 2:
            raise ValueError(f"length must be at least 2 (<start> and one word), got {length}")
        self.tokens = [PAD, START, *words]
        self.ids = {token: i for i, token in enumerate(self.tokens)}
        self.length = length

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def word_ids(self, prompt: str) -> list[int]:
        """The ids of a prompt's words, without <start> or padding."""
        ids = []
        for word in split_words(prompt):
            if word not in self.ids:
                close = difflib.get_close_matches(word, self.tokens[2:], n=3)
                hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
                raise ValueError(f"unknown word {word!r} in {prompt!r}{hint}: the model knows only the "
                                 f"{self.vocab_size - 2} words of its captions (captions.vocabulary())")
            ids.append(self.ids[word])
        if len(ids) > self.length - 1:
            raise ValueError(f"{prompt!r} has {len(ids)} words; a prompt has at most {self.length - 1}")
        return ids

    def encode(self, prompts: str | list[str]) -> torch.Tensor:
        """Token ids (B, L) of one prompt or a list of them; ``""`` is the null prompt."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        return pad_token_ids([self.word_ids(p) for p in prompts], self.length)

    def decode(self, ids: torch.Tensor) -> list[list[str]]:
        """Token ids (B, L) -> the tokens of each row, <start> and <pad> included (for showing them)."""
        return [[self.tokens[i] for i in row] for row in torch.as_tensor(ids).tolist()]

    def words_of(self, ids: torch.Tensor) -> list[str]:
        """Token ids (L,) of one prompt -> its tokens without padding ("<start>", "a", "thick", "7")."""
        return [self.tokens[i] for i in torch.as_tensor(ids).tolist() if i != PAD_ID]


def pad_token_ids(word_ids: list[list[int]], length: int, start_id: int = START_ID, pad_id: int = PAD_ID) -> torch.Tensor:
    """Word ids of B prompts (lists of different lengths) -> a (B, length) long tensor:

        row b = [start_id, word_ids[b]..., pad_id, ..., pad_id]

    The start token comes first, the words keep their order, and padding fills the rest (on the right);
    a row that would be longer than ``length`` is cut to it.
    """
    out = torch.full((len(word_ids), length), pad_id, dtype=torch.long)
    for b, ids in enumerate(word_ids):
        row = [start_id, *ids][:length]
        out[b, : len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def padding_mask(token_ids: torch.Tensor) -> torch.Tensor:
    """(B, L) bool, True where a token is padding (to be ignored by attention)."""
    return token_ids == PAD_ID


class TextEncoder(nn.Module):
    """Token ids (B, L) -> one vector per token (B, L, dim): embeddings + positions, then a small transformer."""

    def __init__(self, vocab_size: int, length: int = 16, dim: int = 64, layers: int = 2, heads: int = 4):
        super().__init__()
        self.length = length
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Parameter(torch.randn(length, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        if token_ids.dim() != 2 or token_ids.shape[1] != self.length or token_ids.dtype != torch.long:
            raise ValueError(f"token ids must be a (B, {self.length}) long tensor from the tokenizer, got "
                             f"{tuple(token_ids.shape)} {token_ids.dtype}")
        h = self.token_embedding(token_ids) + self.position_embedding  # (B, L, dim)
        h = self.transformer(h, src_key_padding_mask=padding_mask(token_ids))
        return self.norm(h)
