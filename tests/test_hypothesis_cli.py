"""Property-based battery of the command line: generated CSV files and TOML configs, run in process.

For every generated case `deepsci fit` (and `deepsci predict` on a trained run) must end with exit 0
or 2; on exit 2 stderr is exactly one line; never a traceback; never a half-written or mixed run
folder: after exit 2 an earlier run of the same name is byte-identical and nothing new is visible in
--out; after exit 0 the run folder is complete and its metrics.json parses.

Cases are kept small (0-40 rows, 1-2 epochs, a 4-unit network) so the whole battery (over 200 cases)
runs in a few minutes on 2 cores.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from deepsci.cli import main  # noqa: E402

pytestmark = pytest.mark.slow

RUN_FILES = ("config.toml", "metrics.json", "model.safetensors", "model.json", "predictions.csv")
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])
SMALL = ["--set", "train.epochs=1", "--set", "model.hidden=[4]", "--set", "train.batch_size=16"]


# -- running the command in process ---------------------------------------------------------------
def run_cli(*args: Any) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of `deepsci ARGS` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:  # what escapes main is a bug: report it with its text
            import traceback

            err.write("Traceback (escaped main)\n" + "".join(traceback.format_exception(exc)))
            code = -1
    return (0 if code is None else code), out.getvalue(), err.getvalue()


OUTCOMES: dict[int, int] = {}  # exit status -> cases, printed at the end (how many cases really trained)


def check_outcome(code: int, err: str, out_dir: Path, name: str, before: dict[str, str]) -> None:
    """The battery's invariants for one finished command."""
    OUTCOMES[code] = OUTCOMES.get(code, 0) + 1
    assert code in (0, 2), f"exit {code}\n{err}"
    assert "Traceback" not in err, err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, f"exit 2 with {len(err.strip().splitlines())} lines:\n{err}"
        assert snapshot(out_dir) == before, "a failed command changed --out (a half-written or mixed run)"
    elif (out_dir / name).is_dir():
        for file in RUN_FILES:
            assert (out_dir / name / file).is_file(), f"exit 0 but the run folder lacks {file}"
        json.loads((out_dir / name / "metrics.json").read_text())


def snapshot(folder: Path) -> dict[str, str]:
    """Every visible file under `folder` (hidden checkpoints of an interrupted fit excluded) with its hash."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.relative_to(folder).parts[0].startswith(".")}


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory) -> Iterator[Path]:
    """A finished run named `keep`, copied into each case's --out: a failed fit must leave it intact."""
    root = tmp_path_factory.mktemp("earlier")
    data = _good_frame(30)
    data.to_csv(root / "good.csv", index=False)
    config = root / "keep.toml"
    config.write_text(f'name = "keep"\n[data]\nsource = "{root / "good.csv"}"\ntarget = "y"\n')
    code, _, err = run_cli("fit", config, "--out", root / "runs", "--quiet", *SMALL)
    assert code == 0, err
    yield root / "runs"
    print(f"\nCLI battery outcomes (exit status: cases): {dict(sorted(OUTCOMES.items()))}")


def _good_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["y"] = frame["a"] - 0.5 * frame["b"]
    return frame


@contextlib.contextmanager
def case_folder(earlier: Path):
    """A fresh folder holding `runs/keep` (a copy of the earlier run) for one generated case."""
    root = Path(tempfile.mkdtemp(prefix="hyp-cli-"))
    try:
        shutil.copytree(earlier, root / "runs")
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- generated CSV files ----------------------------------------------------------------------------
ODD_NAMES = ["a", "b", "y", "", " ", "a b", "$x^2$", "$", "a,b", 'q"uote', "é", "<b>", "\\", "#", "1", "_x",
             "y ", "Y", "nan", "%s", "line\nbreak"]
CELL = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e300, -1e39, 0.0]),
    st.sampled_from(["abc", "", " ", "1,5", "1e5", "NaN", "null", "-", "1e400"]),
    st.integers(-10, 10),
)
# `deepsci predict` has two known bugs (the xfail tests at the end): a text cell and a value beyond
# float32 in a feature. Its battery draws cells without them, so it guards everything else.
PREDICT_CELL = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0]),
    st.sampled_from(["", "NaN", "1e5"]),
    st.integers(-10, 10),
)


