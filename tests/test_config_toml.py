"""config.toml keeps only the keys that apply: data.test_fraction only where the split draws the test rows, and
no [uncertainty] key but the method when there are no error bars."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from deepsci.config import config_from_dict


def _data_keys(data: dict[str, Any]) -> dict[str, Any]:
    """The [data] table config.toml writes for this data section."""
    return tomllib.loads(config_from_dict({"name": "x", "data": data}).toml())["data"]


@pytest.mark.parametrize("data", [
    {"kind": "table", "source": "a.csv", "test_source": "b.csv"},  # a test file
    {"kind": "signal", "source": "a.npz", "test_x": "X_test", "test_target": "y_test"},  # test arrays
    {"kind": "table", "source": "a.csv", "split_column": "part"},  # a column of marks
    {"kind": "table", "source": "solubility"},  # a bundled dataset's own split column
    {"kind": "signal", "source": "gunpoint"},  # a bundled dataset's own test arrays (the UCR split)
])
def test_a_given_split_writes_no_test_fraction(data: dict[str, Any]) -> None:
    written = _data_keys(data)
    assert "test_fraction" not in written and "valid_fraction" in written
    config = config_from_dict({"name": "x", "data": data})
    assert config_from_dict(tomllib.loads(config.toml())).model_dump() == config.model_dump()  # the same settings


@pytest.mark.parametrize("data", [
    {"kind": "table", "source": "a.csv"},
    {"kind": "signal", "source": "light-curves"},  # simulated: no split of its own
    {"kind": "table", "source": "solubility", "split": "random"},  # the dataset's split column set aside
    {"kind": "table", "source": "a.csv", "split_column": "part", "split": "stratified"},
])
def test_a_drawn_split_writes_its_test_fraction(data: dict[str, Any]) -> None:
    assert _data_keys({**data, "test_fraction": 0.25})["test_fraction"] == 0.25


def test_no_error_bars_write_only_the_method() -> None:
    """[uncertainty] method = "none" reads no other key of the section: config.toml holds the method alone, and
    reads back to the same settings."""
    config = config_from_dict({"name": "x", "data": {"source": "solubility"}, "uncertainty": {"method": "none"}})
    assert tomllib.loads(config.toml())["uncertainty"] == {"method": "none"}
    assert config_from_dict(tomllib.loads(config.toml())).model_dump() == config.model_dump()
    ensemble = config_from_dict({"name": "x", "data": {"source": "solubility"}, "uncertainty": {"method": "ensemble"}})
    assert tomllib.loads(ensemble.toml())["uncertainty"]["members"] == 8  # a method that reads them keeps them
