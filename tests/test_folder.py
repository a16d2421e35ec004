"""The run folder on disk: lock, atomic publish under SIGKILL, symlinks, names, and reading tampered folders."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from deepsci import folder
from deepsci.errors import DataError
from deepsci.folder import (RunLock, build_checked, check_out, checkpoint_dir, publish, read_json, read_weights,
                            recover, staging_dir)
from deepsci.models import MLP, model_from_spec

FILES = ("config.toml", "metrics.json", "model.json", "model.safetensors", "history.csv")
SRC = str(Path(__file__).resolve().parents[1] / "src")


def one_line(err: pytest.ExceptionInfo[DataError]) -> str:
    message = str(err.value)
    assert "\n" not in message and message.strip() == message and message
    return message


# -- a run folder made of files that all carry the same generation number ------------------------------------
def write_generation(tmp: Path, gen: int) -> None:
    for f in FILES:
        (tmp / f).write_text(f"generation {gen}\n" * 50)


def complete_generation(path: Path) -> int:
    """The generation of the run at `path`; fails unless every file is there and all agree."""
    assert path.is_dir() and not path.is_symlink(), f"no run folder at {path}"
    gens = {(path / f).read_text() for f in FILES}
    assert len(gens) == 1, f"mixed run folder: {sorted(g[:14] for g in gens)}"
    text = gens.pop()
    assert text == text.splitlines(keepends=True)[0] * 50, "truncated file"
    return int(text.split()[1])


def leftovers(out: Path, name: str) -> list[str]:
    return sorted(e for e in os.listdir(out) if e.startswith(f".{name}."))


# -- check_out ----------------------------------------------------------------------------------------------
def test_check_out_creates_the_folder_and_accepts_a_fresh_name(tmp_path: Path) -> None:
    check_out(tmp_path / "a" / "runs", "solubility")
    assert (tmp_path / "a" / "runs").is_dir()


def test_out_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder") as err:
        check_out(tmp_path / "f", "x")
    one_line(err)
    with pytest.raises(DataError, match="below a file") as err:
        check_out(tmp_path / "f" / "runs", "x")
    one_line(err)


def test_name_too_long_for_the_file_system_is_refused_before_training(tmp_path: Path) -> None:
    check_out(tmp_path, "n" * 200)  # fits: 200 + working suffixes <= 255
    with pytest.raises(DataError, match="run name is 250 bytes long.*at most 2[0-9][0-9] bytes") as err:
        check_out(tmp_path, "n" * 250)
    one_line(err)
    with pytest.raises(DataError, match="not a folder name"):
        check_out(tmp_path, "a/b")


@pytest.mark.parametrize("planted", ["{name}", ".{name}.checkpoint", ".{name}.lock"])
def test_symlinks_planted_inside_out_are_refused(tmp_path: Path, planted: str) -> None:
    out, outside = tmp_path / "runs", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / planted.format(name="x")).symlink_to(outside)
    with pytest.raises(DataError, match="symbolic link") as err:
        check_out(out, "x")
    one_line(err)
    assert list(outside.iterdir()) == []


def test_checkpoint_dir_refuses_a_symlink_and_a_file(tmp_path: Path) -> None:
    assert checkpoint_dir(tmp_path, "x") == tmp_path / ".x.checkpoint"
    (tmp_path / ".x.checkpoint").symlink_to(tmp_path)
    with pytest.raises(DataError, match="symbolic link"):
        checkpoint_dir(tmp_path, "x")
    (tmp_path / ".y.checkpoint").write_text("")
    with pytest.raises(DataError, match="is a file"):
        checkpoint_dir(tmp_path, "y")


def test_run_name_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("notes")
    with pytest.raises(DataError, match="not a run folder"):
        check_out(tmp_path, "x")


# -- the lock -----------------------------------------------------------------------------------------------
LOCKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from deepsci.errors import DataError
    from deepsci.folder import RunLock
    out, name, release = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    try:
        with RunLock(out, name):
            print("locked", flush=True)
            while not release.exists():
                time.sleep(0.01)
    except DataError as exc:
        print("refused", exc, flush=True)
""")


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_two_writers_of_one_name_one_refusal(tmp_path: Path) -> None:
    release = tmp_path / "release"
    procs = [_python(LOCKER, str(tmp_path), "x", str(release)) for _ in range(2)]
    assert procs[0].stdout is not None and procs[1].stdout is not None
    lines = [p.stdout.readline().strip() for p in procs]  # both have tried once both lines are in
    release.touch()
    for p in procs:
        p.wait(timeout=30)
    assert sorted(line.split()[0] for line in lines) == ["locked", "refused"], lines
    holder = procs[[line.split()[0] for line in lines].index("locked")]
    refusal = next(line for line in lines if line.startswith("refused"))
    assert f"run 'x' is being written by another deepsci process (pid {holder.pid}); wait for it" in refusal
    assert not (tmp_path / ".x.lock").exists()  # removed on exit


