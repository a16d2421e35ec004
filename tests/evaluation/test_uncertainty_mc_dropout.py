"""MC dropout samples every dropout a network has (deepsci.evaluation.uncertainty.mc_dropout.sampled_layers):
dropout modules in a CNN's body and head, attention-weight dropout, dropout between stacked recurrent layers, and
torch's transformer layers (whose eval-mode fast path skipped their dropout, so only the head was sampled)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deepsci.config import config_from_dict
from deepsci.data.schema import InputSchema
from deepsci.errors import ConfigError, ModelError
from deepsci.evaluation.results import SplitResult
from deepsci.evaluation.uncertainty import mc_dropout_samples, sampled_layers
from deepsci.experiment import run_experiment
from deepsci.models import build_model
from deepsci.models.specs import model_config
from deepsci.report.run_report import uncertainty_section

pytestmark = pytest.mark.usefixtures("one_thread")

SIGNAL = {"x": InputSchema("x", "signal", (2, 24))}


def _net(seed: int = 0, **spec: object) -> torch.nn.Module:
    return build_model(model_config(**spec), SIGNAL, 3, task="multiclass", seed=seed)


def _names(model: torch.nn.Module) -> set[str]:
    return {str(layer["module"]) for layer in sampled_layers(model)}


def test_transformer_samples_its_encoder_not_only_its_head() -> None:
    """With the head's dropout off, the samples still differ: the encoder layers' dropout and attention dropout
    are drawn (before, the layer's eval fast path skipped them and the samples were identical)."""
    model = _net(kind="transformer", width=8, heads=2, layers=2, feedforward=16, dropout=0.2).eval()
    layer = "encoder.layers.{}.{}"
    expected = {layer.format(i, name) for i in range(2) for name in ("self_attn", "dropout", "dropout1", "dropout2")}
    assert _names(model) == expected | {"head.0"}
    model.head[0].p = 0.0
    assert _names(model) == expected
    samples = mc_dropout_samples(model, torch.randn(6, 2, 24), samples=4, seed=0)
    assert float(samples.std(0).max()) > 1e-3
    assert not model.training and not model.encoder.layers[0].training  # modes restored


def test_stacked_rnn_samples_between_its_layers() -> None:
    """A 2-layer GRU's between-layer dropout is sampled (torch applies it only in training mode)."""
    model = _net(kind="rnn", cell="gru", hidden=[8], layers=2, dropout=0.3)
    assert _names(model) == {"rnn", "drop"}
    assert {str(d["drops"]) for d in sampled_layers(model)} == {"between 2 stacked GRU layers", "Dropout"}
    model.drop.p = 0.0
    samples = mc_dropout_samples(model, torch.randn(5, 2, 24), samples=4, seed=0)
    assert float(samples.std(0).max()) > 1e-4
    one_layer = _net(kind="rnn", cell="gru", hidden=[8], layers=1, dropout=0.3)
    assert _names(one_layer) == {"drop"}  # one layer: nothing between layers


def test_cnn_body_dropout_is_sampled_and_batch_norm_is_not_updated() -> None:
    """`body_dropout` puts a dropout after every conv and residual block (not after pooling), and MC dropout samples
    them with the head's; batch norm keeps its running statistics (eval mode)."""
    blocks = [{"type": "conv", "channels": 4, "batch_norm": True}, {"type": "pool"}, {"type": "residual"}]
    model = _net(kind="cnn", blocks=blocks, hidden=[], body_dropout=0.2, dropout=0.1)
    assert _names(model) == {"features.1", "features.4", "head.1"}
    assert [layer["p"] for layer in sampled_layers(model)] == [0.2, 0.2, 0.1]
    stats = model.features[0][1].running_mean.clone()
    model.head[1].p = 0.0
    samples = mc_dropout_samples(model, torch.randn(5, 2, 24), samples=3, seed=0)
    assert float(samples.std(0).max()) > 1e-4
    torch.testing.assert_close(model.features[0][1].running_mean, stats)
    head_only = _net(kind="cnn", blocks=blocks, hidden=[], dropout=0.1)
    assert _names(head_only) == {"head.1"}  # model.dropout alone: the head
    with pytest.raises(ModelError, match="MC dropout needs a model with dropout"):
        mc_dropout_samples(_net(kind="cnn", blocks=blocks), torch.randn(2, 2, 24), samples=2)


def test_body_dropout_config() -> None:
    """body_dropout belongs to blocks and presets: refused on LeNet stages, left out of their config.toml, and
    enough dropout for `method = "mc-dropout"` without model.dropout."""
    data = {"kind": "signal", "source": "light-curves", "target": "label"}
    lenet = config_from_dict({"name": "lenet", "data": data, "model": {"kind": "cnn", "dropout": 0.1}})
    assert "body_dropout" not in lenet.model.applicable()
    with pytest.raises(ConfigError, match="body_dropout puts dropout after the blocks"):
        config_from_dict({"name": "x", "data": data, "model": {"kind": "cnn", "body_dropout": 0.1}})
    model = {"kind": "cnn", "preset": "resnet", "body_dropout": 0.1}
    preset = config_from_dict({"name": "x", "data": data, "model": model,
                               "uncertainty": {"method": "mc-dropout"}})
    assert preset.model.applicable()["body_dropout"] == 0.1
    with pytest.raises(ConfigError, match="needs dropout in the network"):
        config_from_dict({"name": "x", "data": data, "model": {"kind": "cnn", "preset": "resnet"},
                          "uncertainty": {"method": "mc-dropout"}})


@pytest.mark.slow
def test_run_records_the_sampled_layers(tmp_path: Path) -> None:
    """metrics.json names every layer MC dropout sampled (the report lists the same): the CNN's body and head."""
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    np.savez(tmp_path / "s.npz", X=(rng.normal(size=(60, 1, 16)) + y[:, None, None]).astype(np.float32), label=y)
    blocks = [{"type": "conv", "channels": 4}, {"type": "pool"}, {"type": "conv", "channels": 4}]
    raw = {"name": "mc", "data": {"kind": "signal", "source": str(tmp_path / "s.npz"), "target": "label"},
           "model": {"kind": "cnn", "blocks": blocks, "hidden": [], "body_dropout": 0.2, "dropout": 0.1},
           "train": {"epochs": 1}, "report": {"html": False}, "uncertainty": {"method": "mc-dropout", "samples": 3}}
    run = run_experiment(config_from_dict(raw), out=tmp_path, progress=False)
    layers = json.loads((run.path / "metrics.json").read_text())["uncertainty"]["sampled_layers"]
    assert [(d["module"], d["p"]) for d in layers] == [("features.1", 0.2), ("features.4", 0.2), ("head.1", 0.1)]


def test_report_lists_the_sampled_layers_and_the_ensemble_form() -> None:
    proba = np.array([[0.8, 0.2], [0.3, 0.7]])
    result = SplitResult(name="test", ids=["a", "b"], y_true=np.array([0, 1]), pred=proba, metrics={},
                         dist={"pred": proba}, bands={}, uncertainty={})
    layers = [{"module": "features.1", "drops": "Dropout", "p": 0.2},
              {"module": "head.1", "drops": "Dropout", "p": 0.1}]
    html = uncertainty_section("binary", result, {"method": "mc-dropout", "sampled_layers": layers}, "test",
                               ["label"]).html
    assert "MC dropout samples 2 layer(s): features.1 (Dropout, p = 0.2), head.1 (Dropout, p = 0.1)." in html
    html = uncertainty_section("binary", result, {"method": "ensemble", "ensemble_form": "sequential"}, "test",
                               ["label"]).html
    assert "Members trained one after another" in html
