"""The Trainer on small real data: it learns, seeds reproduce, callbacks, early stopping, errors."""

import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes

from deepsci.errors import ConfigError, DataError, TrainingError
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
    model = MLP(10, 1, (8,), seed=0)
    with pytest.raises(TrainingError, match=r"epoch 1, batch \d+.*train.lr"):
        Trainer(model, loss=get_loss(None, "regression"), optimizer="sgd", momentum=0.0, lr=1e25, epochs=2,
                batch_size=50).fit(X, y)


@pytest.mark.parametrize("where,message", [
    ("X", r"training inputs hold 2 non-finite values .* in 1 of 350 rows"),
    ("y", r"training targets hold 1 non-finite"),
    ("Xv", r"validation inputs hold 1 non-finite"),
    ("mask", r"training inputs 'x' hold 1 non-finite"),
])
def test_non_finite_data_is_refused_before_training_naming_split_and_count(where, message):
    """1e39 is finite in float64 but inf in float32; it used to fail at epoch 1 with 'lower train.lr'."""
    X, y, Xv, yv = _diabetes()
    X, y, Xv = X.clone(), y.clone(), Xv.clone()
    if where in ("X", "mask"):
        X[7, 2] = torch.tensor(1e39, dtype=torch.float64).float()
        X[7, 3] = float("nan") if where == "X" else X[7, 3]
    elif where == "y":
        y[3] = float("nan")
    else:
        Xv[0, 0] = float("-inf")
    trainer = Trainer(MLP(10, 1, (4,), seed=0), loss=get_loss(None, "regression"), epochs=1)
    with pytest.raises(DataError, match=message):
        trainer.fit({"x": X} if where == "mask" else X, y, Xv, yv)
    assert trainer.history_ == []  # nothing trained


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


# -- inputs of every kind -------------------------------------------------------------------------------
class MaskedMeanRegressor(torch.nn.Module):
    """A Deep-Sets-style model for padded sets: phi per element, masked mean, rho. forward(x, mask)."""

    def __init__(self, d, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.phi = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.Tanh())
        self.rho = torch.nn.Linear(16, 1)

    def forward(self, x, mask):  # x (n, L, d), mask (n, L) bool
        h = self.phi(x) * mask.unsqueeze(-1)
        return self.rho(h.sum(1) / mask.sum(1, keepdim=True).clamp_min(1))


