"""deepsci.Regressor / Classifier honour scikit-learn's contract on real data."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn.exceptions import DataConversionWarning, NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepsci import Classifier, Regressor
from deepsci.estimators import expected_failed_checks


def test_regressor_matches_a_linear_baseline_on_diabetes():
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    reg = Regressor(hidden=(16,), epochs=40, lr=1e-3, seed=0).fit(Xtr, ytr)
    pred = reg.predict(Xte)
    assert pred.shape == yte.shape
    assert 100 < pred.mean() < 200  # back in the target's units (the mean target is ~152)
    assert reg.score(Xte, yte) > 0.32  # ridge regression gets 0.37 on this split; this MLP 0.35


def test_multi_target_regression_keeps_the_target_shape():
    X, y = load_diabetes(return_X_y=True)
    Y = np.stack([y, -2 * y], axis=1)
    pred = Regressor(hidden=(8,), epochs=3).fit(X, Y).predict(X[:5])
    assert pred.shape == (5, 2)


def test_classifier_probabilities_and_labels_on_digits():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0, stratify=y)
    clf = Classifier(hidden=(64,), epochs=30, seed=0).fit(Xtr, ytr)
    proba = clf.predict_proba(Xte)
    assert proba.shape == (len(Xte), 10)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert clf.score(Xte, yte) > 0.95


def test_binary_classifier_keeps_string_labels():
    X, y = load_breast_cancer(return_X_y=True)
    labels = np.where(y == 1, "benign", "malignant")
    clf = Classifier(hidden=(16,), epochs=10).fit(X, labels)
    assert set(clf.predict(X[:20])) <= {"benign", "malignant"}
    assert clf.predict_proba(X[:3]).shape == (3, 2)


def test_works_in_cross_val_score_and_pipeline_and_clone():
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(FunctionTransformer(np.log1p), Classifier(hidden=(16,), epochs=8, seed=1))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    reg = Regressor(hidden=(5, 5), lr=0.1)
    assert clone(reg).get_params() == reg.get_params()
    assert reg.set_params(epochs=7).epochs == 7


def test_early_stopping_with_patience_keeps_a_history():
    X, y = load_diabetes(return_X_y=True)
    reg = Regressor(hidden=(128, 128), epochs=500, lr=1e-2, patience=5, seed=0).fit(X, y)
    assert len(reg.history_) < 500 and reg.history_[0]["valid_loss"] is not None


def test_no_validation_slice_is_held_out_unless_patience_asks_for_one():
    """Like scikit-learn's MLPs (early_stopping=False by default): every row trains, every epoch runs."""
    X, y = load_diabetes(return_X_y=True)
    full = Regressor(seed=0, epochs=3).fit(X, y)
    assert len(full.history_) == 3 and full.history_[0]["valid_loss"] is None
    stopped = Regressor(seed=0, patience=10).fit(X, y)
    assert len(stopped.history_) < 100 and stopped.history_[0]["valid_loss"] is not None


