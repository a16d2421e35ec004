"""From a data spec to a Dataset: read, check, encode targets, split, fit the preprocessor, transform.

`build_dataset(spec, seed)` is the data layer's one entry point; it hands the spec (deepsci.data.spec) to
the builder registered for its kind in `BUILDERS`. `load_dataset(**kwargs)` is the same for tables from
keyword arguments (and DataFrames). The row builder's steps are small functions:

    read_rows      the reader of the kind (readers only read)
    usable_rows    rows a featuriser or a target cannot use (missing = "error" raises, else skipped)
    split_codes    the split asked for, honoured or refused (DataError), never replaced (deepsci.data.splits)
    fit            featurisers and the target scaler, on the training rows only

`kind = "multi"` goes the same way with one featuriser per named input, all on the same rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from deepsci.data.catalog import DatasetInfo
from deepsci.data.dataset import Dataset, Split
from deepsci.data.fingerprint import data_fingerprint
from deepsci.data.featurisers import FEATURISERS as INPUT_FEATURISERS
from deepsci.data.featurisers import Featuriser, TableFeaturiser
from deepsci.data.formats import container_format
from deepsci.data.formats.h5ad_blocks import H5adTable  # noqa: F401  (registers the streamed AnnData reader)
from deepsci.data.formats.hdf5_blocks import HDF5Table  # noqa: F401  (registers the streamed HDF5 reader)
from deepsci.data.graphs import GraphFeaturiser  # also registers the graph featuriser and reader
from deepsci.data.molecules import FEATURE_KINDS
from deepsci.data.ordered import build_series, build_text  # also registers the series and text featurisers
from deepsci.data.reaction_graphs import ReactionFeaturiser  # also registers the reaction featuriser and reader
from deepsci.data.preprocess import (Preprocessor, encode_targets, fit_steps, require_columns, resolve_targets,
                                     step_counts, tag_targets)
from deepsci.data.readers import float32_problems, numeric_problems
from deepsci.data.raw import Raw, concat_raw
from deepsci.data.scalers import Scaler
from deepsci.data.sources import catalog_info, read_source
from deepsci.data.spec import (AnyData, GraphData, ImageData, ImageInput, MultiData, ReactionData, RowData,
                               SequenceData, SequenceInput, SetData, SetInput, SignalData, SignalInput, TableData,
                               TableInput, as_spec)
from deepsci.data.splits import HONOURS_MARKS, SPLITS, code_rows, mark_codes, split_codes
from deepsci.data.stream import build_streamed
from deepsci.data.summary import DataSummary, dropped_counts, target_counts
from deepsci.data.validation import pool_rows, resolve_valid_fraction, validation_scheme
from deepsci.errors import ConfigError, DataError, unknown_name
from deepsci.tasks import TASK_NAMES, TASKS, task_of

TASKS_OR_AUTO: tuple[str, ...] = ("auto",) + TASK_NAMES
FEATURISERS: tuple[str, ...] = FEATURE_KINDS + ("none",)
MISSING_POLICIES: tuple[str, ...] = ("error", "drop")
#: kinds whose rows are independent samples, built by `build_rows`
ROW_KINDS: tuple[str, ...] = ("table", "graph", "signal", "image", "sequence", "set", "multi", "reaction")
#: reader keys of a spec (saved in the preprocessor) and of one input of a multi-input dataset
READER_KEYS = ("kind", "x", "test_x", "target", "test_target", "id_column", "split_column", "smiles_column",
               "sequence_column", "labels", "set_column", "features", "sizes", "mask", "lengths", "test_sizes",
               "test_mask")
INPUT_READER_KEYS = ("kind", "x", "test_x", "features", "smiles_column", "sequence_column", "sizes", "mask", "lengths",
                     "test_sizes", "test_mask")
Builder = Callable[[Any, int, "str | Path | None"], Dataset]


def build_dataset(data_config: AnyData | dict[str, Any], seed: int = 0,
                  cache_dir: str | Path | None = None) -> Dataset:
    """The Dataset of a `[data]` section (a spec of deepsci.data.spec, or a dict validated into one), seeded
    by `seed`."""
    spec = as_spec(data_config)
    fingerprint = data_fingerprint(spec)  # of the bytes about to be read (resume and evaluate compare it)
    dataset = BUILDERS["stream" if isinstance(spec, TableData) and spec.stream else spec.kind](spec, seed, cache_dir)
    if fingerprint:
        dataset.summary = replace(dataset.summary, fingerprint=fingerprint)
    return dataset


def load_dataset(*, source: Any, cache_dir: str | Path | None = None, seed: int = 0, **table: Any) -> Dataset:
    """A table Dataset from keyword arguments (the keys of `[data]` with kind "table"); see docs/data.md.

    `source` may be a catalog name, a file path or a DataFrame. A bundled dataset with its own builder gets
    the keyword arguments as given.
    """
    for key, (what, allowed) in _NAMED_OPTIONS.items():  # named as the API's users know them, before pydantic's check
        if key in table and table[key] not in allowed:
            raise ConfigError(unknown_name(what, str(table[key]), allowed))
    info = catalog_info(source)
    if info is not None and info.builder is not None:
        return info.builder(**table, cache_dir=cache_dir, seed=seed)  # type: ignore[no-any-return]
    return build_dataset({"kind": "table", "source": source, **table}, seed=seed, cache_dir=cache_dir)


def load_preprocessor(saved: dict[str, Any]) -> Preprocessor:
    """A fitted preprocessor saved with a run (`Preprocessor.to_dict`), of its own class (series and text
    records read in order). This module imports every featuriser, reader and preprocessor class a run folder
    may name (graphs, series, text), so none is missing from the registries when a run is loaded."""
    return Preprocessor.from_dict(saved)


# -- the steps -------------------------------------------------------------------------------------
def build_rows(spec: RowData, *, seed: int, cache_dir: str | Path | None) -> Dataset:
    """Table, graph, signal, image, sequence, set and multi-input data: rows are independent samples."""
    info = catalog_info(spec.source)
    reader = reader_spec(spec, info)
    raw = read_rows(reader, spec)
    targets = resolve_targets(reader.get("target"), [str(c) for c in raw.frame.columns], raw.source)
    reader.setdefault("target", targets[0])
    featurisers = make_featurisers(spec, reader, raw, targets, cache_dir)
    raw, skipped, dropped = usable_rows(raw, list(featurisers.values()), targets, spec.missing)
    task, y, class_names = row_targets(raw, targets, declared_task(spec.task, info))
    refuse_test_only_labels(raw, task, y, class_names, targets[0])
    codes, split_summary = split_codes(len(raw), **split_options(spec, reader, raw, task, y, class_names, seed))
    if spec.valid_fraction == "auto":  # the scheme deepsci chose, and why (metrics.json data.split.validation)
        split_summary["validation"] = validation_scheme(split_summary)
    parts = code_rows(codes)
    for featuriser in featurisers.values():
        featuriser.fit(raw, parts["train"])
    y_scaler = Scaler().fit(y[parts["train"]]) if task_of(task).continuous and spec.scale_targets else None
    pre = Preprocessor(reader, featurisers, task, targets, class_names, y_scaler)
    made = {k: make_part(pre, raw, y, idx) for k, idx in parts.items()}
    summary = describe(raw, reader, featurisers, task, targets, y, class_names, skipped, dropped, split_summary)
    return Dataset(train=made["train"], valid=made["valid"], test=made["test"], task=task,
                   inputs=pre.inputs, preprocessor=pre, summary=summary, skipped=skipped,
                   calib=made.get("calib"))


def declared_task(task: str, info: DatasetInfo | None) -> str:
    """data.task, or for "auto" on a bundled dataset that declares multilabel or tagging, that task (several
    0/1 columns or per-step tags are never guessed from a file, only read from an explicit declaration)."""
    declared = TASKS.get(info.task) if info is not None and TASKS.get(task) is None else None  # task: "auto"
    return declared.name if declared is not None and (declared.multilabel or declared.per_step) else task


def row_targets(raw: Raw, targets: list[str], task: str) -> tuple[str, np.ndarray, list[str]]:
    """(task, y, class names) of the rows: `encode_targets`, or for tagging the (n, L) tag indices of each
    row's real steps (deepsci.data.preprocess.tag_targets)."""
    declared = TASKS.get(task)  # None: "auto"
    if declared is not None and declared.per_step:
        return (task, *tag_targets(raw.frame, targets, step_counts(raw), raw.source))
    return encode_targets(raw.frame, targets, task, raw.source)


