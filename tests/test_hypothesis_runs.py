"""Loading an untrusted run folder: whatever bytes model.json, model.safetensors, metrics.json or
config.toml hold, `Run.load` returns a run or raises one DeepSciError line; never another exception.

A real run folder is fitted once; hypothesis then damages one file per case (truncation, flipped
bytes, random bytes, JSON values swapped for others) and loads it back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepsci.config import config_from_dict
from deepsci.errors import DeepSciError
from deepsci.experiment import run_experiment
from deepsci.run import Run

FILES = ("model.json", "model.safetensors", "metrics.json", "config.toml")
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False)
                           | st.text(max_size=20), lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    config = config_from_dict({"name": "tiny", "data": {"source": "breast-cancer"},
                               "model": {"hidden": [4]}, "train": {"epochs": 1}})
    return run_experiment(config, out, progress=False).path


def _load_is_clean(folder: Path) -> None:
    try:
        Run.load(folder)
    except DeepSciError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
    # any other exception fails the test with its traceback


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(FILES), data=st.data())
def test_damaged_bytes_load_cleanly(pristine: Path, tmp_path_factory: pytest.TempPathFactory, name: str,
                                    data: st.DataObject) -> None:
    folder = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(pristine, folder)
    blob = (folder / name).read_bytes()
    how = data.draw(st.sampled_from(["truncate", "flip", "random", "empty"]))
    if how == "truncate":
        blob = blob[:data.draw(st.integers(0, max(len(blob) - 1, 0)))]
    elif how == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob = blob[:i] + bytes([blob[i] ^ data.draw(st.integers(1, 255))]) + blob[i + 1:]
    elif how == "random":
        blob = data.draw(st.binary(max_size=2048))
    else:
        blob = b""
    (folder / name).write_bytes(blob)
    _load_is_clean(folder)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.sampled_from(["model", "members", "task", "preprocessor", "hidden", "kind", "n_inputs",
                                      "n_outputs", "featurisers", "x", "state", "settings", "reader", "inputs",
                                      "uncertainty", "calibration", "q", "activation", "0"]), min_size=1, max_size=4),
       value=JSON_VALUES)
def test_swapped_json_values_load_cleanly(pristine: Path, tmp_path_factory: pytest.TempPathFactory,
                                          path: list[str], value: object) -> None:
    folder = tmp_path_factory.mktemp("edited") / "run"
    shutil.copytree(pristine, folder)
    meta = json.loads((folder / "model.json").read_text())
    node = meta
    for key in path[:-1]:
        nxt = node.get(key) if isinstance(node, dict) else None
        if not isinstance(nxt, dict):
            break
        node = nxt
    if isinstance(node, dict):
        node[path[-1]] = value
    (folder / "model.json").write_text(json.dumps(meta))
    _load_is_clean(folder)
