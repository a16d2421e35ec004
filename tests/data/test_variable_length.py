"""Variable-length signals (NaN padding or a `lengths` array/column), layout checks, and over-long series.

The data: 40 one-channel series of 12..30 steps (sines against square waves). Oracles: the lengths written
into the file, the statistics of the real steps computed by hand, and predictions of the same series padded
two ways.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.config import config_from_dict
from deepsci.data import build_dataset
from deepsci.errors import ConfigError, DataError
from deepsci.experiment import run_experiment
from deepsci.run import Run
from deepsci.training.augment import Augment
from deepsci.training.series_augment import time_shift, window_slice

N, WIDTH = 40, 30


def _waves(width: int = WIDTH, fill: float = float("nan"), longest: int = WIDTH) -> tuple[np.ndarray, np.ndarray,
                                                                                        np.ndarray]:
    """(X (N, 1, width) with `fill` after each series' end, lengths (N,) in 12..longest, labels (N,))."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(12, longest + 1, N)
    lengths[::4] = longest  # the longest length in every split (a longer test series is refused)
    y = np.arange(N) % 2
    X = np.full((N, 1, width), fill, np.float32)
    for i, n in enumerate(lengths):
        t = np.arange(n) / 2
        X[i, 0, :n] = (np.sin(t) if y[i] else np.sign(np.sin(t))) + 3 + 0.3 * rng.normal(size=n)
    return X, lengths, y


def _data(path: Path, **extra: object) -> dict:
    return {"name": "v", "data": {"kind": "signal", "source": str(path), "target": "label", **extra}}


def _build(path: Path, **extra: object):
    return build_dataset(config_from_dict(_data(path, **extra)).data, seed=0)


@pytest.fixture()
def padded(tmp_path: Path) -> Path:
    X, lengths, y = _waves()
    np.savez(tmp_path / "padded.npz", X=X, label=y, lengths=lengths)
    return tmp_path / "padded.npz"


def test_nan_padding_is_read_as_variable_length(padded: Path) -> None:
    dataset = _build(padded)
    _, lengths, _ = _waves()
    x, mask = dataset.train.X["x"], dataset.train.X["mask"]
    assert dataset.inputs["x"].masked and dataset.inputs["x"].shape == (1, int(mask.sum(1).max()))
    ids = [int(i) for i in dataset.train.ids]
    assert mask.sum(1).tolist() == lengths[ids].tolist()  # each series' own length, from its trailing NaN
    assert torch.equal(x[~mask[:, None, :]], torch.zeros(int((~mask).sum())))  # the padding is 0, never NaN
    assert torch.isfinite(x).all()


def test_a_lengths_array_or_column_equals_nan_padding(padded: Path, tmp_path: Path) -> None:
    """Steps past `lengths` are padding whatever they hold (here 1e3): the tensors equal the NaN-padded file's."""
    X, lengths, y = _waves(fill=1e3)
    np.savez(tmp_path / "lengths.npz", X=X, label=y, n=lengths)
    table = pd.DataFrame(X[:, 0], columns=[f"t{j}" for j in range(WIDTH)]).assign(label=y, n=lengths)
    table.to_csv(tmp_path / "lengths.csv", index=False)
    reference = _build(padded)
    for other in (_build(tmp_path / "lengths.npz", lengths="n"), _build(tmp_path / "lengths.csv", lengths="n")):
        for part in ("train", "test"):
            for key in ("x", "mask"):
                torch.testing.assert_close(getattr(other, part).X[key], getattr(reference, part).X[key])


def test_scaling_statistics_count_only_the_real_steps(padded: Path) -> None:
    X, lengths, _ = _waves()
    dataset = _build(padded)
    train = [int(i) for i in dataset.train.ids]
    real = np.concatenate([X[i, 0, :lengths[i]] for i in train]).astype(np.float64)
    x, mask = dataset.train.X["x"], dataset.train.X["mask"]
    values = x[:, 0][mask].double()
    assert float(values.mean()) == pytest.approx(0.0, abs=1e-5)  # standard: the training real steps' mean and std
    assert float(values.std(unbiased=False)) == pytest.approx(1.0, abs=1e-5)
    assert float(real.mean()) > 2.5  # the raw level (3) is gone, so the padding (0 counted) did not set it
    per = _build(padded, scale="per-series").test.X
    for row, m in zip(per["x"][:, 0], per["mask"]):
        assert float(row[m].double().mean()) == pytest.approx(0.0, abs=1e-5)
        assert float(row[m].double().std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)


def test_nan_inside_a_series_is_one_line_or_dropped(tmp_path: Path) -> None:
    X, _, y = _waves()
    X[3, 0, 5] = np.nan
    np.savez(tmp_path / "gap.npz", X=X, label=y)
    with pytest.raises(DataError, match=r"NaN or inf at step 5 of a series of \d+ steps") as err:
        _build(tmp_path / "gap.npz")
    assert "\n" not in str(err.value)
    kept = _build(tmp_path / "gap.npz", missing="drop")
    assert kept.summary.rows_used == N - 1 and kept.summary.n_dropped == 1 and "3" not in kept.train.ids + kept.test.ids


def test_a_fixed_length_model_names_a_padded_new_series(tmp_path: Path) -> None:
    """Trained on series of one length (no padding, no mask): a new NaN-padded series is a skipped row whose
    reason says why, not a NaN prediction."""
    X, _, y = _waves(fill=0.0)
    np.savez(tmp_path / "fixed.npz", X=X, label=y)
    dataset = _build(tmp_path / "fixed.npz")
    assert not dataset.inputs["x"].masked and isinstance(dataset.train.X, torch.Tensor)
    X[:2, :, 20:] = np.nan
    np.savez(tmp_path / "new.npz", X=X[:4], label=y[:4])
    pre = dataset.preprocessor
    _, ids, skipped = pre.transform(pre.read(tmp_path / "new.npz"))
    assert ids == ["2", "3"] and [s["row"] for s in skipped] == [0, 1]
    assert "NaN after step 20 (a shorter series): the model was trained on series of 30 steps" in skipped[0]["reason"]


def test_signal_lengths_beyond_the_steps_name_the_transposition(tmp_path: Path) -> None:
    X, _, y = _waves()
    np.savez(tmp_path / "t.npz", X=np.transpose(X, (0, 2, 1)), label=y, n=np.full(N, WIDTH))  # (n, L, C) saved
    with pytest.raises(DataError, match=r"outside 1\.\.1 .*\(n, L, C\).*np\.transpose"):
        _build(tmp_path / "t.npz", lengths="n")


def _sequences(path: Path, lengths: list[int], steps: int, features: int = 2) -> Path:
    rng = np.random.default_rng(1)
    np.savez(path, X=rng.normal(size=(len(lengths), steps, features)).astype(np.float32), lengths=np.array(lengths),
             label=np.arange(len(lengths)) % 2)
    return path


def test_sequence_layout_checks(tmp_path: Path) -> None:
    """(n, C, L) read as a sequence: lengths past the steps are refused naming the transposition; more features
    than steps is a warning (the summary's notes, which the run lists among its warnings)."""
    data = {"kind": "sequence", "target": "label", "lengths": "lengths"}
    wrong = _sequences(tmp_path / "wrong.npz", [20] * 8, 3)
    with pytest.raises(DataError, match=r"outside 0\.\.3.*transpose the array to \(n, L, C\)"):
        build_dataset(config_from_dict({"name": "s", "data": {**data, "source": str(wrong)}}).data, seed=0)
    def notes(features: int) -> tuple[str, ...]:
        path = _sequences(tmp_path / f"d{features}.npz", [3, 4] * 10, 4, features=features)
        return build_dataset(config_from_dict({"name": "s", "data": {**data, "source": str(path)}}).data,
                             seed=0).summary.notes
    assert any("12 features per step but at most 4 steps" in n and "transpose" in n for n in notes(12))
    assert not any("features per step" in n for n in notes(2))


def test_a_test_signal_longer_than_every_training_signal_is_refused_or_cut(tmp_path: Path) -> None:
    X, _, y = _waves(longest=20)
    np.savez(tmp_path / "train.npz", X=X, label=y)
    Xt, _, yt = _waves(width=40, longest=26)
    np.savez(tmp_path / "test.npz", X=Xt[:6], label=yt[:6])
    with pytest.raises(DataError, match=r"has 26 steps, more than the longest training series \(20\)"):
        _build(tmp_path / "train.npz", test_source=str(tmp_path / "test.npz"))
    cut = _build(tmp_path / "train.npz", test_source=str(tmp_path / "test.npz"), truncate=True)
    assert cut.test.X["x"].shape[-1] == 20 and int(cut.test.X["mask"].sum(1).max()) == 20


def _ramps(lengths: list[int], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Series x[t] = t + 1 (two channels, the second negated), padded with 0 after lengths."""
    n = torch.tensor(lengths)
    steps = torch.arange(width, dtype=torch.float32)
    x = torch.stack([steps + 1, -(steps + 1)])[None].repeat(len(lengths), 1, 1)
    return x.masked_fill((steps[None] >= n[:, None])[:, None], 0.0), n


def test_signal_augmentations_stay_within_each_series() -> None:
    """Variable length: a time shift moves each series within its own steps, a window slice resamples a window of
    its own steps to its own length (a ramp stays a ramp), and the padding stays 0."""
    x, n = _ramps([5, 12, 30, 17], 30)
    g = torch.Generator().manual_seed(0)
    padding = (torch.arange(30)[None] >= n[:, None])[:, None].expand_as(x)
    shifted = time_shift(x, 0.3, g, n)
    sliced = window_slice(x, 0.5, g, n)
    torch.testing.assert_close(window_slice(x, 1.0, g, n), x)  # the whole series: itself (to rounding)
    for out in (shifted, sliced):
        assert torch.equal(out[padding], torch.zeros(int(padding.sum())))
    for i, length in enumerate(n.tolist()):
        row = shifted[i, 0, :length]
        real = row[row != 0]  # a contiguous run of consecutive values: the series moved, not scrambled
        assert torch.equal(real, torch.arange(real[0].item(), real[0].item() + len(real)))
        assert len(real) >= length - round(0.3 * length)
        ramp = sliced[i, 0, :length]
        assert float(ramp.min()) >= 1 and float(ramp.max()) <= length
        if length > 2:  # linear: equal steps of (window - 1) / (length - 1)
            torch.testing.assert_close(ramp.diff(), torch.full((length - 1,), float(ramp.diff()[0])))
            assert float(ramp[-1] - ramp[0]) == pytest.approx(max(2, round(0.5 * length)) - 1, abs=1e-4)
    mask = ~padding[:, 0]
    noisy = Augment(noise=0.1, magnitude_scale=0.2).padded_signals({"x": x, "mask": mask}, g)
    assert torch.equal(noisy["x"][padding], torch.zeros(int(padding.sum()))) and noisy["mask"] is mask
    with pytest.raises(ConfigError, match="augment.mixup would move or mix the padding"):
        Augment(mixup=0.2).padded_signals({"x": x, "mask": mask}, g)


@pytest.mark.slow
def test_fit_and_predict_on_variable_length_signals(padded: Path, tmp_path: Path) -> None:
    """The default network trains on padded series; `Run.predict` gives the same predictions for the test series
    padded wider with NaN, and refuses a series longer than every training series (cut with truncate = true)."""
    raw = {**_data(padded), "train": {"epochs": 2, "batch_size": 8}, "report": {"html": False},
           "uncertainty": {"method": "none"},
           "augment": {"window_slice": 0.9, "time_shift": 0.1, "magnitude_scale": 0.1, "noise": 0.01}}
    run = run_experiment(config_from_dict(raw), out=tmp_path, progress=False)
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert "zero-padded after their end" in metrics["baselines"]["minirocket"]["description"]
    X, lengths, y = _waves()
    loaded = Run.load(run.path)
    test = [int(i) for i in pd.read_csv(run.path / "predictions.csv")["id"]]
    width = int(lengths[[int(i) for i in build_dataset(run.config.data, seed=0).train.ids]].max())
    np.savez(tmp_path / "new.npz", X=X[test][..., :width], label=y[test])
    wider = np.concatenate([X[test][..., :width], np.full((len(test), 1, 17), np.nan, np.float32)], axis=-1)
    np.savez(tmp_path / "wider.npz", X=wider, label=y[test])
    first, second = loaded.predict(tmp_path / "new.npz"), loaded.predict(tmp_path / "wider.npz")
    np.testing.assert_allclose(first.filter(like="prob").to_numpy(), second.filter(like="prob").to_numpy(), atol=1e-6)
    longer = np.full((1, 1, width + 5), 1.0, np.float32)
    np.savez(tmp_path / "longer.npz", X=longer, label=y[:1])
    with pytest.raises(DataError, match=f"has {width + 5} steps, more than the longest training series"):
        loaded.predict(tmp_path / "longer.npz")


@pytest.mark.slow
def test_predict_refuses_an_over_long_sequence(tmp_path: Path) -> None:
    """data.md: in `predict` too, a vector sequence longer than every training sequence is refused (unless
    data.truncate = true, which cuts it)."""
    train = _sequences(tmp_path / "train.npz", [3, 4, 5, 6] * 5, 8)
    new = _sequences(tmp_path / "new.npz", [8, 4], 8)
    for truncate in (False, True):
        raw = {"name": f"s{truncate}", "data": {"kind": "sequence", "source": str(train), "target": "label",
                                               "lengths": "lengths", "truncate": truncate},
               "model": {"kind": "rnn", "hidden": [4]}, "train": {"epochs": 1}, "report": {"html": False},
               "uncertainty": {"method": "none"}}
        run = Run.load(run_experiment(config_from_dict(raw), out=tmp_path, progress=False).path)
        if truncate:
            assert len(run.predict(new)) == 2
        else:
            with pytest.raises(DataError, match="8 steps, more than the longest training sequence"):
                run.predict(new)
