"""deepsci.training.threads: explicit settings win, small steps take one thread, fits share the cores, and a
killed process holds none."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepsci.cli import main
from deepsci.errors import ConfigError
from deepsci.training import threads
from deepsci.training.threads import (THRESHOLD_MFLOP, cgroup_quota, choose_threads, explicit_threads,
                                      live_processes, registry_dir, reserve_share, share_threads, step_mflop)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def own_registry(tmp_path, monkeypatch):
    """A registry of this test's own, this process not yet in it (a CLI command run in-process by an earlier test
    keeps its registration for the life of the process), and no thread setting from the environment."""
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(threads, "_registration", threads._Registration())
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    return tmp_path / "cache" / "processes"


def test_the_choice_shares_the_cores_and_gives_small_steps_one_thread():
    assert choose_threads(cores=8, processes=1).threads == 8
    assert choose_threads(cores=8, processes=3).threads == 2
    assert choose_threads(cores=2, processes=5).threads == 1
    small = choose_threads(cores=8, processes=1, family="dense", step_mflop=THRESHOLD_MFLOP["dense"] / 2)
    assert small.threads == 1 and "MFLOP" in small.reason
    big = choose_threads(cores=8, processes=2, family="dense", step_mflop=THRESHOLD_MFLOP["dense"] * 2)
    assert big.threads == 4 and "shared by 2" in big.reason
    mine = choose_threads(cores=8, processes=4, explicit=(3, "train.threads = 3"), step_mflop=0.001)
    assert mine.threads == 3 and mine.explicit and mine.reason == "train.threads = 3"


def test_explicit_settings_in_their_order(own_registry, monkeypatch):
    assert explicit_threads(None) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert explicit_threads(None) == (3, "OMP_NUM_THREADS = 3")
    assert explicit_threads(2) == (2, "train.threads = 2")  # the config's key before the environment
    monkeypatch.setenv("OMP_NUM_THREADS", "0")
    with pytest.raises(ConfigError, match="OMP_NUM_THREADS = 0"):
        explicit_threads(None)


def test_a_thread_count_the_caller_set_is_kept_and_given_back(own_registry):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        with share_threads(None, family="dense", work=1e-3) as share:  # a tiny step, yet the caller's 3 win
            assert torch.get_num_threads() == 3
            assert share.choice is not None and share.choice.explicit and "caller" in share.choice.reason
            share.apply()  # looked at again (each epoch): still the caller's
            assert torch.get_num_threads() == 3
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_a_deepsci_choice_is_undone_after_the_fit(own_registry):
    before = torch.get_num_threads()
    with share_threads(None, family="dense", work=1e-3) as share:
        assert torch.get_num_threads() == 1 and share.choice is not None and not share.choice.explicit
        assert live_processes() == 1 and len(list(own_registry.glob("*.lock"))) == 1
    assert torch.get_num_threads() == before
    assert live_processes() == 0
    assert explicit_threads(None) is None  # what deepsci set and undid is not mistaken for the caller's


def test_a_process_about_to_start_is_counted_until_released(own_registry):
    release = reserve_share()  # a sweep's worker, still importing in its fork server
    assert live_processes() == 1
    with share_threads(None) as share:
        assert share.choice is not None and share.choice.processes == 2
    release()
    release()  # twice: a start that failed and the sweep's own clean-up both give it back
    assert live_processes() == 0


_HOLDER = """
import sys, time
from deepsci.training.threads import take_share
take_share()
print("registered", flush=True)
time.sleep(60)
"""


def test_a_killed_process_holds_no_cores(own_registry):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "DEEPSCI_CACHE": str(own_registry.parent)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "registered"
        assert live_processes() == 1
        with share_threads(None) as share:  # the two of us share the cores
            assert share.choice is not None and share.choice.processes == 2
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert live_processes() == 0  # its lock went with it
    assert not list(own_registry.glob("*.lock"))  # and its file is cleaned up
    with share_threads(None) as share:
        assert share.choice is not None and share.choice.processes == 1


def test_the_cgroup_quota_is_read_in_v2_and_v1(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cgroup_quota(v1) == 3.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert cgroup_quota(v1) is None


def test_recurrent_work_is_counted_where_torch_runs_a_fused_kernel():
    lstm = torch.nn.LSTM(1, 16, batch_first=True)
    x = torch.randn(8, 10, 1)
    assert step_mflop(lstm, x, batch_size=8) == pytest.approx(3 * 2 * 8 * 10 * 4 * 16 * (1 + 16) / 1e6)
    assert step_mflop(torch.nn.Linear(4, 2), torch.randn(5, 4), batch_size=10) == pytest.approx(3 * 2 * 10 * 8 / 1e6)


@pytest.mark.parametrize("kind", ["dense", "conv", "attention"])
def test_the_work_is_counted_as_torch_flop_counter_counts_it(kind):
    """step_mflop counts with torch's formulas, not with FlopCounterMode (threads._FlopCount says why): the same
    total on a dense, a convolutional and an attention network (in training mode, where the attention's matmuls
    run one by one; step_mflop itself counts in eval mode)."""
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model, x = {
        "dense": (torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2)),
                  torch.randn(8, 6)),
        "conv": (torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                     torch.nn.Linear(4 * 6 * 6, 3)), torch.randn(8, 1, 8, 8)),
        "attention": (torch.nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, batch_first=True),
                      torch.randn(8, 5, 16)),
    }[kind]
    ours, theirs = threads._FlopCount(), FlopCounterMode(display=False)
    for counter in (ours, theirs):
        with counter, torch.no_grad():
            model(x)
    assert ours.flops == theirs.get_total_flops() > 0
    if kind != "attention":
        assert step_mflop(model, x, batch_size=8) == pytest.approx(3 * ours.flops / 1e6)


def test_the_thresholds_are_the_stored_measurement():
    stored = json.loads((ROOT / "benchmarks" / "results" / "thread_threshold.json").read_text())
    assert {k: v["threshold_mflop"] for k, v in stored["families"].items()} == THRESHOLD_MFLOP
    assert set(threads.FAMILIES.values()) <= set(THRESHOLD_MFLOP)


@pytest.mark.slow
def test_metrics_json_records_the_thread_choice_and_train_threads_is_respected(own_registry, tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    frame["y"] = frame.sum(axis=1)
    frame.to_csv(tmp_path / "t.csv", index=False)
    body = (f'name = "t"\nseed = 0\n[data]\nsource = "{tmp_path / "t.csv"}"\ntarget = "y"\n'
            '[model]\nhidden = [4]\n[train]\nepochs = 1\nthreads = 1\n[uncertainty]\nmethod = "none"\n'
            '[report]\nhtml = false\n')
    (tmp_path / "t.toml").write_text(body)
    before = torch.get_num_threads()
    with pytest.raises(SystemExit) as done:
        main(["fit", str(tmp_path / "t.toml"), "--out", str(tmp_path / "runs"), "--quiet"])
    assert done.value.code in (0, None)
    recorded = json.loads((tmp_path / "runs" / "t" / "metrics.json").read_text())["environment"]
    assert recorded["threads"]["threads"] == recorded["torch_threads"] == 1
    assert recorded["threads"]["reason"] == "train.threads = 1" and recorded["threads"]["explicit"]
    assert recorded["threads"]["step_mflop"] > 0 and recorded["threads"]["used"] == [1]
    assert torch.get_num_threads() == before  # the process's count is given back
    (tmp_path / "t.toml").write_text(body.replace("threads = 1", "threads = 0"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(["fit", str(tmp_path / "t.toml"), "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert refused.value.code == 2 and len(err.splitlines()) == 1 and "train.threads = 0" in err


def test_registry_folder_follows_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPSCI_CACHE", str(tmp_path))
    assert registry_dir() == tmp_path / "processes"


def test_an_unlocked_file_is_a_dead_process(own_registry):
    own_registry.mkdir(parents=True)
    (own_registry / "12345-dead.lock").write_text("")
    started = time.perf_counter()
    assert live_processes() == 0 and not (own_registry / "12345-dead.lock").exists()
    assert time.perf_counter() - started < 60  # never waits on a lock


def test_a_graph_network_step_is_counted_and_grows_with_the_batch():
    pytest.importorskip("rdkit")
    from deepsci.data.graphs import MolecularGraphs, graphs_of_smiles
    from deepsci.models.graph import GraphNet

    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCCCCCCC"] * 8  # 32 molecules, each size 8 times
    graphs = MolecularGraphs.from_graphs(graphs_of_smiles(smiles, cache=False)[0], torch.zeros(len(smiles), 0))
    net = GraphNet("dmpnn", graphs.atom_x.shape[1], graphs.bond_x.shape[1], 0, 1, width=32, depth=3, hidden=(32,))
    small, large = step_mflop(net, graphs, 4), step_mflop(net, graphs, 32)
    assert small is not None and large is not None and small > 0
    # the first 4 molecules are a quarter of the 32 (the same four, 8 times): the count is over their atoms and bonds
    assert large == pytest.approx(8 * small, rel=1e-6)
    width, atoms = 32, int(graphs.n_atoms[:4].sum())
    assert small > 3 * 2 * atoms * width * width / 1e6  # at least W_o's matmul over the atoms, forward and back


def test_entry_points_that_do_not_train_register_while_they_run(own_registry):
    from deepsci.estimators import Regressor
    from deepsci.run import Run

    @threads.sharing_cores
    def count() -> int:
        return live_processes()

    assert count() == 1 and live_processes() == 0
    for method in (Run.predict, Run.evaluate, Run.explain, Run.sample, Regressor._predictions):
        assert getattr(method, "__wrapped__", None) is not None, method
