"""The report of one `deepsci fit` run: data summary, metrics, the task's standard figures, extras."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from markupsafe import escape

from deepsci.evaluation.figures import figure_to_data_uri, figures_for, learning_curves
from deepsci.evaluation.uncertainty import (calibration_figure, coverage_levels_figure, error_vs_std_figure,
                                            parity_figure, reliability_figure)
from deepsci.report.data_sections import data_sections
from deepsci.report.document import Section, render_report
from deepsci.report.summary import format_value
from deepsci.report.theory import theory_sections
from deepsci.tasks import task_of

if TYPE_CHECKING:
    from deepsci.analyses import Analyses  # the type only: experiment computes it, the report draws it
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset
    from deepsci.evaluation.results import Evaluation, SplitResult


#: metrics.json["uncertainty"]["ensemble_form"] in words (deepsci.training.ensemble, ensemble_any)
ENSEMBLE_FORMS = {"stacked": "as one stacked network (batched matmuls)",
                  "sequential": "one after another on each batch (K times one network's arithmetic)",
                  "vectorised": "as one vmap over their stacked parameters"}


def run_report(*, config: "Config", dataset: "Dataset", evaluation: "Evaluation", history: list[dict[str, Any]],
               analyses: "Analyses") -> str:
    """report.html of a run, as text: figures are drawn on the test split (valid if there is no test).

    Draws the evaluation, the analyses and the data summary; computes nothing and writes nothing back.
    """
    shown, drawn = evaluation.shown, evaluation.drawn
    if shown.frame is None:
        y_true, pred, names = drawn.y_true, drawn.pred, dataset.target_names
        if task_of(dataset.task).continuous and len(names) > 3:  # e.g. 12 forecast steps: first and last only
            y_true, pred, names = y_true[:, [0, -1]], pred[:, [0, -1]], [names[0], names[-1]]
        figures = figures_for(dataset.task, y_true, pred, history, dataset.class_names, names, config.report.units)
    else:  # symbol sequences: the learning curves here, samples in their own section
        figures = [("Training and validation loss (next-symbol cross-entropy, nats) per epoch.",
                    figure_to_data_uri(learning_curves(history)))]
    split_metrics = {k: evaluation.splits[k].metrics for k in ("train", "valid", "test") if k in evaluation.splits}
    summary = dataset.summary.to_json()
    summary["task"] = dataset.task
    summary["target"] = ", ".join(dataset.target_names)
    summary["figures drawn on"] = (f"{shown.name} split" if drawn is shown else  # a streamed split: a sample
                                   f"a random sample of {len(drawn.pred):,} of the {shown.rows:,} rows of the "
                                   f"{shown.name} split (the metrics cover every row)")
    sections = [*warning_sections(evaluation), *baseline_sections(evaluation)]
    if drawn.dist is not None:
        sections.append(uncertainty_section(dataset.task, drawn, evaluation.uncertainty or {}, shown.name,
                                            dataset.target_names, config.report.units))
    sections += data_sections(config, dataset, evaluation, analyses)
    sections += theory_sections(analyses.theory, evaluation)
    return render_report(title=f"deepsci run: {config.name}", config_toml=config.toml(),
                         data_summary=summary, metrics=split_metrics, figures=figures, sections=sections)


def warning_sections(evaluation: "Evaluation") -> list[Section]:
    """A section at the top for every warning of the run (e.g. worse than the trivial baseline)."""
    if not evaluation.warnings:
        return []
    items = "".join(f"<li><strong>{escape(w)}</strong></li>" for w in evaluation.warnings)
    return [Section(title="Warnings", html=f"<ul>{items}</ul>")]


def baseline_sections(evaluation: "Evaluation") -> list[Section]:
    """The model beside its references (deepsci.evaluation.references), fitted on the same training rows."""
    if not evaluation.baselines:
        return []
    key, second = task_of(evaluation.task).headline
    splits = [n for n in ("valid", "test") if n in evaluation.splits]
    rows = [["model (this run)", *[format_value(evaluation.splits[n].metrics.get(k)) for n in splits
                                   for k in (key, second)]]]
    rows += [[f"{b.name}: {b.description}", *[format_value(b.metrics.get(n, {}).get(k)) for n in splits
                                              for k in (key, second)]] for b in evaluation.baselines]
    table = {"columns": ["model", *[f"{n} {k}" for n in splits for k in (key, second)]], "rows": rows}
    html = ("<p>References fitted on the same training rows: the trivial model ignores the inputs; the linear "
            "model is the simplest model that uses them (on the features named beside it); a signal also gets "
            "MiniRocket, a series persistence, seasonal-naive and a linear autoregression.</p>")
    return [Section(title="Against simple references", html=html, table=table)]


def uncertainty_section(task: str, result: "SplitResult", summary: dict[str, Any], split: str,
                        target_names: Sequence[str], units: str = "") -> Section:
    """The report's uncertainty part: metrics table and the calibration figures of one split.

    Regression: calibration curve (needs a sigma), parity with conformal (or +-1 sigma) error bars, |error| vs
    sigma. Classification: reliability diagram. Drawn for the first target.
    """
    dist, bands, y = result.dist or {}, result.bands, result.y_true
    figures: list[tuple[str, str]] = []
    if task_of(task).continuous:
        name = f"{target_names[0]} ({units})" if units else target_names[0]
        mean = dist["pred"][:, 0]
        std = dist["std"][:, 0] if "std" in dist else None
        lower = bands["lower"][:, 0] if "lower" in bands else None
        upper = bands["upper"][:, 0] if "upper" in bands else None
        if std is not None:
            figures.append(("Calibration curve: observed vs expected coverage of Gaussian intervals mu +- z sigma.",
                            figure_to_data_uri(calibration_figure(y[:, 0], mean, std))))
        if std is not None or lower is not None:
            what = "conformal intervals" if lower is not None else "+-1 sigma"
            figures.append((f"Parity with error bars ({what}).",
                            figure_to_data_uri(parity_figure(y[:, 0], mean, std, lower=lower, upper=upper,
                                                             target_name=name))))
        if std is not None:
            figures.append(("|error| vs predicted sigma: a useful sigma is larger where errors are larger.",
                            figure_to_data_uri(error_vs_std_figure(y[:, 0], mean, std))))
    else:
        figures.append(("Reliability diagram: accuracy vs confidence (the diagonal is calibrated).",
                        figure_to_data_uri(reliability_figure(y, dist["pred"]))))
    levels = (summary.get(split) or {}).get("coverage_by_level")
    if levels:
        figures.append(("Coverage against nominal level (50, 80, 90, 95%), each level calibrated as the run's own.",
                        figure_to_data_uri(coverage_levels_figure(levels))))
    calibration = summary.get("calibration") or {}
    notes = ([escape(str(summary["scheme"]))] if summary.get("scheme") else []) + [
             f"Method: {escape(str(summary.get('method', 'none')))}"
             f" ({summary.get('members', 1)} member(s))"
             + (", heteroscedastic head" if summary.get("heteroscedastic") else "") + "."]
    if summary.get("ensemble_form"):
        notes.append(f"Members trained {escape(ENSEMBLE_FORMS.get(str(summary['ensemble_form']), ''))}.")
    layers = summary.get("sampled_layers")
    if layers is not None:
        names = ", ".join(f"{escape(str(d['module']))} ({escape(str(d['drops']))}, p = {d['p']})" for d in layers)
        notes.append(f"MC dropout samples {len(layers)} layer(s): {names}.")
    if calibration:
        notes.append(f"Conformal {escape(str(calibration.get('score') or calibration.get('method')))} "
                     f"{'intervals' if calibration.get('kind') == 'interval' else 'sets'} at level "
                     f"{calibration.get('level')}, calibrated on the {escape(str(calibration.get('calibrated_on', 'calib')))} split "
                     f"({calibration.get('n')} rows that took no part in training or model selection), "
                     f"never on test. Figures and the table show the {escape(split)} split.")
    table = {k: v for k, v in (summary.get(split) or result.uncertainty or {}).items() if not isinstance(v, dict)}
    return Section(title="Uncertainty", html="<p>" + " ".join(notes) + "</p>", figures=figures, table=table)
