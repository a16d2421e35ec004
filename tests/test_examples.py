"""The shipped examples, end to end through the CLI: the numbers the foundation issue promises,
reproducibility by seed, the feature cache, and a report that opens offline in a real browser."""

import importlib.util
import json
from pathlib import Path

import pytest

from deepsci.cli import main

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _fit(example: str, out: Path, *overrides: str) -> dict:
    args = ["fit", str(ROOT / "examples" / f"{example}.toml"), "--out", str(out), "--quiet"]
    for item in overrides:
        args += ["--set", item]
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None)
    return json.loads((out / example / "metrics.json").read_text())


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_solubility_beats_the_bar_and_the_second_run_skips_featurisation(tmp_path, fresh_cache):
    first = _fit("solubility", tmp_path / "a")
    second = _fit("solubility", tmp_path / "b")
    test = first["test"]
    assert first["data"]["split"]["test"] == 257
    assert first["data"]["split"]["train"] + first["data"]["split"]["valid"] == 1025
    assert test["rmse"] <= 0.70 and test["r2"] >= 0.88, test
    assert not first["timings"]["featurisation_cache_hit"] and second["timings"]["featurisation_cache_hit"]
    assert second["timings"]["featurisation_seconds"] < 0.2 * first["timings"]["featurisation_seconds"]
    assert second["test"] == first["test"]  # same config and seed, identical metrics
    run = tmp_path / "a" / "solubility"
    for name in ("config.toml", "metrics.json", "history.csv", "predictions.csv", "model.safetensors",
                 "model.json", "report.html"):
        assert (run / name).is_file()


def test_breast_cancer_auc_and_seeds(tmp_path):
    a = _fit("breast_cancer", tmp_path / "a")
    b = _fit("breast_cancer", tmp_path / "b")
    c = _fit("breast_cancer", tmp_path / "c", "seed=1")
    assert a["test"]["roc_auc"] >= 0.98
    assert a["test"] == b["test"] and a["valid"] == b["valid"]
    assert c["valid"] != a["valid"]  # another seed: another split and initialisation


def test_digits_mlp_accuracy(tmp_path):
    assert _fit("digits_mlp", tmp_path)["test"]["accuracy"] >= 0.96


def test_solubility_classes_runs(tmp_path):
    metrics = _fit("solubility_classes", tmp_path)
    assert metrics["test"]["accuracy"] > 0.7  # three balanced-ish classes: chance is ~0.33


def test_a_real_run_report_opens_offline_in_chromium(tmp_path):
    _fit("breast_cancer", tmp_path)
    spec = importlib.util.spec_from_file_location("deepsci_tests_browser", ROOT / "tests" / "report" / "browser.py")
    browser = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(browser)
    browser.assert_opens_offline(tmp_path / "breast_cancer" / "report.html", min_images=4)
