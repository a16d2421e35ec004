"""Report: the self-contained HTML report of a run, and the terminal summary of its metrics."""

from deepsci.report.document import Section, render_report, write_report
from deepsci.report.summary import metrics_table

__all__ = ["Section", "metrics_table", "render_report", "write_report"]
