"""What one model input looks like: its structure and one sample's shape.

The data layer declares an `InputSchema` for each named input of a Dataset; model builders read it
to size their first layer and to refuse a structure they cannot take (an MLP takes a table, a CNN a
signal or an image, a recurrent network or a transformer a sequence or a signal, a set network a set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Structure = Literal["table", "signal", "sequence", "set", "image", "window", "graph", "reaction"]
STRUCTURES: tuple[str, ...] = ("table", "signal", "sequence", "set", "image", "window", "graph", "reaction")


@dataclass(frozen=True)
class InputSchema:
    """One named input of a dataset.

    Attributes:
        name: the input's name; with several inputs, the keyword its tensor is passed under.
        structure: "table" (n, d); "signal" (n, C, L); "image" (n, C, H, W[, D]); "sequence"
            (n, L, d) float vectors or (n, L) int64 tokens, padded, with a mask when lengths differ;
            "set" (n, S, d) float, padded, with a mask when sizes differ; "window" (n, L, C), the
            input window of a forecasting record; "graph" molecules as atoms and bonds
            (deepsci.data.graphs.MolecularGraphs, a RowSource that assembles its own batches); "reaction"
            a reaction's reactants and product as one graph with each atom's side
            (deepsci.data.reaction_graphs.ReactionGraphs), shaped as a graph.
        shape: one sample's shape without the row dimension, padded to the longest sample, e.g.
            (d,), (C, L), (C, H, W), (L,) for tokens, (L, d) for vectors, (S, d) for sets; for a
            graph the feature widths (atom features, bond features, molecule-vector features).
        masked: the input travels with a boolean mask (n, L) / (n, S), True on real elements.
        n_symbols: size of the vocabulary for token sequences (index 0 is padding), else None.
        feature_names: names of the last dimension's features where they have names (table
            columns, descriptor names, set-element features), else [].
    """

    name: str
    structure: Structure
    shape: tuple[int, ...]
    masked: bool = False
    n_symbols: int | None = None
    feature_names: list[str] = field(default_factory=list)

    @property
    def tokens(self) -> bool:
        """True for a sequence of symbol indices (an embedding or one-hot comes first in the model)."""
        return self.n_symbols is not None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "structure": self.structure, "shape": list(self.shape), "masked": self.masked,
                "n_symbols": self.n_symbols, "feature_names": list(self.feature_names)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "InputSchema":
        return cls(name=str(d["name"]), structure=d["structure"], shape=tuple(int(s) for s in d["shape"]),
                   masked=bool(d.get("masked", False)),
                   n_symbols=None if d.get("n_symbols") is None else int(d["n_symbols"]),
                   feature_names=[str(f) for f in d.get("feature_names", [])])
