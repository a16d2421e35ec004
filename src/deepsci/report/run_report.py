"""The report of one `deepsci fit` run: data summary, metrics, the task's standard figures, extras."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from deepsci.evaluation.figures import figures_for
from deepsci.report.document import Section, write_report

if TYPE_CHECKING:
    from deepsci.data.dataset import Dataset
    from deepsci.experiment import Config


def build_run_report(path: Path, *, config: "Config", config_toml: str, dataset: "Dataset",
                     metrics: dict[str, Any], results: dict[str, dict[str, Any]],
                     history: list[dict[str, Any]], extra_sections: Sequence[Section] = ()) -> Path:
    """Write report.html for a run: figures are drawn on the test split (valid if there is no test)."""
    shown = "test" if "test" in results else "valid"
    r = results[shown]
    figures = figures_for(dataset.task, r["y_true"], r["pred"], history, dataset.class_names,
                          dataset.target_names, config.report.units)
    split_metrics = {k: metrics[k] for k in ("train", "valid", "test") if k in metrics}
    summary = dict(dataset.summary)
    summary["task"] = dataset.task
    summary["target"] = ", ".join(dataset.target_names)
    summary["figures drawn on"] = f"{shown} split"
    return write_report(path, title=f"deepsci run: {config.name}", config_toml=config_toml,
                        data_summary=summary, metrics=split_metrics, figures=figures,
                        sections=list(extra_sections))
