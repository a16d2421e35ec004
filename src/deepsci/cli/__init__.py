"""The `deepsci` command: a thin face over deepsci.experiment and the library.

Errors a user can cause (DeepSciError, a bad option, an OSError on a path they gave) are printed as
one line without a traceback, exit status 2; Ctrl-C exits 130 with one line on how to resume. The
config is validated before torch and the rest are imported, so a config error shows at once.
`DEEPSCI_FAST=1` caps training for tests of the docs (deepsci.cli.fast).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from deepsci.cli.ending import end_process
from deepsci.cli.failure import describe_os_error, exit_on_sigterm, restore_sigterm, show_cursor
from deepsci.cli.fast import fast_overrides
from deepsci.cli.paths import check_output_file, check_predictions_output
from deepsci.errors import DeepSciError, os_error_at
from deepsci.folder import check_out, spreadsheet_safe

app = typer.Typer(help="Deep learning for scientific data: fit, evaluate, predict, report.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console(stderr=True, soft_wrap=True, highlight=False)
INTERRUPTED = 130  # the shell's status for a process ended by SIGINT (128 + 2)

# Paths named on the command line or in the config: an OSError on one of them is the user's to fix.
_user_paths: list[Path] = []


@app.command()
def fit(config: Path = typer.Argument(..., help="TOML config, e.g. examples/solubility.toml"),
        set_: Optional[list[str]] = typer.Option(None, "--set", help="override a key: --set train.epochs=50"),
        out: Path = typer.Option(Path("runs"), "--out", help="folder that receives the run folder"),
        quiet: bool = typer.Option(False, "--quiet", help="print nothing but errors and the run folder's path"),
        resume: bool = typer.Option(False, "--resume", help="go on from the run's last checkpoint (an interrupted "
                                                             "run, or a finished one with more train.epochs)"),
        device: Optional[str] = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:N or mps "
                                                                     "(sets train.device)"),
        nproc: int = typer.Option(1, "--nproc", min=1, help="train in N processes on this machine with "
                                                            "DistributedDataParallel (as torchrun does)")) -> None:
    """Train and evaluate the model of CONFIG; write runs/<name>/ with metrics, predictions and report."""
    from deepsci.config import PhysicsConfig, load_fit_config  # validation first: torch and the rest come after it

    overrides = list(set_ or ()) + ([f"train.device={device}"] if device is not None else [])
    cfg = load_fit_config(config, [*overrides, *fast_overrides(config, overrides)])
    if isinstance(cfg, PhysicsConfig):  # an equation, no data: deepsci.physics_run
        from deepsci.cli.physics import fit_physics_config

        fit_physics_config(cfg, out, quiet=quiet, resume=resume, nproc=nproc)
        return
    _user_paths.extend(Path(str(s)) for s in _data_sources(cfg))
    check_out(out, cfg.name)
    if nproc > 1 and "WORLD_SIZE" not in os.environ:  # not yet inside torchrun: start the processes
        args = ["fit", str(config), *(a for o in overrides for a in ("--set", o)), "--out", str(out)]
        args += ["--quiet"] * quiet + ["--resume"] * resume
        from deepsci.training.device import resolve_device
        from deepsci.training.distributed import check_one_device_per_process, launch

        check_one_device_per_process(cfg.train.device, nproc)  # fails here once, not in every process
        resolve_device(cfg.train.device)
        raise typer.Exit(launch(nproc, args))
    try:
        from deepsci.experiment import run_experiment

        run = run_experiment(cfg, out, progress=not quiet, resume=resume)
    except RuntimeError as exc:
        from deepsci.training.distributed import peer_lost

        if "WORLD_SIZE" in os.environ and peer_lost(exc):  # the launcher names the process that was lost
            raise typer.Exit(1) from None
        raise
    except KeyboardInterrupt:
        show_cursor()
        console.print(escape(_interrupted(config, overrides, out, cfg.name)))
        raise typer.Exit(INTERRUPTED) from None
    if os.environ.get("RANK", "0") != "0":
        return  # one of several training processes: rank 0 speaks for them
    report = run.path / "report.html"
    _warn(_run_notes(run.metrics))  # on stderr, even with --quiet: a result not to be trusted must be seen
    if quiet:
        print(run.path)
        return
    from deepsci.report.summary import run_tables, scheme_line

    for table in run_tables(run.metrics):
        Console().print(table)
    if scheme_line(run.metrics):
        print(scheme_line(run.metrics))
    print(f"run folder: {run.path}")
    if report.exists():
        print(f"report: {report}")


def _warn(lines: list[str]) -> None:
    for line in lines:
        console.print(escape(f"warning: {line}"))


def _skipped_note(skipped: list[dict[str, Any]], what: str) -> list[str]:
    """One line counting the rows left out, with the first reason (all of them are in the records)."""
    if not skipped:
        return []
    first = skipped[0]
    return [f"{len(skipped)} {what} row{'s' if len(skipped) > 1 else ''} skipped (first: row {first['row']}, "
            f"{first['reason']}); they have no prediction."]


def _run_notes(metrics: dict[str, Any]) -> list[str]:
    """The run's warnings and the rows its data lost (skipped.csv), each one line."""
    from deepsci.report.summary import run_warnings

    notes = run_warnings(metrics)
    dropped = metrics.get("data", {}).get("n_dropped") or metrics.get("data", {}).get("n_skipped")
    if dropped:
        notes.append(f"{dropped} data row(s) could not be used and were left out; skipped.csv in the run folder "
                     "lists each with its reason.")
    return notes


def _data_sources(cfg: Any) -> list[str]:
    """The data files a config names (the user's paths, for error messages)."""
    data = getattr(cfg, "data", None)
    return [v for v in (getattr(data, "source", None), getattr(data, "test_source", None)) if isinstance(v, str)]


