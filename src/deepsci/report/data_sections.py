"""Report sections that depend on the kind of data: image samples, forecasts, generated text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from markupsafe import escape
from torch import nn

from deepsci.evaluation.figures import figure_to_data_uri
from deepsci.report.document import Section

if TYPE_CHECKING:
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset
    from deepsci.evaluation.results import Evaluation, SplitResult


def data_sections(config: "Config", dataset: "Dataset", evaluation: "Evaluation", model: nn.Module) -> list[Section]:
    """Sections for images (samples, worst misclassified), forecasts (plot, baselines), text (a sample),
    molecules (the worst-predicted drawn), physics datasets (their own figures) and attributions."""
    from deepsci.report.explain import explain_sections
    from deepsci.report.molecules import molecule_sections
    from deepsci.report.physics import physics_sections

    return [*_kind_sections(config, dataset, evaluation, model),
            *molecule_sections(config, dataset, evaluation, model),
            *physics_sections(config, dataset, evaluation, model),
            *explain_sections(config, dataset, evaluation, model)]


def _kind_sections(config: "Config", dataset: "Dataset", evaluation: "Evaluation", model: nn.Module) -> list[Section]:
    structures = {schema.structure for schema in dataset.inputs.values()}
    test = evaluation.splits.get("test")
    if evaluation.forecast is not None and test is not None:
        return [_forecast_section(config, dataset, test, evaluation.forecast)]
    if dataset.summary.get("kind") == "text":
        return [_text_section(dataset, model)]
    if dataset.task in ("binary", "multiclass") and structures == {"image"} and test is not None:
        return [_image_section(dataset, test)]
    return []


def _forecast_section(config: "Config", dataset: "Dataset", test: "SplitResult", comparison: dict[str, Any]) -> Section:
    from deepsci.evaluation.forecast import forecast_plot

    horizon, input_length = int(dataset.summary["horizon"]), int(dataset.summary["input_length"])
    boundary = dataset.summary.get("boundaries", {}).get("test_start")
    times = [str(t) for t in dataset.summary["times"]]
    position = {t: i for i, t in enumerate(times)}
    # A window's id is its last input step; the forecast's first step is the one after it.
    first_step = [times[position[i] + 1] if position.get(i, len(times)) + 1 < len(times) else i for i in test.ids]
    fig = forecast_plot(first_step, test.y_true, test.pred, horizon=horizon, target=dataset.summary["targets"][0],
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
    from deepsci.evaluation.image_figures import classified_examples

    X = dataset.test.X
    assert isinstance(X, (torch.Tensor, dict))  # images are tensors, never a RowSource
    images = (X if isinstance(X, torch.Tensor) else next(iter(X.values()))).numpy()
    figures = [(f"First {min(16, len(images))} test images with true and predicted labels (red: wrong).",
                figure_to_data_uri(classified_examples(images, test.y_true, test.pred, dataset.class_names))),
               ("The 16 test images the model got most wrong (largest cross-entropy).",
                figure_to_data_uri(classified_examples(images, test.y_true, test.pred, dataset.class_names,
                                                       worst=True)))]
    return Section(title="Test images", figures=figures)


def _text_section(dataset: "Dataset", model: nn.Module) -> Section:
    from deepsci.data.sequences import Vocabulary

    vocab = Vocabulary.from_dict(dataset.preprocessor.featurisers["x"].state["vocabulary"])
    generator = torch.Generator().manual_seed(0)
    sample = vocab.decode(model.sample(300, temperature=0.8, generator=generator))  # type: ignore[operator]
    h = dataset.summary["unigram_entropy_nats"]
    html = (f"<p>Unigram entropy of the training text: {h:.3f} nats/symbol (the loss of a model that ignores "
            "context). A sample of 300 symbols at temperature 0.8:</p>"
            f"<pre>{escape(sample)}</pre>")
    return Section(title="Samples from the model", html=html)
