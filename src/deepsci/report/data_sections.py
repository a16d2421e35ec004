"""Report sections that depend on the kind of data: image samples, forecasts, generated text, molecules,
physics datasets and attributions. They draw the evaluation and the run's `Analyses`; they compute nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from markupsafe import escape

from deepsci.evaluation.figures import figure_to_data_uri
from deepsci.evaluation.forecast import forecast_plot
from deepsci.evaluation.image_figures import classified_examples
from deepsci.report.document import Section
from deepsci.report.explain import explain_sections
from deepsci.report.molecules import molecule_sections
from deepsci.report.physics import physics_sections
from deepsci.tasks import task_of

if TYPE_CHECKING:
    from deepsci.analyses import Analyses  # the type only: experiment computes it, the report draws it
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset
    from deepsci.evaluation.results import Evaluation, SplitResult


def data_sections(config: "Config", dataset: "Dataset", evaluation: "Evaluation",
                  analyses: "Analyses") -> list[Section]:
    """Sections for images (samples, worst misclassified), forecasts (plot, baselines), text (a sample),
    molecules (the worst-predicted drawn), physics datasets (their own figures) and attributions."""
    units = config.report.units
    return [*_kind_sections(config, dataset, evaluation, analyses),
            *molecule_sections(analyses.molecules, units),
            *physics_sections(analyses.physics),
            *explain_sections(analyses, dataset.task)]


def _kind_sections(config: "Config", dataset: "Dataset", evaluation: "Evaluation",
                   analyses: "Analyses") -> list[Section]:
    structures = {schema.structure for schema in dataset.inputs.values()}
    test = evaluation.splits.get("test")
    if evaluation.forecast is not None and test is not None:
        return [_forecast_section(config, dataset, test, evaluation.forecast)]
    if analyses.text_sample is not None:
        return [_text_section(dataset, analyses.text_sample)]
    if task_of(dataset.task).exclusive and structures == {"image"} and test is not None:
        return [_image_section(dataset, test)]
    return []


def _forecast_section(config: "Config", dataset: "Dataset", test: "SplitResult", comparison: dict[str, Any]) -> Section:
    summary = dataset.summary
    horizon, input_length = int(summary.horizon or 0), int(summary.input_length or 0)
    boundary = (summary.boundaries or {}).get("test_start")
    times = [str(t) for t in summary.times or ()]
    position = {t: i for i, t in enumerate(times)}
    # A window's id is its last input step; the forecast's first step is the one after it.
    first_step = [times[position[i] + 1] if position.get(i, len(times)) + 1 < len(times) else i for i in test.ids]
    target = (summary.targets or dataset.target_names)[0]
    fig = forecast_plot(first_step, test.y_true, test.pred, horizon=horizon, target=target,
                        units=config.report.units, boundary=boundary)
    table = {"columns": ["forecaster", "test RMSE (all steps)"],
             "rows": [[name, f"{v:.4g}"] for name, v in comparison["test_rmse"].items()]}
    html = (f"<p>Test windows forecast {horizon} step(s) from {input_length} past steps; "
            f"the split is in time order (test starts at {escape(str(boundary))}), so no future value was "
            "seen in training. Baselines are scored on the same windows.</p>")
    return Section(title="Forecasts against baselines", html=html, table=table,
                   figures=[("Test forecasts against the truth; the dashed line marks the start of the test "
                             "period.", figure_to_data_uri(fig))])


def _image_section(dataset: "Dataset", test: "SplitResult") -> Section:
    X = dataset.test.X
    assert isinstance(X, (torch.Tensor, dict))  # images are tensors, never a RowSource
    images = (X if isinstance(X, torch.Tensor) else next(iter(X.values()))).numpy()
    figures = [(f"First {min(16, len(images))} test images with true and predicted labels (red: wrong).",
                figure_to_data_uri(classified_examples(images, test.y_true, test.pred, dataset.class_names))),
               ("The 16 test images the model got most wrong (largest cross-entropy).",
                figure_to_data_uri(classified_examples(images, test.y_true, test.pred, dataset.class_names,
                                                       worst=True)))]
    return Section(title="Test images", figures=figures)


def _text_section(dataset: "Dataset", sample: str) -> Section:
    h = dataset.summary.unigram_entropy_nats
    html = (f"<p>Unigram entropy of the training text: {h:.3f} nats/symbol (the loss of a model that ignores "
            "context). A sample of 300 symbols at temperature 0.8:</p>"
            f"<pre>{escape(sample)}</pre>")
    return Section(title="Samples from the model", html=html)
