"""Ensembles of any network (deepsci.training.ensemble_any): members side by side, each trained as if alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deepsci.config import config_from_dict
from deepsci.data.schema import InputSchema
from deepsci.experiment import run_experiment
from deepsci.models import build_model
from deepsci.models.specs import model_config
from deepsci.run import Run
from deepsci.training.ensemble import StackedMLP, ensemble_loss
from deepsci.training.ensemble_any import MemberEnsemble, build_any_ensemble, stack_any

SCHEMA = {"x": InputSchema("x", "signal", (2, 20))}
KINDS = [{"kind": "cnn", "channels": [4], "hidden": [8], "dropout": 0.0},
         {"kind": "rnn", "cell": "gru", "hidden": [6]},
         {"kind": "transformer", "width": 8, "heads": 2, "layers": 1, "feedforward": 16, "dropout": 0.0}]


def _member(spec: dict, seed: int) -> torch.nn.Module:
    return build_model(model_config(**spec), SCHEMA, 3, task="multiclass", seed=seed)


@pytest.mark.parametrize("spec", KINDS, ids=[k["kind"] for k in KINDS])
def test_each_member_learns_as_if_alone(spec: dict) -> None:
    """One Adam step of the ensemble on ensemble_loss moves member k exactly as the network of seed k alone."""
    torch.manual_seed(0)
    x, y = torch.randn(10, 2, 20), torch.randint(0, 3, (10,))
    ensemble = build_any_ensemble(lambda s: _member(spec, s), 3, seed=5)
    assert isinstance(ensemble, MemberEnsemble) and ensemble(x).shape == (3, 10, 3)
    alone = _member(spec, 6)  # member 1
    for model, loss in ((ensemble, ensemble_loss(F.cross_entropy, target_dims=1)), (alone, F.cross_entropy)):
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    ensemble.eval(), alone.eval()
    torch.testing.assert_close(ensemble(x)[1], alone(x), rtol=1e-5, atol=1e-6)


def test_member_weights_round_trip_and_mlps_still_stack() -> None:
    ensemble = build_any_ensemble(lambda s: _member(KINDS[0], s), 2, seed=0)
    state = ensemble.member_state_dict()
    assert all(t.shape[0] == 2 for t in state.values())
    rebuilt = stack_any([_member(KINDS[0], 9), _member(KINDS[0], 9)])
    rebuilt.load_member_state_dict(state)
    x = torch.randn(4, 2, 20)
    torch.testing.assert_close(rebuilt.eval()(x), ensemble.eval()(x))
    mlp = build_any_ensemble(lambda s: build_model(model_config(kind="mlp", hidden=[4]),
                                                   {"x": InputSchema("x", "table", (3,))}, 1,
                                                   task="regression", seed=s), 2)
    assert type(mlp) is StackedMLP  # MLPs keep the vectorised ensemble


@pytest.mark.slow
def test_cnn_ensemble_run_folder(tmp_path: Path) -> None:
    """`[uncertainty] method = "ensemble"` with a CNN trains, writes K members and loads back (it was refused)."""
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    x = rng.normal(size=(60, 1, 16)) + y[:, None, None]
    np.savez(tmp_path / "s.npz", X=x.astype(np.float32), label=y)
    raw = {"name": "ens", "data": {"kind": "signal", "source": str(tmp_path / "s.npz"), "target": "label"},
           "model": KINDS[0], "train": {"epochs": 1}, "report": {"html": False},
           "uncertainty": {"method": "ensemble", "members": 2}}
    run = run_experiment(config_from_dict(raw), out=tmp_path, progress=False)
    meta = json.loads((run.path / "model.json").read_text())
    assert meta["members"] == 2
    back = Run.load(run.path)
    assert isinstance(back.model, MemberEnsemble)
    predictions = back.predict({"X": x[:5].astype(np.float32)})
    assert len(predictions) == 5 and "label_set" in predictions.columns
