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


@pytest.mark.parametrize("preset", ["fcn", "resnet", "inception"])
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


SET_NAMES = {"light-curves": "light curves", "gunpoint": "GunPoint", "basic-motions": "BasicMotions"}


def _ucr_results() -> dict:
    return json.loads((ROOT / "benchmarks" / "results" / "signals_ucr.json").read_text())


def _default_runs() -> dict[str, list[dict]]:
    """Each set's default runs (seed lines): the light curves' from signals_lightcurves.json, the real sets' from
    signals_ucr.json."""
    lightcurves = json.loads((ROOT / "benchmarks" / "results" / "signals_lightcurves.json").read_text())
    return {"light-curves": lightcurves["seeds"], **{k: v["seeds"] for k, v in _ucr_results()["sets"].items()}}


def test_real_set_accuracies_in_the_docs() -> None:
    """The GunPoint and BasicMotions table: every seed measured, network / MiniRocket / majority at 3 decimals."""
    rows = {(m.group(1), int(m.group(2))): [float(v) for v in m.groups()[2:]]
            for m in re.finditer(r"^\| (GunPoint|BasicMotions) \| (\d) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", DOC,
                                 re.M)}
    measured = {(SET_NAMES[name], int(s["seed"])): [round(s["test_accuracy"], 3),
                                                    round(s["references"]["minirocket"], 3),
                                                    round(s["references"]["trivial"], 3)]
                for name, entry in _ucr_results()["sets"].items() for s in entry["seeds"]}
    assert rows == measured and len(rows) == 6


def test_tried_defaults_in_the_docs() -> None:
    """The table of defaults tried: each (schedule, set) row states the three seeds' test accuracies."""
    results = _ucr_results()
    runs = {("constant", SET_NAMES[name]): entry["seeds"] for name, entry in results["trials"]["constant-lr"].items()}
    runs.update({("cosine", SET_NAMES[name]): seeds for name, seeds in _default_runs().items()})
    rows = {(m.group(1), m.group(2)): [float(v) for v in m.groups()[2:]]
            for m in re.finditer(r"^\| (constant|cosine)[^|]* \| (light curves|GunPoint|BasicMotions) \| ([\d.]+) \| "
                                 r"([\d.]+) \| ([\d.]+) \|$", DOC, re.M)}
    assert rows == {key: [round(s["test_accuracy"], 3) for s in sorted(seeds, key=lambda s: s["seed"])]
                    for key, seeds in runs.items()}


def test_the_bar_count_in_the_docs() -> None:
    """'N of 9 default runs reach MiniRocket − 0.02' counts the stored runs."""
    runs = [s for seeds in _default_runs().values() for s in seeds]
    reached = sum(s["test_accuracy"] >= s["references"]["minirocket"] - 0.02 - 1e-9 for s in runs)
    stated = re.search(r"(\d) of (\d) default runs reach MiniRocket − 0\.02", DOC)
    assert stated is not None and (int(stated.group(1)), int(stated.group(2))) == (reached, len(runs))


def test_inception_trial_in_the_docs() -> None:
    """The single-seed comparison: ResNet (default) / InceptionTime network / MiniRocket at seed 0 of each set."""
    inception = {SET_NAMES[name]: entry["seeds"][0] for name, entry in _ucr_results()["trials"]["inception"].items()}
    default = {SET_NAMES[name]: next(s for s in seeds if s["seed"] == 0) for name, seeds in _default_runs().items()}
    rows = {m.group(1): [float(v) for v in m.groups()[1:]]
            for m in re.finditer(r"^\| (light curves|GunPoint|BasicMotions) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$",
                                 DOC, re.M)}
    assert all(s["seed"] == 0 for s in inception.values())
    assert rows == {name: [round(default[name]["test_accuracy"], 3), round(run["test_accuracy"], 3),
                           round(run["references"]["minirocket"], 3)] for name, run in inception.items()}
