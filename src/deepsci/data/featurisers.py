"""Featurisers: one small class per input structure, from raw rows to model tensors.

Every featuriser has the same life: `fit(raw, rows)` learns its statistics on the training rows only
(fitting on all rows leaks test statistics into training), `transform(raw)` returns the tensors of
every row plus the rows it could not use ({row: reason}), and `to_dict` / `from_dict` round-trip
through plain JSON (no pickles). The registry maps a structure name to its class:

    @register_input("table")
    class TableFeaturiser(Featuriser): ...
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from deepsci.data.batch import Inputs
from deepsci.data.molecules import feature_names, featurise_smiles, fill_nonfinite, nonfinite_fill_values
from deepsci.data.raw import Raw
from deepsci.data.readers import float32_overflow
from deepsci.data.scalers import Scaler
from deepsci.data.schema import InputSchema
from deepsci.data.sequences import ALPHABETS
from deepsci.errors import DataError, unknown_name

Bad = dict[int, str]
FEATURISERS: dict[str, type["Featuriser"]] = {}


def register_input(name: str) -> Callable[[type["Featuriser"]], type["Featuriser"]]:
    """Class decorator: register a featuriser under a structure name (the TOML's data.kind)."""
    def add(cls: type[Featuriser]) -> type[Featuriser]:
        FEATURISERS[name] = cls
        cls.kind = name
        return cls
    return add


def featuriser_from_dict(d: dict[str, Any]) -> "Featuriser":
    """Rebuild a fitted featuriser from its `to_dict()`."""
    if d.get("kind") not in FEATURISERS:
        raise DataError(unknown_name("featuriser", str(d.get("kind")), list(FEATURISERS)))
    return FEATURISERS[d["kind"]].from_dict(d)


class Featuriser:
    """Base: raw rows of one input -> tensors. Subclasses keep their settings and fitted state."""

    kind = "base"

    def __init__(self, name: str = "x", **settings: Any) -> None:
        self.name = name
        self.settings = settings
        self.state: dict[str, Any] = {}
        self.notes: list[str] = []  # what fitting found that the user must hear (run warnings), one line each

    def fit(self, raw: Raw, rows: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:  # pragma: no cover - abstract
        raise NotImplementedError

    def schema(self) -> InputSchema:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, raw: Raw) -> Bad:
        """Rows this featuriser cannot use, before fitting (default: none)."""
        return {}

    @property
    def feature_names(self) -> list[str]:
        return list(self.state.get("feature_names", []))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "settings": dict(self.settings), "state": dict(self.state)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Featuriser":
        f = cls(d.get("name", "x"), **d.get("settings", {}))
        f.state = dict(d.get("state", {}))
        return f

    def _array(self, raw: Raw) -> Any:
        if self.name not in raw.arrays:
            raise DataError(f"{raw.source} holds no input '{self.name}'; inputs read: {', '.join(raw.arrays)}.")
        return raw.arrays[self.name]


def smiles_cells(raw: Raw, column: str) -> list[Any]:
    """The cells of the SMILES column the model needs; DataError naming the table's columns when absent."""
    if column not in raw.frame.columns:
        raise DataError(f"the input table lacks the SMILES column '{column}' the model needs; it has: "
                        f"{', '.join(map(str, raw.frame.columns))}.")
    return list(raw.frame[column].tolist())


def _nonfinite_rows(x: np.ndarray, what: str) -> Bad:
    bad = ~np.isfinite(x.reshape(x.shape[0], int(np.prod(x.shape[1:])))).all(1)
    return {int(r): f"NaN or inf in the {what}" for r in np.flatnonzero(bad)}


# ---------------------------------------------------------------------------------------------
@register_input("table")
class TableFeaturiser(Featuriser):
    """Numeric columns and/or molecules (RDKit descriptors / Morgan bits of a SMILES column) -> (n, d).

    Settings: features (table columns), smiles_column, featuriser ("descriptors", "morgan",
    "descriptors+morgan", "none"), morgan_radius, morgan_bits, scale (standardise columns), cache_dir
    (not saved). State: fill values of non-finite descriptors (training medians), the scaler.
    """

    def __init__(self, name: str = "x", **settings: Any) -> None:
        self.cache_dir = settings.pop("cache_dir", None)
        super().__init__(name, **settings)
        self._memo: dict[str, tuple[np.ndarray, bool]] = {}
        self.last_featurisation: dict[str, Any] = {"seconds": 0.0, "cache_hit": None}

    @property
    def mol_kind(self) -> str:
        return str(self.settings.get("featuriser", "none")) if self.settings.get("smiles_column") else "none"

    def _molecules(self, raw: Raw) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(X (n, d) float64 with NaN where undefined, valid (n,), names); memoised per SMILES."""
        smiles = smiles_cells(raw, self.settings["smiles_column"])
        kind, radius, bits = self.mol_kind, int(self.settings["morgan_radius"]), int(self.settings["morgan_bits"])
        new = list(dict.fromkeys(str(s) for s in smiles if str(s) not in self._memo))
        if new:
            mf = featurise_smiles(smiles if len(new) == len(smiles) else new, kind, radius, bits, self.cache_dir)
            keys = [str(s) for s in (smiles if len(new) == len(smiles) else new)]
            for s, row, ok in zip(keys, mf.X, mf.valid):
                self._memo[s] = (np.asarray(row, dtype=np.float64), bool(ok))
            self.last_featurisation = {"seconds": mf.seconds, "cache_hit": mf.cache_hit}
        names = feature_names(kind, radius, bits)
        X = np.stack([self._memo[str(s)][0] for s in smiles]) if smiles else np.zeros((0, len(names)))
        valid = np.array([self._memo[str(s)][1] for s in smiles], dtype=bool)
        return X, valid, names

    def _columns(self, raw: Raw) -> list[str]:
        cols = list(self.settings.get("features") or [])
        absent = [c for c in cols if c not in raw.frame.columns]
        if absent:
            raise DataError(f"the input table lacks column(s) the model needs: {', '.join(absent)}. It has: "
                            f"{', '.join(map(str, raw.frame.columns))}. Add them (same names as in training).")
        return cols

    def check(self, raw: Raw) -> Bad:
        bad: Bad = {}
        if self.mol_kind != "none":
            _, valid, _ = self._molecules(raw)
            smiles = raw.frame[self.settings["smiles_column"]].tolist()
            bad.update({int(r): f"unparsable SMILES '{smiles[r]}'" for r in np.flatnonzero(~valid)})
        for col in self._columns(raw):
            numbers = pd.to_numeric(raw.frame[col], errors="coerce")
            for r in np.flatnonzero(_nonfinite_column(raw.frame[col])):
                text = pd.isna(numbers.iloc[r]) and not pd.isna(raw.frame[col].iloc[r]) and str(raw.frame[col].iloc[r]).strip()
                bad.setdefault(int(r), f"text in column '{col}'" if text else f"NaN or inf in column '{col}'")
            for r in np.flatnonzero(float32_overflow(raw.frame[col])):
                bad.setdefault(int(r), f"a value beyond float32's range (+-3.4e38) in column '{col}'")
        bad.update({r: why for r, why in self._booleans_in_numbers(raw).items() if r not in bad})
        return bad

    def _booleans_in_numbers(self, raw: Raw) -> Bad:
        """Rows holding True/False in a column that held numbers in training: text, never coerced to 1/0.
        (Runs saved before the training columns' types were kept have no "boolean_columns": not checked.)"""
        typed = self.state.get("boolean_columns")
        if typed is None:
            return {}
        bad: Bad = {}
        for col in self._columns(raw):
            if col not in typed and _holds_booleans(raw.frame[col]):
                for r in np.flatnonzero(raw.frame[col].notna().to_numpy()):
                    bad.setdefault(int(r), f"text '{raw.frame[col].iloc[r]}' in numeric column '{col}'")
        return bad

    def _raw_features(self, raw: Raw) -> tuple[np.ndarray, list[str], Bad]:
        blocks, names = [], []
        bad = self.check(raw)
        if self.mol_kind != "none":
            X, _, mol_names = self._molecules(raw)
            blocks.append(X)
            names += mol_names
        cols = self._columns(raw)
        if cols:  # text cells are rows `check` refused; they become NaN here and are never used
            blocks.append(raw.frame[cols].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64))
            names += cols
        X_all = np.concatenate(blocks, axis=1) if blocks else np.zeros((len(raw), 0))
        return X_all, names, bad

    def fit(self, raw: Raw, rows: np.ndarray) -> None:
        X, names, _ = self._raw_features(raw)
        n_mol = len(names) - len(self._columns(raw))
        fill = nonfinite_fill_values(X[rows, :n_mol]) if n_mol else np.zeros(0)
        Xf = X.copy()
        self.n_filled = 0
        if n_mol:
            Xf[:, :n_mol], self.n_filled = fill_nonfinite(X[:, :n_mol], fill)
        self.state = {"feature_names": names, "fill_values": [float(v) for v in fill],
                      "boolean_columns": [c for c in self._columns(raw) if _holds_booleans(raw.frame[c])]}
        if self.settings.get("scale", True):
            self.state["scaler"] = Scaler().fit(Xf[rows]).to_dict()

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:
        X, names, bad = self._raw_features(raw)
        if names != self.feature_names:
            raise DataError(f"the featuriser gives {len(names)} features but the model expects "
                            f"{len(self.feature_names)}; was the run folder edited?")
        fill = self.state.get("fill_values") or []
        if fill:
            X[:, :len(fill)], _ = fill_nonfinite(X[:, :len(fill)], fill)
        X[list(bad)] = 0.0
        t = torch.as_tensor(X, dtype=torch.float32)
        if "scaler" in self.state:
            t = Scaler.from_dict(self.state["scaler"]).transform(t)
        return t, bad

    def schema(self) -> InputSchema:
        return InputSchema(self.name, "table", (len(self.feature_names),), feature_names=self.feature_names)

    @property
    def x_scaler(self) -> Scaler | None:
        """The fitted column scaler, or None when features are not scaled."""
        return Scaler.from_dict(self.state["scaler"]) if "scaler" in self.state else None


def _holds_booleans(series: pd.Series) -> bool:
    """True when a column holds True/False values (a bool column, or booleans among missing cells)."""
    if pd.api.types.is_bool_dtype(series):
        return True
    values = series.dropna()
    return series.dtype == object and len(values) > 0 and all(isinstance(v, (bool, np.bool_)) for v in values)


def _nonfinite_column(series: pd.Series) -> np.ndarray:
    """Rows of a feature column that hold no usable number: NaN, inf, empty, or text."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return ~np.isfinite(series.to_numpy(dtype=np.float64, na_value=np.nan))
    return ~np.isfinite(pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))


# ---------------------------------------------------------------------------------------------
def _channel_stats(x: np.ndarray, scale: str, lengths: np.ndarray | None = None) -> dict[str, Any]:
    """Scaling statistics over the training samples x (n, C, ...): per channel for "standard". With lengths (n,)
    (variable-length signals (n, C, L)) only each series' first lengths[i] steps count: never the padding."""
    if lengths is not None:  # the real steps of every series side by side: one (1, C, steps) sample
        real = np.arange(x.shape[-1])[None, :] < lengths[:, None]  # (n, L)
        x = np.moveaxis(x, 1, 0)[:, real][None]
    if scale == "unit":
        m = float(np.abs(x).max()) if x.size else 1.0
        return {"max": m if m > 0 else 1.0}
    if scale == "standard":
        per_c = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1).astype(np.float64)
        std = per_c.std(1)
        return {"mean": per_c.mean(1).tolist(), "std": np.where(std > 0, std, 1.0).tolist()}
    return {}


