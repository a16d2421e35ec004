"""Uncertainty through the real path (config -> run_experiment -> run folder -> Run.load): the
[uncertainty] section, the std / interval / set columns, metrics.json["uncertainty"], the report section,
the ensemble's round trip, and that method = "none" changes nothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deepsci.errors import ConfigError
from deepsci.experiment import config_from_dict, run_experiment
from deepsci.run import Run


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """y = sin(3 x0) + x1 + N(0, (0.1 + 0.3 |x0|)^2): a smooth signal with input-dependent noise."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (400, 4))
    y = np.sin(3 * X[:, 0]) + X[:, 1] + rng.normal(size=400) * (0.1 + 0.3 * np.abs(X[:, 0]))
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(4)]).assign(y=y, name=[f"r{i}" for i in range(400)])
    path = tmp_path_factory.mktemp("data") / "noisy.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _config(source, name, uncertainty=None, **train):
    raw = {"name": name, "seed": 0,
           "data": {"source": str(source), "target": "y", "id_column": "name", "valid_fraction": 0.25},
           "model": {"hidden": [16], "dropout": 0.1}, "train": {"epochs": 15, "lr": 3e-3, **train},
           "report": {"html": True}}
    if uncertainty is not None:
        raw["uncertainty"] = uncertainty
    return config_from_dict(raw)


# -- config -----------------------------------------------------------------------------------------
def test_uncertainty_section_defaults_and_resolution():
    base = {"name": "t", "data": {"source": "digits"}}
    u = config_from_dict(base).uncertainty
    assert (u.method, u.members, u.samples, u.level, u.conformal) == ("auto", 8, 50, 0.9, None)
    assert config_from_dict({**base, "uncertainty": {"method": "ensemble"}}).uncertainty.conformal is True
    assert config_from_dict({**base, "uncertainty": {"method": "ensemble", "conformal": False}}).uncertainty.conformal is False



@pytest.mark.parametrize("data,uncertainty,calib", [
    ({}, {"method": "ensemble"}, 0.2),                                                 # conformal bands
    ({}, {"method": "ensemble", "conformal": False}, 0.2),                             # sigma recalibration
    ({}, {"method": "ensemble", "conformal": False, "recalibration": "none"}, 0.0),    # nothing to calibrate
    ({"task": "multiclass"}, {"method": "ensemble", "conformal": False}, 0.0),        # no sigma in classification
    ({}, {"heteroscedastic": True, "conformal": False, "recalibration": "none"}, 0.0),
    ({"calib_fraction": 0.3}, {"method": "ensemble"}, 0.3),                            # the user's value is kept
    ({}, {"method": "none"}, 0.0),
    ({}, {}, 0.2),                                                                      # "auto": a CV+ ensemble
])
def test_calibration_rows_are_held_out_only_when_something_is_fitted_on_them(data, uncertainty, calib):
    """The default calibration split (a fifth of the training rows) is set aside only for conformal bands or
    a sigma recalibration; otherwise those rows train the model."""
    config = config_from_dict({"name": "t", "data": {"source": "digits", **data}, "uncertainty": uncertainty})
    assert config.data.calib_fraction == calib

@pytest.mark.parametrize("section,match", [
    ({"uncertainty": {"methd": "ensemble"}}, r"Did you mean 'uncertainty.method'"),
    ({"uncertainty": {"method": "bagging"}}, r"uncertainty.method"),
    ({"uncertainty": {"members": 1}}, r"uncertainty.members"),
    ({"uncertainty": {"level": 1.0}}, r"uncertainty.level"),
    ({"uncertainty": {"bootstrap": True}}, r"method = 'ensemble'"),
    ({"uncertainty": {"method": "none", "score": "normalised"}}, r"predicted sigma"),
    ({"uncertainty": {"method": "mc-dropout"}}, r"model.dropout"),
    ({"uncertainty": {"method": "ensemble"}, "train": {"rule": "feedback-alignment"}}, r"cannot be stacked"),
    ({"uncertainty": {"heteroscedastic": True}, "train": {"loss": "mae"}}, r"Gaussian NLL"),
    ({"uncertainty": {"method": "mc-dropout", "conformal_method": "cross"}, "model": {"dropout": 0.1}},
     r"conformal_method = 'cross'"),
    ({"uncertainty": {"method": "ensemble", "conformal_method": "cross", "score": "normalised"}},
     r"score = 'absolute'"),
    ({"uncertainty": {"method": "ensemble", "conformal_method": "crossed"}}, r"uncertainty.conformal_method"),
])
def test_bad_uncertainty_config_is_one_readable_error(section, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"name": "t", "data": {"source": "digits"}, **section})


