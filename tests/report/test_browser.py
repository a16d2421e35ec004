"""The report opens offline in headless Chromium with every image loaded and no console error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge

from deepsci.evaluation.figures import figure_to_data_uri, figures_for, parity_plot
from deepsci.evaluation.metrics import classification_metrics, regression_metrics
from deepsci.report import Section, write_report


def _load_browser_helper():
    # Loaded by path so this works under any pytest import mode (prepend, append, importlib).
    spec = importlib.util.spec_from_file_location("deepsci_tests_report_browser", Path(__file__).with_name("browser.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


browser = _load_browser_helper()


@pytest.fixture(scope="module")
def real_report(tmp_path_factory) -> Path:
    """A report of a logistic regression on breast cancer, with a regression section on diabetes."""
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X[:400].mean(0)) / X[:400].std(0)
    names = ["malignant", "benign"]
    clf = LogisticRegression(max_iter=500).fit(X[:400], y[:400])
    metrics = {
        "train": classification_metrics(y[:400], clf.predict_proba(X[:400]), names),
        "test": classification_metrics(y[400:], clf.predict_proba(X[400:]), names),
    }
    history = [{"epoch": e, "train_loss": 0.7 / e, "valid_loss": 0.6 / e + 0.005 * e} for e in range(1, 21)]
    figures = figures_for("binary", y[400:], clf.predict_proba(X[400:]), history, names)

    Xd, yd = load_diabetes(return_X_y=True)
    pred = Ridge(alpha=0.1).fit(Xd[:300], yd[:300]).predict(Xd[300:])
    section = Section(
        title="Side study: diabetes progression",
        html="<p>A ridge regression on the diabetes data.</p>",
        figures=[("Parity of the ridge model.", figure_to_data_uri(parity_plot(yd[300:], pred, name="progression")))],
        table={"test": regression_metrics(yd[300:], pred)},
    )
    return write_report(
        tmp_path_factory.mktemp("report") / "report.html",
        title="breast cancer <logistic>",
        config_toml='name = "breast-cancer"\nseed = 0\n',
        data_summary={"rows": len(y), "features": X.shape[1], "split_sizes": {"train": 400, "test": len(y) - 400}},
        metrics=metrics,
        figures=figures,
        sections=[section],
    )


def test_report_opens_offline_with_every_image(real_report: Path) -> None:
    seen = browser.assert_opens_offline(real_report, min_images=5)
    assert seen["title"] == "breast cancer <logistic>"  # escaped in HTML, shown as text
    assert len(seen["images"]) == 5  # learning curves, ROC, PR, confusion matrix, the section's parity plot


def test_check_fails_on_a_broken_image(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"><title>t</title></head>'
                    '<body><img src="data:image/png;base64,bm90IGEgcG5n" alt="x"></body></html>')
    with pytest.raises(AssertionError, match="did not load"):
        browser.assert_opens_offline(page)


def test_check_fails_on_an_external_reference(tmp_path: Path, real_report: Path) -> None:
    html = real_report.read_text()
    page = tmp_path / "external.html"
    page.write_text(html.replace("<title>", '<link rel="stylesheet" href="https://example.invalid/a.css"><title>', 1))
    with pytest.raises(AssertionError):
        browser.assert_opens_offline(page)
