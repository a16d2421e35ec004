from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from deepsci.data import Scaler
from deepsci.errors import DataError


@pytest.fixture(scope="module")
def X() -> np.ndarray:
    return load_breast_cancer().data


def test_matches_sklearn_standard_scaler(X: np.ndarray) -> None:
    ours = Scaler().fit(torch.as_tensor(X))
    ref = StandardScaler().fit(X)
    np.testing.assert_allclose(ours.mean_.numpy(), ref.mean_, rtol=1e-12)
    np.testing.assert_allclose(ours.scale_.numpy(), ref.scale_, rtol=1e-12)
    Z = ours.transform(torch.as_tensor(X, dtype=torch.float32))
    assert Z.dtype == torch.float32
    np.testing.assert_allclose(Z.numpy(), ref.transform(X), atol=1e-5)


def test_inverse_roundtrip(X: np.ndarray) -> None:
    s = Scaler().fit(X)
    x = torch.as_tensor(X[:20])
    torch.testing.assert_close(s.inverse_transform(s.transform(x)), x, rtol=1e-12, atol=1e-12)
    # a spread scales without the shift
    torch.testing.assert_close(s.inverse_transform_std(torch.ones(3, X.shape[1], dtype=torch.float64)),
                               s.scale_.expand(3, -1))


def test_zero_variance_column_is_safe() -> None:
    x = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    s = Scaler().fit(x)
    z = s.transform(x)
    assert torch.isfinite(z).all()
    assert torch.equal(z[:, 1], torch.zeros(3))
    assert s.scale_[1].item() == 1.0


def test_one_dimensional_targets() -> None:
    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    s = Scaler().fit(y)
    z = s.transform(y)
    assert z.shape == (4,)
    torch.testing.assert_close(z.mean(), torch.tensor(0.0))
    torch.testing.assert_close(s.inverse_transform(z), y)


def test_json_roundtrip(X: np.ndarray) -> None:
    s = Scaler().fit(X)
    state = json.loads(json.dumps(s.to_dict()))
    t = Scaler.from_dict(state)
    x = torch.as_tensor(X[:5], dtype=torch.float32)
    torch.testing.assert_close(t.transform(x), s.transform(x))


def test_errors_name_the_problem() -> None:
    with pytest.raises(DataError, match="not fitted"):
        Scaler().transform(torch.zeros(2, 2))
    s = Scaler().fit(torch.zeros(4, 3))
    with pytest.raises(DataError, match="fitted on 3 columns"):
        s.transform(torch.zeros(4, 2))
    with pytest.raises(DataError, match="NaN or inf"):
        Scaler().fit(torch.tensor([[1.0], [float("nan")]]))
    with pytest.raises(DataError, match="0 rows"):
        Scaler().fit(torch.zeros(0, 3))
    with pytest.raises(DataError, match="mean"):
        Scaler.from_dict({"scale": [1.0]})