def _sets(n=256, L=6, d=2, seed=0):
    """Sets of 1..L points; the target is the mean of the first coordinate over the real points."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, L, d, generator=g)
    sizes = torch.randint(1, L + 1, (n,), generator=g)
    mask = torch.arange(L)[None, :] < sizes[:, None]
    x = x * mask.unsqueeze(-1)  # padding is zero
    y = ((x[..., 0] * mask).sum(1) / sizes)[:, None]
    return {"x": x, "mask": mask}, y


def test_a_masked_set_model_trains_through_the_same_loop():
    X, y = _sets(seed=0)
    Xv, yv = _sets(128, seed=1)
    seen = []

    def augment(xb, yb, generator):
        seen.append(sorted(xb))  # augment callables get the batch as the model does: a dict here
        return xb, yb

    trainer = Trainer(MaskedMeanRegressor(2), loss=get_loss(None, "regression"), epochs=30, lr=1e-2,
                      batch_size=32, augment=augment, patience=10).fit(X, y, Xv, yv)
    assert seen[0] == ["mask", "x"]
    assert trainer.eval_loss(Xv, yv) < 0.1 * yv.var().item()  # learned the masked mean
    assert trainer.predict(Xv, batch_size=50).shape == (128, 1)
    padded = {"x": Xv["x"].clone(), "mask": Xv["mask"]}
    padded["x"][~Xv["mask"]] = 100.0  # what sits in the padding must not matter
    torch.testing.assert_close(trainer.predict(padded), trainer.predict(Xv))


def test_a_dict_with_one_input_trains_exactly_like_the_tensor():
    X, y, Xv, yv = _diabetes()
    a = Trainer(MLP(10, 1, (8,), seed=0), loss=get_loss(None, "regression"), epochs=3, seed=0).fit(X, y, Xv, yv)
    b = Trainer(MLP(10, 1, (8,), seed=0), loss=get_loss(None, "regression"), epochs=3, seed=0).fit(
        {"x": X}, y, {"x": Xv}, yv)
    # The tensor trains on the fast path, the dict through autograd: the same weights bit for bit; the
    # reported loss may differ in float32's last place (the fast path sums the squares with a dot product).
    assert [h["train_loss"] for h in a.history_] == pytest.approx([h["train_loss"] for h in b.history_], rel=1e-6)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)


def test_named_inputs_with_different_row_counts_are_a_data_error():
    X, y = _sets(16)
    X["mask"] = X["mask"][:10]
    with pytest.raises(DataError, match="different row counts"):
        Trainer(MaskedMeanRegressor(2), loss=get_loss(None, "regression"), epochs=1).fit(X, y)


# -- sample weights -----------------------------------------------------------------------------------------
def _weighted_fit(X, y, weight, **kw):
    opts = dict(loss=get_loss(None, "regression"), optimizer="sgd", momentum=0.0, lr=0.05, epochs=5,
                batch_size=len(X), seed=0) | kw
    return Trainer(MLP(X.shape[1], 1, (8,), seed=0), **opts).fit(X, y, sample_weight=weight)


def test_uniform_weights_are_the_plain_mean_bit_for_bit():
    X, y, _, _ = _diabetes()
    plain = _weighted_fit(X, y, None, batch_size=32, optimizer="adam", lr=1e-3)
    ones = _weighted_fit(X, y, torch.full((len(X),), 3.0), batch_size=32, optimizer="adam", lr=1e-3)
    for p, q in zip(plain.model.parameters(), ones.model.parameters()):
        assert torch.equal(p, q)


def test_zero_weights_equal_dropping_the_rows_in_full_batch_descent():
    """Oracle: full-batch gradient descent on the weighted mean with w in {0, 1} is descent on the kept rows."""
    X, y, _, _ = _diabetes()
    keep = torch.arange(len(X)) % 3 != 0
    weighted = _weighted_fit(X, y, keep.float())
    subset = _weighted_fit(X[keep], y[keep], None)
    for p, q in zip(weighted.model.parameters(), subset.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert not torch.equal(next(_weighted_fit(X, y, None).model.parameters()), next(subset.model.parameters()))


def test_integer_weights_equal_repeated_rows_in_full_batch_descent():
    X, y, _, _ = _diabetes()
    w = (torch.arange(len(X)) % 3).float()  # 0, 1 or 2 copies
    repeated = torch.repeat_interleave(torch.arange(len(X)), w.long())
    weighted = _weighted_fit(X, y, w, loss=get_loss("huber", "regression"))
    copies = _weighted_fit(X[repeated], y[repeated], None, loss=get_loss("huber", "regression"))
    for p, q in zip(weighted.model.parameters(), copies.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_bad_weights_and_losses_without_a_per_sample_form_are_refused():
    X, y, _, _ = _diabetes()
    with pytest.raises(DataError, match="non-negative"):
        _weighted_fit(X, y, -torch.ones(len(X)))
    with pytest.raises(DataError, match="one weight per row"):
        _weighted_fit(X, y, torch.ones(3))
    with pytest.raises(ConfigError, match="per-sample form"):
        _weighted_fit(X, y, torch.rand(len(X)), loss=lambda o, t: ((o - t) ** 2).mean())


# -- determinism ----------------------------------------------------------------------------------------
def test_an_mlp_fit_does_not_depend_on_the_thread_count():
    threads = torch.get_num_threads()
    try:
        runs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            runs.append(_fit(0, epochs=3, patience=2))
    finally:
        torch.set_num_threads(threads)
    assert [h["valid_loss"] for h in runs[0].history_] == [h["valid_loss"] for h in runs[1].history_]
    for p, q in zip(runs[0].model.parameters(), runs[1].model.parameters()):
        assert torch.equal(p, q)
