"""Report sections of attributions (which inputs drove the predictions) and of adversarial robustness.

At fit time `[report] explain = true` adds the attribution section and `[report] robustness = [ε, ...]`
the accuracy-against-ε section, both on the test split; `deepsci explain RUN` writes the same sections
into explain.html beside the run's report.html.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from markupsafe import escape
from torch import nn

from deepsci.errors import DataError
from deepsci.report.document import Section

if TYPE_CHECKING:
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset
    from deepsci.evaluation.results import Evaluation
    from deepsci.explain.explanation import Explanation

DESCRIPTIONS = {
    "integrated-gradients": "(x − x′)·∫∂f/∂x along the straight path from the baseline x′ = 0; sums to f(x) − f(x′)",
    "gradient-x-input": "x·∂f/∂x",
    "saliency": "|∂f/∂x|",
    "occlusion": "f(x) − f(x with the unit set to the baseline 0)",
    "permutation": "increase of the loss when the unit is shuffled across rows",
}


def explain_sections(config: "Config", dataset: "Dataset", evaluation: "Evaluation", model: nn.Module) -> list[Section]:
    """The attribution and robustness sections asked for in [report], on the test split (valid without one)."""
    del evaluation
    report = config.report
    if not report.html or (not report.explain and not report.robustness):  # the sections live in report.html
        return []
    from deepsci.explain.explanation import explain_split

    part = dataset.test if len(dataset.test) else dataset.valid
    if dataset.summary.get("kind") == "text":
        return [Section(title="Attributions", html="<p>Not computed: a language model predicts every next symbol; "
                                                   "attributions are for one prediction per row.</p>")]
    if len(dataset.inputs) != 1:
        return [Section(title="Attributions", html="<p>Not computed: the model takes several inputs; attributions "
                                                   "are available for one input.</p>")]
    schema = next(iter(dataset.inputs.values()))
    try:
        explanation = explain_split(model, part.X, part.y, schema, dataset.task,
                                    methods=report.explain_methods if report.explain else (),
                                    rows=report.explain_rows, epsilons=report.robustness, seed=config.seed)
    except DataError as err:  # an input kind without attributions: said in the report, the run stands
        return [Section(title="Attributions", html=f"<p>Not computed: {escape(str(err))}</p>")]
    return explanation_sections(explanation, dataset.task)


def explanation_sections(explanation: "Explanation", task: str, *, top: int = 15) -> list[Section]:
    """Sections of an Explanation: the importance figure and top-unit table, then the robustness curve."""
    from deepsci.evaluation.figures import figure_to_data_uri
    from deepsci.explain.figures import importance_figure, robustness_figure

    sections = []
    if explanation.attributions:
        sections.append(Section(title="Attributions: which inputs drove the predictions",
                                html=_attribution_text(explanation, task),
                                figures=[("Importance per unit (mean |attribution| over rows; permutation: mean "
                                          "loss increase), each method scaled by its largest value.",
                                          figure_to_data_uri(importance_figure(explanation, top=top)))],
                                table=_top_table(explanation, top)))
    curve = explanation.robustness
    if curve is not None:
        html = (f"<p>Accuracy on {curve.rows} rows (all of the split) under L∞ attacks of size ε in the model's input units "
                f"(standardised features; for images scaled to [0, 1], the pixel scale): FGSM (one signed-gradient "
                f"step) and PGD ({curve.steps} projected steps from a random start). Inputs are not clipped.</p>")
        sections.append(Section(title="Adversarial robustness", html=html, table=curve.table(),
                                figures=[("Accuracy against ε.", figure_to_data_uri(robustness_figure(curve)))]))
    return sections


def _attribution_text(explanation: "Explanation", task: str) -> str:
    output = {"multiclass": "the logit of the predicted class", "binary": "the logit of class 1",
              "regression": "the first target, in scaled units"}.get(task, "the output")
    unit = {"table": "feature", "image": "pixel (channels summed)", "set": "element"}.get(
        explanation.schema.structure, "position (channels, one-hot or embedding summed)")
    items = "".join(f"<li><b>{escape(m)}</b>: {escape(DESCRIPTIONS[m])}</li>" for m in explanation.attributions)
    text = (f"<p>Attributions of {output} on the first {explanation.rows} test rows, one value per {unit}. "
            f"Baseline 0: the training mean of standardised features, a black image, padding.</p><ul>{items}</ul>")
    error = explanation.completeness_error()
    if error is not None:
        text += (f"<p>Completeness of integrated gradients: the attributions of a row sum to f(x) − f(x′) within "
                 f"{100 * error:.2g}% (median over rows).</p>")
    for method, why in explanation.skipped.items():
        text += f"<p>{escape(method)} not computed: {escape(why)}.</p>"
    return text


def _top_table(explanation: "Explanation", top: int) -> dict[str, Sequence[object]]:
    """The `top` units of each method, side by side (rank 1 first)."""
    methods = list(explanation.attributions)
    ranked = {m: explanation.attributions[m].top(top) for m in methods}
    depth = min(top, len(explanation.units))
    return {"columns": ["rank", *methods],
            "rows": [[i + 1, *[ranked[m][i] for m in methods]] for i in range(depth)],
            "caption": f"Top {depth} units per method."}
