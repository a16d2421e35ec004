"""Numbers in docs/ that come from a stored benchmark results file (benchmarks/results/) equal that file's.

A benchmark's numbers in the docs must be the ones its stored run measured; when the benchmark is rerun and
its file changes, these tests say which sentence of the docs to update.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _doc(name: str) -> str:
    return (ROOT / "docs" / name).read_text()


def _results(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((ROOT / "benchmarks" / "results" / name).read_text())  # type: ignore[no-any-return]


def test_theory_trainability_row_is_the_stored_run() -> None:
    stored = _results("theory.json")["trainability"]
    assert (stored["depth"], stored["width"], stored["epochs"]) == (100, 128, 40)  # as the doc's command
    accuracy = [f"{stored['test_accuracy'][cw]:.3f}" for cw in ("0.5", "1", "2")]
    assert f"| test accuracy | {accuracy[0]} | **{accuracy[1]}** | {accuracy[2]} |" in _doc("theory.md")
    last = stored["test_accuracy_curve"]["2"][-10:]
    assert f"between {min(last):.3f} and {max(last):.3f}" in _doc("theory.md")


def test_ensemble_speed_sentence_is_the_stored_run() -> None:
    stored = _results("ensemble_speed.json")
    rows, cols = stored["train_shape"]
    text = " ".join(_doc("uncertainty.md").split())
    assert f"{rows} x {cols} descriptors" in text and f"batch 32, {stored['epochs']} epochs" in text
    assert f"**{stored['ratio']:.2f}x** one member" in text and f"median of {stored['repeats']}" in text


def test_hopfield_table_is_the_stored_run() -> None:
    stored = _results("rules.json")["hopfield_n200"]
    row = re.search(r"\| recalled \|(.*)\|", _doc("rules.md"))
    assert row is not None
    assert [float(v) for v in row.group(1).split("|")] == [round(f, 2) for f in stored["recall_fraction"]]
    assert "5 networks a load" in _doc("rules.md")


def test_physics_lorentz_cell_is_the_stored_run() -> None:
    cell = _results("collider.json")["auc"]["lorentz/low"]
    assert cell["epochs"] == 12 and "0" in cell["runs"]
    assert f"seed 0 reaches a test ROC-AUC of\n{cell['runs']['0']:.4f}" in _doc("physics.md")


def test_scale_tables_are_the_stored_concurrency_and_kinds_speed_runs() -> None:
    """docs/scale.md's two tables of the shared-machine section, row by row from their results files."""
    doc = _doc("scale.md")
    for r in _results("concurrency.json")["rows"]:
        assert (f"| {r['example']} | {r['policy']} | {r['fits']} | {max(r['training_seconds']):.2f} | "
                f"{r['wall_seconds']:.2f} | {r['throughput']:.2f} |") in doc
    for kind, r in _results("kinds_speed.json")["kinds"].items():
        assert (f"| {kind} ({r['config']}) | {r['step_mflop'] or 0:.3g} | {r['threads']['threads']} | "
                f"{r['plain_seconds']:.3f} | {r['deepsci_seconds']:.3f} | {r['ratio']:.2f} |") in doc
        assert r["ratio"] <= 1.0  # the page says every kind trains at or below the plain loop's time
