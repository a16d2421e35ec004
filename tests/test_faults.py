"""Faults of issue 23: results that were silently wrong or destroyed data, misleading messages, tracebacks.

Each case is a command a careful user could run; each must end in one line on stderr and exit 2 (or the
stated warning), with no traceback, and leave the inputs and any earlier run as they were.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepsci.cli import main


def _run(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(code: int, err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _digest(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the hash of its bytes: equal digests mean nothing was touched."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


FORMULAS = ["=1+1", "+cmd", "@SUM(A1)", "-2+3", "\tx", "=HYPERLINK(\"http://x\")"]  # cells a spreadsheet would run


def _table(path: Path, rows: int = 40) -> Path:
    """Integer targets near 141, ids that look like formulas (and one plain negative number), a feature
    named like a formula."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"name": [FORMULAS[i % 6] + f"r{i}" if i % 7 else f"-{i}" for i in range(rows)],
                          "=a": rng.normal(size=rows).round(3), "b": rng.normal(size=rows).round(3)})
    frame["y"] = (100 * frame["=a"] - 50 * frame["b"]).round(0) + 141
    frame.to_csv(path, index=False)
    return path


def _config(folder: Path, body: str, name: str = "f") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\n' + body)
    return path


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny regression run on a 40-row table (2 epochs), fitted once for the module."""
    root = tmp_path_factory.mktemp("faults")
    source = _table(root / "t.csv")
    config = _config(root, f'[data]\nsource = "{source}"\ntarget = "y"\nid_column = "name"\n[model]\nhidden = [4]\n'
                           '[train]\nepochs = 2\n[uncertainty]\nmethod = "none"\n[report]\nhtml = false\n', name="tiny")
    main_args = ["fit", str(config), "--out", str(root / "runs"), "--quiet"]
    try:
        main(main_args)
    except SystemExit as exc:
        assert not exc.code, exc.code
    return root / "runs" / "tiny"


# -- silently wrong, or destroying data -----------------------------------------------------------------------
@pytest.mark.slow
def test_predict_refuses_to_overwrite_its_input_or_write_into_a_run(table_run: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    data = _table(tmp_path / "in.csv")
    before_input, before_run = data.read_bytes(), _digest(table_run)
    code, _, err = _run(["predict", table_run, data, "-o", data], capsys)
    _one_line_error(code, err, str(data), "input")
    code, _, err = _run(["predict", table_run, data, "-o", table_run / "model.json"], capsys)
    _one_line_error(code, err, "run folder")
    code, _, err = _run(["predict", table_run, data, "-o", table_run / "checkpoint" / "p.csv"], capsys)
    _one_line_error(code, err, "run folder")
    assert data.read_bytes() == before_input and _digest(table_run) == before_run


# -- check_estimator: one declared expected failure, every other check passes ----------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["Regressor", "Classifier"])
def test_check_estimator_fails_only_the_declared_check(kind: str) -> None:
    """Tiny estimators (16 units, 30 epochs) keep scikit-learn's whole battery to a few seconds."""
    import warnings

    import deepsci as ds
    from sklearn.utils.estimator_checks import check_estimator

    estimator = getattr(ds, kind)(hidden=(16,), epochs=30)
    expected = ds.estimators.expected_failed_checks(estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(estimator, expected_failed_checks=expected, on_fail=None)
    status = {r["check_name"]: r["status"] for r in results}
    assert {name for name, s in status.items() if s == "xfail"} == set(expected) == {
        "check_sample_weight_equivalence_on_dense_data"}
    assert {name for name, s in status.items() if s not in ("passed", "xfail")} <= {"check_array_api_input"}, status


def test_a_label_seen_only_in_the_test_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(size=30), "y": [0, 1] * 15})
    test = pd.DataFrame({"a": rng.normal(size=6), "y": [0, 1, 7, 0, 1, 0]})
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    config = _config(tmp_path, f'[data]\nsource = "{tmp_path / "train.csv"}"\ntest_source = "{tmp_path / "test.csv"}"\n'
                               'target = "y"\n[model]\nhidden = [4]\n[train]\nepochs = 1\n')
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs"], capsys)
    _one_line_error(code, err, "'7'", "test.csv")
    assert not (tmp_path / "runs" / "f").exists()


# -- the config: its size, its depth, its types ------------------------------------------------------------------
def _data_config(tmp_path: Path, body: str = "", tail: str = "") -> Path:
    source = _table(tmp_path / "t.csv")
    return _config(tmp_path, f'{body}[data]\nsource = "{source}"\ntarget = "y"\nid_column = "name"\n{tail}')


