"""read_table's errors teach: encodings, binary files, duplicate names, text in numbers, float32 overflow."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepsci.data.readers import float32_overflow, float32_problems, numeric_problems, read_table
from deepsci.errors import DataError


def refused(path: Path, match: str) -> str:
    with pytest.raises(DataError, match=match) as err:
        read_table(path)
    message = str(err.value)
    assert "\n" not in message and "\r" not in message
    return message


# -- encodings ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-8-sig"])
def test_text_with_a_byte_order_mark_is_read_in_its_encoding(tmp_path: Path, encoding: str) -> None:
    text = "molécule,logS,ΔG\nA,1.5,-2\nB,2.5,3e-3\n"
    data = text.encode(encoding)
    if encoding == "utf-16-le":  # a little-endian file with its mark written by hand, as Excel does
        data = b"\xff\xfe" + data
    (tmp_path / "d.csv").write_bytes(data)
    got = read_table(tmp_path / "d.csv")
    assert list(got.columns) == ["molécule", "logS", "ΔG"]
    assert got["logS"].tolist() == [1.5, 2.5] and got["ΔG"].tolist() == [-2.0, 0.003]


def test_latin1_file_names_the_encoding_the_line_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes("name,logS\nethanol,1.1\nméthanol,1.2\n".encode("latin-1"))
    message = refused(tmp_path / "d.csv", "is not UTF-8 text: byte 0xe9 at line 3")
    assert "Re-save it as UTF-8" in message and "iconv" in message
    assert "delimiter" not in message


def test_utf16_without_a_mark_is_named_as_such(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes("a,b\n1,2\n3,4\n".encode("utf-16-le"))
    refused(tmp_path / "d.csv", "looks like UTF-16 text without a byte-order mark.*Re-save it as UTF-8")


def test_binary_files_are_named_for_what_they_are(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_bytes(random.Random(1).randbytes(2000) + b"\x00")
    refused(tmp_path / "r.csv", "is a binary file .*not CSV text")
    pd.DataFrame({"a": [1.0]}).to_parquet(tmp_path / "p.csv")
    refused(tmp_path / "p.csv", "is not CSV text but a Parquet file: name it .parquet")
    (tmp_path / "x.tsv").write_bytes(b"PK\x03\x04" + bytes(100))
    refused(tmp_path / "x.tsv", "is not TSV text but a zip archive")
    (tmp_path / "g.csv").write_bytes(gzip.compress(b"a,b\n1,2\n"))
    refused(tmp_path / "g.csv", "gzip-compressed: name it .csv.gz")


def test_gzip_csv_reads_and_a_broken_gzip_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "g.csv.gz").write_bytes(gzip.compress(b"a,b\n1,2\n"))
    assert read_table(tmp_path / "g.csv.gz")["b"].tolist() == [2]
    (tmp_path / "bad.csv.gz").write_bytes(b"a,b\n1,2\n")
    refused(tmp_path / "bad.csv.gz", "cannot read .*gzip")


# -- structure ----------------------------------------------------------------------------------------------
def test_duplicate_column_names_are_named(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b,a,c,b\n1,2,3,4,5\n")
    message = refused(tmp_path / "d.csv", "duplicate column names: 'a' \\(columns 1, 3\\), 'b' \\(columns 2, 5\\)")
    assert "unique" in message


def test_a_genuine_dotted_name_is_not_a_duplicate(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,a.1\n1,2\n")
    assert list(read_table(tmp_path / "d.csv").columns) == ["a", "a.1"]


def test_duplicate_feature_names_in_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.ones((2, 2)), feature_names=np.array(["f", "f"]))
    refused(tmp_path / "d.npz", "duplicate column names: 'f'")


@pytest.mark.parametrize("content,match", [
    (b"", "is empty \\(0 bytes\\)"),
    (b"\n\n\n", "is empty \\(no header, no rows\\)"),
    (b"a,b,c\n", "has no rows \\(columns: 'a', 'b', 'c'\\)"),
    (b"a,b\n1,2,3\n4,5,6\n", "more fields than its header \\(2 names\\)"),
    (b"a,b\n1,2\n3,4,5\n", "cannot parse .* as CSV: .*line 3"),
    (b'a,b\n"1,2\n', "cannot parse .* as CSV"),
])
def test_each_malformed_csv_gives_one_line(tmp_path: Path, content: bytes, match: str) -> None:
    (tmp_path / "d.csv").write_bytes(content)
    refused(tmp_path / "d.csv", match)


def test_a_column_name_with_a_newline_keeps_the_message_on_one_line(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text('"x\ny",b\n')
    refused(tmp_path / "d.csv", "no rows \\(columns: 'x\\\\ny', 'b'\\)")


def test_directory_and_npy_in_disguise(tmp_path: Path) -> None:
    (tmp_path / "dir.csv").mkdir()
    refused(tmp_path / "dir.csv", "is a directory")
    np.save(tmp_path / "a.npy", np.ones(3))
    (tmp_path / "a.npy").rename(tmp_path / "a.npz")
    refused(tmp_path / "a.npz", "single .npy array")
    (tmp_path / "b.npz").write_bytes(b"not a zip at all")
    refused(tmp_path / "b.npz", "cannot read .* as .npz")


# -- text in numeric columns --------------------------------------------------------------------------------
def test_numeric_problems_give_the_first_bad_row_and_its_value(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("x,y,z,w\n1,2,a,1\n2,n/a,3,1\n3,4,b,1\n4,1e400,c,1\n5,6,2,1,5\n"
                                    .replace("1,5\n", '"1,5"\n'))
    frame = read_table(tmp_path / "d.csv")
    assert frame["y"].isna().tolist() == [False, True, False, False, False]  # pandas reads n/a as missing
    problems = numeric_problems(frame, ["x", "y", "z", "w"])
    assert problems == [
        "column 'z': row 0 (line 2 of a CSV file) holds 'a', not a number; 2 more rows hold text",
        "column 'w': row 4 (line 6 of a CSV file) holds '1,5', not a number (a decimal comma? write 1.5, not 1,5)",
    ]


def test_numeric_problems_accept_numbers_held_as_text() -> None:
    frame = pd.DataFrame({"a": ["1", "2.5", "-3e4", None], "b": [1, 2, 3, 4], "c": [True, False, True, True]})
    assert numeric_problems(frame, ["a", "b", "c"]) == []
    assert numeric_problems(pd.DataFrame({"s": ["1", " "]}), ["s"]) == [
        "column 's': row 1 (line 3 of a CSV file) holds ' ', not a number"]


# -- float32 overflow ---------------------------------------------------------------------------------------
def test_float32_overflow_marks_exactly_the_values_that_become_inf() -> None:
    top = float(np.finfo(np.float32).max)
    edge = 2.0**128 * (1 - 2.0**-25)  # round-to-nearest: values below it round to float32's max
    values = np.array([[1.0, 1e39, -1e300, np.inf], [np.nan, top, np.nextafter(edge, 0), edge]])
    expected = np.array([[False, True, True, False], [False, False, False, True]])
    np.testing.assert_array_equal(float32_overflow(values), expected)
    assert not float32_overflow(np.array([2**62, -(2**62)], dtype=np.int64)).any()
    np.testing.assert_array_equal(float32_overflow(np.array(["1e39", "x", 1.0], dtype=object)), [True, False, False])
    np.testing.assert_array_equal(float32_overflow(pd.Series([1e39, 0.0])), [True, False])


def test_float32_problems_name_the_column_and_rows() -> None:
    frame = pd.DataFrame({"a": [0.0, 1e300, 2.0, -1e39], "b": [1.0, 2.0, 3.0, 4.0]})
    assert float32_problems(frame, ["a", "b"]) == [
        "column 'a': rows 1, 3 hold values beyond float32's ±3.4e+38 (e.g. 1e+300)"]


def test_an_sdf_of_which_no_record_is_a_molecule_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "g.sdf").write_bytes(random.Random(0).randbytes(3000))
    refused(tmp_path / "g.sdf", "none of the 1 records of .* is a molecule RDKit can read")


def test_a_file_without_header_is_recognised(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("0,1,0,2\n3,4,5,6\n")
    refused(tmp_path / "d.csv", "duplicate column names: '0' \\(columns 1, 3\\)\\. .*lack a header row")