def test_lock_is_per_name_and_reentrant_after_release(tmp_path: Path) -> None:
    with RunLock(tmp_path, "a"), RunLock(tmp_path, "b"):
        with pytest.raises(DataError, match=r"run 'a' is being written .*\(pid %d\)" % os.getpid()) as err:
            RunLock(tmp_path, "a").__enter__()
        one_line(err)
    with RunLock(tmp_path, "a"):
        pass


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    proc = _python(LOCKER, str(tmp_path), "x", str(tmp_path / "never"))
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    with pytest.raises(DataError, match="being written"):
        RunLock(tmp_path, "x").__enter__()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (tmp_path / ".x.lock").exists()  # a crash leaves the file; the kernel dropped the lock
    with RunLock(tmp_path, "x"):
        pass


def test_a_symlink_at_the_lock_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / ".x.lock").symlink_to(target)
    with pytest.raises(DataError, match="symbolic link"):
        RunLock(tmp_path, "x").__enter__()
    assert not target.exists()


# -- publish ------------------------------------------------------------------------------------------------
def test_publish_creates_then_replaces_and_leaves_nothing_behind(tmp_path: Path) -> None:
    for gen in (1, 2, 3):
        tmp = staging_dir(tmp_path, "x")
        assert tmp.parent == tmp_path and tmp.name.startswith(f".x.stage-{os.getpid()}-")
        write_generation(tmp, gen)
        publish(tmp, tmp_path / "x")
        assert complete_generation(tmp_path / "x") == gen
        assert leftovers(tmp_path, "x") == []


def test_staging_dirs_are_unique(tmp_path: Path) -> None:
    assert staging_dir(tmp_path, "x") != staging_dir(tmp_path, "x")


def test_publish_never_replaces_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "x").symlink_to(outside)
    tmp = staging_dir(tmp_path, "x")
    with pytest.raises(DataError, match="symbolic link"):
        publish(tmp, tmp_path / "x")
    assert (tmp_path / "x").is_symlink() and list(outside.iterdir()) == []


def test_fallback_replace_and_its_recovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(folder, "_exchange", lambda a, b: False)  # as on a file system without RENAME_EXCHANGE
    for gen in (1, 2):
        tmp = staging_dir(tmp_path, "x")
        write_generation(tmp, gen)
        publish(tmp, tmp_path / "x")
    assert complete_generation(tmp_path / "x") == 2 and leftovers(tmp_path, "x") == []
    # what a kill between the two renames leaves: the old run aside, nothing under the name
    os.rename(tmp_path / "x", tmp_path / ".x.old-99999")
    stage = staging_dir(tmp_path, "x")
    write_generation(stage, 3)
    assert recover(tmp_path, "x") == [f"restored {tmp_path / 'x'} from {tmp_path / '.x.old-99999'}",
                                      f"removed {stage}"]
    assert complete_generation(tmp_path / "x") == 2 and leftovers(tmp_path, "x") == []


def test_recover_leaves_other_names_alone(tmp_path: Path) -> None:
    for n in ("x.stage-1-abcdefgh", "xy"):
        tmp = staging_dir(tmp_path, n)
        write_generation(tmp, 1)
        publish(tmp, tmp_path / n)
    keep = staging_dir(tmp_path, "x.stage-1-abcdefgh")
    assert recover(tmp_path, "x") == []
    assert keep.is_dir()


WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from deepsci import folder
    out, name, mode, stop = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    if mode == "fallback":
        folder._exchange = lambda a, b: False
    if stop != "none":
        folder._stage_hook = lambda s: os.kill(os.getpid(), signal.SIGKILL) if s == stop else None
    files = %r
    gen = int(sys.argv[5])
    with folder.RunLock(out, name):
        while True:
            gen += 1
            tmp = folder.staging_dir(out, name)
            for f in files:
                (tmp / f).write_text(f"generation {gen}\\n" * 50)
            folder.publish(tmp, out / name)
            print(gen, flush=True)
