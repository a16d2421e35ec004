"""`deepsci theory` commands through typer's runner (real computations, small sizes)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deepsci.cli.theory import app

runner = CliRunner()


def test_critical_prints_point():
    r = runner.invoke(app, ["critical", "--activation", "tanh", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["cw"] == pytest.approx(1.0) and d["universality"] == "K*=0"
    r = runner.invoke(app, ["critical", "--activation", "sigmoid"])
    assert r.exit_code == 0 and "no critical point" in r.output


def test_propagate_writes_files(tmp_path: Path):
    r = runner.invoke(app, ["propagate", "--activation", "tanh", "--depth", "6", "--width", "64", "--inits", "4",
                            "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "propagation.png").stat().st_size > 1000
    d = json.loads((tmp_path / "propagation.json").read_text())
    assert len(d["measured_variance"]) == 6
    assert "written:" in r.output


def test_propagate_rejects_half_given_point(tmp_path: Path):
    from deepsci.errors import ConfigError

    r = runner.invoke(app, ["propagate", "--cb", "0.1", "--out", str(tmp_path)])
    assert isinstance(r.exception, ConfigError)


def test_depth_writes_report(tmp_path: Path):
    r = runner.invoke(app, ["depth", "--depth", "4", "--width", "16", "--epochs", "2", "--cws", "1,2",
                            "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    d = json.loads((tmp_path / "depth.json").read_text())
    assert set(d["trainability"]["test_accuracy"]) == {"1", "2"} and len(d["gradients"]["grad_norm"]["1"]) == 4
    assert (tmp_path / "trainability.png").stat().st_size > 1000
    assert (tmp_path / "report.html").exists() and "test accuracy" in r.output
    r = runner.invoke(app, ["depth", "--cws", "1,x", "--out", str(tmp_path)])
    from deepsci.errors import ConfigError

    assert isinstance(r.exception, ConfigError)


@pytest.mark.slow
def test_kernel_beside_trained_run(tmp_path: Path):
    """A real run folder from `run_experiment` (what `deepsci fit` writes), then `theory kernel --runs`."""
    from deepsci.experiment import load_config, run_experiment

    cfg_path = Path(__file__).resolve().parents[2] / "examples" / "solubility.toml"
    cfg = load_config(cfg_path, ["train.epochs=5"])  # a short fit: only its metrics.json is read
    run = run_experiment(cfg, tmp_path, progress=False)
    trained_rmse = float(run.metrics["test"]["rmse"])
    r = runner.invoke(app, ["kernel", str(cfg_path), "--depth", "2", "--runs", str(tmp_path)])
    assert r.exit_code == 0, r.output
    kernel_rmse = float(r.output.split("test RMSE ")[1].split(",")[0])
    assert 0.2 < kernel_rmse < 1.2  # logS units; a constant predictor is ~2
    shown = float(r.output.split("trained network")[1].split("test RMSE ")[1].split(",")[0])
    assert shown == pytest.approx(trained_rmse, rel=1e-3)  # 4 significant digits printed
    assert "kernel / trained RMSE" in r.output


def test_kernel_without_run_says_how(tmp_path: Path):
    cfg_path = Path(__file__).resolve().parents[2] / "examples" / "breast_cancer.toml"
    r = runner.invoke(app, ["kernel", str(cfg_path), "--runs", str(tmp_path)])
    from deepsci.errors import ConfigError

    assert isinstance(r.exception, ConfigError) and "regression" in str(r.exception)
