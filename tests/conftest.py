"""Fixtures shared across the test packages."""

import json
from pathlib import Path

import pytest
import torch

from deepsci.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def one_thread():
    """Tiny tensors: on a loaded 2-core machine, two intra-op threads waiting on each other cost 10-100x."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def fit_example():
    """fit(example, out, *overrides) -> metrics.json of `deepsci fit examples/<example>.toml` run through the CLI."""

    def fit(example: str, out: Path, *overrides: str) -> dict:
        args = ["fit", str(ROOT / "examples" / f"{example}.toml"), "--out", str(out), "--quiet"]
        for item in overrides:
            args += ["--set", item]
        try:
            main(args)
        except SystemExit as exc:
            assert exc.code in (0, None)
        return json.loads((out / example / "metrics.json").read_text())

    return fit
