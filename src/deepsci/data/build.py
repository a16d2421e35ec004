"""From a source (catalog name, file, DataFrame) to a validated, featurised, split and scaled Dataset.

`load_dataset` is the one entry point of the data layer; `prepare_inputs` transforms a new table
exactly as a run's training data was transformed (same featuriser, fill values and scaler).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepsci.data.catalog import DatasetInfo, get_dataset_info, is_registered, load_frame
from deepsci.data.dataset import Dataset, Split
from deepsci.data.molecules import (
    FEATURE_KINDS,
    featurise_smiles,
    fill_nonfinite,
    nonfinite_fill_values,
)
from deepsci.data.readers import read_table, table_format
from deepsci.data.scalers import Scaler
from deepsci.data.splits import SPLITS, make_split
from deepsci.errors import ConfigError, DataError, unknown_name

TASKS: tuple[str, ...] = ("auto", "regression", "binary", "multiclass")
FEATURISERS: tuple[str, ...] = FEATURE_KINDS + ("none",)
MISSING_POLICIES: tuple[str, ...] = ("error", "drop")
MAX_CLASSES = 50
FEATURISER_SPEC_VERSION = 1


def load_dataset(
    *,
    source: str | Path | pd.DataFrame,
    target: str | Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    smiles_column: str | None = None,
    featuriser: str = "descriptors",
    morgan_radius: int = 2,
    morgan_bits: int = 2048,
    id_column: str | None = None,
    task: str = "auto",
    split: str = "auto",
    split_column: str | None = None,
    test_fraction: float = 0.2,
    valid_fraction: float = 0.1,
    missing: str = "error",
    scale_features: bool = True,
    scale_targets: bool = True,
    cache_dir: str | Path | None = None,
    seed: int = 0,
) -> Dataset:
    """Load, validate, featurise, split and scale a dataset.

    Args:
        source: a catalog name ("solubility", "digits", ... see `list_datasets`), a file path
            (CSV, Parquet, NPZ, SDF; see `read_table`) or a DataFrame.
        target: target column, or a list of columns (several regression targets). Default: the
            catalog's target, else a column named "y" or "target".
        features: feature columns. Default: with a SMILES column, only the molecular features;
            otherwise every column but the target, SMILES, split and id columns (all must be
            numeric). With a SMILES column, listed features are appended to the molecular ones.
        smiles_column: column of SMILES. Default: the catalog's, else a column named "smiles"
            (any case) when `features` is not given.
        featuriser: "descriptors" (RDKit 2D), "morgan", "descriptors+morgan" or "none".
        morgan_radius, morgan_bits: Morgan fingerprint parameters.
        id_column: column naming each row (default: the catalog's, else the row number).
        task: "auto", "regression", "binary" or "multiclass". Auto: float target -> regression;
            integer/string/bool target with 2 classes -> binary, 3..50 -> multiclass (integer
            targets with more than 50 values -> regression).
        split: "auto", "random", "stratified", "scaffold" or "column". Auto: the split column
            if there is one, else stratified for classification and random for regression.
        split_column: column holding train/valid/test (default: the catalog's).
        test_fraction: share of all rows in test (not used by split="column").
        valid_fraction: share of the training rows carved out for validation.
        missing: "error" (NaN/inf in a target or feature column raises, naming the column and
            rows) or "drop" (those rows are dropped and counted in ``summary["dropped"]``).
            Unparsable SMILES are always skipped and reported, never fatal. Non-finite molecular
            descriptors are filled with the training-split median of their column.
        scale_features: standardise X with a scaler fitted on the training split.
        scale_targets: standardise regression targets the same way (the caller inverse-transforms
            predictions with ``dataset.y_scaler``).
        cache_dir: folder of the molecular feature cache (default ``~/.cache/deepsci/features``,
            or ``$DEEPSCI_CACHE/features``).
        seed: drives every random split.

    Returns:
        The `Dataset`; its ``summary`` holds rows read/used, dropped rows and why, split sizes,
        n_features, featurisation seconds and cache hit; its ``featuriser`` the JSON spec that
        `prepare_inputs` needs.

    Raises:
        DataError: missing/empty/unsupported file, unknown dataset, missing or non-numeric
            column, NaN/inf values, too few rows or classes.
        ConfigError: an unknown option value (task, split, featuriser, missing).
    """
    _check_option("task", task, TASKS)
    _check_option("split", split, SPLITS + ("auto",))
    _check_option("featuriser", featuriser, FEATURISERS)
    _check_option("missing-value policy", missing, MISSING_POLICIES)

    frame, info, label = _resolve_source(source)
    if info is not None and info.builder is not None:
        return info.builder(target=target, features=features, smiles_column=smiles_column,
                            featuriser=featuriser, morgan_radius=morgan_radius, morgan_bits=morgan_bits,
                            id_column=id_column, task=task, split=split, split_column=split_column,
                            test_fraction=test_fraction, valid_fraction=valid_fraction, missing=missing,
                            scale_features=scale_features, scale_targets=scale_targets,
                            cache_dir=cache_dir, seed=seed)
    assert frame is not None
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise DataError(f"{label} has no rows. Give a table with data rows.")
    columns = list(frame.columns)

    # ---- which columns play which role -----------------------------------------------------
    targets = _resolve_targets(target, info, columns, label)
    if smiles_column is None:
        if info is not None:
            smiles_column = info.smiles_column
        elif features is None:
            smiles_column = next((c for c in columns if c.lower() == "smiles"), None)
    if smiles_column is not None:
        _require_columns([smiles_column], columns, label, "smiles_column")
    if id_column is None and info is not None:
        id_column = info.id_column
    if id_column is not None:
        _require_columns([id_column], columns, label, "id_column")
    if split_column is None and info is not None:
        split_column = info.split_column
    if split_column is not None:
        _require_columns([split_column], columns, label, "split_column")
    mol_kind = featuriser if smiles_column is not None else "none"

    reserved = set(targets) | {c for c in (smiles_column, id_column, split_column) if c}
    if features is not None:
        table_features = [str(f) for f in features]
        _require_columns(table_features, columns, label, "features")
        clash = [f for f in table_features if f in targets]
        if clash:
            raise DataError(f"column(s) {', '.join(clash)} are both target and feature; "
                            "remove them from features.")
        ignored: list[str] = []
    elif mol_kind != "none":
        table_features, ignored = [], [c for c in columns if c not in reserved]
    else:
        table_features, ignored = [c for c in columns if c not in reserved], []
    _require_numeric(frame, table_features, label, explicit=features is not None)
    if not table_features and mol_kind == "none":
        raise DataError(f"{label} has no feature columns (columns: {', '.join(columns)}). "
                        "Add numeric feature columns, or set smiles_column to featurise molecules.")

    ids = (frame[id_column].astype(str).tolist() if id_column is not None
           else [str(i) for i in range(len(frame))])

    # ---- missing values ----------------------------------------------------------------------
    drop_reason: list[str | None] = [None] * len(frame)
    problems: list[str] = []
    for col in targets + table_features:
        bad = _nonfinite_mask(frame[col])
        if bad.any():
            rows = np.flatnonzero(bad)
            problems.append(f"column '{col}' has NaN or inf in {len(rows)} row(s) "
                            f"(rows {', '.join(map(str, rows[:8]))}{', ...' if len(rows) > 8 else ''})")
            for r in rows:
                drop_reason[r] = drop_reason[r] or f"NaN or inf in column '{col}'"
    if problems and missing == "error":
        raise DataError(f"{label}: " + "; ".join(problems)
                        + ". Fix the file, or set missing = 'drop' to drop those rows.")

    # ---- molecules -------------------------------------------------------------------------
    mol_X: np.ndarray | None = None
    mol_names: list[str] = []
    feat_seconds, cache_hit = 0.0, None
    if mol_kind != "none":
        assert smiles_column is not None
        mf = featurise_smiles(frame[smiles_column].tolist(), mol_kind, morgan_radius, morgan_bits,
                              cache_dir)
        mol_X, mol_names, feat_seconds, cache_hit = mf.X, mf.names, mf.seconds, mf.cache_hit
        smiles_values = frame[smiles_column].tolist()
        for r in np.flatnonzero(~mf.valid):
            drop_reason[r] = drop_reason[r] or f"unparsable SMILES '{smiles_values[r]}'"

    skipped: list[dict[str, Any]] = [{"row": int(r), "id": ids[r], "reason": why}
                                     for r, why in enumerate(drop_reason) if why]
    dropped: dict[str, int] = {}
    for rec in skipped:
        key = "unparsable SMILES" if rec["reason"].startswith("unparsable SMILES") else rec["reason"]
        dropped[key] = dropped.get(key, 0) + 1
    keep = np.array([why is None for why in drop_reason])
    if not keep.any():
        raise DataError(f"{label}: no usable rows are left ({len(skipped)} skipped: "
                        f"{', '.join(f'{k}: {v}' for k, v in dropped.items())}).")
    kept = frame.loc[keep].reset_index(drop=True)
    kept_ids = [i for i, k in zip(ids, keep) if k]

    # ---- targets and task ------------------------------------------------------------------
    task_used, y_all, class_names = _encode_targets(kept, targets, task, label)

    # ---- split -----------------------------------------------------------------------------
    classification = task_used != "regression"
    method = split
    if method == "auto":
        method = "column" if split_column is not None else ("stratified" if classification else "random")
    parts = make_split(
        method, n=len(kept), test_fraction=test_fraction, valid_fraction=valid_fraction, seed=seed,
        labels=y_all if classification else None,
        smiles=kept[smiles_column].astype(str).tolist() if smiles_column is not None else None,
        column_values=kept[split_column].to_numpy() if split_column is not None else None,
        column=split_column or "split")

    # ---- features --------------------------------------------------------------------------
    blocks: list[np.ndarray] = []
    fill_values: list[float] = []
    n_filled = 0
    if mol_X is not None:
        mx = mol_X[keep]
        # Fill values come from the training split only, so no test statistics leak in.
        fill = nonfinite_fill_values(mx[parts.train])
        mx, n_filled = fill_nonfinite(mx, fill)
        fill_values = fill.tolist()
        blocks.append(mx.astype(np.float64))
    if table_features:
        blocks.append(kept[table_features].astype(np.float64).to_numpy())
    X_all = np.concatenate(blocks, axis=1)
    feature_names = mol_names + table_features

    x_scaler = Scaler().fit(X_all[parts.train]) if scale_features else None
    y_scaler = (Scaler().fit(y_all[parts.train]) if task_used == "regression" and scale_targets else None)

    def make(idx: np.ndarray) -> Split:
        X = torch.as_tensor(X_all[idx], dtype=torch.float32)
        if x_scaler is not None:
            X = x_scaler.transform(X)
        if task_used == "regression":
            y = torch.as_tensor(y_all[idx], dtype=torch.float32)
            if y_scaler is not None:
                y = y_scaler.transform(y)
        else:
            y = torch.as_tensor(y_all[idx], dtype=torch.int64)
        return Split(X=X, y=y, ids=[kept_ids[i] for i in idx])

    train, valid, test = make(parts.train), make(parts.valid), make(parts.test)

    spec: dict[str, Any] = {
        "version": FEATURISER_SPEC_VERSION,
        "kind": mol_kind,
        "smiles_column": smiles_column if mol_kind != "none" else None,
        "radius": int(morgan_radius),
        "bits": int(morgan_bits),
        "molecular_features": mol_names,
        "table_features": table_features,
        "fill_values": fill_values,
        "id_column": id_column,
    }
    if mol_kind != "none":
        import rdkit

        spec["rdkit"] = rdkit.__version__
    summary: dict[str, Any] = {
        "source": label,
        "task": task_used,
        "target": targets,
        "rows_read": int(len(frame)),
        "rows_used": int(keep.sum()),
        "n_dropped": len(skipped),
        "dropped": [{"reason": k, "rows": v} for k, v in dropped.items()],
        "split": {"method": method, "train": len(train), "valid": len(valid), "test": len(test),
                  "seed": seed},
        "n_features": len(feature_names),
        "featuriser": mol_kind,
        "featurisation_seconds": round(float(feat_seconds), 4),
        "cache_hit": cache_hit,
        "nonfinite_filled": n_filled,
        "ignored_columns": ignored,
    }
    if classification:
        counts = np.bincount(y_all.astype(np.int64), minlength=len(class_names))
        summary["class_counts"] = {c: int(k) for c, k in zip(class_names, counts)}
    return Dataset(train=train, valid=valid, test=test, task=task_used,  # type: ignore[arg-type]
                   feature_names=feature_names, target_names=targets, class_names=class_names,
                   x_scaler=x_scaler, y_scaler=y_scaler, featuriser=spec, summary=summary,
                   skipped=skipped)


# -------------------------------------------------------------------------------------------------
# new inputs for a trained model


def prepare_inputs(
    frame: pd.DataFrame,
    featuriser: dict[str, Any],
    feature_names: Sequence[str],
    x_scaler: Scaler | None,
    *,
    cache_dir: str | Path | None = None,
) -> tuple[torch.Tensor, list[str], list[dict[str, Any]]]:
    """Transform a new table exactly as the training data was (featuriser, fill values, scaler).

    Args:
        frame: the new rows; must hold the SMILES column (for molecular models) and every
            table feature the model was trained on. Other columns are ignored.
        featuriser: ``dataset.featuriser`` of the run (an empty dict means: plain table whose
            columns are `feature_names`).
        feature_names: ``dataset.feature_names`` of the run, in model input order.
        x_scaler: ``dataset.x_scaler`` (None if features were not scaled).
        cache_dir: molecular feature cache (default as in `featurise_smiles`).

    Returns:
        (X, ids, skipped): X (m, d) float32 for the m usable rows; their ids (the id column if
        the table has it, else the row number); skipped rows as {"row", "id", "reason"}
        (unparsable SMILES, NaN or inf in a feature).

    Raises:
        DataError: the table lacks columns the model needs (all are named), a feature column
            is not numeric, or no row is usable.
    """
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    kind = featuriser.get("kind", "none") if featuriser else "none"
    smiles_column = featuriser.get("smiles_column") if kind != "none" else None
    table_features = list(featuriser.get("table_features", [])) if featuriser else list(feature_names)
    needed = ([smiles_column] if smiles_column else []) + table_features
    missing_cols = [c for c in needed if c not in frame.columns]
    if missing_cols:
        raise DataError(f"the input table lacks column(s) the model needs: {', '.join(missing_cols)}. "
                        f"It has: {', '.join(frame.columns)}. Add them (same names as in training).")
    _require_numeric(frame, table_features, "the input table", explicit=True)
    id_column = featuriser.get("id_column") if featuriser else None
    ids = (frame[id_column].astype(str).tolist() if id_column and id_column in frame.columns
           else [str(i) for i in range(len(frame))])

    reason: list[str | None] = [None] * len(frame)
    blocks: list[np.ndarray] = []
    names: list[str] = []
    if smiles_column:
        mf = featurise_smiles(frame[smiles_column].tolist(), kind, int(featuriser.get("radius", 2)),
                              int(featuriser.get("bits", 2048)), cache_dir)
        smiles_values = frame[smiles_column].tolist()
        for r in np.flatnonzero(~mf.valid):
            reason[r] = f"unparsable SMILES '{smiles_values[r]}'"
        X_mol = mf.X
        fill = featuriser.get("fill_values") or []
        if len(fill) == X_mol.shape[1]:
            X_mol, _ = fill_nonfinite(X_mol, fill)
        blocks.append(X_mol.astype(np.float64))
        names += mf.names
    for col in table_features:
        for r in np.flatnonzero(_nonfinite_mask(frame[col])):
            reason[r] = reason[r] or f"NaN or inf in column '{col}'"
    if table_features:
        blocks.append(frame[table_features].astype(np.float64).to_numpy())
    names += table_features
    if names != list(feature_names):
        raise DataError(f"the run's featuriser gives {len(names)} features but the model expects "
                        f"{len(feature_names)}; the run folder is inconsistent (was it edited?).")

    skipped: list[dict[str, Any]] = [{"row": r, "id": ids[r], "reason": why}
                                     for r, why in enumerate(reason) if why]
    keep = np.array([why is None for why in reason], dtype=bool)
    if not keep.any():
        raise DataError(f"none of the {len(frame)} input rows is usable: "
                        f"{skipped[0]['reason'] if skipped else 'no rows'} (and others). Check the input table.")
    X_np = np.concatenate(blocks, axis=1)[keep] if blocks else np.zeros((int(keep.sum()), 0))
    X = torch.as_tensor(X_np, dtype=torch.float32)
    if x_scaler is not None:
        X = x_scaler.transform(X)
    return X, [i for i, k in zip(ids, keep) if k], skipped


def prepare_targets(
    frame: pd.DataFrame,
    target_names: Sequence[str],
    task: str,
    class_names: Sequence[str] = (),
    rows: Sequence[int] | np.ndarray | None = None,
) -> torch.Tensor:
    """True targets of a new table in original units, to evaluate a trained model on it.

    Args:
        frame: the table; must hold the target column(s).
        target_names, task, class_names: from the run's Dataset.
        rows: positions to keep (e.g. those `prepare_inputs` did not skip); default all.

    Returns:
        Regression (m, t) float32 (not scaled); classification (m,) int64 class indices.
    """
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    _require_columns(list(target_names), list(frame.columns), "the input table", "target")
    sub = frame.iloc[np.asarray(rows, dtype=np.int64)] if rows is not None else frame
    if task == "regression":
        vals = sub[list(target_names)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        if not np.isfinite(vals).all():
            raise DataError(f"target column(s) {', '.join(target_names)} hold NaN, inf or text in "
                            f"{int((~np.isfinite(vals)).any(1).sum())} row(s); fix or remove them.")
        return torch.tensor(vals, dtype=torch.float32)
    labels = _label_strings(sub[target_names[0]])
    index = {c: i for i, c in enumerate(class_names)}
    unknown = sorted({lab for lab in labels if lab not in index})
    if unknown:
        raise DataError(f"target column '{target_names[0]}' holds label(s) {', '.join(unknown[:5])} the "
                        f"model was not trained on; known classes: {', '.join(class_names)}.")
    return torch.as_tensor([index[lab] for lab in labels], dtype=torch.int64)


# -------------------------------------------------------------------------------------------------
# helpers


def _check_option(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(unknown_name(kind, str(value), allowed))


def _resolve_source(source: str | Path | pd.DataFrame) -> tuple[pd.DataFrame | None, DatasetInfo | None, str]:
    if isinstance(source, pd.DataFrame):
        return source.copy(), None, "the DataFrame"
    if not isinstance(source, (str, Path)):
        raise DataError(f"source must be a catalog name, a file path or a DataFrame; received "
                        f"{type(source).__name__}.")
    path = Path(source).expanduser()
    text = str(source)
    if path.is_file():
        return read_table(path), None, f"'{path}'"
    if isinstance(source, str) and is_registered(source):
        info = get_dataset_info(source)
        if info.builder is not None:
            return None, info, f"dataset '{source}'"
        return load_frame(source), info, f"dataset '{source}'"
    if isinstance(source, Path) or table_format(text) is not None or "/" in text or "\\" in text or path.exists():
        return read_table(path), None, f"'{path}'"  # raises the missing-file / unsupported error
    get_dataset_info(text)  # raises: unknown dataset, with the known names
    raise AssertionError("unreachable")


def _resolve_targets(target: str | Sequence[str] | None, info: DatasetInfo | None,
                     columns: list[str], label: str) -> list[str]:
    if target is None and info is not None:
        target = info.target
    if target is None:
        guess = [c for c in columns if c.lower() in ("y", "target")]
        if len(guess) != 1:
            raise DataError(f"no target column given for {label}; its columns are: {', '.join(columns)}. "
                            "Set target (data.target in the config) to one of them.")
        target = guess[0]
    targets = [target] if isinstance(target, str) else [str(t) for t in target]
    if not targets:
        raise DataError("target is an empty list; name at least one target column.")
    _require_columns(targets, columns, label, "target")
    return targets


def _require_columns(wanted: list[str], columns: list[str], label: str, role: str) -> None:
    absent = [c for c in wanted if c not in columns]
    if absent:
        import difflib

        hints = [f"'{a}' (did you mean '{m[0]}'?)" if (m := difflib.get_close_matches(a, columns, n=1))
                 else f"'{a}'" for a in absent]
        raise DataError(f"{role} column {', '.join(hints)} not in {label}; its columns are: "
                        f"{', '.join(columns)}. Set {role} to one of them.")


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _require_numeric(frame: pd.DataFrame, cols: list[str], label: str, *, explicit: bool) -> None:
    bad = [c for c in cols if not _is_numeric(frame[c])]
    if bad:
        examples = ", ".join(f"'{c}' (e.g. {frame[c].dropna().astype(str).iloc[0]!r})" if frame[c].notna().any()
                             else f"'{c}'" for c in bad[:5])
        how = ("remove it from features" if explicit else
               "list the numeric feature columns explicitly (features = [...]), set it as id_column, "
               "or drop it from the file")
        raise DataError(f"feature column(s) {examples} in {label} are not numeric. Convert them to numbers, or {how}.")


def _nonfinite_mask(series: pd.Series) -> np.ndarray:
    if _is_numeric(series):
        vals = series.to_numpy(dtype=np.float64, na_value=np.nan)
        return ~np.isfinite(vals)
    mask = series.isna().to_numpy()
    return mask | (series.astype(str).str.strip() == "").to_numpy()


def _label_strings(series: pd.Series) -> list[str]:
    if pd.api.types.is_float_dtype(series) and np.all(np.mod(series.to_numpy(np.float64), 1) == 0):
        return [str(int(v)) for v in series]  # 1.0 -> "1", as written in an integer column
    if pd.api.types.is_bool_dtype(series):
        return [str(bool(v)) for v in series]
    return [str(v) for v in series]


def _encode_targets(kept: pd.DataFrame, targets: list[str], task: str,
                    label: str) -> tuple[str, np.ndarray, list[str]]:
    """(task, y, class_names): y (n, t) float64 for regression, (n,) int class indices otherwise."""
    series = kept[targets[0]]
    if len(targets) > 1:
        if task not in ("auto", "regression"):
            raise DataError(f"several targets ({', '.join(targets)}) are supported for regression only; "
                            f"received task='{task}'. Give one target column for classification.")
        task = "regression"
    if task == "auto":
        n_unique = series.nunique()
        if pd.api.types.is_bool_dtype(series):
            task = "binary"
        elif pd.api.types.is_float_dtype(series):
            task = "regression"
        elif pd.api.types.is_integer_dtype(series):
            task = "regression" if n_unique > MAX_CLASSES else ("binary" if n_unique <= 2 else "multiclass")
        else:
            if n_unique > MAX_CLASSES:
                raise DataError(f"target '{targets[0]}' in {label} is text with {n_unique} distinct values; "
                                f"a classification target has 2..{MAX_CLASSES} classes. Convert it to numbers "
                                "for regression, or set task explicitly.")
            task = "binary" if n_unique <= 2 else "multiclass"
    if task == "regression":
        y = kept[targets].apply(pd.to_numeric, errors="coerce")
        bad = [c for c in targets if y[c].isna().any()]
        if bad:
            raise DataError(f"regression target column(s) {', '.join(bad)} in {label} hold text, e.g. "
                            f"{kept[bad[0]][y[bad[0]].isna()].iloc[0]!r}. Use numbers, or set task to "
                            "'binary'/'multiclass'.")
        return "regression", y.to_numpy(np.float64), []
    labels = _label_strings(series)
    uniq = sorted(set(labels), key=lambda s: (0, float(s), s) if _is_number(s) else (1, 0.0, s))
    if len(uniq) < 2:
        raise DataError(f"target '{targets[0]}' in {label} has a single class ({uniq[0]!r}); "
                        "classification needs at least 2.")
    if task == "binary" and len(uniq) != 2:
        raise DataError(f"task='binary' but target '{targets[0]}' has {len(uniq)} classes "
                        f"({', '.join(uniq[:10])}). Use task='multiclass'.")
    index = {c: i for i, c in enumerate(uniq)}
    return task, np.array([index[v] for v in labels], dtype=np.int64), uniq


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
