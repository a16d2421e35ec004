"""[report]: what the run folder gets beyond the metrics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from deepsci.config.section import Section, check_name


class ReportConfig(Section):
    """What the run folder gets beyond the metrics."""

    html: bool = True
    units: str = ""
