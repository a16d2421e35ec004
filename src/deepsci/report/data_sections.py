"""Report sections that depend on the kind of data: image samples, forecasts, generated text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from markupsafe import escape
from torch import nn

from deepsci.evaluation.figures import figure_to_data_uri
from deepsci.report.document import Section

if TYPE_CHECKING:
    from deepsci.data.dataset import Dataset
    from deepsci.experiment import Config


def data_sections(config: "Config", dataset: "Dataset", results: dict[str, dict[str, Any]],
                  model: nn.Module) -> list[Section]:
    """Sections for images (samples, worst misclassified), forecasts (plot, baselines), text (a sample).

    Forecast baselines are also written into results["test"]["metrics"]["forecast"] so that
    metrics.json carries them.
    """
    kind = dataset.featuriser.get("kind")
    if kind == "windows" and "test" in results:
        return [_forecast_section(config, dataset, results["test"])]
    if kind == "text":
        return [_text_section(dataset, model)]
    if dataset.task != "regression" and dataset.test.X.dim() >= 3 and "test" in results:
        return [_image_section(dataset, results["test"])]
    return []


def _forecast_section(config: "Config", dataset: "Dataset", test: dict[str, Any]) -> Section:
    from deepsci.evaluation.forecast import baseline_forecasts, forecast_comparison, forecast_plot

    y, pred = test["y_true"], test["pred"]
    comparison = forecast_comparison(y, pred, baseline_forecasts(dataset, config.data.season))
    test["metrics"]["forecast"] = comparison
    horizon = int(dataset.featuriser["horizon"])
    boundary = dataset.summary.get("boundaries", {}).get("test_start")
    fig = forecast_plot(test["ids"], y, pred, horizon=horizon, target=dataset.summary["targets"][0],
                        units=config.report.units, boundary=boundary)
    table = {"columns": ["forecaster", "test RMSE (all steps)"],
             "rows": [[name, f"{v:.4g}"] for name, v in comparison["test_rmse"].items()]}
    html = (f"<p>Test windows forecast {horizon} step(s) from {dataset.featuriser['input_length']} past steps; "
            f"the split is in time order (test starts at {escape(str(boundary))}), so no future value was "
            "seen in training. Baselines are scored on the same windows.</p>")
    return Section(title="Forecasts against baselines", html=html, table=table,
                   figures=[("Test forecasts against the truth; the dashed line marks the start of the test "
                             "period.", figure_to_data_uri(fig))])


def _image_section(dataset: "Dataset", test: dict[str, Any]) -> Section:
    from deepsci.evaluation.image_figures import classified_examples

    images = dataset.test.X.numpy()
    figures = [(f"First {min(16, len(images))} test images with true and predicted labels (red: wrong).",
                figure_to_data_uri(classified_examples(images, test["y_true"], test["pred"], dataset.class_names))),
               ("The 16 test images the model got most wrong (largest cross-entropy).",
                figure_to_data_uri(classified_examples(images, test["y_true"], test["pred"], dataset.class_names,
                                                       worst=True)))]
    return Section(title="Test images", figures=figures)


def _text_section(dataset: "Dataset", model: nn.Module) -> Section:
    from deepsci.data.sequences import Vocabulary

    vocab = Vocabulary.from_dict(dataset.featuriser["vocabulary"])
    generator = torch.Generator().manual_seed(0)
    sample = vocab.decode(model.sample(300, temperature=0.8, generator=generator))  # type: ignore[operator]
    h = dataset.summary["unigram_entropy_nats"]
    html = (f"<p>Unigram entropy of the training text: {h:.3f} nats/symbol (the loss of a model that ignores "
            "context). A sample of 300 symbols at temperature 0.8:</p>"
            f"<pre>{escape(sample)}</pre>")
    return Section(title="Samples from the model", html=html)