def refuse_test_only_labels(raw: Raw, task: str, y: np.ndarray, class_names: list[str], target: str) -> None:
    """A DataError when a class of the given test rows (a test source, test arrays) never occurs in training.

    Such a label would silently add a class the model never saw (an extra logit, a binary task turned
    multiclass, a p_<label> column of an untrained output); it is refused, naming the label and the file.
    """
    if not task_of(task).exclusive or raw.marks is None:
        return
    test = raw.marks == "test"
    unseen = sorted(set(y[test].tolist()) - set(y[~test].tolist()))
    if unseen and test.any():
        shown = ", ".join(repr(class_names[i]) for i in unseen[:5])
        raise DataError(f"target '{target}': the label(s) {shown} occur only in the {raw.given}, never in the "
                        f"training rows of {raw.source}, so the model cannot learn them. Remove those rows from the "
                        "test file or add training rows with those labels.")


def reader_spec(spec: RowData, info: DatasetInfo | None) -> dict[str, Any]:
    """The reader's settings (saved in the preprocessor), with the catalog's defaults filled in."""
    reader = {k: getattr(spec, k) for k in READER_KEYS if getattr(spec, k, None) is not None}
    if isinstance(spec, MultiData):
        reader["inputs"] = {name: {k: getattr(sub, k) for k in INPUT_READER_KEYS if getattr(sub, k, None) is not None}
                            for name, sub in spec.inputs.items()}
    if info is not None:
        molecules = isinstance(spec, (TableData, GraphData, ReactionData))
        for key, value in (("target", info.target), ("smiles_column", info.smiles_column),
                           ("split_column", info.split_column), ("id_column", info.id_column)):
            if reader.get(key) is None and value is not None and (molecules or key != "smiles_column"):
                reader[key] = value
        for key, value in info.roles.items():
            reader.setdefault(key, value)
    if isinstance(spec, ImageData) and spec.source == "digits":
        reader.setdefault("target", "digit")
    return reader