def test_wrong_width_at_predict_is_a_clear_error():
    X, y = load_diabetes(return_X_y=True)
    reg = Regressor(hidden=(4,), epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but Regressor is expecting 10 features as input"):
        reg.predict(X[:, :3])


# -- scikit-learn's contract ----------------------------------------------------------------------------------
@parametrize_with_checks([Regressor(), Classifier()], expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    """scikit-learn's own battery at default settings (expected failures listed, with reasons, by
    deepsci.estimators.expected_failed_checks)."""
    check(estimator)


@pytest.mark.parametrize("est", [Regressor(), Classifier()], ids=["Regressor", "Classifier"])
def test_predict_before_fit_is_not_fitted_error(est):
    X = np.zeros((3, 2))
    for method in ["predict", "predict_proba"] if isinstance(est, Classifier) else ["predict", "predict_interval"]:
        with pytest.raises(NotFittedError):
            getattr(est, method)(X)


def test_a_column_y_warns_for_the_classifier_and_is_multi_output_for_the_regressor():
    X, y = load_breast_cancer(return_X_y=True)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        Classifier(hidden=(4,), epochs=1).fit(X, y[:, None])
    Xd, yd = load_diabetes(return_X_y=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        column = Regressor(hidden=(4,), epochs=2, seed=0).fit(Xd, yd[:, None]).predict(Xd[:5])
    flat = Regressor(hidden=(4,), epochs=2, seed=0).fit(Xd, yd).predict(Xd[:5])
    assert column.shape == (5, 1) and flat.shape == (5,)
    np.testing.assert_allclose(column[:, 0], flat)
    assert Regressor().__sklearn_tags__().target_tags.multi_output


@pytest.mark.parametrize("est", [Regressor(), Classifier()], ids=["Regressor", "Classifier"])
def test_one_sample_is_refused_with_sklearns_wording(est):
    with pytest.raises(ValueError, match="1 sample"):
        est.fit(np.ones((1, 4)), np.array([1]))


def test_sample_weight_changes_the_fit_and_uniform_weights_do_not():
    X, y = load_diabetes(return_X_y=True)
    base = Regressor(hidden=(8,), epochs=5, seed=0)
    plain = clone(base).fit(X, y).predict(X[:20])
    uniform = clone(base).fit(X, y, sample_weight=np.full(len(y), 2.5)).predict(X[:20])
    np.testing.assert_array_equal(plain, uniform)
    skewed = clone(base).fit(X, y, sample_weight=(y > 150).astype(float) * 9 + 1).predict(X[:20])
    assert skewed.mean() > plain.mean() + 5  # the heavy rows are the high targets
    Xc, yc = load_breast_cancer(return_X_y=True)
    Classifier(hidden=(4,), epochs=2).fit(Xc, yc, sample_weight=np.linspace(0.1, 1, len(yc)))


def test_feature_names_are_kept_and_reordered_columns_are_refused():
    pd = pytest.importorskip("pandas")
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in particular no "The given NumPy array is not writable"
        reg = Regressor(hidden=(4,), epochs=2).fit(X, y)
        reg.predict(X.iloc[:5])
    assert list(reg.feature_names_in_) == list(X.columns)
    with pytest.raises(ValueError, match="same order"):
        reg.predict(X[list(reversed(X.columns))].iloc[:5])
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        reg.predict(X.to_numpy()[:5])
    assert isinstance(pd.DataFrame, type)


# -- one pipeline: the API's numbers are `deepsci fit`'s ---------------------------------------------------------
def _fit_on_the_command_line(tmp_path, estimator, X, y, X_test, y_test):
    """`deepsci fit` with the estimator's own resolved config, on its data written to CSV files (the test rows
    given apart, as data.test_source): the predictions.csv of the run."""
    tomli_w = pytest.importorskip("tomli_w")
    from deepsci.cli import main
    from deepsci.data.arrays import arrays_frame

    arrays_frame(X, y).to_csv(tmp_path / "train.csv", index=False)
    arrays_frame(X_test, y_test).to_csv(tmp_path / "test.csv", index=False)
    raw = estimator.config_.model_dump(mode="json", exclude_none=True)
    raw["name"] = "cli"
    raw["data"].update(source=str(tmp_path / "train.csv"), test_source=str(tmp_path / "test.csv"))
    (tmp_path / "cli.toml").write_text(tomli_w.dumps(raw))
    try:
        main(["fit", str(tmp_path / "cli.toml"), "--out", str(tmp_path / "runs"), "--quiet"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    return pd.read_csv(tmp_path / "runs" / "cli" / "predictions.csv")


def _table(n, d, seed):
    X = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)  # exact in float32 and in a CSV
    return X, X @ np.linspace(-1.0, 2.0, d) + 0.3 * np.sin(3 * X[:, 0])


def test_regressor_predictions_equal_deepsci_fit_with_the_same_settings(tmp_path):
    """Early stopping (a carved validation slice), an ensemble and its calibration slice: the same rows, model,
    training and calibration as the command line, so the same predictions and sigmas."""
    X, y = _table(150, 4, seed=0)
    X_test, y_test = _table(40, 4, seed=1)
    reg = Regressor(hidden=(16,), epochs=30, patience=5, uncertainty="ensemble", members=3, seed=3).fit(X, y)
    mean, std = reg.predict(X_test, return_std=True)
    cli = _fit_on_the_command_line(tmp_path, reg, X, y, X_test, y_test)
    np.testing.assert_allclose(mean, cli["y_pred"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(std, cli["y_std"], rtol=1e-6, atol=1e-9)
    assert reg.history_[0]["valid_loss"] is not None  # the validation slice was carved and watched


def test_classifier_probabilities_equal_deepsci_fit_with_the_same_settings(tmp_path):
    X, y = _table(180, 5, seed=2)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))  # three classes
    X_test, y_test = _table(30, 5, seed=3)
    clf = Classifier(hidden=(16,), epochs=20, patience=5, seed=1).fit(X, labels)
    proba = clf.predict_proba(X_test)
    cli = _fit_on_the_command_line(tmp_path, clf, X, labels, X_test,
                                   np.digitize(y_test, np.quantile(y, [1 / 3, 2 / 3])))
    np.testing.assert_allclose(proba, cli[[f"p_{c}" for c in clf.classes_]], rtol=1e-6, atol=1e-9)
