"""A signal run shows its references (trivial, linear, MiniRocket) in metrics.json, the console and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from deepsci.report.summary import run_tables

pytestmark = pytest.mark.slow


def test_a_signal_run_reports_its_references_everywhere(tmp_path: Path, fit_config) -> None:
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    t = np.linspace(0, 1, 32)
    x = np.sin(2 * np.pi * (2 + 3 * y)[:, None] * t) + 0.3 * rng.normal(size=(60, 32))
    np.savez(tmp_path / "s.npz", x=x, y=y)
    run = fit_config("sig", f'[data]\nkind = "signal"\nsource = "{tmp_path / "s.npz"}"\nx = "x"\ntarget = "y"\n'
                            '[model]\nkind = "cnn"\nchannels = [4]\nhidden = [8]\n[train]\nepochs = 2\n')
    metrics = json.loads((run / "metrics.json").read_text())
    references = metrics["baselines"]
    assert {"trivial", "linear", "minirocket"} <= set(references)
    assert references["minirocket"]["test"]["accuracy"] >= 0.9  # two frequencies: easy for random convolutions
    console = Console(record=True, width=200)
    for table in run_tables(metrics):
        console.print(table)
    shown = console.export_text()
    assert "against simple references" in shown and "minirocket (ridge classifier" in shown
    report = (run / "report.html").read_text()
    assert "Against simple references" in report and "MiniRocket features" in report
