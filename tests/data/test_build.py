from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits

from deepsci.data import Dataset, Scaler, load_dataset, murcko_scaffold
from deepsci.errors import ConfigError, DataError


@pytest.fixture()
def cancer_csv(tmp_path: Path) -> Path:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:120].copy()
    path = tmp_path / "cancer.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture()
def molecules_csv(tmp_path: Path, small_molecules: pd.DataFrame) -> Path:
    path = tmp_path / "mols.csv"
    small_molecules.to_csv(path, index=False)
    return path


# ---- the solubility dataset ----------------------------------------------------------------------


@pytest.mark.slow  # featurises the 1282 solubility molecules once per session (~5-15 s)
def test_solubility_uses_its_own_1025_257_split(solubility: Dataset) -> None:
    assert len(solubility.train) + len(solubility.valid) == 1025
    assert len(solubility.test) == 257
    assert len(solubility.valid) == 102  # 10% of train, carved from train
    assert solubility.task == "regression" and solubility.target_names == ["SOL"]
    assert solubility.n_features == 217 and solubility.n_outputs == 1
    s = solubility.summary.to_json()
    assert list(s)[:4] == ["source", "kind", "task", "target"]  # the layout metrics.json has always had
    assert s["rows_read"] == s["rows_used"] == 1282 and s["dropped"] == [] and solubility.skipped == []
    assert s["split"]["method"] == "column" and s["featuriser"] == "descriptors"
    json.dumps(s)
    json.dumps(solubility.preprocessor.to_dict())
    assert solubility.train.X.dtype == torch.float32 and solubility.train.y.shape == (923, 1)
    assert torch.isfinite(solubility.train.X).all() and torch.isfinite(solubility.test.X).all()


@pytest.mark.slow  # featurises the 1282 solubility molecules once per session (~5-15 s)
def test_solubility_test_ids_are_the_test_molecules(solubility: Dataset, solubility_frame: pd.DataFrame) -> None:
    test_names = set(solubility_frame.loc[solubility_frame["split"] == "test", "NAME"])
    assert set(solubility.test.ids) == test_names
    assert solubility.y_scaler is not None
    sol = solubility_frame.set_index("NAME").loc[solubility.test.ids, "SOL"].to_numpy()
    np.testing.assert_allclose(solubility.y_scaler.inverse_transform(solubility.test.y).numpy().ravel(), sol,
                               atol=1e-5)


@pytest.mark.slow  # featurises the 1282 solubility molecules once per session (~5-15 s)
def test_scalers_are_fitted_on_train_only(solubility: Dataset) -> None:
    xs, ys = _x_scaler(solubility), solubility.y_scaler
    assert xs is not None and ys is not None
    raw_train = xs.inverse_transform(solubility.train.X.double())
    raw_test = xs.inverse_transform(solubility.test.X.double())
    ref = Scaler().fit(raw_train)  # an independent fit on the train rows alone
    torch.testing.assert_close(xs.mean_, ref.mean_, rtol=1e-5, atol=1e-4)
    all_rows = Scaler().fit(torch.cat([raw_train, raw_test]))
    assert not torch.allclose(xs.mean_, all_rows.mean_, rtol=1e-3, atol=1e-3)
    assert solubility.train.y.mean().abs() < 1e-5 and (solubility.train.y.std(unbiased=False) - 1).abs() < 1e-4
    assert solubility.test.y.mean().abs() > 1e-3  # test statistics were not used


@pytest.mark.slow  # featurises the 1282 solubility molecules once per session (~5-15 s)
def test_prepare_inputs_reproduces_the_test_features(solubility: Dataset, solubility_frame: pd.DataFrame,
                                                     feature_cache: Path) -> None:
    test = solubility_frame[solubility_frame["split"] == "test"]
    raw = solubility.preprocessor.read(test)
    X, ids, skipped = solubility.preprocessor.transform(raw)
    assert skipped == [] and ids == solubility.test.ids
    assert torch.equal(X, solubility.test.X)  # type: ignore[arg-type]
    y = solubility.preprocessor.targets(raw)
    np.testing.assert_allclose(y.numpy().ravel(), test["SOL"].to_numpy(), rtol=1e-6)


