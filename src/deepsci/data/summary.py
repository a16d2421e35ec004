"""What a build did, as one frozen value: `DataSummary` (metrics.json's "data", the report's data table).

Every builder (rows in memory, a streamed table, forecasting series, text) returns one; the rooms above read
its attributes, and `to_json()` gives the JSON that run folders have always held (the same keys, in the same
order), so metrics.json and the runs written before read the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deepsci.tasks import task_of

#: JSON keys of each layout, in the order metrics.json has always had them
_ROW_KEYS = ("source", "kind", "task", "target", "rows_read", "rows_used", "n_dropped", "dropped", "split", "inputs",
             "n_features")
_TABLE_KEYS = ("featuriser", "featurisation_seconds", "cache_hit", "nonfinite_filled", "ignored_columns")
_GRAPH_KEYS = ("featuriser", "descriptors", "atom_features", "bond_features", "molecule_features",
               "featurisation_seconds", "cache_hit")
_SERIES_KEYS = ("source", "kind", "task", "steps", "channels", "targets", "input_length", "horizon", "stride", "split",
                "boundaries", "boundary_steps", "n_train", "n_valid", "n_test", "windows_dropped", "times", "season",
                "integrity")
_TEXT_KEYS = ("source", "kind", "task", "characters", "vocabulary", "seq_length", "split", "n_train", "n_valid",
              "n_test", "unigram_entropy_nats")


@dataclass(frozen=True)
class DataSummary:
    """The facts of one build.

    Attributes:
        source, kind, task: where the rows came from (for messages), the data kind, the task name.
        split: {"method", "test_from", "seed"?, "train", "valid", "test", "calib"}: how the parts were made and
            their row (or window) counts.
        target: target column names (independent rows). rows_read, rows_used, n_dropped, dropped ({"reason",
            "rows"} per reason): the rows' fate. inputs: {name: {"structure", "shape"}}. n_features: summed over
            the inputs.
        featuriser ... molecule_features: how molecules were featurised (tables and graphs; None otherwise).
        class_counts: rows (or tagged steps) of each class; label_counts: rows carrying each label (multilabel).
        stream: how a streamed table is read ({"format", "blocks", "block_rows", "window_blocks"}), or None.
        fingerprint: {data key: {"path", "size", "mtime", "sha256"}} of the data files read (None: no file).
        notes: what the build found that the user must hear, one line each; metrics.json lists them in
            "warnings" (not in "data").
        steps ... integrity: a forecasting record (series; integrity: the time step inferred, time stamps
            averaged away and steps filled, `deepsci.data.timeseries.RecordCheck`); characters ... unigram_entropy_nats: a text.
    """

    source: str
    kind: str
    task: str
    split: dict[str, Any]
    target: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_used: int = 0
    n_dropped: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_features: int = 0
    featuriser: str | None = None
    featurisation_seconds: float = 0.0
    cache_hit: bool | None = None
    nonfinite_filled: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    descriptors: str | None = None
    atom_features: str | None = None
    bond_features: int | None = None
    molecule_features: int | None = None
    class_counts: dict[str, int] | None = None
    label_counts: dict[str, int] | None = None
    stream: dict[str, Any] | None = None
    steps: int | None = None
    channels: list[str] | None = None
    targets: list[str] | None = None
    input_length: int | None = None
    horizon: int | None = None
    stride: int | None = None
    boundaries: dict[str, Any] | None = None
    boundary_steps: list[int] | None = None
    windows_dropped: int | None = None
    times: list[str] | None = None
    season: int | None = None
    integrity: dict[str, Any] | None = None
    characters: int | None = None
    vocabulary: int | None = None
    seq_length: int | None = None
    unigram_entropy_nats: float | None = None
    n_train: int | None = None
    n_valid: int | None = None
    n_test: int | None = None
    fingerprint: dict[str, dict[str, Any]] | None = None
    notes: tuple[str, ...] = ()  # warnings of the build (e.g. unknown symbols, capped lengths): run warnings

    def to_json(self) -> dict[str, Any]:
        """The JSON-able dict of metrics.json's "data" (the keys of this summary's layout, in order, then the
        data files' `fingerprint`, deepsci.data.fingerprint, where the data came from files)."""
        out = {k: getattr(self, k) for k in self._keys()}
        return {**out, "fingerprint": self.fingerprint} if self.fingerprint else out

    def _keys(self) -> tuple[str, ...]:
        if self.steps is not None:
            return _SERIES_KEYS
        if self.characters is not None:
            return _TEXT_KEYS
        keys = _ROW_KEYS + (_GRAPH_KEYS if self.descriptors is not None else
                            _TABLE_KEYS if self.featuriser is not None else ())
        extra = (("stream", self.stream), ("class_counts", self.class_counts), ("label_counts", self.label_counts))
        return keys + tuple(k for k, v in extra if v is not None)


def target_counts(task: str, y: np.ndarray,
                  class_names: list[str]) -> tuple[dict[str, int] | None, dict[str, int] | None]:
    """(class_counts, label_counts): rows (or real tagged steps) of each class, rows carrying each label
    (multilabel); None where it does not apply (continuous targets have neither). `y` holds the encoded
    targets of the rows used."""
    t = task_of(task)
    if t.continuous:
        return None, None
    if t.multilabel:
        return None, {c: int(k) for c, k in zip(class_names, y.sum(0))}
    counts = np.bincount(y[y >= 0].astype(np.int64), minlength=len(class_names))  # tagging: padding is no step
    return {c: int(k) for c, k in zip(class_names, counts)}, None


def dropped_counts(skipped: int | dict[str, int]) -> list[dict[str, Any]]:
    """The dropped rows by reason as [{"reason", "rows"}] (a streamed table counts one reason)."""
    if isinstance(skipped, int):
        return [{"reason": "NaN or inf in a feature or target", "rows": skipped}] if skipped else []
    return [{"reason": k, "rows": v} for k, v in skipped.items()]
