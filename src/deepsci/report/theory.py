"""Report section "Theory at initialisation": the run's network against the Gaussian theory of deep networks.

Draws a `deepsci.theory.of_run.RunTheory` (computed at fit time, also in metrics.json["theory"]): the reading for
a scientist, one figure (per weight layer, predicted and measured preactivation variance on the left and
gradient norm on the right, log scale), the per-layer table and, for tables, the NNGP and NTK kernel regressors
beside the network's own test metrics. Computes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from markupsafe import escape
from matplotlib.figure import Figure

from deepsci.evaluation.figures import figure_to_data_uri
from deepsci.report.document import Section
from deepsci.report.summary import format_value
from deepsci.tasks import task_of
from deepsci.theory.of_run import RunTheory
from deepsci.theory.signal import SignalPropagation

if TYPE_CHECKING:
    from deepsci.evaluation.results import Evaluation


def theory_sections(theory: RunTheory | None, evaluation: "Evaluation") -> list[Section]:
    """The theory section ([] when [report] theory is off)."""
    if theory is None:
        return []
    if not theory.applies or theory.signal is None:
        return [Section(title="Theory at initialisation", html=f"<p>{escape(theory.why_not)}.</p>")]
    signal = theory.signal
    flag = "<strong>" if theory.flagged else ""
    html = (f"<p>{flag}{escape(theory.reading)}{'</strong>' if flag else ''}</p>"
            f"<p>The network as built from the run's seed, before training, on {signal.rows} training rows: each "
            "weight layer's preactivation variance and gradient norm (f = u·output, u a fixed unit vector) "
            "predicted by the infinite-width Gaussian recursion from the rows' own moments, against one forward "
            "and backward pass of the network itself. Agreement within a few per cent at width 64 or more says "
            "the theory describes this network; χ⊥ is the factor by which a layer multiplies squared gradients "
            "(1 at criticality), χ∥ the factor for a change of the signal's variance. "
            f"Cost: {theory.seconds:.2g} s.</p>")
    if signal.not_covered:
        html += (f"<p>Not crossed by the theory (the prediction restarts from the measurement after them): "
                 f"{escape(', '.join(signal.not_covered))}.</p>")
    if "note" in theory.references:
        html += f"<p>Infinite-width references: {escape(theory.references['note'])}.</p>"
    sections = [Section(title="Theory at initialisation", html=html, figures=[_figure(signal)],
                        table=_layer_table(signal))]
    if theory.references and "note" not in theory.references:
        sections.append(_reference_section(theory.references, evaluation))
    return sections


def _layer_table(signal: SignalPropagation) -> dict[str, Any]:
    rows = [[layer.name, layer.kind, layer.width, f"{layer.cw:.3g}", f"{layer.cb:.3g}",
             f"{layer.predicted_variance:.4g}", f"{layer.measured_variance:.4g}", f"{100 * layer.variance_error:+.1f}%",
             f"{layer.predicted_grad:.4g}", f"{layer.measured_grad:.4g}", layer.restarted or ""]
            for layer in signal.layers]
    return {"columns": ["layer", "kind", "width", "C_W", "C_b", "variance (theory)", "variance (measured)", "error",
                        "‖∂f/∂z‖ (theory)", "‖∂f/∂z‖ (measured)", "restarted after"], "rows": rows,
            "caption": f"χ∥ = {signal.chi_parallel:.3g}, χ⊥ = {signal.chi_perp:.3g} (geometric means over hidden "
                       f"layers), depth scale {signal.depth_scale:.3g} layers."}


def _figure(signal: SignalPropagation) -> tuple[str, str]:
    """Variance and gradient norm per weight layer, theory (line) against measurement (dots)."""
    layers = range(1, len(signal.layers) + 1)
    fig = Figure(figsize=(9, 3.4))
    axes = fig.subplots(1, 2)
    for ax, theory_of, measured_of, what in (
            (axes[0], "predicted_variance", "measured_variance", "preactivation variance"),
            (axes[1], "predicted_grad", "measured_grad", "gradient norm ‖∂f/∂z‖")):
        ax.plot(layers, [getattr(lay, theory_of) for lay in signal.layers], "-", label="theory")
        ax.plot(layers, [getattr(lay, measured_of) for lay in signal.layers], "o", label="measured")
        ax.set_yscale("log")
        ax.set_xlabel("weight layer")
        ax.set_ylabel(what)
        ax.legend()
    fig.tight_layout()
    caption = ("Left: preactivation variance per weight layer, Gaussian recursion (line) against the network at "
               "initialisation (dots). Right: gradient norm per layer; a straight falling (rising) line is an ordered "
               "(chaotic) network whose gradients vanish (explode) geometrically with depth, a flat one is critical.")
    return caption, figure_to_data_uri(fig)


def _reference_section(references: dict[str, Any], evaluation: "Evaluation") -> Section:
    """The network's test metrics beside the NNGP and NTK kernel regressors'."""
    key, second = task_of(evaluation.task).headline
    splits = [n for n in ("valid", "test") if n in evaluation.splits]
    rows = [["network (this run, trained)", *[format_value(evaluation.splits[n].metrics.get(k)) for n in splits
                                              for k in (key, second)]]]
    rows += [[entry["description"], *[format_value(entry.get(n, {}).get(k)) for n in splits for k in (key, second)]]
             for entry in references.values()]
    html = ("<p>The infinite-width limits of the network's architecture and initialisation, fitted on the same "
            "training rows: NNGP regression is the posterior mean of the network's Gaussian-process prior (Lee et "
            "al. 2018); NTK regression is what the infinitely wide network converges to under gradient descent "
            "(Jacot et al. 2018). A trained network that beats them has learned features the kernel regime "
            "cannot.</p>")
    return Section(title="Infinite-width references", html=html,
                   table={"columns": ["model", *[f"{n} {k}" for n in splits for k in (key, second)]], "rows": rows})
