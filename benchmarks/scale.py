"""Data larger than memory: one epoch on a 20,000,000 x 50 float32 table (4 GB .npy) in bounded memory.

Writes the table (49 features x0..x48, target x49 = a fixed linear map of the features plus noise) in
chunks, builds the streamed Dataset (`[data] stream = true`: one pass for targets and checks, one to fit
the scaler) and trains one epoch of an MLP 2x64 (ReLU, Adam, batch 1024) through the Trainer, printing
rows/s and the process's peak resident memory (getrusage). It then compares rows/s with the in-memory
path on the first 1,000,000 rows (the same slice streamed and held in memory), and writes
benchmarks/results/scale.json.

    .venv/bin/python benchmarks/scale.py                         # 20 M rows: 4 GB written, ~12 GB read
    .venv/bin/python benchmarks/scale.py --rows 200000 --slice 50000 --dir /tmp/x   # a quick check

The table goes to --dir (default: whichever of /tmp and /work has more free space) and is deleted at
the end unless --keep. The peak is measured before the in-memory comparison runs.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deepsci.data.build import build_dataset, load_dataset
from deepsci.data.dataset import Dataset
from deepsci.models import MLP
from deepsci.training import Trainer, get_loss

CHUNK_ROWS = 250_000


def write_table(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """A (rows, cols) float32 .npy written chunk by chunk (never whole in memory, never memory-mapped)."""
    weights = np.random.default_rng(seed).normal(size=cols - 1) / np.sqrt(cols - 1)
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (rows, cols)})
        for start in range(0, rows, CHUNK_ROWS):
            rng = np.random.default_rng([seed, start])
            x = rng.normal(size=(min(CHUNK_ROWS, rows - start), cols - 1))
            y = np.tanh(x @ weights) + 0.1 * rng.normal(size=len(x))
            np.column_stack([x, y]).astype(np.float32).tofile(f)


def stream_spec(path: Path, cols: int) -> dict[str, Any]:
    """The `[data]` section of a streamed table (what a TOML with stream = true resolves to)."""
    return {"kind": "table", "source": str(path), "target": f"x{cols - 1}", "task": "regression", "split": "random",
            "test_fraction": 0.1, "valid_fraction": 0.0, "calib_fraction": 0.0, "missing": "error",
            "scale_features": True, "scale_targets": True, "stream": True}


def one_epoch(dataset: Dataset, batch_size: int, seed: int = 0) -> float:
    """Seconds for one training epoch of an MLP 2x64 on the dataset's training part (with the progress
    display: lines on stderr at least every 30 s off a terminal)."""
    torch.manual_seed(seed)
    model = MLP(len(dataset.feature_names), 1, (64, 64))
    trainer = Trainer(model, loss=get_loss(None, "regression"), optimizer="adam", lr=1e-3, batch_size=batch_size,
                      epochs=1, seed=seed, progress=True)
    start = time.perf_counter()
    trainer.fit(dataset.train.X, dataset.train.y)
    return time.perf_counter() - start


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_dir() -> Path:
    """Whichever of /tmp and /work has more free space."""
    candidates = [Path(p) for p in ("/tmp", "/work") if Path(p).is_dir()]
    return max(candidates, key=lambda p: shutil.disk_usage(p).free)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--slice", type=int, default=1_000_000, help="rows of the streamed vs in-memory comparison")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the table (default: most free space)")
    parser.add_argument("--keep", action="store_true", help="keep the table files")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scale.json")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="deepsci-scale-", dir=args.dir or free_dir()))
    try:
        return run(args, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    big, small = folder / "table.npy", folder / "slice.npy"
    t0 = time.perf_counter()
    write_table(big, args.rows, args.cols)
    write_table(small, min(args.slice, args.rows), args.cols)  # the same rows: the same seeds per chunk
    written = time.perf_counter() - t0
    print(f"wrote {args.rows:,} x {args.cols} float32 ({big.stat().st_size / 1e9:.2f} GB) to {big} in {written:.0f} s",
          flush=True)

    t0 = time.perf_counter()
    streamed = build_dataset(stream_spec(big, args.cols), seed=0)
    build_s = time.perf_counter() - t0
    seconds = one_epoch(streamed, args.batch)
    n_train = len(streamed.train)
    peak = peak_rss_mb()
    print(f"streamed: {n_train:,} training rows, build (scan + scaler passes) {build_s:.0f} s, one epoch "
          f"{seconds:.0f} s = {n_train / seconds:,.0f} rows/s; peak resident memory {peak:,.0f} MB", flush=True)
    del streamed

    sliced = build_dataset(stream_spec(small, args.cols), seed=0)
    stream_slice = len(sliced.train) / one_epoch(sliced, args.batch)
    del sliced
    table = np.load(small, allow_pickle=False)
    frame = {f"x{j}": table[:, j] for j in range(args.cols)}
    del table
    import pandas as pd

    memory = load_dataset(source=pd.DataFrame(frame), target=f"x{args.cols - 1}", task="regression", split="random",
                          test_fraction=0.1, valid_fraction=0.0, featuriser="none", seed=0)
    del frame
    memory_slice = len(memory.train) / one_epoch(memory, args.batch)
    print(f"first {min(args.slice, args.rows):,} rows, one epoch: streamed {stream_slice:,.0f} rows/s, in memory "
          f"{memory_slice:,.0f} rows/s (streamed / in memory = {stream_slice / memory_slice:.2f})", flush=True)
    result = {"rows": args.rows, "cols": args.cols, "batch": args.batch, "file_gb": big.stat().st_size / 1e9,
              "train_rows": n_train, "build_seconds": build_s, "epoch_seconds": seconds,
              "rows_per_second": n_train / seconds, "peak_rss_mb": peak, "slice_rows": min(args.slice, args.rows),
              "slice_streamed_rows_per_second": stream_slice, "slice_in_memory_rows_per_second": memory_slice,
              "torch_threads": torch.get_num_threads()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
