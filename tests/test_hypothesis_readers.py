"""Property-based battery for read_table: any CSV/TSV file gives a table or one DataError line, nothing else.

Generated files vary in shape (down to 0 rows and 0 columns), encoding (UTF-8 with and without a mark,
UTF-16/32 with a mark, UTF-16 without one, Latin-1), cells (numbers, NaN, ±inf, 1e300, text, empty,
quotes, newlines, delimiters inside cells), column names (duplicates, unicode, '$', quotes, newlines,
empty) and how they are written (pandas' quoting, naive joining that breaks quoting, raw bytes).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepsci.data.readers import read_table
from deepsci.errors import DataError

ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1")

odd_names = st.sampled_from(["a", "a", "b", "$x$", "ΔG (kJ/mol)", 'say "hi"', "two\nlines", "", " ", "a.1",
                             "Unnamed: 0", "NaN", "1", "tab\there", "comma,name", "é", "日本"])
names = st.one_of(odd_names, st.text(min_size=0, max_size=6))
cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["", "NaN", "nan", "inf", "-inf", "1e300", "1e39", "-1e400", "n/a", "NA", "abc", "1,5",
                     '"quoted"', 'half"quote', "line\nbreak", "\t", "é", "∞", "$5"]),
    st.text(max_size=5),
)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """(file bytes, suffix) for one generated table."""
    suffix = draw(st.sampled_from([".csv", ".tsv"]))
    sep = "," if suffix == ".csv" else "\t"
    n_cols = draw(st.integers(0, 5))
    n_rows = draw(st.integers(0, 6))
    header = [draw(names) for _ in range(n_cols)]
    rows = [[draw(cells) for _ in range(n_cols)] for _ in range(n_rows)]
    how = draw(st.sampled_from(["pandas", "naive", "raw"]))
    if how == "raw":
        return draw(st.binary(max_size=200)), suffix
    if how == "pandas" and n_cols:
        text = pd.DataFrame(rows, columns=range(n_cols)).rename(columns=dict(enumerate(header))).to_csv(
            sep=sep, index=False)
    else:
        text = "\n".join(sep.join(r) for r in [header, *rows]) + draw(st.sampled_from(["", "\n", "\r\n"]))
    encoding = draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    if encoding == "utf-16-le" and draw(st.booleans()):
        data = b"\xff\xfe" + data  # a mark written by hand, as Excel's 'Unicode text' does
    return data, suffix


def check_one_file(data: bytes, suffix: str) -> pd.DataFrame | None:
    """read_table's contract on these bytes: a well-formed table, or a one-line DataError; never anything else."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{suffix}"
        path.write_bytes(data)
        try:
            frame = read_table(path)
        except DataError as exc:
            message = str(exc)
            assert message and "\n" not in message and "\r" not in message, repr(message)
            return None
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) > 0 and frame.columns.is_unique
    assert frame.index.equals(pd.RangeIndex(len(frame)))
    return frame


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_files())
def test_read_table_gives_a_table_or_one_line(file: tuple[bytes, str]) -> None:
    check_one_file(*file)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_rows=st.integers(1, 8), n_cols=st.integers(1, 4),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]),
       values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=32, max_size=32))
def test_well_formed_numeric_tables_round_trip_in_every_accepted_encoding(
        n_rows: int, n_cols: int, encoding: str, values: list[float]) -> None:
    columns = [f"c{j}ΔΣ" for j in range(n_cols)]
    expected = pd.DataFrame(np.array(values[:n_rows * n_cols]).reshape(n_rows, n_cols), columns=columns)
    frame = check_one_file(expected.to_csv(index=False).encode(encoding), ".csv")
    assert frame is not None and list(frame.columns) == columns
    got = frame.to_numpy(np.float64)
    assert all(math.isclose(a, b, rel_tol=1e-15, abs_tol=0.0) for a, b in zip(got.ravel(), expected.to_numpy().ravel()))
