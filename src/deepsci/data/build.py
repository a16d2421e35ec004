"""From a data config to a Dataset: read, check, encode targets, split, fit the preprocessor, transform.

`build_dataset(data_config, seed)` is the data layer's one entry point; `load_dataset(**kwargs)` is
the same for tables from keyword arguments (and DataFrames). Each step is a small function:

    read_rows      the reader of the kind (readers only read)
    usable_rows    rows a featuriser or a target cannot use (missing = "error" raises, else skipped)
    choose_split   the split asked for, honoured or refused (DataError), never replaced
    fit            featurisers and the target scaler, on the training rows only

`kind = "multi"` goes the same way with one featuriser per named input, all on the same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepsci.data.catalog import DatasetInfo
from deepsci.data.dataset import Dataset, Split
from deepsci.data.featurisers import FEATURISERS as INPUT_FEATURISERS
from deepsci.data.featurisers import Featuriser, TableFeaturiser
from deepsci.data.graphs import GraphFeaturiser  # also registers the graph featuriser and reader
from deepsci.data.molecules import FEATURE_KINDS
from deepsci.data.preprocess import Preprocessor, encode_targets, fit_steps, step_counts, tag_targets
from deepsci.data.raw import Raw, concat_raw
from deepsci.data.scalers import Scaler
from deepsci.data.sources import catalog_info, read_source
from deepsci.data.splits import SPLITS, make_split, parts_from_marks
from deepsci.data.ordered import build_ordered  # also registers the series and text featurisers
from deepsci.errors import ConfigError, DataError, unknown_name

TASKS: tuple[str, ...] = ("auto", "regression", "binary", "multiclass", "multilabel", "tagging")
#: tasks a bundled dataset declares for itself: data.task = "auto" on it means the catalog's task (several 0/1
#: columns or per-step tags are never guessed from a file, only read from an explicit declaration)
DECLARED_TASKS = ("multilabel", "tagging")
FEATURISERS: tuple[str, ...] = FEATURE_KINDS + ("none",)
MISSING_POLICIES: tuple[str, ...] = ("error", "drop")
ROW_KINDS = ("table", "graph", "signal", "image", "sequence", "set", "multi")
#: reader keys of one input of a multi-input dataset
INPUT_READER_KEYS = ("kind", "x", "test_x", "features", "smiles_column", "sequence_column", "sizes", "mask", "lengths")


def build_dataset(data_config: Any, seed: int = 0, cache_dir: str | Path | None = None) -> Dataset:
    """The Dataset of a validated `[data]` section (deepsci.config.data), seeded by `seed`."""
    spec = data_config.model_dump() if hasattr(data_config, "model_dump") else dict(data_config)
    if spec.get("kind", "table") in ("series", "text"):
        return build_ordered(spec)
    if spec.get("stream"):
        from deepsci.data.stream import build_streamed

        return build_streamed(spec, seed=seed)
    return build_rows(spec, seed=seed, cache_dir=cache_dir)


def load_dataset(*, source: Any, cache_dir: str | Path | None = None, seed: int = 0, **table: Any) -> Dataset:
    """A table Dataset from keyword arguments (the keys of `[data]` with kind "table"); see docs/data.md.

    `source` may be a catalog name, a file path or a DataFrame.
    """
    spec = {"kind": "table", "source": source, "featuriser": "descriptors", "morgan_radius": 2,
            "morgan_bits": 2048, "task": "auto", "split": "auto", "test_fraction": 0.2, "valid_fraction": 0.1,
            "calib_fraction": 0.0, "missing": "error", "scale_features": True, "scale_targets": True}
    spec.update(table)
    _check_option("task", spec["task"], TASKS)
    _check_option("split", spec["split"], SPLITS + ("auto", "given"))
    _check_option("featuriser", spec["featuriser"], FEATURISERS)
    _check_option("missing-value policy", spec["missing"], MISSING_POLICIES)
    info = catalog_info(source)
    if info is not None and info.builder is not None:
        return info.builder(**{k: v for k, v in spec.items() if k not in ("kind", "source")},  # type: ignore[no-any-return]
                            cache_dir=cache_dir, seed=seed)
    return build_rows(spec, seed=seed, cache_dir=cache_dir)


# -- the steps -------------------------------------------------------------------------------------
def build_rows(spec: dict[str, Any], *, seed: int, cache_dir: str | Path | None) -> Dataset:
    """Table, graph, signal, image, sequence, set and multi-input data: rows are independent samples."""
    info = catalog_info(spec["source"])
    reader = reader_spec(spec, info)
    raw = read_rows(reader, spec)
    targets = resolve_targets(reader, raw, info)
    featurisers = make_featurisers(spec, reader, raw, targets, cache_dir)
    raw, skipped, dropped = usable_rows(raw, list(featurisers.values()), targets, spec["missing"])
    task, y, class_names = row_targets(raw, targets, declared_task(spec, info))
    labels = np.asarray(class_names, dtype=object)[y] if task in ("binary", "multiclass") else None
    parts, split_summary = choose_split(spec, reader, raw, labels, seed)
    for featuriser in featurisers.values():
        featuriser.fit(raw, parts["train"])
    y_scaler = Scaler().fit(y[parts["train"]]) if task == "regression" and spec.get("scale_targets", True) else None
    pre = Preprocessor(reader, featurisers, task, targets, class_names, y_scaler)
    made = {k: make_part(pre, raw, y, idx) for k, idx in parts.items()}
    summary = describe(spec, raw, reader, featurisers, task, targets, y, class_names, skipped, dropped, split_summary)
    return Dataset(train=made["train"], valid=made["valid"], test=made["test"], task=task,  # type: ignore[arg-type]
                   inputs=pre.inputs, preprocessor=pre, summary=summary, skipped=skipped,
                   calib=made.get("calib"))


def declared_task(spec: dict[str, Any], info: DatasetInfo | None) -> str:
    """data.task, or for "auto" on a bundled dataset that declares multilabel or tagging, that task."""
    task = str(spec.get("task", "auto"))
    if task == "auto" and info is not None and info.task in DECLARED_TASKS:
        return info.task
    if task == "tagging" and spec.get("kind", "table") not in ("sequence", "signal"):
        raise ConfigError(f"task = 'tagging' (one label per step) needs data.kind = 'sequence' or 'signal'; this "
                          f"data is kind = '{spec.get('kind', 'table')}'. Use 'binary', 'multiclass' or 'multilabel'.")
    return task


def row_targets(raw: Raw, targets: list[str], task: str) -> tuple[str, np.ndarray, list[str]]:
    """(task, y, class names) of the rows: `encode_targets`, or for tagging the (n, L) tag indices of each
    row's real steps (deepsci.data.preprocess.tag_targets)."""
    if task == "tagging":
        y, class_names = tag_targets(raw.frame, targets, step_counts(raw), raw.source)
        return task, y, class_names
    return encode_targets(raw.frame, targets, task, raw.source)


