"""The progress display moves within an epoch (batches, rows/s, ETA) and, off a terminal, prints a line at
least every `seconds`. Time comes from a fake clock, so the tests do not depend on the machine's speed."""

from __future__ import annotations

import re
import sys

import torch

from deepsci.models import MLP
from deepsci.training import Callback, ProgressBar, Trainer, get_loss

N, BATCH = 200, 20  # 10 batches an epoch


class Clock:
    """A clock that moves `step` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _fit(bar: ProgressBar, epochs: int, *extra: Callback) -> None:
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(N, 3, generator=g), torch.randn(N, 1, generator=g)
    Trainer(MLP(3, 1, (4,)), loss=get_loss(None, "regression"), batch_size=BATCH, epochs=epochs,
            callbacks=[bar, *extra]).fit(X, y)


def test_a_log_line_comes_within_an_epoch_at_least_every_30_seconds(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    clock = Clock(step=7.0)  # each clock read is 7 s later: a slow epoch of ~150 s
    _fit(ProgressBar(every=10, seconds=30.0, clock=clock), epochs=2)
    lines = capsys.readouterr().err.strip().splitlines()
    within = [ln for ln in lines if "batch" in ln]
    assert len(within) >= 3
    assert all(re.search(r"[\d,]+ rows/s", ln) for ln in within)
    # The first epoch learns how many batches an epoch has; the second shows k/10 and the time left.
    second = [ln for ln in within if ln.startswith("epoch 2/2")]
    assert second and all(re.search(r"batch \d+/10 .*ETA \d+:\d\d", ln) for ln in second)
    assert lines[-1].startswith("epoch 2/2  train")  # the epoch's summary line still ends the fit


def test_rows_per_second_and_eta_follow_the_clock(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    bar = ProgressBar(every=10, seconds=0.0, clock=Clock(step=1.0))  # a line every batch
    _fit(bar, epochs=2)
    second = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("epoch 2/2  batch")]
    # Epoch 2 starts at clock t0 and batch k ends at t0 + k s (one clock read a batch): k * 20 rows in
    # k seconds = 20 rows/s, and 10 - k batches left at 1 s each.
    k, rate, eta = re.search(r"batch (\d+)/10  ([\d,]+) rows/s  ETA (\d+:\d\d)", second[2]).groups()
    assert (int(k), rate, eta) == (3, "20", "0:07")


def test_without_slow_epochs_lines_come_every_n_epochs(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    _fit(ProgressBar(every=10, seconds=30.0, clock=lambda: 0.0), epochs=25)
    lines = capsys.readouterr().err.strip().splitlines()
    assert [ln.split()[1] for ln in lines] == ["10/25", "20/25", "25/25"]


class BatchSpy(Callback):
    """Reads the bar's batch task after each batch (it runs after the bar)."""

    def __init__(self, bar: ProgressBar) -> None:
        self.bar, self.seen = bar, []

    def on_batch_end(self, trainer, batch, logs):
        task = self.bar._progress.tasks[1]
        self.seen.append((task.completed, task.total))


def test_on_a_terminal_the_batch_bar_moves_within_the_epoch(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar = ProgressBar(clock=Clock(step=1.0))
    spy = BatchSpy(bar)
    _fit(bar, 2, spy)
    assert [c for c, _ in spy.seen[:10]] == list(range(1, 11))  # every batch of epoch 1
    assert spy.seen[0][1] == 10 and spy.seen[10][1] == 10  # the Trainer reports the epoch's batches from the first
    assert bar._progress is None  # stopped at the end of fit


def test_a_loop_that_reports_the_epoch_size_gets_an_eta_in_the_first_epoch(capsys, monkeypatch):
    """The batch logs may carry "batches" (per epoch) and "rows" (in this batch); the bar uses them."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)

    class Loop:  # the TrainingState a callback reads: only what the bar touches
        epochs, history_, batch_size = 1, [], 999

    bar = ProgressBar(seconds=0.0, clock=Clock(step=1.0))
    bar.on_fit_start(Loop())
    bar.on_epoch_start(Loop(), 1)
    for b in range(4):
        bar.on_batch_end(Loop(), b, {"loss": 0.5, "rows": 50, "batches": 8})
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "epoch 1/1  batch 4/8  50 rows/s  ETA 0:04  loss 0.5000"
