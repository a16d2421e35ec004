"""The run folder on disk: one writer per name, a replace that cannot lose a run, reads that trust nothing.

Writing (`deepsci fit`), in this order:

    check_out(out, name)                    # before training: --out usable, name fits the file system
    with RunLock(out, name):                # one writer per name for the whole fit
        ckpt = checkpoint_dir(out, name)    # out/.<name>.checkpoint, never a symlink
        tmp = staging_dir(out, name)        # out/.<name>.stage-<pid>-<random>, unique per process
        ... write every file of the run into tmp ...
        publish(tmp, out / name)            # atomic: a kill at any instant leaves one complete run

Names used beside a run `out/<name>` (all inside `out`, none ever followed if it is a symlink):
    .<name>.lock               the lock file (flock; removed when the writer exits, left by a crash: harmless)
    .<name>.checkpoint/        the training state of an unfinished fit (for --resume)
    .<name>.stage-<pid>-<rnd>/ a run being written, or the previous run being removed after an exchange
    .<name>.old-<pid>/         the previous run, only in the two-rename fallback (see `publish`)

Reading a run folder that may have been damaged or tampered with: `read_json`, `read_weights` and
`build_checked` bound every size before allocating and turn every failure into one `DataError` line
naming the file and the problem. Nothing is unpickled and nothing is executed.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import platform
import re
import shutil
import stat
import struct
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from safetensors import safe_open

from deepsci.errors import DataError, DeepSciError, os_error_at

if TYPE_CHECKING:  # torch is imported only by the functions that rebuild a model, so locking starts fast
    import pandas as pd
    import torch
    from torch import nn

T = TypeVar("T")

MAX_JSON_BYTES = 64 * 2**20          # model.json / metrics.json: a few MB at most in practice
MAX_WEIGHT_BYTES = 4 * 2**30         # model.safetensors: 200M float32 parameters is 0.8 GB
MAX_HEADER_BYTES = 16 * 2**20        # a safetensors JSON header (the library's own cap is 100 MB)
MAX_PARAMETERS = 200_000_000         # parameters + buffers of a model rebuilt from a run folder
MAX_MODULES = 4_096                  # submodules built from one spec (bounds the time to build it)
MAX_TENSORS = 2_048                  # parameters and buffers one build registers: about 1000 dense layers,
                                     # 1-3 ms each on the meta device, so a spec is refused within ~2 s
MAX_MEMBERS = 1_000                  # ensemble members in one run folder

_PID_DIGITS = 7                      # Linux pid_max is at most 4194304
_STAGE_RE = r"\.stage-\d+-[a-z0-9_]+"
_OLD_RE = r"\.old-\d+"


# -- the output folder and the name --------------------------------------------------------------------
def check_out(out: Path, name: str) -> None:
    """Refuse, before any training, an `--out` or a run name that the run folder could not be written with.

    Creates `out` (and its parents) if missing. Checks that `out` is a writable folder; that `name` is a
    single path component; that the longest name deepsci puts beside the run (`.<name>.stage-<pid>-<rnd>`)
    fits the file system's limit (NAME_MAX, 255 bytes on ext4); and that neither `out/<name>` nor
    `out/.<name>.checkpoint` nor `out/.<name>.lock` is a symlink (nothing is ever written outside `out`).

    Raises:
        DataError: one line saying what is wrong and how to fix it.
    """
    out = Path(out)
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise DataError(f"run name {name!r} is not a folder name: use letters, digits, '-', '_' or '.', "
                        "without '/'.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(f"--out '{out}' is a file, not a folder. Give a folder for the run folders "
                        "(it is created if missing), e.g. --out runs.") from None
    except NotADirectoryError:
        raise DataError(f"--out '{out}' lies below a file, not a folder. Give a folder path for the "
                        "run folders, e.g. --out runs.") from None
    except OSError as exc:
        raise DataError(f"cannot create --out '{out}': {exc.strerror or exc}. Choose another folder.") from None
    if not out.is_dir():
        raise DataError(f"--out '{out}' is not a folder. Give a folder for the run folders, e.g. --out runs.")
    if not os.access(out, os.W_OK | os.X_OK):
        raise DataError(f"--out '{out}' is not writable by this user. Choose a folder you can write to.")
    limit = _name_max(out)
    longest = len(os.fsencode(_stage_prefix(name))) + _PID_DIGITS + 1 + 8
    if longest > limit:
        room = limit - (longest - len(os.fsencode(name)))
        raise DataError(f"run name is {len(os.fsencode(name))} bytes long; the file system of '{out}' allows "
                        f"{limit} bytes per name and deepsci adds up to {longest - len(os.fsencode(name))} "
                        f"for its working names, so use at most {room} bytes.")
    target = out / name
    _refuse_link(target, "run folder")
    st = _lstat(target)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise DataError(f"'{target}' exists and is not a run folder (it is a file). Move it away or choose "
                        "another run name.")
    _refuse_link(out / f".{name}.checkpoint", "checkpoint folder")
    _refuse_link(_lock_path(out, name), "lock file")


def checkpoint_dir(out: Path, name: str) -> Path:
    """`out/.<name>.checkpoint`, the training state of an unfinished fit; refused if it is a symlink or a file.

    The folder is not created here (the checkpoint callback creates it); hold the `RunLock` while using it.
    """
    path = Path(out) / f".{name}.checkpoint"
    _refuse_link(path, "checkpoint folder")
    st = _lstat(path)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise DataError(f"'{path}' should be a checkpoint folder but is a file. Remove it and run again.")
    return path


def _name_max(out: Path) -> int:
    try:
        return int(os.pathconf(out, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _stage_prefix(name: str) -> str:
    return f".{name}.stage-"


def _lock_path(out: Path, name: str) -> Path:
    return Path(out) / f".{name}.lock"


def _lstat(path: Path) -> os.stat_result | None:
    """os.lstat (never follows a symlink), None if nothing is there; other OS errors are one line."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise DataError(f"the path '{path}' is too long for the file system. Use a shorter run name "
                            "or --out.") from None
        if exc.errno == errno.ENOTDIR:
            raise DataError(f"'{path.parent}' is not a folder. Give a folder as --out.") from None
        raise DataError(f"cannot inspect '{path}': {exc.strerror or exc}.") from None