def reader_spec(spec: dict[str, Any], info: DatasetInfo | None) -> dict[str, Any]:
    """The reader's settings (saved in the preprocessor), with the catalog's defaults filled in."""
    keys = ("kind", "x", "test_x", "target", "test_target", "id_column", "split_column", "smiles_column",
            "sequence_column", "labels", "set_column", "features", "sizes", "mask", "lengths")
    reader = {k: spec.get(k) for k in keys if spec.get(k) is not None}
    reader.setdefault("kind", "table")
    if reader["kind"] == "multi":
        reader["inputs"] = {name: {k: sub[k] for k in INPUT_READER_KEYS if sub.get(k) is not None}
                            for name, sub in spec["inputs"].items()}
    if info is not None:
        for key, value in (("target", info.target), ("smiles_column", info.smiles_column),
                           ("split_column", info.split_column), ("id_column", info.id_column)):
            if reader.get(key) is None and value is not None and not (key == "smiles_column"
                                                                      and reader["kind"] not in ("table", "graph")):
                reader[key] = value
        for key, value in info.roles.items():
            reader.setdefault(key, value)
    if reader["kind"] == "image" and spec["source"] == "digits":
        reader.setdefault("target", "digit")
    return reader


def read_rows(reader: dict[str, Any], spec: dict[str, Any]) -> Raw:
    """The source's rows; with a test file or test arrays, the test rows appended and marked."""
    raw = read_source(reader, spec["source"])
    if spec.get("test_source"):
        return concat_raw(raw, read_source(reader, spec["test_source"], test=True))
    test_arrays = _test_arrays(reader)
    if test_arrays:
        test = read_source(reader, spec["source"], test=True)
        joined = concat_raw(raw, test)
        joined.given = f"test arrays {', '.join(repr(a) for a in test_arrays)}" + (
            f" / '{reader['test_target']}'" if reader.get("test_target") else "")
        return joined
    return raw


