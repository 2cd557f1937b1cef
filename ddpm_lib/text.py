"""Text prompts through cross-attention: a tiny tokenizer, a prompt encoder, and a text-conditioned UNet.

Taught in ``notebooks/06_conditioning_and_guidance.ipynb``. A prompt ("7", "a handwritten seven") becomes token
ids, a one-layer Transformer encodes them as context (B, L, context_dim), and the UNet's cross-attention reads it.
:class:`TextConditionedUNet` takes the ids where the class-conditional UNet takes labels, so training, sampling and
guidance work unchanged: the null label is the empty prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch
from torch import nn

from .config import ModelConfig
from .data import ImageDataset
from .runtime import seeded
from .unet import SimpleUNet
from .validate import check_whole

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEMPLATES = ("{d}", "{w}", "a {w}", "the digit {w}", "a handwritten {w}", "number {d}", "the number {w}",
             "digit {d}")
PAD, UNK = "<pad>", "<unk>"


class PromptTokenizer:
    """Word-level tokenizer over a fixed vocabulary; id 0 is padding, id 1 unknown words.

    ``encode(["a seven", "3"])`` -> (2, max_len) int64 ids, lower-cased, padded with 0.
    """

    def __init__(self, words: Sequence[str] | None = None, max_len: int = 6) -> None:
        check_whole("PromptTokenizer argument 'max_len'", max_len, 1)
        if words is None:
            words = sorted({*DIGIT_WORDS, *(str(d) for d in range(10)),
                            *(w for t in TEMPLATES for w in t.split() if not w.startswith("{"))})
        self.words_list = tuple(words)
        self.vocab = [PAD, UNK, *words]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.max_len = max_len

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def words(self, prompt: str) -> list[str]:
        return re.findall(r"[a-z]+|\d", prompt.lower())

    def encode(self, prompts: str | Sequence[str]) -> torch.Tensor:
        if isinstance(prompts, str):
            prompts = [prompts]
        ids = torch.zeros(len(prompts), self.max_len, dtype=torch.long)
        for i, p in enumerate(prompts):
            words = self.words(p)
            if len(words) > self.max_len:
                raise ValueError(f"prompt {p!r} has {len(words)} words; at most {self.max_len} fit")
            ids[i, :len(words)] = torch.tensor([self.index.get(w, 1) for w in words], dtype=torch.long)
        return ids

    def decode(self, ids: torch.Tensor) -> list[str]:
        return [" ".join(self.vocab[i] for i in row.tolist() if i != 0) for row in ids]


def random_prompts(labels: torch.Tensor, generator: torch.Generator | None = None) -> list[str]:
    """One prompt per digit label, each from a random template ("7", "seven", "a handwritten seven", ...)."""
    picks = torch.randint(0, len(TEMPLATES), (len(labels),), generator=generator).tolist()
    return [TEMPLATES[k].format(d=int(y), w=DIGIT_WORDS[int(y)]) for k, y in zip(picks, labels.tolist())]


class PromptEncoder(nn.Module):
    """Token ids (B, L) -> context (B, L, dim): embeddings + learned positions + one Transformer layer.

    Padding positions are masked out of the self-attention (an all-padding prompt stays finite).
    """

    def __init__(self, vocab_size: int, dim: int = 64, max_len: int = 6, heads: int = 4) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"PromptEncoder: dim {dim} must divide into heads={heads}")
        self.dim, self.heads = dim, heads
        self.token = nn.Embedding(vocab_size, dim)
        self.position = nn.Parameter(torch.zeros(max_len, dim))
        self.layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True,
                                                norm_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.token(ids) + self.position[: ids.shape[1]]
        pad = ids == 0
        pad = pad & ~pad.all(dim=1, keepdim=True)  # keep the empty prompt attendable
        out: torch.Tensor = self.norm(self.layer(h, src_key_padding_mask=pad))
        return out


@dataclass(frozen=True)
class TextModelConfig:
    """What rebuilds a :class:`TextConditionedUNet`: the UNet's config (``context_dim``: the encoder's width), the
    vocabulary after <pad> and <unk>, tokens per prompt, and the encoder's attention heads."""

    unet: ModelConfig
    words: tuple[str, ...]
    max_len: int = 6
    heads: int = 4

    def __post_init__(self) -> None:
        if self.unet.context_dim is None:
            raise ValueError("TextModelConfig: the UNet config needs context_dim (the width of its cross-attention)")
        if not self.words or not all(isinstance(w, str) and w for w in self.words):
            raise ValueError(f"TextModelConfig field 'words' must be a non-empty list of words, got {self.words!r}")
        check_whole("TextModelConfig field 'max_len'", self.max_len, 1)
        check_whole("TextModelConfig field 'heads'", self.heads, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"unet": self.unet.to_dict(), "words": list(self.words), "max_len": self.max_len, "heads": self.heads}

    @classmethod
    def from_dict(cls, d: object) -> "TextModelConfig":
        if not isinstance(d, dict) or set(d) - {"unet", "words", "max_len", "heads"} or "unet" not in d:
            raise ValueError(f"a text model config is a JSON object with keys unet, words, max_len, heads; got {d!r:.200}")
        words = d.get("words")
        if not isinstance(words, list):
            raise ValueError(f"TextModelConfig field 'words' must be a list of words, got {words!r:.80}")
        return cls(ModelConfig.from_dict(d["unet"]), tuple(words), d.get("max_len", 6), d.get("heads", 4))


