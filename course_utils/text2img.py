"""A tiny text-to-image model: a latent denoiser that reads a prompt through cross-attention (notebook 10).

Stable Diffusion's anatomy (Rombach et al. 2022), shrunk to MNIST:

    prompt --tokenizer--> token ids (B, L) --text encoder--> one vector per token (B, L, text_dim)
    noisy latent z_t (B, 4, 7, 7), time t --denoiser, reading the tokens by cross-attention--> velocity v (B, 4, 7, 7)

The latents come from the autoencoder of :mod:`course_utils.autoencoder`; the text encoder is
:class:`~course_utils.text_encoder.TextEncoder`; both this model's text encoder and its denoiser are trained
together, with **flow matching** (notebook 9: z_t = (1 − t) z_0 + t ε, the network predicts v = ε − z_0).

**Cross-attention** (Vaswani et al. 2017; Rombach et al. 2022, Sec. 3.3). After each residual block, every one
of the 49 latent positions asks the words a question. With queries from the image features, keys and values
from the token vectors,

    Q = W_q h    (B, 49, d)        K = W_k c,  V = W_v c    (B, L, d)
    A = softmax(Q Kᵀ / √d)         (B, 49, L): how much each position looks at each token; padding gets 0
    h <- h + W_o (A V)

so each position takes a weighted average of the words' values, weighted by how well each word answers it.
:func:`attention_weights` computes A; the notebook records A during sampling to see which word is read when.

Inside the denoiser (a U-Net needs no down-sampling at 7×7; its blocks are notebook 4's):

    stem          3×3 conv 4 -> C                       (B, C, 7, 7)
    num_blocks ×  ResBlock (time embedding added), then CrossAttention to the tokens
                  with notebook 4's self-attention over the 49 positions after the middle block
    out           GroupNorm, SiLU, 3×3 conv C -> 4       (B, 4, 7, 7): the velocity

**Training** goes through the course's loop (:func:`course_utils.training.train_ddpm`) with two hooks this
model provides: :meth:`TextToImage.training_data` turns MNIST into latents and attribute rows (leaving out the
held-out combinations of :mod:`course_utils.captions`), and :meth:`TextToImage.training_condition` draws a
fresh caption for every image at every step, replacing a fraction ``label_dropout`` of them by the null
prompt so that classifier-free guidance works on text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .captions import held_out, random_caption, vocabulary
from .checkpoints import StoredConfig
from .model import CONTINUOUS_TIME_SCALE, ResBlock, SelfAttention, sinusoidal_timestep_embedding
from .text_encoder import NULL_PROMPT, TextEncoder, Tokenizer, padding_mask


@dataclass(frozen=True)
class TextToImageConfig(StoredConfig):
    """Architecture of :class:`TextToImage`, its vocabulary, and the autoencoder whose latents it makes."""

    checkpoint_kind: ClassVar[str] = "text2img"

    latent_channels: int = 4
    latent_size: int = 7
    channels: int = 32  # C, the denoiser's width
    num_blocks: int = 4  # residual blocks, each followed by cross-attention
    time_embedding_dim: int = 32
    groups: int = 8  # GroupNorm groups
    cross_attention_heads: int = 2
    text_dim: int = 64
    text_layers: int = 2
    text_heads: int = 4
    max_tokens: int = 12  # L: <start>, up to 11 words (the longest caption has 9), padding
    vocabulary: tuple[str, ...] = tuple(vocabulary())
    autoencoder: str = "autoencoder_mnist.pt"  # in data/: the autoencoder whose latents this model generates
    continuous_time: bool = True  # flow-matching time t in [0, 1] (training.TrainConfig checks it)


def attention_weights(queries: torch.Tensor, keys: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention weights with padding left out (Vaswani et al. 2017, Eq. 1):

        A = softmax(Q Kᵀ / √d)  over the L keys, with A = 0 on padded keys

    ``queries`` (B, N, d), ``keys`` (B, L, d), ``padding`` (B, L) bool (True: ignore that key) -> A (B, N, L),
    each row summing to 1 over the keys that are not padding.
    """
    scores = queries @ keys.transpose(1, 2) / math.sqrt(queries.shape[-1])  # (B, N, L)
    scores = scores.masked_fill(padding[:, None, :], float("-inf"))
    return scores.softmax(dim=-1)


