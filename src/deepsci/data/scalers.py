"""Standardisation of feature and target columns, fitted on the training split only.

Scalers are fitted on train only: fitting on all data leaks test statistics into training.
A fitted scaler round-trips through plain JSON (`to_dict` / `from_dict`), so a run folder
needs no pickle to transform new inputs the same way.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from deepsci.errors import DataError

ArrayLike = torch.Tensor | np.ndarray


class Scaler:
    """Column-wise standardisation z = (x - mean) / scale, as scikit-learn's StandardScaler.

    `scale` is the population standard deviation (ddof = 0) of each column on the data passed
    to `fit`. A column with zero (or non-finite) variance gets scale 1, so it maps to a constant
    0 instead of dividing by zero.

    Statistics are computed in float64 and kept in float64; `transform` returns the dtype of
    its input.

    Attributes:
        mean_: (d,) float64 tensor, the column means (set by `fit`).
        scale_: (d,) float64 tensor, the column standard deviations, 1 where a column is constant.
    """

    def __init__(self) -> None:
        self.mean_: torch.Tensor | None = None
        self.scale_: torch.Tensor | None = None

    # ----------------------------------------------------------------------------------------
    def fit(self, X: ArrayLike) -> "Scaler":
        """Learn the mean and scale of each column of X: (n, d) (or (n,) for one column)."""
        x = _as_tensor(X).to(torch.float64)
        if x.dim() == 1:
            x = x[:, None]
        if x.dim() != 2:
            raise DataError(f"Scaler.fit expects a 2-D table (n, d); received shape {tuple(x.shape)}.")
        if x.shape[0] == 0:
            raise DataError("Scaler.fit received 0 rows; the training split is empty. "
                            "Lower test_fraction/valid_fraction or use more data.")
        if not torch.isfinite(x).all():
            bad = (~torch.isfinite(x)).any(0).nonzero().flatten().tolist()
            raise DataError(f"Scaler.fit received NaN or inf in column(s) {bad}; "
                            "clean or drop those rows before scaling.")
        mean = x.mean(0)
        std = x.std(0, unbiased=False)
        # Zero-variance columns: dividing by ~0 would blow them up, so leave them unscaled.
        tiny = std <= 1e-12 * torch.clamp(mean.abs(), min=1.0)
        self.mean_ = mean
        self.scale_ = torch.where(tiny, torch.ones_like(std), std)
        return self

    def transform(self, X: ArrayLike) -> torch.Tensor:
        """(X - mean) / scale, in X's floating dtype (float32 for ints and numpy input)."""
        return self._columnwise(X, lambda x, mean, scale: (x - mean) / scale)

    def inverse_transform(self, Z: ArrayLike) -> torch.Tensor:
        """Z * scale + mean: back to the original units."""
        return self._columnwise(Z, lambda z, mean, scale: z * scale + mean)

    def inverse_transform_std(self, S: ArrayLike) -> torch.Tensor:
        """S * scale: a standard deviation (or any spread) in scaled units back to original units."""
        return self._columnwise(S, lambda s, mean, scale: s * scale)

    def _columnwise(self, X: ArrayLike, op: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
                    ) -> torch.Tensor:
        """op(x, mean, scale) in float64 on the (n, d) columns of X ((n,) when fitted on one column), returned
        in X's floating dtype (float32 for ints and numpy input)."""
        mean, scale = self._stats()
        x = _as_tensor(X)
        squeeze = x.dim() == 1 and mean.numel() == 1
        if squeeze:
            x = x[:, None]
        self._check_width(x)
        out = op(x.double(), mean.to(x.device), scale.to(x.device))
        out = out.to(x.dtype if x.is_floating_point() else torch.float32)
        return out[:, 0] if squeeze else out

    # ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able state: {"kind": "standard", "mean": [...], "scale": [...]}."""
        mean, scale = self._stats()
        return {"kind": "standard", "mean": mean.tolist(), "scale": scale.tolist()}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> "Scaler":
        """Rebuild a fitted scaler from `to_dict()` output."""
        try:
            mean = torch.tensor(state["mean"], dtype=torch.float64)
            scale = torch.tensor(state["scale"], dtype=torch.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"scaler state must hold lists 'mean' and 'scale'; received keys "
                            f"{sorted(state) if isinstance(state, dict) else type(state).__name__}.") from exc
        if mean.shape != scale.shape or mean.dim() != 1:
            raise DataError(f"scaler 'mean' and 'scale' must be 1-D lists of equal length; "
                            f"received {tuple(mean.shape)} and {tuple(scale.shape)}.")
        scaler = cls()
        scaler.mean_, scaler.scale_ = mean, scale
        return scaler

    @property
    def n_features(self) -> int:
        mean, _ = self._stats()
        return int(mean.numel())

    def __repr__(self) -> str:
        return f"Scaler(n_features={self.n_features})" if self.mean_ is not None else "Scaler(unfitted)"

    # ----------------------------------------------------------------------------------------
    def _stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.mean_ is None or self.scale_ is None:
            raise DataError("this Scaler is not fitted; call fit(X_train) first.")
        return self.mean_, self.scale_

    def _check_width(self, x: torch.Tensor) -> None:
        d = self._stats()[0].numel()
        if x.dim() != 2 or x.shape[1] != d:
            raise DataError(f"Scaler was fitted on {d} columns; received shape {tuple(x.shape)}.")


def _as_tensor(X: ArrayLike) -> torch.Tensor:
    return X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
