"""Hyperparameter sweeps with Optuna over the keys a config marks as ranges (`deepsci sweep`).

    setup = prepare_sweep(load_raw("examples/solubility_sweep.toml"), out="runs")
    study = run_sweep(setup, trials=20)          # each trial: a run folder runs/<study>-tNNN
    summary = summarise(setup, study)            # runs/<study>.sweep/: trials.csv, best.toml, report.html

Importing this package imports neither torch nor Optuna, so a config is checked at once; each trial
reports its epochs through `deepsci.sweep.reporter.TrialReporter`. Optuna is an optional dependency:
`pip install 'deepsci[sweep]'`.
"""

from deepsci.sweep.space import Range, check_space, parse_space, sample, substitute
from deepsci.sweep.study import SweepSetup, prepare_sweep, run_sweep
from deepsci.sweep.summary import SweepSummary, TrialRow, summarise
from deepsci.sweep.trial import direction_of, run_name

__all__ = ["Range", "SweepSetup", "SweepSummary", "TrialRow", "check_space", "direction_of",
           "parse_space", "prepare_sweep", "run_name", "run_sweep", "sample", "substitute", "summarise"]
