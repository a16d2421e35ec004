"""`deepsci explain RUN [DATA]` and `deepsci distill TEACHER_RUN --student CONFIG`.

`explain` leaves report.html as `deepsci fit` wrote it and writes two files beside it, under the
run's lock, each written to a temporary name and renamed into place (a kill never leaves half a
file): explain.html (attributions and, for classifiers, accuracy against ε) and attributions.csv
(one row per feature, pixel or position; per method its importance and rank). For a molecular
graph run the units of attributions.csv are the atom-feature columns, and atom_attributions.csv
holds every explained atom's value per method (row, SMILES, RDKit atom index, element).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Optional

import typer

from deepsci.cli.paths import check_output_folder
from deepsci.errors import ConfigError

# torch and the library are imported inside each command: `deepsci --help` and a config error answer at once.

DEFAULT_EPSILONS = "0,0.05,0.1,0.2"


def register(app: typer.Typer) -> None:
    """Adds `explain` and `distill` to the `deepsci` app."""
    app.command("explain")(explain_cmd)
    app.command("distill")(distill_cmd)


def explain_cmd(
    run: Path = typer.Argument(..., help="a run folder written by `deepsci fit`"),
    data: Optional[Path] = typer.Argument(None, help="rows to explain (a file or catalog name); default: the "
                                                     "run's own test split"),
    methods: str = typer.Option("integrated-gradients,gradient-x-input,saliency,occlusion,permutation",
                                "--methods", help="comma-separated attribution methods"),
    rows: int = typer.Option(200, "--rows", min=2, help="rows explained (the first ones)"),
    robustness: str = typer.Option(DEFAULT_EPSILONS, "--robustness",
                                   help="comma-separated ε for the FGSM/PGD accuracy curve (classifiers); '' for none"),
    seed: int = typer.Option(0, "--seed", help="permutations and PGD starts"),
    out: Optional[Path] = typer.Option(None, "--out", help="folder for explain.html and attributions.csv "
                                                           "(default: the run folder; give one for a read-only run)"),
) -> None:
    """Which inputs drove RUN's predictions: writes explain.html and attributions.csv into RUN (or --out)."""
    from deepsci.explain.attributions import METHODS
    from deepsci.folder import RunLock, replace_file, spreadsheet_safe
    from deepsci.report import write_report
    from deepsci.report.explain import explanation_sections
    from deepsci.run import Run
    from deepsci.training.threads import take_share

    take_share()  # this process's share of the cores (deepsci.training.threads)
    wanted = _names(methods, METHODS, "--methods")
    epsilons = _numbers(robustness, "--robustness")
    target = _writable_target(run, out)
    loaded = Run.load(run)
    source: Any = None if data is None else (str(data) if not data.exists() else data)  # a file or a catalog name
    explanation = loaded.explain(source, methods=wanted, rows=rows, epsilons=epsilons, seed=seed)
    where = "the run's test split" if data is None else str(data)
    sections = explanation_sections(explanation, loaded.task)
    atoms = explanation.atom_frame()
    written = ["explain.html", "attributions.csv"] + ([] if atoms is None else ["atom_attributions.csv"])
    with RunLock(loaded.path.parent, loaded.path.name) if out is None else contextlib.nullcontext():
        replace_file(target / "attributions.csv",
                     lambda p: spreadsheet_safe(explanation.frame()).to_csv(p, index=False))
        if atoms is not None:
            replace_file(target / "atom_attributions.csv", lambda p: spreadsheet_safe(atoms).to_csv(p, index=False))
        replace_file(target / "explain.html", lambda p: write_report(
            p, title=f"Attributions: {loaded.config.name}", config_toml=(loaded.path / "config.toml").read_text(),
            data_summary={"rows explained": explanation.rows, "from": where}, metrics={}, figures=[],
            sections=sections))
    for method, a in explanation.attributions.items():
        print(f"{method}: top {', '.join(a.top(5))}")
    for method, why in explanation.skipped.items():
        print(f"{method}: not computed ({why})")
    error = explanation.completeness_error()
    if error is not None:
        print(f"integrated gradients completeness error (median): {100 * error:.3g}%")
    if explanation.robustness is not None:
        for method, acc in explanation.robustness.accuracy.items():
            pairs = ", ".join(f"ε={e:g}: {a:.3f}" for e, a in zip(explanation.robustness.epsilons, acc))
            print(f"{method.upper()} accuracy {pairs}")
    for name in written:
        print(f"written: {target / name}")


def _writable_target(run: Path, out: Path | None) -> Path:
    """The folder explain writes into: `out` (created), or the run folder if it may be written, else a
    ConfigError that says the run is read-only and names --out (before any work)."""
    if out is not None:
        check_output_folder(out, "--out")
        out.mkdir(parents=True, exist_ok=True)
        return out
    if run.is_dir() and not (os.access(run, os.W_OK | os.X_OK) and os.access(run.parent, os.W_OK | os.X_OK)):
        raise ConfigError(f"the run folder '{run}' is read-only here, and explain writes explain.html and "
                          "attributions.csv into it (and its lock beside it). Give --out FOLDER to write them "
                          "elsewhere.")
    return run


def _names(text: str, known: tuple[str, ...], option: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ConfigError(f"{option}: unknown or missing name(s) {bad or text!r}; known: {', '.join(known)}.")
    return names


def _numbers(text: str, option: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"{option} must be comma-separated numbers like '0,0.05,0.1'; received '{text}'.") from None
    if any(v < 0 for v in values):
        raise ConfigError(f"{option} needs ε >= 0; received '{text}'.")
    return values


def distill_cmd(
    teacher: Path = typer.Argument(..., help="the teacher's run folder (a classifier; an ensemble run is averaged)"),
    student: Path = typer.Option(..., "--student", help="TOML config of the student (same data as the teacher)"),
    temperature: float = typer.Option(3.0, "--temperature", min=1.0, help="softening temperature T"),
    alpha: float = typer.Option(0.9, "--alpha", min=0.0, max=1.0, help="weight of the soft-target term"),
    out: Path = typer.Option(Path("runs"), "--out", help="folder that receives <student name>-distill/"),
) -> None:
    """Train CONFIG's student on TEACHER's softened outputs and on hard labels; compare them."""
    from deepsci.cli.fast import cap_epochs
    from deepsci.experiment import distill_run, load_config, write_distillation
    from deepsci.run import Run

    cfg = load_config(student)
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": cap_epochs(cfg.train.epochs)})})
    result = distill_run(Run.load(teacher), cfg, temperature=temperature, alpha=alpha)
    folder = write_distillation(result, out / f"{cfg.name}-distill")
    for name, row in result.table().items():
        print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
    print(f"written: {folder}")
