"""How the command line fails: one line and exit 2 for what the user can fix (checked before training),
a traceback for a bug, exit 130 and a resume hint on Ctrl-C, and fast mode for the docs' tests."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepsci.cli import main
from deepsci.cli.failure import describe_os_error
from deepsci.cli.fast import fast_overrides

ROOT = Path(__file__).resolve().parents[2]


def _cli(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _config(tmp_path: Path, name: str = "t", extra: str = "") -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    frame["y"] = frame["a"] - frame["b"]
    frame.to_csv(tmp_path / "data.csv", index=False)
    path = tmp_path / "c.toml"
    path.write_text(f'name = "{name}"\n[data]\nsource = "{tmp_path / "data.csv"}"\ntarget = "y"\n{extra}')
    return path


def test_predict_output_that_is_a_folder_is_refused_before_loading(tmp_path, capsys):
    code, _, err = _cli(capsys, "predict", tmp_path / "no-run", tmp_path / "x.csv", "-o", tmp_path)
    assert code == 2
    line = _one_line(err)
    assert str(tmp_path) in line and "folder" in line and "predictions.csv" in line


def test_predict_output_name_too_long_is_refused(tmp_path, capsys):
    code, _, err = _cli(capsys, "predict", tmp_path / "no-run", tmp_path / "x.csv", "-o", tmp_path / ("p" * 300))
    assert code == 2 and "too long" in _one_line(err)


def test_out_that_is_a_file_is_refused_before_training(tmp_path, capsys):
    config = _config(tmp_path)
    (tmp_path / "runs").write_text("not a folder")
    code, _, err = _cli(capsys, "fit", config, "--out", tmp_path / "runs", "--quiet")
    assert code == 2
    line = _one_line(err)
    assert "runs" in line and "file" in line
    assert not list(tmp_path.glob(".t.*")) and (tmp_path / "runs").read_text() == "not a folder"


def test_run_name_too_long_for_the_file_system_is_refused_before_training(tmp_path, capsys):
    config = _config(tmp_path, name="n" * 250)
    code, _, err = _cli(capsys, "fit", config, "--out", tmp_path / "runs", "--quiet")
    assert code == 2 and "bytes long" in _one_line(err)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_out_is_refused(tmp_path, capsys):
    config = _config(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, _, err = _cli(capsys, "fit", config, "--out", locked / "runs", "--quiet")
    finally:
        locked.chmod(0o700)
    assert code == 2 and "permission" in _one_line(err)


def test_an_os_error_on_a_user_path_is_one_line_and_elsewhere_a_bug(tmp_path):
    given = [tmp_path / "out"]
    mine = IsADirectoryError(errno.EISDIR, "Is a directory", str(tmp_path / "out" / "t" / "a.csv"))
    line = describe_os_error(mine, given)
    assert line is not None and "a.csv" in line and "file path" in line
    parent = PermissionError(errno.EACCES, "Permission denied", str(tmp_path))  # mkdir of a parent failed
    assert describe_os_error(parent, given) is not None
    internal = FileNotFoundError(errno.ENOENT, "No such file", "/usr/lib/some/packaged/file.json")
    assert describe_os_error(internal, given) is None  # a bug: its traceback must show
    assert describe_os_error(OSError("no errno"), given) is None


def test_a_bug_keeps_its_traceback(tmp_path, capsys):
    """An OSError on a path nobody gave is not the user's: main re-raises it (python prints the traceback)."""
    from deepsci.cli import app

    @app.command("crash-for-test", hidden=True)
    def crash() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file", "/nonexistent/internal/table.json")

    try:
        with pytest.raises(FileNotFoundError):
            main(["crash-for-test"])
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "crash-for-test"]


@pytest.mark.parametrize("args, match", [
    (["fit"], "Missing argument"),
    (["fit", "x.toml", "--bogus"], "--bogus"),
    (["nonsense-command"], "nonsense-command"),
    (["theory", "propagate", "--depth", "zero"], "--depth"),
])
def test_usage_errors_are_one_line_exit_2(capsys, args, match):
    code, _, err = _cli(capsys, *args)
    assert code == 2 and match in _one_line(err)


