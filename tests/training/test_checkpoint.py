"""A fit stopped and resumed from its checkpoint ends with exactly the weights of an uninterrupted fit."""

import threading

import pytest
import torch
from sklearn.datasets import load_diabetes

from deepsci.errors import DataError
from deepsci.models import MLP
from deepsci.training import Trainer, get_loss
from deepsci.training.checkpoint import STATE, Checkpoint, checkpoint_epoch, read_checkpoint_meta, save_training_state


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


# -- exact resume with early stopping ------------------------------------------------------------------------
def _stopping_trainer(epochs, callbacks=()):
    """Early stopping with a short patience and a plateau schedule, so both states matter on resume.
    The Checkpoint is passed first, as deepsci's experiment does: it must still write last."""
    model = MLP(10, 1, (64, 64), "relu", dropout=0.1, seed=5)
    return Trainer(model, loss=get_loss(None, "regression"), epochs=epochs, lr=1e-2, schedule="plateau",
                   schedule_kwargs={"plateau_patience": 2, "gamma": 0.5}, patience=6, seed=5,
                   callbacks=list(callbacks))


def _records(trainer):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in trainer.history_]


def test_resume_with_early_stopping_is_bit_identical_at_every_kind_of_epoch(tmp_path):
    X, y, Xv, yv = _data()
    straight = _stopping_trainer(200).fit(X, y, Xv, yv)
    stopped_at = len(straight.history_)
    assert stopped_at < 200  # early stopping ended it
    valid = [h["valid_loss"] for h in straight.history_]
    new_best = [e for e in range(2, stopped_at) if valid[e - 1] < min(valid[:e - 1])]
    waiting = [e for e in range(2, stopped_at) if e not in new_best and e - 1 in new_best]
    cuts = {"right after a new best": new_best[-1], "patience counter started": waiting[-1],
            "first new best": new_best[0], "where it stopped": stopped_at}
    for why, cut in cuts.items():
        folder = tmp_path / f"cut{cut}"
        _stopping_trainer(cut, [Checkpoint(folder)]).fit(X, y, Xv, yv)  # "interrupted" after `cut` epochs
        resumed = _stopping_trainer(200).fit(X, y, Xv, yv, resume_from=folder)
        assert _records(resumed) == _records(straight), why
        assert resumed.early_stopping.best_epoch == straight.early_stopping.best_epoch, why
        assert resumed.early_stopping.best_loss == straight.early_stopping.best_loss, why
        for p, q in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
            assert torch.equal(p, q), why


# -- the file: unique temporaries, no symlinks, damage is one line ------------------------------------------
def _saved(tmp_path, meta=None):
    X, y, _, _ = _data()
    _trainer(1, [Checkpoint(tmp_path, meta=meta)]).fit(X, y)
    return tmp_path / STATE


def test_meta_round_trips_and_no_temporary_is_left(tmp_path):
    path = _saved(tmp_path, meta={"config": "abc123", "epochs": 5})
    assert read_checkpoint_meta(tmp_path) == {"config": "abc123", "epochs": 5}
    assert read_checkpoint_meta(path) == {"config": "abc123", "epochs": 5}
    assert checkpoint_epoch(tmp_path) == checkpoint_epoch(path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE]


def test_a_symlink_at_the_checkpoint_path_is_refused_not_followed(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / STATE).symlink_to(target)
    X, y, _, _ = _data()
    with pytest.raises(DataError, match="is a symlink") as info:
        _trainer(1, [Checkpoint(folder)]).fit(X, y)
    assert "\n" not in str(info.value)
    assert target.read_text() == "precious"
    with pytest.raises(DataError, match="is a symlink"):
        _trainer(2).fit(X, y, resume_from=folder)
    linked = tmp_path / "linked"
    linked.symlink_to(folder, target_is_directory=True)
    with pytest.raises(DataError, match="is a symlink"):
        _trainer(1, [Checkpoint(linked)]).fit(X, y)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "header only", "json"])
def test_a_damaged_checkpoint_is_one_line_naming_the_file(tmp_path, damage):
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"\x00\xff" * 500, "empty": b"",
                      "header only": data[:200], "json": b"{\"epoch\": 3}"}[damage])
    X, y, _, _ = _data()
    with pytest.raises(DataError, match="damaged") as info:
        _trainer(2).fit(X, y, resume_from=tmp_path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="damaged"):
        read_checkpoint_meta(tmp_path)


def test_two_writers_never_mix_their_states(tmp_path):
    """Two trainers save to one folder over and over from two threads; whatever is read is one whole state."""
    X, y, _, _ = _data()
    trainers = [_trainer(1) for _ in range(2)]
    for k, t in enumerate(trainers):
        t.fit(X[: 50 * (k + 1)], y[: 50 * (k + 1)])
        t.history_.append({"writer": k})

    def write(k):
        for epoch in range(15):
            save_training_state(trainers[k], tmp_path, epoch, meta={"writer": k, "save": epoch})  # each meta unique

    threads = [threading.Thread(target=write, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for _ in range(30):
        try:
            meta = read_checkpoint_meta(tmp_path)
        except DataError as exc:  # only "no checkpoint" before the first rename, never "damaged"
            assert "no training checkpoint" in str(exc)
            continue
        fresh = _trainer(1)
        fresh.fit(X, y, resume_from=tmp_path)  # loads the tensors
        # the state read is the meta's writer's, unless another save replaced the file in between
        assert fresh.history_[-1] == {"writer": meta["writer"]} or read_checkpoint_meta(tmp_path) != meta
    for t in threads:
        t.join()
    final = _trainer(1)
    final.fit(X, y, resume_from=tmp_path)
    k = final.history_[-1]["writer"]
    for p, q in zip(final.model.state_dict().values(), trainers[k].model.state_dict().values()):
        assert torch.equal(p, q)
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE]
