"""The Trainer on small real data: it learns, seeds reproduce, callbacks, early stopping, errors."""

import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes

from deepsci.errors import ConfigError, TrainingError
from deepsci.models import MLP
from deepsci.training import Callback, Trainer, get_loss, make_optimiser


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)[:, None]
    return X[:350], y[:350], X[350:], y[350:]


def _fit(seed=0, **kw):
    X, y, Xv, yv = _diabetes()
    model = MLP(10, 1, (32,), "relu", seed=seed)
    opts = dict(loss=get_loss(None, "regression"), epochs=15, lr=3e-3, seed=seed) | kw
    return Trainer(model, **opts).fit(X, y, Xv, yv)


@pytest.mark.parametrize("optimizer,extra", [("sgd", {"lr": 0.02}), ("sgd", {"lr": 0.02, "nesterov": True}),
                                             ("adam", {}), ("adamw", {"weight_decay": 0.01})])
def test_every_optimiser_lowers_the_validation_loss(optimizer, extra):
    trainer = _fit(optimizer=optimizer, **extra)
    first, last = trainer.history_[0]["train_loss"], trainer.history_[-1]["train_loss"]
    assert last < 0.8 * first
    assert trainer.history_[-1]["valid_loss"] < 0.6  # the targets are standardised: 1.0 is the mean predictor


def test_same_seed_same_history_other_seed_other_history():
    a, b, c = _fit(0), _fit(0), _fit(1)
    assert [h["train_loss"] for h in a.history_] == [h["train_loss"] for h in b.history_]
    assert a.history_[-1]["train_loss"] != c.history_[-1]["train_loss"]


@pytest.mark.parametrize("schedule", ["step", "cosine", "plateau"])
def test_schedules_lower_the_learning_rate(schedule):
    trainer = _fit(schedule=schedule, schedule_kwargs={"step_size": 5, "gamma": 0.5, "plateau_patience": 1},
                   epochs=12, lr=0.05)
    lrs = [h["lr"] for h in trainer.history_]
    assert lrs[-1] < lrs[0]


def test_early_stopping_restores_the_best_weights():
    X, y, Xv, yv = _diabetes()
    model = MLP(10, 1, (256, 256), "relu", seed=0)
    trainer = Trainer(model, loss=get_loss(None, "regression"), epochs=300, lr=1e-2, patience=5).fit(X, y, Xv, yv)
    stop = trainer.early_stopping
    assert len(trainer.history_) < 300  # it stopped
    assert len(trainer.history_) == stop.best_epoch + 5
    assert trainer.eval_loss(Xv, yv) == pytest.approx(stop.best_loss, rel=1e-5)


def test_gradient_clipping_bounds_the_update():
    X, y, _, _ = _diabetes()
    model = MLP(10, 1, (16,), "relu", seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(model, loss=get_loss(None, "regression"), optimizer="sgd", momentum=0.0, lr=1.0,
                      clip_grad_norm=1e-3, epochs=1, batch_size=350)
    trainer.fit(X, y * 1000)
    step = torch.sqrt(sum(((p - q) ** 2).sum() for p, q in zip(model.parameters(), before)))
    assert step.item() == pytest.approx(1e-3, rel=1e-3)  # lr * clipped norm


def test_non_finite_loss_names_epoch_and_batch():
    X, y, _, _ = _diabetes()
    y = y.clone()
    y[100] = float("nan")
    model = MLP(10, 1, (8,), seed=0)
    with pytest.raises(TrainingError, match=r"epoch 1, batch \d+.*train.lr"):
        Trainer(model, loss=get_loss(None, "regression"), epochs=2, batch_size=350).fit(X, y)


def test_callbacks_see_every_hook_in_order():
    seen = []

    class Spy(Callback):
        def on_fit_start(self, trainer): seen.append("fit_start")
        def on_epoch_start(self, trainer, epoch): seen.append(f"epoch_start{epoch}")
        def on_batch_end(self, trainer, batch, logs): seen.append("batch")
        def on_epoch_end(self, trainer, epoch, logs): seen.append(f"epoch_end{epoch}")
        def on_fit_end(self, trainer): seen.append("fit_end")

    X, y, _, _ = _diabetes()
    Trainer(MLP(10, 1, (4,)), loss=get_loss(None, "regression"), epochs=2, batch_size=200,
            callbacks=[Spy()]).fit(X, y)
    assert seen == ["fit_start", "epoch_start1", "batch", "batch", "epoch_end1",
                    "epoch_start2", "batch", "batch", "epoch_end2", "fit_end"]


def test_augmentation_touches_training_batches_only():
    calls = []

    def augment(x, y, generator):
        calls.append(x.shape[0])
        return x + 0.01 * torch.randn(x.shape, generator=generator), y

    X, y, Xv, yv = _diabetes()
    trainer = Trainer(MLP(10, 1, (4,)), loss=get_loss(None, "regression"), epochs=1, batch_size=100,
                      augment=augment).fit(X, y, Xv, yv)
    assert calls == [100, 100, 100, 50]
    trainer.eval_loss(Xv, yv)
    assert len(calls) == 4


def test_binary_classification_learns_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    y = torch.tensor(y)
    model = MLP(30, 1, (16,), "tanh", seed=0)
    trainer = Trainer(model, loss=get_loss(None, "binary"), epochs=20).fit(X[:400], y[:400])
    acc = ((trainer.predict(X[400:])[:, 0] > 0).long() == y[400:]).float().mean()
    assert acc > 0.93


def test_unknown_optimiser_is_a_config_error():
    with pytest.raises(ConfigError, match="Did you mean 'adam'"):
        make_optimiser(MLP(2, 1, (2,)).parameters(), "adan")
    with pytest.raises(ConfigError, match="Known losss|Known loss"):
        get_loss("mse2", "regression")
