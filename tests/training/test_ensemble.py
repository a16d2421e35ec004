"""Vectorised deep ensemble: the stacked module must equal its members exactly, train them as if alone,
and round-trip through safetensors. Oracle: the K member MLPs run one by one."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from deepsci.errors import DataError, ModelError
from deepsci.models import MLP
from deepsci.training.ensemble import (
    StackedMLP,
    bootstrap_indices,
    bootstrap_data,
    build_ensemble,
    ensemble_loss,
    per_member_batch,
    stack_models,
)
from deepsci.training.trainer import Trainer
from deepsci.training.losses import PER_SAMPLE, cross_entropy, mse, weighted_loss

K, D, OUT = 4, 7, 3
OPTIONS = [
    dict(),
    dict(activation="tanh", batch_norm=True),
    dict(activation="maxout", maxout_pieces=3, batch_norm=True),
    dict(activation="leaky-relu", dropout=0.3, init="he"),
    dict(hidden=(), activation="gelu"),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def members(**kw):
    hidden = kw.pop("hidden", (16, 8))
    return [MLP(D, OUT, hidden, seed=10 + k, **kw) for k in range(K)]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "plain")
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_stacked_forward_equals_each_member(options, mode):
    ms = members(**options)
    st = stack_models(ms)
    if options.get("dropout") and mode == "train":
        for m in [*ms, st]:  # dropout off: masks are random, everything else must still match in train mode
            for layer in m.modules():
                if isinstance(layer, torch.nn.Dropout):
                    layer.p = 0.0
    for m in [*ms, st]:
        m.train(mode == "train")
    x = torch.randn(24, D, generator=torch.Generator().manual_seed(0))
    expected = torch.stack([m(x) for m in ms])
    torch.testing.assert_close(st(x), expected, atol=1e-5, rtol=1e-5)
    xk = torch.randn(K, 24, D, generator=torch.Generator().manual_seed(1))  # a different batch per member
    torch.testing.assert_close(st(xk), torch.stack([m(xk[k]) for k, m in enumerate(ms)]), atol=1e-5, rtol=1e-5)
    if mode == "train" and options.get("batch_norm"):  # running statistics were updated member by member
        for k, m in enumerate(st.unstack()):
            for a, b in zip(m.state_dict().values(), ms[k].state_dict().values()):
                torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# Adam is not used with batch norm here: the bias before a batch norm has a gradient that is zero up to
# rounding, and Adam rescales that rounding noise to full-size steps of random sign.
@pytest.mark.parametrize("optimiser,options", [(torch.optim.Adam, dict()), (torch.optim.Adam, dict(activation="maxout")),
                                               (torch.optim.SGD, dict(batch_norm=True))])
def test_stacked_training_equals_members_trained_alone(optimiser, options):
    """Sum of member mean losses: each member ends where it would end trained alone on the same batches."""
    ms = members(**options)
    st = stack_models(ms)
    g = torch.Generator().manual_seed(2)
    X, y = torch.randn(64, D, generator=g), torch.randn(64, OUT, generator=g)
    opts = [optimiser(m.parameters(), lr=1e-2) for m in ms]
    opt = optimiser(st.parameters(), lr=1e-2)
    loss = ensemble_loss(mse)
    for step in range(5):
        idx = torch.arange(step * 12, step * 12 + 12)
        for m, o in zip(ms, opts):
            o.zero_grad()
            mse(m(X[idx]), y[idx]).backward()
            o.step()
        opt.zero_grad()
        loss(st(X[idx]), y[idx]).backward()
        opt.step()
    for k, m in enumerate(st.unstack()):
        for (name, a), b in zip(m.state_dict().items(), ms[k].state_dict().values()):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)


def test_ensemble_loss_is_sum_of_member_losses_shared_and_per_member():
    g = torch.Generator().manual_seed(3)
    out, target = torch.randn(K, 10, 5, generator=g), torch.randint(0, 5, (10,), generator=g)
    expected = sum(cross_entropy(out[k], target) for k in range(K))
    torch.testing.assert_close(ensemble_loss(cross_entropy)(out, target), expected)
    per = torch.randn(K, 10, 2, generator=g)
    out2 = torch.randn(K, 10, 2, generator=g)
    expected2 = sum(mse(out2[k], per[k]) for k in range(K))
    torch.testing.assert_close(ensemble_loss(mse)(out2, per), expected2)
    with pytest.raises(DataError):
        ensemble_loss(mse)(out2, torch.zeros(9, 2))


def test_members_differ_after_training_and_the_mean_beats_the_average_member():
    g = torch.Generator().manual_seed(4)
    X = torch.rand(256, 2, generator=g) * 4 - 2
    y = torch.sin(2 * X[:, :1]) * X[:, 1:] + 0.1 * torch.randn(256, 1, generator=g)
    st = build_ensemble(lambda s: MLP(2, 1, (32, 32), activation="tanh", seed=s), members=5, seed=0)
    Trainer(st, loss=ensemble_loss(mse, target_dims=2), epochs=40, batch_size=32, lr=3e-3, seed=0).fit(X, y)
    W = st.member_state_dict()["layers.0.weight"]  # (K, 32, 2)
    assert min((W[i] - W[j]).abs().max() for i in range(5) for j in range(i)) > 0.05
    Xt = torch.rand(200, 2, generator=g) * 4 - 2
    with torch.no_grad():
        pred = st(Xt)  # (K, 200, 1)
    assert pred.std(0).mean() > 1e-3  # the members disagree off the training points
    truth = torch.sin(2 * Xt[:, :1]) * Xt[:, 1:]
    member_mse = ((pred - truth) ** 2).mean((1, 2))
    assert ((pred.mean(0) - truth) ** 2).mean() <= member_mse.mean()  # Jensen: always true for squared error
    assert member_mse.max() < 0.1  # and every member actually learned the function


def test_safetensors_round_trip_and_unstack(tmp_path):
    st = stack_models(members(batch_norm=True, dropout=0.1))
    st.train()
    st(torch.randn(16, D))  # move the running statistics away from their initial values
    st.eval()
    path = tmp_path / "model.safetensors"
    save_file(st.member_state_dict(), str(path))
    fresh = stack_models(members(batch_norm=True, dropout=0.1))
    fresh.load_member_state_dict(load_file(str(path)))
    fresh.eval()
    x = torch.randn(9, D)
    torch.testing.assert_close(fresh(x), st(x))
    for k, m in enumerate(fresh.unstack()):
        assert isinstance(m, MLP)
        m.eval()
        torch.testing.assert_close(m(x), st(x)[k])
    with pytest.raises(ModelError, match="architecture"):
        fresh.load_member_state_dict({"layers.0.weight": torch.zeros(K, 16, D)})


def test_bootstrap_gives_each_member_its_own_rows():
    idx = bootstrap_indices(100, 3, torch.Generator().manual_seed(0))
    assert idx.shape == (3, 100) and idx.min() >= 0 and idx.max() < 100
    assert not torch.equal(idx[0], idx[1])
    unique = torch.tensor([len(set(r.tolist())) for r in idx], dtype=torch.float32)
    assert 0.55 < unique.mean() / 100 < 0.72  # 1 - 1/e = 0.632 of the rows appear in a bootstrap sample
    g = torch.Generator().manual_seed(5)
    X, y = torch.randn(80, D, generator=g), torch.randn(80, OUT, generator=g)
    st = stack_models(members())
    Xb, yb = bootstrap_data(X, y, K, torch.Generator().manual_seed(1))  # (n, K, d), (n, K, t)
    assert torch.equal(Xb[:, 2], X[bootstrap_indices(80, K, torch.Generator().manual_seed(1))[2]])
    trainer = Trainer(st, loss=ensemble_loss(mse, target_dims=2), epochs=3, augment=per_member_batch)
    history = trainer.fit(Xb, yb, X, y).history_
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"] * 1.5
    assert all(torch.isfinite(torch.tensor(h["valid_loss"])) for h in history)


def test_trainer_accepts_a_stacked_ensemble():
    g = torch.Generator().manual_seed(6)
    X, y = torch.randn(64, D, generator=g), torch.randn(64, OUT, generator=g)
    st = stack_models(members())
    trainer = Trainer(st, loss=ensemble_loss(mse), epochs=3, batch_size=16)
    trainer.fit(X, y, X, y)
    assert trainer.predict(X).shape == (K, 64, OUT)
    torch.testing.assert_close(trainer.predict(X, batch_size=10), trainer.predict(X))  # rows are dim 1


def test_the_ensemble_trains_each_member_exactly_as_if_alone():
    """Oracle: each member trained by its own Trainer with the same seed (same batches; Adam is elementwise)."""
    g = torch.Generator().manual_seed(7)
    X, y = torch.randn(96, D, generator=g), torch.randn(96, OUT, generator=g)
    alone = [Trainer(m, loss=mse, epochs=3, batch_size=32, lr=1e-2, seed=0).fit(X, y).model for m in members()]
    st = stack_models(members())
    Trainer(st, loss=ensemble_loss(mse, target_dims=2), epochs=3, batch_size=32, lr=1e-2, seed=0).fit(X, y)
    for k, m in enumerate(st.unstack()):
        for a, b in zip(m.state_dict().values(), alone[k].state_dict().values()):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("loss,target", [(mse, "reg"), (cross_entropy, "labels")])
def test_the_ensemble_loss_per_sample_form_weights_every_member_alike(loss, target):
    g = torch.Generator().manual_seed(8)
    out = torch.randn(K, 12, OUT, generator=g)
    t = torch.randn(12, OUT, generator=g) if target == "reg" else torch.randint(0, OUT, (12,), generator=g)
    summed = ensemble_loss(loss, target_dims=t.dim())
    rows = summed.per_sample(out, t)  # (12,)
    assert rows.shape == (12,)
    torch.testing.assert_close(rows.mean(), summed(out, t))
    w = torch.rand(12, generator=g)
    by_member = sum((PER_SAMPLE[loss](out[k], t) * w).sum() / w.sum() for k in range(K))
    torch.testing.assert_close(weighted_loss(summed.per_sample, out, t, w), by_member)


def test_errors_name_the_problem():
    with pytest.raises(ModelError, match="built identically"):
        stack_models([MLP(D, OUT, (16,), seed=0), MLP(D, OUT, (8,), seed=1)])
    with pytest.raises(ModelError, match="at least one"):
        StackedMLP([])
    with pytest.raises(ModelError, match="members >= 1"):
        build_ensemble(lambda s: MLP(D, OUT, seed=s), members=0)
    with pytest.raises(DataError, match="members=4"):
        stack_models(members())(torch.randn(3, 5, D))


# -- bootstrap through the Trainer ------------------------------------------------------------------
def test_bootstrap_data_gives_each_member_its_resample_row_major():
    from deepsci.training.ensemble import bootstrap_data

    X = torch.arange(20.0).reshape(10, 2)
    y = torch.arange(10.0).reshape(10, 1)
    Xb, yb = bootstrap_data(X, y, 3, torch.Generator().manual_seed(0))
    assert Xb.shape == (10, 3, 2) and yb.shape == (10, 3, 1)
    # every (row, member) pair is an original (x, y) pair, and members draw different rows
    assert torch.equal(Xb[..., 0] / 2, yb[..., 0])
    assert not torch.equal(yb[:, 0], yb[:, 1])


def test_bootstrap_step_through_trainer_equals_each_member_alone():
    """One Trainer step on per-member batches: each member's gradient is that of the lone MLP on its rows."""
    from deepsci.training import Trainer
    from deepsci.training.ensemble import bootstrap_data, per_member_batch

    torch.manual_seed(0)
    X, y = torch.randn(12, D), torch.randn(12, OUT)
    members = [MLP(D, OUT, (8,), seed=s) for s in range(3)]
    stacked = StackedMLP(members)
    Xb, yb = bootstrap_data(X, y, 3, torch.Generator().manual_seed(1))
    trainer = Trainer(stacked, loss=ensemble_loss(mse, target_dims=2), optimizer="sgd", lr=0.1, momentum=0.0,
                      batch_size=12, epochs=1, augment=per_member_batch, seed=0)
    trainer.fit(Xb, yb)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(0))  # the Trainer's batch order
    for k, m in enumerate(members):
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        mse(m(Xb[order, k]), yb[order, k]).backward()
        opt.step()
        got = stacked.unstack()[k]
        for a, b in zip(got.parameters(), m.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_ensemble_loss_target_dims_is_exact_when_batch_equals_members():
    out = torch.randn(4, 4, 2)  # K = B = 4: the shape heuristic cannot tell shared from per-member
    shared, per = torch.randn(4, 2), torch.randn(4, 4, 2)
    loss = ensemble_loss(mse, target_dims=2)
    torch.testing.assert_close(loss(out, shared), sum(mse(out[k], shared) for k in range(4)))
    torch.testing.assert_close(loss(out, per), sum(mse(out[k], per[k]) for k in range(4)))
