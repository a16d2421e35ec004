"""The `deepsci` command: a thin face over deepsci.experiment and the library.

Errors a user can cause (DeepSciError) are printed as one line without a traceback, exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from deepsci.errors import DeepSciError

app = typer.Typer(help="Deep learning for scientific data: fit, evaluate, predict, report.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console(stderr=True)


@app.command()
def fit(config: Path = typer.Argument(..., help="TOML config, e.g. examples/solubility.toml"),
        set_: Optional[list[str]] = typer.Option(None, "--set", help="override a key: --set train.epochs=50"),
        out: Path = typer.Option(Path("runs"), "--out", help="folder that receives the run folder"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress output"),
        resume: bool = typer.Option(False, "--resume", help="go on from the run's last checkpoint (an interrupted "
                                                             "run, or a finished one with more train.epochs)")) -> None:
    """Train and evaluate the model of CONFIG; write runs/<name>/ with metrics, predictions and report."""
    from deepsci.experiment import load_config, run_experiment
    from deepsci.report.summary import metrics_table

    cfg = load_config(config, set_ or ())
    run = run_experiment(cfg, out, progress=not quiet, resume=resume)
    Console().print(metrics_table({k: run.metrics[k] for k in ("train", "valid", "test") if k in run.metrics}))
    report = run.path / "report.html"
    print(f"run folder: {run.path}")
    if report.exists():
        print(f"report: {report}")


@app.command()
def predict(run: Path = typer.Argument(..., help="a run folder written by `deepsci fit`"),
            input: Path = typer.Argument(..., help="table to predict (CSV, Parquet, NPZ, SDF)"),
            output: Path = typer.Option(..., "-o", "--output", help="CSV file for the predictions")) -> None:
    """Predict INPUT with the model of RUN, featurised and scaled as in training."""
    from deepsci.run import Run

    frame = Run.load(run).predict(input)
    output.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(output, index=False)
    print(f"{len(frame)} predictions written to {output}")


@app.command()
def evaluate(run: Path = typer.Argument(..., help="a run folder written by `deepsci fit`"),
             input: Path = typer.Argument(..., help="labelled table (it must hold the target column)")) -> None:
    """Metrics of the model of RUN on the labelled table INPUT."""
    import json

    from deepsci.run import Run

    metrics = Run.load(run).evaluate(input)
    print(json.dumps(metrics, indent=2))


@app.command()
def sample(run: Path = typer.Argument(..., help="a run folder of a character-level model (model.kind = 'charlm')"),
           length: int = typer.Option(200, "--length", min=1, help="symbols to generate"),
           temperature: float = typer.Option(1.0, "--temperature", min=0.01,
                                             help="below 1: likelier symbols; above 1: more varied"),
           prompt: str = typer.Option("", "--prompt", help="text the sample continues"),
           seed: int = typer.Option(0, "--seed")) -> None:
    """Print text sampled from a character-level language model."""
    from deepsci.run import Run

    print(Run.load(run).sample(length, temperature=temperature, prompt=prompt, seed=seed))


@app.command()
def datasets() -> None:
    """List the bundled datasets (no download: they ship with installed packages or are simulated)."""
    from rich.table import Column, Table

    from deepsci.data import list_datasets

    table = Table(Column("name", no_wrap=True), "task", "rows", Column("target", no_wrap=True), "description")
    for info in list_datasets():
        table.add_row(info.name, info.task, str(info.n_rows or ""), str(info.target), info.description)
    Console().print(table)


def _mount_subapps() -> None:
    from deepsci.cli.rules import app as rules_app
    from deepsci.cli.theory import app as theory_app

    app.add_typer(theory_app, name="theory", help="Theory of deep networks: criticality, propagation, kernels.")
    app.add_typer(rules_app, name="rules", help="Learning rules beyond backprop, Hopfield networks, RBMs.")


_mount_subapps()


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app; DeepSciError -> one line on stderr, exit 2.

    Usage errors (bad options) are reported by typer itself, also with exit status 2.
    """
    try:
        app(args=argv)
    except DeepSciError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