def _refuse_link(path: Path, what: str) -> None:
    st = _lstat(path)
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise DataError(f"the {what} '{path}' is a symbolic link; deepsci never follows links inside --out, "
                        "so that nothing is written outside it. Remove the link, or choose another --out.")


# -- one writer per name -------------------------------------------------------------------------------
class RunLock:
    """An exclusive, non-blocking lock on run `name` in `out`, held for a whole fit.

    `fcntl.flock` on `out/.<name>.lock`, opened with O_NOFOLLOW (a symlink there is refused). A second
    process asking for the same name gets a one-line `DataError` naming the holder's pid. The kernel
    drops the lock when the holder's process ends, however it ends (a SIGKILL included), so a crashed
    fit never blocks the next one. On entry, whatever a killed writer left half done is finished or
    undone (`recover`). On exit the lock file is removed.

    Usage::

        with RunLock(out, name):
            ...
    """

    def __init__(self, out: Path, name: str) -> None:
        self.out = Path(out)
        self.name = name
        self.path = _lock_path(self.out, name)
        self._fd: int | None = None

    def __enter__(self) -> "RunLock":
        for _ in range(100):  # retry only while holders come and go between our open and our flock
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                raise DataError(f"run '{self.name}' is being written by another deepsci process "
                                f"(pid {holder}); wait for it or choose another name.") from None
            if _same_file(fd, self.path):  # a holder that just exited may have unlinked what we locked
                break
            os.close(fd)
        else:  # pragma: no cover - only under a storm of competing writers
            raise DataError(f"could not take the lock '{self.path}': it keeps changing. Try again.")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        try:
            recover(self.out, self.name)
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._release()

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                _refuse_link(self.path, "lock file")
            raise DataError(f"cannot create the lock file '{self.path}': {exc.strerror or exc}. "
                            "Check that --out is a writable folder.") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise DataError(f"the lock file '{self.path}' is not a regular file. Remove it and run again.")
        return fd

    def _release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # while still holding the lock: a waiter then finds a fresh file
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int, wait: float = 0.5) -> str:
    """The holder's pid from the lock file. A holder writes it just after taking the lock, so a refusal
    that lands in between polls for it briefly (up to `wait` seconds) before saying "unknown"."""
    deadline = time.monotonic() + wait
    while True:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
        if time.monotonic() >= deadline:
            return "unknown"
        time.sleep(0.01)


