"""Callbacks: exceptions reach every callback, the progress bar gives the terminal back, state round-trips."""

import sys

import pytest
import torch
from sklearn.datasets import load_diabetes

from deepsci.models import MLP
from deepsci.training import Callback, EarlyStopping, ProgressBar, Trainer, get_loss
from deepsci.training.checkpoint import Checkpoint


def _data():
    X, y = load_diabetes(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)[:, None]
    return X[:300], y[:300], X[300:], y[300:]


class Interrupt(Callback):
    def __init__(self, at, exc=KeyboardInterrupt):
        self.at, self.exc = at, exc

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.at:
            raise self.exc()


class Spy(Callback):
    def __init__(self):
        self.seen = []

    def on_exception(self, trainer, exc):
        self.seen.append(type(exc).__name__)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_the_progress_bar_closes_and_every_callback_hears_of_the_exception(monkeypatch, exc):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    X, y, _, _ = _data()
    spy = Spy()
    trainer = Trainer(MLP(10, 1, (4,)), loss=get_loss(None, "regression"), epochs=5, progress=True,
                      callbacks=[Interrupt(2, exc), spy])
    bar = next(cb for cb in trainer.callbacks if isinstance(cb, ProgressBar))
    started = []
    original = bar.on_fit_start
    bar.on_fit_start = lambda t: (original(t), started.append(bar._progress))  # keep the live display
    with pytest.raises(exc):
        trainer.fit(X, y)
    assert spy.seen == [exc.__name__]
    progress = started[0]
    assert progress is not None and not progress.live.is_started  # stopped: the cursor is shown again
    assert bar._progress is None


def test_the_checkpoint_runs_after_every_other_callback(tmp_path):
    trainer = Trainer(MLP(2, 1, (2,)), loss=get_loss(None, "regression"), patience=3, progress=True,
                      callbacks=[Checkpoint(tmp_path), Spy()])
    kinds = [type(cb).__name__ for cb in trainer.callbacks]
    assert kinds == ["Spy", "EarlyStopping", "ProgressBar", "Checkpoint"]


class Counter(Callback):
    """A callback with state: how many batches it has seen."""

    def __init__(self):
        self.batches = 0
        self.trace = torch.zeros(0)

    def on_batch_end(self, trainer, batch, logs):
        self.batches += 1
        self.trace = torch.cat([self.trace, torch.tensor([logs["loss"]])])

    def state_dict(self):
        return {"batches": self.batches, "nested": {"trace": self.trace, "list": [1, 2]}}

    def load_state_dict(self, state):
        assert state["nested"]["list"] == [1, 2]
        self.batches, self.trace = state["batches"], state["nested"]["trace"]


def test_every_callbacks_state_is_saved_and_restored(tmp_path):
    X, y, Xv, yv = _data()

    def trainer(epochs, *extra):
        return Trainer(MLP(10, 1, (4,), seed=1), loss=get_loss(None, "regression"), epochs=epochs, patience=4,
                       callbacks=[Counter(), *extra])

    straight = trainer(4).fit(X, y, Xv, yv)
    trainer(2, Checkpoint(tmp_path)).fit(X, y, Xv, yv)
    resumed = trainer(4).fit(X, y, Xv, yv, resume_from=tmp_path)
    a, b = straight.callbacks[0], resumed.callbacks[0]
    assert a.batches == b.batches == 4 * 10
    assert torch.equal(a.trace, b.trace)
    stop_a, stop_b = straight.early_stopping, resumed.early_stopping
    assert isinstance(stop_b, EarlyStopping) and stop_b.best_epoch == stop_a.best_epoch
    assert stop_b.best_loss == stop_a.best_loss


def test_callbacks_have_empty_state_by_default():
    assert Callback().state_dict() == {}
    Callback().load_state_dict({})
