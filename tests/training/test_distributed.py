"""Data-parallel training on CPU (gloo): two processes take the steps of one process with the same global
batch, and `deepsci fit --nproc 2` leaves one complete run folder."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from deepsci.training.distributed import World, shard

ROOT = Path(__file__).resolve().parents[2]

# The same data, model and trainer in every process; rank 0 saves the weights and the history.
TRAIN = textwrap.dedent('''
    import json, sys
    import torch
    from safetensors.torch import save_file
    from sklearn.datasets import load_diabetes

    from deepsci.models import MLP
    from deepsci.training import Trainer, get_loss
    from deepsci.training.distributed import process_group, world

    def fit():
        X, y = load_diabetes(return_X_y=True)
        X = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
        y = torch.tensor((y - y.mean()) / y.std(), dtype=torch.float32)[:, None]
        # 69 training rows at batch 16: the last batch (5 rows) splits 3 + 2 over two processes;
        # 41 validation rows split 20 + 21.
        model = MLP(10, 1, (16, 16), "tanh", seed=0)
        trainer = Trainer(model, loss=get_loss(None, "regression"), optimizer="adam", lr=1e-2, batch_size=16,
                          epochs=3, seed=0)
        return trainer.fit(X[:69], y[:69], X[69:110], y[69:110])

    if __name__ == "__main__":
        with process_group(torch.device("cpu")):
            trainer = fit()
            if world().is_main:
                save_file({k: v.contiguous() for k, v in trainer.model.state_dict().items()}, sys.argv[1])
                with open(sys.argv[2], "w") as f:
                    json.dump({"history": trainer.history_, "size": world().size}, f)
''')


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def test_shards_cover_the_global_batch_and_scale_to_its_mean():
    idx = torch.arange(5)
    parts = [shard(idx, World(rank, 2)) for rank in range(2)]
    assert torch.equal(torch.cat([p for p, _ in parts]), idx)
    # DDP averages the ranks' gradients: (2·3/5 · mean_0 + 2·2/5 · mean_1) / 2 = the 5-row mean
    assert [f for _, f in parts] == [pytest.approx(6 / 5), pytest.approx(4 / 5)]
    assert shard(idx, World()) == (idx, 1.0)
    lonely, factor = shard(torch.arange(1), World(1, 2))  # fewer rows than processes
    assert lonely.tolist() == [0] and factor == 0.0


def test_two_processes_take_the_steps_of_one_with_the_same_global_batch(tmp_path, one_thread):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    weights, logs = tmp_path / "two.safetensors", tmp_path / "two.json"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(script), str(weights), str(logs)], env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    namespace: dict = {}
    exec(compile(TRAIN.replace('if __name__ == "__main__":', "if False:"), "train", "exec"), namespace)
    one = namespace["fit"]()  # the same fit in this single process
    two = load_file(weights)
    record = json.loads(logs.read_text())
    assert record["size"] == 2
    for name, value in one.model.state_dict().items():
        torch.testing.assert_close(two[name], value, atol=1e-5, rtol=0)
    for a, b in zip(record["history"], one.history_):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], abs=1e-5)
    assert one.history_[-1]["valid_loss"] < one.history_[0]["valid_loss"]  # it did learn


TINY = """
name = "tiny"
seed = 0

[data]
source = "breast-cancer"
test_fraction = 0.2
valid_fraction = 0.2

[model]
hidden = [8]

[train]
epochs = 1
batch_size = 64

[report]
html = false
"""


@pytest.mark.slow
def test_fit_with_two_processes_writes_one_complete_run_folder(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "runs"

    done = subprocess.run([sys.executable, "-m", "deepsci", "fit", str(config), "--nproc", "2", "--out", str(out),
                           "--quiet"], env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["tiny"]  # no second folder, no staging or lock left
    run = out / "tiny"
    for name in ("config.toml", "metrics.json", "history.csv", "predictions.csv", "model.safetensors", "model.json",
                 "checkpoint"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["environment"]["processes"] == 2 and metrics["environment"]["device"] == "cpu"
    assert metrics["epochs_run"] == 1 and 0.5 < metrics["test"]["roc_auc"] <= 1.0
