"""Fingerprints of the data files a run reads, so a resumed or re-evaluated run knows whether its data changed.

A fingerprint is, per data file named in the `[data]` section (`source`, `test_source`, `labels`, and the
same keys of each `inputs.<name>`): its path, size in bytes, modification time (seconds since 1970) and
the SHA-256 of its bytes. A folder (images) is fingerprinted over its files in name order. Bundled
datasets and DataFrames name no file and get none. The fingerprint is metrics.json's `data.fingerprint`
and is stored in every checkpoint; `deepsci fit --resume` refuses to go on when a file's size or bytes
differ (a changed modification time alone, e.g. after a copy, is not a change of the data).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

from deepsci.errors import DataError

#: The `[data]` keys that may name a data file or folder.
FILE_KEYS = ("source", "test_source", "labels")
_CHUNK = 1 << 20  # bytes hashed at a time


def _get(section: Any, key: str) -> Any:
    return section.get(key) if isinstance(section, dict) else getattr(section, key, None)


def _file_paths(section: Any, prefix: str = "") -> Iterator[tuple[str, Path]]:
    """(dotted key, path) of every existing file or folder the section (a spec or a dict) names, its inputs'
    too."""
    for key in FILE_KEYS:
        value = _get(section, key)
        if isinstance(value, (str, Path)) and str(value) and Path(value).expanduser().exists():
            yield f"{prefix}{key}", Path(value).expanduser()
    for name, sub in (_get(section, "inputs") or {}).items():
        yield from _file_paths(sub, f"{prefix}inputs.{name}.")


def _hash_into(digest: Any, path: Path) -> int:
    """Feed a file's bytes to `digest`; returns its size in bytes."""
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size


def file_fingerprint(path: str | Path) -> dict[str, Any]:
    """{"path", "size" (bytes), "mtime" (s since 1970, the latest of a folder's files), "sha256"} of a file
    or of a folder's files (names and bytes, in name order)."""
    p = Path(path)
    digest = hashlib.sha256()
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file())
        size = 0
        for f in files:
            digest.update(str(f.relative_to(p)).encode() + b"\0")
            size += _hash_into(digest, f)
        mtime = max((f.stat().st_mtime for f in files), default=p.stat().st_mtime)
    else:
        size, mtime = _hash_into(digest, p), p.stat().st_mtime
    return {"path": str(p), "size": size, "mtime": round(mtime, 6), "sha256": digest.hexdigest()}


def data_fingerprint(section: Any) -> dict[str, dict[str, Any]]:
    """{dotted key: file_fingerprint} of the files a data section (a spec or its dict) reads; {} when none."""
    return {key: file_fingerprint(path) for key, path in _file_paths(section)}


def changed_files(saved: dict[str, dict[str, Any]], section: Any) -> list[str]:
    """'path (data.key)' of each file in `saved` whose size or bytes differ now, or that is gone or renamed."""
    now = data_fingerprint(section)
    changed = []
    for key, before in saved.items():
        after = now.get(key)
        if after is None or after["path"] != before["path"] or (after["size"], after["sha256"]) != (
                before["size"], before["sha256"]):
            changed.append(f"'{before['path']}' (data.{key})")
    return changed


def refuse_changed_data(saved: dict[str, dict[str, Any]] | None, section: Any) -> None:
    """Raise DataError naming the data files that changed since `saved` was taken (a checkpoint's)."""
    changed = changed_files(saved or {}, section)
    if changed:
        raise DataError(f"--resume: the data changed since the checkpoint: {', '.join(changed)} differ(s) in size or "
                        "bytes; resuming would train the later epochs on other data. Restore the file, or fit afresh "
                        "without --resume.")


def matching_role(fingerprint: dict[str, dict[str, Any]], path: str | Path) -> str | None:
    """The key ("test_source", "source", ...) of the run's data file whose bytes equal those of `path`, or None."""
    p = Path(path)
    if not p.is_file() or not fingerprint:
        return None
    now = file_fingerprint(p)
    return next((key for key, f in fingerprint.items() if (f.get("size"), f.get("sha256")) == (now["size"],
                                                                                                now["sha256"])), None)


#: What evaluating on one of the run's own data files means, by the file's `[data]` key.
_OWN_FILE = {"test_source": "the run's own test file (data.test_source): these metrics repeat the run's test metrics "
                            "in metrics.json, they are no new check",
             "source": "the run's own data file (data.source): it holds the rows the model was trained on, so these "
                       "metrics are optimistic"}


def own_file_note(fingerprint: dict[str, dict[str, Any]] | None, path: str | Path) -> str | None:
    """One line saying that `path` has the bytes of one of the run's data files (metrics.json data.fingerprint),
    and what that means for metrics computed on it; None when it is another file."""
    key = matching_role(fingerprint or {}, path)
    if key is None:
        return None
    what = _OWN_FILE.get(key.rsplit(".", 1)[-1], f"the run's own data file (data.{key})")
    return f"'{path}' is {what}."
