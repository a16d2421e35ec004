"""What a sweep leaves in `runs/<study>.sweep/`: the trials table, the best config and a page of figures.

    trials.csv    one row per trial of the study: number, state, score, epochs, params, run folder, worker
    best.toml     the config with the best trial's values in place of the ranges: `deepsci fit best.toml`
    report.html   self-contained (figures as data URIs): the optimisation history, each trial's validation
                  loss per epoch, parameter importances, the trials table, and the best run's metrics

Everything is read back from the study's storage, so any worker's summary covers every worker's trials.
Each file is written beside its target and renamed over it, so workers that finish together never
leave half a file.
"""

from __future__ import annotations

import csv
from collections import Counter
import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deepsci.errors import DataError
from deepsci.folder import read_json, replace_file
from deepsci.report.document import Section, write_report
from deepsci.sweep.space import substitute, values_from_params
from deepsci.sweep.study import SweepSetup, redact

if TYPE_CHECKING:
    import optuna
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class TrialRow:
    """One trial as the summary shows it. `value` is the score (None unless complete); `params` maps each
    range's name to its config value; `run` is the run folder's name ("" where the trial left none)."""

    number: int
    state: str
    value: float | None
    epochs: int
    params: dict[str, Any]
    run: str
    seconds: float | None
    worker: str
    note: str = ""


@dataclass(frozen=True)
class SweepSummary:
    """The study's trials, its best trial (None while none completed) and the files written."""

    setup: SweepSetup
    rows: list[TrialRow]
    best: TrialRow | None
    files: dict[str, Path] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Trials by state, e.g. {"complete": 5, "pruned": 1}."""
        return dict(Counter(row.state for row in self.rows))


def summarise(setup: SweepSetup, study: "optuna.Study") -> SweepSummary:
    """The trials of the whole study, and trials.csv, best.toml (once a trial completed) and report.html
    written to the sweep's folder."""
    import optuna

    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    rows = [_row(setup, t) for t in trials]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best_trial = study.best_trial if complete else None
    best = next((r for r in rows if best_trial is not None and r.number == best_trial.number), None)
    folder = setup.folder
    folder.mkdir(parents=True, exist_ok=True)
    files = {"trials": _write(folder / "trials.csv", trials_csv(setup, rows))}
    best_toml = ""
    if best_trial is not None:
        best_toml = best_config_toml(setup, best_trial)
        files["best"] = _write(folder / "best.toml", best_toml)
    summary = SweepSummary(setup=setup, rows=rows, best=best, files=files)
    files["report"] = _write_page(folder / "report.html", summary, study, best_toml)
    return summary


def best_config_toml(setup: SweepSetup, best: "optuna.trial.FrozenTrial") -> str:
    """The searched config with the best trial's values in place of its ranges, as TOML `deepsci fit` runs."""
    import tomli_w

    raw = substitute(setup.raw, values_from_params(setup.ranges, best.params))
    header = (f"# The best trial of sweep '{setup.study}': trial {best.number} (run {best.user_attrs.get('run', '')}), "
              f"validation {setup.metric} {best.value:.6g}.\n# Train it with: deepsci fit best.toml\n")
    return header + tomli_w.dumps(raw)


def trials_csv(setup: SweepSetup, rows: list[TrialRow]) -> str:
    """The trials table as CSV text: one column per searched key, values as in the config (lists as JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    names = [r.name for r in setup.ranges]
    writer.writerow(["trial", "state", setup.metric, "epochs", *names, "run", "seconds", "worker", "note"])
    for row in rows:
        writer.writerow([row.number, row.state, "" if row.value is None else repr(row.value), row.epochs,
                         *(param_text(row.params[n]) if n in row.params else "" for n in names), row.run,
                         "" if row.seconds is None else f"{row.seconds:.2f}", row.worker, row.note])
    return buffer.getvalue()


def param_text(value: Any) -> str:
    """A config value as one short string: numbers to 4 significant digits, lists and tables as JSON."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


# -- rows -----------------------------------------------------------------------------------------------
def _row(setup: SweepSetup, trial: "optuna.trial.FrozenTrial") -> TrialRow:
    attrs = trial.user_attrs
    seconds = trial.duration.total_seconds() if trial.duration is not None else None
    epochs = int(attrs.get("epochs", max(trial.intermediate_values, default=0)))
    params = values_from_params(setup.ranges, trial.params)
    # Optuna gives a pruned trial the last value it reported: a mid-training loss, not a score to rank by.
    value = trial.value if trial.state.name == "COMPLETE" else None
    return TrialRow(number=trial.number, state=trial.state.name.lower(), value=value, epochs=epochs,
                    params={".".join(str(p) for p in k): v for k, v in params.items()}, run=attrs.get("run", ""),
                    seconds=seconds, worker=attrs.get("worker", ""), note=attrs.get("note", ""))


