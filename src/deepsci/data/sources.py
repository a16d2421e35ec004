"""Read a source into `Raw` rows, one reader per input kind. Readers only read.

A reader spec is a plain dict (kept in the fitted preprocessor, so new files are read exactly as training
read its data) of the keys `deepsci.data.build.READER_KEYS`; a multi-input reader holds one per input under
`inputs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Union

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits

from deepsci.data.catalog import DatasetInfo, get_dataset_info, is_registered, load_arrays, load_frame
from deepsci.data.fasta import is_fasta, read_fasta
from deepsci.data.formats import ARRAY_FIRST, ARRAY_READERS, container_format
from deepsci.data.formats.folders import IMAGE_SUFFIXES, read_image_tree
from deepsci.data.npz import check_arrays_file
from deepsci.data.raw import Raw
from deepsci.data.readers import read_table, table_format
from deepsci.errors import DataError

Source = Union[str, Path, pd.DataFrame, Mapping[str, np.ndarray]]


def catalog_info(source: Any) -> DatasetInfo | None:
    """The catalog entry when `source` names a bundled dataset (and is not a file), else None."""
    if isinstance(source, str) and not Path(source).expanduser().exists() and is_registered(source):
        return get_dataset_info(source)
    return None


def read_frame(source: str | Path | pd.DataFrame, member: str | int | None = None) -> tuple[pd.DataFrame, str]:
    """(table, label) of a DataFrame, a catalog table or a table file (`member`: the table inside an HDF5,
    FITS or Excel file, data.x)."""
    if isinstance(source, pd.DataFrame):
        frame, label = source.copy(), "the DataFrame"
    elif catalog_info(source) is not None:
        frame, label = load_frame(str(source)), f"dataset '{source}'"
    else:
        path = Path(source).expanduser()
        if not path.exists() and isinstance(source, str) and table_format(source) is None \
                and "/" not in source and "\\" not in source:
            get_dataset_info(source)  # raises: unknown dataset, with the known names
        frame, label = read_table(path, member), f"'{path}'"
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) == 0:
        raise DataError(f"{label} has no rows. Give a table with data rows.")
    return frame, label


def frame_ids(frame: pd.DataFrame, id_column: str | None, label: str) -> list[str]:
    if id_column is None:
        return [str(i) for i in range(len(frame))]
    if id_column not in frame.columns:
        raise DataError(f"id_column '{id_column}' not in {label}; its columns are: {', '.join(frame.columns)}.")
    return frame[id_column].astype(str).tolist()


def read_arrays(source: str | Path | Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    """Named arrays of an .npz, an .npy (named "X"), a mapping, or a bundled dataset of arrays; never unpickled."""
    if isinstance(source, Mapping):
        return {str(k): np.asarray(v) for k, v in source.items()}, "the arrays"
    info = catalog_info(source)
    if info is not None and info.arrays is not None:
        return load_arrays(str(source)), f"dataset '{source}'"
    p = Path(source).expanduser()
    if not p.is_file() and not (p.is_dir() and container_format(p) in ARRAY_READERS):  # a Zarr store is a folder
        raise DataError(f"array file '{p}' not found (working directory {Path.cwd()}); check the path.")
    if container_format(p) in ARRAY_READERS:  # HDF5 datasets by path, FITS HDUs and columns by name
        return ARRAY_READERS[str(container_format(p))](p), f"'{p}'"
    check_arrays_file(p)
    try:
        if p.suffix == ".npy":
            return {"X": np.load(p, allow_pickle=False)}, f"'{p}'"
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}, f"'{p}'"
    except ValueError as exc:
        raise DataError(f"cannot read '{p}' without unpickling ({exc}); save numeric arrays only "
                        "(np.savez(path, X_train=..., y_train=...)).") from exc
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read '{p}' as .npz/.npy: {exc}.") from exc


def pick(arrays: dict[str, np.ndarray], names: list[str | None], role: str, label: str,
         key: str) -> np.ndarray | None:
    """The first of `names` present in `arrays`; DataError listing what is there if none is."""
    wanted = [n for n in names if n]
    for n in wanted:
        if n in arrays:
            return arrays[n]
    if not wanted:
        return None
    shapes = ", ".join(f"{k} {tuple(a.shape)}" for k, a in arrays.items())
    raise DataError(f"{label} has no {role} array {' or '.join(repr(n) for n in wanted)}; it holds: {shapes}. "
                    f"Set data.{key} to one of these names.")


def target_columns(name: str, y: np.ndarray) -> dict[str, np.ndarray]:
    """A target array as frame columns: (n,) -> {name}, (n, t) -> {name[0], ..., name[t-1]}."""
    if y.ndim == 1:
        return {name: y}
    y2 = y.reshape(len(y), -1)
    return {f"{name}[{j}]": y2[:, j] for j in range(y2.shape[1])}


def read_array_source(spec: dict[str, Any], source: Source, *, test: bool = False) -> Raw:
    """Inputs and targets from named arrays. A test file may name them as the training's test arrays."""
    arrays, label = read_arrays(source)  # type: ignore[arg-type]
    return arrays_raw(spec, arrays, label, test=test)


