"""Errors a user can cause. The CLI prints their message (no traceback) and exits with status 2.

Every message says what was expected, what was received, and how to fix it.
"""

from __future__ import annotations


class DeepSciError(Exception):
    """Base class for every error caused by user input (data, config, arguments)."""


class DataError(DeepSciError):
    """A file, table, column, value or molecule that cannot be used as given."""


class ConfigError(DeepSciError):
    """A config key, type or value that is not valid."""


class ModelError(DeepSciError):
    """An architecture or option that cannot be built."""


class TrainingError(DeepSciError):
    """Training that cannot go on (for example a non-finite loss)."""


class MissingDependencyError(DeepSciError):
    """An optional dependency that is not installed; the message gives the pip line to run."""


def os_error_at(exc: OSError, path: object) -> OSError:
    """`exc`, naming `path` where it names no file (a write on a full disk raises ENOSPC with no file name),
    so that the command line can say which path the user must make room for or move."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror, str(path))


def unknown_name(kind: str, name: str, known: list[str] | tuple[str, ...]) -> str:
    """The message for an unknown registry name: what was asked for, and the names there are."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} '{name}'.{hint} Known {kind}s: {', '.join(sorted(known))}."
