"""FASTA files: biological sequences under '>' header lines.

    >seq1 label=1
    ACGTTGCA
    ACGT

The first word of a header is the record's id; a `label=VALUE` word in the header gives its label.
Sequence lines are joined and upper-cased. Pearson & Lipman, PNAS 85, 2444 (1988).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from deepsci.errors import DataError

SUFFIXES = (".fa", ".fasta", ".fna", ".faa", ".ffn", ".fas")


def is_fasta(path: str | Path) -> bool:
    """True when the file name ends in a FASTA suffix (.fa, .fasta, .fna, .faa, .ffn, .fas)."""
    return Path(path).suffix.lower() in SUFFIXES


def read_fasta(path: str | Path) -> pd.DataFrame:
    """Records of a FASTA file as a DataFrame with columns id, sequence and (if any header has one) label.

    Raises DataError for a missing or empty file, sequence lines before the first header, a record
    without sequence, or repeated ids.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"FASTA file '{p}' not found; check the path.")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        where = p.read_bytes()[:exc.start].count(b"\n") + 1
        raise DataError(f"FASTA file '{p}' is not UTF-8 text (line {where}, byte {exc.start}: {exc.reason}). "
                        "Save it as UTF-8, e.g. `iconv -f latin1 -t utf-8`.") from None
    rows: list[dict[str, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            words = line[1:].split()
            if not words:
                raise DataError(f"{p.name} line {n}: a header '>' without an id; write '>id [label=...]'.")
            row = {"id": words[0], "sequence": ""}
            row.update({w.split("=", 1)[0]: w.split("=", 1)[1] for w in words[1:] if "=" in w})
            rows.append(row)
        elif not rows:
            raise DataError(f"{p.name} line {n}: sequence before the first '>' header; is it a FASTA file?")
        else:
            rows[-1]["sequence"] += line.upper()
    if not rows:
        raise DataError(f"FASTA file '{p}' holds no records ('>' header lines).")
    empty = [r["id"] for r in rows if not r["sequence"]]
    if empty:
        raise DataError(f"{p.name}: record(s) {', '.join(empty[:5])} have no sequence lines.")
    frame = pd.DataFrame(rows)
    if frame["id"].duplicated().any():
        dup = frame["id"][frame["id"].duplicated()].iloc[0]
        raise DataError(f"{p.name}: id '{dup}' appears more than once; FASTA ids must be unique.")
    return frame


def write_fasta(path: str | Path, ids: Iterable[str], sequences: Iterable[str],
                labels: Iterable[object] | None = None, width: int = 80) -> Path:
    """Write records as FASTA (`label=VALUE` in the header when labels are given), lines of `width`."""
    p = Path(path)
    labs = list(labels) if labels is not None else None
    out = []
    for i, (name, seq) in enumerate(zip(ids, sequences)):
        out.append(f">{name}" + (f" label={labs[i]}" if labs is not None else ""))
        out += [seq[j:j + width] for j in range(0, len(seq), width)]
    p.write_text("\n".join(out) + "\n")
    return p
