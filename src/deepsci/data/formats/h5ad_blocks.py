"""An AnnData (.h5ad) file streamed in blocks of cells (`stream = true`): the BlockTable of deepsci.data.stream.

Each block reads the CSR rows of its cells (a slice of `indptr`, then of `data` and `indices`) and makes only
those rows dense, so a sparse matrix larger than memory as a dense one trains like a streamed Parquet table.
Importing this module registers the reader in `deepsci.data.stream.BLOCK_READERS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepsci.data import stream
from deepsci.data.formats.h5ad import Cells
from deepsci.data.stream import BLOCK_READERS, BlockTable
from deepsci.errors import DataError


class H5adTable(BlockTable):
    """The cells of an .h5ad file (genes, then obs columns) read about `BLOCK_BYTES` of dense rows at a time."""

    def __init__(self, path: Path, member: str | int | None = None) -> None:
        self.cells, self.source = Cells(path, member), f"'{path}'"
        if self.cells.encoding == "csc_matrix":  # its rows are scattered over the file: a block would read it all
            raise DataError(f"'{path}' holds its matrix by columns (csc_matrix); stream = true reads cells in blocks, "
                            "which needs rows (csr_matrix) or a dense matrix. Convert it once: adata.X = "
                            "adata.X.tocsr(); adata.write_h5ad(path); or set stream = false.")
        self.columns = self.cells.columns
        n = self.cells.cells
        rows = max(1, stream.BLOCK_BYTES // max(4 * len(self.cells.genes), 1))  # read at use: tests set smaller
        self.block_rows = np.array([min(rows, n - s) for s in range(0, n, rows)], dtype=np.int64)

    def _read(self, block: int, names: list[str]) -> dict[str, np.ndarray]:
        start = int(self.starts[block])
        return self.cells.read(start, start + int(self.block_rows[block]), names)

    def numeric(self, block: int, names: list[str]) -> np.ndarray:
        columns = self._read(block, names)
        return np.stack([np.asarray(columns[n], dtype=np.float32) for n in names], axis=1)

    def frame(self, block: int, names: list[str]) -> pd.DataFrame:
        return pd.DataFrame(self._read(block, names))


def _open_h5ad(path: Path, member: Any) -> BlockTable:
    return H5adTable(path, member)


BLOCK_READERS["h5ad"] = _open_h5ad
