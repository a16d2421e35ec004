"""Checks on .npy / .npz files before numpy allocates anything: declared sizes against the bytes present.

An .npy header declares a shape and a dtype; numpy allocates that much before reading a byte of data, so a
header declaring (10**12,) float64 asks for 8 TB (numpy's ArrayMemoryError after trying), and an .npz
member deflated a thousandfold decompresses to gigabytes from a small file. `check_arrays_file` reads only
the headers (the zip directory and each member's first bytes) and raises a DataError naming the member,
what it declares and what the file holds. numpy's own `np.load(..., allow_pickle=False)` then reads it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from deepsci.errors import DataError

MAX_ARRAY_BYTES = 32 * 2**30  # one array file's data in memory; more is not an input for one machine
MAX_DEFLATE_RATIO = 200       # uncompressed / compressed bytes above which a large member is a compression bomb
BOMB_FLOOR_BYTES = 64 * 2**20  # members below this many uncompressed bytes are never called bombs


def check_arrays_file(path: Path) -> None:
    """Raise DataError if the .npy or .npz at `path` declares more data than it holds, or decompresses to
    more than MAX_ARRAY_BYTES, or deflates by more than MAX_DEFLATE_RATIO to over BOMB_FLOOR_BYTES.

    Files that are neither (not a zip, no .npy magic) are left for numpy to refuse with its own message.
    """
    if zipfile.is_zipfile(path):
        _check_npz(path)
    else:
        with path.open("rb") as handle:
            _check_member(handle, path.stat().st_size, f"'{path}'")


def _check_npz(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(".npy")]
            total = sum(m.file_size for m in members)
            if total > MAX_ARRAY_BYTES:
                raise DataError(f"'{path}' would decompress to {_size(total)}, more than the {_size(MAX_ARRAY_BYTES)} "
                                "one array file may hold in memory. Split it, or stream a Parquet table instead.")
            for member in members:
                what = f"'{path}' member '{member.filename}'"
                ratio = member.file_size / max(member.compress_size, 1)
                if member.file_size > BOMB_FLOOR_BYTES and ratio > MAX_DEFLATE_RATIO:
                    raise DataError(f"{what} would decompress to {_size(member.file_size)} from "
                                    f"{_size(member.compress_size)} ({ratio:.0f}x): a compression bomb or a damaged "
                                    f"file, refused before decompressing. Save real data with np.savez.")
                with archive.open(member) as handle:
                    _check_member(handle, member.file_size, what)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"cannot read '{path}' as .npz: {exc}. Check that the file is complete.") from None


def _check_member(handle: IO[bytes], size: int, what: str) -> None:
    """The .npy at `handle` (`size` bytes in all) declares no more data than follows its header."""
    try:
        version = np.lib.format.read_magic(handle)
    except ValueError:
        return  # not an .npy: numpy says so
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in read_header:
        return  # a format numpy may know and this check does not: numpy reads it
    try:
        shape, _, dtype = read_header[version](handle)  # the header only
    except (ValueError, SyntaxError, OverflowError) as exc:
        raise DataError(f"{what}: the .npy header is damaged ({exc}). Save the array again.") from None
    if dtype.hasobject:
        return  # np.load(allow_pickle=False) refuses it with its own message
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    present = size - handle.tell()
    if declared > present:
        raise DataError(f"{what} declares shape {tuple(shape)} of {dtype} ({_size(declared)}) but holds "
                        f"{_size(present)}: the file is damaged or cut short. Save the array again.")


def _size(n: int) -> str:
    """Bytes in the largest unit that keeps a number >= 1 (e.g. 8.0 TB)."""
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} bytes"