# -- runs -------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ensemble_run_folder_has_uncertainty_and_round_trips(table, tmp_path):
    source, frame = table
    run = run_experiment(_config(source, "ens", {"method": "ensemble", "members": 3, "conformal_method": "split"},
                                 patience=5), tmp_path,
                         progress=False)
    pred = pd.read_csv(run.path / "predictions.csv")
    # a regression ensemble has mean and variance heads by default (Lakshminarayanan et al. 2017)
    assert list(pred.columns) == ["id", "y", "y_pred", "y_std", "y_std_raw", "y_lower", "y_upper",
                                  "y_aleatoric_std", "y_epistemic_std"]
    assert (pred["y_std"] > 0).all() and (pred["y_lower"] < pred["y_pred"]).all()
    u = run.metrics["uncertainty"]
    split = run.metrics["data"]["split"]
    assert u["method"] == "ensemble" and u["members"] == 3 and u["heteroscedastic"] is True
    # calibrated on rows of its own, neither validation (early stopping) nor test
    assert u["calibration"]["calibrated_on"] == "calib" and u["calibration"]["n"] == split["calib"] > 0
    assert split["valid"] > 0 and u["calibration"]["sigma"]["method"] == "scaling"
    assert u["test"]["coverage_low"] <= u["test"]["coverage"] <= u["test"]["coverage_high"]
    assert 0.0 <= u["test"]["coverage"] <= 1.0 and u["test"]["mean_width"] > 0 and "nll" in u["test"]
    meta = json.loads((run.path / "model.json").read_text())
    assert meta["members"] == 3 and meta["model"]["kind"] == "mlp" and meta["calibration"]["kind"] == "interval"
    assert "Uncertainty" in (run.path / "report.html").read_text()
    # Run.load rebuilt the stacked ensemble; predicting the test rows anew reproduces predictions.csv.
    loaded = Run.load(run.path)
    assert type(loaded.model).__name__ == "StackedMLP" and loaded.model.members == 3
    again = loaded.predict(frame.set_index("name").loc[pred["id"]].reset_index())
    for col in ("y_pred", "y_std", "y_std_raw", "y_lower", "y_upper"):
        np.testing.assert_allclose(again[col].to_numpy(), pred[col].to_numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_heteroscedastic_bootstrap_ensemble_reports_aleatoric_and_epistemic(table, tmp_path):
    source, _ = table
    run = run_experiment(_config(source, "het", {"method": "ensemble", "members": 3, "heteroscedastic": True,
                                                 "bootstrap": True, "score": "normalised"}), tmp_path, progress=False)
    pred = pd.read_csv(run.path / "predictions.csv")
    for col in ("y_std", "y_aleatoric_std", "y_epistemic_std", "y_lower", "y_upper"):
        assert col in pred
    np.testing.assert_allclose(pred["y_std"] ** 2, pred["y_aleatoric_std"] ** 2 + pred["y_epistemic_std"] ** 2,
                               rtol=1e-6)
    assert run.metrics["uncertainty"]["test"]["mean_aleatoric_std"] > 0
    # normalised conformal: the half-width is q * sigma, so it varies row to row
    half = (pred["y_upper"] - pred["y_lower"]) / 2
    np.testing.assert_allclose(half / pred["y_std"], half.iloc[0] / pred["y_std"].iloc[0], rtol=1e-6)


@pytest.mark.slow
def test_cross_conformal_run_calibrates_on_every_training_row(table, tmp_path):
    """conformal_method = "cross-plus": the CV+ bands come from the training rows' out-of-fold residuals (n =
    every training row), the sigma scale from the calibration split, and Run.load gives the same bands."""
    source, frame = table
    config = _config(source, "cross", {"method": "ensemble", "members": 3, "conformal_method": "cross-plus"},
                     patience=5)
    warned = run_experiment(config, tmp_path / "warned", progress=False)  # an explicit valid split: a warning
    assert any("validation split" in w and "chose nothing" in w for w in warned.metrics["warnings"])
    config = config.model_copy(update={"data": config.data.model_copy(update={"valid_fraction": 0.0})})
    run = run_experiment(config, tmp_path, progress=False)
    u, split = run.metrics["uncertainty"], run.metrics["data"]["split"]
    assert split["valid"] == 0 and split["calib"] > 0
    cal = u["calibration"]
    assert (cal["calibrated_on"], cal["n"], cal["score"]) == ("out-of-fold", split["train"], "absolute")
    assert cal["sigma"]["n"] == split["calib"] and cal["q"][0] > 0
    assert pd.read_csv(run.path / "history.csv")["valid_loss"].notna().all()  # each member on its own fold
    assert len(cal["residuals"]) == len(cal["residual_members"]) == split["train"]
    pred = pd.read_csv(run.path / "predictions.csv")
    width = pred["y_upper"] - pred["y_lower"]
    assert (pred["y_lower"] < pred["y_pred"]).all() and (pred["y_pred"] < pred["y_upper"]).all()
    assert width.std() > 0  # CV+ widens where the members disagree
    again = Run.load(run.path).predict(frame.set_index("name").loc[pred["id"]].reset_index())
    for col in ("y_lower", "y_upper"):
        np.testing.assert_allclose(again[col], pred[col], rtol=1e-5, atol=1e-6)
    no_calib = config.model_copy(update={"data": config.data.model_copy(update={"calib_fraction": 0.0})})
    with pytest.raises(ConfigError, match="recalibration = 'none'"):
        run_experiment(no_calib, tmp_path / "b", progress=False)


@pytest.mark.slow
def test_mc_dropout_and_digits_prediction_sets(table, tmp_path):
    source, _ = table
    mc = run_experiment(_config(source, "mc", {"method": "mc-dropout", "samples": 8}), tmp_path, progress=False)
    assert mc.metrics["uncertainty"]["method"] == "mc-dropout" and mc.metrics["uncertainty"]["samples"] == 8
    assert "y_std" in pd.read_csv(mc.path / "predictions.csv")
    cfg = config_from_dict({"name": "dig", "data": {"source": "digits", "valid_fraction": 0.2},
                            "model": {"hidden": [32]}, "train": {"epochs": 8},
                            "uncertainty": {"method": "ensemble", "members": 2, "set_method": "lac"}})
    run = run_experiment(cfg, tmp_path, progress=False)
    pred = pd.read_csv(run.path / "predictions.csv", dtype={"digit_set": str})
    classes = run.preprocessor.class_names
    sets = pred["digit_set"].fillna("").str.split("|")
    assert all(all(c in classes for c in s if c) for s in sets)
    np.testing.assert_array_equal(pred["digit_set_size"], [len([c for c in s if c]) for s in sets])
    u = run.metrics["uncertainty"]["test"]
    covered = np.mean([str(t) in s for t, s in zip(pred["digit"], sets)])
    assert u["set_coverage"] == pytest.approx(covered) and u["mean_set_size"] == pytest.approx(pred["digit_set_size"].mean())
    assert "ece" in u and "Reliability diagram" in (run.path / "report.html").read_text()


@pytest.mark.slow
def test_method_none_is_the_plain_run(table, tmp_path):
    """method = "none" gives the same files as before the section existed (two runs, the same frames): the same
    predictions as a hand-made MLP trained by the Trainer (oracle), and no uncertainty keys. (Without the section
    a run now gets the default error bars: tests/test_uncertainty_default.py.)"""
    from deepsci.evaluation.evaluate import predictions
    from deepsci.training.inference import predict_batches
    from deepsci.experiment import build_dataset, build_model
    from deepsci.training import Trainer, get_loss

    source, _ = table
    plain = run_experiment(_config(source, "plain", {"method": "none"}), tmp_path / "a", progress=False)
    explicit = run_experiment(_config(source, "plain", {"method": "none"}), tmp_path / "b", progress=False)
    a, b = pd.read_csv(plain.path / "predictions.csv"), pd.read_csv(explicit.path / "predictions.csv")
    assert list(a.columns) == ["id", "y", "y_pred"]
    pd.testing.assert_frame_equal(a, b)
    assert "uncertainty" not in plain.metrics and plain.meta["members"] == 1 and plain.meta["uncertainty"]["method"] == "none"
    cfg = _config(source, "plain", {"method": "none"})
    ds = build_dataset(cfg)
    model = build_model(cfg, ds.inputs, ds.n_outputs, task=ds.task)
    Trainer(model, loss=get_loss(None, "regression"), lr=cfg.train.lr, epochs=cfg.train.epochs, seed=0,
            schedule="constant").fit(ds.train.X, ds.train.y, ds.valid.X, ds.valid.y)
    oracle = predictions(predict_batches(model, ds.test.X), "regression", ds.preprocessor.inverse_targets)
    np.testing.assert_allclose(a["y_pred"], oracle[:, 0], rtol=1e-5, atol=1e-6)


# -- estimators -------------------------------------------------------------------------------------
def _noisy(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, 2))
    return X, np.sin(X[:, 0]) + 0.5 * X[:, 1] + rng.normal(size=n) * 0.2


