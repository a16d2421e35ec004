"""docs/tutorial.ipynb, executed with nbclient as a scientist's Jupyter would run it: it cannot go stale.

The outputs are cleared first, so only this run's outputs are judged: the fit's progress is one bar widget
that updated in place (its stored state ends at epochs/epochs), not a stream of lines; the `run` cell shows
the run's HTML card with the metrics table, the references and an inline PNG figure; predictions are a table;
the explanation ranks the features as the known formula of the target does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")
pytest.importorskip("tqdm")
pytest.importorskip("h5py")

pytestmark = pytest.mark.slow
TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"
WIDGET = "application/vnd.jupyter.widget-view+json"


def _cell(nb: Any, source: str, *, exact: bool = False) -> Any:
    """The first code cell whose source contains `source` (is `source`, with `exact`)."""
    return next(c for c in nb.cells if c.cell_type == "code" and (c.source == source if exact else source in c.source))


def test_the_tutorial_runs_and_shows_a_bar_the_run_card_and_predictions(tmp_path: Path) -> None:
    nb = nbformat.read(TUTORIAL, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    nb.metadata.pop("widgets", None)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()

    fit = _cell(nb, "ds.run_experiment(")
    assert not [o for o in fit.outputs if o.output_type == "stream" and "epoch" in o.text], "progress printed lines"
    bars = [o for o in fit.outputs if o.output_type == "display_data" and WIDGET in o.data]
    assert len(bars) == 1, [o.output_type for o in fit.outputs]
    states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"].values()
    progress = [s["state"] for s in states if s["model_name"] == "FloatProgressModel"]
    assert [(p["value"], p["max"]) for p in progress] == [(20.0, 20.0)]  # one bar, moved to the last epoch in place

    card = _cell(nb, "run", exact=True).outputs[0].data["text/html"]
    assert '<table class="deepsci-metrics"><caption>Metrics</caption>' in card and "<td>rmse</td>" in card
    assert "trivial (training mean)" in card and "linear (ridge" in card  # the references beside the model
    assert '<img src="data:image/png;base64,' in card and 'href="runs/survey/report.html"' in card

    assert _cell(nb, "print(repr(run))").outputs[0].text.startswith("Run('survey', regression, test rmse=")
    assert "image/png" in _cell(nb, 'run.figures["parity"]').outputs[0].data
    assert "y_pred" in _cell(nb, "run.predict(").outputs[0].data["text/html"]

    table = _cell(nb, "run.explain(").outputs[0].data["text/html"]
    assert "integrated-gradients_rank" in table and "permutation_rank" in table
    top = _cell(nb, 'explanation.attributions["integrated-gradients"].top(3)').outputs[0].data["text/plain"]
    assert top == "['b', 'a', 'c']"  # the known answer: y = a - 2b + c/2 on features of one scale
    assert "image/png" in _cell(nb, "importance_figure(explanation)", exact=True).outputs[0].data
