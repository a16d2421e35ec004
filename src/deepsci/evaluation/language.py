"""Sequence (language) models of symbols: per-symbol cross-entropy against the unigram entropy."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from deepsci.data.sequences import Vocabulary
from deepsci.evaluation.results import Evaluation, SplitResult
from deepsci.models.rnn import sequence_cross_entropy
from deepsci.training.inference import predict_batches


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


def language_evaluation(model: nn.Module, dataset: Any) -> Evaluation:
    """Per split: next-symbol cross-entropy, perplexity and accuracy; the test split also gets a predictions
    table (each test window's last 40 symbols, the true next symbol and the predicted one)."""
    h = float(dataset.summary.unigram_entropy_nats)
    vocab = Vocabulary.from_dict(dataset.preprocessor.featurisers["x"].state["vocabulary"])
    splits = {}
    for name in ("train", "valid", "test"):
        split = getattr(dataset, name)
        if len(split) == 0:
            continue
        frame = None
        if name == "test":
            last = predict_batches(model, split.X)[:, -1].argmax(-1)  # (n,)
            frame = pd.DataFrame({
                "id": split.ids, "context": [vocab.decode(x[-40:]) for x in split.X],
                "next": [vocab.decode(y[-1:]) for y in split.y], "next_pred": [vocab.decode(p.view(1)) for p in last]})
        splits[name] = SplitResult(name=name, ids=list(split.ids), y_true=np.empty(0), pred=np.empty(0),
                                   metrics=language_metrics(model, split.X, split.y, h), frame=frame)
    return Evaluation(task=dataset.task, splits=splits)


def text_sample(model: nn.Module, dataset: Any, length: int = 300, temperature: float = 0.8, seed: int = 0) -> str:
    """`length` symbols a character-level model (model.kind = "charlm") generates from nothing, decoded."""
    vocab = Vocabulary.from_dict(dataset.preprocessor.featurisers["x"].state["vocabulary"])
    sampler: Any = model.sample
    return str(vocab.decode(sampler(length, temperature=temperature, generator=torch.Generator().manual_seed(seed))))
