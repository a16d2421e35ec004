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


def test_the_feature_cache_skips_featurisation_the_second_time(tmp_path, fresh_cache, fit_example):
    first = fit_example("solubility", tmp_path / "a", "train.epochs=1")
    second = fit_example("solubility", tmp_path / "b", "train.epochs=1")
    assert first["data"]["split"]["test"] == 257
    split = first["data"]["split"]
    assert split["train"] + split["valid"] + split.get("calib", 0) == 1025  # calib: the default error bars' rows
    assert not first["timings"]["featurisation_cache_hit"] and second["timings"]["featurisation_cache_hit"]
    assert second["timings"]["featurisation_seconds"] < 0.2 * first["timings"]["featurisation_seconds"]
    assert second["test"] == first["test"]  # same config and seed, identical metrics


def test_a_run_folder_holds_every_file(example_runs):
    _, run = example_runs("solubility")
    for name in ("config.toml", "metrics.json", "history.csv", "predictions.csv", "model.safetensors",
                 "model.json", "report.html", "checkpoint"):
        assert (run / name).exists(), name


def test_table_runs_report_the_trivial_and_linear_references(example_runs):
    metrics, run = example_runs("solubility")
    baselines = metrics["baselines"]
    assert set(baselines) == {"trivial", "linear"}
    assert metrics["test"]["rmse"] < baselines["linear"]["test"]["rmse"] < baselines["trivial"]["test"]["rmse"]
    assert "Against simple references" in (run / "report.html").read_text()


def test_same_seed_same_numbers_another_seed_another_split(tmp_path, fit_example):
    a = fit_example("breast_cancer", tmp_path / "a", "train.epochs=5")
    b = fit_example("breast_cancer", tmp_path / "b", "train.epochs=5")
    c = fit_example("breast_cancer", tmp_path / "c", "train.epochs=5", "seed=1")
    assert a["test"] == b["test"] and a["valid"] == b["valid"]
    assert c["valid"] != a["valid"]  # another seed: another split and initialisation
    assert a["environment"]["torch_threads"] >= 1 and a["versions"]["torch"].startswith("2.13.0")


def test_a_real_run_report_opens_offline_in_chromium(example_runs):
    _, run = example_runs("breast_cancer")
    spec = importlib.util.spec_from_file_location("deepsci_tests_browser", ROOT / "tests" / "report" / "browser.py")
    browser = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(browser)
    browser.assert_opens_offline(run / "report.html", min_images=4)
