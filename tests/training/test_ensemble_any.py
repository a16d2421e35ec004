"""Ensembles of any network (deepsci.training.ensemble_any): members side by side, each trained as if alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
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
from deepsci.errors import ConfigError, ModelError
from deepsci.training.ensemble_any import MemberEnsemble, VmapEnsemble, build_any_ensemble, stack_any

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


VMAPPABLE = [{"kind": "cnn", "channels": [4], "hidden": [8], "dropout": 0.0},
             {"kind": "transformer", "width": 8, "heads": 2, "layers": 1, "feedforward": 16, "dropout": 0.0}]


@pytest.mark.parametrize("spec", VMAPPABLE, ids=[k["kind"] for k in VMAPPABLE])
def test_vectorised_members_equal_the_sequential_ones(spec: dict) -> None:
    """Three Adam steps of the vmapped ensemble (stacked parameters) and of the sequential one from the same seeds:
    every member's outputs agree to 1e-5, the weights are stored alike, and each form loads the other's."""
    torch.manual_seed(0)
    x, y = torch.randn(12, 2, 20), torch.randint(0, 3, (12,))
    mask = torch.ones(12, 20, dtype=torch.bool)
    mask[:4, 14:] = False  # padded steps: the mask is passed to every member unbatched
    loss = ensemble_loss(F.cross_entropy, target_dims=1)
    forms = {"sequential": build_any_ensemble(lambda s: _member(spec, s), 3, seed=2),
             "vectorised": build_any_ensemble(lambda s: _member(spec, s), 3, seed=2, vectorise=True)}
    assert isinstance(forms["vectorised"], VmapEnsemble) and forms["vectorised"].FORM == "vectorised"
    for model in forms.values():
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(3):
            opt.zero_grad()
            loss(model(x, mask), y).backward()
            opt.step()
        model.eval()
    seq, vec = forms["sequential"], forms["vectorised"]
    torch.testing.assert_close(vec(x, mask), seq(x, mask), rtol=1e-5, atol=1e-5)
    states = {name: model.member_state_dict() for name, model in forms.items()}
    shapes = {name: {k: v.shape for k, v in state.items()} for name, state in states.items()}
    assert shapes["vectorised"] == shapes["sequential"]
    back = stack_any([_member(spec, 9) for _ in range(3)], vectorise=True)
    back.load_member_state_dict(states["sequential"])
    torch.testing.assert_close(back.eval()(x, mask), seq(x, mask), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(vec.unstack()[2](x, mask), seq.nets[2](x, mask), rtol=1e-5, atol=1e-5)


def test_vectorising_refuses_batch_norm_and_recurrent_layers() -> None:
    """vmap cannot update batch norm's running statistics, and torch's fused RNN kernels have no vmap rule."""
    bn = {"kind": "cnn", "channels": [4], "hidden": [8], "batch_norm": True}
    with pytest.raises(ModelError, match="batch norm"):
        build_any_ensemble(lambda s: _member(bn, s), 2, vectorise=True)
    with pytest.raises(ModelError, match="recurrent layer"):
        build_any_ensemble(lambda s: _member(KINDS[1], s), 2, vectorise=True)


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
    u = json.loads((run.path / "metrics.json").read_text())["uncertainty"]
    assert u["ensemble_form"] == "sequential" and "cnn networks trained one after another" in u["scheme"]
    back = Run.load(run.path)
    assert isinstance(back.model, MemberEnsemble)
    predictions = back.predict({"X": x[:5].astype(np.float32)})
    assert len(predictions) == 5 and "label_set" in predictions.columns


@pytest.mark.slow
def test_vectorised_run_equals_the_sequential_run(tmp_path: Path) -> None:
    """`[uncertainty] vectorise = true` trains the same members (same seeds, batches and steps) as the default, so
    the run's test predictions and prediction sets agree; metrics.json says which form trained them."""
    rng = np.random.default_rng(1)
    y = np.arange(80) % 2
    np.savez(tmp_path / "s.npz", X=(rng.normal(size=(80, 1, 16)) + y[:, None, None]).astype(np.float32), label=y)
    frames, forms = [], []
    for vectorise in (False, True):
        data = {"kind": "signal", "source": str(tmp_path / "s.npz"), "target": "label"}
        raw = {"name": f"v{vectorise}", "data": data,
               "model": KINDS[0], "train": {"epochs": 2}, "report": {"html": False},
               "uncertainty": {"method": "ensemble", "members": 2, "vectorise": vectorise}}
        run = run_experiment(config_from_dict(raw), out=tmp_path, progress=False)
        frames.append(pd.read_csv(run.path / "predictions.csv"))
        forms.append(json.loads((run.path / "metrics.json").read_text())["uncertainty"]["ensemble_form"])
    assert forms == ["sequential", "vectorised"]
    probabilities = [c for c in frames[0].columns if c.startswith("p_")]
    np.testing.assert_allclose(frames[1][probabilities], frames[0][probabilities], atol=1e-5)
    assert frames[1]["label_set"].equals(frames[0]["label_set"])


def test_vectorise_needs_an_ensemble() -> None:
    data = {"kind": "signal", "source": "light-curves", "target": "label"}
    with pytest.raises(ConfigError, match="vectorise = true runs ensemble members as one vmap"):
        config_from_dict({"name": "x", "data": data, "model": KINDS[0], "uncertainty": {"vectorise": True}})
