"""AnnData (.h5ad) files read as tables of cells (deepsci.data.formats.h5ad), end to end.

The file read here, examples/formats/cells.h5ad, was written by anndata 0.12.19 itself (not by deepsci), so the
reader is checked against the format as anndata writes it: 120 cells of three types (B, T, NK; 40 each) × 40
genes of Poisson counts (rate 4 on six marker genes of the cell's type, 0.3 elsewhere; numpy seed 0), X as CSR,
the same counts as a dense layer "dense" and a CSC layer "csc", and obs columns cell_type (categorical) and
total_counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.cli import main
from deepsci.data import stream
from deepsci.data.build import build_dataset
from deepsci.data.readers import read_table
from deepsci.errors import DataError

pytest.importorskip("h5py")
CELLS = Path(__file__).parents[2] / "examples" / "formats" / "cells.h5ad"
GENES = [f"G{j}" for j in range(40)]
MARKERS = {"B": range(0, 6), "T": range(10, 16), "NK": range(20, 26)}
SPEC = {"source": str(CELLS), "target": "cell_type", "features": GENES}


def test_cells_are_rows_genes_and_obs_are_columns_whatever_the_matrix_layout() -> None:
    frame = read_table(CELLS)
    assert frame.shape == (120, 42) and list(frame.columns) == [*GENES, "cell_type", "total_counts"]
    assert frame["cell_type"].value_counts().to_dict() == {"B": 40, "T": 40, "NK": 40}
    np.testing.assert_allclose(frame[GENES].sum(axis=1), frame["total_counts"])  # the counts anndata stored
    for cell_type, markers in MARKERS.items():  # the six marker genes of each type are its highest
        mean = frame.loc[frame["cell_type"] == cell_type, GENES].mean()
        assert set(np.argsort(-mean.to_numpy())[:6]) == set(markers), cell_type
    for layer in ("layers/dense", "layers/csc"):  # CSR, dense and CSC: the same matrix
        pd.testing.assert_frame_equal(read_table(CELLS, layer), frame)


def test_a_missing_matrix_names_the_ones_there() -> None:
    with pytest.raises(Exception, match=r"no matrix 'layers/raw'; it holds: X, layers/csc, layers/dense"):
        read_table(CELLS, "layers/raw")


def test_the_runs_reader_reads_new_cells_as_training_did() -> None:
    """What `deepsci predict` does with an .h5ad file: the saved reader gives the test rows' very inputs."""
    dataset = build_dataset(SPEC, seed=0)
    X, ids, skipped = dataset.preprocessor.transform(dataset.preprocessor.read(str(CELLS)))
    assert not skipped and len(ids) == 120
    rows = torch.as_tensor([ids.index(i) for i in dataset.test.ids])
    torch.testing.assert_close(X[rows], dataset.test.X)


def test_streamed_cells_in_many_blocks_match_the_in_memory_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """stream = true reads the CSR rows of a few cells at a time (640 bytes: 4 cells a block), the same parts,
    rows and scaling as the in-memory read."""
    monkeypatch.setattr(stream, "BLOCK_BYTES", 640)
    streamed, memory = (build_dataset({**SPEC, "stream": s}, seed=1) for s in (True, False))
    assert streamed.summary.stream["format"] == "h5ad" and streamed.summary.stream["blocks"] == 30
    for part in ("train", "valid", "test"):
        s, m = getattr(streamed, part), getattr(memory, part)
        assert list(s.ids) == list(m.ids), part
        torch.testing.assert_close(s.X.take_rows(slice(0, None)), m.X, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(s.y, m.y)


def test_a_matrix_by_columns_is_refused_for_streaming_with_the_conversion() -> None:
    with pytest.raises(DataError, match=r"csc_matrix.*adata.X = adata.X.tocsr\(\)"):
        build_dataset({**SPEC, "x": "layers/csc", "stream": True}, seed=0)


def test_a_truncated_h5ad_is_one_line_exit_2_and_no_run_folder(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "cells.h5ad"
    cut.write_bytes(CELLS.read_bytes()[: CELLS.stat().st_size // 2])
    config = tmp_path / "cut.toml"
    config.write_text(f'name = "cut"\n[data]\nsource = "{cut}"\ntarget = "cell_type"\n')
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(config), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and "cannot read" in err, err
    assert not (tmp_path / "runs" / "cut").exists()


@pytest.mark.slow
def test_the_example_classifies_cell_types_and_predicts_new_cells(tmp_path: Path, cli, one_thread,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/formats/cells_h5ad.toml as docs/data.md shows it (one network, to keep the test short)."""
    root = CELLS.parents[2]
    monkeypatch.chdir(root)
    cli("fit", "examples/formats/cells_h5ad.toml", "--out", str(tmp_path), "--quiet", "--set", "uncertainty.method=none")
    run = tmp_path / "cells-h5ad"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9  # marker genes at rate 4 against 0.3: the types are easy to tell
    out = tmp_path / "predicted.csv"
    cli("predict", str(run), str(CELLS), "-o", str(out))
    assert len(pd.read_csv(out)) == 120