def test_regressor_return_std_and_conformal_interval_cover_new_rows():
    from deepsci.estimators import Regressor

    X, y = _noisy(600, 0)
    X_new, y_new = _noisy(3000, 1)  # exchangeable with the training rows: coverage >= level (+ sampling noise)
    reg = Regressor(hidden=(32,), epochs=40, lr=3e-3, uncertainty="ensemble", members=4, valid_fraction=0.25).fit(X, y)
    mean, std = reg.predict(X_new, return_std=True)
    assert mean.shape == std.shape == (3000,) and (std > 0).all()
    np.testing.assert_allclose(mean, reg.predict(X_new))
    for level in (0.8, 0.9):
        lower, upper = reg.predict_interval(X_new, level=level)
        coverage = np.mean((y_new >= lower) & (y_new <= upper))
        # 150 calibration rows: the coverage of one calibration has sd ~0.025; allow ~2.5 sd below, the
        # finite-sample conservatism above.
        assert level - 0.065 <= coverage <= level + 0.07, (level, coverage)
    lo80, hi80 = reg.predict_interval(X_new, level=0.8)
    lo90, hi90 = reg.predict_interval(X_new, level=0.9)
    assert np.all(hi90 - lo90 >= hi80 - lo80 - 1e-9)


def test_estimator_errors_and_sklearn_contract():
    from sklearn.base import clone

    from deepsci.errors import ModelError
    from deepsci.estimators import Classifier, Regressor

    X, y = _noisy(200, 2)
    plain = Regressor(hidden=(8,), epochs=3, patience=None).fit(X, y)
    with pytest.raises(ModelError, match="uncertainty='ensemble'"):
        plain.predict(X, return_std=True)
    with pytest.raises(ModelError, match="calibration slice"):
        plain.predict_interval(X)
    params = clone(Regressor(uncertainty="mc-dropout", samples=7, dropout=0.2)).get_params()
    assert (params["uncertainty"], params["samples"], params["members"]) == ("mc-dropout", 7, 8)
    clf = Classifier(hidden=(8,), epochs=3, uncertainty="ensemble", members=3).fit(X, (y > 0).astype(int))
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 2) and np.allclose(proba.sum(1), 1.0)
