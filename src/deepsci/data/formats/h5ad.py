"""AnnData files (.h5ad): single-cell matrices, cells × genes, with per-cell annotations (`obs`).

An .h5ad file is HDF5 laid out by anndata's published on-disk specification ("encoding-type" attributes on
every element): `X` is a dense dataset or a sparse group (`csr_matrix`/`csc_matrix`: data, indices, indptr and a
`shape` attribute), `var/_index` names the genes, and `obs` is a dataframe group (`_index`, `column-order`;
numeric columns as datasets, `categorical` columns as groups of `categories` and `codes`, with -1 for missing).
deepsci reads it with h5py by that specification rather than with the anndata package, because anndata
(0.12) requires pandas < 3 and installing it would downgrade pandas for every user of deepsci; the reader is
checked against a file written by anndata 0.12.19 (examples/formats/cells.h5ad).

As a table, a row is a cell: one column per gene (named by `var/_index`) and one per `obs` column, so
`target` names an obs column (a cell type, a condition) and `features` may restrict the genes. `data.x` may
name another matrix of the same cells instead of `X`, such as a layer (`x = "layers/counts"`). In memory the
matrix is made dense (cells × genes × 4 bytes of float32); with `stream = true` a CSR matrix is read one block
of cells at a time and made dense only for that block, so the sparse matrix never is dense as a whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepsci.data.formats.hdf5 import open_file, plain_column
from deepsci.data.formats.library import require, unreadable
from deepsci.errors import DataError

FORMAT = "AnnData (.h5ad)"
SPARSE = ("csr_matrix", "csc_matrix")


def _encoding(obj: Any) -> str:
    value = obj.attrs.get("encoding-type", "")
    return value.decode() if isinstance(value, bytes) else str(value)


def _matrix(path: Path, f: Any, member: str | int | None) -> Any:
    """The cells × genes matrix element (`X`, or the one `member` names) of an open file."""
    name = "X" if member is None else str(member).strip("/")
    if name not in f:
        layers = [f"layers/{k}" for k in f["layers"]] if "layers" in f else []
        raise DataError(f"'{path}' has no matrix '{name}'; it holds: {', '.join(['X', *layers])}. Set data.x to "
                        "one of them.")
    return f[name]


def _matrix_shape(obj: Any) -> tuple[int, int]:
    h5py = require("h5py", "AnnData files")
    if isinstance(obj, h5py.Dataset):
        return int(obj.shape[0]), int(obj.shape[1])
    return int(obj.attrs["shape"][0]), int(obj.attrs["shape"][1])


def _dense_rows(path: Path, obj: Any, start: int, stop: int) -> np.ndarray:
    """Rows start:stop of a dense or CSR matrix element as (stop - start, genes) float32; a CSC matrix is read
    whole (its rows are not contiguous on disk)."""
    h5py = require("h5py", "AnnData files")
    if isinstance(obj, h5py.Dataset):
        return np.asarray(obj[start:stop], dtype=np.float32)
    encoding, (_, genes) = _encoding(obj), _matrix_shape(obj)
    if encoding not in SPARSE:
        raise DataError(f"the matrix '{obj.name}' of '{path}' has encoding '{encoding}'; deepsci reads dense, "
                        "csr_matrix and csc_matrix. Save it with anndata's write_h5ad.")
    if encoding == "csc_matrix":
        return _csc_dense(obj, genes)[start:stop]
    indptr = np.asarray(obj["indptr"][start:stop + 1], dtype=np.int64)
    data = np.asarray(obj["data"][indptr[0]:indptr[-1]], dtype=np.float32)
    indices = np.asarray(obj["indices"][indptr[0]:indptr[-1]], dtype=np.int64)
    dense = np.zeros((stop - start, genes), dtype=np.float32)
    rows = np.repeat(np.arange(stop - start), np.diff(indptr))
    dense[rows, indices] = data
    return dense


def _csc_dense(obj: Any, genes: int) -> np.ndarray:
    cells = _matrix_shape(obj)[0]
    indptr = np.asarray(obj["indptr"][()], dtype=np.int64)
    dense = np.zeros((cells, genes), dtype=np.float32)
    columns = np.repeat(np.arange(genes), np.diff(indptr))
    dense[np.asarray(obj["indices"][()], dtype=np.int64), columns] = np.asarray(obj["data"][()], dtype=np.float32)
    return dense


def _strings(dataset: Any) -> np.ndarray:
    return plain_column(np.asarray(dataset[()]))


def _gene_names(f: Any, genes: int) -> list[str]:
    if "var" in f and "_index" in f["var"].attrs:
        return [str(g) for g in _strings(f["var"][str(f["var"].attrs["_index"])])]
    return [f"gene{j}" for j in range(genes)]


def _obs_column(obj: Any, start: int, stop: int) -> np.ndarray:
    """Cells start:stop of one obs column: categorical codes as their category names (None where missing)."""
    if _encoding(obj) == "categorical":
        categories = _strings(obj["categories"])
        codes = np.asarray(obj["codes"][start:stop], dtype=np.int64)
        return np.array([categories[c] if c >= 0 else None for c in codes], dtype=object)
    return plain_column(np.asarray(obj[start:stop]))


def _obs_names(f: Any) -> list[str]:
    if "obs" not in f:
        return []
    order = f["obs"].attrs.get("column-order", [])
    return [c.decode() if isinstance(c, bytes) else str(c) for c in order]


class Cells:
    """The cells of an .h5ad file as table rows: a column per gene of the matrix, then the obs columns.

    Attributes:
        columns: gene names (`var/_index`), then obs column names. cells: rows of the matrix.
        encoding: the matrix's anndata encoding ("array", "csr_matrix", "csc_matrix").
    """

    def __init__(self, path: Path, member: str | int | None = None) -> None:
        self.path, self.member = path, member
        with open_file(path) as f:
            try:
                matrix = _matrix(path, f, member)
                self.cells, genes = _matrix_shape(matrix)
                self.encoding = _encoding(matrix)
                self.genes = _gene_names(f, genes)
                obs = _obs_names(f)
            except DataError:
                raise
            except Exception as exc:  # a truncated file, or a layout that is not anndata's
                raise unreadable(path, FORMAT, exc) from None
        clash = sorted(set(self.genes) & set(obs))
        if clash:
            raise DataError(f"'{path}' has obs column(s) named like genes: {', '.join(clash[:5])}. Rename them in obs "
                            "(adata.obs.rename(columns=...)) so each table column has one meaning.")
        self.columns = [*self.genes, *obs]
        self.gene_index = {g: j for j, g in enumerate(self.genes)}

    def read(self, start: int, stop: int, names: list[str]) -> dict[str, np.ndarray]:
        """Columns `names` of cells start:stop: the matrix made dense for these cells only."""
        with open_file(self.path) as f:
            try:
                genes = [n for n in names if n in self.gene_index]
                values: dict[str, np.ndarray] = {}
                if genes:
                    dense = _dense_rows(self.path, _matrix(self.path, f, self.member), start, stop)
                    values.update({g: dense[:, self.gene_index[g]] for g in genes})
                values.update({n: _obs_column(f["obs"][n], start, stop) for n in names if n not in self.gene_index})
                return {n: values[n] for n in names}
            except DataError:
                raise
            except Exception as exc:
                raise unreadable(self.path, FORMAT, exc) from None


def read_table(path: Path, member: str | int | None = None) -> pd.DataFrame:
    """Every cell of the file as one row: a column per gene of `X` (or of the matrix `member` names), then the obs
    columns (categories as their names). DataError (one line) for a file h5py cannot read, or no such matrix."""
    cells = Cells(path, member)
    return pd.DataFrame(cells.read(0, cells.cells, cells.columns))
