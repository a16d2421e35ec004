"""Read a table from disk: CSV/TSV, Parquet, NumPy .npz, or an SDF file of molecules.

Every reader returns a pandas DataFrame; everything downstream (target and feature choice,
validation, featurisation) works on that one type.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from deepsci.errors import DataError, MissingDependencyError

SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".csv.gz": "csv", ".txt": "csv", ".tsv": "tsv", ".tsv.gz": "tsv",
    ".parquet": "parquet", ".pq": "parquet", ".npz": "npz", ".sdf": "sdf",
}


def table_format(path: str | Path) -> str | None:
    """The reader name for a path ('csv', 'tsv', 'parquet', 'npz', 'sdf'), or None if unknown."""
    name = Path(path).name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIXES[suffix]
    return None


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a data file into a DataFrame, choosing the reader from the file's extension.

    Formats:
        - CSV (.csv, .csv.gz, .txt) and TSV (.tsv): a header row, then one row per sample.
        - Parquet (.parquet, .pq).
        - NumPy .npz: either arrays ``X`` (n, d) and optionally ``y`` ((n,) or (n, t)) and
          ``feature_names`` (d,), giving columns ``feature_names`` (or ``x0..x{d-1}``) and ``y``
          (or ``y0..y{t-1}``); or any number of named 1-D arrays of equal length, one per column.
          Loaded with ``allow_pickle=False``: object arrays are refused.
        - SDF (.sdf), read with RDKit: one row per record, a ``smiles`` column (canonical
          SMILES, "" where RDKit cannot read the record), a ``name`` column (the record title)
          and one column per SDF property (numbers parsed where every value is numeric).

    Args:
        path: file to read.

    Returns:
        The table, one row per sample.

    Raises:
        DataError: the file does not exist, is empty, has no rows, or has an unsupported
            extension; the message says how to fix it.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"data file not found: '{p}' (working directory {Path.cwd()}). "
                        "Check the path, or give a catalog dataset name (see `deepsci datasets`).")
    if p.is_dir():
        raise DataError(f"'{p}' is a directory, not a data file. Give the path of a "
                        f"{_supported()} file.")
    fmt = table_format(p)
    if fmt is None:
        raise DataError(f"unsupported file type '{''.join(p.suffixes) or p.name}' for '{p}'. "
                        f"Supported: {_supported()}. Convert the file, e.g. with pandas to CSV.")
    if p.stat().st_size == 0:
        raise DataError(f"data file '{p}' is empty (0 bytes). Point to a file with a header and rows.")
    frame = _READERS[fmt](p)
    if len(frame) == 0:
        raise DataError(f"data file '{p}' has no rows (columns: {', '.join(map(str, frame.columns)) or 'none'}). "
                        "Add data rows below the header.")
    return frame


def _supported() -> str:
    return ", ".join(sorted(SUFFIXES))


def _read_csv(p: Path, sep: str = ",") -> pd.DataFrame:
    try:
        return pd.read_csv(p, sep=sep)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"data file '{p}' is empty (no header, no rows). "
                        "Point to a file with a header and rows.") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse '{p}' as {'CSV' if sep == ',' else 'TSV'}: {exc}. "
                        "Check the delimiter and quoting, or convert the file to Parquet.") from exc


def _read_tsv(p: Path) -> pd.DataFrame:
    return _read_csv(p, sep="\t")


def _read_parquet(p: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise DataError(f"cannot read '{p}' as Parquet: {exc}. Check that the file is complete.") from exc


def _read_npz(p: Path) -> pd.DataFrame:
    try:
        with np.load(p, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except ValueError as exc:
        raise DataError(f"cannot read '{p}' as .npz without unpickling ({exc}). "
                        "Save numeric or string arrays only (np.savez(path, X=X, y=y)).") from exc
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read '{p}' as .npz: {exc}.") from exc
    if not arrays:
        raise DataError(f"'{p}' holds no arrays. Save arrays X (n, d) and y (n,) with np.savez.")
    if "X" in arrays:
        return _npz_xy(p, arrays)
    n_rows = {k: a.shape[0] if a.ndim == 1 else None for k, a in arrays.items()}
    if any(v is None for v in n_rows.values()) or len(set(n_rows.values())) != 1:
        shapes = ", ".join(f"{k}{tuple(a.shape)}" for k, a in arrays.items())
        raise DataError(f"'{p}' holds arrays {shapes}. Expected X (n, d) with optional y, or "
                        "named 1-D arrays of one common length (one per column).")
    return pd.DataFrame(arrays)


def _npz_xy(p: Path, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    X = arrays["X"]
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise DataError(f"array X in '{p}' has shape {X.shape}; expected (n, d). "
                        "Flatten images first, or use the image datasets.")
    n, d = X.shape
    if "feature_names" in arrays:
        names = [str(s) for s in arrays["feature_names"].tolist()]
        if len(names) != d:
            raise DataError(f"'{p}': feature_names has {len(names)} entries but X has {d} columns.")
    else:
        names = [f"x{i}" for i in range(d)]
    frame = pd.DataFrame(X, columns=names)
    if "y" in arrays:
        y = arrays["y"]
        if y.shape[0] != n:
            raise DataError(f"'{p}': y has {y.shape[0]} rows but X has {n}. They must match.")
        if y.ndim == 1:
            frame["y"] = y
        else:
            for j in range(y.reshape(n, -1).shape[1]):
                frame[f"y{j}"] = y.reshape(n, -1)[:, j]
    extra = sorted(set(arrays) - {"X", "y", "feature_names"})
    for k in extra:  # other per-row 1-D arrays (ids, groups, split) become columns too
        if arrays[k].ndim == 1 and arrays[k].shape[0] == n:
            frame[k] = arrays[k]
    return frame


def _read_sdf(p: Path) -> pd.DataFrame:
    try:
        from rdkit import Chem, rdBase
    except ImportError as exc:  # pragma: no cover - rdkit is installed with [chem]
        raise MissingDependencyError("reading SDF needs RDKit: pip install 'deepsci[chem]'") from exc
    rows: list[dict[str, object]] = []
    with rdBase.BlockLogs():
        supplier = Chem.SDMolSupplier(str(p), sanitize=True, removeHs=True)
        for i in range(len(supplier)):
            mol = supplier[i]
            if mol is None:
                rows.append({"smiles": "", "name": f"record {i}"})
                continue
            row: dict[str, object] = {"smiles": Chem.MolToSmiles(mol),
                                      "name": mol.GetProp("_Name") if mol.HasProp("_Name") else ""}
            row.update({k: v for k, v in mol.GetPropsAsDict(includePrivate=False).items()})
            rows.append(row)
    if not rows:
        raise DataError(f"'{p}' holds no SDF records. Check that it is an SDF file ($$$$-separated).")
    frame = pd.DataFrame(rows)
    for col in frame.columns:
        if col in ("smiles", "name"):
            continue
        converted = pd.to_numeric(frame[col], errors="coerce")
        if converted.notna().sum() == frame[col].notna().sum():
            frame[col] = converted
    return frame


_READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "csv": _read_csv, "tsv": _read_tsv, "parquet": _read_parquet, "npz": _read_npz, "sdf": _read_sdf,
}
