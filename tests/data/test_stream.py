"""Streamed tables (data.stream): the same parts, rows and scaling as the in-memory table, read in blocks.

The oracle is the in-memory path (deepsci.data.build) on the same file: a streamed Dataset must split
the same rows and standardise them the same way, whatever the block size.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from deepsci.data import stream
from deepsci.data.build import build_dataset
from deepsci.data.preprocess import Preprocessor
from deepsci.errors import ConfigError, DataError

N, D = 3000, 5
SPEC = {"kind": "table", "task": "auto", "split": "auto", "test_fraction": 0.2, "valid_fraction": 0.1,
        "calib_fraction": 0.0, "missing": "error", "featuriser": "none", "scale_features": True,
        "scale_targets": True, "morgan_radius": 2, "morgan_bits": 2048}


def _frame(seed: int = 0, classes: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)) * np.arange(1, D + 1) + np.arange(D)
    y = x @ rng.normal(size=D)
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"x{j}" for j in range(D)])
    frame["y"] = (y > np.median(y)).astype(np.int64) + (y > np.quantile(y, 0.8)) if classes else y.astype(np.float32)
    return frame


def _parquet(path: Path, frame: pd.DataFrame, row_group: int = 400) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group)
    return path


def _both(spec: dict, tmp_path: Path, frame: pd.DataFrame, seed: int = 3, row_group: int = 400):
    """(streamed, in-memory) Datasets of the same Parquet file and spec."""
    path = _parquet(tmp_path / "t.parquet", frame, row_group)
    full = {**SPEC, "source": str(path), **spec}
    return build_dataset({**full, "stream": True}, seed=seed), build_dataset(full, seed=seed)


def _same(streamed, memory) -> None:
    for part in ("train", "valid", "test", "calib"):
        s, m = getattr(streamed, part), getattr(memory, part)
        if m is None or len(m) == 0:
            assert s is None or len(s) == 0, part
            continue
        assert len(s) == len(m), part
        assert list(s.ids) == list(m.ids), part  # the same rows, in file order
        torch.testing.assert_close(s.X.take_rows(slice(0, None)), m.X, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(s.y, m.y, atol=1e-6, rtol=1e-6)
    ss, ms = (d.preprocessor.featurisers["x"].x_scaler for d in (streamed, memory))
    torch.testing.assert_close(ss.mean_, ms.mean_, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(ss.scale_, ms.scale_, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("spec, classes", [
    ({"target": "y"}, False),                                        # random
    ({"target": "y", "calib_fraction": 0.2}, False),                 # calib carved from train
    ({"target": "y"}, True),                                         # stratified (classification)
])
def test_a_streamed_parquet_splits_and_scales_as_in_memory(tmp_path, spec, classes):
    streamed, memory = _both(spec, tmp_path, _frame(classes=classes))
    assert streamed.summary.split == memory.summary.split
    assert streamed.task == memory.task and streamed.class_names == memory.class_names
    _same(streamed, memory)
    assert streamed.summary.stream["blocks"] == N // 400 + 1


def test_a_split_column_is_honoured_and_valid_carved_as_in_memory(tmp_path):
    frame = _frame()
    frame["part"] = np.where(np.arange(N) % 5 == 0, "test", "train")
    streamed, memory = _both({"target": "y", "split_column": "part"}, tmp_path, frame)
    assert streamed.summary.split["method"] == "column" and len(streamed.test) == N // 5
    assert "part" not in streamed.feature_names
    _same(streamed, memory)


def test_a_test_source_gives_the_test_rows(tmp_path):
    frame = _frame()
    _parquet(tmp_path / "test.parquet", _frame(seed=1).iloc[:300])
    streamed, memory = _both({"target": "y", "test_source": str(tmp_path / "test.parquet")}, tmp_path, frame)
    assert len(streamed.test) == 300 and streamed.summary.split["method"] == "given"
    assert list(streamed.test.ids)[:2] == ["0", "1"]  # rows of the test file, named as in memory
    _same(streamed, memory)


def test_an_npy_in_many_blocks_matches_the_in_memory_table(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "BLOCK_BYTES", 4096)  # 170 rows a block: batches cross blocks
    frame = _frame()
    np.save(tmp_path / "t.npy", np.ascontiguousarray(frame.to_numpy(np.float32)))
    spec = {**SPEC, "target": f"x{D}"}
    streamed = build_dataset({**spec, "source": str(tmp_path / "t.npy"), "stream": True}, seed=3)
    memory = build_dataset({**spec, "source": frame.set_axis([f"x{j}" for j in range(D + 1)], axis=1)}, seed=3)
    assert streamed.summary.stream["blocks"] == -(-N // (4096 // (4 * (D + 1))))
    _same(streamed, memory)


def test_an_epoch_visits_every_row_once_by_shuffled_windows_of_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "BLOCK_BYTES", 4096)
    monkeypatch.setattr(stream, "WINDOW_BYTES", 3 * 4096)
    np.save(tmp_path / "t.npy", np.ascontiguousarray(_frame().to_numpy(np.float32)))
    data = build_dataset({**SPEC, "target": f"x{D}", "source": str(tmp_path / "t.npy"), "stream": True})
    rows = data.train.X
    order = rows.epoch_order(torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(len(rows)))
    assert torch.equal(order, rows.epoch_order(torch.Generator().manual_seed(0)))  # seeded
    assert not torch.equal(order, rows.epoch_order(torch.Generator().manual_seed(1)))
    blocks = np.searchsorted(rows.first, order.numpy(), side="right") - 1
    per_window = rows.window * int(rows.counts.max())
    first_window = set(blocks[:int(rows.counts[blocks[0]])].tolist())
    assert 1 < len(first_window) <= rows.window  # rows of a window mix a few blocks, no more
    held, reads = 0, []
    read = rows.table.numeric
    monkeypatch.setattr(rows.table, "numeric", lambda b, names: (reads.append(b), read(b, names))[1])
    for i in range(0, len(order), 64):  # memory held stays two windows at most, whatever n
        rows.take_rows(order[i:i + 64])
        held = max(held, len(rows._joined))
    assert held <= 2 * per_window
    assert sorted(reads) == sorted(np.flatnonzero(rows.counts).tolist())  # each block read once an epoch


def test_training_on_a_stream_equals_training_in_memory_within_one_block(tmp_path):
    """One block: the streamed epoch order is the in-memory permutation, so the weights agree."""
    from deepsci.models import MLP
    from deepsci.training import Trainer, get_loss

    streamed, memory = _both({"target": "y"}, tmp_path, _frame(), seed=0, row_group=N)
    weights = []
    for data in (streamed, memory):
        torch.manual_seed(0)
        model = MLP(D, 1, (8,))
        Trainer(model, loss=get_loss(None, "regression"), batch_size=256, epochs=2, seed=0).fit(data.train.X,
                                                                                                 data.train.y)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.equal(weights[0], torch.cat([p.detach().flatten() for p in MLP(D, 1, (8,)).parameters()]))
    torch.testing.assert_close(weights[0], weights[1], atol=1e-5, rtol=1e-5)


def test_nan_rows_raise_or_are_dropped_and_counted(tmp_path):
    frame = _frame()
    frame.loc[[7, 1500], "x2"] = np.nan
    path = _parquet(tmp_path / "t.parquet", frame)
    spec = {**SPEC, "source": str(path), "target": "y", "stream": True}
    with pytest.raises(DataError, match=r"2 row\(s\) hold NaN.*rows 7, 1500.*missing = 'drop'"):
        build_dataset(spec)
    data = build_dataset({**spec, "missing": "drop"})
    assert data.summary.n_dropped == 2 and data.summary.rows_used == N - 2
    ids = {i for part in ("train", "valid", "test") for i in getattr(data, part).ids}
    assert len(ids) == N - 2 and "7" not in ids and "1500" not in ids


@pytest.mark.parametrize("change, error, message", [
    ({"source": "t.csv"}, DataError, "reads .parquet or .npy"),
    ({"target": "nope"}, DataError, "target column.*nope.*not in"),
    ({"smiles_column": "s"}, ConfigError, "does not featurise molecules"),
    ({"split": "column"}, DataError, "needs data.split_column"),
])
def test_what_a_stream_cannot_do_is_refused_with_the_fix(tmp_path, change, error, message):
    frame = _frame()
    _parquet(tmp_path / "t.parquet", frame)
    frame.to_csv(tmp_path / "t.csv", index=False)
    spec = {**SPEC, "source": str(tmp_path / "t.parquet"), "target": "y", "stream": True, **change}
    spec["source"] = str(tmp_path / Path(spec["source"]).name)
    with pytest.raises(error, match=message):
        build_dataset(spec)


def test_the_run_preprocessor_reads_new_files_as_an_in_memory_run(tmp_path):
    """The saved Preprocessor is the table's own: it round-trips through JSON and transforms a new file
    to the rows the stream gave."""
    streamed, _ = _both({"target": "y"}, tmp_path, _frame())
    pre = Preprocessor.from_dict(streamed.preprocessor.to_dict())
    raw = pre.read(tmp_path / "t.parquet")
    X, ids, skipped = pre.transform(raw)
    rows = [int(i) for i in streamed.test.ids]
    torch.testing.assert_close(X[rows], streamed.test.X.take_rows(slice(0, None)))
    assert not skipped


@pytest.mark.slow
def test_the_scale_benchmark_runs_on_a_small_table(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
    try:
        import scale
    finally:
        sys.path.pop(0)
    result = scale.main(["--rows", "200000", "--slice", "20000", "--dir", str(tmp_path), "--out",
                         str(tmp_path / "scale.json")])
    out = capsys.readouterr().out
    assert "rows/s" in out and "peak resident memory" in out
    assert result["train_rows"] == 180_000 and result["rows_per_second"] > 0
    assert not list(tmp_path.glob("deepsci-scale-*"))  # the table is removed


def test_the_target_scaler_fitted_in_slices_equals_scaler_fit():
    from deepsci.data.scalers import Scaler
    from deepsci.data.splits import TEST, TRAIN

    rng = np.random.default_rng(0)
    y = rng.normal(3.0, 2.0, size=(10_000, 2)) + 1e4  # an offset: slices merged by their moments, not raw sums
    y[:, 1] = 7.0  # a constant column keeps scale 1, as Scaler.fit keeps it
    codes = np.where(rng.random(len(y)) < 0.7, TRAIN, TEST).astype(np.uint8)
    got, want = stream._target_scaler(y, codes, rows=777), Scaler().fit(y[codes == TRAIN])
    torch.testing.assert_close(got.mean_, want.mean_, rtol=1e-12, atol=0)
    torch.testing.assert_close(got.scale_, want.scale_, rtol=1e-9, atol=0)