def _apply_stats(x: torch.Tensor, scale: str, stats: dict[str, Any], mask: torch.Tensor | None = None) -> torch.Tensor:
    if scale == "per-series":
        return per_series(x, mask)
    if scale == "unit":
        return x / stats["max"]
    if scale == "standard":
        shape = (1, -1) + (1,) * (x.dim() - 2)
        mean = torch.tensor(stats["mean"], dtype=torch.float64).view(shape)
        std = torch.tensor(stats["std"], dtype=torch.float64).view(shape)
        return ((x.double() - mean) / std).float()
    return x


def per_series(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Each series z-normalised on its own: x (n, C, L) -> (x - mean_L) / std_L per sample and channel.

    The shape of a series, not its level or amplitude, then carries the class (the UCR archive's convention,
    Dau et al. 2019). A constant series (std 0) becomes zeros. Nothing is fitted: a test series is scaled by its
    own statistics, so no training statistics can leak. With a mask (n, L) (variable length), the mean and std
    are over each series' real steps and its padded steps are 0.
    """
    if x.numel() == 0:  # an empty split: nothing to scale
        return x.float()
    x64 = x.double()
    if mask is None:
        mean = x64.mean(-1, keepdim=True)
        std = x64.std(-1, unbiased=False, keepdim=True)
        return ((x64 - mean) / torch.where(std > 0, std, torch.ones_like(std))).float()
    real = mask[:, None, :].double()  # (n, 1, L)
    count = real.sum(-1, keepdim=True).clamp_min(1)
    mean = (x64 * real).sum(-1, keepdim=True) / count
    std = ((((x64 - mean) ** 2) * real).sum(-1, keepdim=True) / count).sqrt()
    return ((x64 - mean) / torch.where(std > 0, std, torch.ones_like(std)) * real).float()


class _Grid(Featuriser):
    """Fixed-shape arrays with channels second: signals (n, C, L) and images (n, C, H, W[, D])."""

    structure = "signal"
    #: {ndim of an accepted array: whether it lacks the channel axis}; the refusal of any other ndim
    channel_axis: dict[int, bool] = {}
    shape_error = ""

    def _samples(self, raw: Raw) -> np.ndarray:
        x = np.asarray(self._array(raw))
        if not np.issubdtype(x.dtype, np.number) and x.dtype != bool:
            raise DataError(f"input '{self.name}' of {raw.source} must be numeric; received dtype {x.dtype}.")
        if x.ndim not in self.channel_axis:
            raise DataError(self.shape_error.format(name=self.name, shape=tuple(x.shape)))
        return x.astype(np.float32)[:, None] if self.channel_axis[x.ndim] else x.astype(np.float32)

    def fit(self, raw: Raw, rows: np.ndarray) -> None:
        x = self._samples(raw)[rows]
        scale = str(self.settings.get("scale", "none"))
        self.state = {"shape": list(x.shape[1:]), "stats": _channel_stats(x, scale)}

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:
        x = self._samples(raw)
        want = tuple(self.state["shape"])
        if tuple(x.shape[1:]) != want:
            raise DataError(f"input '{self.name}' of {raw.source} has samples of shape {tuple(x.shape[1:])}; the "
                            f"model was trained on {want} ({self.structure} (C, ...)). Give arrays of that shape.")
        bad = _nonfinite_rows(x, self.structure)
        x[list(bad)] = 0.0
        t = _apply_stats(torch.as_tensor(x), str(self.settings.get("scale", "none")), self.state["stats"])
        return t.float().contiguous(), bad

    def check(self, raw: Raw) -> Bad:
        return _nonfinite_rows(self._samples(raw), self.structure)

    def schema(self) -> InputSchema:
        return InputSchema(self.name, self.structure, tuple(int(s) for s in self.state["shape"]))  # type: ignore[arg-type]


@register_input("signal")
class SignalFeaturiser(_Grid):
    """1-D signals (n, C, L). An array (n, L) is one channel; (n, 1, L) is a 1-channel signal.

    Settings: scale "standard" (per channel, mean/std over every training sample and step), "per-series"
    (each series z-normalised over its own steps, `per_series`), "unit" (divide by the training max |x|) or "none";
    variable (the reader cut the series by a `lengths` array: always masked) and truncate (below).

    Variable length: a series ends at its last step where some channel is not NaN; the NaN steps after it are
    padding (the reader turns a `lengths` array into such padding). When any series of the data is padded, the
    featuriser gives {"x": (n, C, L), "mask": (n, L)} with L the longest training series, the padded steps 0 and
    the statistics over real steps only; every signal model then ignores the padding (deepsci.models.masking).
    NaN or inf before a series' end is a bad row (refused, or dropped with data.missing = "drop"). A series
    longer than every training series is refused naming both lengths, or cut to L with truncate: its extra steps
    were never trained on and would change the prediction unseen.
    """

    structure = "signal"
    channel_axis = {2: True, 3: False}
    shape_error = ("a signal array must be (n, L) (one channel) or (n, C, L); input '{name}' has shape {shape}. "
                   "Use data.kind = 'image' for (n, C, H, W).")

    @property
    def variable(self) -> bool:
        """True when the fitted featuriser gives masked (variable-length) signals."""
        return bool(self.state.get("variable", False))

    def fit(self, raw: Raw, rows: np.ndarray) -> None:
        x = self._samples(raw)
        lengths = series_lengths(x)
        # decided on every row's layout (no value or label is read): a padded test series makes the run masked too
        if not (self.settings.get("variable") or bool((lengths < x.shape[-1]).any())):
            super().fit(raw, rows)
            return
        train, n = x[rows], lengths[rows]
        width = int(n.max()) if len(n) else x.shape[-1]
        scale = str(self.settings.get("scale", "none"))
        self.state = {"shape": [x.shape[1], width], "variable": True,
                      "stats": _channel_stats(train[..., :width], scale, n)}

    def check(self, raw: Raw) -> Bad:
        x = self._samples(raw)
        return _series_problems(x, series_lengths(x))

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:
        if not self.variable:
            return self._fixed(raw)
        x = self._samples(raw)
        (channels, width), lengths = self.state["shape"], series_lengths(x)
        if x.shape[1] != channels:
            raise DataError(f"input '{self.name}' of {raw.source} has {x.shape[1]} channel(s); the model was trained "
                            f"on {channels}. Give (n, {channels}, L) signals.")
        bad = _series_problems(x, lengths)
        lengths = self._within_length(lengths, width, raw)
        lengths[list(bad)] = width  # a bad row is never used (refused or dropped): all zeros, full length
        mask = np.arange(width)[None, :] < lengths[:, None]  # (n, width)
        grid = np.zeros((len(x), channels, width), dtype=np.float32)
        grid[..., :min(width, x.shape[-1])] = x[..., :width]
        grid = np.where(mask[:, None, :] & np.isfinite(grid), grid, np.float32(0.0))
        m = torch.from_numpy(mask)
        t = _apply_stats(torch.from_numpy(grid), str(self.settings.get("scale", "none")), self.state["stats"], m)
        return {"x": t.masked_fill(~m[:, None, :], 0.0).float().contiguous(), "mask": m}, bad

    def _fixed(self, raw: Raw) -> tuple[Inputs, Bad]:
        """Signals of the one training length (no mask); a NaN-padded series is a bad row the message explains."""
        inputs, bad = super().transform(raw)
        x = self._samples(raw)
        lengths = series_lengths(x)
        for i in np.flatnonzero(lengths < x.shape[-1]).tolist():
            if int(lengths[i]) > 0 and i in bad:
                bad[i] = (f"NaN after step {int(lengths[i])} (a shorter series): the model was trained on series of "
                          f"{x.shape[-1]} steps without padding; train on the padded series to mask it")
        return inputs, bad

    def _within_length(self, lengths: np.ndarray, width: int, raw: Raw) -> np.ndarray:
        """The lengths, cut to the training length with `truncate`; else a longer series is refused."""
        long = np.flatnonzero(lengths > width)
        if len(long) and not self.settings.get("truncate", False):
            i = int(long[0])
            raise DataError(f"series {raw.ids[i]} of {raw.source} has {int(lengths[i])} steps, more than the longest "
                            f"training series ({width}); {len(long)} series in all. Set data.truncate = true to cut "
                            f"them to {width} steps, or train on series as long.")
        return np.minimum(lengths, width)

    def schema(self) -> InputSchema:
        shape = tuple(int(s) for s in self.state["shape"])
        return InputSchema(self.name, "signal", shape, masked=self.variable)


def series_lengths(x: np.ndarray) -> np.ndarray:
    """(n,) int64: each series' length, 1 + its last step where some channel is not NaN (0: every step NaN).
    x: (n, C, L) float."""
    present = ~np.isnan(x).all(1)  # (n, L)
    last = x.shape[-1] - np.argmax(present[:, ::-1], axis=1)
    return np.where(present.any(1), last, 0).astype(np.int64)


def _series_problems(x: np.ndarray, lengths: np.ndarray) -> Bad:
    """{row: reason} for series with no real step, or NaN / inf before their end (trailing NaN is padding)."""
    bad: Bad = {}
    inside = np.arange(x.shape[-1])[None, None, :] < lengths[:, None, None]
    broken = ~np.isfinite(x) & inside  # (n, C, L)
    for i in np.flatnonzero(broken.any((1, 2))).tolist():
        step = int(np.flatnonzero(broken[i].any(0))[0])
        bad[i] = (f"NaN or inf at step {step} of a series of {int(lengths[i])} steps (NaN after a series' end is "
                  "padding; a gap inside it must be filled)")
    for i in np.flatnonzero(lengths == 0).tolist():
        bad[i] = "an empty series (every step NaN)"
    return bad


@register_input("image")
class ImageFeaturiser(_Grid):
    """Images (n, C, H, W) from (n, H, W) or (n, C, H, W); volumes (n, C, D, H, W) from 5-D arrays.

    Settings: scale "unit" (divide by the training max |x|, keeps 0 as background), "standard" (per
    channel) or "none".
    """

    structure = "image"
    channel_axis = {3: True, 4: False, 5: False}
    shape_error = ("an image array must be (n, H, W), (n, C, H, W) or (n, C, D, H, W); input '{name}' has shape "
                   "{shape}. Use data.kind = 'signal' for (n, C, L).")


# ---------------------------------------------------------------------------------------------
@register_input("sequence")
class TokenFeaturiser(Featuriser):
    """Symbol sequences -> {"x": (n, L) int64, "mask": (n, L) bool}.

    Index 0 is padding, 1..V the alphabet's symbols, V+1 any symbol not in it (unknown). L is
    `max_length`, else the longest training sequence capped at LENGTH_CAP_FACTOR x the 90th-percentile
    training length (one outlier would pad every sequence to its length: a 1 MB sequence among short
    ones once took 23 GB); sequences longer than a cap are cut to it, with a warning naming max_length.
    Otherwise a longer sequence is an error naming both lengths, or is cut to L when `truncate` is set.
    Training symbols outside a named alphabet are warned about with their share, and refused above
    MAX_UNKNOWN_SHARE (a protein file read as DNA). Settings: alphabet ("auto": learned from the
    training sequences, or "dna", "rna", "protein"), max_length, truncate.
    """

    LENGTH_CAP_FACTOR = 4
    MAX_UNKNOWN_SHARE = 0.10

    def _sequences(self, raw: Raw) -> list[str]:
        return [str(s).strip().upper() for s in self._array(raw)]

    def fit(self, raw: Raw, rows: np.ndarray) -> None:
        seqs = self._sequences(raw)
        train = [seqs[i] for i in rows]
        alphabet = str(self.settings.get("alphabet", "auto"))
        symbols = sorted(set("".join(train))) if alphabet == "auto" else list(ALPHABETS[alphabet])
        self.notes = self._unknown_notes(train, symbols, alphabet, raw.source)
        lengths = np.array([len(s) for s in train] or [1])
        length, capped = self.settings.get("max_length"), False
        if length is None:
            cap = self.LENGTH_CAP_FACTOR * int(np.quantile(lengths, 0.9, method="lower"))  # an outlier is never it
            length, capped = min(int(lengths.max()), cap), bool(lengths.max() > cap)
        if capped:
            self.notes.append(f"{int((lengths > length).sum())} training sequence(s) of {raw.source} are longer than "
                              f"{length} symbols ({self.LENGTH_CAP_FACTOR}x the 90th-percentile length; the longest "
                              f"has {int(lengths.max())}) and were cut to {length}, so one outlier does not pad every "
                              "sequence to its length. Set data.max_length to choose the length.")
        self.state = {"symbols": symbols, "length": int(length), "capped": capped}

    def _unknown_notes(self, train: list[str], symbols: list[str], alphabet: str, source: str) -> list[str]:
        """A warning with the share of training symbols outside the alphabet, or a DataError above the limit."""
        known = set(symbols)
        total = sum(len(s) for s in train)
        counts = Counter(c for s in train for c in s if c not in known)
        share = sum(counts.values()) / max(total, 1)
        if not counts:
            return []
        shown = ", ".join(repr(c) for c, _ in counts.most_common(5))
        what = (f"{share:.1%} of the training symbols of {source} ({shown}) are not in alphabet '{alphabet}' "
                f"({''.join(symbols)}) and are read as one unknown symbol")
        if share > self.MAX_UNKNOWN_SHARE:
            raise DataError(f"{what}: more than the {self.MAX_UNKNOWN_SHARE:.0%} allowed, so this is likely the wrong "
                            "alphabet. Set data.alphabet to the right one ('auto' learns it from the data).")
        return [f"{what}; check data.alphabet."]

    def check(self, raw: Raw) -> Bad:
        return {i: "empty sequence" for i, s in enumerate(self._sequences(raw)) if not s}

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:
        seqs = self._sequences(raw)
        L = int(self.state["length"])
        index = {s: i + 1 for i, s in enumerate(self.state["symbols"])}
        unknown = len(index) + 1
        long = [i for i, s in enumerate(seqs) if len(s) > L]
        if long and not (self.settings.get("truncate", False) or self.state.get("capped", False)):
            raise DataError(f"{len(long)} sequence(s) of {raw.source} are longer than the {L} symbols the model "
                            f"takes (row {long[0]}, id {raw.ids[long[0]]}: {len(seqs[long[0]])} symbols). Set "
                            "data.truncate = true to cut them, or data.max_length to a larger length.")
        x = np.zeros((len(seqs), L), dtype=np.int64)
        for i, s in enumerate(seqs):
            s = s[:L]
            x[i, :len(s)] = [index.get(c, unknown) for c in s]
        t = torch.from_numpy(x)
        return {"x": t, "mask": t > 0}, self.check(raw)

    def schema(self) -> InputSchema:
        return InputSchema(self.name, "sequence", (int(self.state["length"]),), masked=True,
                           n_symbols=len(self.state["symbols"]) + 2)


def per_set_normalised(a: np.ndarray) -> np.ndarray:
    """One set's elements (s, d) centred on their centroid and divided by their RMS distance from it.

    What is left is the set's shape: its position and size are gone. For point clouds whose class
    does not depend on where they are or how large (shapes, jets in their own frame), this removes
    two nuisance factors the network would otherwise have to learn to ignore.
    """
    if len(a) == 0:
        return a
    centred = a - a.mean(0, keepdims=True)
    radius = float(np.sqrt((centred ** 2).sum(1).mean()))
    return centred / radius if radius > 0 else centred


@register_input("set")
class PaddedVectorsFeaturiser(Featuriser):
    """Variable-size sets (or vector sequences) of d-vectors -> {"x": (n, S, d) float, "mask": (n, S)}.

    Each feature is standardised with the mean/std over the real elements of the training samples
    (padding never enters the statistics). S is the largest training sample; a raw batch holding a
    larger one is padded to its own largest size (a set network takes any S). Settings: scale
    ("standard", "per-set" (`per_set_normalised`) or "none"), structure ("set" or "sequence"), longer ("pad",
    "refuse" or "truncate": a sample longer than every training sample, `_within_length`).
    """

    def _items(self, raw: Raw) -> list[np.ndarray]:
        items = [np.asarray(a, dtype=np.float64) for a in self._array(raw)]
        items = [a[:, None] if a.ndim == 1 else a for a in items]
        return [per_set_normalised(a) for a in items] if self.settings.get("scale") == "per-set" else items

    def fit(self, raw: Raw, rows: np.ndarray) -> None:
        items = self._items(raw)
        train = np.concatenate([items[i] for i in rows])
        d = train.shape[1]
        std = train.std(0)
        scale = self.settings.get("scale", "standard") == "standard"
        self.state = {"size": int(max(len(items[i]) for i in rows)), "d": int(d),
                      "mean": train.mean(0).tolist() if scale else [0.0] * d,
                      "std": np.where(std > 0, std, 1.0).tolist() if scale else [1.0] * d,
                      "feature_names": list(self.settings.get("feature_names") or [f"f{j}" for j in range(d)])}
        if self.settings.get("structure") == "sequence" and d > self.state["size"]:
            self.notes.append(f"the sequences of {raw.source} have {d} features per step but at most "
                              f"{self.state['size']} steps: more features than steps is the layout of signals "
                              "(n, C, L) read as sequences (n, L, d). If so, transpose the array to (n, L, C) or read "
                              "it with data.kind = 'signal'.")

    def _within_length(self, items: list[np.ndarray], raw: Raw) -> list[np.ndarray]:
        """Samples longer than the longest training sample, as setting `longer` says: "pad" (sets: a set network
        takes any size), "refuse" (vector sequences: steps beyond any trained on would change the prediction
        unseen) or "truncate" (cut to the training length; data.truncate = true)."""
        size, policy = int(self.state["size"]), str(self.settings.get("longer", "pad"))
        long = [i for i, a in enumerate(items) if len(a) > size]
        if not long or policy == "pad":
            return items
        if policy == "truncate":
            return [a[:size] for a in items]
        raise DataError(f"sample {raw.ids[long[0]]} of {raw.source} has {len(items[long[0]])} steps, more than the "
                        f"longest training sequence ({size}); {len(long)} sample(s) in all. Set data.truncate = true "
                        f"to cut them to {size} steps, or train on sequences as long.")

    def check(self, raw: Raw) -> Bad:
        return {i: "empty set" if len(a) == 0 else "NaN or inf in an element"
                for i, a in enumerate(self._items(raw)) if len(a) == 0 or not np.isfinite(a).all()}

    def transform(self, raw: Raw) -> tuple[Inputs, Bad]:
        items = self._items(raw)
        d = int(self.state["d"])
        wrong = [i for i, a in enumerate(items) if a.shape[1] != d]
        if wrong:
            raise DataError(f"sample {raw.ids[wrong[0]]} of {raw.source} has elements of {items[wrong[0]].shape[1]} "
                            f"features; the model was trained on {d}.")
        items = self._within_length(items, raw)
        S = max([int(self.state["size"])] + [len(a) for a in items])
        x = np.zeros((len(items), S, d), dtype=np.float64)
        mask = np.zeros((len(items), S), dtype=bool)
        mean, std = np.asarray(self.state["mean"]), np.asarray(self.state["std"])
        bad = self.check(raw)
        for i, a in enumerate(items):
            if i in bad:
                continue
            x[i, :len(a)] = (a - mean) / std
            mask[i, :len(a)] = True
        return {"x": torch.as_tensor(x, dtype=torch.float32), "mask": torch.from_numpy(mask)}, bad

    def schema(self) -> InputSchema:
        structure = str(self.settings.get("structure", "set"))
        return InputSchema(self.name, structure, (int(self.state["size"]), int(self.state["d"])),  # type: ignore[arg-type]
                           masked=True, feature_names=self.feature_names)
