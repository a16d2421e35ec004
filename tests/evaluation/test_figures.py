"""Figures: what is drawn on them is checked against metrics computed independently."""

from __future__ import annotations

import base64
import struct

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits
from sklearn.linear_model import LogisticRegression, Ridge

from deepsci.errors import DataError
from deepsci.evaluation.figures import (
    confusion_matrix_plot,
    figure_to_data_uri,
    figures_for,
    learning_curves,
    parity_plot,
    pr_curves,
    residual_histogram,
    roc_curves,
)


def _png_size(uri: str) -> tuple[int, int]:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    png = base64.b64decode(uri[len(prefix):], validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])  # IHDR width, height


def _texts(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _legend(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


@pytest.fixture(scope="module")
def diabetes() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_diabetes(return_X_y=True)
    return y[300:], Ridge(alpha=0.1).fit(X[:300], y[:300]).predict(X[300:])


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return y[1200:], LogisticRegression(max_iter=300).fit(X[:1200] / 16, y[:1200]).predict_proba(X[1200:] / 16)


def test_parity_plot_writes_r_and_rmse_and_draws_identity(diabetes) -> None:
    y, p = diabetes
    fig = parity_plot(y, p, name="progression", units="a.u.")
    text = "\n".join(_texts(fig))
    assert f"r = {np.corrcoef(y, p)[0, 1]:.3f}" in text
    assert f"RMSE = {np.sqrt(skm.mean_squared_error(y, p)):.3g} a.u." in text
    ax = fig.axes[0]
    identity = [line for line in ax.get_lines() if line.get_label() == "y = x"]
    assert len(identity) == 1 and np.allclose(identity[0].get_xdata(), identity[0].get_ydata())
    assert ax.collections[0].get_offsets().shape == (len(y), 2)
    assert "progression (a.u.)" in ax.get_xlabel()


def test_residual_histogram_counts_every_residual(diabetes) -> None:
    y, p = diabetes
    fig = residual_histogram(y, p, name="progression")
    heights = [patch.get_height() for patch in fig.axes[0].patches]
    assert sum(heights) == len(y)
    assert f"mean = {np.mean(p - y):.3g}" in "\n".join(_texts(fig))


def test_learning_curves_from_records_and_dataframe_mark_best_epoch() -> None:
    history = [{"epoch": e, "train_loss": 1.0 / e, "valid_loss": (e - 7) ** 2 / 10 + 0.3} for e in range(1, 21)]
    for source in (history, pd.DataFrame(history)):
        fig = learning_curves(source)
        assert any("best validation (epoch 7)" in s for s in _legend(fig))
        train = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "train"][0]
        assert np.allclose(train.get_ydata(), [1.0 / e for e in range(1, 21)])
    # no validation loss: only the train curve
    fig = learning_curves([{"epoch": 1, "train_loss": 1.0, "valid_loss": None}, {"epoch": 2, "train_loss": 0.5}])
    assert _legend(fig) == ["train"]
    with pytest.raises(DataError, match="empty"):
        learning_curves([])


def test_roc_curves_binary_and_multiclass_report_sklearn_auc(digits) -> None:
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X[:400].mean(0)) / X[:400].std(0)
    proba = LogisticRegression(max_iter=500).fit(X[:400], y[:400]).predict_proba(X[400:])
    fig = roc_curves(y[400:], proba, ["malignant", "benign"])
    assert _legend(fig) == ["chance", f"benign (AUC {skm.roc_auc_score(y[400:], proba[:, 1]):.3f})"]

    yd, pd_ = digits
    legend = _legend(roc_curves(yd, pd_, [str(d) for d in range(10)]))
    assert len(legend) == 11
    assert legend[4] == f"3 (AUC {skm.roc_auc_score(yd == 3, pd_[:, 3]):.3f})"


def test_pr_curves_report_average_precision(digits) -> None:
    y, p = digits
    legend = _legend(pr_curves(y, p, [str(d) for d in range(10)]))
    assert legend[8] == f"8 (AP {skm.average_precision_score(y == 8, p[:, 8]):.3f})"


def test_confusion_matrix_plot_shows_counts_and_row_fractions() -> None:
    cm = [[5, 1, 0], [2, 6, 2], [0, 0, 4]]
    fig = confusion_matrix_plot(cm, ["a", "b", "c"])
    counts, fractions = [[t.get_text() for t in ax.texts] for ax in fig.axes if ax.get_title()]
    assert counts == ["5", "1", "0", "2", "6", "2", "0", "0", "4"]
    assert fractions[3:6] == ["0.20", "0.60", "0.20"]
    with pytest.raises(DataError, match="3 × 3"):
        confusion_matrix_plot([[1, 2], [3, 4]], ["a", "b", "c"])


