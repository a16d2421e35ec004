"""The one fitted preprocessor of a run: read, featurise, encode and scale, both ways.

Fitted on the training rows only, it is the single object training, predict and evaluate use:

    raw = pre.read("new.csv")                    # the same reader and names as training
    X, ids, skipped = pre.transform(raw)         # the same featurisers, statistics and padding
    y = pre.targets(raw, rows)                   # true targets in data units
    pred = pre.inverse_targets(model_output)     # scaled -> data units

It round-trips through plain JSON (`to_dict` / `Preprocessor.from_dict`); no pickles.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from deepsci.data.batch import Inputs, RowSource, take
from deepsci.data.featurisers import Featuriser, featuriser_from_dict
from deepsci.data.raw import Raw
from deepsci.data.readers import is_number
from deepsci.data.scalers import Scaler
from deepsci.data.schema import InputSchema
from deepsci.data.sources import read_source
from deepsci.errors import DataError
from deepsci.tasks import BINARY, MULTICLASS, REGRESSION, TASKS, task_of

VERSION = 2
MAX_CLASSES = 50


@dataclass(eq=False)
class Preprocessor:
    """Reader spec + featurisers (one per named input) + target encoding and scaling.

    Attributes:
        reader: the reader spec (kind, array/column names) that `read` uses.
        featurisers: {input name: fitted featuriser}.
        task: "regression", "binary", "multiclass", "multilabel" or "tagging".
        target_names: target columns (array targets: the array name, or name[j] per column).
        class_names: label of each class index (classification), else [].
        y_scaler: standardises regression targets (fitted on training rows), or None.
    """

    reader: dict[str, Any]
    featurisers: dict[str, Featuriser]
    task: str
    target_names: list[str]
    class_names: list[str] = field(default_factory=list)
    y_scaler: Scaler | None = None

    # -- what the model sees ---------------------------------------------------------------------
    @property
    def inputs(self) -> dict[str, InputSchema]:
        return {name: f.schema() for name, f in self.featurisers.items()}

    @property
    def feature_names(self) -> list[str]:
        return next(iter(self.featurisers.values())).feature_names if self.featurisers else []

    # -- new data --------------------------------------------------------------------------------
    def read(self, source: str | Path | pd.DataFrame | Mapping[str, np.ndarray]) -> Raw:
        """Read new rows exactly as training read its data (same reader, column and array names).

        An .npz whose arrays are named as the training's test arrays is read too.
        """
        return read_source(self.reader, source, test=True)

    def transform(self, raw: Raw) -> tuple[Inputs, list[str], list[dict[str, Any]]]:
        """(model inputs, ids, skipped rows {"row", "id", "reason"}) of the usable rows of `raw`."""
        parts: dict[str, Inputs] = {}
        bad: dict[int, str] = {}
        for name, f in self.featurisers.items():
            parts[name], unusable = f.transform(raw)
            bad = {**unusable, **bad}  # the first featuriser's reason for a row stands
        keep = np.array([r not in bad for r in range(len(raw))], dtype=bool)
        idx = torch.as_tensor(np.flatnonzero(keep), dtype=torch.int64)
        X = _combine(parts)
        skipped = [{"row": r, "id": raw.ids[r], "reason": why} for r, why in sorted(bad.items())]
        if len(raw) and not keep.any():
            raise DataError(f"none of the {len(raw)} rows of {raw.source} is usable: {skipped[0]['reason']} (and "
                            "others). Check the input.")
        return keep_rows(X, idx), [raw.ids[i] for i in idx.tolist()], skipped

    def targets(self, raw: Raw, rows: np.ndarray | list[int] | None = None) -> torch.Tensor:
        """True targets of `rows` (positions in raw) in data units: (m, t) float32 or (m,) int64."""
        absent = [c for c in self.target_names if c not in raw.frame.columns]
        if absent:
            raise DataError(f"{raw.source} holds no target {', '.join(absent)}; it has: "
                            f"{', '.join(map(str, raw.frame.columns)) or 'no target columns'}. Give a file with "
                            "the targets to evaluate on.")
        picked = np.arange(len(raw)) if rows is None else np.asarray(rows, dtype=np.int64)
        sub = raw.frame.iloc[picked]
        task = task_of(self.task)
        if task.multilabel:
            return torch.as_tensor(multilabel_targets(sub, self.target_names, raw.source), dtype=torch.float32)
        if task.per_step:
            counts = step_counts(raw)
            lengths = [counts[i] for i in picked]
            return torch.as_tensor(tag_targets(sub, self.target_names, lengths, raw.source, self.class_names)[0])
        if task.continuous:
            vals = sub[self.target_names].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
            if not np.isfinite(vals).all():
                raise DataError(f"target(s) {', '.join(self.target_names)} of {raw.source} hold NaN, inf or text "
                                f"in {int((~np.isfinite(vals)).any(1).sum())} row(s); fix or remove them.")
            return torch.tensor(vals, dtype=torch.float32)
        labels = label_strings(sub[self.target_names[0]])
        index = {c: i for i, c in enumerate(self.class_names)}
        unknown = sorted({lab for lab in labels if lab not in index})
        if unknown:
            raise DataError(f"target '{self.target_names[0]}' of {raw.source} holds label(s) "
                            f"{', '.join(unknown[:5])} the model was not trained on; known classes: "
                            f"{', '.join(self.class_names)}.")
        return torch.as_tensor([index[lab] for lab in labels], dtype=torch.int64)

    def scale_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Data units -> the units the model is trained in (identity for classification)."""
        return self.y_scaler.transform(y) if self.y_scaler is not None else y

    def inverse_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Model outputs (scaled) -> data units (identity for classification)."""
        return self.y_scaler.inverse_transform(y) if self.y_scaler is not None else y

    def inverse_std(self, s: torch.Tensor) -> torch.Tensor:
        """Standard deviations in scaled units -> data units."""
        return self.y_scaler.inverse_transform_std(s) if self.y_scaler is not None else s

    # -- JSON --------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        reader = {k: v for k, v in self.reader.items() if k != "cache_dir"}
        return {"version": VERSION, "reader": reader, "task": self.task, "target_names": self.target_names,
                "class_names": self.class_names,
                "y_scaler": self.y_scaler.to_dict() if self.y_scaler is not None else None,
                "featurisers": {k: f.to_dict() for k, f in self.featurisers.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Preprocessor":
        if d.get("version") != VERSION:
            raise DataError(f"preprocessor format version {d.get('version')} is not {VERSION}; re-run the "
                            "experiment with this deepsci to get a usable run folder.")
        feats = {k: featuriser_from_dict(v) for k, v in d["featurisers"].items()}
        ys = Scaler.from_dict(d["y_scaler"]) if d.get("y_scaler") else None
        klass = PREPROCESSORS.get(str(d["reader"].get("kind")), cls)  # records and texts read in order
        return klass(d["reader"], feats, d["task"], d["target_names"], d["class_names"], ys)


def keep_rows(X: Inputs, idx: torch.Tensor) -> Inputs:
    """The rows `idx` of X as inputs of the same kind: a source that assembles its own batches (molecular
    graphs) gives its `subset`, not a batch."""
    subset = getattr(X, "subset", None)
    if isinstance(X, RowSource) and callable(subset):
        return subset(idx)  # type: ignore[no-any-return]
    return take(X, idx)


#: Preprocessor classes of reader kinds that need their own (series and text: deepsci.data.ordered);
#: importing deepsci.data fills it, so a run folder's preprocessor always finds its class.
PREPROCESSORS: dict[str, type[Preprocessor]] = {}


def _combine(parts: dict[str, Inputs]) -> Inputs:
    """One input: its tensor or dict; several: {name: tensor, name_mask: mask}."""
    if len(parts) == 1:
        return next(iter(parts.values()))
    out: dict[str, torch.Tensor] = {}
    for name, x in parts.items():
        if isinstance(x, dict):
            out[name], out[f"{name}_mask"] = x["x"], x["mask"]
        elif isinstance(x, torch.Tensor):
            out[name] = x
        else:
            raise DataError(f"input '{name}' assembles its own batches and cannot yet be combined with others.")
    return out


# -- targets -------------------------------------------------------------------------------------
def label_strings(series: pd.Series) -> list[str]:
    """Class labels as text: 1.0 -> "1" (as written in an integer column), True -> "True"."""
    if pd.api.types.is_float_dtype(series) and np.all(np.mod(series.to_numpy(np.float64), 1) == 0):
        return [str(int(v)) for v in series]
    if pd.api.types.is_bool_dtype(series):
        return [str(bool(v)) for v in series]
    return [str(v) for v in series]


def label_order(label: str) -> tuple[int, float, str]:
    """Sort key of class labels: numbers first, by value, then text."""
    return (0, float(label), label) if is_number(label) else (1, 0.0, label)


def infer_task(series: pd.Series, task: str, n_targets: int, what: str) -> str:
    """Auto: bool -> binary; float -> regression; integer -> 2 classes binary, 3..50 multiclass, more
    regression; text -> binary/multiclass (more than 50 values is an error)."""
    declared = TASKS.get(task)  # None: "auto"
    if n_targets > 1:
        if declared is not None and not declared.continuous:
            raise DataError(f"several targets are supported for regression only; received task='{task}'. Give "
                            "one target for classification.")
        return REGRESSION.name
    if declared is not None:
        return declared.name
    n_unique = series.nunique()
    classes = (BINARY if n_unique <= 2 else MULTICLASS).name
    if pd.api.types.is_bool_dtype(series):
        return BINARY.name
    if pd.api.types.is_float_dtype(series):
        return REGRESSION.name
    if pd.api.types.is_integer_dtype(series):
        return REGRESSION.name if n_unique > MAX_CLASSES else classes
    if n_unique > MAX_CLASSES:
        raise DataError(f"target {what} is text with {n_unique} distinct values; a classification target has "
                        f"2..{MAX_CLASSES} classes. Convert it to numbers for regression, or set task explicitly.")
    return classes


def encode_targets(frame: pd.DataFrame, targets: list[str], task: str, what: str) -> tuple[str, np.ndarray, list[str]]:
    """(task, y, class_names): y (n, t) float64 for regression, (n,) int64 class indices for binary and
    multiclass, (n, k) 0/1 for multilabel (class_names: the k label columns). Tagging needs the steps of each
    row: use `tag_targets`."""
    declared = TASKS.get(task)  # None: "auto"
    if declared is not None and declared.multilabel:
        return task, multilabel_targets(frame, targets, what), list(targets)
    task = infer_task(frame[targets[0]], task, len(targets), what)
    if task_of(task).continuous:
        y = frame[targets].apply(pd.to_numeric, errors="coerce")
        bad = [c for c in targets if y[c].isna().any()]
        if bad:
            raise DataError(f"regression target column(s) {', '.join(bad)} in {what} hold text, e.g. "
                            f"{frame[bad[0]][y[bad[0]].isna()].iloc[0]!r}. Use numbers, or set task to "
                            "'binary'/'multiclass'.")
        return task, y.to_numpy(np.float64), []
    labels = label_strings(frame[targets[0]])
    uniq = sorted(set(labels), key=label_order)
    if len(uniq) < 2:
        raise DataError(f"target '{targets[0]}' in {what} has a single class ({uniq[0]!r}); classification needs "
                        "at least 2.")
    if task_of(task).head == "sigmoid-binary" and len(uniq) != 2:  # binary: one logit for two classes
        raise DataError(f"task='binary' but target '{targets[0]}' has {len(uniq)} classes ({', '.join(uniq[:10])}). "
                        "Use task='multiclass'.")
    index = {c: i for i, c in enumerate(uniq)}
    return task, np.array([index[v] for v in labels], dtype=np.int64), uniq


#: column names a target is guessed from when none is given (exactly one must be present)
TARGET_GUESSES = ("y", "target", "label")


def resolve_targets(target: str | list[str] | None, columns: list[str], source: str) -> list[str]:
    """The target columns of a table, for the in-memory and the streamed builders alike: the named ones (a
    name `t` whose columns are `t[0]`, `t[1]`, ... names them all), else the one column named y/target/label.

    Raises DataError naming the columns there are (and the nearest to a misspelt name)."""
    if target is None:
        guess = [c for c in columns if c.lower() in TARGET_GUESSES]
        if len(guess) != 1:
            raise DataError(f"no target given for {source}; its columns/arrays are: {listing(columns) or 'none'}. "
                            "Set data.target to one of them.")
        target = guess[0]
    names = [target] if isinstance(target, str) else [str(t) for t in target]
    if not names:
        raise DataError("target is an empty list; name at least one target column.")
    if len(names) == 1 and names[0] not in columns:
        names = [c for c in columns if c.startswith(names[0] + "[")] or names
    require_columns(names, columns, source, "target")
    return names


def require_columns(wanted: list[str], columns: list[str], source: str, role: str) -> None:
    """DataError when a column of `wanted` is not in `columns`, with the nearest name as a hint."""
    absent = [c for c in wanted if c not in columns]
    if absent:
        hints = [f"'{a}' (did you mean '{m[0]}'?)" if (m := difflib.get_close_matches(a, columns, n=1))
                 else f"'{a}'" for a in absent]
        raise DataError(f"{role} column {', '.join(hints)} not in {source}; its columns are: "
                        f"{listing(columns)}. Set {role} to one of them.")


def listing(columns: list[str]) -> str:
    """Column names for a message: all of them, or the first six and last three of a wide table."""
    if len(columns) <= 12:
        return ", ".join(columns)
    return f"{', '.join(columns[:6])}, ..., {', '.join(columns[-3:])} ({len(columns)})"


# -- several labels per row, one label per step ----------------------------------------------------
#: the target of a padded step (and torch's cross-entropy ignore_index): no loss, no metric reads it
IGNORE = -100


def multilabel_targets(frame: pd.DataFrame, targets: list[str], what: str) -> np.ndarray:
    """(n, k) float64 0/1 labels of k target columns (label j of row i: "property j holds for sample i").

    Raises DataError naming the first column and value that is not 0/1 (a regression target, say).
    """
    if len(targets) < 2:
        raise DataError(f"task = 'multilabel' needs several 0/1 target columns; {what} gives one "
                        f"({', '.join(targets)}). List them in data.target, or use task = 'binary'.")
    y = np.empty((len(frame), len(targets)), dtype=np.float64)
    for j, col in enumerate(targets):
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64) \
            if not pd.api.types.is_bool_dtype(frame[col]) else frame[col].to_numpy(np.float64)
        bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
        if len(bad):
            value = frame[col].iloc[bad[0]]
            value = value.item() if isinstance(value, np.generic) else value
            raise DataError(f"multilabel target column '{col}' of {what} holds {value!r} (row "
                            f"{int(bad[0])}); every label column must be 0/1. Fix the column, or drop it from "
                            "data.target.")
        y[:, j] = values
    return y


def step_counts(raw: Raw, name: str = "x") -> list[int]:
    """Real steps of each sample of input `name`: a symbol string's length (as the token featuriser strips
    it), a vector sequence's rows, a signal's last axis (every step real)."""
    values = raw.arrays.get(name)
    if values is None:
        raise DataError(f"task = 'tagging' tags the steps of an input; {raw.source} has no input '{name}'.")
    if isinstance(values, np.ndarray) and (np.issubdtype(values.dtype, np.number) or values.dtype == bool):
        return [int(values.shape[-1])] * len(values)
    return [len(str(v).strip()) if isinstance(v, str) else len(v) for v in values]


def _tag_rows(frame: pd.DataFrame, targets: list[str], lengths: list[int], what: str) -> list[list[str]]:
    """Each row's tags as text, one per real step: from one text column (character i tags step i) or from
    the columns name[0..L-1] of an (n, L) target array (steps past a row's length are padding)."""
    if len(targets) == 1:
        col = targets[0]
        rows = [_tag_text(v, n) for v, n in zip(frame[col], lengths)]
        for i, (tags, n) in enumerate(zip(rows, lengths)):
            if len(tags) != n:
                raise DataError(f"tag column '{col}' of {what}: row {i} has {len(tags)} tags for a sample of {n} "
                                "steps; give one tag character per step.")
        return [list(tags) for tags in rows]
    if max(lengths, default=0) > len(targets):
        raise DataError(f"the tag array of {what} has {len(targets)} steps but a sample has {max(lengths)}; give "
                        "an (n, L) target array as long as the longest sample.")
    block = frame[targets]
    return [label_strings(block.iloc[i, :n].reset_index(drop=True)) if n else [] for i, n in enumerate(lengths)]


def _tag_text(value: Any, steps: int) -> str:
    """One row's tag string. A CSV reader turns '000111' into the number 111: the leading characters it
    dropped were '0' tags, so the digits are padded back with zeros to the row's steps."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value)).zfill(steps)
    return str(value).strip()


def tag_targets(frame: pd.DataFrame, targets: list[str], lengths: list[int], what: str,
                class_names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """((n, max length) int64 tag indices, IGNORE past each row's length; the tag classes).

    Classes are the distinct tags of the rows' real steps (or `class_names`, fixed by training: an unknown
    tag is then a DataError).
    """
    rows = _tag_rows(frame, targets, lengths, what)
    if class_names is None:
        seen = sorted({t for tags in rows for t in tags}, key=label_order)
        if len(seen) < 2:
            raise DataError(f"the tags of {what} take a single value ({seen[0] if seen else 'none'}); tagging needs "
                            "at least 2 tag classes.")
        if len(seen) > MAX_CLASSES:
            raise DataError(f"the tags of {what} take {len(seen)} distinct values; a tagger has 2..{MAX_CLASSES} tag "
                            "classes. Check data.target names the tag column.")
        class_names = seen
    index = {c: i for i, c in enumerate(class_names)}
    y = np.full((len(rows), max(lengths, default=1)), IGNORE, dtype=np.int64)
    for i, tags in enumerate(rows):
        unknown = [t for t in tags if t not in index]
        if unknown:
            raise DataError(f"row {i} of {what} has tag {unknown[0]!r}, not one of the trained tags "
                            f"({', '.join(class_names)}).")
        y[i, :len(tags)] = [index[t] for t in tags]
    return y, list(class_names)


def fit_steps(y: torch.Tensor, steps: int) -> torch.Tensor:
    """Per-step targets (n, L') cut or padded (with IGNORE) to the model's `steps`: a sequence cut by
    `truncate` loses its tags past the cut, a part padded wider than its targets gains ignored steps."""
    if y.shape[1] >= steps:
        return y[:, :steps].contiguous()
    return torch.cat([y, torch.full((y.shape[0], steps - y.shape[1]), IGNORE, dtype=y.dtype)], dim=1)