def _test_arrays(reader: dict[str, Any]) -> list[str]:
    """Names of the given test arrays: the reader's test_x, or every input's of a multi-input reader."""
    subs = list(reader["inputs"].values()) if reader["kind"] == "multi" else [reader]
    return [str(sub["test_x"]) for sub in subs if sub.get("test_x")]


def resolve_targets(reader: dict[str, Any], raw: Raw, info: DatasetInfo | None) -> list[str]:
    """Target columns of the rows: named, the catalog's, else a column named y/target/label."""
    columns = [str(c) for c in raw.frame.columns]
    target = reader.get("target")
    if target is None:
        guess = [c for c in columns if c.lower() in ("y", "target", "label")]
        if len(guess) != 1:
            raise DataError(f"no target given for {raw.source}; its columns/arrays are: "
                            f"{', '.join(columns + list(raw.arrays)) or 'none'}. Set data.target to one of them.")
        target = guess[0]
        reader["target"] = target
    names = [target] if isinstance(target, str) else [str(t) for t in target]
    if not names:
        raise DataError("target is an empty list; name at least one target column.")
    if len(names) == 1 and names[0] not in columns:
        wide = [c for c in columns if c.startswith(names[0] + "[")]
        names = wide or names
    _require_columns(names, columns, raw.source, "target")
    return names


def make_featurisers(spec: dict[str, Any], reader: dict[str, Any], raw: Raw, targets: list[str],
                     cache_dir: str | Path | None) -> dict[str, Featuriser]:
    """{input name: unfitted featuriser}: {"x": ...} for one input; one per `data.inputs` entry for "multi"."""
    if reader["kind"] != "multi":
        return {"x": make_featuriser(spec, reader, raw, targets, cache_dir)}
    shared: dict[str, Any] = {k: reader[k] for k in ("id_column", "split_column") if k in reader}
    made: dict[str, Featuriser] = {}
    for name, sub_reader in reader["inputs"].items():
        sub_spec = {**spec, **spec["inputs"][name]}
        if sub_reader["kind"] == "table":
            _table_input_columns(name, sub_spec, sub_reader, raw)
        made[name] = make_featuriser(sub_spec, {**shared, **sub_reader}, raw, targets, cache_dir, name=name)
    return made


def _table_input_columns(name: str, spec: dict[str, Any], reader: dict[str, Any], raw: Raw) -> None:
    """A multi-input table's columns: given by `features`, or the columns its .npz array `x` became (none
    beside a molecule column: its features are the molecule's)."""
    if spec.get("features"):
        return
    if reader.get("smiles_column"):
        spec["features"] = []
        return
    x = reader.get("x")
    columns = [str(c) for c in raw.frame.columns]
    if x is None:
        raise DataError(f"input '{name}' (table) needs data.inputs.{name}.features: its columns of {raw.source} "
                        f"(columns: {', '.join(columns)}).")
    spec["features"] = reader["features"] = [c for c in columns if c == x or c.startswith(f"{x}[")]


def make_featuriser(spec: dict[str, Any], reader: dict[str, Any], raw: Raw, targets: list[str],
                    cache_dir: str | Path | None, *, name: str = "x") -> Featuriser:
    """The kind's featuriser of the input `name`, with a table's feature columns resolved."""
    kind = reader["kind"]
    if kind == "table":
        return _table_featuriser(spec, reader, raw, targets, cache_dir, name=name)
    if kind == "graph":
        return _graph_featuriser(spec, reader, raw, cache_dir)
    if kind == "set" or (kind == "sequence" and not _is_text(raw, name)):
        return INPUT_FEATURISERS["set"](name, scale=spec.get("scale", "standard"),
                                        structure="set" if kind == "set" else "sequence",
                                        feature_names=reader.get("features") if kind == "set" else None)
    if kind == "sequence":
        return INPUT_FEATURISERS["sequence"](name, alphabet=spec.get("alphabet", "auto"),
                                             max_length=spec.get("max_length"), truncate=spec.get("truncate", False))
    return INPUT_FEATURISERS[kind](name, scale=spec.get("scale", "none"))


def _is_text(raw: Raw, name: str = "x") -> bool:
    values = raw.arrays.get(name)
    return isinstance(values, list) and bool(values) and isinstance(values[0], str)