def test_a_config_over_the_size_limit_is_refused_naming_the_limit(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = _data_config(tmp_path, body="# padding\n" + "#" * (1 << 20) + "\n",
                          tail="[train]\nepochs = 1000000000000\n")  # past the cut: once silently ignored
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs"], capsys)
    _one_line_error(code, err, "1 MiB")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("nest", ["table", "array", "inline"])
def test_a_deeply_nested_config_is_one_line_not_a_recursion_error(tmp_path: Path, nest: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    depth = 3000
    body = {"table": "[" + ".".join(["a"] * depth) + "]\nx = 1\n",
            "array": "x = " + "[" * depth + "]" * depth + "\n",
            "inline": "x = " + "{a = " * depth + "1" + "}" * depth + "\n"}[nest]
    config = _config(tmp_path, body)
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs"], capsys)
    _one_line_error(code, err, "levels deep")


@pytest.mark.parametrize("key, value, expected", [("train.lr", '"0.01"', "number"), ("train.epochs", '"3"', "number"),
                                                  ("report.html", '"yes"', "true or false")])
def test_numbers_and_booleans_written_as_text_are_refused(tmp_path: Path, key: str, value: str, expected: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    section, name = key.split(".")
    config = _data_config(tmp_path, tail=f"[{section}]\n{name} = {value}\n")
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs"], capsys)
    _one_line_error(code, err, key, expected)


def test_set_still_parses_its_values_as_toml(tmp_path: Path) -> None:
    from deepsci.config import load_config

    config = load_config(_data_config(tmp_path), ["train.lr=0.01", "train.epochs=3", "report.html=false"])
    assert (config.train.lr, config.train.epochs, config.report.html) == (0.01, 3, False)


@pytest.mark.slow
def test_predictions_csv_holds_the_targets_as_read(table_run: Path) -> None:
    """141 stays 141: the true values are copied from the input, not rebuilt from scaled float32."""
    written = pd.read_csv(table_run / "predictions.csv")
    source = pd.read_csv(table_run.parents[1] / "t.csv")
    assert set(written["y"]) <= set(source["y"]) and (written["y"] == written["y"].round(0)).all()


def _inert(path: Path) -> pd.DataFrame:
    """The CSV at `path`, after checking no cell or column name would run as a spreadsheet formula."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    cells = [*frame.columns, *frame.to_numpy().ravel()]
    live = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not _number(c))]
    assert not live, live[:5]
    return frame


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


@pytest.mark.slow
def test_csv_exports_neutralise_formula_cells(table_run: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """OWASP's CSV-injection rule: a quote before = + - @ tab CR; plain negative numbers stay numbers."""
    written = _inert(table_run / "predictions.csv")
    assert any(i.startswith("'") for i in written["id"])
    assert (pd.read_csv(table_run / "predictions.csv")["y_pred"].dtype.kind == "f")
    code, _, err = _run(["predict", table_run, _table(tmp_path / "in.csv"), "-o", tmp_path / "p.csv"], capsys)
    assert code == 0, err
    predicted = _inert(tmp_path / "p.csv")
    assert {"-7", "'=1+1r6", "'+cmdr1", "'\txr4"} <= set(predicted["id"])
    code, _, err = _run(["explain", table_run, "--methods", "saliency", "--rows", "4"], capsys)
    assert code == 0, err
    assert "'=a" in set(_inert(table_run / "attributions.csv").iloc[:, 0])


# -- sequences: the alphabet and the length ----------------------------------------------------------------------
def _sequences(path: Path, *, protein_share: float, long: int = 0) -> Path:
    """40 DNA sequences of 20-30 bases with a share of protein letters; one `long` sequence if asked."""
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=rng.integers(20, 31))) for _ in range(40)]
    seqs = ["".join("E" if rng.random() < protein_share else c for c in s) for s in seqs]
    if long:
        seqs[0] = "A" * long
    pd.DataFrame({"sequence": seqs, "y": [s.count("G") / len(s) for s in seqs]}).to_csv(path, index=False)
    return path


def test_dna_alphabet_refuses_a_file_of_other_letters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _sequences(tmp_path / "s.csv", protein_share=0.3)
    config = _config(tmp_path, f'[data]\nkind = "sequence"\nsource = "{source}"\ntarget = "y"\nalphabet = "dna"\n')
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs"], capsys)
    _one_line_error(code, err, "'E'", "alphabet", "10%")
    assert not (tmp_path / "runs" / "f").exists()