def read_rows(reader: dict[str, Any], spec: RowData) -> Raw:
    """The source's rows; with a test file or test arrays, the test rows appended and marked."""
    raw = read_source(reader, spec.source)
    if spec.test_source:
        return concat_raw(raw, read_source(reader, spec.test_source, test=True))
    test_arrays = _test_arrays(reader)
    if test_arrays:
        joined = concat_raw(raw, read_source(reader, spec.source, test=True))
        joined.given = f"test arrays {', '.join(repr(a) for a in test_arrays)}" + (
            f" / '{reader['test_target']}'" if reader.get("test_target") else "")
        return joined
    return raw


def _test_arrays(reader: dict[str, Any]) -> list[str]:
    """Names of the given test arrays: the reader's test_x, or every input's of a multi-input reader."""
    subs = list(reader["inputs"].values()) if "inputs" in reader else [reader]
    return [str(sub["test_x"]) for sub in subs if sub.get("test_x")]


def split_options(spec: RowData, reader: dict[str, Any], raw: Raw, task: str, y: np.ndarray,
                  class_names: list[str], seed: int) -> dict[str, Any]:
    """The keyword arguments of `split_codes` for these rows: the fractions, class labels to stratify by
    (one class per row), molecules for a scaffold split, and given marks (a test source, test arrays, or
    a split column when the split honours one)."""
    column = reader.get("split_column")
    marks, given = raw.marks, raw.given
    if marks is None and column is not None and spec.split in HONOURS_MARKS:
        if column not in raw.frame.columns:
            raise DataError(f"split column '{column}' not in {raw.source}; its columns are: "
                            f"{', '.join(map(str, raw.frame.columns))}. Set data.split_column, or another split.")
        marks, given = raw.frame[column].to_numpy(), f"column '{column}'"
    smiles = reader.get("smiles_column")
    codes = None if marks is None else mark_codes(marks, column=column or "split")
    valid = resolve_valid_fraction(spec.valid_fraction, pool_rows(len(raw), spec.test_fraction, codes))
    return {"method": "ordered" if spec.split == "auto" and in_time_order(spec) else spec.split,
            "test_fraction": spec.test_fraction, "valid_fraction": valid,
            "calib_fraction": spec.calib_fraction, "train_fraction": spec.train_fraction, "seed": seed,
            "labels": np.asarray(class_names, dtype=object)[y] if task_of(task).exclusive else None,
            "smiles": raw.frame[smiles].astype(str).tolist() if smiles and spec.split == "scaffold" else None,
            "marks": codes, "given": given,
            "column": column}


def in_time_order(spec: RowData) -> bool:
    """Whether the source's rows are time steps in time order: a NetCDF/Zarr field (one row per step of its time
    coordinate, deepsci.data.formats.netcdf), whose "auto" split is then "ordered" (test the last steps)."""
    source = getattr(spec, "source", None)
    return isinstance(source, (str, Path)) and container_format(source) == "netcdf"


