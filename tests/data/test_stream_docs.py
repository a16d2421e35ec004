"""docs/streaming.md's numbers of streamed evaluation are the code's constants, and those of the 30,000,000-row
fit are the stored run's (benchmarks/results/stream_30m.json, written by benchmarks/stream_30m.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from deepsci.evaluation.stream_evaluation import BLOCK_ROWS, CALIB_ROWS, SAMPLE_ROWS
from deepsci.run import STREAMED_PREDICTION_ROWS

ROOT = Path(__file__).resolve().parents[2]
DOC = " ".join((ROOT / "docs" / "streaming.md").read_text().split())


def test_the_evaluation_constants_are_the_code_s():
    assert f"{BLOCK_ROWS:,} rows at a time" in DOC
    assert f"random sample of {SAMPLE_ROWS:,} rows of the split" in DOC
    assert f'"sample": {{"rows": {SAMPLE_ROWS}' in DOC
    assert f"at most {CALIB_ROWS:,} calibration rows" in DOC and f"its {SAMPLE_ROWS:,}-row sample" in DOC
    assert f"the first {STREAMED_PREDICTION_ROWS:,} test rows" in DOC
    cap = re.search(r"HEADROOM = (\d+) \* 2 \*\* 20", (ROOT / "tests" / "data" / "test_stream_memory.py").read_text())
    assert cap is not None and f"capped at {cap.group(1)} MB beyond the libraries" in DOC


def test_the_30m_row_fit_is_the_stored_run():
    r = json.loads((ROOT / "benchmarks" / "results" / "stream_30m.json").read_text())
    assert (r["rows"], r["cols"], r["epochs"], r["batch"], r["limit_kib"]) == (30_000_000, 20, 2, 1024, 4_000_000)
    assert r["peak_rss_mb"] < 1500  # issue 27's bound for the whole `deepsci fit`
    assert f"{r['rows']:,} × {r['cols']} float32 Parquet table ({r['file_gb']:.1f} GB" in DOC
    assert f"peak resident memory {r['peak_rss_mb']:,.0f} MB" in DOC
    assert f"{r['rows_per_second']:,.0f} rows/s" in DOC and f"{r['fit_seconds']:.0f} s for the whole fit" in DOC
    test, trivial, linear = r["test"], r["baselines"]["trivial"], r["baselines"]["linear"]
    assert (f"test RMSE {test['rmse']:.3f} (trivial {trivial['rmse']:.3f}, ridge {linear['rmse']:.3f})") in DOC
    assert f"predictions.csv of {r['predictions_rows']:,} rows" in DOC
    script = (ROOT / "benchmarks" / "stream_30m.py").read_text()
    assert "ROW_GROUP = 100_000" in script and "row groups of 100,000 rows" in DOC
    assert "args.rows, args.keep = 20_000" in script and "--smoke: 20,000 rows" in DOC


def test_the_2gb_hdf5_and_parquet_pair_is_the_stored_runs():
    """Issue 30: a 2 GB HDF5 table streams in the memory of the Parquet table of the same rows (within 20%)."""
    runs = {fmt: json.loads((ROOT / "benchmarks" / "results" / f"stream_2gb_{fmt}.json").read_text())
            for fmt in ("hdf5", "parquet")}
    assert {r["format"] for r in runs.values()} == {"hdf5", "parquet"}
    assert {(r["rows"], r["cols"], r["epochs"], r["limit_kib"]) for r in runs.values()} == {(24_000_000, 20, 1, 4_000_000)}
    assert runs["hdf5"]["file_gb"] >= 2.0 and runs["hdf5"]["peak_rss_mb"] <= 1.2 * runs["parquet"]["peak_rss_mb"]
    for fmt, name in (("hdf5", "HDF5"), ("parquet", "Parquet")):
        r = runs[fmt]
        row = (f"| {name} | {r['file_gb']:.1f} GB | {r['peak_rss_mb']:,.0f} MB | {r['rows_per_second']:,.0f} rows/s | "
               f"{r['fit_seconds']:.0f} s |")
        assert row in DOC, row