@pytest.mark.slow  # featurises the 1282 solubility molecules once per session (~5-15 s)
def test_prepare_inputs_with_a_missing_column_names_it(solubility: Dataset) -> None:
    frame = pd.DataFrame({"SMILES_typo": ["CCO"]})
    with pytest.raises(DataError, match="lacks the SMILES column 'smiles'"):
        solubility.preprocessor.transform(solubility.preprocessor.read(frame))


@pytest.mark.slow  # featurises the 1282 solubility molecules once per session (~5-15 s)
def test_solubility_classes(feature_cache: Path) -> None:
    ds = load_dataset(source="solubility-classes", cache_dir=feature_cache)
    assert ds.task == "multiclass" and ds.class_names == ["(A) low", "(B) medium", "(C) high"]
    assert len(ds.train) + len(ds.valid) == 1025 and len(ds.test) == 257
    assert ds.y_scaler is None and ds.train.y.dtype == torch.int64
    assert ds.summary.cache_hit is True  # same molecules as `solubility`: features come from the cache


# ---- tables --------------------------------------------------------------------------------------


def test_breast_cancer_binary_with_malignant_positive() -> None:
    ds = load_dataset(source="breast-cancer", seed=0)
    assert ds.task == "binary" and ds.class_names == ["benign", "malignant"] and ds.n_outputs == 1
    assert ds.n_features == 30 and len(ds.test) == 114
    malignant = (load_breast_cancer().target == 0).mean()
    assert abs(ds.test.y.float().mean().item() - malignant) < 0.02  # stratified
    other = load_dataset(source="breast-cancer", seed=1)
    assert ds.test.ids != other.test.ids


def test_digits_default_features_are_all_pixels() -> None:
    ds = load_dataset(source="digits")
    assert ds.task == "multiclass" and ds.n_outputs == 10 and ds.feature_names[0] == "pixel_0_0"
    assert ds.summary.split["method"] == "stratified"


def test_csv_file_default_features_and_task(cancer_csv: Path) -> None:
    ds = load_dataset(source=str(cancer_csv), target="target")
    assert ds.task == "binary" and ds.n_features == 30 and ds.class_names == ["0", "1"]
    assert ds.summary.rows_read == 120
    reg = load_dataset(source=cancer_csv, target="mean radius", features=["mean texture", "mean area"])
    assert reg.task == "regression" and reg.feature_names == ["mean texture", "mean area"]
    forced = load_dataset(source=cancer_csv, target="target", task="regression")
    assert forced.task == "regression" and forced.train.y.dtype == torch.float32


def test_task_inference_from_target_type() -> None:
    digits = load_digits()
    frame = pd.DataFrame(digits.data[:300, :5], columns=list("abcde"))
    frame["label"] = digits.target[:300]                      # integers, 10 values
    frame["word"] = np.where(digits.target[:300] % 3 == 0, "three", np.where(digits.target[:300] % 3 == 1, "one", "two"))
    frame["flag"] = digits.target[:300] > 4                   # bool
    frame["value"] = digits.data[:300, 20] + 0.5              # float
    feats = list("abcde")
    assert load_dataset(source=frame, target="label", features=feats).task == "multiclass"
    words = load_dataset(source=frame, target="word", features=feats)
    assert words.task == "multiclass" and words.class_names == ["one", "three", "two"]
    assert load_dataset(source=frame, target="flag", features=feats).task == "binary"
    assert load_dataset(source=frame, target="value", features=feats).task == "regression"
    with pytest.raises(DataError, match="task='binary' but target 'label' has 10 classes"):
        load_dataset(source=frame, target="label", features=feats, task="binary")


def test_npz_source_and_multi_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    np.savez(tmp_path / "d.npz", X=X, y=np.stack([X.sum(1), X[:, 0]], 1))
    ds = load_dataset(source=tmp_path / "d.npz", target=["y0", "y1"])
    assert ds.task == "regression" and ds.n_outputs == 2 and ds.feature_names == ["x0", "x1", "x2"]