def _table_featuriser(spec: dict[str, Any], reader: dict[str, Any], raw: Raw, targets: list[str],
                      cache_dir: str | Path | None, *, name: str = "x") -> TableFeaturiser:
    columns = [str(c) for c in raw.frame.columns]
    smiles = reader.get("smiles_column")
    if smiles is None and spec.get("features") is None:
        smiles = next((c for c in columns if c.lower() == "smiles"), None)
        if smiles is not None:
            reader["smiles_column"] = smiles
    roles = {"smiles_column": smiles, "id_column": reader.get("id_column"), "split_column": reader.get("split_column")}
    for role, col in roles.items():
        if col is not None:
            _require_columns([col], columns, raw.source, role)
    mol_kind = spec["featuriser"] if smiles is not None else "none"
    reserved = set(targets) | {c for c in roles.values() if c}
    if spec.get("features") is not None:
        features = [str(f) for f in spec["features"]]
        _require_columns(features, columns, raw.source, "features")
        clash = [f for f in features if f in targets]
        if clash:
            raise DataError(f"column(s) {', '.join(clash)} are both target and feature; remove them from features.")
    elif mol_kind != "none":
        features = []
    else:
        features = [c for c in columns if c not in reserved]
    _require_numeric(raw.frame, features, raw.source, explicit=spec.get("features") is not None)
    if not features and mol_kind == "none":
        raise DataError(f"{raw.source} has no feature columns (columns: {', '.join(columns)}). Add numeric feature "
                        "columns, or set smiles_column to featurise molecules.")
    f = TableFeaturiser(name, features=features, smiles_column=smiles if mol_kind != "none" else None,
                        featuriser=mol_kind, morgan_radius=int(spec.get("morgan_radius", 2)),
                        morgan_bits=int(spec.get("morgan_bits", 2048)), scale=bool(spec.get("scale_features", True)),
                        cache_dir=cache_dir)
    f.ignored = [c for c in columns if c not in reserved and c not in features] if mol_kind != "none" else []  # type: ignore[attr-defined]
    return f


def _graph_featuriser(spec: dict[str, Any], reader: dict[str, Any], raw: Raw,
                      cache_dir: str | Path | None) -> GraphFeaturiser:
    columns = [str(c) for c in raw.frame.columns]
    smiles = reader.get("smiles_column") or next((c for c in columns if c.lower() == "smiles"), None)
    if smiles is None:
        raise DataError(f"data.kind = 'graph' needs a SMILES column; {raw.source} has none named 'smiles' (columns: "
                        f"{', '.join(columns)}). Set data.smiles_column.")
    _require_columns([smiles], columns, raw.source, "smiles_column")
    reader["smiles_column"] = smiles
    return GraphFeaturiser("x", smiles_column=smiles, descriptors=spec.get("descriptors", "none"),
                           atom_features=spec.get("atom_features", "chemprop"),
                           descriptor_scale=spec.get("descriptor_scale", "standard"),
                           morgan_radius=int(spec.get("morgan_radius", 2)),
                           morgan_bits=int(spec.get("morgan_bits", 2048)), cache_dir=cache_dir)


def usable_rows(raw: Raw, featurisers: list[Featuriser], targets: list[str],
                missing: str) -> tuple[Raw, list[dict[str, Any]], dict[str, int]]:
    """(kept rows, skipped records, counts by reason). NaN/inf raise unless missing = "drop";
    unparsable SMILES are always skipped and listed."""
    bad: dict[int, str] = {}
    problems: list[str] = []
    for col in targets:
        rows = np.flatnonzero(_nonfinite_target(raw.frame[col]))
        if len(rows):
            problems.append(f"column '{col}' has NaN or inf in {len(rows)} row(s) (rows "
                            f"{', '.join(map(str, rows[:8]))}{', ...' if len(rows) > 8 else ''})")
            for r in rows.tolist():
                bad.setdefault(int(r), f"NaN or inf in column '{col}'")
    found: dict[int, str] = {}
    for featuriser in featurisers:
        for row, why in featuriser.check(raw).items():
            found.setdefault(row, why)
    nan_rows = {r: why for r, why in found.items() if why.startswith("NaN")}
    if nan_rows:
        by_reason: dict[str, list[int]] = {}
        for row, why in nan_rows.items():
            by_reason.setdefault(why, []).append(int(row))
        problems += [f"{why.replace('NaN or inf in ', '')} has NaN or inf in {len(rs)} row(s) (rows "
                     f"{', '.join(map(str, sorted(rs)[:8]))})" for why, rs in by_reason.items()]
    if problems and missing == "error":
        raise DataError(f"{raw.source}: " + "; ".join(problems)
                        + ". Fix the file, or set missing = 'drop' to drop those rows.")
    for row, why in sorted(found.items()):
        bad.setdefault(int(row), why)
    skipped: list[dict[str, Any]] = [{"row": r, "id": raw.ids[r], "reason": why} for r, why in sorted(bad.items())]
    dropped: dict[str, int] = {}
    for rec in skipped:
        reason = str(rec["reason"])
        key = "unparsable SMILES" if reason.startswith("unparsable SMILES") else reason
        dropped[key] = dropped.get(key, 0) + 1
    keep = [r for r in range(len(raw)) if r not in bad]
    if not keep:
        raise DataError(f"{raw.source}: no usable rows are left ({len(skipped)} skipped: "
                        f"{', '.join(f'{k}: {v}' for k, v in dropped.items())}).")
    return (raw if len(keep) == len(raw) else raw.take(keep)), skipped, dropped