@pytest.mark.slow
def test_unknown_letters_and_an_outlier_length_are_warned_about(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    source = _sequences(tmp_path / "s.csv", protein_share=0.02, long=100_000)
    config = _config(tmp_path, f'[data]\nkind = "sequence"\nsource = "{source}"\ntarget = "y"\nalphabet = "dna"\n'
                               '[model]\nkind = "rnn"\nhidden = [4]\nembedding = 4\n[train]\nepochs = 1\n'
                               '[uncertainty]\nmethod = "none"\n'
                               '[report]\nhtml = false\n')
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs", "--quiet"], capsys)
    assert code == 0 and "Traceback" not in err, err
    assert "not in alphabet 'dna'" in err and "'E'" in err and "%" in err
    assert "max_length" in err and "100000" in err
    import json

    inputs = json.loads((tmp_path / "runs" / "f" / "metrics.json").read_text())["data"]["inputs"]
    shape = next(iter(inputs.values()))["shape"]
    assert shape[0] <= 4 * 30, shape


# -- tracebacks that are now one line -------------------------------------------------------------------------------
def _huge_npz(path: Path) -> Path:
    """An .npz whose X.npy header declares (10**12,) float64 (8 TB) over 64 bytes of data."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("X.npy", header.getvalue() + bytes(64))
    return path


@pytest.mark.slow
def test_an_npz_declaring_a_huge_shape_is_refused_before_allocating(table_run: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    huge = _huge_npz(tmp_path / "huge.npz")
    config = _config(tmp_path, f'[data]\nsource = "{huge}"\ntarget = "y"\n')
    before = _digest(table_run)
    for args in (["fit", config, "--out", tmp_path / "runs"], ["predict", table_run, huge, "-o", tmp_path / "p.csv"],
                 ["evaluate", table_run, huge]):
        code, _, err = _run(args, capsys)
        _one_line_error(code, err, "huge.npz", "(1000000000000,)", "8.0 TB")
    assert _digest(table_run) == before and not (tmp_path / "p.csv").exists() and not (tmp_path / "runs" / "f").exists()


def test_a_compression_bomb_npz_is_refused_before_decompressing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The floor is lowered to 1 MB so a 4 MB bomb stands for the 2 GB one of the issue."""
    import deepsci.data.npz

    monkeypatch.setattr(deepsci.data.npz, "BOMB_FLOOR_BYTES", 2**20)
    np.savez_compressed(tmp_path / "bomb.npz", X=np.zeros((2**19, 1)), y=np.zeros(2**19))
    config = _config(tmp_path, f'[data]\nsource = "{tmp_path / "bomb.npz"}"\ntarget = "y"\n')
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs"], capsys)
    _one_line_error(code, err, "bomb.npz", "compression bomb")
    assert "pickl" not in err


def test_a_latin1_fasta_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.fasta").write_bytes(">séq1 y=1\nACGT\n>seq2 y=0\nACGA\n".encode("latin-1"))
    config = _config(tmp_path, f'[data]\nkind = "sequence"\nsource = "{tmp_path / "s.fasta"}"\ntarget = "y"\n')
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs"], capsys)
    _one_line_error(code, err, "s.fasta", "UTF-8", "line 1")


def test_a_parquet_file_damaged_in_the_middle_is_one_line_when_streamed(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    table = pa.table({"a": rng.normal(size=400), "b": rng.normal(size=400), "y": rng.normal(size=400)})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=100, compression="none")
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(2).column(0)
    data = bytearray((tmp_path / "t.parquet").read_bytes())
    start = meta.data_page_offset
    data[start:start + 40] = b"\xff" * 40  # the page header of row group 2, column a: the footer stays whole
    (tmp_path / "t.parquet").write_bytes(bytes(data))
    config = _config(tmp_path, f'[data]\nsource = "{tmp_path / "t.parquet"}"\ntarget = "y"\nstream = true\n')
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs"], capsys)
    _one_line_error(code, err, "t.parquet", "row group 2")


def _no_space(*_: object, **__: object) -> None:
    """A write on a full disk: errno 28 and, as os.write and file.write raise it, no file name."""
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.slow
@pytest.mark.parametrize("where", ["checkpoint", "run folder"])
def test_a_full_disk_names_the_path_and_leaves_the_earlier_run_whole(table_run: Path, tmp_path: Path, where: str,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import deepsci.run
    import deepsci.training.checkpoint

    config = tmp_path / "again.toml"
    config.write_text((table_run / "config.toml").read_text())
    before = _digest(table_run)
    if where == "checkpoint":
        monkeypatch.setattr(deepsci.training.checkpoint.os, "fsync", _no_space)
    else:
        monkeypatch.setattr(deepsci.run, "save_file", _no_space)
    code, _, err = _run(["fit", config, "--out", table_run.parent, "--quiet"], capsys)
    line = _one_line_error(code, err, "disk is full")
    assert str(table_run.parent) in line, line
    assert _digest(table_run) == before
    left = {p.name for p in table_run.parent.iterdir()} - {"tiny", ".tiny.checkpoint"}  # --resume reads the latter
    assert not left and not list(table_run.parent.rglob("*.tmp")), left  # no staging folder, no half-written file


@pytest.mark.slow
def test_a_full_disk_at_predict_names_the_output(table_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data, output = _table(tmp_path / "in.csv"), tmp_path / "p.csv"
    monkeypatch.setattr(pd.DataFrame, "to_csv", _no_space)
    code, _, err = _run(["predict", table_run, data, "-o", output], capsys)
    _one_line_error(code, err, str(output), "disk is full")
    assert list(tmp_path.iterdir()) == [tmp_path / "in.csv"]


# -- messages that named the wrong cause -----------------------------------------------------------------------------
def test_an_unreadable_data_file_is_told_as_a_permission_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """chmod 000 does not stop root (the tests may run as root), so the reader's open is denied instead."""
    import deepsci.data.readers

    def denied(path: object, *_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    config = _data_config(tmp_path)
    monkeypatch.setattr(deepsci.data.readers, "open", denied, raising=False)
    code, _, err = _run(["fit", config, "--out", tmp_path / "runs"], capsys)
    line = _one_line_error(code, err, "permission", "t.csv")
    assert "complete" not in line


def test_sqlite_storage_in_a_missing_folder_names_the_folder(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = _data_config(tmp_path, tail="[train]\nepochs = 1\nlr = {low = 0.001, high = 0.01, log = true}\n")
    missing = tmp_path / "no" / "such"
    code, _, err = _run(["sweep", config, "--trials", 1, "--out", tmp_path / "runs",
                         "--storage", f"sqlite:///{missing / 'study.db'}"], capsys)
    line = _one_line_error(code, err, str(missing), "does not exist")
    assert "server" not in line


def test_a_lost_training_process_is_named_in_one_line() -> None:
    """The message of `deepsci fit --nproc 2` when a worker is killed (checked by hand: kill -9 of rank 1 gave
    exit 2 and this one line; a real kill is too slow for the suite). Exit codes as torchrun reports them."""
    from deepsci.training.distributed import lost_processes, peer_lost

    line = lost_processes({0: -15, 1: -9})
    assert "rank 1 (SIGKILL)" in line and "rank 0" not in line and "--resume" in line and "\n" not in line
    assert lost_processes({0: 2, 1: 1}) == ""
    assert peer_lost(RuntimeError("[pair.cc:537] Read error [127.0.0.1]:46775: Connection reset by peer. GLHF"))
    assert not peer_lost(RuntimeError("CUDA out of memory"))


@pytest.mark.slow
def test_explain_on_a_read_only_run_names_the_cause_and_writes_elsewhere_with_out(
        table_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Root may write anywhere, so the run folder is made read-only by denying os.access for it."""
    import os

    allowed = os.access
    before = _digest(table_run)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: (Path(p) != table_run or not mode & os.W_OK)
                        and allowed(p, mode, **kw))
    code, _, err = _run(["explain", table_run, "--methods", "saliency", "--rows", "4"], capsys)
    line = _one_line_error(code, err, str(table_run), "read-only", "--out")
    assert ".partial" not in line
    code, out, err = _run(["explain", table_run, "--methods", "saliency", "--rows", "4", "--out", tmp_path / "x"],
                          capsys)
    assert code == 0, err
    assert (tmp_path / "x" / "attributions.csv").is_file() and (tmp_path / "x" / "explain.html").is_file()
    assert _digest(table_run) == before


@pytest.mark.slow
def test_sigterm_during_fit_shows_the_cursor_again_and_exits_143(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """SIGTERM is sent to this very process a moment into training. Before the fix it killed the process with the
    cursor hidden; a guard handler here turns that case into a plain test failure instead of killing pytest."""
    import os
    import signal
    import threading

    import deepsci.cli

    shown: list[bool] = []
    monkeypatch.setattr(deepsci.cli, "show_cursor", lambda: shown.append(True))
    unhandled: list[int] = []

    def not_handled_by_deepsci(signum: int, frame: object) -> None:
        unhandled.append(signum)
        raise SystemExit(99)  # stops the fit, as the default action would have, without killing pytest

    guard = signal.signal(signal.SIGTERM, not_handled_by_deepsci)
    config = _data_config(tmp_path, tail="[model]\nhidden = [4]\n[train]\nepochs = 100000\n"
                                         "[uncertainty]\nmethod = \"none\"\n")
    done = threading.Event()

    def terminate_once_training() -> None:
        started = tmp_path / "runs" / ".f.checkpoint"
        while not started.exists() and not done.wait(0.05):
            pass
        if not done.wait(0.2):
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_once_training, daemon=True).start()
    try:
        code, _, err = _run(["fit", config, "--out", tmp_path / "runs", "--quiet"], capsys)
    finally:
        done.set()
        signal.signal(signal.SIGTERM, guard)
    signal.signal(signal.SIGTERM, signal.SIG_DFL if guard is None else guard)
    assert not unhandled and code == 143 and shown, (unhandled, code, err)
    assert "Traceback" not in err and not (tmp_path / "runs" / "f").exists()
