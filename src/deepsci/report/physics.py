"""Report sections for the physics datasets: recovered relations, AUC against Einstein radius (issue 14)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

from deepsci.report.document import Section

if TYPE_CHECKING:
    from deepsci.config import Config
    from deepsci.data.dataset import Dataset
    from deepsci.evaluation.results import Evaluation


def physics_sections(config: "Config", dataset: "Dataset", evaluation: "Evaluation", model: nn.Module) -> list[Section]:
    """The run's sections of this kind (none yet)."""
    del config, dataset, evaluation, model
    return []
