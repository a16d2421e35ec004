"""Numbers in docs/ that come from a stored benchmark results file (benchmarks/results/) equal that file's.

A benchmark's numbers in the docs must be the ones its stored run measured; when the benchmark is rerun and
its file changes, these tests say which sentence of the docs to update.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

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


def test_physics_lorentz_row_is_the_stored_runs_within_001_of_the_shallow_network_on_high_level() -> None:
    """Issue 25: the Lorentz network on the particles comes within 0.01 AUC of the shallow network on the high-level
    features, for each of the seeds 0-2."""
    cell = _results("collider.json")["auc"]["lorentz/low"]
    assert cell["epochs"] == 12 and sorted(cell["runs"]) == ["0", "1", "2"]
    doc = _doc("physics.md")
    text = " ".join(doc.split())
    assert f"| set: Lorentz network (`collider_lorentz`) | {cell['mean']:.4f} ± {cell['std']:.4f} |" in doc
    seeds = [f"{cell['runs'][s]:.4f}" for s in ("0", "1", "2")]
    assert f"The Lorentz network on the particles: {', '.join(seeds)}." in text
    assert (f"ROC-AUC of {seeds[0]}, {seeds[1]} and {seeds[2]} for seeds 0, 1 and 2 ({cell['mean']:.4f} ± "
            f"{cell['std']:.4f})") in text
    shallow = re.search(r"\| shallow \(1 × 300\) \| [\d.]+ ± [\d.]+ \| ([\d.]+) ± ([\d.]+) \|", doc)
    assert shallow is not None and f"({shallow.group(1)} ± {shallow.group(2)}, the table above)" in text
    assert all(abs(auc - float(shallow.group(1))) <= 0.01 for auc in cell["runs"].values())


def test_physics_lens_table_is_the_stored_runs_and_a_quarter_of_the_images_beats_all_of_them() -> None:
    """Issue 25: the D4 CNN on a quarter of the training images reaches at least the shipped CNN's test ROC-AUC on
    all of them, seed by seed (0-2), with the same settings for every seed."""
    auc = _results("lenses_equivariant.json")["auc"]
    cnn, d4 = auc["cnn"], auc["equivariant"]
    assert cnn["settings"] == [] and d4["settings"] == ["data.train_fraction=0.25", "train.epochs=80"]
    assert sorted(cnn["runs"]) == sorted(d4["runs"]) == ["0", "1", "2"]
    doc = _doc("physics.md")
    for seed in ("0", "1", "2"):
        assert f"| {seed} | {cnn['runs'][seed]:.4f} | {d4['runs'][seed]:.4f} |" in doc
        assert d4["runs"][seed] >= cnn["runs"][seed]
    assert (f"| mean ± std | {cnn['mean']:.4f} ± {cnn['std']:.4f} | {d4['mean']:.4f} ± {d4['std']:.4f} |") in doc
    gains = [d4["runs"][s] - cnn["runs"][s] for s in ("0", "1", "2")]
    text = " ".join(doc.split())
    assert f"(by {min(gains):.4f} to {max(gains):.4f}; the worst D4 seed, {d4['min']:.4f}, sits below the best CNN " \
           f"seed, {max(cnn['runs'].values()):.4f})" in text
    # the parts the page names: examples/lenses.toml's fractions on the catalog's 3000 images, half of them lenses
    from deepsci.data.splits import split_codes

    _, parts = split_codes(3000, labels=np.repeat(["lens", "none"], 1500).astype(object), test_fraction=0.3,
                           valid_fraction=0.1, train_fraction=0.25)
    n_train = parts["train"] + parts["train_unused"]
    grouped = f"{n_train:,}".replace(",", " ")  # the page writes 1 890
    assert f"a seeded, stratified {parts['train']} of the {grouped}," in text
    assert f"same {parts['test']} test images (and stop on the same {parts['valid']} validation images)" in text
    assert f"{parts['train']} × 80 images seen equal about the CNN's {grouped} × 20" in text


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
