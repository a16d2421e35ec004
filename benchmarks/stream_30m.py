"""A whole `deepsci fit` of a 30,000,000 x 20 float32 Parquet table, streamed, under a 4 GB address-space cap.

Writes the table (features f0..f19, target y = tanh of a fixed linear map plus noise; row groups of 100,000
rows) chunk by chunk, then runs `deepsci fit` on it in a child process with `stream = true`, an MLP 2x64, 2 epochs
at batch 1024, one torch thread, and RLIMIT_AS at 4,000,000 KiB (what `ulimit -v 4000000` sets). It records the
child's peak resident memory (getrusage of the children: the whole fit, from reading the first row to writing the
report), its exit status, the training rows/s and the references in metrics.json, and writes
benchmarks/results/stream_30m.json.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stream_30m.py       # a 3.8 GB file, about 11 minutes under load
    .venv/bin/python benchmarks/stream_30m.py --smoke                  # 20,000 rows in a temporary folder

The same table as HDF5 (`--format hdf5`: a group /rows of one chunked 1-D dataset per column, read by
deepsci.data.formats.hdf5_blocks) compares the two formats' memory at one size; docs/streaming.md holds the 2 GB
pair (24,000,000 rows, 1 epoch: benchmarks/results/stream_2gb_{parquet,hdf5}.json):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stream_30m.py --rows 24000000 --epochs 1 --format hdf5 \
        --out benchmarks/results/stream_2gb_hdf5.json       # and --format parquet ... stream_2gb_parquet.json

The table goes to --dir (default /tmp) and is deleted at the end unless --keep; --table reuses one written before.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHUNK_ROWS = 500_000
ROW_GROUP = 100_000
LIMIT_KIB = 4_000_000  # ulimit -v 4000000


def chunks(rows: int, cols: int, seed: int = 0) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first row, x (k, cols) float32, y (k,) float32) of the table, CHUNK_ROWS rows at a time: features standard
    normal, y = tanh of a fixed linear map plus noise of sd 0.1; the same rows for either format."""
    weights = np.random.default_rng(seed).normal(size=cols) / np.sqrt(cols)
    for start in range(0, rows, CHUNK_ROWS):
        rng = np.random.default_rng([seed, start])
        x = rng.normal(size=(min(CHUNK_ROWS, rows - start), cols)).astype(np.float32)
        yield start, x, (np.tanh(x @ weights) + 0.1 * rng.normal(size=len(x))).astype(np.float32)


def write_table(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """A Parquet table of `rows` rows: float32 features f0..f{cols-1} and target y, written chunk by chunk."""
    names = [f"f{j}" for j in range(cols)] + ["y"]
    schema = pa.schema([(name, pa.float32()) for name in names])
    with pq.ParquetWriter(path, schema) as writer:
        for _, x, y in chunks(rows, cols, seed):
            columns = [pa.array(x[:, j]) for j in range(cols)] + [pa.array(y)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema), row_group_size=ROW_GROUP)


def write_hdf5(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """The same table as HDF5: a group /rows of 1-D float32 datasets f0..f{cols-1} and y, chunked by ROW_GROUP."""
    import h5py

    with h5py.File(path, "w") as f:
        data = {name: f.create_dataset(f"rows/{name}", shape=(rows,), dtype="f4", chunks=(min(ROW_GROUP, rows),))
                for name in [f"f{j}" for j in range(cols)] + ["y"]}
        for start, x, y in chunks(rows, cols, seed):
            for j in range(cols):
                data[f"f{j}"][start:start + len(x)] = x[:, j]
            data["y"][start:start + len(x)] = y


def table_rows(table: Path) -> int:
    """Rows of a table this script wrote, in either format."""
    if table.suffix == ".h5":
        import h5py

        with h5py.File(table, "r") as f:
            return int(f["rows/y"].shape[0])
    return int(pq.ParquetFile(table).metadata.num_rows)


def config_toml(table: Path, epochs: int, batch: int) -> str:
    """The run's TOML: the table streamed, an MLP 2x64, one thread, no error bars (auto gives none when streamed)."""
    member = '\nx = "/rows"' if table.suffix == ".h5" else ""
    return (f'name = "stream30m"\nseed = 0\n[data]\nsource = "{table}"{member}\ntarget = "y"\nstream = true\n'
            f'[model]\nhidden = [64, 64]\n[train]\nepochs = {epochs}\nbatch_size = {batch}\nthreads = 1\n')


def _cap() -> None:
    """In the child, before exec: the address-space cap of `ulimit -v`."""
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_KIB * 1024, LIMIT_KIB * 1024))


