"""Update–gradient angles: the angle function, the callback under the Trainer, and the plot."""

import math

import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from deepsci.models.mlp import MLP
from deepsci.rules import apply_rule, angle_degrees, gradient_angles, make_alignment_callback, plot_alignment
from deepsci.rules.experiments import digits_split


def test_angle_degrees_against_hand_values():
    a = torch.tensor([[1.0, 0.0]])
    assert angle_degrees(a, a * 3) == pytest.approx(0.0, abs=1e-6)
    assert angle_degrees(a, torch.tensor([[0.0, 2.0]])) == pytest.approx(90.0)
    assert angle_degrees(a, -a) == pytest.approx(180.0)
    assert angle_degrees(a, torch.tensor([[1.0, 1.0]])) == pytest.approx(45.0)
    assert angle_degrees(a, torch.zeros(1, 2)) == 90.0


def test_gradient_angles_zero_for_backprop_and_head():
    X, y, _, _ = digits_split()
    loss = nn.functional.cross_entropy
    bp = apply_rule(MLP(64, 10, (32, 32), "tanh", dropout=0.2, seed=0), "backprop")
    assert max(gradient_angles(bp, X[:128], y[:128], loss)) < 1e-3
    fa = apply_rule(MLP(64, 10, (32, 32), "tanh", dropout=0.2, seed=0), "feedback-alignment", seed=0)
    fa.train()
    angles = gradient_angles(fa, X[:128], y[:128], loss)
    assert fa.training  # mode restored
    assert angles[-1] < 1e-3 and 60.0 < angles[0] < 120.0  # random feedback: near orthogonal at start


def test_feedback_alignment_angle_falls_during_training():
    from deepsci.training import Trainer

    X, y, _, _ = digits_split()
    loss = nn.functional.cross_entropy
    model = apply_rule(MLP(64, 10, (64, 64), "tanh", seed=0), "feedback-alignment", seed=0)
    cb = make_alignment_callback(X[:256], y[:256], loss, every=10)
    Trainer(model, loss=loss, lr=1e-3, epochs=6, batch_size=32, callbacks=[cb], seed=0).fit(X, y)
    curves = cb.curves()
    assert sorted(curves) == [0, 1, 2]
    steps, first = curves[0]
    assert steps[0] == 0 and steps[-1] == 10 * (len(steps) - 1)
    assert first[0] > 75.0  # starts near orthogonal
    assert first[-1] < first[0] - 15.0 and first[-1] < 70.0  # and aligns
    assert all(math.isfinite(a) for a in first)
    fig = plot_alignment({"feedback-alignment": cb.records_, "empty": []})
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert len(fig.axes[0].lines) == 4  # three layers and the 90° line
