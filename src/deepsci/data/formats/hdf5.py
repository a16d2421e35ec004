"""HDF5 files (.h5, .hdf5) through h5py: datasets named by their path inside the file.

A table is a compound dataset (one field per column) or a group of 1-D datasets of one length (one per
column; an (n, k) dataset gives columns name[0] .. name[k-1]). Arrays (images, signals, padded sets) are
datasets named by path: `x = "/events/features"`, `target = "/events/label"`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepsci.data.formats.library import require, unreadable
from deepsci.errors import DataError

FORMAT = "HDF5"


def open_file(path: Path) -> Any:
    h5py = require("h5py", "HDF5 files")
    try:
        return h5py.File(path, "r")
    except Exception as exc:  # h5py raises OSError, and others for damaged superblocks
        raise unreadable(path, FORMAT, exc) from None


def absolute(name: str) -> str:
    """An HDF5 path written with or without its leading slash, as the absolute path ("/events/x")."""
    return "/" + str(name).strip().lstrip("/")


class PathArrays(dict[str, np.ndarray]):
    """Arrays keyed by absolute HDF5 path; "events/x" and "/events/x" name the same one."""

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, absolute(key))

    def __missing__(self, key: str) -> np.ndarray:
        if key != absolute(key) and absolute(key) in self:
            return dict.__getitem__(self, absolute(key))
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[key] if key in self else default


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every numeric (non-compound) dataset of the file, keyed by its absolute path ("/events/features")."""
    arrays = PathArrays()
    with open_file(path) as f:
        try:
            for name, dataset in _datasets(f):
                if dataset.dtype.names is None and dataset.dtype.kind in "biuf":
                    arrays[absolute(name)] = np.asarray(dataset[()])
        except DataError:
            raise
        except Exception as exc:  # a truncated file opens, then fails when the data is read
            raise unreadable(path, FORMAT, exc) from None
    if not arrays:
        raise DataError(f"'{path}' holds no numeric HDF5 dataset. Write the inputs as numeric datasets (h5py: "
                        "f.create_dataset('x', data=X)).")
    return arrays


def read_table(path: Path, member: str | int | None = None) -> pd.DataFrame:
    """The table at `member` (a compound dataset, or a group of 1-D datasets), or the file's only table.

    Raises DataError (one line): no such path, a path that is not a table, several tables and none chosen,
    or a file h5py cannot read.
    """
    with open_file(path) as f:
        try:
            if member is None:
                member = only_table(path, f)
            name = absolute(str(member))
            if name not in f:
                raise DataError(f"'{path}' has no HDF5 object '{name}'; its tables are: "
                                f"{', '.join(_tables(f)) or 'none'}. Set data.x to one of them.")
            return _frame(path, f[name])
        except DataError:
            raise
        except Exception as exc:
            raise unreadable(path, FORMAT, exc) from None


def _datasets(f: Any) -> list[tuple[str, Any]]:
    h5py = require("h5py", "HDF5 files")
    found: list[tuple[str, Any]] = []
    f.visititems(lambda name, obj: found.append((name, obj)) if isinstance(obj, h5py.Dataset) else None)
    return found


def _tables(f: Any) -> list[str]:
    """Absolute paths of the file's tables: compound datasets and groups whose datasets are all 1-D/2-D of one
    length."""
    h5py = require("h5py", "HDF5 files")
    found: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset) and obj.dtype.names is not None and obj.ndim == 1:
            found.append(absolute(name))
        elif isinstance(obj, h5py.Group) and column_names(obj):
            found.append(absolute(name))

    if column_names(f):
        found.append("/")
    f.visititems(visit)
    return found


def column_names(group: Any) -> list[str]:
    """The names of a group's datasets if they form a table (all 1-D or 2-D, one common length), else []."""
    h5py = require("h5py", "HDF5 files")
    members = [(k, v) for k, v in group.items() if isinstance(v, h5py.Dataset)]
    if not members or any(v.ndim not in (1, 2) or v.dtype.names is not None for _, v in members):
        return []
    return [k for k, _ in members] if len({v.shape[0] for _, v in members}) == 1 else []


def only_table(path: Path, f: Any) -> str:
    tables = _tables(f)
    if len(tables) != 1:
        listed = ", ".join(tables[:10]) or "none"
        raise DataError(f"'{path}' holds {len(tables)} HDF5 tables ({listed}); set data.x to the path of the one to "
                        "read (a compound dataset, or a group of 1-D datasets of one length).")
    return tables[0]


def _frame(path: Path, obj: Any) -> pd.DataFrame:
    h5py = require("h5py", "HDF5 files")
    if isinstance(obj, h5py.Dataset):
        if obj.dtype.names is None or obj.ndim != 1:
            raise DataError(f"'{obj.name}' in '{path}' is a dataset of shape {obj.shape}, not a table. Give a compound "
                            "dataset or a group of 1-D datasets as data.x, or read arrays with data.kind = 'image' or "
                            "'signal'.")
        records = obj[()]
        return pd.DataFrame({field: plain_column(records[field]) for field in obj.dtype.names})
    names = column_names(obj)
    if not names:
        raise DataError(f"group '{obj.name}' in '{path}' is not a table: its datasets must all be 1-D (or 2-D) of one "
                        "length, one per column.")
    columns: dict[str, np.ndarray] = {}
    for name in names:
        values = obj[name][()]
        if values.ndim == 1:
            columns[name] = plain_column(values)
        else:
            columns.update({f"{name}[{j}]": plain_column(values[:, j]) for j in range(values.shape[1])})
    return pd.DataFrame(columns)


def plain_column(values: np.ndarray) -> np.ndarray:
    """A column as pandas wants it: byte strings decoded as UTF-8 text."""
    if values.dtype.kind == "S" or values.dtype.kind == "O":
        return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=object)
    return values