# -- featurisers, one maker per input kind ------------------------------------------------------------
def make_featurisers(spec: RowData, reader: dict[str, Any], raw: Raw, targets: list[str],
                     cache_dir: str | Path | None) -> dict[str, Featuriser]:
    """{input name: unfitted featuriser}: {"x": ...} for one input; one per `data.inputs` entry for "multi"."""
    if not isinstance(spec, MultiData):
        return {"x": FEATURISER_MAKERS[spec.kind](spec, reader, raw, targets, cache_dir, "x")}
    shared: dict[str, Any] = {k: reader[k] for k in ("id_column", "split_column") if k in reader}
    made: dict[str, Featuriser] = {}
    for name, section in spec.inputs.items():
        sub_reader = reader["inputs"][name]
        if isinstance(section, TableInput) and not section.features and not sub_reader.get("smiles_column"):
            sub_reader["features"] = _table_input_columns(name, section, raw)
        made[name] = FEATURISER_MAKERS[section.kind](section, {**shared, **sub_reader}, raw, targets, cache_dir,
                                                     name)
    return made


def _table_input_columns(name: str, section: TableInput, raw: Raw) -> list[str]:
    """The columns a multi-input table's .npz array `x` became (an input without `features` or molecules)."""
    columns = [str(c) for c in raw.frame.columns]
    if section.x is None:
        raise DataError(f"input '{name}' (table) needs data.inputs.{name}.features: its columns of {raw.source} "
                        f"(columns: {', '.join(columns)}).")
    return [c for c in columns if c == section.x or c.startswith(f"{section.x}[")]


def _table_featuriser(section: TableData | TableInput, reader: dict[str, Any], raw: Raw, targets: list[str],
                      cache_dir: str | Path | None, name: str) -> TableFeaturiser:
    columns = [str(c) for c in raw.frame.columns]
    given = reader.get("features")
    smiles = reader.get("smiles_column")
    if smiles is None and given is None:
        smiles = next((c for c in columns if c.lower() == "smiles"), None)
        if smiles is not None:
            reader["smiles_column"] = smiles
    roles = {"smiles_column": smiles, "id_column": reader.get("id_column"), "split_column": reader.get("split_column")}
    for role, col in roles.items():
        if col is not None:
            require_columns([col], columns, raw.source, role)
    mol_kind = section.featuriser if smiles is not None else "none"
    reserved = set(targets) | {c for c in roles.values() if c}
    if given is not None:
        features = [str(f) for f in given]
        require_columns(features, columns, raw.source, "features")
        clash = [f for f in features if f in targets]
        if clash:
            raise DataError(f"column(s) {', '.join(clash)} are both target and feature; remove them from features.")
    elif mol_kind != "none":
        features = []
    else:
        features = [c for c in columns if c not in reserved]
    _require_numeric(raw.frame, features, raw.source, explicit=given is not None)
    if not features and mol_kind == "none":
        raise DataError(f"{raw.source} has no feature columns (columns: {', '.join(columns)}). Add numeric feature "
                        "columns, or set smiles_column to featurise molecules.")
    f = TableFeaturiser(name, features=features, smiles_column=smiles if mol_kind != "none" else None,
                        featuriser=mol_kind, morgan_radius=section.morgan_radius, morgan_bits=section.morgan_bits,
                        scale=section.scale_features, cache_dir=cache_dir)
    f.ignored = [c for c in columns if c not in reserved and c not in features] if mol_kind != "none" else []  # type: ignore[attr-defined]
    return f


def _molecule_column(reader: dict[str, Any], raw: Raw, kind: str, default: str, what: str) -> str:
    """data.smiles_column, or the column named `default` (any case); recorded in the reader for predict."""
    columns = [str(c) for c in raw.frame.columns]
    column = reader.get("smiles_column") or next((c for c in columns if c.lower() == default), None)
    if column is None:
        raise DataError(f"data.kind = '{kind}' needs {what}; {raw.source} has none named '{default}' (columns: "
                        f"{', '.join(columns)}). Set data.smiles_column.")
    require_columns([column], columns, raw.source, "smiles_column")
    reader["smiles_column"] = column
    return str(column)