def arrays_raw(spec: dict[str, Any], arrays: dict[str, np.ndarray], label: str, *, test: bool = False) -> Raw:
    """`read_array_source` on arrays already read (`label` names their file in messages)."""
    xs = [spec.get("test_x"), spec.get("x")] if test else [spec.get("x"), spec.get("test_x")]
    ys = [spec.get("test_target"), spec.get("target")] if test else [spec.get("target"), spec.get("test_target")]
    x = pick(arrays, xs, "input", label, "x")
    assert x is not None
    frame = pd.DataFrame(index=range(len(x)))
    tname = spec.get("target")
    y = pick(arrays, ys, "target", label, "target") if any(n in arrays for n in ys if n) else None
    if y is not None and tname:
        if len(y) != len(x):
            raise DataError(f"{label}: the target array has {len(y)} rows but the input array {len(x)}; they "
                            "must match one to one.")
        for k, v in target_columns(tname, y).items():
            frame[k] = v
    values: Any = x
    if spec.get("kind") in ("set", "sequence") and x.ndim == 3:
        given_test = test and bool(spec.get("test_x")) and spec.get("test_x") in arrays
        values = _unpad(x, arrays, spec, label, test=given_test)
    return Raw(frame, {"x": values}, [str(i) for i in range(len(x))], label)


def _unpad(x: np.ndarray, arrays: dict[str, np.ndarray], spec: dict[str, Any], label: str, *,
           test: bool = False) -> list[np.ndarray]:
    """(n, S, d) padded samples -> n arrays (s_i, d), cut by a sizes/lengths or a mask array.

    `test`: x is the test array of the same file (data.test_x), cut by its own data.test_sizes or
    data.test_mask: the training's sizes count other samples."""
    prefix, x_name = ("test_", spec.get("test_x")) if test else ("", spec.get("x"))
    sizes_name = spec.get(f"{prefix}sizes") or spec.get(f"{prefix}lengths")
    mask_name = spec.get(f"{prefix}mask")
    if test and not (sizes_name or mask_name) and (spec.get("sizes") or spec.get("lengths") or spec.get("mask")):
        raise DataError(f"{label}: the test samples '{x_name}' are padded like the training's, which data.sizes or "
                        "data.mask cut; set data.test_sizes (or data.test_mask) to the array of the test samples' "
                        "own sizes.")
    sizes, mask = arrays.get(sizes_name or ""), arrays.get(mask_name or "")
    for name, array in ((sizes_name, sizes), (mask_name, mask)):
        if name and array is None:
            raise DataError(f"{label} has no array '{name}' (data.{prefix}{'mask' if name == mask_name else 'sizes'}"
                            f"); it holds: {', '.join(arrays)}.")
    if sizes is not None:
        _check_sizes(np.asarray(sizes), x.shape, label, str(sizes_name))
        return [x[i, :int(s)] for i, s in enumerate(sizes)]
    if mask is not None:
        if mask.shape != x.shape[:2]:
            raise DataError(f"{label}: mask '{mask_name}' has shape {mask.shape} but input '{x_name}' holds "
                            f"{x.shape[0]} samples padded to {x.shape[1]}: give a mask of shape {x.shape[:2]}, one "
                            f"row per sample of '{x_name}'" + ("" if test else " (test arrays: data.test_mask)") + ".")
        return [x[i][mask[i].astype(bool)] for i in range(len(x))]
    return [x[i] for i in range(len(x))]  # every sample full size