def test_figure_to_data_uri_is_a_png_of_the_figure_size() -> None:
    fig = parity_plot([1.0, 2.0, 3.0], [1.1, 1.9, 3.2])
    width, height = (fig.get_size_inches() * 50).round().astype(int)
    assert _png_size(figure_to_data_uri(fig, dpi=50)) == (width, height)
    assert fig.axes == []  # freed


def test_figures_for_picks_the_standard_set(diabetes, digits) -> None:
    y, p = diabetes
    history = [{"epoch": 1, "train_loss": 2.0, "valid_loss": 2.1}, {"epoch": 2, "train_loss": 1.0, "valid_loss": 1.5}]
    regression = figures_for("regression", y, p, history, target_name="progression", units="a.u.")
    assert len(regression) == 3 and "progression" in regression[1][0]
    two_targets = figures_for("regression", np.stack([y, y], 1), np.stack([p, y], 1), None, target_name=["a", "b"])
    assert len(two_targets) == 4
    yd, pdig = digits
    classification = figures_for("multiclass", yd, pdig, history, [str(d) for d in range(10)])
    assert [c.split(" ")[0] for c, _ in classification] == ["Training", "ROC", "Precision–recall", "Confusion"]
    for _, uri in regression + classification:
        assert min(_png_size(uri)) > 100
    with pytest.raises(DataError, match="unknown task"):
        figures_for("ranking", y, p)


def test_non_finite_predictions_are_refused() -> None:
    with pytest.raises(DataError, match="non-finite"):
        parity_plot([1.0, 2.0, 3.0], [1.0, np.nan, 3.0])


# -- user text: drawn verbatim, never parsed as mathtext ---------------------------------------------
HOSTILE = ["$x^2$", "$", "a $b", "\\", "back\\slash $\\alpha$", "_under", "%d %s 100%", "{}[]^~#&", "é µ Å 中文",
           "line\nbreak", "$\\frac{1}{$", "cost \\$5 $"]


@pytest.mark.parametrize("text", HOSTILE)
def test_user_text_is_drawn_verbatim(text: str) -> None:
    """Before the escape, `$x^2$`-like names made savefig raise ParseFatalException after training."""
    from deepsci.evaluation.figures import plain_text

    y = np.random.default_rng(0).normal(size=30)
    fig = parity_plot(y, y + 0.1, name=text, units=text)
    ax = fig.axes[0]
    assert ax.title.get_text() == f"Parity: {plain_text(text)}"
    shown, is_math = ax.title._preprocess_math(ax.title.get_text())
    assert not is_math and shown == f"Parity: {text}"  # matplotlib draws exactly the user's text
    assert figure_to_data_uri(fig).startswith("data:image/png;base64,")  # savefig lays out every text


@pytest.mark.parametrize("text", ["$x^2$ \\ _ % é $", "$\\frac{1}{$"])
def test_user_text_in_every_figure_survives_savefig(text: str) -> None:
    from deepsci.evaluation.image_figures import classified_examples

    rng = np.random.default_rng(0)
    y = rng.normal(size=30)
    labels = np.arange(30) % 3
    proba = rng.dirichlet(np.ones(3), size=30)
    figures = [residual_histogram(y, y + rng.normal(size=30), name=text, units=text),
               roc_curves(labels, proba, [text, "b", "c"]), pr_curves(labels, proba, [text, "b", "c"]),
               confusion_matrix_plot(np.eye(3), [text, "b", "c"]),
               learning_curves([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5}], loss_name=text),
               classified_examples(rng.random((3, 1, 4, 4)), labels[:3], proba[:3], [text, "b", "c"], n=3)]
    for fig in figures:
        assert figure_to_data_uri(fig).startswith("data:image/png;base64,")


def test_uncaught_dollar_would_crash_matplotlib() -> None:
    """The oracle for the test above: without the escape, matplotlib fails on such a label."""
    fig = Figure()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.add_subplot().set_title("$\\frac{1}{$")
    with pytest.raises(ValueError):
        fig.canvas.draw()


def test_class_label_starting_with_underscore_stays_in_the_legend(digits) -> None:
    labels = np.arange(30) % 3
    proba = np.random.default_rng(0).dirichlet(np.ones(3), size=30)
    legend = roc_curves(labels, proba, ["_hidden", "b", "c"]).axes[0].get_legend()
    assert any("_hidden" in t.get_text() for t in legend.get_texts())


def test_residual_histogram_of_equal_residuals() -> None:
    """A model off by the same amount everywhere gave numpy 'Too many bins for data range'."""
    y = np.random.default_rng(0).normal(size=30)
    fig = residual_histogram(y, y + 0.1)
    assert sum(p.get_height() for p in fig.axes[0].patches) == 30
