"""[report]: what the run folder gets beyond the metrics."""

from __future__ import annotations

from pydantic import Field, field_validator

from deepsci.section import Section, check_name

# The attribution methods of deepsci.explain.attributions.METHODS (config sits below explain: named here).
EXPLAIN_METHODS: tuple[str, ...] = ("integrated-gradients", "gradient-x-input", "saliency", "occlusion", "permutation")


class ReportConfig(Section):
    """What the run folder gets beyond the metrics.

    explain: add an attribution section (which features, pixels or positions drove the test
    predictions) computed on the first `explain_rows` test rows with `explain_methods`.
    robustness: ε values (model input units) at which a classifier's test accuracy under FGSM and PGD
    is measured and drawn; empty: off.
    theory: add the theory section (the network at initialisation against the Gaussian recursions,
    criticality, infinite-width kernel references for tables; docs/theory.md).
    """

    html: bool = True
    units: str = ""
    explain: bool = False
    explain_methods: list[str] = Field(default_factory=lambda: list(EXPLAIN_METHODS), min_length=1)
    explain_rows: int = Field(200, ge=2, le=100_000, description="test rows explained")
    robustness: list[float] = Field(default_factory=list, description="ε values of the FGSM/PGD accuracy curve")
    theory: bool = Field(True, description="the theory section: the network at initialisation against theory")
    predictions: int | None = Field(None, ge=0, description="test rows written to predictions.csv: every row "
                                    "(default; the first 100,000 of a streamed table), N: the first N, 0: no file")

    @field_validator("explain_methods")
    @classmethod
    def _known_methods(cls, value: list[str]) -> list[str]:
        return [check_name("attribution method", v, EXPLAIN_METHODS) for v in value]

    @field_validator("robustness")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(e < 0 for e in value):
            raise ValueError(f"robustness ε values must be >= 0; received {value}")
        return value
