"""The [model] schemas (deepsci/models/specs.py) and the one path for critical initialisation (models/init.py)."""

from __future__ import annotations

import math
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from deepsci.config import range_paths
from deepsci.errors import ConfigError
from deepsci.models.init import resolve_init
from deepsci.models.specs import ACTIVATIONS, locate, model_config

ROOT = Path(__file__).resolve().parents[2]


def _errors(**keys):
    with pytest.raises(ValidationError) as err:
        model_config(**keys)
    return [(e["type"], locate(list(e["loc"]))[0], e["msg"]) for e in err.value.errors()]


def test_every_example_model_section_validates_with_its_keys_kept():
    for path in sorted((ROOT / "examples").glob("*.toml")):
        raw = tomllib.loads(path.read_text())
        if range_paths(raw):  # a sweep config (deepsci sweep): tests/test_sweep.py validates it at every edge
            continue
        section = raw.get("model", {})
        dumped = model_config(**section).model_dump()
        for key, value in section.items():
            if key == "blocks":
                assert all(dumped[key][i][k] == v for i, b in enumerate(value) for k, v in b.items()), path.name
            else:
                assert dumped[key] == value, (path.name, key)


def test_a_table_mlp_holds_only_its_own_keys():
    keys = set(model_config().model_dump())
    assert keys == {"kind", "hidden", "activation", "dropout", "batch_norm", "maxout_pieces", "leaky_slope", "init",
                    "cw", "cb", "monotone"}
    assert not keys & {"channels", "cell", "teacher_forcing", "blocks", "embedding"}
    assert _errors(cell="lstm")[0][:2] == ("extra_forbidden", ["cell"])


def test_misspelled_and_missing_block_keys_are_named():
    (kind, path, _), = _errors(kind="cnn", blocks=[{"type": "conv", "channels": 8, "kernal": 5}])
    assert kind == "extra_forbidden" and path == ["blocks", "0", "kernal"]
    path, section = locate(["cnn", "blocks", "0", "conv", "kernal"])
    assert "kernel" in section.model_fields  # the section a "did you mean" hint reads
    (kind, path, _), = _errors(kind="cnn", blocks=[{"type": "conv"}])
    assert kind == "missing" and path == ["blocks", "0", "channels"]
    (kind, _, msg), = _errors(kind="cnn", blocks=[{"type": "cnv", "channels": 3}])
    assert kind == "block_type" and "conv" in msg


def test_the_library_checks_block_keys_too():
    from deepsci.errors import ModelError
    from deepsci.models.cnn import CNN

    with pytest.raises(ModelError, match="kernal.*kernel"):
        CNN(1, 2, [{"type": "conv", "channels": 4, "kernal": 5}], dims=1)
    with pytest.raises(ModelError, match="needs channels"):
        CNN(1, 2, [{"type": "conv"}], dims=1)


def test_kind_specific_checks():
    assert _errors(kind="lstm")[0][0] == "model_kind"
    assert "one state size" in _errors(kind="rnn", hidden=[32, 32])[0][2]
    assert "multiple of" in _errors(kind="transformer", width=30, heads=4)[0][2]
    assert "did you mean 'relu'" in _errors(activation="rel")[0][2]
    assert _errors(kind="multi", inputs={"a": {"kind": "cnn", "chanels": [3]}})[0][1] == ["inputs", "a", "chanels"]
    assert model_config(kind="multi", inputs={"a": {"kind": "cnn"}}).inputs["a"].kind == "cnn"
    with pytest.raises(ValidationError, match="model.kind must be one of mlp, cnn, rnn, transformer, deepsets, "
                                              "set-transformer, seq2seq, charlm, equivariant-cnn, lorentz, "
                                              "multi, dmpnn, gin, ugrnn"):
        model_config(kind="lstm")


def test_model_specs_import_without_torch():
    # the [model] spec types validate a TOML without loading torch
    code = "import sys, deepsci.models.specs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("activation, cb, cw", [("relu", 0.0, 2.0), ("tanh", 0.0, 1.0), ("linear", 0.0, 1.0),
                                                ("leaky-relu", 0.0, 2 / (1 + 0.01**2))])
def test_critical_init_resolves_to_the_book_values(activation, cb, cw):
    init, got_cb, got_cw = resolve_init(activation, "critical", cb=5.0, cw=5.0)
    assert init == "gaussian" and got_cb == pytest.approx(cb, abs=1e-9) and got_cw == pytest.approx(cw, rel=1e-6)


def test_gelu_critical_point_is_the_half_stable_one():
    _, cb, cw = resolve_init("gelu", "critical")
    assert (cb, cw) == (pytest.approx(0.17292, abs=1e-4), pytest.approx(1.98306, abs=1e-4))  # Roberts et al. §5.3.4


@pytest.mark.parametrize("activation", ["sigmoid", "softplus", "maxout"])
def test_critical_init_without_a_critical_point_is_one_line_with_the_fix(activation):
    with pytest.raises(ConfigError) as err:
        resolve_init(activation, "critical")
    msg = str(err.value)
    assert "\n" not in msg and f"'{activation}'" in msg and "'he'" in msg and "'xavier'" in msg


def test_other_schemes_pass_through_and_gaussian_needs_its_variances():
    assert resolve_init("sigmoid", "he") == ("he", None, None)
    assert resolve_init("relu", "gaussian", cb=0.1, cw=1.5) == ("gaussian", 0.1, 1.5)
    with pytest.raises(ConfigError, match="cw"):
        resolve_init("relu", "gaussian")
    with pytest.raises(ConfigError, match="critcal"):
        resolve_init("relu", "critcal")


def test_critical_mlp_has_weight_variance_cw_over_fan_in():
    from deepsci.data.schema import InputSchema
    from deepsci.models import build_model

    model = build_model(model_config(activation="tanh", init="critical", hidden=[400]),
                        {"x": InputSchema("x", "table", (300,))}, 1, task="regression", seed=0)
    weight = model.layers[0].weight
    assert weight.var().item() == pytest.approx(1.0 / 300, rel=0.05)  # tanh: C_W = 1
    assert torch.isfinite(model(torch.randn(3, 300))).all()


def test_activation_names_are_one_vocabulary():
    from deepsci.models.activations import activation_fn

    for name in ACTIVATIONS:
        if name != "maxout":
            assert math.isfinite(float(activation_fn(name)(torch.tensor(0.3))))
