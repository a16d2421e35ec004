"""The worst-predicted molecules: the errors they are ranked by, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from deepsci.evaluation.molecules import row_errors, worst_molecules
from deepsci.evaluation.results import SplitResult


def test_regression_rows_are_ranked_by_the_absolute_error_of_the_first_target() -> None:
    test = SplitResult("test", ["a", "b"], np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([[1.5, 9.0], [0.0, 9.0]]), {})
    errors, what = row_errors("regression", test)
    assert errors.tolist() == [0.5, 2.0] and what == "absolute error"


def test_classifier_rows_are_ranked_by_the_probability_missing_from_the_true_class() -> None:
    test = SplitResult("test", ["a", "b"], np.array([1, 0]), np.array([[0.1, 0.9], [0.25, 0.75]]), {})
    errors, what = row_errors("multiclass", test)
    assert errors.tolist() == pytest.approx([0.1, 0.75]) and what == "1 - P(true class)"


def test_no_test_split_means_no_molecules() -> None:
    assert worst_molecules(None, None, None) is None  # type: ignore[arg-type]
