"""A fit stopped and resumed from its checkpoint ends with exactly the weights of an uninterrupted fit."""

import pytest
import torch
from sklearn.datasets import load_diabetes

from deepsci.errors import DataError
from deepsci.models import MLP
from deepsci.training import Trainer, get_loss
from deepsci.training.checkpoint import Checkpoint


def _data():
    X, y = load_diabetes(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)[:, None]
    return X[:300], y[:300], X[300:], y[300:]


def _trainer(epochs, callbacks=()):
    model = MLP(10, 1, (32, 16), "relu", dropout=0.2, seed=3)
    return Trainer(model, loss=get_loss(None, "regression"), epochs=epochs, lr=3e-3, schedule="plateau",
                   schedule_kwargs={"plateau_patience": 1, "gamma": 0.5}, patience=50, seed=3,
                   callbacks=list(callbacks))


def test_resume_reproduces_an_uninterrupted_fit(tmp_path):
    X, y, Xv, yv = _data()
    straight = _trainer(10).fit(X, y, Xv, yv)
    _trainer(5, [Checkpoint(tmp_path)]).fit(X, y, Xv, yv)  # "interrupted" after 5 epochs
    resumed = _trainer(10).fit(X, y, Xv, yv, resume_from=tmp_path)
    assert [h["epoch"] for h in resumed.history_] == list(range(1, 11))
    assert [h["train_loss"] for h in resumed.history_] == [h["train_loss"] for h in straight.history_]
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(p, q)


def test_resume_without_a_checkpoint_says_so(tmp_path):
    X, y, _, _ = _data()
    with pytest.raises(DataError, match="no training checkpoint.*without --resume"):
        _trainer(2).fit(X, y, resume_from=tmp_path)


def test_resume_into_another_architecture_is_refused(tmp_path):
    X, y, _, _ = _data()
    _trainer(1, [Checkpoint(tmp_path)]).fit(X, y)
    other = Trainer(MLP(10, 1, (8,)), loss=get_loss(None, "regression"), epochs=2)
    with pytest.raises(DataError, match="another architecture"):
        other.fit(X, y, resume_from=tmp_path)