def test_an_error_message_is_printed_whole_on_one_line(capsys):
    """rich markup must not eat `[model]` or `[bold]` out of a message, and newlines become spaces."""
    from deepsci.cli import app
    from deepsci.errors import ConfigError

    @app.command("fail-for-test", hidden=True)
    def fail() -> None:
        raise ConfigError("bad [model] key\nand [bold]x[/bold] here")

    try:
        code, _, err = _cli(capsys, "fail-for-test")
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "fail-for-test"]
    assert code == 2
    assert _one_line(err) == "error: bad [model] key and [bold]x[/bold] here"


def test_fast_overrides_cap_epochs_members_and_samples(tmp_path, monkeypatch):
    config = _config(tmp_path, extra='[train]\nepochs = 50\n[uncertainty]\nmethod = "ensemble"\n')
    monkeypatch.delenv("DEEPSCI_FAST", raising=False)
    assert fast_overrides(config, []) == []
    monkeypatch.setenv("DEEPSCI_FAST", "1")
    assert fast_overrides(config, []) == ["train.epochs=2", "uncertainty.members=2", "uncertainty.samples=4"]
    assert fast_overrides(config, ["train.epochs=1"])[0] == "train.epochs=1"  # already below the cap
    assert fast_overrides(config, ["train.epochs='many'"]) == ["uncertainty.members=2", "uncertainty.samples=4"]
    assert fast_overrides(tmp_path / "missing.toml", []) == []  # load_config reports it
    monkeypatch.setenv("DEEPSCI_FAST", "0")
    assert fast_overrides(config, []) == []


def test_fast_mode_fit_trains_two_epochs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DEEPSCI_FAST", "1")
    config = _config(tmp_path, extra="[model]\nhidden = [4]\n[train]\nepochs = 500\n")
    code, out, err = _cli(capsys, "fit", config, "--out", tmp_path / "runs", "--quiet")
    assert code == 0, err
    assert out.strip() == str(tmp_path / "runs" / "t")
    metrics = json.loads((tmp_path / "runs" / "t" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2


def test_a_config_error_comes_before_torch_is_imported(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[data]\nsource = "solubility"\n[train]\nepochs = "many"\n')
    code = ("import sys\nfrom deepsci.cli import main\ntry:\n    main(['fit', sys.argv[1]])\n"
            "except SystemExit as e:\n    assert e.code == 2, e.code\nprint('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.slow
def test_ctrl_c_during_fit_exits_130_with_a_resume_hint(tmp_path):
    """A real process gets a real SIGINT after its first saved epoch."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2000, 4)), columns=list("abcd"))
    frame["y"] = frame.sum(axis=1)
    frame.to_csv(tmp_path / "data.csv", index=False)
    config = tmp_path / "c.toml"
    config.write_text(f'name = "slow"\n[data]\nsource = "{tmp_path / "data.csv"}"\ntarget = "y"\n'
                      "[model]\nhidden = [64, 64]\n[train]\nepochs = 5000\nbatch_size = 8\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("DEEPSCI_FAST", None)
    process = subprocess.Popen([sys.executable, "-c", "from deepsci.cli import main; main()", "fit", str(config),
                                "--out", str(tmp_path / "runs"), "--quiet"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None and not list((tmp_path / "runs").glob(
            ".slow.checkpoint/*.safetensors")):
        time.sleep(0.2)
    time.sleep(0.5)  # inside a later epoch
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert out == "", "--quiet printed something"
    line = _one_line(err)
    assert line.startswith("interrupted at epoch ") and "--resume" in line and str(config) in line, line
    epoch = int(line.split("interrupted at epoch ")[1].split(";")[0])
    from deepsci.training.checkpoint import checkpoint_epoch

    assert epoch == checkpoint_epoch(tmp_path / "runs" / ".slow.checkpoint") >= 1
    assert not (tmp_path / "runs" / "slow").exists(), "an interrupted fit wrote a run folder"
