"""Sequence (language) models of symbols: per-symbol cross-entropy against the unigram entropy."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from deepsci.models.rnn import sequence_cross_entropy

if TYPE_CHECKING:
    from deepsci.evaluation.results import Evaluation


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


def language_evaluation(model: nn.Module, dataset: Any) -> "Evaluation":
    """Per split: next-symbol cross-entropy, perplexity and accuracy; the test split also gets a predictions
    table (each test window's last 40 symbols, the true next symbol and the predicted one)."""
    import numpy as np
    import pandas as pd

    from deepsci.data.sequences import Vocabulary
    from deepsci.evaluation.results import Evaluation, SplitResult

    h = float(dataset.summary["unigram_entropy_nats"])
    vocab = Vocabulary.from_dict(dataset.preprocessor.featurisers["x"].state["vocabulary"])
    splits = {}
    for name in ("train", "valid", "test"):
        split = getattr(dataset, name)
        if len(split) == 0:
            continue
        frame = None
        if name == "test":
            model.eval()
            with torch.no_grad():
                last = model(split.X)[:, -1].argmax(-1)  # (n,)
            frame = pd.DataFrame({
                "id": split.ids, "context": [vocab.decode(x[-40:]) for x in split.X],
                "next": [vocab.decode(y[-1:]) for y in split.y], "next_pred": [vocab.decode(p.view(1)) for p in last]})
        splits[name] = SplitResult(name=name, ids=list(split.ids), y_true=np.empty(0), pred=np.empty(0),
                                   metrics=language_metrics(model, split.X, split.y, h), frame=frame)
    return Evaluation(task=dataset.task, splits=splits)
