"""From a head's raw outputs to predictions: values for regression, probabilities for classification."""

from __future__ import annotations

import torch

Tensor = torch.Tensor


def head_predictions(outputs: Tensor, task: str) -> Tensor:
    """Turn raw outputs into predictions.

    Args:
        outputs: regression (n, t) values; binary (n, 1) logits; multiclass (n, k) logits; multilabel
            (n, k) independent logits; tagging (n, T, k) logits per step.
        task: "regression", "binary", "multiclass", "multilabel" or "tagging".

    Returns:
        regression: (n, t) unchanged (still in the scaled target units); binary: (n, 2) probabilities
        [P(class 0), P(class 1)]; multiclass: (n, k) softmax probabilities; multilabel: (n, k)
        per-label sigmoid probabilities; tagging: (n, T, k) softmax probabilities of each step's tags.
    """
    if task == "regression":
        return outputs
    if task == "multilabel":
        return torch.sigmoid(outputs)
    if task == "binary":
        p = torch.sigmoid(outputs[:, 0])
        return torch.stack([1.0 - p, p], dim=1)
    return torch.softmax(outputs, dim=-1)
