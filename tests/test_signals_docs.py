"""The numbers docs/signals.md states: the presets' sizes (built here) and the light-curve example's accuracies
(benchmarks/results/signals_lightcurves.json, written by benchmarks/signals_lightcurves.py; three fits of minutes
each, so the stored results are what is checked, to the 3 decimals the page prints)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deepsci.data.schema import InputSchema
from deepsci.models import build_model
from deepsci.models.specs import model_config

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "signals.md").read_text()


@pytest.mark.parametrize("preset", ["fcn", "resnet"])
def test_preset_sizes_in_the_docs(preset: str) -> None:
    model = build_model(model_config(kind="cnn", preset=preset), {"x": InputSchema("x", "signal", (1, 32))}, 2,
                        task="multiclass", seed=0)
    head = model.head[-1]
    count = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in head.parameters())
    stated = re.search(rf"^\| `{preset}` \|.*\| (\d+)k \|$", DOC, re.M)
    assert stated is not None and int(stated.group(1)) == round(count / 1000)


def test_light_curve_accuracies_in_the_docs() -> None:
    results = json.loads((ROOT / "benchmarks" / "results" / "signals_lightcurves.json").read_text())
    rows = {int(m.group(1)): [float(v) for v in m.groups()[1:]]
            for m in re.finditer(r"^\| (\d) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", DOC, re.M)}
    assert sorted(rows) == sorted(seed["seed"] for seed in results["seeds"])  # the page states every seed measured
    for seed in results["seeds"]:
        refs = seed["references"]
        stated = rows[seed["seed"]]
        assert stated == [round(seed["test_accuracy"], 3), round(refs["minirocket"], 3), round(refs["trivial"], 3)]
    mean = re.search(r"mean ([\d.]+) \(range ([\d.]+)–([\d.]+)\)", DOC)
    assert mean is not None and [float(v) for v in mean.groups()] == [
        round(results["test_accuracy_mean"], 3), round(results["test_accuracy_min"], 3),
        round(results["test_accuracy_max"], 3)]
