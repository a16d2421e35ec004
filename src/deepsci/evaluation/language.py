"""Sequence (language) models of symbols: per-symbol cross-entropy against the unigram entropy."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from deepsci.models.rnn import sequence_cross_entropy


@torch.no_grad()
def language_metrics(model: nn.Module, X: torch.Tensor, y: torch.Tensor, unigram_entropy: float,
                     batch_size: int = 256) -> dict[str, Any]:
    """Mean next-symbol cross-entropy (nats), perplexity and accuracy on windows X, y (n, L) int64.

    A model that ignores context cannot do better than the unigram entropy of the symbols: the
    ratio says how much of the sequence's structure the model learned.
    """
    model.eval()
    total, correct, count = 0.0, 0, 0
    for i in range(0, len(X), batch_size):
        logits = model(X[i:i + batch_size])  # (b, L, V)
        target = y[i:i + batch_size]
        total += sequence_cross_entropy(logits, target).item() * target.numel()
        correct += int((logits.argmax(-1) == target).sum())
        count += target.numel()
    ce = total / count
    return {"cross_entropy_nats": ce, "perplexity": math.exp(ce), "accuracy": correct / count,
            "unigram_entropy_nats": unigram_entropy, "cross_entropy_over_unigram": ce / unigram_entropy}