@st.composite
def csv_files(draw, cell=CELL) -> tuple[bytes, str]:
    """CSV bytes (with an encoding and delimiter drawn) and a description for the failure report."""
    n_rows = draw(st.integers(0, 40))
    extra = draw(st.lists(st.sampled_from(ODD_NAMES), min_size=0, max_size=4))
    names = ["a", "y"] + extra if draw(st.booleans()) or n_rows == 0 else draw(st.permutations(["a", "y"] + extra))
    if draw(st.integers(0, 9)) == 0:
        names = [n for n in names if n != "y"]  # no target column at all
    clean = draw(st.booleans())  # half the files are well formed (numbers, unique names), so that fits run through
    if clean:
        names = list(dict.fromkeys(n for n in names if n.strip() and n != "nan")) or ["a", "y"]
    columns = {}
    for j, name in enumerate(names):
        if clean:
            values = list(np.random.default_rng(j + n_rows).normal(size=n_rows))
        else:
            values = draw(st.lists(cell, min_size=n_rows, max_size=n_rows))
        columns[j] = values
    frame = pd.DataFrame(columns)
    frame.columns = names  # duplicates allowed on purpose
    sep = "," if clean else draw(st.sampled_from([",", ",", ";", "\t"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig"] if clean else ["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    text = frame.to_csv(index=False, sep=sep)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8")
    if not clean and draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]  # a truncated file
    return data, f"{n_rows} rows, columns {names!r}, sep {sep!r}, {encoding}, clean={clean}"


@settings(max_examples=60, **SETTINGS)
@given(csv=csv_files())
def test_fit_on_generated_csv_files(earlier_run, csv):
    data, _description = csv
    with case_folder(earlier_run) as root:
        (root / "data.csv").write_bytes(data)
        config = root / "keep.toml"
        config.write_text(f'name = "keep"\n[data]\nsource = "{root / "data.csv"}"\ntarget = "y"\n')
        before = snapshot(root / "runs")
        code, _, err = run_cli("fit", config, "--out", root / "runs", "--quiet", *SMALL)
        check_outcome(code, err, root / "runs", "keep", before)


@settings(max_examples=40, **SETTINGS)
@given(csv=csv_files(cell=PREDICT_CELL))
def test_predict_on_generated_csv_files(earlier_run, csv):
    data, _description = csv
    with case_folder(earlier_run) as root:
        (root / "new.csv").write_bytes(data)
        before = snapshot(root / "runs")
        code, out, err = run_cli("predict", root / "runs" / "keep", root / "new.csv", "-o", root / "pred.csv")
        check_outcome(code, err, root / "runs", "keep", before)
        if code == 0:
            written = pd.read_csv(root / "pred.csv")
            assert str(len(written)) in out
            assert not written.filter(like="_pred").isna().any().any(), "blank predictions with exit 0"
        else:
            assert not (root / "pred.csv").exists()


# -- generated TOML configs -------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    """A TOML literal (tomllib has no writer; tomli_w would refuse nan, which TOML allows)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


VALUES = st.one_of(
    st.integers(-3, 300), st.sampled_from([0, 1, 2, 10**12, -1]),
    st.floats(allow_nan=True, allow_infinity=True, width=64), st.sampled_from([0.0, 0.5, 1.0, 1e-300, 0.1]),
    st.booleans(), st.sampled_from(["", "adam", "sgd", "relu", "tanh", "y", "a", "b", "zz", "ensemble", "drop",
                                    "random", "regression", "binary", "x" * 300, "../escape", "$x^2$"]),
    st.lists(st.integers(-2, 6), max_size=3), st.lists(st.sampled_from(["a", "b", "y", "q"]), max_size=3),
    st.just({"k": 1}),
)
KEYS = {
    "": ["seed", "name", "nmae"],
    "data": ["target", "features", "missing", "task", "split", "test_fraction", "valid_fraction", "targte",
             "scale_targets", "kind"],
    "model": ["hidden", "activation", "dropout", "init", "kind", "hiden"],
    "train": ["epochs", "lr", "batch_size", "optimizer", "schedule", "patience", "loss", "rule", "weight_decay",
              "clip_grad_norm", "epoch"],
    "uncertainty": ["method", "members", "samples", "level", "conformal"],
    "report": ["units"],
    "bogus": ["x"],
}
VALID = {  # values each key accepts, so that about half the configs train
    ("", "seed"): [0, 1, 7], ("", "name"): ["keep", "other", "a.b-c_d"],
    ("data", "target"): ["y"], ("data", "features"): [["a"], ["a", "b"]], ("data", "missing"): ["error", "drop"],
    ("data", "task"): ["auto", "regression"], ("data", "split"): ["auto", "random"],
    ("data", "test_fraction"): [0.2, 0.3], ("data", "valid_fraction"): [0.1, 0.2], ("data", "scale_targets"): [True, False],
    ("model", "hidden"): [[4], [3, 3]], ("model", "activation"): ["relu", "tanh", "gelu"], ("model", "dropout"): [0.0, 0.1],
    ("model", "init"): ["he", "xavier", "critical"], ("train", "epochs"): [1, 2], ("train", "lr"): [1e-3, 1e-2],
    ("train", "batch_size"): [8, 16], ("train", "optimizer"): ["adam", "sgd", "adamw"],
    ("train", "schedule"): ["constant", "cosine"], ("train", "patience"): [1, 5], ("train", "loss"): ["mse", "huber"],
    ("train", "weight_decay"): [0.0, 1e-4], ("train", "clip_grad_norm"): [1.0],
    ("uncertainty", "method"): ["none", "ensemble"], ("uncertainty", "members"): [2, 3], ("uncertainty", "level"): [0.9],
    ("report", "units"): ["log mol/L", "$x^2$", "%"],
}


@st.composite
def configs(draw) -> dict[str, Any]:
    """A valid small config with 1-3 keys set to drawn values (most of them invalid)."""
    raw: dict[str, Any] = {"name": "keep", "data": {"target": "y"}, "model": {"hidden": [4]},
                           "train": {"epochs": 1, "batch_size": 16}}
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(KEYS)))
        key = draw(st.sampled_from(KEYS[section]))
        value = draw(st.sampled_from(VALID[(section, key)]) if (section, key) in VALID and draw(st.booleans())
                     else VALUES)
        if section == "train" and key == "epochs" and isinstance(value, int) and value > 2:
            value = 2  # keep the valid cases quick
        if section == "uncertainty" and key == "members" and isinstance(value, int) and value > 3:
            value = 3
        if section == "":
            raw[key] = value
        else:
            raw.setdefault(section, {})[key] = value
    if draw(st.integers(0, 9)) == 0:
        raw["train"] = draw(VALUES)  # a section that is not a table
    return raw


