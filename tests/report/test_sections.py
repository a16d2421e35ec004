"""Report sections drawn from the run's analyses: what they show, and that they compute nothing themselves."""

from __future__ import annotations

import pytest

from deepsci.analyses import Analyses
from deepsci.evaluation.molecules import WorstMolecules
from deepsci.report.explain import explain_sections
from deepsci.report.molecules import molecule_sections


def test_attributions_that_could_not_be_computed_say_why() -> None:
    (section,) = explain_sections(Analyses(not_explained="the model takes several inputs; a < b."), "regression")
    assert section.title == "Attributions"
    assert section.html == "<p>Not computed: the model takes several inputs; a &lt; b.</p>"
    assert explain_sections(Analyses(), "regression") == []


def test_the_worst_molecules_are_tabled_worst_first() -> None:
    pytest.importorskip("rdkit")
    worst = WorstMolecules(ids=("ethanol", "benzene"), smiles=("CCO", "c1ccccc1"), truth=("1.00", "2.00"),
                           pred=("3.00", "2.50"), errors=(2.0, 0.5), what="absolute error")
    (section,) = molecule_sections(worst, units="log mol/L")
    assert section.table is not None
    assert section.table["rows"] == [["ethanol", "CCO", "1.00", "3.00", "2"],
                                     ["benzene", "c1ccccc1", "2.00", "2.50", "0.5"]]
    assert section.table["caption"] == "The 2 test molecules with the largest absolute error (log mol/L)."
    assert section.figures and section.figures[0][1].startswith("data:image/svg+xml;base64,")
    assert molecule_sections(None) == []
