"""Excel workbooks (.xlsx, .xlsm) through pandas with openpyxl: one sheet, chosen by name or index, as a table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from deepsci.data.formats.library import member_index, require, unreadable
from deepsci.errors import DataError

FORMAT = "an Excel workbook (.xlsx)"


def read_table(path: Path, member: str | int | None = None) -> pd.DataFrame:
    """The sheet `member` (its name, or its index from 0), or the first sheet; a header row, then one row per sample.

    Raises DataError (one line): no such sheet (the sheets are listed), or a file openpyxl cannot read.
    """
    require("openpyxl", "Excel workbooks")
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            sheets = [str(s) for s in book.sheet_names]
            sheet = _sheet(path, sheets, member)
            return book.parse(sheet)
    except DataError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, KeyError, XML errors of a damaged workbook
        raise unreadable(path, FORMAT, exc) from None


def _sheet(path: Path, sheets: list[str], member: str | int | None) -> str:
    index = member_index(member)
    if member is None:
        return sheets[0]
    if str(member) in sheets:
        return str(member)
    if index is not None and 0 <= index < len(sheets):
        return sheets[index]
    raise DataError(f"'{path}' has no sheet {member!r}; its sheets are: {', '.join(map(repr, sheets))}. "
                    "Set data.x to a sheet name or index (0 is the first).")