def _check_sizes(sizes: np.ndarray, shape: tuple[int, ...], label: str, name: str) -> None:
    """Sizes of padded samples (n, S, d): one whole number per sample in 0..S (a negative size would count
    from the end, a larger one would read past the padded width)."""
    if sizes.shape != (shape[0],):
        raise DataError(f"{label}: '{name}' has shape {sizes.shape} but there are {shape[0]} samples; give one size "
                        "per sample.")
    bad = np.flatnonzero((sizes < 0) | (sizes > shape[1]) | (sizes != np.round(sizes)))
    if len(bad):
        i = int(bad[0])
        hint = (f" Lengths beyond the {shape[1]} padded steps suggest signals (n, C, L) read as sequences (n, L, d): "
                "transpose the array to (n, L, C) (np.transpose(X, (0, 2, 1))), or read it with data.kind = 'signal'."
                if sizes[i] > shape[1] else "")
        raise DataError(f"{label}: '{name}' of sample {i} is {sizes[i]}, outside 0..{shape[1]} (the padded width); "
                        f"{len(bad)} sample(s) in all. Each size counts the real elements of its sample.{hint}")


def read_table_source(spec: dict[str, Any], source: Source, *, test: bool = False) -> Raw:
    frame, label = read_frame(source, spec.get("x"))  # type: ignore[arg-type]
    return Raw(frame, {}, frame_ids(frame, _id_column(spec, frame, test), label), label)


def _id_column(spec: dict[str, Any], frame: pd.DataFrame, test: bool) -> str | None:
    """The id column; new rows (test=True) without it are named by row number."""
    col = spec.get("id_column")
    return None if test and col is not None and col not in frame.columns else col


def read_signal_source(spec: dict[str, Any], source: Source, *, test: bool = False) -> Raw:
    """An .npz/.npy/arrays source, or a CSV of one row per sample (feature columns are the L steps).

    Series of different lengths are NaN after their end (each series on its own), or the steps past a
    `lengths` array (.npz) or column (CSV) are set to NaN here: either way the featuriser reads NaN padding."""
    if _is_arrays(source):
        arrays, label = read_arrays(source)  # type: ignore[arg-type]
        raw = arrays_raw(spec, arrays, label, test=test)
        lengths = pick(arrays, [spec.get("lengths")], "lengths", label, "lengths")
    else:
        frame, label = read_frame(source)  # type: ignore[arg-type]
        cols = spec.get("features") or [c for c in frame.columns if c not in _reserved(spec)]
        absent = [c for c in cols if c not in frame.columns]
        if absent:
            raise DataError(f"{label} lacks the signal column(s) {', '.join(absent[:5])}.")
        values = frame[cols].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
        raw = Raw(frame, {"x": values}, frame_ids(frame, _id_column(spec, frame, test), label), label)
        lengths = _lengths_column(spec, frame, label)
    if lengths is not None:
        raw.arrays["x"] = nan_padded(np.asarray(raw.arrays["x"]), np.asarray(lengths), label, str(spec["lengths"]))
    return raw


def _lengths_column(spec: dict[str, Any], frame: pd.DataFrame, label: str) -> np.ndarray | None:
    """The `lengths` column of a signal table, or None when data.lengths is not set."""
    name = spec.get("lengths")
    if not name:
        return None
    if name not in frame.columns:
        raise DataError(f"{label} has no lengths column '{name}' (data.lengths); its columns are: "
                        f"{', '.join(map(str, frame.columns[:12]))}.")
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)


def nan_padded(x: np.ndarray, lengths: np.ndarray, label: str, name: str) -> np.ndarray:
    """Signals (n, L) or (n, C, L) as float32 with every step from lengths[i] on set to NaN (the padding).

    Raises:
        DataError: one length per series is needed, each a whole number in 1..L; a length beyond L is also the
            sign of (n, L, C) data read as (n, C, L), which the message names.
    """
    if lengths.shape != (len(x),):
        raise DataError(f"{label}: '{name}' has shape {lengths.shape} but there are {len(x)} series; give one length "
                        "per series (test arrays in the same file: pad them with NaN after each series' end instead).")
    steps = x.shape[-1]
    bad = np.flatnonzero(~np.isfinite(lengths) | (lengths < 1) | (lengths > steps) | (lengths != np.round(lengths)))
    if len(bad):
        i = int(bad[0])
        hint = (f" Lengths beyond the {steps} steps suggest the array is (n, L, C), steps before channels: give it "
                "as (n, C, L) (np.transpose(X, (0, 2, 1)))." if lengths[i] > steps else "")
        raise DataError(f"{label}: '{name}' of series {i} is {lengths[i]}, outside 1..{steps} (the steps of the "
                        f"array); {len(bad)} series in all.{hint}")
    beyond = np.arange(steps)[None, :] >= lengths.astype(np.int64)[:, None]  # (n, L)
    out = x.astype(np.float32, copy=True)
    out[beyond if out.ndim == 2 else np.broadcast_to(beyond[:, None, :], out.shape)] = np.nan
    return out


