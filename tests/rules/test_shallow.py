"""Perceptron, delta rule, Hebbian and Oja's rule against independent oracles."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from torch import nn

from deepsci.errors import DataError
from deepsci.rules import (delta_fit, hebbian_update, linearly_separable, oja_fit, oja_update, perceptron_fit,
                           perceptron_update)

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([-1, 1, 1, -1])


def test_perceptron_converges_on_separable_data_within_novikoff_bound():
    rng = np.random.default_rng(0)
    w_true = np.array([1.5, -2.0, 0.5])
    X = rng.normal(size=(200, 3))
    margin = X @ w_true
    keep = np.abs(margin) > 0.3  # a guaranteed margin
    X, y = X[keep], np.sign(margin[keep])
    res = perceptron_fit(X, y, max_epochs=1000)
    assert res.converged and not res.cycled
    assert np.all(y * (X @ res.w + res.b) > 0)
    # Novikoff: mistakes <= (R / gamma)^2 with the bias folded into an extra input of 1
    Xa = np.hstack([X, np.ones((len(X), 1))])
    wa = np.append(w_true, 0.0) / np.linalg.norm(w_true)
    gamma = np.min(y * (Xa @ wa))
    R = np.max(np.linalg.norm(Xa, axis=1))
    assert sum(res.mistakes) <= (R / gamma) ** 2
    assert linearly_separable(X, y)


def test_perceptron_cannot_fit_xor():
    assert not linearly_separable(XOR_X, XOR_Y)  # no (w, b) exists at all (linear programme infeasible)
    assert linearly_separable(XOR_X, np.array([-1, 1, 1, 1]))  # OR is separable
    res = perceptron_fit(XOR_X, XOR_Y, max_epochs=500)
    assert not res.converged and res.cycled and min(res.mistakes) > 0
    assert perceptron_fit(XOR_X, np.array([-1, 1, 1, 1])).converged


def test_one_hidden_layer_mlp_fits_xor():
    from deepsci.models.mlp import MLP

    X = torch.tensor(XOR_X, dtype=torch.float32)
    y = torch.tensor([0, 1, 1, 0])
    model = MLP(2, 2, (8,), "tanh", seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    assert torch.equal(model(X).argmax(1), y)


def test_perceptron_update_only_on_mistakes_and_label_check():
    w, b = perceptron_update(np.array([1.0, 0.0]), 0.0, np.array([2.0, 1.0]), 1)
    assert np.array_equal(w, [1.0, 0.0]) and b == 0.0
    w, b = perceptron_update(np.array([1.0, 0.0]), 0.0, np.array([2.0, 1.0]), -1)
    assert np.array_equal(w, [-1.0, -1.0]) and b == -1.0
    with pytest.raises(DataError, match="-1 and \\+1"):
        perceptron_fit(XOR_X, np.array([0, 1, 1, 0]))


def test_delta_rule_reaches_least_squares():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.7 + 0.1 * rng.normal(size=300)
    res = delta_fit(X, y, lr=0.005, epochs=60)
    coef, *_ = np.linalg.lstsq(np.hstack([X, np.ones((300, 1))]), y, rcond=None)
    assert np.allclose(np.append(res.w, res.b), coef, atol=0.02)
    assert res.mse[-1] < res.mse[0]


def test_oja_finds_first_principal_component_of_digits():
    X = load_digits().data
    pc1 = PCA(1).fit(X).components_[0]
    res = oja_fit(X, seed=0)
    cos = abs(res.w @ pc1) / np.linalg.norm(res.w)
    assert cos > 0.99
    assert res.norms[-1] == pytest.approx(1.0, abs=0.05)


def test_hebb_grows_while_oja_stays_normalised():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 3)) * np.array([3.0, 1.0, 0.5])
    w_h = w_o = np.array([0.3, 0.3, 0.3])
    for x in X:
        w_h = hebbian_update(w_h, x, 0.01)
        w_o = oja_update(w_o, x, 0.01)
    assert np.linalg.norm(w_h) > 100.0
    assert np.linalg.norm(w_o) == pytest.approx(1.0, abs=0.1)
    assert abs(w_h[0]) / np.linalg.norm(w_h) > 0.99 and abs(w_o[0]) > 0.95  # both point along the top axis
