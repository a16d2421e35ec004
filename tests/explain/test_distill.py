"""Distillation's loss against Hinton et al. (2015)'s closed forms, and classifier scores against sklearn."""

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from deepsci.explain.distill import classifier_scores, distillation_loss, soft_targets


def test_soft_targets_average_the_members_softened_probabilities():
    z = torch.randn(3, 5, 4)  # (members, rows, classes)
    expected = torch.stack([torch.softmax(z[k] / 2.5, 1) for k in range(3)]).mean(0)
    assert torch.allclose(soft_targets(z, 2.5), expected) and torch.allclose(soft_targets(z[0], 1.0).sum(1), torch.ones(5))


def test_loss_is_t2_kl_plus_hard_cross_entropy():
    torch.manual_seed(0)
    s, z, y = torch.randn(6, 4), torch.randn(6, 4), torch.randint(0, 4, (6,))
    p = torch.softmax(z / 3, 1)
    target = torch.cat([p, y[:, None].float()], 1)
    q = torch.softmax(s / 3, 1)
    kl = (p * (p.log() - q.log())).sum(1).mean()
    ce = torch.nn.functional.cross_entropy(s, y)
    assert float(distillation_loss(3.0, 0.7)(s, target)) == pytest.approx(float(0.7 * 9 * kl + 0.3 * ce), rel=1e-5)


def test_high_temperature_gradient_matches_logits():
    # Hinton et al. §2.1: at high T with zero-mean logits, ∂C/∂s_i ≈ (s_i - z_i) / (N T²) for N classes;
    # the T² factor of the loss makes it (s_i - z_i) / N, independent of T.
    s = torch.tensor([[0.3, -0.1, -0.4, 0.2]], requires_grad=True)
    z = torch.tensor([[0.5, 0.1, -0.2, -0.4]])
    target = torch.cat([soft_targets(z, 50.0), torch.zeros(1, 1)], 1)
    distillation_loss(50.0, 1.0)(s, target).backward()
    assert torch.allclose(s.grad, (s.detach() - z) / 4, atol=1e-3)  # next order: O(1/T) relative


def test_scores_match_sklearn():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=50)
    y = rng.integers(0, 3, size=50)
    scores = classifier_scores(proba, y)
    assert scores["nll"] == pytest.approx(log_loss(y, proba, labels=[0, 1, 2]))
    assert scores["accuracy"] == pytest.approx(float((proba.argmax(1) == y).mean()))
    assert 0 <= scores["ece"] <= 1
