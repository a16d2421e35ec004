"""An HDF5 table streamed in blocks of rows (`stream = true`): the BlockTable of deepsci.data.stream for HDF5.

A slice of an HDF5 dataset reads only the chunks it covers, so each block of about `BLOCK_BYTES` is read on
its own with h5py and peak memory does not grow with the number of rows, as for a streamed Parquet file.
A compound dataset is read field by field (`Dataset.fields`); a group of 1-D datasets one dataset per column.
Importing this module registers the reader in `deepsci.data.stream.BLOCK_READERS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepsci.data.formats.hdf5 import absolute, column_names, only_table, open_file, plain_column
from deepsci.data.formats.library import unreadable
from deepsci.data import stream
from deepsci.data.stream import BLOCK_READERS, BlockTable
from deepsci.errors import DataError


class HDF5Table(BlockTable):
    """The table at `member` (or the file's only table) of an HDF5 file, read in runs of rows."""

    def __init__(self, path: Path, member: str | int | None = None) -> None:
        self.path, self.source = path, f"'{path}'"
        with open_file(path) as f:
            self.name = absolute(str(member)) if member is not None else only_table(path, f)
            if self.name not in f:
                raise DataError(f"'{path}' has no HDF5 object '{self.name}'. Set data.x to the table's path.")
            obj = f[self.name]
            self.compound = getattr(obj, "dtype", None) is not None and obj.dtype.names is not None
            if self.compound:
                self.columns = [str(c) for c in obj.dtype.names]
                n, row_bytes = int(obj.shape[0]), int(obj.dtype.itemsize)
            else:
                self.columns = column_names(obj)
                if not self.columns or any(obj[c].ndim != 1 for c in self.columns):
                    raise DataError(f"'{self.name}' in '{path}' is not a table of 1-D columns; streaming reads a "
                                    "compound dataset or a group of 1-D datasets of one length.")
                n = int(obj[self.columns[0]].shape[0])
                row_bytes = sum(int(obj[c].dtype.itemsize) for c in self.columns)
        rows = max(1, stream.BLOCK_BYTES // max(row_bytes, 1))  # read at use: a test may set smaller blocks
        self.block_rows = np.array([min(rows, n - s) for s in range(0, n, rows)], dtype=np.int64)

    def _read(self, block: int, names: list[str]) -> dict[str, np.ndarray]:
        """Columns `names` of block `block`, as read from disk."""
        start = int(self.starts[block])
        stop = start + int(self.block_rows[block])
        with open_file(self.path) as f:
            try:
                obj = f[self.name]
                if self.compound:
                    records = obj.fields(names)[start:stop] if len(names) > 1 else None
                    return ({c: records[c] for c in names} if records is not None
                            else {names[0]: obj.fields(names[0])[start:stop]})
                return {c: obj[c][start:stop] for c in names}
            except Exception as exc:  # a truncated file: the block's chunks are not there
                raise unreadable(self.path, "HDF5", exc) from None

    def numeric(self, block: int, names: list[str]) -> np.ndarray:
        columns = self._read(block, names)
        return np.stack([np.asarray(columns[c], dtype=np.float32) for c in names], axis=1)

    def frame(self, block: int, names: list[str]) -> pd.DataFrame:
        return pd.DataFrame({c: plain_column(v) for c, v in self._read(block, names).items()})


def _open_hdf5(path: Path, member: Any) -> BlockTable:
    return HDF5Table(path, member)


BLOCK_READERS["hdf5"] = _open_hdf5
