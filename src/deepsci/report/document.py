"""The HTML report of a run: one self-contained file (inline CSS, figures as data URIs, no script, no URL).

Rendered from ``templates/report.html`` with Jinja2 (autoescape on) and written atomically, so a crash
never leaves a half-written report.html behind.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from deepsci.report.summary import NESTED_KEYS, format_value, metric_rows, split_columns

_TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class Section:
    """An extra part of the report, added by other packages (uncertainty, theory, rules, explain).

    Attributes:
        title: heading of the section.
        html: trusted HTML inserted as is (not escaped): build it from your own strings and escape any
            user-provided text with ``markupsafe.escape``. Must not reference external URLs.
        figures: (caption, data URI) pairs, e.g. from `deepsci.evaluation.figures.figure_to_data_uri`.
        table: an optional table, in one of three forms:
            ``{"columns": [...], "rows": [[...], ...]}`` (explicit; optional ``"caption"``);
            ``{row label: {column: value}}`` (a matrix; columns are the union of the inner keys);
            ``{key: value}`` (two columns).
    """

    title: str
    html: str = ""
    figures: list[tuple[str, str]] = field(default_factory=list)
    table: dict[str, Any] | None = None


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _versions() -> dict[str, str]:
    return {
        "deepsci": _version("deepsci"),
        "torch": _version("torch"),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "scikit-learn": _version("scikit-learn"),
    }


def _label(key: str) -> str:
    """``n_features`` -> ``n features``: snake_case keys as readable labels."""
    return str(key).replace("_", " ")


def _table_model(table: Mapping[str, Any]) -> dict[str, Any]:
    """A Section table (any of its three forms) as {"caption", "columns", "rows"} of strings."""
    if "columns" in table and "rows" in table:
        return {
            "caption": table.get("caption", ""),
            "columns": [str(c) for c in table["columns"]],
            "rows": [[format_value(v) for v in row] for row in table["rows"]],
        }
    if table and all(isinstance(v, Mapping) for v in table.values()):
        columns: list[str] = []
        for inner in table.values():
            columns += [str(k) for k in inner if str(k) not in columns]
        rows = [[str(label)] + [format_value(inner.get(c)) for c in columns] for label, inner in table.items()]
        return {"caption": "", "columns": [""] + columns, "rows": rows}
    return {"caption": "", "columns": ["", "value"], "rows": [[_label(k), format_value(v)] for k, v in table.items()]}


def _summary_value(value: Any) -> Any:
    """A data-summary value for the template: text, or a nested table model for lists of records."""
    if isinstance(value, Mapping):
        if all(not isinstance(v, (Mapping, list, tuple)) for v in value.values()):
            return " · ".join(f"{_label(k)}: {format_value(v)}" for k, v in value.items()) or "none"
        return _table_model(value)
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        if all(isinstance(v, Mapping) for v in value):
            shown = list(value[:50])
            columns: list[str] = []
            for record in shown:
                columns += [str(k) for k in record if str(k) not in columns]
            model = {"caption": "", "columns": columns,
                     "rows": [[format_value(r.get(c)) for c in columns] for r in shown]}
            if len(value) > len(shown):
                model["caption"] = f"first {len(shown)} of {len(value)}"
            return model
        text = ", ".join(format_value(v) for v in value[:20])
        return text + (f", … ({len(value) - 20} more)" if len(value) > 20 else "")
    return format_value(value)


def _metric_tables(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Tables of the nested metrics (per class, per target, confusion matrix) of the last split given
    (the test split when there is one)."""
    columns = split_columns(metrics)
    if not columns:
        return []
    split_name, split = list(columns.items())[-1]
    where = "" if split_name == "value" else f" ({split_name})"
    tables = []
    for key, title in (("per_target", "Per target"), ("per_class", "Per class")):
        if isinstance(split.get(key), Mapping):
            model = _table_model(split[key])
            model["caption"] = title + where
            tables.append(model)
    cm = split.get("confusion_matrix")
    if isinstance(cm, list) and cm:
        names = split.get("class_names") or [str(i) for i in range(len(cm))]
        tables.append({
            "caption": f"Confusion matrix{where}: rows are true classes, columns predicted classes",
            "columns": ["true \\ predicted"] + [str(n) for n in names],
            "rows": [[str(names[i])] + [format_value(v) for v in row] for i, row in enumerate(cm)],
        })
    return tables


def _check_figures(figures: Iterable[tuple[str, str]], where: str) -> list[tuple[str, str]]:
    checked = []
    for item in figures:
        caption, uri = item
        if not str(uri).startswith("data:image/"):
            raise ValueError(
                f"figure '{caption}' in {where} is not an inline image: its source starts with "
                f"'{str(uri)[:40]}'. The report must be self-contained; pass figure_to_data_uri(fig)."
            )
        checked.append((str(caption), str(uri)))
    return checked


def render_report(
    *,
    title: str,
    config_toml: str,
    data_summary: Mapping[Any, Any],
    metrics: Mapping[Any, Any],
    figures: Sequence[tuple[str, str]],
    sections: Sequence[Section] = (),
) -> str:
    """The report's HTML as a string (see `write_report` for the arguments)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    metric_columns, metric_table_rows = metric_rows(metrics)
    section_models = [
        {
            "title": s.title,
            "html": Markup(s.html),  # trusted HTML from deepsci's own packages; see Section
            "figures": _check_figures(s.figures, f"section '{s.title}'"),
            "table": _table_model(s.table) if s.table else None,
        }
        for s in sections
    ]
    return env.get_template("report.html").render(
        title=title,
        date=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        versions=_versions(),
        summary=[(_label(k), _summary_value(v)) for k, v in data_summary.items()],
        metric_columns=metric_columns,
        metric_rows=metric_table_rows,
        metric_tables=_metric_tables(metrics),
        figures=_check_figures(figures, "the report's figures"),
        sections=section_models,
        config_toml=config_toml,
    )


def write_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    config_toml: str,
    data_summary: Mapping[Any, Any],
    metrics: Mapping[Any, Any],
    figures: Sequence[tuple[str, str]],
    sections: Sequence[Section] = (),
) -> Path:
    """Write the run's report as one self-contained HTML file that opens offline in any browser.

    Contents, top to bottom: title, date and versions; data summary; metrics table (one column per split)
    and tables of per-class / per-target metrics and the confusion matrix of the test split; figures with
    captions; the extra sections; the resolved config.

    Args:
        path: where to write (e.g. ``runs/<name>/report.html``); parent folders are created.
        title: the report's title.
        config_toml: the resolved config as TOML text, shown verbatim.
        data_summary: JSON-able facts about the data (rows, features, split sizes, dropped rows and why,
            skipped molecules, featurisation seconds); keys are shown as labels, nested dicts inline,
            lists of records as small tables.
        metrics: ``{"train": {...}, "valid": {...}, "test": {...}}`` of dicts from
            `deepsci.evaluation.metrics` (any subset of splits), or one such dict.
        figures: (caption, data URI) pairs, e.g. from `deepsci.evaluation.figures.figures_for`.
        sections: extra `Section`s from other parts of deepsci.

    Returns:
        The path written.

    Raises:
        ValueError: a figure that is not an inline ``data:image/...`` URI.
    """
    html = render_report(title=title, config_toml=config_toml, data_summary=data_summary, metrics=metrics,
                         figures=figures, sections=sections)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target then rename: os.replace is atomic on one filesystem, so readers see
    # either the old report or the new one, never half of one.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a report is meant to be shared
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
