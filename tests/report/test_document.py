"""write_report: one self-contained HTML file holding the data summary, metrics, figures, sections and config."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from deepsci.evaluation.figures import figure_to_data_uri, figures_for, parity_plot
from deepsci.evaluation.metrics import classification_metrics, regression_metrics
from deepsci.report import Section, render_report, write_report


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of every <pre>."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.pre: list[str] = []
        self._in_pre = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_pre = tag == "pre"

    def handle_endtag(self, tag):
        self._in_pre = False if tag == "pre" else self._in_pre

    def handle_data(self, data):
        if self._in_pre:
            self.pre.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def iris_run() -> dict:
    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:100], order[100:]
    names = ["setosa", "versicolor", "virginica"]
    clf = LogisticRegression(max_iter=500).fit(X[train], y[train])
    metrics = {
        "test": classification_metrics(y[test], clf.predict_proba(X[test]), names),
        "train": classification_metrics(y[train], clf.predict_proba(X[train]), names),
    }
    figures = figures_for("multiclass", y[test], clf.predict_proba(X[test]), None, names)
    return {"metrics": metrics, "figures": figures}


def _write(path: Path, run: dict, **kw) -> Path:
    args = dict(
        title="Iris <b>species</b>",
        config_toml='name = "iris"\nseed = 0\n\n[data]\nsource = "a<b>.csv"\n',
        data_summary={"rows_read": 152, "features": 4, "split_sizes": {"train": 100, "test": 50},
                      "dropped": [{"reason": "NaN in 'sepal length'", "rows": 2}], "cache_hit": False},
        metrics=run["metrics"],
        figures=run["figures"],
    )
    args.update(kw)
    return write_report(path, **args)


def test_report_holds_every_part(tmp_path: Path, iris_run: dict) -> None:
    path = _write(tmp_path / "run" / "report.html", iris_run)
    assert path == tmp_path / "run" / "report.html"
    html = path.read_text(encoding="utf-8")
    parsed = _parse(html)
    assert "<title>Iris &lt;b&gt;species&lt;/b&gt;</title>" in html  # escaped, not markup
    # the config verbatim, escaped, in a <pre>
    assert "".join(parsed.pre) == 'name = "iris"\nseed = 0\n\n[data]\nsource = "a<b>.csv"\n'
    # data summary
    for text in ("rows read", "152", "train: 100 · test: 50", "NaN in &#39;sepal length&#39;", "cache hit"):
        assert text in html
    # metrics: train column before test, values formatted to 4 significant digits
    header = re.search(r"<th>metric</th>(.*?)</tr>", html).group(1)
    assert header.index("train") < header.index("test")
    acc = iris_run["metrics"]["test"]["accuracy"]
    assert f"{acc:#.4g}" in html
    assert "Per class (test)" in html and "Confusion matrix (test)" in html
    # images are the given data URIs, nothing external, no script
    images = [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]
    assert images == [uri for _, uri in iris_run["figures"]]
    for tag, attrs in parsed.tags:
        for key in ("src", "href"):
            if attrs.get(key) is not None:
                assert attrs[key].startswith(("data:", "#")), (tag, attrs[key][:60])
    assert not any(tag == "script" for tag, _ in parsed.tags)
    for version in ("deepsci ", "torch ", "python "):
        assert version in html


def test_sections_add_html_table_and_figures(tmp_path: Path, iris_run: dict) -> None:
    y = np.linspace(0, 1, 20)
    section = Section(
        title="Uncertainty & calibration",
        html="<p class='note'>Intervals from 5 members.</p>",
        figures=[("Parity <ensemble>", figure_to_data_uri(parity_plot(y, y ** 2)))],
        table={"ensemble": {"coverage": 0.9123, "width": 1.5}, "conformal": {"coverage": 0.9, "width": None}},
    )
    kv = Section(title="Key values", table={"n_members": 5, "alpha": 0.1})
    explicit = Section(title="Explicit", table={"columns": ["depth", "chi"], "rows": [[1, 0.5], [2, 0.25]],
                                                 "caption": "chi by depth"})
    html = _write(tmp_path / "report.html", iris_run, sections=[section, kv, explicit]).read_text()
    assert "Uncertainty &amp; calibration" in html
    assert "<p class='note'>Intervals from 5 members.</p>" in html  # trusted HTML kept as is
    assert "Figure: Parity &lt;ensemble&gt;" in html
    assert "0.9123" in html and "—" in html  # None shows as a dash
    assert "n members" in html and "chi by depth" in html
    assert len([t for t, _ in _parse(html).tags if t == "img"]) == len(iris_run["figures"]) + 1


def test_regression_report_with_per_target_and_flat_metrics(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=(30, 2))
    m = regression_metrics(y, y + 0.1 * rng.normal(size=(30, 2)), target_names=["logS", "logP"])
    html = render_report(title="t", config_toml="", data_summary={}, metrics=m, figures=[])
    assert "Per target" in html and "logP" in html
    assert f"{m['rmse']:#.4g}" in html
    assert "No data summary was given." in html


def test_external_figure_is_refused_and_old_report_kept(tmp_path: Path, iris_run: dict) -> None:
    path = _write(tmp_path / "report.html", iris_run)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="not an inline image"):
        _write(path, iris_run, figures=[("remote", "https://example.org/x.png")])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temp file left behind
