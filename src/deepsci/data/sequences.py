"""Symbol sequences: vocabularies for text, DNA and proteins, and their integer encoding.

A `Vocabulary` maps symbols (characters, nucleotides, amino acids) to indices 0..V-1 and back.
Recurrent models read the indices (embedding) or their one-hot codes; a character-level language
model is trained on `next_symbol_windows` (input window, the same window shifted by one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from deepsci.errors import DataError, unknown_name

DNA = "ACGT"
RNA = "ACGU"
PROTEIN = "ACDEFGHIKLMNPQRSTVWY"  # the 20 standard amino acids, one-letter codes
ALPHABETS: dict[str, str] = {"dna": DNA, "rna": RNA, "protein": PROTEIN}


@dataclass
class Vocabulary:
    """An ordered list of symbols; index i encodes symbols[i].

    Attributes:
        symbols: the distinct symbols, in index order.
        unknown: a symbol that stands in for any symbol not in the vocabulary (it must be one of
            `symbols`), or None to raise DataError on unknown symbols.
    """

    symbols: list[str]
    unknown: str | None = None
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols):
            raise DataError(f"vocabulary symbols must be distinct; received {self.symbols!r}.")
        if self.unknown is not None and self.unknown not in self.symbols:
            raise DataError(f"unknown symbol {self.unknown!r} is not in the vocabulary {self.symbols!r}; "
                            "add it to the symbols or set unknown=None.")
        self._index = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def from_text(cls, text: str, *, unknown: str | None = None) -> "Vocabulary":
        """The sorted distinct characters of `text` (plus `unknown` if given)."""
        chars = sorted(set(text) | ({unknown} if unknown is not None else set()))
        if not chars:
            raise DataError("cannot build a vocabulary from empty text; pass a non-empty string.")
        return cls(chars, unknown)

    @classmethod
    def alphabet(cls, name: str, *, unknown: str | None = None) -> "Vocabulary":
        """A standard alphabet: "dna" (ACGT), "rna" (ACGU) or "protein" (20 amino acids).

        With `unknown` (e.g. "N" for DNA, "X" for proteins) that symbol is appended and stands in
        for ambiguous codes.
        """
        if name not in ALPHABETS:
            raise DataError(unknown_name("alphabet", name, list(ALPHABETS)))
        symbols = list(ALPHABETS[name]) + ([unknown] if unknown is not None else [])
        return cls(symbols, unknown)

    def encode(self, text: str) -> torch.Tensor:
        """Indices of the symbols of `text`, int64 of shape (len(text),)."""
        out = np.empty(len(text), dtype=np.int64)
        for i, s in enumerate(text):
            j = self._index.get(s)
            if j is None:
                if self.unknown is None:
                    raise DataError(f"symbol {s!r} at position {i} is not in the vocabulary "
                                    f"({''.join(self.symbols)!r}); build the vocabulary from this text "
                                    "or set an `unknown` symbol.")
                j = self._index[self.unknown]
            out[i] = j
        return torch.from_numpy(out)

    def decode(self, indices: torch.Tensor | list[int]) -> str:
        """The string spelled by a 1-D sequence of indices."""
        idx = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)
        try:
            return "".join(self.symbols[int(i)] for i in idx)
        except IndexError:
            raise DataError(f"index out of range for a vocabulary of {len(self)} symbols; "
                            f"received indices up to {max(idx)}.") from None

    def one_hot(self, text: str) -> torch.Tensor:
        """One-hot codes of `text`, float32 (len(text), V)."""
        return torch.nn.functional.one_hot(self.encode(text), len(self)).float()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (for model.json)."""
        return {"symbols": list(self.symbols), "unknown": self.unknown}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Vocabulary":
        return cls(list(d["symbols"]), d.get("unknown"))


def unigram_entropy(indices: torch.Tensor, n_symbols: int | None = None) -> float:
    """Entropy (nats) of the symbol frequencies: the loss of the best model that ignores context.

    H = -sum_s p(s) log p(s). A language model has learned something when its cross-entropy (nats
    per symbol) falls well below this.
    """
    counts = torch.bincount(indices.flatten(), minlength=n_symbols or 0).double()
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def next_symbol_windows(indices: torch.Tensor, length: int, stride: int | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows for next-symbol prediction.

    Args:
        indices: (T,) int64 encoded sequence.
        length: window length L.
        stride: step between window starts (default L: non-overlapping).

    Returns:
        (inputs, targets), each (n, L) int64; targets[i, t] = indices[start_i + t + 1].
    """
    stride = stride or length
    T = int(indices.shape[0])
    if length < 1 or T < length + 1:
        raise DataError(f"a sequence of {T} symbols is too short for windows of length {length}; "
                        "use a shorter window or a longer text.")
    starts = torch.arange(0, T - length, stride)
    offs = torch.arange(length)
    idx = starts[:, None] + offs[None, :]  # (n, L)
    return indices[idx], indices[idx + 1]