def _same_file(fd: int, path: Path) -> bool:
    st = _lstat(path)
    mine = os.fstat(fd)
    return st is not None and (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


# -- staging and the atomic replace ----------------------------------------------------------------------
def staging_dir(out: Path, name: str) -> Path:
    """A new empty folder `out/.<name>.stage-<pid>-<random>` (mode 0700) to write the run into.

    Unique per process and per call (tempfile.mkdtemp), on the same file system as the run, so that
    `publish` can rename it into place. Leftovers of killed writers are removed by `RunLock`.
    """
    try:
        return Path(tempfile.mkdtemp(prefix=f"{_stage_prefix(name)}{os.getpid()}-", dir=out))
    except OSError as exc:
        raise DataError(f"cannot create a working folder in '{out}': {exc.strerror or exc}.") from None


@contextmanager
def staged(path: Path) -> Iterator[Path]:
    """A staging folder beside `path` to write a whole run folder into, published at `path` when the block ends.

    On any failure the staging folder is removed and the earlier run at `path` stays whole; an OSError is
    re-raised naming the path it hit (`os_error_at`).
    """
    tmp = staging_dir(path.parent, path.name)
    try:
        yield tmp
        publish(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        named = os_error_at(exc, path)
        if named is exc:
            raise
        raise named from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_file(path: Path, write: Callable[[Path], Any]) -> None:
    """Write one file through a temporary sibling (`write(temporary_path)`) renamed into place, so a
    reader sees the old file or the new one whole, never a half-written one; the temporary file is
    removed whatever happens."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def publish(tmp: Path, path: Path) -> None:
    """Make the complete run folder `tmp` the run at `path`, so that a kill at any instant leaves one complete run.

    The files of `tmp` are flushed to disk first (fsync). If no run is at `path`, `tmp` is renamed to it
    (one atomic rename). If one is, the two folders are swapped in one atomic step with Linux
    renameat2(RENAME_EXCHANGE) and the previous run, now under the staging name, is removed; a kill
    before the swap leaves the previous run, after it the new one.

    Where RENAME_EXCHANGE is not available (not Linux, or a file system without it) the fallback is two
    renames: `path` -> `.<name>.old-<pid>`, then `tmp` -> `path`. A kill between them leaves no folder at
    `path` for a moment; the next `RunLock` on that name renames the old run back (`recover`).

    Raises:
        DataError: `path` is a symlink or a file (never replaced).
    """
    tmp, path = Path(tmp), Path(path)
    _refuse_link(path, "run folder")
    st = _lstat(path)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise DataError(f"'{path}' exists and is not a run folder (it is a file); it was left as is. "
                        "Move it away or choose another run name.")
    _sync_tree(tmp)
    _stage("synced")
    if st is None:
        os.rename(tmp, path)
        _sync_dir(path.parent)
        _stage("renamed")
        return
    if _exchange(tmp, path):
        _sync_dir(path.parent)
        _stage("exchanged")
        shutil.rmtree(tmp, ignore_errors=True)  # the previous run, now under the staging name
        _stage("removed")
        return
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    os.rename(path, old)
    _stage("moved-old")
    os.rename(tmp, path)
    _sync_dir(path.parent)
    _stage("moved-new")
    shutil.rmtree(old, ignore_errors=True)
    _stage("removed")


def recover(out: Path, name: str) -> list[str]:
    """Finish or undo what a killed writer of run `name` left; call only while holding its `RunLock`.

    - no `out/<name>` but a `.<name>.old-<pid>` (a two-rename replace cut in the middle): the newest
      old run is renamed back to `out/<name>`;
    - every other `.<name>.old-*` and `.<name>.stage-*` folder is removed (with the lock held, none
      belongs to a live writer).

    Returns:
        One line per action taken, e.g. ["restored runs/x from runs/.x.old-123"].
    """
    out = Path(out)
    try:
        entries = os.listdir(out)
    except OSError:
        return []
    prefix = f".{name}"
    olds = [e for e in entries if e.startswith(prefix) and re.fullmatch(_OLD_RE, e[len(prefix):])]
    stages = [e for e in entries if e.startswith(prefix) and re.fullmatch(_STAGE_RE, e[len(prefix):])]
    olds.sort(key=lambda e: _mtime(out / e))
    done = []
    if olds and _lstat(out / name) is None:
        last = olds.pop()
        os.rename(out / last, out / name)
        done.append(f"restored {out / name} from {out / last}")
    for e in olds + stages:
        _remove_tree(out / e)
        done.append(f"removed {out / e}")
    return done


def _mtime(path: Path) -> float:
    st = _lstat(path)
    return st.st_mtime if st is not None else 0.0


def _remove_tree(path: Path) -> None:
    st = _lstat(path)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)  # rmtree never follows symlinks inside the tree
    else:
        path.unlink(missing_ok=True)


_stage_hook: Callable[[str], None] | None = None  # tests set it to stop the process at a named stage


def _stage(name: str) -> None:
    if _stage_hook is not None:
        _stage_hook(name)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_RENAMEAT2_SYSCALL = {"x86_64": 316, "aarch64": 276}


def _exchange(a: Path, b: Path) -> bool:
    """Swap the folders at `a` and `b` atomically (renameat2 RENAME_EXCHANGE). False where unsupported."""
    if platform.system() != "Linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    args = (ctypes.c_int(_AT_FDCWD), os.fsencode(a), ctypes.c_int(_AT_FDCWD), os.fsencode(b),
            ctypes.c_uint(_RENAME_EXCHANGE))
    if hasattr(libc, "renameat2"):
        result = libc.renameat2(*args)
    elif platform.machine() in _RENAMEAT2_SYSCALL:
        result = libc.syscall(ctypes.c_long(_RENAMEAT2_SYSCALL[platform.machine()]), *args)
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, f"renameat2 exchange of '{a}' and '{b}': {os.strerror(code)}")


def _sync_tree(root: Path) -> None:
    """fsync every file and folder under `root` (no symlink followed), so a power cut cannot publish holes."""
    for folder, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(folder, f)
            if stat.S_ISREG(os.lstat(p).st_mode):
                fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        _sync_dir(Path(folder))


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# -- reading, with every size bounded -------------------------------------------------------------------
# -- CSV files a spreadsheet opens -------------------------------------------------------------------
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula (OWASP)
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def spreadsheet_safe(frame: "pd.DataFrame") -> "pd.DataFrame":
    """`frame` with every text cell and column name that a spreadsheet would run as a formula made inert.

    An id, a label or a feature name from the user's data that starts with =, +, -, @, a tab or a carriage
    return is written with a leading single quote, as OWASP recommends for CSV exports ("CSV injection"),
    so opening predictions.csv or attributions.csv in a spreadsheet runs nothing. Numbers, in numeric
    columns or as text (-1.5), are left as they are: they are not formulas.
    """
    def cell(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(value):
            return "'" + value
        return value

    safe = frame.copy()
    safe.columns = [cell(str(name)) for name in frame.columns]
    for j, dtype in enumerate(safe.dtypes):
        if dtype.kind not in "biufcmM":  # text columns (object or string dtype); numbers are never formulas
            safe.isetitem(j, safe.iloc[:, j].map(cell))
    return safe


def read_bytes(path: Path, what: str, *, max_bytes: int) -> bytes:
    """The bytes of regular file `path`, refused in one line if missing, not a file, or over `max_bytes`.

    Opened with O_NONBLOCK (a FIFO planted in a run folder cannot hang the reader) and read up to
    `max_bytes + 1` bytes whatever the file claims (a growing file or a device cannot exhaust memory).
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise DataError(f"{what} '{path}' is missing. Pass a complete run folder, as `deepsci fit` "
                        "wrote it.") from None
    except OSError as exc:
        raise DataError(f"cannot open {what} '{path}': {exc.strerror or exc}.") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{what} '{path}' is not a regular file. Pass a run folder as `deepsci fit` wrote it.")
        if st.st_size > max_bytes:
            raise DataError(f"{what} '{path}' is {st.st_size} bytes, more than the {max_bytes} deepsci reads "
                            "for it; the run folder is damaged or not from deepsci.")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(2**24, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise DataError(f"cannot read {what} '{path}': {exc.strerror or exc}.") from None
    finally:
        os.close(fd)
    if size > max_bytes:
        raise DataError(f"{what} '{path}' is more than {max_bytes} bytes; the run folder is damaged.")
    return b"".join(chunks)


def read_json(path: Path, what: str, *, expect: type[T] = dict,  # type: ignore[assignment]
              max_bytes: int = MAX_JSON_BYTES, require: Sequence[str] = ()) -> T:
    """A JSON file of a run folder, as a value of type `expect`, or one DataError line naming the file.

    Args:
        path: the file, e.g. runs/x/model.json.
        what: how to name it in messages, e.g. "model spec" or "metrics".
        expect: the type of the top-level value (dict for a JSON object, list for an array).
        max_bytes: larger files are refused before they are read.
        require: keys a JSON object must hold.

    Raises:
        DataError: missing, not a regular file, too large, not UTF-8, not JSON (with line and column),
            nested too deeply, of the wrong top-level type, or lacking a required key.
    """
    data = read_bytes(path, what, max_bytes=max_bytes)
    fix = "The run folder is damaged or was edited; write it again with `deepsci fit`."
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} '{path}' is not UTF-8 text (bad byte at offset {exc.start}). {fix}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{what} '{path}' is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}. "
                        f"{fix}") from None
    except RecursionError:
        raise DataError(f"{what} '{path}' is nested too deeply to be a deepsci file. {fix}") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise DataError(f"{what} '{path}' holds a value JSON cannot give: {_line(str(exc))}. {fix}") from None
    if not isinstance(value, expect):
        raise DataError(f"{what} '{path}' holds a JSON {_json_kind(value)}; expected a JSON "
                        f"{_json_kind(expect())}. {fix}")
    if require and isinstance(value, dict):
        missing = [k for k in require if k not in value]
        if missing:
            raise DataError(f"{what} '{path}' lacks the key(s) {', '.join(map(repr, missing))}. {fix}")
    return value