def _graph_featuriser(section: GraphData, reader: dict[str, Any], raw: Raw, targets: list[str],
                      cache_dir: str | Path | None, name: str) -> GraphFeaturiser:
    smiles = _molecule_column(reader, raw, "graph", "smiles", "a SMILES column")
    return GraphFeaturiser(name, smiles_column=smiles, descriptors=section.descriptors,
                           atom_features=section.atom_features, descriptor_scale=section.descriptor_scale,
                           morgan_radius=section.morgan_radius, morgan_bits=section.morgan_bits, cache_dir=cache_dir)


def _reaction_featuriser(section: ReactionData, reader: dict[str, Any], raw: Raw, targets: list[str],
                         cache_dir: str | Path | None, name: str) -> ReactionFeaturiser:
    column = _molecule_column(reader, raw, "reaction", "reaction", "a column of reaction SMILES")
    return ReactionFeaturiser(name, smiles_column=column, atom_features=section.atom_features, cache_dir=cache_dir)


def _sequence_featuriser(section: SequenceData | SequenceInput, reader: dict[str, Any], raw: Raw,
                         targets: list[str], cache_dir: str | Path | None, name: str) -> Featuriser:
    """Symbol sequences (text) get a vocabulary; vector sequences (n, L, d) are padded sets in order."""
    values = raw.arrays.get(name)
    if isinstance(values, list) and values and isinstance(values[0], str):
        return INPUT_FEATURISERS["sequence"](name, alphabet=section.alphabet, max_length=section.max_length,
                                             truncate=section.truncate)
    return INPUT_FEATURISERS["set"](name, scale="standard", structure="sequence", feature_names=None,
                                    longer="truncate" if section.truncate else "refuse")


def _scaled_featuriser(section: SignalData | ImageData | SetData | SignalInput | ImageInput | SetInput,
                       reader: dict[str, Any], raw: Raw, targets: list[str], cache_dir: str | Path | None,
                       name: str) -> Featuriser:
    """Signals and images scaled per channel; sets (a long table's element `features`) per element feature."""
    if isinstance(section, (SetData, SetInput)):
        return INPUT_FEATURISERS["set"](name, scale=section.scale, structure="set",
                                        feature_names=reader.get("features"))
    if isinstance(section, (SignalData, SignalInput)):  # variable length: masked when padded (or cut by lengths)
        return INPUT_FEATURISERS["signal"](name, scale=section.scale, variable=bool(section.lengths),
                                           truncate=section.truncate)
    return INPUT_FEATURISERS[section.kind](name, scale=section.scale)


#: {input kind: maker of its unfitted featuriser (section, reader, raw, targets, cache_dir, input name)}
FEATURISER_MAKERS: dict[str, Callable[..., Featuriser]] = {
    "table": _table_featuriser, "graph": _graph_featuriser, "reaction": _reaction_featuriser,
    "set": _scaled_featuriser,
    "sequence": _sequence_featuriser, "signal": _scaled_featuriser, "image": _scaled_featuriser}


# -- rows, parts and the summary -------------------------------------------------------------------------
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
    by_reason: dict[str, list[int]] = {}
    for row, why in found.items():
        if why.startswith("NaN"):
            by_reason.setdefault(why, []).append(int(row))
    problems += [f"{why.replace('NaN or inf in ', '')} has NaN or inf in {len(rs)} row(s) (rows "
                 f"{', '.join(map(str, sorted(rs)[:8]))})" for why, rs in by_reason.items()]
    if problems and missing == "error":
        raise DataError(f"{raw.source}: " + "; ".join(problems)
                        + ". Fix the file, or set missing = 'drop' to drop those rows.")
    for row, why in sorted(found.items()):
        bad.setdefault(int(row), why)
    skipped: list[dict[str, Any]] = [{"row": r, "id": raw.ids[r], "reason": why} for r, why in sorted(bad.items())]
    dropped = dict(Counter("unparsable SMILES" if str(rec["reason"]).startswith("unparsable SMILES")
                           else str(rec["reason"]) for rec in skipped))
    keep = [r for r in range(len(raw)) if r not in bad]
    if not keep:
        raise DataError(f"{raw.source}: no usable rows are left ({len(skipped)} skipped: "
                        f"{', '.join(f'{k}: {v}' for k, v in dropped.items())}).")
    return (raw if len(keep) == len(raw) else raw.take(keep)), skipped, dropped


