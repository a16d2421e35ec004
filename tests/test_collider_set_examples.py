"""The collider set-network examples (examples/collider_set_*.toml) fit end to end on a few hundred events.

The full comparison (120 000 events, 3 seeds) is benchmarks/collider.py; here the catalog is shrunk to
400 events, so each example, as shipped but for its epochs, trains in seconds.
"""

from __future__ import annotations

import json

import pytest

from deepsci.data import catalog

EVENTS = 400
pytestmark = pytest.mark.slow  # each fit ~7 s of CPU (simulation, CLI, 10 epochs)


@pytest.fixture(autouse=True)
def few_events(tmp_path, monkeypatch):
    """A fresh simulation cache and a catalog of EVENTS collider events instead of 120 000."""
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(catalog, "COLLIDER_N", EVENTS)


@pytest.mark.parametrize("example, kind", [("collider_set_transformer", "set-transformer"),
                                           ("collider_set_pairwise", "deepsets")])
def test_a_set_example_learns_from_a_few_hundred_collider_events(example, kind, tmp_path, fit_example, one_thread):
    metrics = fit_example(example, tmp_path, "train.epochs=10", "report.html=false")
    assert metrics["data"]["split"]["test"] == int(0.15 * EVENTS)
    assert metrics["data"]["inputs"]["x"] == {"structure": "set", "shape": [4, 5]}  # 4 particles x 5 features
    assert json.loads((tmp_path / example / "model.json").read_text())["model"]["kind"] == kind
    # 280 training events, 10 epochs: 0.74 for both (seed 0); a network that learnt nothing gives ~0.5
    assert metrics["test"]["roc_auc"] > 0.62