""") % (FILES,)


@pytest.mark.parametrize("mode,stop", [
    ("exchange", "synced"), ("exchange", "exchanged"), ("exchange", "removed"),
    ("fallback", "synced"), ("fallback", "moved-old"), ("fallback", "moved-new"), ("fallback", "removed")])
def test_a_kill_at_every_stage_leaves_one_complete_run(tmp_path: Path, mode: str, stop: str) -> None:
    tmp = staging_dir(tmp_path, "x")
    write_generation(tmp, 1)
    publish(tmp, tmp_path / "x")
    proc = _python(WRITER, str(tmp_path), "x", mode, stop, "1")
    assert proc.wait(timeout=60) == -signal.SIGKILL, proc.communicate()[1]
    if mode == "exchange" or stop != "moved-old":
        assert complete_generation(tmp_path / "x") in (1, 2)  # at once, before any recovery
    else:  # the fallback's window: the old run sits aside until the next writer renames it back
        assert not (tmp_path / "x").exists() and (tmp_path / f".x.old-{proc.pid}").is_dir()
    with RunLock(tmp_path, "x"):  # the next writer recovers
        gen = complete_generation(tmp_path / "x")
    assert gen == (1 if stop in ("synced", "moved-old") else 2)
    assert leftovers(tmp_path, "x") == []


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["exchange", "fallback"])
def test_sigkill_at_random_instants_always_leaves_one_complete_run(tmp_path: Path, mode: str) -> None:
    rng = random.Random(0)
    tmp = staging_dir(tmp_path, "x")
    write_generation(tmp, 0)
    publish(tmp, tmp_path / "x")
    gen, kills = 0, 0
    while kills < 25:
        proc = _python(WRITER, str(tmp_path), "x", mode, "none", str(gen * 1000))
        assert proc.stdout is not None
        proc.stdout.readline()  # it is publishing in a loop now
        time.sleep(rng.uniform(0.0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        if mode == "exchange":
            complete_generation(tmp_path / "x")  # never a moment without a complete run
        with RunLock(tmp_path, "x"):
            gen = complete_generation(tmp_path / "x") // 1000 + 1
        assert leftovers(tmp_path, "x") == []


# -- reading: JSON ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content,match", [
    (b"{not json", "is not valid JSON: .* at line 1 column 2"),
    (b"[1, 2]", "holds a JSON array; expected a JSON object"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not valid JSON"),
    (b"", "not valid JSON"),
    (b'{"a": 1}', "lacks the key\\(s\\) 'model'"),
])
def test_read_json_gives_one_line_for_each_kind_of_damage(tmp_path: Path, content: bytes, match: str) -> None:
    (tmp_path / "model.json").write_bytes(content)
    with pytest.raises(DataError, match=match) as err:
        read_json(tmp_path / "model.json", "model spec", require=("model",))
    assert "model.json" in one_line(err)


def test_read_json_bounds_the_size_and_refuses_non_files(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"a": "x" * 1000}))
    with pytest.raises(DataError, match="more than the 100"):
        read_json(tmp_path / "m.json", "metrics", max_bytes=100)
    assert read_json(tmp_path / "m.json", "metrics")["a"] == "x" * 1000
    os.mkfifo(tmp_path / "fifo.json")  # would block a plain open()
    with pytest.raises(DataError, match="not a regular file"):
        read_json(tmp_path / "fifo.json", "metrics")
    with pytest.raises(DataError, match="is missing"):
        read_json(tmp_path / "none.json", "metrics")


# -- reading: weights and rebuilding ------------------------------------------------------------------------
def tiny_run(path: Path, members: int = 1) -> dict[str, object]:
    """A real run's model files: model.json with an MLP spec and its weights in model.safetensors."""
    path.mkdir(parents=True, exist_ok=True)
    mlp = MLP(3, 2, (4,), seed=1)
    if members == 1:
        state = mlp.state_dict()
    else:
        from deepsci.training.ensemble import StackedMLP

        state = StackedMLP([MLP(3, 2, (4,), seed=s) for s in range(members)]).member_state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, path / "model.safetensors")
    meta = {"model": mlp.spec(), "members": members}
    (path / "model.json").write_text(json.dumps(meta))
    return meta


def load(path: Path) -> torch.nn.Module:
    """How a run folder's model is loaded: the spec from model.json, the weights checked against it."""
    meta = read_json(path / "model.json", "model spec", require=("model",))
    spec = meta["model"]
    return build_checked(lambda: model_from_spec(spec), path / "model.safetensors",
                         members=meta.get("members", 1))


def test_a_sound_run_loads_with_its_weights(tmp_path: Path) -> None:
    tiny_run(tmp_path)
    model = load(tmp_path)
    x = torch.randn(5, 3)
    torch.testing.assert_close(model(x), MLP(3, 2, (4,), seed=1)(x), rtol=0, atol=0)
    assert not model.training


def test_a_sound_ensemble_loads(tmp_path: Path) -> None:
    tiny_run(tmp_path, members=3)
    model = load(tmp_path)
    x = torch.randn(5, 3)
    torch.testing.assert_close(model(x)[2], MLP(3, 2, (4,), seed=2)(x), rtol=1e-6, atol=1e-6)


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[:-10])


