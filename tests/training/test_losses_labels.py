"""The losses of the multi-label and per-step heads against hand-computed values."""

from __future__ import annotations

import math

import torch

from deepsci.tasks import task_of
from deepsci.training.losses import LOSSES, get_loss, per_sample_loss


def test_tagging_cross_entropy_is_the_mean_over_real_steps_only():
    logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [5.0, -5.0]],
                           [[1.0, 0.0], [9.0, 9.0], [3.0, 3.0]]])  # (2 rows, 3 steps, 2 tags)
    tags = torch.tensor([[1, 0, -100], [0, -100, -100]])  # -100: padding
    loss = get_loss(None, "tagging")
    # by hand: -log softmax at the three real steps
    real = [math.log(2), math.log(1 + math.exp(-2)), math.log(1 + math.exp(-1))]
    assert math.isclose(float(loss(logits, tags)), sum(real) / 3, rel_tol=1e-6)
    rows = per_sample_loss(loss)(logits, tags)
    assert torch.allclose(rows, torch.tensor([(real[0] + real[1]) / 2, real[2]]), atol=1e-6)
    # what the padded steps hold never matters
    logits[0, 2] = torch.tensor([-50.0, 50.0])
    assert math.isclose(float(loss(logits, tags)), sum(real) / 3, rel_tol=1e-6)


def test_multilabel_loss_is_one_bernoulli_per_label():
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, -3.0, 0.5]])
    y = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    assert task_of("multilabel").default_loss == "binary-cross-entropy"
    assert get_loss(None, "multilabel") is LOSSES["binary-cross-entropy"]
    p = torch.sigmoid(logits.double())
    by_hand = -(y * p.log() + (1 - y) * (1 - p).log())  # (2, 3)
    assert math.isclose(float(get_loss(None, "multilabel")(logits, y)), float(by_hand.mean()), rel_tol=1e-6)
    assert torch.allclose(per_sample_loss(get_loss(None, "multilabel"))(logits, y), by_hand.mean(1).float())