# ---- molecules -----------------------------------------------------------------------------------


def test_unparsable_smiles_are_counted_skipped_and_listed(tmp_path: Path, small_molecules: pd.DataFrame,
                                                          feature_cache: Path) -> None:
    frame = small_molecules.copy()
    frame.loc[3, "smiles"] = "C1CC(not a ring"
    frame.loc[7, "smiles"] = "Xx"
    frame.to_csv(tmp_path / "m.csv", index=False)
    ds = load_dataset(source=tmp_path / "m.csv", target="SOL", id_column="NAME", split="random",
                      cache_dir=feature_cache)
    assert ds.summary.rows_read == 40 and ds.summary.rows_used == 38
    assert ds.summary.dropped == [{"reason": "unparsable SMILES", "rows": 2}]
    assert [s["row"] for s in ds.skipped] == [3, 7]
    assert ds.skipped[0]["id"] == frame.loc[3, "NAME"] and "C1CC(not a ring" in ds.skipped[0]["reason"]
    assert len(ds.train) + len(ds.valid) + len(ds.test) == 38
    assert ds.summary.ignored_columns == []


def test_morgan_features_and_smiles_autodetect(molecules_csv: Path, feature_cache: Path) -> None:
    ds = load_dataset(source=molecules_csv, target="SOL", featuriser="morgan", morgan_bits=256, morgan_radius=1,
                      scale_features=False, cache_dir=feature_cache)
    assert ds.preprocessor.reader["smiles_column"] == "smiles" and ds.n_features == 256
    assert set(torch.unique(ds.train.X).tolist()) <= {0.0, 1.0} and _x_scaler(ds) is None  # type: ignore[arg-type]
    assert ds.summary.ignored_columns == ["NAME"]  # reported, not silently dropped


def test_scaffold_split_via_load_dataset(molecules_csv: Path, feature_cache: Path) -> None:
    ds = load_dataset(source=molecules_csv, target="SOL", id_column="NAME", split="scaffold",
                      cache_dir=feature_cache)
    frame = pd.read_csv(molecules_csv).set_index("NAME")
    scaf = [{murcko_scaffold(frame.loc[i, "smiles"]) for i in part.ids} for part in (ds.train, ds.valid, ds.test)]
    assert not (scaf[0] & scaf[2]) and not (scaf[0] & scaf[1]) and not (scaf[1] & scaf[2])


@pytest.mark.slow  # featurises the 1282 solubility molecules once per session (~5-15 s)
def test_nonfinite_descriptors_are_filled_with_train_medians(solubility: Dataset) -> None:
    assert solubility.summary.nonfinite_filled > 0  # one molecule has undefined Gasteiger charges
    fill = solubility.preprocessor.featurisers["x"].state["fill_values"]
    assert len(fill) == 217 and all(np.isfinite(fill))


# ---- bad input: each case a small real file ------------------------------------------------------


def test_bad_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_dataset(source=str(tmp_path / "absent.csv"), target="y")


def test_bad_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_dataset(source=tmp_path / "empty.csv", target="y")


def test_bad_missing_target_lists_columns(cancer_csv: Path) -> None:
    with pytest.raises(DataError, match="target column 'diagnosis' not in .*columns are: mean radius, mean texture"):
        load_dataset(source=cancer_csv, target="diagnosis")
    with pytest.raises(DataError, match="did you mean 'target'"):
        load_dataset(source=cancer_csv, target="targt")


def test_bad_non_numeric_feature_column_is_named(tmp_path: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:60].copy()
    frame["hospital"] = np.where(np.arange(60) % 2, "north", "south")
    frame.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataError, match="not numeric: column 'hospital': row 0 .* holds 'south'"):
        load_dataset(source=tmp_path / "c.csv", target="target")
    with pytest.raises(DataError, match="not numeric: column 'hospital'"):
        load_dataset(source=tmp_path / "c.csv", target="target", features=["mean radius", "hospital"])