class CrossAttention(nn.Module):
    """The image features (B, C, H, W) attend to the token vectors (B, L, text_dim); see the module docstring.

    With ``recorded`` set to a list, every call appends its attention weights (B, heads, H*W, L) on the CPU.
    ``weights`` computes them: :func:`attention_weights`, or a function with its arguments (a notebook passes
    the student's own).
    """

    def __init__(self, channels: int, text_dim: int, heads: int, groups: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be a multiple of the heads ({heads})")
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.to_q = nn.Linear(channels, channels, bias=False)
        self.to_k = nn.Linear(text_dim, channels, bias=False)
        self.to_v = nn.Linear(text_dim, channels, bias=False)
        self.to_out = nn.Linear(channels, channels)
        self.recorded: list[torch.Tensor] | None = None
        self.weights = attention_weights

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, C) -> (B * heads, N, C / heads)
        b, n, c = x.shape
        return x.view(b, n, self.heads, c // self.heads).transpose(1, 2).reshape(b * self.heads, n, c // self.heads)

    def forward(self, h: torch.Tensor, text: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        b, c, height, width = h.shape
        q = self._split(self.to_q(self.norm(h).flatten(2).transpose(1, 2)))  # (B*heads, HW, C/heads)
        k, v = self._split(self.to_k(text)), self._split(self.to_v(text))   # (B*heads, L, C/heads)
        weights = self.weights(q, k, padding.repeat_interleave(self.heads, 0))  # (B*heads, HW, L)
        if self.recorded is not None:
            self.recorded.append(weights.detach().view(b, self.heads, height * width, -1).cpu())
        out = (weights @ v).view(b, self.heads, height * width, c // self.heads).transpose(1, 2).reshape(b, -1, c)
        return h + self.to_out(out).transpose(1, 2).reshape(b, c, height, width)


class TextToImage(nn.Module):
    """v_theta(z_t, t, tokens): the velocity of a noisy latent, given a prompt's token ids. See the module docstring.

        model(z_t, t, token_ids) -> v     z_t (B, 4, 7, 7); t (B,) floats in [0, 1]; token_ids (B, L) long
    """

    def __init__(self, config: TextToImageConfig | None = None):
        super().__init__()
        self.config = cfg = config or TextToImageConfig()
        self.tokenizer = Tokenizer(cfg.vocabulary, cfg.max_tokens)
        self.text_encoder = TextEncoder(self.tokenizer.vocab_size, cfg.max_tokens, cfg.text_dim, cfg.text_layers,
                                        cfg.text_heads)
        emb_dim = 4 * cfg.time_embedding_dim
        self.time_mlp = nn.Sequential(nn.Linear(cfg.time_embedding_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        c = cfg.channels
        self.stem = nn.Conv2d(cfg.latent_channels, c, 3, padding=1)
        self.blocks = nn.ModuleList(ResBlock(c, c, emb_dim, cfg.groups, 0.0) for _ in range(cfg.num_blocks))
        self.cross_attention = nn.ModuleList(CrossAttention(c, cfg.text_dim, cfg.cross_attention_heads, cfg.groups)
                                             for _ in range(cfg.num_blocks))
        self.middle = cfg.num_blocks // 2 - 1  # self-attention after this block
        self.self_attention = SelfAttention(c, cfg.groups)
        self.out_norm = nn.GroupNorm(cfg.groups, c)
        self.out_conv = nn.Conv2d(c, cfg.latent_channels, 3, padding=1)

    # ------------------------------------------------------------------ what the course's loops ask of a model

    is_conditional = True  # it needs a prompt (the null prompt for "no text")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.config.latent_channels, self.config.latent_size, self.config.latent_size)

    def encode_text(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (B, L) -> (token vectors (B, L, text_dim), padding mask (B, L))."""
        return self.text_encoder(token_ids), padding_mask(token_ids)

    def forward(self, z_t: torch.Tensor, t: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
        if token_ids is None:
            raise ValueError("the text-to-image model needs token ids: model.tokenizer.encode(prompts), "
                             "or the null prompt model.tokenizer.encode('') for no text")
        return self.denoise(z_t, t, *self.encode_text(token_ids.to(z_t.device)))

    def denoise(self, z_t: torch.Tensor, t: torch.Tensor, text: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """The velocity of ``z_t`` at ``t``, reading already-encoded ``text`` (B, L, text_dim) with its ``padding``."""
        if z_t.dim() != 4 or tuple(z_t.shape[1:]) != self.latent_shape:
            raise ValueError(f"expected latents of shape (B, {', '.join(map(str, self.latent_shape))}), got "
                             f"{tuple(z_t.shape)}; images go through the autoencoder first")
        if not bool(torch.isfinite(z_t).all()):
            raise ValueError("the latents z_t contain NaN or infinity; check the noise they were made from")
        t = torch.as_tensor(t, device=z_t.device)
        if t.dim() == 0:
            t = t.expand(z_t.shape[0])
        emb = self.time_mlp(sinusoidal_timestep_embedding(t.float() * CONTINUOUS_TIME_SCALE, self.config.time_embedding_dim))
        h = self.stem(z_t)
        for i, (block, cross) in enumerate(zip(self.blocks, self.cross_attention)):
            h = cross(block(h, emb), text, padding)
            if i == self.middle:
                h = self.self_attention(h)
        return self.out_conv(nn.functional.silu(self.out_norm(h)))

    # ------------------------------------------------------------------ the training loop's hooks

    def training_data(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """MNIST (N, 1, 28, 28), labels (N,) -> what this model trains on: latents (M, 4, 7, 7) and attribute rows
        (M, 4), without the digits of the held-out combinations (captions.HELD_OUT). Deterministic."""
        from .autoencoder import encode_in_batches
        from .captions import attribute_classes
        from .pretrained import load_autoencoder

        attributes = attribute_classes(images, labels)
        keep = ~held_out(attributes)
        autoencoder = load_autoencoder(self.config.autoencoder)
        print(f"captioning {len(images):,} digits ({int((~keep).sum()):,} held out) and encoding them with "
              f"{self.config.autoencoder}", flush=True)
        return encode_in_batches(autoencoder, images[keep]), attributes[keep]

    def training_condition(self, attributes: torch.Tensor, dropout: float, generator: torch.Generator | None):
        """Attribute rows (B, 4) -> token ids (B, L) of one random caption per image, drawn with ``generator``;
        each is replaced by the null prompt with probability ``dropout`` (caption dropout)."""
        drop = torch.rand(attributes.shape[0], generator=generator) < dropout
        captions = [NULL_PROMPT if dropped else random_caption(row, generator)
                    for row, dropped in zip(attributes.cpu(), drop.tolist())]
        return self.tokenizer.encode(captions).to(attributes.device)


def cross_attention_layers(model: TextToImage) -> list[CrossAttention]:
    """The model's cross-attention layers, in the order the latent passes through them."""
    return list(model.cross_attention)
