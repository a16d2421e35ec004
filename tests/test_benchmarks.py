"""Every benchmark script imports and runs against today's deepsci, on tiny data (its `--smoke` arguments).

A benchmark is code too: one that no test runs breaks unseen (benchmarks/solubility_baselines.py once
failed on an attribute the Dataset no longer had). Each script's `main(argv)` runs here in-process with the
arguments of SMOKE (tiny data, one epoch, one seed, results to a temporary folder), and must leave
benchmarks/results/ as it found it. The numbers of a smoke run mean nothing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: each benchmark's smoke arguments ("{tmp}": a temporary folder); `tiny.py` is their helper, no benchmark
SMOKE: dict[str, list[str]] = {
    "chemprop_compare": ["--smoke", "--out", "{tmp}/chemprop.json"],
    "collider": ["--smoke", "--out", "{tmp}/collider.json"],
    "conformal_coverage": ["--smoke"],
    "ensemble_coverage": ["--smoke"],
    "ensemble_speed": ["--smoke"],
    "estimator_cv": ["--smoke"],
    "forecast_co2": ["--smoke"],
    "forecast_images_text": ["--smoke"],
    "forecast_sunspots": ["--smoke"],
    "gpu_speed": ["--smoke"],
    "reactions": ["--smoke", "--out", "{tmp}/reactions.json"],
    "rules_compare": ["--smoke"],
    "scale": ["--rows", "3000", "--slice", "1000", "--dir", "{tmp}", "--out", "{tmp}/scale.json"],
    "signals_lightcurves": ["--smoke"],
    "signals_ucr": ["--smoke"],
    "solubility_baselines": ["--smoke"],
    "stream_30m": ["--smoke", "--dir", "{tmp}"],
    "sweep_jobs": ["--smoke", "--out", "{tmp}/sweep_jobs.json"],
    "theory_experiments": ["--smoke", "--out", "{tmp}"],
    "theory_probes": ["--smoke"],
    "thread_threshold": ["--smoke", "--out", "{tmp}/thread_threshold.json"],
    "kinds_speed": ["--smoke", "--out", "{tmp}/kinds_speed.json"],
    "lenses_equivariant": ["--smoke", "--out", "{tmp}/lenses_equivariant.json"],
    "pinn": ["--smoke", "--out", "{tmp}/pinn.json"],
    "train_speed": ["--smoke"],
    "uncertainty_default": ["--smoke"],
}
#: scripts whose smoke mode their authors are still adding (they write their results file unconditionally, or
#: take minutes at their smallest sizes): imported only, for now
PENDING = {"concurrency", "rules_networks"}


def _load(name: str) -> ModuleType:
    """benchmarks/<name>.py as a module (benchmarks/ on sys.path, as when the script runs)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def _results() -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in (BENCHMARKS / "results").rglob("*") if p.is_file()}


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """benchmarks/ importable, caches in tmp_path, torch's thread count restored after the run."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_every_benchmark_script_has_a_smoke_run() -> None:
    scripts = {p.stem for p in BENCHMARKS.glob("*.py")} - {"tiny"}
    assert scripts - PENDING == set(SMOKE), "give each benchmark a --smoke run and list it in SMOKE"


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_a_benchmark_runs_on_tiny_data(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _load(name)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in SMOKE[name]]
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *argv])  # for a main() that reads sys.argv itself
    before = _results()
    main = module.main
    main(argv) if main.__code__.co_argcount else main()
    assert _results() == before, f"{name} --smoke wrote into benchmarks/results/"


@pytest.mark.parametrize("name", sorted(PENDING))
def test_a_pending_benchmark_imports(name: str) -> None:
    assert callable(_load(name).main)