def _pickle(p: Path) -> None:
    p.write_bytes(pickle.dumps({"layers.0.weight": [1.0]}))


def _torch_save(p: Path) -> None:
    torch.save(MLP(3, 2, (4,)).state_dict(), p)


def _garbage(p: Path) -> None:
    p.write_bytes(random.Random(0).randbytes(500))


def _short(p: Path) -> None:
    p.write_bytes(b"\x01\x00")


def _wrong_shape(p: Path) -> None:
    state = MLP(3, 2, (5,), seed=1).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, p)


def _missing_key(p: Path) -> None:
    state = MLP(3, 2, (4,), seed=1).state_dict()
    save_file({k: v.contiguous() for k, v in state.items() if k != "layers.2.bias"}, p)


def _header_lies(p: Path) -> None:
    data = bytearray(p.read_bytes())
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    header["layers.0.weight"]["data_offsets"][1] += 4000  # points past the end of the file
    text = json.dumps(header).encode()
    p.write_bytes(len(text).to_bytes(8, "little") + text + bytes(data[8 + n:]))


@pytest.mark.parametrize("damage,match", [
    (_truncate, "not a safetensors file|not a valid safetensors"),
    (_pickle, "not a safetensors file: they look like a Python pickle"),
    (_torch_save, "not a safetensors file: they look like a Python pickle or a torch.save archive"),
    (_garbage, "not a safetensors file|not a valid safetensors"),
    (_short, "too short"),
    (_wrong_shape, r"weight 'layers.0.weight' in .* has shape \(5, 3\) but the architecture in .*model.json' "
                   r"expects \(4, 3\)"),
    (_missing_key, "missing 'layers.2.bias'"),
    (_header_lies, "not a valid safetensors"),
])
def test_tampered_weights_give_one_line(tmp_path: Path, damage: object, match: str) -> None:
    tiny_run(tmp_path)
    damage(tmp_path / "model.safetensors")  # type: ignore[operator]
    with pytest.raises(DataError, match=match) as err:
        load(tmp_path)
    assert "model.safetensors" in one_line(err)


@pytest.mark.parametrize("edit,match", [
    (lambda m: m["model"].update(hidden=[1_000_000_000]), "more than 200,000,000 parameters"),
    (lambda m: m["model"].update(hidden=[1] * 100_000), "more than 2,048 weight tensors"),
    (lambda m: m.update(members=1_000_000), "'members' .* is 1000000; a run folder holds 1 to 1000"),
    (lambda m: m.update(members=999), r"has shape \(4, 3\) but .* expects \(999, 4, 3\)"),
    (lambda m: m.update(members="3"), "'members' .* is '3'"),
    (lambda m: m["model"].pop("n_inputs"), "cannot be built \\(ModelError: bad MLP spec: missing key\\(s\\) n_inputs"),
    (lambda m: m["model"].update(kind="nosuchkind"), "cannot be built \\(ModelError: unknown model kind"),
    (lambda m: m["model"].update(hidden="wide"), "cannot be built"),
    (lambda m: m["model"].update(hidden=[-3]), "layer widths must be positive"),
    (lambda m: m.update(model=[1, 2]), "cannot be built"),
    (lambda m: m["model"].update(hidden=[10**30]), "cannot be built|more than"),
])
def test_tampered_spec_gives_one_line(tmp_path: Path, edit: object, match: str) -> None:
    meta = tiny_run(tmp_path)
    edit(meta)  # type: ignore[operator]
    (tmp_path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=match) as err:
        load(tmp_path)
    assert "model.json" in one_line(err)


def test_huge_ensemble_with_consistent_weights_is_refused_by_the_parameter_bound(tmp_path: Path) -> None:
    tiny_run(tmp_path, members=4)
    meta = read_json(tmp_path / "model.json", "model spec")
    with pytest.raises(DataError, match=r"model too large to load from a run folder \(more than 25 parameters "
                                        r"per member of 4\)"):
        build_checked(lambda: model_from_spec(meta["model"]), tmp_path / "model.safetensors", members=4,
                      max_parameters=100)


def test_read_weights_is_bounded_and_refuses_pickles(tmp_path: Path) -> None:
    tiny_run(tmp_path)
    assert set(read_weights(tmp_path / "model.safetensors")) == set(MLP(3, 2, (4,)).state_dict())
    with pytest.raises(DataError, match="more than the 100 deepsci reads"):
        read_weights(tmp_path / "model.safetensors", max_bytes=100)
    _pickle(tmp_path / "model.safetensors")
    with pytest.raises(DataError, match="not a safetensors file"):
        read_weights(tmp_path / "model.safetensors")