def _write_toml(raw: dict[str, Any], data: Path) -> str:
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for section, table in raw.items():
        if isinstance(table, dict):
            if section == "data":
                table = {"source": str(data), **table}
            lines.append(f"[{section}]")
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()]
    if "data" not in raw or not isinstance(raw["data"], dict):
        lines.append(f"[data]\nsource = {json.dumps(str(data))}")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, **SETTINGS)
@given(raw=configs(), broken=st.integers(0, 14))
def test_fit_with_generated_configs(earlier_run, raw, broken):
    with case_folder(earlier_run) as root:
        _good_frame(40, seed=1).to_csv(root / "data.csv", index=False)
        text = _write_toml(raw, root / "data.csv")
        if broken == 0:
            text = text.replace("=", "", 1)  # not TOML at all
        config = root / "c.toml"
        config.write_text(text)
        before = snapshot(root / "runs")
        code, _, err = run_cli("fit", config, "--out", root / "runs", "--quiet")
        name = raw.get("name") if isinstance(raw.get("name"), str) else "keep"
        check_outcome(code, err, root / "runs", name if name and "/" not in name else "keep", before)


# -- cases the battery found, in other modules' code ------------------------------------------------
def _predict_rows(earlier: Path, last_row: str) -> tuple[int, str, Path]:
    root = Path(tempfile.mkdtemp(prefix="hyp-cli-"))
    (root / "new.csv").write_text("a,b\n" + "0.0,0.0\n" * 33 + last_row + "\n")
    code, _, err = run_cli("predict", earlier / "keep", root / "new.csv", "-o", root / "pred.csv")
    return code, err, root


def test_predict_text_cell_skips_the_row_and_says_so(earlier_run):
    code, err, root = _predict_rows(earlier_run, "0.0,abc")
    try:
        assert code == 0 and "Traceback" not in err, err
        assert len(pd.read_csv(root / "pred.csv")) == 33  # the row with text is left out, never blank
        assert "1 input row skipped" in err and "text in column 'b'" in err, err
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_predict_value_beyond_float32_is_refused_or_predicted(earlier_run):
    code, err, root = _predict_rows(earlier_run, "0.0,1e300")
    try:
        if code == 0:
            assert not pd.read_csv(root / "pred.csv")["y_pred"].isna().any(), "blank prediction with exit 0"
        else:
            assert code == 2 and len(err.strip().splitlines()) == 1, err
    finally:
        shutil.rmtree(root, ignore_errors=True)