def _json_kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _line(text: str) -> str:
    """`text` on one line (whitespace runs, newlines included, become one space), at most 300 characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= 300 else flat[:297] + "..."


def read_header(path: Path, *, max_bytes: int = MAX_WEIGHT_BYTES) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of a safetensors file, read from its header only (no tensor is loaded).

    Raises:
        DataError: missing, too large, a pickle or zip (torch.save) file, or a damaged safetensors header.
    """
    path = Path(path)
    prefix, size = _peek(path, max_bytes)
    _check_safetensors_prefix(path, prefix, size)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:  # type: ignore[no-untyped-call]
            return {k: tuple(int(d) for d in f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own SafetensorError and a few builtins
        raise DataError(f"weights '{path}' are not a valid safetensors file ({_line(str(exc))}). "
                        f"{_WEIGHTS_FIX}") from None


def read_weights(path: Path, max_bytes: int = MAX_WEIGHT_BYTES) -> "dict[str, torch.Tensor]":
    """Every tensor of a safetensors file, refusing anything else in one DataError line.

    A pickle or a torch.save archive is refused as "not a safetensors file" and never opened as one;
    a truncated or garbled file is refused by safetensors' own header and offset checks.
    """
    read_header(path, max_bytes=max_bytes)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:  # type: ignore[no-untyped-call]
            return {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:
        raise DataError(f"weights '{path}' cannot be read ({_line(str(exc))}). {_WEIGHTS_FIX}") from None


_WEIGHTS_FIX = "The run folder is damaged or not from deepsci; write it again with `deepsci fit`."


def _peek(path: Path, max_bytes: int) -> tuple[bytes, int]:
    """The first 9 bytes of `path` and its size, after checking that it is a regular file within bounds."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"weights '{path}' are missing. Pass a complete run folder, as `deepsci fit` wrote it.") \
            from None
    except OSError as exc:
        raise DataError(f"cannot open weights '{path}': {exc.strerror or exc}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"weights '{path}' are not a regular file. {_WEIGHTS_FIX}")
    if st.st_size > max_bytes:
        raise DataError(f"weights '{path}' are {st.st_size} bytes, more than the {max_bytes} deepsci reads. "
                        f"{_WEIGHTS_FIX}")
    try:
        with open(path, "rb") as f:
            return f.read(9), st.st_size
    except OSError as exc:
        raise DataError(f"cannot read weights '{path}': {exc.strerror or exc}.") from None


def _check_safetensors_prefix(path: Path, prefix: bytes, size: int) -> None:
    """Refuse, with a message that says why, what is evidently not a safetensors file."""
    # A safetensors header (8-byte length, then JSON) starts with "{" at byte 8; its length's low byte may be 0x80
    if (prefix[:1] == b"\x80" and prefix[8:9] != b"{") or prefix[:4] == b"PK\x03\x04":
        raise DataError(f"weights '{path}' are not a safetensors file: they look like a Python pickle or a "
                        "torch.save archive, which deepsci never loads (loading one can run code). "
                        f"{_WEIGHTS_FIX}")
    if len(prefix) < 9:
        raise DataError(f"weights '{path}' are not a safetensors file: {len(prefix)} bytes, too short for a "
                        f"header (the file is truncated). {_WEIGHTS_FIX}")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER_BYTES or n > size - 8:
        raise DataError(f"weights '{path}' are not a safetensors file: its first 8 bytes announce a header of "
                        f"{n} bytes, {'more than the file holds' if n > size - 8 else 'far too many'} "
                        f"(truncated or not safetensors). {_WEIGHTS_FIX}")
    if prefix[8:9] != b"{":
        raise DataError(f"weights '{path}' are not a safetensors file: no JSON header after the first 8 bytes. "
                        f"{_WEIGHTS_FIX}")


# -- rebuilding a model: sizes checked on the meta device before any memory is used -------------------------
class _TooBig(Exception):
    """Raised from the registration hooks to stop building an oversized model early."""


def build_checked(build: "Callable[[], nn.Module]", weights: Path, *, members: int = 1,
                  max_parameters: int = MAX_PARAMETERS, max_modules: int = MAX_MODULES,
                  max_tensors: int = MAX_TENSORS, max_bytes: int = MAX_WEIGHT_BYTES,
                  spec_file: Path | None = None) -> "nn.Module":
    """Build the model `build` describes and load `weights` into it, checking everything first.

    1. `build()` runs on torch.device("meta") (shapes only, no memory), stopped as soon as it registers
       more than `max_modules` submodules, `max_tensors` parameters + buffers, or `max_parameters`
       parameter + buffer elements (so a spec of a billion units or a million layers is refused at once).
    2. Parameters + buffers (times `members`) are held against `max_parameters`.
    3. Every state_dict key and shape is compared with the safetensors header (read without loading a
       tensor): a missing, unexpected or differently-shaped tensor is refused naming the key, the shape
       the spec gives and the shape found.
    4. Only then is the model built for real and the weights loaded (strictly).

    Args:
        build: builds one untrained model (one member), e.g. `lambda: model_from_spec(meta["model"])`.
        weights: the run's model.safetensors.
        members: with K > 1, the weights hold K stacked members (each key with a leading K dimension, as
            `StackedMLP.member_state_dict` writes) and one ensemble module of K built members is returned
            (`deepsci.training.ensemble_any.stack_any`: a StackedMLP of MLPs, else a MemberEnsemble).
        max_parameters: bound on parameters + buffers of the whole model (all members).
        max_modules: bound on the submodules one `build()` may create.
        max_tensors: bound on the parameter and buffer tensors one `build()` may create.
        max_bytes: bound on the weights file size.
        spec_file: the file named in messages about the architecture (default: model.json beside `weights`).

    Returns:
        The model with the weights loaded, in eval mode.

    Raises:
        DataError: one line, naming the file and the problem.
    """
    weights = Path(weights)
    spec_file = Path(spec_file) if spec_file is not None else weights.with_name("model.json")
    if isinstance(members, bool) or not isinstance(members, int) or not 1 <= members <= MAX_MEMBERS:
        raise DataError(f"'members' in '{spec_file}' is {members!r}; a run folder holds 1 to {MAX_MEMBERS} "
                        "ensemble members. The file is damaged or was edited.")
    header = read_header(weights, max_bytes=max_bytes)
    skeleton = _build_bounded(build, spec_file, max_parameters // members, max_modules, max_tensors,
                              f" per member of {members}" if members > 1 else "")
    state = skeleton.state_dict()
    count = members * sum(t.numel() for t in state.values())
    if count > max_parameters:
        raise DataError(f"'{spec_file}' describes a model of {count:,} parameters, more than the "
                        f"{max_parameters:,} deepsci loads from a run folder; the file is damaged or was edited.")
    lead = (members,) if members > 1 else ()
    expected = {k: lead + tuple(t.shape) for k, t in state.items()}
    _compare_shapes(expected, header, weights, spec_file)
    tensors = read_weights(weights, max_bytes=max_bytes)
    try:
        if members == 1:
            model = _call(build, spec_file)
            model.load_state_dict(tensors, strict=True)
        else:
            from deepsci.training.ensemble_any import stack_any  # torch: imported only where a model is rebuilt

            model = stack_any([_call(build, spec_file) for _ in range(members)])
            model.load_member_state_dict(tensors)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"weights '{weights}' cannot be loaded into the model of '{spec_file}': "
                        f"{_line(str(exc))}. {_WEIGHTS_FIX}") from None
    return model.eval()


def _build_bounded(build: "Callable[[], nn.Module]", spec_file: Path, max_parameters: int,
                   max_modules: int, max_tensors: int, per: str = "") -> "nn.Module":
    """`build()` on the meta device, stopped early if it grows past the bounds."""
    import torch  # imported only where a model is rebuilt: locking and checking --out start fast
    from torch import nn
    from torch.nn.modules import module as torch_module

    seen = {"modules": 0, "elements": 0, "tensors": 0}

    def on_module(_parent: nn.Module, _name: str, child: nn.Module | None) -> None:
        seen["modules"] += 1
        if seen["modules"] > max_modules:
            raise _TooBig(f"more than {max_modules:,} layers and blocks")

    def on_tensor(_module: nn.Module, _name: str, tensor: torch.Tensor | None) -> None:
        seen["elements"] += tensor.numel() if tensor is not None else 0
        seen["tensors"] += 1
        if seen["tensors"] > max_tensors:  # layers are built before they are added to their parent
            raise _TooBig(f"more than {max_tensors:,} weight tensors")
        if seen["elements"] > max_parameters:
            raise _TooBig(f"more than {max_parameters:,} parameters{per}")

    handles = [torch_module.register_module_module_registration_hook(on_module),
               torch_module.register_module_parameter_registration_hook(on_tensor),
               torch_module.register_module_buffer_registration_hook(on_tensor)]
    try:
        with torch.device("meta"):
            return _call(build, spec_file)
    except _TooBig as exc:
        raise DataError(f"'{spec_file}' describes a model too large to load from a run folder ({exc}); the "
                        "file is damaged or was edited.") from None
    finally:
        for h in handles:
            h.remove()


def _call(build: "Callable[[], nn.Module]", spec_file: Path) -> "nn.Module":
    """`build()`, with any error a bad spec can cause turned into one line naming the spec file."""
    from torch import nn  # see _build_bounded

    try:
        model = build()
    except _TooBig:
        raise
    except KeyError as exc:
        raise DataError(f"the model spec in '{spec_file}' lacks the key {exc}. The file is damaged or was "
                        "edited; write the run again with `deepsci fit`.") from None
    except (DeepSciError, TypeError, ValueError, AttributeError, IndexError, RuntimeError, OverflowError,
            RecursionError, NotImplementedError) as exc:
        raise DataError(f"the model spec in '{spec_file}' cannot be built ({type(exc).__name__}: "
                        f"{_line(str(exc))}). The file is damaged or was edited; write the run again with "
                        "`deepsci fit`.") from None
    if not isinstance(model, nn.Module):
        raise DataError(f"the model spec in '{spec_file}' does not describe a model.")
    return model


def _compare_shapes(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]], weights: Path,
                    spec_file: Path) -> None:
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    if missing or extra:
        parts = ([f"missing {', '.join(map(repr, missing[:3]))}{' ...' if len(missing) > 3 else ''}"] if missing
                 else []) + ([f"unexpected {', '.join(map(repr, extra[:3]))}{' ...' if len(extra) > 3 else ''}"]
                             if extra else [])
        raise DataError(f"weights '{weights}' do not match the architecture in '{spec_file}': "
                        f"{'; '.join(parts)}. {_WEIGHTS_FIX}")
    for k, shape in expected.items():
        if found[k] != shape:
            raise DataError(f"weight {k!r} in '{weights}' has shape {_shape(found[k])} but the architecture in "
                            f"'{spec_file}' expects {_shape(shape)}. {_WEIGHTS_FIX}")


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"
