"""What a failed command prints: one line for what the user can fix, a traceback for a bug.

A DeepSciError is the user's (bad data, config, arguments). An OSError is the user's when it names a
path the user gave (the `-o` file, the `--out` folder, a run folder, a data file) and its errno is one
a user causes (a folder where a file is needed, no permission, a name too long, a full disk): it is
printed as one line naming the path and the fix. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterable

_FIXES = {
    errno.EISDIR: "it is a folder; give a file path",
    errno.ENOTDIR: "a part of the path is a file, not a folder; give a folder path",
    errno.EACCES: "no permission; choose a path you can write to (or read, for an input)",
    errno.EPERM: "not permitted; choose a path you can write to",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENAMETOOLONG: "a name in the path is too long for the file system; use a shorter name",
    errno.ENOSPC: "the disk is full; free some space or write elsewhere",
    errno.EDQUOT: "the disk quota is used up; free some space or write elsewhere",
    errno.ENOENT: "it does not exist; check the path",
    errno.EEXIST: "it exists already; move it away or choose another path",
    errno.ELOOP: "too many symbolic links; give a plain path",
}


def describe_os_error(exc: OSError, user_paths: Iterable[Path]) -> str | None:
    """One line for an OSError the user caused, or None when it is not theirs (a bug: show it)."""
    if exc.errno not in _FIXES or exc.filename is None:
        return None
    names = [Path(str(f)) for f in (exc.filename, exc.filename2) if f is not None]
    if not any(_related(name, Path(p)) for name in names for p in user_paths):
        return None
    shown = " -> ".join(f"'{n}'" for n in names)
    return f"cannot use {shown}: {exc.strerror or 'error'}; {_FIXES[exc.errno]}."


def _related(name: Path, user: Path) -> bool:
    """`name` is `user`, inside it, or one of the folders on its way (mkdir of a parent failed)."""
    a, b = name.absolute(), user.absolute()
    return a == b or a.is_relative_to(b) or (b.is_relative_to(a) and a != Path(a.anchor))


def show_cursor() -> None:
    """Show the terminal cursor again (a progress bar hides it) on whichever stream is a terminal."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream.isatty():
                stream.write("\x1b[?25h")
                stream.flush()
        except (OSError, ValueError):  # a closed stream: nothing to restore
            pass


TERMINATED = 128 + signal.SIGTERM  # the shell's status for a process ended by SIGTERM


def exit_on_sigterm() -> Any:
    """Turn SIGTERM into SystemExit(143) for this command, so its `finally` blocks run (the cursor a progress bar
    hid is shown again, temporary files are removed); the previous handler, for `restore_sigterm`.

    Python's default for SIGTERM ends the process at once, skipping them; SIGINT already raises
    KeyboardInterrupt. Only the main thread may set a handler: elsewhere nothing changes (None).
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def restore_sigterm(previous: Any) -> None:
    """Put back the SIGTERM handler `exit_on_sigterm` replaced (an embedding program, or pytest, keeps its own)."""
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(TERMINATED)