def read_image_source(spec: dict[str, Any], source: Source, *, test: bool = False) -> Raw:
    """An .npz/.npy stack (labels from `labels` for .npy), an image folder + labels CSV, or 'digits'."""
    if isinstance(source, str) and source == "digits" and not Path(source).exists():
        d = load_digits()
        frame = pd.DataFrame({"digit": d.target})
        return Raw(frame, {"x": d.images.astype(np.float32)}, [str(i) for i in range(len(frame))], "dataset 'digits'")
    if isinstance(source, (str, Path)) and Path(source).is_dir() and container_format(source) is None:
        return _read_image_folder(spec, Path(source))
    raw = read_array_source(spec, source, test=test)
    if spec.get("labels") and not raw.frame.columns.size and spec.get("target"):
        labels = _read_labels(spec["labels"])
        if len(labels) != len(raw):
            raise DataError(f"{len(labels)} labels for {len(raw)} images in {raw.source}; they must match one to one.")
        raw.frame[spec["target"]] = labels
    return raw


def _read_labels(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"labels file '{p}' not found; check data.labels.")
    if p.suffix == ".npy":
        return np.load(p, allow_pickle=False)
    return pd.read_csv(p).iloc[:, -1].to_numpy()


def _read_image_folder(spec: dict[str, Any], folder: Path) -> Raw:
    from PIL import Image  # optional heavy dependency: imported when used

    if not spec.get("labels"):  # one subfolder per class (deepsci.data.formats.folders)
        return read_image_tree(folder, spec.get("target") or "label")
    frame = pd.read_csv(spec["labels"])
    if "file" not in frame.columns:
        raise DataError(f"labels CSV {spec['labels']} needs a 'file' column; it has {', '.join(frame.columns)}.")
    _refuse_repeated_keys(frame["file"].astype(str), spec["labels"], "image")
    unlisted = sorted(f.name for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES
                      and f.name not in set(frame["file"].astype(str)))
    if unlisted:
        raise DataError(f"labels CSV {spec['labels']} lacks {len(unlisted)} image(s) of {folder}: "
                        f"{', '.join(unlisted[:5])}; every image needs exactly one row (add them, or move them out).")
    arrays = []
    for name in frame["file"].astype(str):
        f = folder / name
        if not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"image '{name}' listed in {spec['labels']} is not an image file in {folder}.")
        with Image.open(f) as opened:
            a = np.asarray(opened, dtype=np.float32)
        arrays.append(a if a.ndim == 2 else np.moveaxis(a, -1, 0))
    if len({a.shape for a in arrays}) != 1:
        raise DataError(f"images in {folder} differ in size: {sorted({a.shape for a in arrays})[:4]}; resize them.")
    return Raw(frame, {"x": np.stack(arrays)}, frame["file"].astype(str).tolist(), f"'{folder}'")


def _refuse_repeated_keys(keys: pd.Series, labels_path: str, what: str) -> None:
    """A labels file lists each key (FASTA id, image file) once: refuse repeats, naming them and the file."""
    repeated = keys[keys.duplicated()].unique().tolist()
    if repeated:
        raise DataError(f"labels file {labels_path} lists {len(repeated)} {what}(s) more than once: "
                        f"{', '.join(map(str, repeated[:5]))}; each must have exactly one row.")


def _join_labels(frame: pd.DataFrame, labels_path: str, label: str, *, test: bool) -> pd.DataFrame:
    """FASTA records joined one-to-one with a labels CSV keyed by `id` (else its first column).

    Repeated ids in the labels file are refused; so are FASTA ids it lacks (for a file read for a trained model,
    only when it labels some of them: a file of new sequences may have no labels at all). Ids of the labels
    file that are not in the FASTA file are ignored."""
    p = Path(labels_path)
    if not p.is_file():
        raise DataError(f"labels file '{p}' not found; check data.labels.")
    labels = pd.read_csv(p)
    key = "id" if "id" in labels.columns else labels.columns[0]
    labels = labels.rename(columns={key: "id"}).astype({"id": str})
    _refuse_repeated_keys(labels["id"], labels_path, "id")
    absent = frame.loc[~frame["id"].isin(labels["id"]), "id"].tolist()
    if absent and (not test or len(absent) < len(frame)):
        raise DataError(f"labels file {labels_path} lacks {len(absent)} of the {len(frame)} ids of {label}: "
                        f"{', '.join(absent[:5])}; add a row for each (the FASTA file is fine).")
    frame = frame.drop(columns=[c for c in labels.columns if c in frame.columns and c != "id"])
    return frame.merge(labels, on="id", how="left", validate="one_to_one")