def test_bad_nan_and_inf_name_column_and_count(tmp_path: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:100].copy()
    frame.loc[[4, 9, 30], "mean area"] = np.nan
    frame.loc[50, "mean radius"] = np.inf
    frame.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataError, match="'mean radius' has NaN or inf in 1 row.*'mean area' has NaN or inf in "
                                        "3 row\\(s\\) \\(rows 4, 9, 30\\).*missing = 'drop'"):
        load_dataset(source=tmp_path / "c.csv", target="target")
    ds = load_dataset(source=tmp_path / "c.csv", target="target", missing="drop")
    assert ds.summary.rows_used == 96 and ds.summary.n_dropped == 4
    assert {d["reason"]: d["rows"] for d in ds.summary.dropped} == {
        "NaN or inf in column 'mean radius'": 1, "NaN or inf in column 'mean area'": 3}
    assert sorted(s["row"] for s in ds.skipped) == [4, 9, 30, 50]


def test_bad_nan_in_target(tmp_path: Path) -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:100].copy()
    frame["mean radius"] = frame["mean radius"].astype(float)
    frame.loc[[2, 3], "mean radius"] = np.nan
    frame.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(DataError, match="'mean radius' has NaN or inf in 2 row"):
        load_dataset(source=tmp_path / "c.csv", target="mean radius")
    ds = load_dataset(source=tmp_path / "c.csv", target="mean radius", missing="drop")
    assert ds.summary.rows_used == 98


def test_bad_options_are_config_errors(cancer_csv: Path) -> None:
    with pytest.raises(ConfigError, match="unknown task 'classify'"):
        load_dataset(source=cancer_csv, target="target", task="classify")
    with pytest.raises(ConfigError, match="Did you mean 'scaffold'"):
        load_dataset(source=cancer_csv, target="target", split="scafold")
    with pytest.raises(ConfigError, match="split='scaffold' needs molecules"):
        load_dataset(source=cancer_csv, target="target", split="scaffold")
    with pytest.raises(ConfigError, match="missing-value policy"):
        load_dataset(source=cancer_csv, target="target", missing="ignore")


def test_bad_single_class_target(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": np.arange(20.0), "label": ["x"] * 20})
    with pytest.raises(DataError, match="single class"):
        load_dataset(source=frame, target="label")


def test_predict_table_lacking_a_feature(cancer_csv: Path) -> None:
    ds = load_dataset(source=cancer_csv, target="target")
    frame = pd.read_csv(cancer_csv).drop(columns=["mean area", "worst radius"])
    with pytest.raises(DataError, match="lacks column\\(s\\) the model needs: mean area, worst radius"):
        ds.preprocessor.transform(ds.preprocessor.read(frame))
    full = pd.read_csv(cancer_csv)
    raw = ds.preprocessor.read(full)
    X, ids, skipped = ds.preprocessor.transform(raw)
    assert X.shape == (120, 30) and skipped == []  # type: ignore[union-attr]
    y = ds.preprocessor.targets(raw)
    assert torch.equal(y, torch.tensor(full["target"].to_numpy()))


def _x_scaler(ds: Dataset) -> Scaler | None:
    return ds.preprocessor.featurisers["x"].x_scaler  # type: ignore[attr-defined, no-any-return]


def test_loading_a_run_finds_every_registered_preprocessor_and_featuriser() -> None:
    """deepsci.data imports its modules on first use (the config reads the spec types without torch), so
    the run folder's loader must itself bring in every class a saved preprocessor may name."""
    import subprocess
    import sys

    code = ("import deepsci.run\nfrom deepsci.data.featurisers import FEATURISERS\n"
            "from deepsci.data.preprocess import PREPROCESSORS\n"
            "print(sorted(PREPROCESSORS), {'graph', 'window', 'text'} <= set(FEATURISERS))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['series',", "'text']", "True"]


def test_a_bad_key_of_the_api_is_a_config_error_naming_it(cancer_csv: Path) -> None:
    with pytest.raises(ConfigError, match="data.featurs: Extra inputs are not permitted"):
        load_dataset(source=cancer_csv, target="target", featurs=["mean radius"])
    with pytest.raises(ConfigError, match="data.morgan_bits: Input should be greater than or equal to 64"):
        load_dataset(source=cancer_csv, target="target", morgan_bits=8)
