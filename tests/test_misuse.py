"""Misuse through the command line: one line on stderr and exit 2, before training, and nothing lost.

Covers issue 9's "a split the data cannot honour exits 2 with one line", "init = 'critical' with an
activation that has no critical point exits 2 with one line", "a misspelled CNN block key exits 2
naming it", and issue 10's concurrent fits, resume guards and too-small splits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepsci.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _config(tmp_path: Path, body: str, name: str = "m") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\n' + body)
    return path


def _one_line_error(code: int, err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _table(tmp_path: Path, rows: int = 60, part: bool = True) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    frame["y"] = frame["a"] - frame["b"]
    if part:
        frame["part"] = "train"  # a split column with no test rows
    frame.to_csv(tmp_path / "t.csv", index=False)
    return tmp_path / "t.csv"


def test_a_split_the_data_cannot_honour_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _table(tmp_path)
    config = _config(tmp_path, f'[data]\nsource = "{source}"\ntarget = "y"\nsplit_column = "part"\n')
    code, err = _run(["fit", str(config), "--out", str(tmp_path / "runs")], capsys)
    _one_line_error(code, err, "part", "test")
    assert not (tmp_path / "runs" / "m").exists()


def test_split_column_asked_for_but_absent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _table(tmp_path, part=False)
    config = _config(tmp_path, f'[data]\nsource = "{source}"\ntarget = "y"\nsplit = "column"\n')
    code, err = _run(["fit", str(config), "--out", str(tmp_path / "runs")], capsys)
    _one_line_error(code, err, "column")


def test_critical_init_without_a_critical_point_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _table(tmp_path, part=False)
    config = _config(tmp_path, f'[data]\nsource = "{source}"\ntarget = "y"\n'
                               '[model]\nactivation = "sigmoid"\ninit = "critical"\n[train]\nepochs = 1\n')
    code, err = _run(["fit", str(config), "--out", str(tmp_path / "runs")], capsys)
    _one_line_error(code, err, "sigmoid", "critical")


def test_a_misspelled_cnn_block_key_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, '[data]\nkind = "image"\nsource = "digits"\n'
                               '[model]\nkind = "cnn"\nblocks = [{type = "conv", channels = 8, kernal = 5}]\n')
    code, err = _run(["fit", str(config), "--out", str(tmp_path / "runs")], capsys)
    _one_line_error(code, err, "model.blocks.0.kernal", "kernel")


def test_a_split_too_small_to_measure_is_refused_before_training(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    source = _table(tmp_path, rows=200, part=False)
    config = _config(tmp_path, f'[data]\nsource = "{source}"\ntarget = "y"\nvalid_fraction = 0.0001\n'
                               '[train]\nepochs = 100000\n')
    start = time.perf_counter()
    code, err = _run(["fit", str(config), "--out", str(tmp_path / "runs")], capsys)
    _one_line_error(code, err, "valid 1 row")
    assert time.perf_counter() - start < 60  # refused before 100 000 epochs, not after


def test_resume_refuses_another_config_and_a_finished_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _table(tmp_path, part=False)
    config = _config(tmp_path, f'[data]\nsource = "{source}"\ntarget = "y"\n[model]\nhidden = [4]\n[train]\nepochs = 2\n')
    out = str(tmp_path / "runs")
    assert _run(["fit", str(config), "--out", out, "--quiet"], capsys)[0] == 0
    code, err = _run(["fit", str(config), "--out", out, "--resume", "--set", "seed=7"], capsys)
    _one_line_error(code, err, "seed")
    code, err = _run(["fit", str(config), "--out", out, "--resume"], capsys)
    _one_line_error(code, err, "already finished 2 epoch", "train.epochs")
    assert (tmp_path / "runs" / "m" / "checkpoint").is_dir()  # the finished run is left as it was


@pytest.mark.slow
def test_two_fits_of_one_name_at_once_give_one_run_and_one_refusal(tmp_path: Path) -> None:
    source = _table(tmp_path, rows=400, part=False)
    config = _config(tmp_path, f'[data]\nsource = "{source}"\ntarget = "y"\n[model]\nhidden = [32, 32]\n'
                               '[train]\nepochs = 1000\nbatch_size = 8\n[uncertainty]\nmethod = "none"\n', name="same")
    # The first fit must outlast the second's start (a few seconds of imports before it reaches the lock).
    command = [sys.executable, "-m", "deepsci", "fit", str(config), "--out", str(tmp_path / "runs"), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lock = tmp_path / "runs" / ".same.lock"
    deadline = time.time() + 60
    while not lock.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 2, second.stderr
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "being written by another deepsci process" in lines[0], second.stderr
    run = tmp_path / "runs" / "same"
    for name in ("config.toml", "metrics.json", "model.safetensors", "model.json", "checkpoint"):
        assert (run / name).exists(), name
    leftovers = [p.name for p in (tmp_path / "runs").iterdir() if p.name.startswith(".same.") and p.name != ".same.lock"]
    assert not leftovers, leftovers