def read_sequence_source(spec: dict[str, Any], source: Source, *, test: bool = False) -> Raw:
    """FASTA (labels in headers or a labels CSV), a table with a sequence column, or .npz vectors."""
    if _is_arrays(source):
        return read_array_source(spec, source, test=test)
    if isinstance(source, (str, Path)) and is_fasta(source):
        frame, label = read_fasta(source), f"'{source}'"
        if spec.get("labels"):
            frame = _join_labels(frame, spec["labels"], label, test=test)
        return Raw(frame, {"x": frame["sequence"].astype(str).tolist()}, frame["id"].astype(str).tolist(), label)
    frame, label = read_frame(source)  # type: ignore[arg-type]
    col = spec.get("sequence_column") or "sequence"
    if col not in frame.columns:
        raise DataError(f"sequence column '{col}' not in {label}; its columns are: {', '.join(frame.columns)}. "
                        "Set data.sequence_column.")
    return Raw(frame, {"x": frame[col].astype(str).tolist()}, frame_ids(frame, _id_column(spec, frame, test), label), label)


def read_set_source(spec: dict[str, Any], source: Source, *, test: bool = False) -> Raw:
    """.npz (n, S, d) with sizes/mask, or a long table: one row per element, a set column."""
    if _is_arrays(source):
        return read_array_source(spec, source, test=test)
    long, label = read_frame(source)  # type: ignore[arg-type]
    set_col = spec.get("set_column") or "set_id"
    if set_col not in long.columns:
        raise DataError(f"set column '{set_col}' not in {label}; its columns are: {', '.join(long.columns)}. "
                        "Set data.set_column to the column naming each element's set.")
    feats = spec.get("features") or [c for c in long.columns if c not in _reserved(spec) | {set_col}]
    groups = long.groupby(set_col, sort=False)
    per_set = groups.first().reset_index()
    # the groups' elements in groupby's order (first appearance, null ids dropped), cut from one sorted
    # array: a pandas selection per group cost ~80 s for 120 000 sets, this ~0.1 s
    codes = pd.factorize(long[set_col], sort=False)[0]
    real = codes >= 0
    values = long[feats].to_numpy(np.float64)[real][np.argsort(codes[real], kind="stable")]
    elements = np.split(values, np.cumsum(np.bincount(codes[real]))[:-1])
    spec.setdefault("features", feats)
    frame = per_set.drop(columns=[c for c in feats if c in per_set.columns])
    return Raw(frame, {"x": elements}, frame[set_col].astype(str).tolist(), label)


def _is_arrays(source: Any) -> bool:
    """True for named arrays: a mapping, an .npz/.npy or array container file, or a bundled dataset of arrays."""
    bundled = catalog_info(source) if isinstance(source, str) else None
    return isinstance(source, Mapping) or (bundled is not None and bundled.arrays is not None) or (
        isinstance(source, (str, Path)) and (
            Path(source).suffix in (".npz", ".npy") or container_format(source) in ARRAY_FIRST))


def _reserved(spec: dict[str, Any]) -> set[str]:
    t = spec.get("target")
    targets = set([t] if isinstance(t, str) else (t or []))
    return targets | {c for c in (spec.get("id_column"), spec.get("split_column"), spec.get("lengths")) if c}


