"""A transformer encoder for sequences and signals: classify or regress a whole sequence, or tag each step.

    tokens (batch, L) int64 -> embedding        \\
    vectors (batch, L, d) -> Linear(d, width)    } + sinusoidal positions -> [CLS] -> TransformerEncoder
    signals (batch, C, L) -> L steps of C        /     (key_padding_mask = ~mask) -> masked mean or CLS
                                                                                 -> [MLP] -> Linear head

The layers are torch's own (`nn.TransformerEncoderLayer`, batch_first); attention is not rewritten.
Positional encoding (Vaswani et al. 2017, section 3.5), for position p and channel pair i:

    PE[p, 2i] = sin(p / 10000^(2i/width)),   PE[p, 2i+1] = cos(p / 10000^(2i/width))

computed for any length on the fly. With `per_step` the head reads every step's encoding instead of the
pooled one: (batch, L, n_outputs) logits, one set per step (sequence tagging). Padded steps are masked out of attention and of the pooling, so
their values cannot change the outputs. Baldi (2021), Deep Learning in Science, ch. on attention.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from deepsci.errors import ModelError
from deepsci.models.arguments import Specified, check_known
from deepsci.models.init import seeded
from deepsci.models.stem import ConvStem, as_steps

POOLINGS = ("mean", "cls")


def sinusoidal_positions(length: int, width: int, *, device: torch.device | None = None) -> Tensor:
    """(length, width) sinusoidal position codes PE[p, 2i] = sin(p w_i), PE[p, 2i+1] = cos(p w_i),
    w_i = 10000^(-2i/width) (Vaswani et al. 2017)."""
    position = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1)
    freq = torch.exp(torch.arange(0, width, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / width))
    pe = torch.zeros(length, width, device=device)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq[: width // 2])
    return pe


def masked_pool(h: Tensor, mask: Tensor | None, kind: str = "mean") -> Tensor:
    """The "sum", "mean" or "max" over dim 1 of h (batch, L, w), counting only the steps (or set elements)
    where mask (batch, L) is True (every step when None) -> (batch, w)."""
    if mask is None:
        return h.amax(1) if kind == "max" else h.sum(1) if kind == "sum" else h.mean(1)
    m = mask.unsqueeze(-1)
    if kind == "max":
        return h.masked_fill(~m, float("-inf")).amax(1)
    total = (h * m.to(h.dtype)).sum(1)
    return total if kind == "sum" else total / m.sum(1).clamp_min(1).to(h.dtype)


def _fill_padding(x: Tensor, mask: Tensor, channels_first: bool) -> Tensor:
    """The inputs with their padded steps set to 0 before the embedding (a fill, not a product: NaN padding would
    otherwise reach the embedding's weight gradient). x (batch, L[, d]) or (batch, C, L); mask (batch, L)."""
    if channels_first:
        return x.masked_fill(~mask.unsqueeze(1), 0.0)
    return x.masked_fill(~mask, 0) if x.dim() == 2 else x.masked_fill(~mask.unsqueeze(-1), 0.0)


def mlp_head(width: int, hidden: Sequence[int], n_outputs: int, dropout: float, act: str = "relu") -> nn.Sequential:
    """[Dropout -> Linear -> act]* -> Dropout -> Linear(n_outputs): the head every encoder ends with."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Dropout(dropout), nn.Linear(width, int(h)), nn.GELU() if act == "gelu" else nn.ReLU()]
        width = int(h)
    layers += [nn.Dropout(dropout), nn.Linear(width, n_outputs)]
    return nn.Sequential(*layers)


class TransformerEncoderModel(Specified, nn.Module):
    """Transformer encoder + pooled head for token sequences, vector sequences and signals.

    Args:
        n_inputs: features per step (ignored with `n_symbols`).
        n_outputs: head width (classes, targets).
        n_symbols: vocabulary size for int64 tokens (index 0 = padding), else None.
        width: model width d_model (a multiple of `heads`).
        heads, layers, feedforward: attention heads, encoder layers, feed-forward width.
        pooling: "mean" (masked mean over real steps) or "cls" (a learned token prepended).
        dropout: inside the encoder layers and before the head.
        activation: "relu" or "gelu" in the feed-forward blocks and the head.
        hidden: head widths after pooling.
        channels_first: inputs are signals (batch, C, L).
        per_step: the head reads each step (tagging): forward gives (batch, L, n_outputs); `pooling` is unused
            ("cls" is refused) and the stem must keep the length (stem_pool 1).
        stem_kernel, stem_pool: a convolutional stem (deepsci.models.stem.ConvStem, `width` channels) between
            the embedding and the positions: motif detectors of width stem_kernel, max-pooled by stem_pool.
        seed: seeds the weight initialisation.

    Shapes: forward(x: (batch, L) int64 | (batch, L, n_inputs) | (batch, n_inputs, L), mask: (batch, L)
    bool or None) -> (batch, n_outputs), or (batch, L, n_outputs) with per_step.
    """

    KIND = "transformer"

    def __init__(self, n_inputs: int, n_outputs: int, *, n_symbols: int | None = None, width: int = 64,
                 heads: int = 4, layers: int = 2, feedforward: int = 128, pooling: str = "mean",
                 dropout: float = 0.1, activation: str = "relu", hidden: Sequence[int] = (),
                 channels_first: bool = False, stem_kernel: int | None = None, stem_pool: int = 1,
                 per_step: bool = False, seed: int = 0) -> None:
        super().__init__()
        check_known("transformer pooling", pooling, POOLINGS)
        check_known("transformer feed-forward activation", activation, ("relu", "gelu"))
        if per_step and (pooling == "cls" or stem_pool > 1):
            raise ModelError("a per-step transformer needs pooling = 'mean' (no CLS token) and stem_pool = 1: each "
                             "input step needs its own output.")
        if width % heads:
            raise ModelError(f"width {width} must be a multiple of heads {heads} (each head gets width/heads).")
        with seeded(seed):
            self.embed: nn.Module = (nn.Embedding(n_symbols, width, padding_idx=0) if n_symbols
                                     else nn.Linear(n_inputs, width))
            self.stem = ConvStem(width, width, stem_kernel, stem_pool) if stem_kernel else None
            self.cls = nn.Parameter(torch.randn(1, 1, width) * 0.02) if pooling == "cls" else None
            layer = nn.TransformerEncoderLayer(width, heads, feedforward, dropout, activation=activation,
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = mlp_head(width, hidden, n_outputs, dropout, activation)

    def _steps(self, x: Tensor) -> Tensor:
        s = self.hparams
        x = as_steps(x, s["n_inputs"], tokens=bool(s["n_symbols"]), channels_first=s["channels_first"])
        if s["n_symbols"]:
            return self.embed(x) * math.sqrt(s["width"])  # embeddings scaled as in Vaswani et al.
        return self.embed(x)

    def encode(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """The pooled sequence summary (batch, width), or every step's encoding (batch, L, width) per step."""
        if mask is not None:
            mask = mask.bool()
            steps = x.shape[-1] if self.hparams["channels_first"] else x.shape[1]
            if tuple(mask.shape) != (x.shape[0], steps):
                raise ModelError(f"the mask must be (batch, L), True on real steps; received {tuple(mask.shape)} for "
                                 f"inputs {tuple(x.shape)}.")
            x = _fill_padding(x, mask, self.hparams["channels_first"])
        h = self._steps(x)  # (batch, L, width)
        if self.stem is not None:
            h, mask = self.stem(h, mask)  # (batch, L / stem_pool, width)
        h = h + sinusoidal_positions(h.shape[1], h.shape[2], device=h.device)
        if mask is not None:
            h = h.masked_fill(~mask.unsqueeze(-1), 0.0)  # padded steps carry no value into any computation
        if self.cls is not None:
            h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1)
            if mask is not None:
                mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        h = self.encoder(h, src_key_padding_mask=None if mask is None else ~mask)
        if self.hparams["per_step"]:
            return h
        return h[:, 0] if self.cls is not None else masked_pool(h, mask)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.head(self.encode(x, mask))  # (batch, n_outputs), per step (batch, L, n_outputs)