def _interrupted(config: Path, overrides: list[str], out: Path, name: str) -> str:
    """The one line printed on Ctrl-C: the last saved epoch and the command that goes on from it."""
    epoch = _last_saved_epoch(out, name)
    command = ["deepsci", "fit", str(config), *(a for o in overrides for a in ("--set", o))]
    if out != Path("runs"):
        command += ["--out", str(out)]
    again = " ".join(shlex.quote(a) for a in command)
    if epoch is None:
        return f"interrupted before the first epoch ended; nothing was saved: start again with `{again}`"
    return f"interrupted at epoch {epoch}; the training state is saved: resume with `{again} --resume`"


def _last_saved_epoch(out: Path, name: str) -> int | None:
    """The epoch of the newest training checkpoint of run `name` in `out` (None where there is none)."""
    newest: tuple[float, int] | None = None
    for folder in [*out.glob(f".{name}.checkpoint*"), out / name / "checkpoint"]:
        epoch = _checkpoint_epoch(folder)
        if epoch is None:
            continue
        stamp = max((p.stat().st_mtime for p in folder.iterdir()), default=0.0)
        if newest is None or stamp > newest[0]:
            newest = (stamp, epoch)
    return None if newest is None else newest[1]


def _checkpoint_epoch(folder: Path) -> int | None:
    """The last completed epoch a checkpoint folder holds, read by the checkpoint's own reader."""
    if not folder.is_dir():
        return None
    try:
        from deepsci.training.checkpoint import checkpoint_epoch

        return int(checkpoint_epoch(folder))
    except Exception:  # an unreadable checkpoint: the interrupt message says nothing was saved
        return None


@app.command()
def predict(run: Path = typer.Argument(..., help="a run folder written by `deepsci fit`"),
            input: Path = typer.Argument(..., help="table to predict (CSV, Parquet, NPZ, SDF)"),
            output: Path = typer.Option(..., "-o", "--output", help="CSV file for the predictions")) -> None:
    """Predict INPUT with the model of RUN, featurised and scaled as in training."""
    from deepsci.run import Run
    from deepsci.training.threads import take_share

    check_output_file(output)
    check_predictions_output(output, run, (input,))
    take_share()  # this process's share of the cores (deepsci.training.threads)
    loaded = Run.load(run)
    frame = loaded.predict(input)
    _warn(_skipped_note(loaded.skipped_, "input"))
    _warn(getattr(loaded.preprocessor, "read_notes", []))  # a record's repaired steps (deepsci.data.ordered)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: an interrupted write never leaves half a predictions file.
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        spreadsheet_safe(frame).to_csv(partial, index=False)
        os.replace(partial, output)
    except OSError as exc:  # a full disk names no file: name -o
        raise os_error_at(exc, output) from exc
    finally:
        partial.unlink(missing_ok=True)
    print(f"{len(frame)} predictions written to {output}")


@app.command()
def evaluate(run: Path = typer.Argument(..., help="a run folder written by `deepsci fit`"),
             input: Path = typer.Argument(..., help="labelled table (it must hold the target column)")) -> None:
    """Metrics of the model of RUN on the labelled table INPUT."""
    from deepsci.data.fingerprint import own_file_note
    from deepsci.run import Run
    from deepsci.training.threads import take_share

    take_share()  # this process's share of the cores (deepsci.training.threads)
    loaded = Run.load(run)
    metrics = loaded.evaluate(input)
    _warn(_skipped_note(loaded.skipped_, "input"))
    _warn(getattr(loaded.preprocessor, "read_notes", []))  # a record's repaired steps (deepsci.data.ordered)
    own = own_file_note(loaded.metrics.get("data", {}).get("fingerprint"), input)
    _warn([own] if own else [])
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
    from deepsci.cli import explain, sweep
    from deepsci.cli.rules import app as rules_app
    from deepsci.cli.theory import app as theory_app

    explain.register(app)
    sweep.register(app)
    app.add_typer(theory_app, name="theory", help="Theory of deep networks: criticality, propagation, kernels.")
    app.add_typer(rules_app, name="rules", help="Learning rules beyond backprop, Hopfield networks, RBMs.")


_mount_subapps()


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the command and exit with its status.

    A user's error (DeepSciError, a bad option, an OSError on a path they gave) is one line on stderr
    and status 2; Ctrl-C is status 130; any other exception is a bug and keeps its traceback. The
    terminal cursor is shown again however the command ends. Run as the command (`argv` None), the
    process ends without the interpreter's teardown (deepsci.cli.ending).
    """
    from typer._click.exceptions import ClickException, NoArgsIsHelpError

    args = sys.argv[1:] if argv is None else [str(a) for a in argv]
    _user_paths[:] = [Path(part) for a in args for part in a.split("=")[-1:] if part and not part.startswith("-")]
    code: Any = 0
    previous = exit_on_sigterm()
    try:
        code = app(args=args, prog_name="deepsci", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        exc.show()
        code = 2
    except ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        command = f"{ctx.command_path} --help" if ctx is not None else "deepsci --help"
        _error(f"{exc.format_message()} (see `{command}`)")
        code = exc.exit_code
    except typer.Abort:  # end of input at a prompt
        code = 1
    except DeepSciError as exc:
        _error(str(exc))
        code = 2
    except OSError as exc:
        message = describe_os_error(exc, _user_paths)
        if message is None:
            raise
        _error(message)
        code = 2
    finally:
        show_cursor()
        restore_sigterm(previous)
    status = code if isinstance(code, int) else 0
    if argv is None:  # the command's own process (the `deepsci` script, `python -m deepsci`)
        end_process(status)
    sys.exit(status)


def _error(message: str) -> None:
    """One line on stderr, however many lines the message had."""
    console.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}")
