"""The [uncertainty] section's "auto" heteroscedastic default and its resolution once the task is known
(tests src/deepsci/config/uncertainty.py; the evaluation side is where the spec is used)."""

from __future__ import annotations

import pytest

from deepsci.config.uncertainty import UncertaintyConfig, resolve_section, resolve_uncertainty
from deepsci.errors import ConfigError
from deepsci.tasks import task_of
from deepsci.training.uncertainty_spec import UncertaintySpec


@pytest.mark.parametrize("method,task,loss,expected", [
    ("ensemble", "regression", None, True),       # Lakshminarayanan et al. (2017) deep ensembles
    ("mc-dropout", "regression", None, True),     # Kendall & Gal (2017)
    ("none", "regression", None, False),
    ("ensemble", "multiclass", None, False),      # class probabilities carry the aleatoric part
    ("ensemble", "regression", "mae", False),     # a loss the user chose is kept
])
def test_auto_heteroscedastic_resolves_by_task_and_method(method, task, loss, expected):
    section = UncertaintyConfig(method=method)
    assert section.heteroscedastic == "auto"
    spec = resolve_uncertainty(section, task, seed=3, loss=loss)
    assert spec.heteroscedastic is expected and spec.seed == 3
    assert resolve_section(section, task, loss).heteroscedastic is expected  # what config.toml states
    assert spec.recalibration == ("scaling" if task == "regression" else "none")


def test_explicit_values_win_and_errors_are_readable():
    assert resolve_uncertainty(UncertaintyConfig(method="ensemble", heteroscedastic=False), "regression").heteroscedastic is False
    assert resolve_uncertainty(UncertaintyConfig(heteroscedastic=True), "regression").heteroscedastic is True
    with pytest.raises(ConfigError, match="for regression"):
        resolve_uncertainty(UncertaintyConfig(heteroscedastic=True), "binary")
    assert UncertaintyConfig(method="ensemble").conformal is True
    assert UncertaintyConfig(method="none").conformal is False
    assert UncertaintyConfig().conformal is None  # method "auto": decided with the task (tests/test_uncertainty_default.py)
    with pytest.raises(ValueError, match="predicted sigma"):
        UncertaintyConfig(method="none", score="normalised")  # method none gives no sigma
    assert UncertaintyConfig(recalibration="isotonic").recalibration == "isotonic"
    with pytest.raises(ValueError):
        UncertaintyConfig(recalibration="platt")


def test_conformal_method_reaches_the_spec_and_cross_needs_an_ensemble():
    # An ensemble asked for gets CV+ for regression (each member early-stopped on its own left-out fold), split
    # conformal sets for classes (issue 23: ensembles under-covered with a split scheme the user had to know of).
    assert resolve_uncertainty(UncertaintyConfig(method="ensemble"), "regression").conformal_method == "cross-plus"
    assert resolve_uncertainty(UncertaintyConfig(method="ensemble"), "binary").conformal_method == "split"
    split = UncertaintyConfig(method="ensemble", conformal_method="split")
    assert resolve_uncertainty(split, "regression").conformal_method == "split"
    spec = resolve_uncertainty(UncertaintyConfig(method="ensemble", conformal_method="cross-plus"), "regression")
    assert spec.conformal_method == "cross-plus" and spec.k_fold and spec.conformal
    for bad in ({"method": "mc-dropout"}, {"method": "ensemble", "bootstrap": True},
                {"method": "ensemble", "conformal": False}):
        with pytest.raises(ValueError, match="one fold per ensemble member"):
            UncertaintyConfig(conformal_method="cross", **bad)


def test_the_spec_refuses_what_its_task_cannot_take():
    """One home for the checks: the spec knows which tasks its options serve (config and training ask it)."""
    UncertaintySpec(method="ensemble", heteroscedastic=True).check_task(task_of("regression"))
    UncertaintySpec(method="ensemble", conformal=True).check_task(task_of("binary"))
    for spec, task, match in ((UncertaintySpec(heteroscedastic=True), "binary", "for regression"),
                              (UncertaintySpec(method="ensemble"), "tagging", "regression, binary and multiclass"),
                              (UncertaintySpec(method="ensemble", conformal=True, conformal_method="cross"),
                               "multiclass", "regression ensembles")):
        with pytest.raises(ConfigError, match=match):
            spec.check_task(task_of(task))
    with pytest.raises(ConfigError, match="regression, binary and multiclass"):
        resolve_uncertainty(UncertaintyConfig(method="ensemble"), "multilabel")
