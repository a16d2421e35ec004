"""Where a command writes: checked before any work, so a bad `-o` costs no work (`--out` and the run name
are checked by the run folder's owner, deepsci.folder.check_out).

Each check raises a ConfigError whose one line names the path, what is wrong and the fix. The checks
cover what a user can get wrong (a file where a folder is needed and the reverse, a folder without
write permission, a name longer than the file system allows); a write can still fail later (a full
disk), and the command line reports that OSError as one line too (deepsci.cli.failure).
"""

from __future__ import annotations

import os
from pathlib import Path

from deepsci.errors import ConfigError


def check_output_file(path: Path, option: str = "-o") -> None:
    """`path` can be written as a file (its folder is created if missing), or a ConfigError says why not."""
    if path.is_dir():
        raise ConfigError(f"{option} '{path}' is a folder; give a file name, e.g. {option} {path / 'predictions.csv'}.")
    if len(path.name.encode()) > _name_max(path.parent):
        raise ConfigError(f"{option} '{path}': the file name is {len(path.name.encode())} bytes long, more than the "
                          f"{_name_max(path.parent)} this file system allows. Give a shorter name.")
    _check_folder(path.parent, f"the folder of {option}")


def check_output_folder(folder: Path, option: str) -> None:
    """`folder` is a writable folder or can be created as one, or a ConfigError says why not."""
    _check_folder(folder, option)


def _check_folder(folder: Path, what: str) -> None:
    """`folder` is a writable folder, or can be created as one."""
    existing = folder
    while not existing.exists():
        if existing.is_symlink():  # a dangling link: creating folders through it fails
            raise ConfigError(f"{what} '{folder}': '{existing}' is a link to nothing. Remove it or choose another path.")
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        shown = f"'{folder}' is a file" if existing == folder else f"'{existing}' (in the path '{folder}') is a file"
        raise ConfigError(f"{what}: {shown}, not a folder. Give the path of a folder, or move the file.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} '{folder}': no permission to write in '{existing}'. Choose a folder you can "
                          "write to.")


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) the file system holding `folder` allows; 255 where unknown."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        return int(os.pathconf(existing, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


RUN_MARKERS = ("model.json", "config.toml")  # the files that make a folder a run folder (deepsci.run)


def check_predictions_output(output: Path, run: Path, inputs: tuple[Path, ...]) -> None:
    """`-o` of `deepsci predict` neither overwrites an input nor writes into a run folder, or a ConfigError.

    Writing over the input table would lose the data the predictions came from; writing into a run folder
    (over model.json, or beside it) would damage the run that `deepsci predict` and `Run.load` read.
    """
    target = output.resolve()
    for given in inputs:
        if given.resolve() == target or (given.exists() and target.exists() and os.path.samefile(given, target)):
            raise ConfigError(f"-o '{output}' is the input file '{given}'; writing there would overwrite the data. "
                              "Give another file name, e.g. -o predictions.csv.")
    for folder in (run.resolve(), *target.parents):
        if target.is_relative_to(folder) and all((folder / marker).is_file() for marker in RUN_MARKERS):
            raise ConfigError(f"-o '{output}' lies inside the run folder '{folder}'; writing there would damage the "
                              "run. Give a path outside it, e.g. -o predictions.csv.")