def make_part(pre: Preprocessor, raw: Raw, y: np.ndarray, idx: np.ndarray) -> Split:
    """One part: its rows transformed by the fitted preprocessor, its targets encoded and scaled."""
    part = raw.take(idx)
    X, ids, skipped = pre.transform(part)
    if skipped:
        raise DataError(f"{len(skipped)} row(s) became unusable after fitting: {skipped[0]['reason']}.")
    task = task_of(pre.task)
    # multilabel: (n, k) 0/1, the BCE-with-logits targets
    yt = torch.as_tensor(y[idx], dtype=getattr(torch, task.target_dtype))
    if task.continuous:
        yt = pre.scale_targets(yt)
    elif task.per_step:
        yt = fit_steps(yt, input_steps(X))  # (n, L), IGNORE on padding
    return Split(X=X, y=yt, ids=ids, y_raw=np.asarray(y[idx], dtype=np.float64) if task.continuous else None)


def describe(raw: Raw, reader: dict[str, Any], featurisers: dict[str, Featuriser], task: str,
             targets: list[str], y: np.ndarray, class_names: list[str], skipped: list[dict[str, Any]],
             dropped: dict[str, int], split: dict[str, Any]) -> DataSummary:
    """The facts of the build, for metrics.json and the report (n_features: summed over inputs)."""
    schemas = [f.schema() for f in featurisers.values()]
    featuriser = next((f for f in featurisers.values() if isinstance(f, (TableFeaturiser, GraphFeaturiser))),
                      next(iter(featurisers.values())))
    molecules: dict[str, Any] = {}
    if isinstance(featuriser, (TableFeaturiser, GraphFeaturiser)):
        molecules = {"featurisation_seconds": round(float(featuriser.last_featurisation["seconds"]), 4),
                     "cache_hit": featuriser.last_featurisation["cache_hit"]}
    if isinstance(featuriser, TableFeaturiser):
        molecules.update(featuriser=featuriser.mol_kind, nonfinite_filled=int(getattr(featuriser, "n_filled", 0)),
                         ignored_columns=getattr(featuriser, "ignored", []))
    if isinstance(featuriser, GraphFeaturiser):
        molecules.update(featuriser=featuriser.kind, descriptors=featuriser.settings["descriptors"],
                         atom_features=featuriser.settings.get("atom_features", "chemprop"),
                         bond_features=len(featuriser.state["bond_feature_names"]),
                         molecule_features=len(featuriser.descriptor_names))
    class_counts, label_counts = target_counts(task, y, class_names)
    return DataSummary(
        source=raw.source, kind=reader["kind"], task=task, target=targets, rows_read=len(raw) + len(skipped),
        rows_used=len(raw), n_dropped=len(skipped), dropped=dropped_counts(dropped), split=split,
        inputs={s.name: {"structure": s.structure, "shape": list(s.shape)} for s in schemas},
        n_features=sum(len(f.feature_names) if s.structure in ("table", "graph", "reaction") else int(np.prod(s.shape))
                       for f, s in zip(featurisers.values(), schemas)),
        class_counts=class_counts, label_counts=label_counts,
        notes=tuple(note for f in featurisers.values() for note in f.notes), **molecules)


def input_steps(X: Any) -> int:
    """Steps of one sample of the model's input: a padded sequence's L, a signal's (n, C, L) last axis."""
    if isinstance(X, dict) and "x" in X:
        return int(X["x"].shape[1])
    if isinstance(X, torch.Tensor) and X.dim() == 3:
        return int(X.shape[-1])
    raise DataError("task = 'tagging' tags the steps of one sequence or signal input; this input has none.")


#: {builder key: builder (spec, seed, cache_dir) -> Dataset}: a data kind, or "stream" for a table with stream = true
BUILDERS: dict[str, Builder] = {
    **dict.fromkeys(ROW_KINDS, lambda spec, seed, cache_dir: build_rows(spec, seed=seed, cache_dir=cache_dir)),
    "stream": lambda spec, seed, cache_dir: build_streamed(spec, seed=seed),
    "series": lambda spec, seed, cache_dir: build_series(spec),
    "text": lambda spec, seed, cache_dir: build_text(spec),
}


# -- checks ----------------------------------------------------------------------------------------
#: load_dataset's keyword arguments that name an option: {key: (what it is, the names allowed)}
_NAMED_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "task": ("task", TASKS_OR_AUTO), "split": ("split", SPLITS + ("auto", "given")),
    "featuriser": ("featuriser", FEATURISERS), "missing": ("missing-value policy", MISSING_POLICIES)}


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _require_numeric(frame: pd.DataFrame, cols: list[str], label: str, *, explicit: bool) -> None:
    """Feature columns must hold numbers that fit float32 (the models compute in float32)."""
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