def fit(config: Path, out: Path) -> dict[str, Any]:
    """Run `deepsci fit` capped; (exit status, seconds, the children's peak RSS in MB, the last lines of stderr)."""
    deepsci = Path(sys.executable).parent / "deepsci"
    command = [str(deepsci), "fit", str(config), "--out", str(out), "--quiet"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, preexec_fn=_cap,
                          env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    return {"returncode": done.returncode, "seconds": seconds, "peak_rss_mb": peak, "stderr": done.stderr[-2000:]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000_000)
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--dir", type=Path, default=Path("/tmp"), help="where to write the table and the run")
    parser.add_argument("--table", type=Path, default=None, help="a table written before (skips writing)")
    parser.add_argument("--keep", action="store_true", help="keep the table and the run folder")
    parser.add_argument("--smoke", action="store_true", help="20,000 rows in a temporary folder, no results file")
    parser.add_argument("--format", choices=("parquet", "hdf5"), default="parquet", help="the table's file format")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "stream_30m.json")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rows, args.keep = 20_000, False
    folder = Path(tempfile.mkdtemp(prefix="deepsci-stream30m-", dir=args.dir))
    try:
        result = run(args, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    if not args.smoke:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    table = args.table or folder / ("table.h5" if args.format == "hdf5" else "table.parquet")
    if args.table is None:
        start = time.perf_counter()
        (write_hdf5 if args.format == "hdf5" else write_table)(table, args.rows, args.cols)
        print(f"wrote {args.rows:,} x {args.cols} float32 ({table.stat().st_size / 1e9:.2f} GB) to {table} in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    config = folder / "stream30m.toml"
    config.write_text(config_toml(table, args.epochs, args.batch))
    child = fit(config, folder / "runs")
    if child["returncode"] != 0:
        raise SystemExit(f"deepsci fit failed ({child['returncode']}): {child['stderr']}")
    metrics = json.loads((folder / "runs" / "stream30m" / "metrics.json").read_text())
    timings, split = metrics["timings"], metrics["data"]["split"]
    train_rows = int(split.get("train") or split.get("n_train") or 0)
    result = {
        "format": "hdf5" if table.suffix == ".h5" else "parquet", "rows": table_rows(table), "cols": args.cols, "epochs": args.epochs, "batch": args.batch,
        "file_gb": table.stat().st_size / 1e9, "limit_kib": LIMIT_KIB,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "1"),
        "fit_seconds": child["seconds"], "peak_rss_mb": child["peak_rss_mb"],
        "training_seconds": timings["training_seconds"], "total_seconds": timings["total_seconds"],
        "train_rows": train_rows,
        "rows_per_second": train_rows * args.epochs / timings["training_seconds"],
        "test": {k: metrics["test"].get(k) for k in ("rmse", "r2")},
        "baselines": {name: {k: ref["test"].get(k) for k in ("rmse", "r2")}
                      for name, ref in metrics["baselines"].items() if isinstance(ref, dict) and "test" in ref},
        "predictions_rows": sum(1 for _ in (folder / "runs" / "stream30m" / "predictions.csv").open()) - 1,
    }
    print(json.dumps(result, indent=2), flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
