"""What every container-format reader shares: the optional library that owns the format, imported when
used, and the one-line message for a file that library cannot read (truncated, damaged, another format)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from deepsci.errors import DataError, MissingDependencyError

EXTRA = "pip install 'deepsci[formats]'"


def require(module: str, what: str) -> ModuleType:
    """The module `module` (h5py, astropy.io.fits, openpyxl, ...); MissingDependencyError naming the extra if absent.

    The format libraries are optional heavy dependencies: they are imported only when a file of their
    format is read, so `import deepsci` never needs them.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"reading {what} needs the Python package '{module.split('.')[0]}', which is "
                                     f"not installed: {EXTRA}") from None


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line (whitespace runs become one space), at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def unreadable(path: Path, fmt: str, exc: BaseException) -> DataError:
    """The DataError for a file the format's library refused (truncated, damaged, or not of that format)."""
    why = one_line(str(exc)) or type(exc).__name__
    return DataError(f"cannot read '{path}' as {fmt}: {why}. Check that the file is complete (not truncated) and "
                     f"really is {fmt}; write it again if it was cut short.")


def member_index(member: str | int | None) -> int | None:
    """A member named by position (an int, or a string of digits such as "1"), else None."""
    if isinstance(member, int):
        return member
    if isinstance(member, str) and member.strip().isdigit():
        return int(member)
    return None
