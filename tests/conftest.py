"""Fixtures shared across the test packages."""

import json
import os
from pathlib import Path

import pytest
import torch

from deepsci.cli import main

ROOT = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two workers on two cores: one torch thread each, none waiting on the other.
    # Every result is the same with 1 or 2 threads (the suite checks that), so this changes no number.
    torch.set_num_threads(1)
    # As an explicit setting, so deepsci's thread choice (deepsci.training.threads) keeps it, and subprocesses too.
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture()
def one_thread():
    """Tiny tensors: on a loaded 2-core machine, two intra-op threads waiting on each other cost 10-100x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_cli(*args: str) -> None:
    """`deepsci ARGS` in this process, asserting it exits 0 (typer ends every command with SystemExit)."""
    try:
        main(list(args))
    except SystemExit as exc:
        assert exc.code in (0, None), f"deepsci {' '.join(args)} exited {exc.code}"


@pytest.fixture(scope="session")
def cli():
    """cli(*args): `deepsci ARGS` in this process, asserting it succeeds."""
    return run_cli


@pytest.fixture()
def fit_config(tmp_path):
    """fit(name, toml) -> run folder of `deepsci fit` on a config named `name` (seed 0) whose body is `toml`,
    written and run under tmp_path.

    A body without an [uncertainty] section trains one plain network (method = "none"): these tests are about
    data kinds, prediction and folders, not error bars, and the default calibrated ensemble (tested in
    tests/test_uncertainty_default.py) would only make them slower."""

    def fit(name: str, toml: str) -> Path:
        config = tmp_path / f"{name}.toml"
        plain = "" if "[uncertainty]" in toml else '\n[uncertainty]\nmethod = "none"\n'
        config.write_text(f'name = "{name}"\nseed = 0\n' + toml + plain)
        run_cli("fit", str(config), "--out", str(tmp_path / "runs"), "--quiet")
        return tmp_path / "runs" / name

    return fit


@pytest.fixture()
def fit_example():
    """fit(example, out, *overrides) -> metrics.json of `deepsci fit examples/<example>.toml` run through the CLI."""

    def fit(example: str, out: Path, *overrides: str) -> dict:
        args = ["fit", str(ROOT / "examples" / f"{example}.toml"), "--out", str(out), "--quiet"]
        for item in overrides:
            args += ["--set", item]
        run_cli(*args)
        return json.loads((out / example / "metrics.json").read_text())

    return fit


@pytest.fixture(scope="session")
def example_runs(tmp_path_factory):
    """example name -> (metrics.json, run folder) of `deepsci fit examples/<name>.toml` at its own settings.

    Each example is fitted at most once per test session, however many tests read its numbers, and
    however many pytest-xdist workers ask for it: the runs live in a folder all workers share, and a
    lock per example lets the first worker fit it while the others wait and then read its folder.
    """
    from filelock import FileLock

    cache: dict[str, tuple[dict, Path]] = {}
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's folder, above each worker's own
    root = shared / "examples"
    root.mkdir(exist_ok=True)

    def get(example: str) -> tuple[dict, Path]:
        if example not in cache:
            out = root / example
            with FileLock(str(root / f"{example}.lock")):
                if not (out.exists() and any(out.glob("*/metrics.json"))):
                    _fit_quietly(example, out)
            folder = next(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
            cache[example] = (json.loads((folder / "metrics.json").read_text()), folder)
        return cache[example]

    return get


def _fit_quietly(example: str, out: Path) -> None:
    """`deepsci fit examples/<example>.toml --out out --quiet`, asserting it succeeds."""
    run_cli("fit", str(ROOT / "examples" / f"{example}.toml"), "--out", str(out), "--quiet")
