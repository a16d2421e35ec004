"""A streamed table trains, evaluates block by block (trivial and ridge references included) and writes its run
folder under a low address-space cap; predictions.csv keeps to `[report] predictions`."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

ROWS, COLUMNS = 600_000, 20  # 48 MB of float32 features
HEADROOM = 100 * 2 ** 20  # address space left to the fit once the libraries are mapped (alone it passed at 70 MB)

_CHILD = textwrap.dedent("""
    import resource, sys
    from deepsci.config import config_from_dict
    from deepsci.experiment import run_experiment

    def vm_bytes():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024

    def config(name, table):
        return config_from_dict({"name": name, "seed": 0, "data": {"source": table, "target": "y", "stream": True},
                                 "model": {"hidden": [8]}, "train": {"epochs": 1, "batch_size": 1024, "threads": 1},
                                 "uncertainty": {"method": "none"}, "report": {"html": False, "predictions": 1000}})

    small, table, out, headroom = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    run_experiment(config("small", small), out, progress=False)  # every lazy import and thread pool, uncapped
    limit = vm_bytes() + headroom  # the libraries already mapped, and little to spare
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    run_experiment(config("big", table), out, progress=False)
""")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc/self/status: Linux")
def test_streamed_fit_completes_under_a_low_memory_cap_with_references(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, COLUMNS)).astype(np.float32)
    frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(COLUMNS)])
    frame["y"] = (x[:, :3].sum(1) + 0.1 * rng.normal(size=ROWS)).astype(np.float32)
    frame.to_parquet(tmp_path / "big.parquet", row_group_size=20_000)
    frame.iloc[:5000].to_parquet(tmp_path / "small.parquet", row_group_size=1000)
    # The table is read, scaled, evaluated and its references fitted block by block: the cap leaves room for the
    # table's features twice at most (gathering the splits for evaluation needed 110-160 MB here).
    assert x.nbytes > HEADROOM / 2.5
    del x, frame
    done = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "small.parquet"), str(tmp_path / "big.parquet"),
                           str(tmp_path / "runs"),
                           str(HEADROOM)], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "MALLOC_ARENA_MAX": "1"})  # no 64 MB arena reserved per thread
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "runs" / "big" / "metrics.json").read_text())
    assert {"trivial", "linear"} <= set(metrics["baselines"])
    assert np.isfinite(metrics["baselines"]["linear"]["test"]["rmse"])
    assert metrics["test"]["sample"]["of"] > metrics["test"]["sample"]["rows"]  # evaluated in blocks, ranks sampled
    rows = (tmp_path / "runs" / "big" / "predictions.csv").read_text().count("\n") - 1
    assert rows == 1000