class TextConditionedUNet(nn.Module):
    """eps_theta(x_t, t, prompt_ids): a SimpleUNet whose cross-attention reads an encoded prompt; ``labels`` are token
    ids (B, L), and ``null_label = 0`` makes a row the empty prompt."""

    null_label = 0

    def __init__(self, unet: SimpleUNet, tokenizer: PromptTokenizer, encoder: PromptEncoder) -> None:
        super().__init__()
        if unet.context_dim is None:
            raise ValueError("the UNet needs cross-attention: build it with context_dim=...")
        self.unet, self.tokenizer, self.encoder = unet, tokenizer, encoder
        self.in_channels = unet.in_channels
        self.num_classes = tokenizer.vocab_size  # marks the model as conditional for train()

    @property
    def config(self) -> TextModelConfig:
        return TextModelConfig(self.unet.config, self.tokenizer.words_list, self.tokenizer.max_len, self.encoder.heads)

    FORMAT = "ddpm_lib.text_unet.v1"  #: how checkpoints name this class (:mod:`ddpm_lib.checkpoint`)

    @classmethod
    def from_config_dict(cls, config: dict[str, Any]) -> "TextConditionedUNet":
        """Rebuilt from a checkpoint's ``model_config`` (validated by :class:`TextModelConfig`)."""
        return cls.from_config(TextModelConfig.from_dict(config))

    @classmethod
    def from_config(cls, config: TextModelConfig) -> "TextConditionedUNet":
        tok = PromptTokenizer(config.words, config.max_len)
        dim = config.unet.context_dim
        assert dim is not None  # checked by TextModelConfig
        return cls(SimpleUNet.from_config(config.unet), tok, PromptEncoder(tok.vocab_size, dim, tok.max_len, config.heads))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            labels = torch.zeros(x.shape[0], self.tokenizer.max_len, dtype=torch.long, device=x.device)
        if labels.ndim != 2 or labels.shape[0] != x.shape[0]:
            raise ValueError(f"a text model takes prompt token ids of shape ({x.shape[0]}, L) as labels, got "
                             f"{tuple(labels.shape)}; encode prompts with model.prompt_ids([...])")
        out: torch.Tensor = self.unet(x, t, context=self.encoder(labels))
        return out

    def prompt_ids(self, prompts: str | Sequence[str], device: torch.device | str = "cpu") -> torch.Tensor:
        return self.tokenizer.encode(prompts).to(device)


def build_text_model(unet_kwargs: dict[str, Any], context_dim: int = 64) -> TextConditionedUNet:
    """A fresh text-conditioned model: a SimpleUNet with cross-attention plus tokenizer and encoder."""
    tok = PromptTokenizer()
    unet = SimpleUNet(**{**unet_kwargs, "num_classes": None, "context_dim": context_dim})
    return TextConditionedUNet(unet, tok, PromptEncoder(tok.vocab_size, context_dim, tok.max_len))


def text_model_from(unet: SimpleUNet, context_dim: int = 64, seed: int = 0) -> TextConditionedUNet:
    """A text model starting from a trained class-conditional ``unet``: its weights, plus cross-attention whose output
    projection starts at zero, so it begins as ``unet``'s unconditional model. New layers are drawn under ``seed``."""
    with seeded(seed):
        new = SimpleUNet.from_config(replace(unet.config, context_dim=context_dim))
        missing, unexpected = new.load_state_dict(unet.state_dict(), strict=False)
        if unexpected or not all(".cross_attn." in k for k in missing):
            raise ValueError(f"cannot extend this UNet with cross-attention (missing {missing}, unexpected {unexpected})")
        for name, module in new.named_modules():
            if name.endswith("cross_attn"):
                nn.init.zeros_(module.proj.weight)
                nn.init.zeros_(module.proj.bias)
        tok = PromptTokenizer()
        return TextConditionedUNet(new, tok, PromptEncoder(tok.vocab_size, context_dim, tok.max_len))


def prompt_dataset(data: ImageDataset, tokenizer: PromptTokenizer, copies: int = 2,
                   generator: torch.Generator | None = None) -> ImageDataset:
    """Each image ``copies`` times, each copy with a random prompt for its digit; labels are token ids (N, L)."""
    images = data.images.repeat(copies, 1, 1, 1)
    labels = data.labels.repeat(copies)
    ids = tokenizer.encode(random_prompts(labels, generator))
    return ImageDataset(images, ids, data.classes, f"{data.name}+prompts")