def choose_split(spec: dict[str, Any], reader: dict[str, Any], raw: Raw, labels: np.ndarray | None,
                 seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Row indices of train/valid/test(/calib) and what was done. A split the data cannot honour raises.

    `labels` are the class labels (classification) for stratification, None for regression.
    """
    method = spec.get("split", "auto")
    column = reader.get("split_column")
    vf, tf, cf = float(spec.get("valid_fraction", 0.1)), float(spec.get("test_fraction", 0.2)), \
        float(spec.get("calib_fraction", 0.0))
    marks, given = raw.marks, raw.given
    if marks is None and column is not None and method in ("auto", "column", "given"):
        if column not in raw.frame.columns:
            raise DataError(f"split column '{column}' not in {raw.source}; its columns are: "
                            f"{', '.join(map(str, raw.frame.columns))}. Set data.split_column, or another split.")
        marks, given = raw.frame[column].to_numpy(), f"column '{column}'"
    if method == "column" and column is None:
        raise DataError("split = 'column' needs data.split_column: the column of train/valid/test marks. Set it, "
                        "or choose split = 'random' / 'stratified'.")
    if method == "given" and marks is None:
        raise DataError("split = 'given' but no test rows are given: set data.test_source (a test file), "
                        "data.test_x (test arrays) or data.split_column.")
    if marks is not None and method in ("auto", "column", "given"):
        parts = parts_from_marks(marks, valid_fraction=vf, seed=seed, labels=labels, column=column or "split",
                                 where=given)
        used, test_from = ("column" if given.startswith("column") else "given"), given
    else:
        if marks is not None:
            raise DataError(f"split = '{method}' would replace the given test rows ({given}); use split = 'auto' "
                            "or 'given' to keep them, or remove the test source.")
        used = method if method != "auto" else ("stratified" if labels is not None else "random")
        smiles = reader.get("smiles_column")
        idx = make_split(used, n=len(raw), test_fraction=tf, valid_fraction=vf, seed=seed, labels=labels,
                         smiles=raw.frame[smiles].astype(str).tolist() if smiles else None)
        parts = {"train": idx.train, "valid": idx.valid, "test": idx.test}
        test_from = "drawn"
    if cf > 0 and "calib" not in parts:
        rng = np.random.default_rng(seed + 2)
        train = parts["train"]
        k = max(1, int(round(len(train) * cf)))
        if k >= len(train):
            raise DataError(f"calib_fraction = {cf} leaves no training rows ({len(train)}); lower it.")
        chosen = np.zeros(len(train), dtype=bool)
        chosen[rng.permutation(len(train))[:k]] = True
        parts["train"], parts["calib"] = np.sort(train[~chosen]), np.sort(train[chosen])
    summary = {"method": used, "test_from": test_from, "seed": seed,
               **{k: int(len(v)) for k, v in parts.items()}}
    summary.setdefault("calib", 0)
    return parts, summary


def make_part(pre: Preprocessor, raw: Raw, y: np.ndarray, idx: np.ndarray) -> Split:
    """One part: its rows transformed by the fitted preprocessor, its targets encoded and scaled."""
    part = raw.take(idx)
    X, ids, skipped = pre.transform(part)
    if skipped:
        raise DataError(f"{len(skipped)} row(s) became unusable after fitting: {skipped[0]['reason']}.")
    if pre.task == "regression":
        yt = pre.scale_targets(torch.as_tensor(y[idx], dtype=torch.float32))
    elif pre.task == "multilabel":
        yt = torch.as_tensor(y[idx], dtype=torch.float32)  # (n, k) 0/1, the BCE-with-logits targets
    elif pre.task == "tagging":
        yt = fit_steps(torch.as_tensor(y[idx], dtype=torch.int64), input_steps(X))  # (n, L), IGNORE on padding
    else:
        yt = torch.as_tensor(y[idx], dtype=torch.int64)
    return Split(X=X, y=yt, ids=ids)


def describe(spec: dict[str, Any], raw: Raw, reader: dict[str, Any], featurisers: dict[str, Featuriser], task: str,
             targets: list[str], y: np.ndarray, class_names: list[str], skipped: list[dict[str, Any]],
             dropped: dict[str, int], split: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able facts of the build, for metrics.json and the report (n_features: summed over inputs)."""
    schemas = [f.schema() for f in featurisers.values()]
    summary: dict[str, Any] = {
        "source": raw.source, "kind": reader["kind"], "task": task, "target": targets,
        "rows_read": len(raw) + len(skipped), "rows_used": len(raw), "n_dropped": len(skipped),
        "dropped": [{"reason": k, "rows": v} for k, v in dropped.items()], "split": split,
        "inputs": {s.name: {"structure": s.structure, "shape": list(s.shape)} for s in schemas},
        "n_features": sum(len(f.feature_names) if s.structure in ("table", "graph") else int(np.prod(s.shape))
                          for f, s in zip(featurisers.values(), schemas)),
    }
    featuriser = next((f for f in featurisers.values() if isinstance(f, (TableFeaturiser, GraphFeaturiser))),
                      next(iter(featurisers.values())))
    if isinstance(featuriser, TableFeaturiser):
        summary.update({"featuriser": featuriser.mol_kind,
                        "featurisation_seconds": round(float(featuriser.last_featurisation["seconds"]), 4),
                        "cache_hit": featuriser.last_featurisation["cache_hit"],
                        "nonfinite_filled": int(getattr(featuriser, "n_filled", 0)),
                        "ignored_columns": getattr(featuriser, "ignored", [])})
    if isinstance(featuriser, GraphFeaturiser):
        summary.update({"featuriser": "graph", "descriptors": featuriser.settings["descriptors"],
                        "atom_features": featuriser.settings.get("atom_features", "chemprop"),
                        "bond_features": len(featuriser.state["bond_feature_names"]),
                        "molecule_features": len(featuriser.descriptor_names),
                        "featurisation_seconds": round(float(featuriser.last_featurisation["seconds"]), 4),
                        "cache_hit": featuriser.last_featurisation["cache_hit"]})
    if task in ("binary", "multiclass"):
        counts = np.bincount(y.astype(np.int64), minlength=len(class_names))
        summary["class_counts"] = {c: int(k) for c, k in zip(class_names, counts)}
    elif task == "multilabel":  # rows carrying each label
        summary["label_counts"] = {c: int(k) for c, k in zip(class_names, y.sum(0))}
    elif task == "tagging":  # real steps carrying each tag
        counts = np.bincount(y[y >= 0].astype(np.int64), minlength=len(class_names))
        summary["class_counts"] = {c: int(k) for c, k in zip(class_names, counts)}
    return summary


def input_steps(X: Any) -> int:
    """Steps of one sample of the model's input: a padded sequence's L, a signal's (n, C, L) last axis."""
    if isinstance(X, dict) and "x" in X:
        return int(X["x"].shape[1])
    if isinstance(X, torch.Tensor) and X.dim() == 3:
        return int(X.shape[-1])
    raise DataError("task = 'tagging' tags the steps of one sequence or signal input; this input has none.")


# -- checks ----------------------------------------------------------------------------------------
def _check_option(kind: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(unknown_name(kind, str(value), allowed))


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
    """Feature columns must hold numbers that fit float32 (the models compute in float32)."""
    from deepsci.data.readers import float32_problems, numeric_problems

    text = numeric_problems(frame, [c for c in cols if not _is_numeric(frame[c])])
    if text:
        how = ("remove it from features" if explicit else
               "list the numeric feature columns explicitly (features = [...]), set it as id_column, "
               "or drop it from the file")
        raise DataError(f"{label}: feature column(s) are not numeric: {'; '.join(text[:5])}. Convert them to "
                        f"numbers, or {how}.")
    huge = float32_problems(frame, [c for c in cols if _is_numeric(frame[c])])
    if huge:
        raise DataError(f"{label}: {'; '.join(huge[:5])}. Rescale those columns (e.g. log10 or a unit change) "
                        "or fix the values.")


def _nonfinite_target(series: pd.Series) -> np.ndarray:
    if _is_numeric(series):
        return ~np.isfinite(series.to_numpy(dtype=np.float64, na_value=np.nan))
    return series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
