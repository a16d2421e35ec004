"""Tables larger than memory, streamed from Parquet, .npy (or HDF5: deepsci.data.formats.hdf5_blocks) files in blocks.

With `[data] kind = "table"` and `stream = true` the rows stay on disk. A file is cut into blocks
(an .npy into runs of rows of about `BLOCK_BYTES`; a Parquet file into its row groups) and read one
block at a time, with `np.fromfile` or pyarrow, never memory-mapped (a memory map's touched pages count
toward the resident memory), so peak memory depends on the block size and not on the number of rows:

    scan    one pass: the targets (n values, held in memory), split marks and non-finite rows
    split   one uint8 part code per row (train / valid / test / calib / dropped), seeded
    fit     one pass over the training rows: column means and variances (Chan et al. 1979), the scaler
    train   `StreamedRows`: the Trainer's RowSource; an epoch visits windows of shuffled blocks, rows
            shuffled inside each window (`epoch_order`), and `take_rows` standardises a few blocks at once

An .npy source is one 2-D numeric array (n, k); its columns are named x0..x{k-1} as in an .npz's `X`
(so `target = "x49"` names the last one), or by field name for a structured array. The fitted
Preprocessor is the in-memory table's (a TableFeaturiser), so `deepsci predict` / `evaluate` and
`Run.load` read new files (Parquet, CSV, .npz with the same columns) exactly as for an in-memory run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from deepsci.data.dataset import Dataset, Split
from deepsci.data.featurisers import TableFeaturiser
from deepsci.data.formats import container_format
from deepsci.data.preprocess import Preprocessor, encode_targets, require_columns, resolve_targets
from deepsci.data.scalers import Scaler
from deepsci.data.spec import TableData
from deepsci.data.splits import DROPPED, HONOURS_MARKS, PART_CODES, TEST, TRAIN, mark_codes, split_codes
from deepsci.data.summary import DataSummary, dropped_counts, target_counts
from deepsci.errors import ConfigError, DataError
from deepsci.tasks import REGRESSION, TASKS, task_of

#: Bytes of one .npy block (the unit read from disk); a window of blocks is shuffled together.
BLOCK_BYTES = 8 * 2**20
WINDOW_BYTES = 32 * 2**20
#: A Parquet row group larger than this (decoded) is refused: it would be read whole.
MAX_BLOCK_BYTES = 512 * 2**20


# -- files read in blocks -----------------------------------------------------------------------------
class BlockTable:
    """A table on disk read one block at a time.

    Attributes:
        source: the file, for messages.
        columns: column names.
        block_rows: (blocks,) int64, rows of each block; `starts` (blocks,) their first row.
    """

    source: str
    columns: list[str]
    block_rows: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.block_rows)[:-1]]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.block_rows.sum())

    def numeric(self, block: int, names: list[str]) -> np.ndarray:  # pragma: no cover - per format
        """Columns `names` of block `block` as (rows, len(names)) float32."""
        raise NotImplementedError

    def frame(self, block: int, names: list[str]) -> pd.DataFrame:  # pragma: no cover - per format
        """Columns `names` of block `block` as a DataFrame (targets and split marks keep their type)."""
        raise NotImplementedError


class NpyTable(BlockTable):
    """A 2-D C-order .npy array read with `np.fromfile` at byte offsets (no memory map)."""

    def __init__(self, path: Path) -> None:
        self.path, self.source = path, f"'{path}'"
        with path.open("rb") as f:
            try:
                major, _ = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if major == 1
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
            except ValueError as exc:
                raise DataError(f"cannot read {self.source} as .npy: {exc}.") from exc
            self.offset = f.tell()
        if len(shape) != 2 or fortran or dtype.hasobject:
            raise DataError(f"{self.source} holds a {'Fortran-order ' if fortran else ''}{dtype} array of shape "
                            f"{shape}; streaming needs a 2-D C-order numeric array (rows, columns): save it with "
                            "np.save(path, np.ascontiguousarray(table)).")
        self.dtype, self.n_cols = dtype, (shape[1] if dtype.names is None else len(dtype.names))
        self.columns = list(dtype.names) if dtype.names else [f"x{j}" for j in range(shape[1])]
        if dtype.names is None and not np.issubdtype(dtype, np.number):
            raise DataError(f"{self.source} holds {dtype} values; streaming needs numbers.")
        self.row_bytes = dtype.itemsize * (shape[1] if dtype.names is None else 1)
        rows = max(1, BLOCK_BYTES // self.row_bytes)
        n = int(shape[0])
        self.block_rows = np.array([min(rows, n - s) for s in range(0, n, rows)], dtype=np.int64)
        self._last: tuple[int, np.ndarray] | None = None

    def _block(self, block: int) -> np.ndarray:
        """Block `block` as read from disk: (rows, k) or (rows,) records; the last one read is kept."""
        if self._last is not None and self._last[0] == block:
            return self._last[1]
        rows = int(self.block_rows[block])
        start = int(self.starts[block])
        count = rows * (self.n_cols if self.dtype.names is None else 1)
        with self.path.open("rb") as f:
            f.seek(self.offset + start * self.row_bytes)
            values = np.fromfile(f, dtype=self.dtype, count=count)
        if len(values) != count:
            raise DataError(f"{self.source} ends early (block {block} has {len(values)} of {count} values); "
                            "the file is truncated.")
        values = values.reshape(rows, -1) if self.dtype.names is None else values
        self._last = (block, values)
        return values

    def numeric(self, block: int, names: list[str]) -> np.ndarray:
        values = self._block(block)
        if self.dtype.names is None:
            return np.ascontiguousarray(values[:, [self.columns.index(c) for c in names]], dtype=np.float32)
        return np.stack([values[c].astype(np.float32) for c in names], axis=1)

    def frame(self, block: int, names: list[str]) -> pd.DataFrame:
        values = self._block(block)
        if self.dtype.names is None:
            return pd.DataFrame({c: values[:, self.columns.index(c)] for c in names})
        return pd.DataFrame({c: values[c] for c in names})


class ParquetTable(BlockTable):
    """A Parquet file read one row group at a time with pyarrow."""

    def __init__(self, path: Path) -> None:
        self.source = f"'{path}'"
        try:
            self.file = pq.ParquetFile(path)
        except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
            raise DataError(f"cannot read {self.source} as Parquet: {str(exc).splitlines()[0]}.") from exc
        meta = self.file.metadata
        self.columns = [str(c) for c in self.file.schema_arrow.names]
        self.block_rows = np.array([meta.row_group(i).num_rows for i in range(meta.num_row_groups)], dtype=np.int64)
        widest = max((meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)), default=0)
        if widest > MAX_BLOCK_BYTES:
            raise DataError(f"{self.source} has a row group of {widest / 2**20:.0f} MB; streaming reads one row group "
                            f"at a time and needs them under {MAX_BLOCK_BYTES // 2**20} MB. Rewrite it with "
                            "pyarrow.parquet.write_table(table, path, row_group_size=100_000).")

    def numeric(self, block: int, names: list[str]) -> np.ndarray:
        table = self._row_group(block, names)
        out = np.empty((table.num_rows, len(names)), dtype=np.float32)
        for j, name in enumerate(names):
            out[:, j] = table.column(name).to_numpy(zero_copy_only=False)
        return out

    def frame(self, block: int, names: list[str]) -> pd.DataFrame:
        return cast(pd.DataFrame, self._row_group(block, names).to_pandas())

    def _row_group(self, block: int, names: list[str]) -> Any:
        """Row group `block` (columns `names`) as a pyarrow Table; a DataError where the file is damaged there
        (the footer read at opening can be whole while a page in the middle is not)."""
        try:
            return self.file.read_row_group(block, columns=names)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read row group {block} of {self.source} as Parquet: "
                            f"{str(exc).splitlines()[0]}. The file is damaged there; write it again.") from None


#: block readers of container formats by format name (deepsci.data.formats.hdf5_blocks registers "hdf5"), given
#: the file and data.x (the table inside the file)
BLOCK_READERS: dict[str, Callable[[Path, Any], BlockTable]] = {}


def open_table(source: Any, member: str | int | None = None) -> BlockTable:
    """The block reader of a .npy, Parquet or HDF5 file (`member`: the table inside an HDF5 file); DataError for
    anything else."""
    if not isinstance(source, (str, Path)):
        raise ConfigError("data.stream reads a file; give data.source as the path of a .parquet or .npy file.")
    path = Path(source).expanduser()
    if not path.is_file():
        raise DataError(f"file '{path}' not found (working directory {Path.cwd()}); check data.source.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return NpyTable(path)
    if suffix in (".parquet", ".pq"):
        return ParquetTable(path)
    if container_format(path) in BLOCK_READERS:
        return BLOCK_READERS[str(container_format(path))](path, member)
    raise DataError(f"data.stream reads .parquet or .npy files; received '{path.name}'. Convert it (e.g. "
                    "pandas.read_csv(...).to_parquet(path, row_group_size=100_000)), or set stream = false.")


# -- rows of one part, streamed --------------------------------------------------------------------------
class StreamedRows:
    """The rows of one part (train, valid, ...) of a table on disk: the Trainer's RowSource.

    `take_rows(idx)` gives (len(idx), d) float32 standardised features. Blocks are read whole, reduced to
    this part's rows and standardised, then held as one tensor: the blocks of the latest batch and,
    up to `window` blocks in all, those used most recently. So the batches of one window of
    `epoch_order` read each block once, and the rows held stay within two windows whatever n is.

    Args:
        table: the file. codes: (n,) uint8 part code of each file row. part: the code of these rows.
        features: feature column names. scaler: the fitted column scaler, or None (no scaling).
        window: blocks shuffled together in an epoch.
    """

    def __init__(self, table: BlockTable, codes: np.ndarray, part: int, features: list[str],
                 scaler: Scaler | None, window: int) -> None:
        self.table, self.codes, self.part = table, codes, part
        self.features, self.scaler, self.window = features, scaler, window
        starts = table.starts
        self.counts = np.array([int(np.count_nonzero(codes[s:s + r] == part))
                                for s, r in zip(starts, table.block_rows)], dtype=np.int64)
        self.first = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)  # local row of each block
        self._scale = None if scaler is None else (scaler.mean_.float(), scaler.scale_.float())  # type: ignore[union-attr]
        self._joined = torch.zeros((0, len(features)), dtype=torch.float32)
        self._offset = np.full(len(self.counts), -1, dtype=np.int64)  # row of each held block in _joined
        self._cache: dict[int, torch.Tensor] = {}
        self._tick, self._last_use = 0, np.zeros(len(self.counts), dtype=np.int64)  # batch that last used a block

    def __len__(self) -> int:
        return int(self.counts.sum())

    def file_rows(self, block: int) -> np.ndarray:
        """(count,) int64 file rows of block `block` that belong to this part."""
        start, rows = int(self.table.starts[block]), int(self.table.block_rows[block])
        return start + np.flatnonzero(self.codes[start:start + rows] == self.part)

    def _standardised(self, block: int) -> torch.Tensor:
        """This part's rows of `block`, (count, d) float32, scaled as the in-memory table is (to float32
        rounding)."""
        if block in self._cache:
            return self._cache[block]
        values, rows = self.table.numeric(block, self.features), self.file_rows(block)
        t = torch.from_numpy(values if len(rows) == len(values) else values[rows - int(self.table.starts[block])])
        if self._scale is not None:  # in place, in float32: a block in float64 would double its memory
            t.sub_(self._scale[0]).div_(self._scale[1])
        return t

    def _join(self, blocks: np.ndarray) -> None:
        """Hold `blocks` (standardised) as one tensor, so a batch is one `index_select` (an advanced-index
        gather costs ~4x more); blocks held before are reused, not read again."""
        parts = [self._standardised(int(b)) for b in blocks]
        self._joined = torch.cat(parts) if len(parts) > 1 else parts[0]
        self._offset[:] = -1
        self._offset[blocks] = np.concatenate([[0], np.cumsum([len(p) for p in parts])[:-1]])
        self._cache = {int(b): self._joined[o:o + len(p)] for b, o, p in zip(blocks, self._offset[blocks], parts)}

    def release(self) -> None:
        """Drop the blocks held (a window of up to `window` blocks): after a pass that will not come back to them
        soon, so each part of a table does not keep its last window once it is done with."""
        self._joined = torch.zeros((0, len(self.features)), dtype=torch.float32)
        self._offset[:] = -1
        self._cache = {}

    def take_rows(self, idx: torch.Tensor | slice) -> torch.Tensor:
        """Standardised features of local rows `idx`: (len(idx), d) float32."""
        local = (np.arange(*idx.indices(len(self))) if isinstance(idx, slice)
                 else idx.detach().cpu().numpy().astype(np.int64, copy=False))
        if not len(local):
            return torch.zeros((0, len(self.features)), dtype=torch.float32)
        if local.min() < 0 or local.max() >= len(self):
            raise IndexError(f"rows {local.min()}..{local.max()} out of range for {len(self)} streamed rows")
        blocks = np.searchsorted(self.first, local, side="right") - 1
        self._tick += 1
        used = np.unique(blocks)
        self._last_use[used] = self._tick
        if (self._offset[used] < 0).any():  # a new window (or the next blocks of an evaluation pass)
            # a slice is a pass in file order (evaluation, prediction): it will not come back, keep only its blocks
            held = np.setdiff1d(np.flatnonzero(self._offset >= 0), used) if not isinstance(idx, slice) else used[:0]
            recent = held[np.argsort(-self._last_use[held], kind="stable")][:max(0, self.window - len(used))]
            self._join(np.union1d(used, recent))
        return self._joined.index_select(0, torch.from_numpy(self._offset[blocks] + local - self.first[blocks]))

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """The local rows of one epoch: blocks in random order, taken `window` at a time, rows shuffled
        within each window. (n,) int64."""
        used = torch.from_numpy(np.flatnonzero(self.counts))
        blocks = used[torch.randperm(len(used), generator=generator)].tolist()
        order = torch.empty(len(self), dtype=torch.int64)
        at = 0
        for w in range(0, len(blocks), self.window):
            local = torch.cat([torch.arange(int(self.first[b]), int(self.first[b] + self.counts[b]))
                               for b in blocks[w:w + self.window]])
            order[at:at + len(local)] = local[torch.randperm(len(local), generator=generator)]
            at += len(local)
        return order


class RowIds(Sequence[str]):
    """Row names of a streamed part, made on demand: the row number in its file, as in memory."""

    def __init__(self, rows: StreamedRows) -> None:
        self.rows = rows
        self._block: tuple[int, np.ndarray] = (-1, np.zeros(0, dtype=np.int64))  # the block named last, its rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i) + (len(self) if int(i) < 0 else 0)
        if not 0 <= i < len(self):
            raise IndexError(i)
        b = int(np.searchsorted(self.rows.first, i, side="right") - 1)
        if self._block[0] != b:  # rows are named in runs (a block's first rows, a sorted sample)
            self._block = (b, self.rows.file_rows(b))
        return str(self._block[1][i - self.rows.first[b]])

    def __iter__(self) -> Iterator[str]:
        for b in np.flatnonzero(self.rows.counts):
            yield from map(str, self.rows.file_rows(int(b)).tolist())


# -- building the Dataset -----------------------------------------------------------------------------
def build_streamed(spec: TableData, seed: int = 0) -> Dataset:
    """The Dataset of a `[data]` table with `stream = true`, its rows left on disk.

    The split is the in-memory table's (`deepsci.data.splits.split_codes` on the same rows: a split column or
    a test file is honoured, else a seeded random or stratified draw of `test_fraction` / `valid_fraction` /
    `calib_fraction`); the scaler is fitted on the training rows in one pass. Every part's X is a `StreamedRows`.
    """
    _refuse_unstreamable(spec)
    table = open_table(spec.source, spec.x)
    test_table = open_table(spec.test_source, spec.x) if spec.test_source else None
    targets, features, split_column = _columns(spec, table)
    if test_table is not None:
        absent = [c for c in features + targets if c not in test_table.columns]
        if absent:
            raise DataError(f"the test source {test_table.source} lacks column(s) {', '.join(absent[:5])} that "
                            f"{table.source} has; give both the same columns.")
    tables = [table] if test_table is None else [table, test_table]
    scans = [_scan(t, features, targets, split_column if t is table else None, spec.missing) for t in tables]
    task, y, class_names = _targets(scans, targets, spec.task, table.source)
    continuous = task_of(task).continuous
    codes, split_summary = _split(spec, scans, y, task, class_names, seed, split_column, test_table)
    n_main = len(table)
    scaler = _fit_scaler(table, codes[:n_main], features) if spec.scale_features else None
    reader = {"kind": "table", "target": spec.target or targets[0], "features": features,
              **({} if spec.x is None else {"x": spec.x})}
    if split_column:
        reader["split_column"] = split_column
    featuriser = TableFeaturiser("x", features=features, smiles_column=None, featuriser="none", morgan_radius=2,
                                 morgan_bits=2048, scale=scaler is not None)
    featuriser.state = {"feature_names": features, "fill_values": [],
                        **({} if scaler is None else {"scaler": scaler.to_dict()})}
    y_scaler = _target_scaler(y, codes) if continuous and spec.scale_targets else None
    pre = Preprocessor(reader, {"x": featuriser}, task, targets, class_names, y_scaler)
    block_bytes = max(1, int(np.median(table.block_rows)) * 4 * len(features))  # a block's rows as float32
    window = max(1, min(len(table.block_rows), WINDOW_BYTES // block_bytes))
    parts: dict[str, Split] = {}
    for name, code in PART_CODES.items():
        on_test_file = name == "test" and test_table is not None
        source, part_codes, y_part = ((test_table, codes[n_main:], y[n_main:]) if on_test_file
                                      else (table, codes[:n_main], y[:n_main]))
        rows = StreamedRows(cast(BlockTable, source), part_codes, code, features, scaler, window)
        yt = torch.from_numpy(_part_targets(y_part, part_codes, code, np.float32 if continuous else np.int64))
        if continuous:  # in slices: the scaler works in float64, 16 bytes a row at once for all rows
            for i in range(0, len(yt), 2**20):
                yt[i:i + 2**20] = pre.scale_targets(yt[i:i + 2**20])
        parts[name] = Split(X=rows, y=yt, ids=cast(list[str], RowIds(rows)))  # ids are made on demand: n may be 10^8
    n_bad = int(sum(int(s["bad"].sum()) for s in scans))
    n_rows = sum(len(s["bad"]) for s in scans)
    # the counts are of classes: a regression's n targets are not copied for them
    class_counts, label_counts = (None, None) if continuous else target_counts(task, y[codes != DROPPED], class_names)
    summary = DataSummary(
        source=table.source, kind="table", task=task, target=targets, rows_read=n_rows, rows_used=n_rows - n_bad,
        n_dropped=n_bad, dropped=dropped_counts(n_bad), split=split_summary,
        inputs={"x": {"structure": "table", "shape": [len(features)]}}, n_features=len(features), featuriser="none",
        stream={"format": type(table).__name__.removesuffix("Table").lower(), "blocks": len(table.block_rows),
                "block_rows": int(table.block_rows.max()) if len(table.block_rows) else 0, "window_blocks": window},
        class_counts=class_counts, label_counts=label_counts)
    return Dataset(train=parts["train"], valid=parts["valid"], test=parts["test"], task=task,
                   inputs=pre.inputs, preprocessor=pre, summary=summary,
                   calib=parts["calib"] if len(parts["calib"]) else None)


def _refuse_unstreamable(spec: TableData) -> None:
    """Options of an in-memory table that a stream cannot serve, refused with the way out."""
    if spec.smiles_column:
        raise ConfigError("data.stream does not featurise molecules; featurise them once (deepsci.data.molecules) "
                          "into numeric columns of a Parquet file, or set stream = false.")
    if spec.split == "scaffold":
        raise ConfigError("split = 'scaffold' needs molecules, which data.stream does not read; use 'random' or a "
                          "split_column.")
    if spec.id_column:
        raise ConfigError("data.stream names rows by their row number; remove data.id_column (or set stream = "
                          "false).")


def _columns(spec: TableData, table: BlockTable) -> tuple[list[str], list[str], str | None]:
    """(targets, features, split column) of the table, checked against its columns."""
    cols = table.columns
    targets = resolve_targets(spec.target, cols, table.source)
    split_column = spec.split_column
    features = ([str(f) for f in spec.features] if spec.features is not None
                else [c for c in cols if c not in targets and c != split_column])
    require_columns(features, cols, table.source, "features")
    if split_column:
        require_columns([split_column], cols, table.source, "split_column")
    clash = [f for f in features if f in targets]
    if clash:
        raise DataError(f"column(s) {', '.join(clash)} are both target and feature; remove them from features.")
    if not features:
        raise DataError(f"{table.source} has no feature columns besides the target; add feature columns.")
    return targets, features, split_column


def _targets(scans: list[dict[str, Any]], targets: list[str], task: str, source: str) -> tuple[str, np.ndarray,
                                                                                            list[str]]:
    """(task, y, class_names) of every row of the scanned files; dropped rows get 0, which no part uses.

    Float targets are regression (as `infer_task` decides) and are kept as one float64 array, with no
    table of n rows in between; other targets are encoded by `encode_targets`, as in memory.
    """
    bad = np.concatenate([s["bad"] for s in scans])
    parts = [p for s in scans for p in s.pop("targets")]
    declared = TASKS.get(task)  # None: "auto"
    if (declared is None or declared.continuous) and all(isinstance(p, np.ndarray) for p in parts):
        y = np.empty((len(bad), len(targets)), dtype=np.float64)
        at = 0
        while parts:  # each block's targets freed as soon as copied: n values in memory once, not twice
            part = parts.pop(0)
            y[at:at + len(part)] = part
            at += len(part)
        y[bad] = 0.0
        return REGRESSION.name, y, []
    frame = pd.concat([p if isinstance(p, pd.DataFrame) else pd.DataFrame(p, columns=targets) for p in parts],
                      ignore_index=True)
    task, y_good, class_names = encode_targets(frame[~bad], targets, task, source)
    y = np.zeros((len(bad),) + y_good.shape[1:], dtype=y_good.dtype)
    y[~bad] = y_good
    return task, y, class_names


def _scan(table: BlockTable, features: list[str], targets: list[str], split_column: str | None,
          missing: str) -> dict[str, Any]:
    """One pass: the targets (a float64 array or a DataFrame per block), the split marks ((n,) uint8 codes or None) and the rows
    with a non-finite feature or target ((n,) bool). NaN/inf raise unless missing = "drop"."""
    target_parts: list[np.ndarray | pd.DataFrame] = []
    bad = np.zeros(len(table), dtype=bool)
    marks = np.zeros(len(table), dtype=np.uint8) if split_column else None
    for b, (start, rows) in enumerate(zip(table.starts, table.block_rows)):
        x = table.numeric(b, features)
        frame = table.frame(b, targets + ([split_column] if split_column else []))
        yv = frame[targets].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        numeric_target = all(pd.api.types.is_numeric_dtype(frame[c]) for c in targets)
        bad[start:start + rows] = ~np.isfinite(x).all(1) | (~np.isfinite(yv).all(1) if numeric_target
                                                            else frame[targets].isna().any(axis=1).to_numpy())
        floats = all(pd.api.types.is_float_dtype(frame[c]) for c in targets)
        target_parts.append(frame[targets].to_numpy(np.float64) if floats else frame[targets])
        if marks is not None and split_column is not None:
            marks[start:start + rows] = mark_codes(frame[split_column], column=split_column)
    if bad.any() and missing == "error":
        rows = np.flatnonzero(bad)
        raise DataError(f"{table.source}: {len(rows)} row(s) hold NaN or inf in a feature or target (rows "
                        f"{', '.join(map(str, rows[:8]))}{', ...' if len(rows) > 8 else ''}). Fix the file, or set "
                        "missing = 'drop' to drop those rows.")
    return {"targets": target_parts, "marks": marks, "bad": bad}


def _split(spec: TableData, scans: list[dict[str, Any]], y: np.ndarray, task: str, class_names: list[str],
           seed: int, split_column: str | None, test_table: BlockTable | None) -> tuple[np.ndarray, dict[str, Any]]:
    """(n,) uint8 part code of every row of the main file (then of the test file), and the split summary.

    The usable rows go through `split_codes` exactly as the in-memory table's do (a test file's rows are
    marked test after the main file's, as `concat_raw` marks them), so both split a file alike.
    """
    bad = np.concatenate([s["bad"] for s in scans])
    marks, given = None, ""
    if test_table is not None:
        marks = np.full(len(bad), TRAIN, dtype=np.uint8)
        marks[len(scans[0]["bad"]):] = TEST
        given = f"test source {test_table.source}"
    elif scans[0]["marks"] is not None and spec.split in HONOURS_MARKS:
        marks, given = scans[0]["marks"], f"column '{split_column}'"
    keep = slice(None) if not bad.any() else ~bad  # a slice: no copies of n labels when every row is usable
    # stratified by the class names, as in memory (sklearn orders the classes by their labels' sort order)
    labels = np.asarray(class_names, dtype=object)[y[keep]] if task_of(task).exclusive else None
    sub, summary = split_codes(int(np.count_nonzero(~bad)), method=spec.split, test_fraction=spec.test_fraction,
                               valid_fraction=spec.valid_fraction, calib_fraction=spec.calib_fraction,
                               train_fraction=spec.train_fraction, seed=seed,
                               labels=labels, marks=None if marks is None else marks[keep], given=given,
                               column=split_column)
    codes = np.full(len(bad), DROPPED, dtype=np.uint8)
    codes[keep] = sub
    return codes, summary


def _part_targets(y: np.ndarray, codes: np.ndarray, code: int, dtype: Any, rows: int = 2**20) -> np.ndarray:
    """y[codes == code] as `dtype`, copied `rows` at a time: the whole selection in y's float64 first would hold
    8 bytes a row of the part on top of y."""
    out = np.empty((int(np.count_nonzero(codes == code)), *y.shape[1:]), dtype=dtype)
    at = 0
    for i in range(0, len(y), rows):
        chunk = y[i:i + rows][codes[i:i + rows] == code]
        out[at:at + len(chunk)] = chunk
        at += len(chunk)
    return out


def _fit_scaler(table: BlockTable, codes: np.ndarray, features: list[str]) -> Scaler:
    """The column scaler of the training rows, fitted in one pass over the blocks (`_merged_scaler`); a block
    without training rows is not read."""
    keeps = ((b, codes[start:start + rows] == TRAIN) for b, (start, rows) in enumerate(zip(table.starts,
                                                                                           table.block_rows)))
    return _merged_scaler((table.numeric(b, features)[keep] for b, keep in keeps if keep.any()), len(features))


def _target_scaler(y: np.ndarray, codes: np.ndarray, rows: int = 2**20) -> Scaler:
    """The target scaler of the training rows of y (n, t), `rows` at a time: Scaler.fit on y[codes == TRAIN]
    would copy the training targets and square them in float64 at once (about 0.5 GB for 20 million rows)."""
    return _merged_scaler((y[i:i + rows][codes[i:i + rows] == TRAIN] for i in range(0, len(y), rows)), y.shape[1])


def _merged_scaler(chunks: Iterator[np.ndarray], width: int) -> Scaler:
    """The column scaler of rows given in chunks ((m, width) each), their moments merged in float64.

    Chan, Golub & LeVeque's (1979) pairwise update, so the mean and population standard deviation equal a
    scaler fitted on all the rows at once (to rounding).
    """
    count, mean, m2 = 0, np.zeros(width), np.zeros(width)
    for chunk in chunks:
        if not len(chunk):
            continue
        x = chunk.astype(np.float64)
        k, mu = len(x), x.mean(0)
        delta = mu - mean
        total = count + k
        mean = mean + delta * (k / total)
        m2 = m2 + ((x - mu) ** 2).sum(0) + delta ** 2 * (count * k / total)
        count = total
    std = np.sqrt(m2 / count)
    # As Scaler.fit: a constant column keeps scale 1 (it maps to 0) instead of being divided by ~0.
    tiny = std <= 1e-12 * np.maximum(np.abs(mean), 1.0)
    return Scaler.from_dict({"mean": mean.tolist(), "scale": np.where(tiny, 1.0, std).tolist()})
