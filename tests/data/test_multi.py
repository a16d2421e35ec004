"""`data.kind = "multi"`: several named inputs from one source, rows aligned, one split, one preprocessor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.config import config_from_dict
from deepsci.data.spec import SignalInput, data_config, locate
from deepsci.data import Preprocessor, build_dataset
from deepsci.errors import ConfigError, DataError


def _config(**inputs: dict) -> dict:  # type: ignore[type-arg]
    return {"name": "m", "data": {"kind": "multi", "source": "x.npz", "target": "y", "inputs": inputs},
            "model": {"kind": "multi"}}


def test_unknown_and_uncombinable_input_keys_are_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"'data\.inputs\.wave\.scal'.*Did you mean 'data\.inputs\.wave\.scale'"):
        config_from_dict(_config(wave={"kind": "signal", "x": "s", "scal": "unit"}, meta={"kind": "table", "x": "m"}))
    assert locate(["multi", "inputs", "wave", "signal", "scal"]) == (["inputs", "wave", "scal"], SignalInput)
    with pytest.raises(ConfigError, match="cannot be combined") as err:
        config_from_dict(_config(wave={"kind": "series"}, meta={"kind": "table", "x": "m"}))
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="at least two inputs"):
        config_from_dict(_config(wave={"kind": "signal", "x": "s"}))
    with pytest.raises(ConfigError, match="test_x for every input or for none"):
        config_from_dict(_config(wave={"kind": "signal", "x": "s", "test_x": "ts"}, meta={"kind": "table", "x": "m"}))


@pytest.fixture()
def table(tmp_path: Path) -> Path:
    """One CSV holding a signal (columns s0..s7), two scalars, a DNA sequence, a target and a split column."""
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(rng.normal(size=(n, 8)), columns=[f"s{j}" for j in range(8)])
    frame["age"], frame["dose"] = rng.uniform(20, 80, n), rng.uniform(0, 1, n)
    frame["dna"] = ["".join(rng.choice(list("ACGT"), rng.integers(5, 12))) for _ in range(n)]
    frame["y"] = rng.integers(0, 2, n)
    frame["part"] = np.where(np.arange(n) < 45, "train", "test")
    frame.to_csv(tmp_path / "samples.csv", index=False)
    return tmp_path / "samples.csv"


def test_a_table_source_gives_each_input_its_columns_with_one_split(table: Path) -> None:
    config = data_config(kind="multi", source=str(table), target="y", split_column="part", inputs={
        "wave": {"kind": "signal", "features": [f"s{j}" for j in range(8)]},
        "meta": {"kind": "table", "features": ["age", "dose"]},
        "dna": {"kind": "sequence", "sequence_column": "dna", "alphabet": "dna"}})
    ds = build_dataset(config, seed=0)
    assert {k: s.structure for k, s in ds.inputs.items()} == {"wave": "signal", "meta": "table", "dna": "sequence"}
    X = ds.train.X
    assert isinstance(X, dict) and set(X) == {"wave", "meta", "dna", "dna_mask"}
    assert X["wave"].shape == (len(ds.train.y), 1, 8) and X["meta"].shape == (len(ds.train.y), 2)
    assert ds.summary.split["method"] == "column" and ds.summary.split["test"] == 15
    assert ds.preprocessor.featurisers["meta"].feature_names == ["age", "dose"]
    assert abs(float(X["meta"].mean())) < 1e-5  # scaled on the training rows
    pre = Preprocessor.from_dict(json.loads(json.dumps(ds.preprocessor.to_dict())))
    again, ids, skipped = pre.transform(pre.read(str(table)))
    ref, _, _ = ds.preprocessor.transform(ds.preprocessor.read(str(table)))
    assert isinstance(again, dict) and isinstance(ref, dict) and not skipped and len(ids) == 60
    assert all(torch.equal(again[k], ref[k]) for k in ref)


def test_a_table_input_of_a_table_source_must_name_its_columns(table: Path) -> None:
    config = data_config(kind="multi", source=str(table), target="y", inputs={
        "wave": {"kind": "signal", "features": ["s0", "s1"]}, "meta": {"kind": "table"}})
    with pytest.raises(DataError, match="data.inputs.meta.features"):
        build_dataset(config, seed=0)
    config = data_config(kind="multi", source=str(table), target="y", inputs={
        "img": {"kind": "image"}, "meta": {"kind": "table", "features": ["age"]}})
    with pytest.raises(DataError, match="input 'img' \\(image\\) is read from an .npz"):
        build_dataset(config, seed=0)


def test_npz_inputs_of_different_lengths_are_refused_naming_each(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "a.npz", pts=rng.normal(size=(30, 5, 2)), sizes=rng.integers(2, 6, 30),
             meta=rng.normal(size=(29, 3)), y=rng.integers(0, 2, 30))
    config = data_config(kind="multi", source=str(tmp_path / "a.npz"), target="y", inputs={
        "cloud": {"kind": "set", "x": "pts", "sizes": "sizes"}, "meta": {"kind": "table", "x": "meta"}})
    with pytest.raises(DataError, match="cloud 30, meta 29"):
        build_dataset(config, seed=0)


def test_npz_set_and_table_inputs_build_with_masks_and_named_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    np.savez(tmp_path / "a.npz", pts=rng.normal(size=(40, 5, 2)), sizes=rng.integers(2, 6, 40),
             meta=rng.normal(size=(40, 3)), y=rng.normal(size=40))
    config = data_config(kind="multi", source=str(tmp_path / "a.npz"), target="y", inputs={
        "cloud": {"kind": "set", "x": "pts", "sizes": "sizes"}, "meta": {"kind": "table", "x": "meta"}})
    ds = build_dataset(config, seed=0)
    X = ds.train.X
    assert isinstance(X, dict) and set(X) == {"cloud", "cloud_mask", "meta"}
    assert ds.preprocessor.featurisers["meta"].feature_names == ["meta[0]", "meta[1]", "meta[2]"]
    assert ds.task == "regression" and ds.summary.n_features == 5 * 2 + 3
