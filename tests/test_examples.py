"""The shipped examples, end to end through the CLI: the numbers the foundation issue promises,
reproducibility by seed, the feature cache, and a report that opens offline in a real browser."""

import importlib.util
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture()
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_solubility_beats_the_bar_and_the_second_run_skips_featurisation(tmp_path, fresh_cache, fit_example):
    first = fit_example("solubility", tmp_path / "a")
    second = fit_example("solubility", tmp_path / "b")
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


def test_breast_cancer_auc_and_seeds(tmp_path, fit_example):
    a = fit_example("breast_cancer", tmp_path / "a")
    b = fit_example("breast_cancer", tmp_path / "b")
    c = fit_example("breast_cancer", tmp_path / "c", "seed=1")
    assert a["test"]["roc_auc"] >= 0.98
    assert a["test"] == b["test"] and a["valid"] == b["valid"]
    assert c["valid"] != a["valid"]  # another seed: another split and initialisation


def test_digits_mlp_accuracy(tmp_path, fit_example):
    assert fit_example("digits_mlp", tmp_path)["test"]["accuracy"] >= 0.96


def test_solubility_classes_runs(tmp_path, fit_example):
    metrics = fit_example("solubility_classes", tmp_path)
    assert metrics["test"]["accuracy"] > 0.7  # three balanced-ish classes: chance is ~0.33


def test_a_real_run_report_opens_offline_in_chromium(tmp_path, fit_example):
    fit_example("breast_cancer", tmp_path)
    spec = importlib.util.spec_from_file_location("deepsci_tests_browser", ROOT / "tests" / "report" / "browser.py")
    browser = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(browser)
    browser.assert_opens_offline(tmp_path / "breast_cancer" / "report.html", min_images=4)
