"""`deepsci sweep CONFIG.toml --trials N`: search the keys the config marks as ranges, with Optuna.

Each trial is a run folder `runs/<study>-tNNN` like `deepsci fit` writes; the sweep's own files go in
`runs/<study>.sweep/` (the SQLite study by default, trials.csv, best.toml, report.html). Give several
workers the same `--storage` URL (PostgreSQL) and `--study` to share one study. See docs/sweeps.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console

from deepsci.errors import MissingDependencyError

if TYPE_CHECKING:
    from deepsci.sweep import SweepSummary

# torch, matplotlib and the library are imported inside each command: `deepsci --help` answers at once.

INTERRUPTED = 130  # the shell's status for a process ended by SIGINT (128 + 2)
WIDE = 200  # columns of the trials table when the output is not a terminal


def register(app: typer.Typer) -> None:
    """Adds `sweep` to the `deepsci` app."""
    app.command("sweep")(sweep_cmd)


def sweep_cmd(
    config: Path = typer.Argument(..., help="TOML config with ranges, e.g. examples/solubility_sweep.toml"),
    trials: int = typer.Option(..., "--trials", min=1, help="trials this worker runs (added to the study's)"),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna storage URL shared by workers, e.g. "
                                          "postgresql+psycopg://user:password@host/db (default: SQLite in the "
                                          "sweep folder)"),
    study: Optional[str] = typer.Option(None, "--study", help="study name (default: the config's name)"),
    out: Path = typer.Option(Path("runs"), "--out", help="folder that receives the run folders and the sweep folder"),
    metric: str = typer.Option("loss", "--metric", help="validation metric to optimise: loss, rmse, r2, accuracy, "
                                                        "roc_auc, ... (its direction is known)"),
    prune: bool = typer.Option(True, "--prune/--no-prune", help="stop trials whose validation loss lags the "
                                                                "median of earlier trials at the same epoch"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a key: --set train.epochs=50"),
    quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors and the sweep folder's path"),
    jobs: int = typer.Option(1, "--jobs", help="trials run at once, as worker processes on this machine sharing "
                                               "the study and the cores (docs/sweeps.md)"),
) -> None:
    """Search CONFIG's ranges with Optuna: one run folder per trial, then trials.csv, best.toml and report.html."""
    import importlib.util

    from deepsci.cli.fast import fast_overrides
    from deepsci.config import load_raw

    if importlib.util.find_spec("optuna") is None:
        raise MissingDependencyError("deepsci sweep needs Optuna: pip install 'deepsci[sweep]'")
    from deepsci.sweep import prepare_sweep, run_sweep, summarise
    from deepsci.sweep.jobs import check_jobs, run_jobs, start_server
    from deepsci.sweep.study import open_study

    check_jobs(jobs)
    overrides = list(set_ or ())
    raw = load_raw(config, [*overrides, *fast_overrides(config, overrides)])
    # Checked before torch and Optuna are imported, so a config error shows at once.
    setup = prepare_sweep(raw, out=out, storage=storage, study=study, metric=metric, source=str(config))
    if jobs > 1 and trials > 1:
        start_server()  # the workers' imports begin now, beside the rest of this command (deepsci.sweep.jobs)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # one line per trial is printed below instead
    pruner = None if prune else optuna.pruners.NopPruner()
    try:
        if jobs > 1:
            open_study(setup, seed=0, pruner=optuna.pruners.NopPruner())  # created once here: the workers load it
            code = run_jobs(setup, trials, jobs, prune=prune, progress=not quiet)
            if code:
                raise typer.Exit(code)  # the worker that failed printed why, or its trial was marked failed
            result = open_study(setup, seed=0, pruner=pruner)  # the workers' study, read back (the seed is unused)
        else:
            from deepsci.training.threads import take_share

            take_share()  # this process's share of the cores, for the parts of each trial around its fit
            result = run_sweep(setup, trials, pruner=pruner, progress=not quiet)
    except KeyboardInterrupt:
        Console(stderr=True).print(f"interrupted; the finished trials are kept in study '{setup.study}': run the "
                                   "same command again to add trials", highlight=False, markup=False)
        raise typer.Exit(INTERRUPTED) from None
    summary = summarise(setup, result)
    if quiet:
        print(setup.folder)
        return
    # A terminal gets the table at its width; a file or a pipe gets it whole (rich would assume 80 columns).
    Console(width=None if sys.stdout.isatty() else WIDE).print(trials_table(summary))
    _print_outcome(summary)


def trials_table(summary: "SweepSummary") -> "object":
    """The trials as a rich table: number, state, score, epochs and one column per searched key (headed by
    its last part where that is unambiguous); the caption says how run folders are named."""
    from rich import box
    from rich.table import Column, Table

    from deepsci.sweep import run_name
    from deepsci.sweep.summary import param_text

    setup = summary.setup
    names = [r.name for r in setup.ranges]
    short = [n.rsplit(".", 1)[-1] for n in names]
    heads = short if len(set(short)) == len(short) else names
    values = [[param_text(row.params[n]) if n in row.params else "" for n in names] for row in summary.rows]
    # Values never wrap (a folded number misreads); in a narrow terminal the searched keys' headers do.
    widths = [max([1, *(len(v[k]) for v in values)]) for k in range(len(names))]
    columns = [*(Column(h, no_wrap=True) for h in ("trial", "state", setup.metric, "epochs")),
               *(Column(h, overflow="fold", min_width=w) for h, w in zip(heads, widths))]
    table = Table(*columns, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0),
                  title=f"study {setup.study}: validation {setup.metric} ({setup.direction})",
                  caption=f"run folder of trial 7: {setup.out / run_name(setup.study, 7)}")
    for row, texts in zip(summary.rows, values):
        best = summary.best is not None and row.number == summary.best.number
        table.add_row(str(row.number), row.state, "" if row.value is None else f"{row.value:.4g}", str(row.epochs),
                      *texts, style="bold green" if best else None)
    return table


def _print_outcome(summary: "SweepSummary") -> None:
    best = summary.best
    if best is None:
        print("no trial has completed yet: no best config")
    else:
        print(f"best: trial {best.number}, validation {summary.setup.metric} {best.value:.4g}, "
              f"run folder {summary.setup.out / best.run}")
    for what, path in summary.files.items():
        print(f"{what}: {path}")