# -- the page -------------------------------------------------------------------------------------------
def _write_page(path: Path, summary: SweepSummary, study: "optuna.Study", best_toml: str) -> Path:
    setup, best = summary.setup, summary.best
    metrics, data = _best_run_documents(setup, best)
    facts = {"study": setup.study, "storage": redact(setup.storage), "objective": f"validation {setup.metric} "
             f"({setup.direction})", "trials": ", ".join(f"{n} {s}" for s, n in summary.counts().items()),
             "best trial": "none completed yet" if best is None else f"{best.number} (run {best.run})",
             f"best {setup.metric}": None if best is None else best.value}
    names = [r.name for r in setup.ranges]
    table = {"caption": "every trial of the study; pruned trials stopped early and left no run folder",
             "columns": ["trial", "state", setup.metric, "epochs", *names, "run"],
             "rows": [[str(r.number), r.state, r.value, r.epochs, *(param_text(r.params.get(n, "")) for n in names),
                       r.run] for r in summary.rows]}
    figures = [(caption, uri) for caption, uri in _figures(setup, study) if uri]
    sections = [Section("Sweep", table=facts, figures=figures), Section("Trials", table=table)]
    return write_report(path, title=f"Sweep {setup.study}", config_toml=best_toml or "(no trial completed yet)",
                        data_summary=data, metrics=metrics, figures=[], sections=sections)


def _best_run_documents(setup: SweepSetup, best: TrialRow | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics by split, data summary) of the best trial's run folder, empty where it is not on this
    machine (a worker elsewhere trained it)."""
    if best is None or not best.run:
        return {}, {}
    path = setup.out / best.run / "metrics.json"
    if not path.is_file():
        return {}, {"best run": f"{best.run} was trained by worker {best.worker}; its folder is not on this machine"}
    try:
        metrics: dict[str, Any] = read_json(path, "metrics")
    except DataError:
        return {}, {}
    splits = {k: metrics[k] for k in ("train", "valid", "test") if isinstance(metrics.get(k), dict)}
    return splits, {"best run": str(setup.out / best.run), **(metrics.get("data") or {})}


def _figures(setup: SweepSetup, study: "optuna.Study") -> list[tuple[str, str]]:
    from deepsci.evaluation.figures import figure_to_data_uri  # imports torch: kept out of `import deepsci.sweep`

    out = [(f"Optimisation history: each completed trial's validation {setup.metric} and the best so far",
            figure_to_data_uri(_history_figure(setup, study))),
           ("Validation loss per epoch of every trial (pruned trials dashed, where they stopped marked ×)",
            figure_to_data_uri(_curves_figure(study)))]
    importances = _importances(study)
    if importances:
        out.append(("Parameter importances (fANOVA over the completed trials; they sum to 1)",
                    figure_to_data_uri(_importance_figure(importances))))
    return out


def _axes(xlabel: str, ylabel: str) -> tuple["Figure", Any]:
    """A 6 x 3.6 inch figure with one labelled axes whose x ticks are integers (trials, epochs)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.0, 3.6))
    ax = fig.add_subplot()
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    return fig, ax


def _history_figure(setup: SweepSetup, study: "optuna.Study") -> "Figure":
    import numpy as np
    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    done.sort(key=lambda t: t.number)
    fig, ax = _axes("trial", f"validation {setup.metric}")
    if done:
        numbers = [t.number for t in done]
        values = np.array([t.value for t in done], dtype=float)
        best = np.minimum.accumulate(values) if setup.direction == "minimize" else np.maximum.accumulate(values)
        ax.scatter(numbers, values, s=18, label="trial", color="tab:blue")
        ax.step(numbers, best, where="post", color="tab:red", label="best so far")
        ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def _curves_figure(study: "optuna.Study") -> "Figure":
    import optuna

    fig, ax = _axes("epoch", "validation loss")
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0  # TrialReporter negated it
    for trial in study.get_trials(deepcopy=False):
        steps = sorted(trial.intermediate_values)
        if not steps:
            continue
        losses = [sign * trial.intermediate_values[s] for s in steps]
        pruned = trial.state == optuna.trial.TrialState.PRUNED
        ax.plot(steps, losses, linestyle="--" if pruned else "-", linewidth=1, alpha=0.8)
        if pruned:
            ax.plot(steps[-1:], losses[-1:], marker="x", color="black")
    fig.tight_layout()
    return fig


def _importances(study: "optuna.Study") -> dict[str, float]:
    """fANOVA importances of the params (seeded); empty with fewer than two completed trials or where the
    completed trials vary no param."""
    import optuna

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)))
    except (ValueError, RuntimeError):
        return {}


def _importance_figure(importances: dict[str, float]) -> "Figure":
    from matplotlib.figure import Figure

    names = list(importances)[::-1]
    fig = Figure(figsize=(6.0, 0.5 + 0.4 * len(names)))
    ax = fig.add_subplot()
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance")
    fig.tight_layout()
    return fig


def _write(path: Path, text: str) -> Path:
    """Write text beside `path`, then rename it over `path` (atomic on one file system)."""
    replace_file(path, lambda partial: partial.write_text(text, encoding="utf-8"))
    return path