def read_multi_source(spec: dict[str, Any], source: Source, *, test: bool = False) -> Raw:
    """Several named inputs from one source, rows aligned: Raw.arrays holds each non-table input under its
    name, Raw.frame the targets and the table inputs' columns.

    An .npz (or a mapping) names each input's array (`x`; `test_x` for a file of test rows); a table input's
    (n, d) array becomes the columns `features` (default x[0] .. x[d-1]). A table (CSV/Parquet/DataFrame)
    gives table inputs their `features`, signals their `features` (the L steps), sequences their column.
    """
    inputs: dict[str, dict[str, Any]] = spec["inputs"]
    if _is_arrays(source):
        arrays, label = read_arrays(source)  # type: ignore[arg-type]
        return _multi_from_arrays(spec, inputs, arrays, label, test)
    frame, label = read_frame(source)  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for name, sub in inputs.items():
        if sub["kind"] in ("image", "set"):
            raise DataError(f"input '{name}' ({sub['kind']}) is read from an .npz, not from the table {label}; "
                            "save the inputs as arrays of one .npz (np.savez) and name each input's array x.")
        if sub["kind"] == "signal" and not sub.get("features"):
            raise DataError(f"input '{name}' (signal) from the table {label} needs data.inputs.{name}.features: "
                            "the columns holding its L values, in order.")
        if sub["kind"] != "table":
            values[name] = READERS[sub["kind"]]({**sub, "id_column": None}, frame, test=test).arrays["x"]
    return Raw(frame, values, frame_ids(frame, _id_column(spec, frame, test), label), label)


def _multi_from_arrays(spec: dict[str, Any], inputs: dict[str, dict[str, Any]], arrays: dict[str, np.ndarray],
                       label: str, test: bool) -> Raw:
    """`read_multi_source` of named arrays: one array per input, the same number of rows in each."""
    targets = {"target": spec.get("target"), "test_target": spec.get("test_target")}
    columns: dict[str, np.ndarray] = {}
    values: dict[str, Any] = {}
    rows: dict[str, int] = {}
    frame: pd.DataFrame | None = None
    for name, sub in inputs.items():
        if sub["kind"] == "table":
            xs = [sub.get("test_x"), sub.get("x")] if test else [sub.get("x"), sub.get("test_x")]
            x = pick(arrays, xs, f"input '{name}'", label, f"inputs.{name}.x")
            assert x is not None
            block = np.asarray(x).reshape(len(x), -1)
            names = table_columns(sub, block.shape[1])
            columns.update({c: block[:, j] for j, c in enumerate(names)})
            rows[name] = len(x)
        else:
            raw = arrays_raw({**sub, **targets}, arrays, label, test=test)
            values[name] = raw.arrays["x"]
            if sub["kind"] == "signal" and sub.get("lengths"):
                lengths = pick(arrays, [sub["lengths"]], f"input '{name}' lengths", label, f"inputs.{name}.lengths")
                values[name] = nan_padded(np.asarray(values[name]), np.asarray(lengths), label, sub["lengths"])
            rows[name] = len(raw)
            frame = raw.frame
    if len(set(rows.values())) > 1:
        raise DataError(f"{label}: the inputs must have one row per sample in each; their arrays have "
                        f"{', '.join(f'{k} {v}' for k, v in rows.items())} rows. Give arrays of the same length.")
    n = next(iter(rows.values()))
    if frame is None:
        frame = _target_frame(spec, arrays, label, test, n)
    frame = frame.assign(**columns) if columns else frame
    return Raw(frame.reset_index(drop=True), values, [str(i) for i in range(n)], label)


def _target_frame(spec: dict[str, Any], arrays: dict[str, np.ndarray], label: str, test: bool, n: int) -> pd.DataFrame:
    """The target columns of n rows (inputs that are all tables: no array reader made them)."""
    ys = [spec.get("test_target"), spec.get("target")] if test else [spec.get("target"), spec.get("test_target")]
    frame = pd.DataFrame(index=range(n))
    if spec.get("target") and any(y in arrays for y in ys if y):
        y = pick(arrays, ys, "target", label, "target")
        assert y is not None
        if len(y) != n:
            raise DataError(f"{label}: the target array has {len(y)} rows but the inputs {n}; they must match.")
        for k, v in target_columns(str(spec["target"]), y).items():
            frame[k] = v
    return frame


def table_columns(sub: dict[str, Any], width: int) -> list[str]:
    """Column names of a table input read from an (n, d) array: its `features`, else x[0] .. x[d-1]."""
    names = sub.get("features") or ([str(sub["x"])] if width == 1 else [f"{sub['x']}[{j}]" for j in range(width)])
    if len(names) != width:
        raise DataError(f"input array '{sub['x']}' has {width} columns but features names {len(names)}; name "
                        "one feature per column.")
    return [str(c) for c in names]


READERS = {"table": read_table_source, "signal": read_signal_source, "image": read_image_source,
           "sequence": read_sequence_source, "set": read_set_source, "multi": read_multi_source}


def read_source(spec: dict[str, Any], source: Source, *, test: bool = False) -> Raw:
    """Rows of `source` read as the spec's kind says."""
    return READERS[spec["kind"]](spec, source, test=test)
