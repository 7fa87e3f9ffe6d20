"""CSV files the toolkit writes: safe to open in a spreadsheet, written atomically.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets; a client's raw value such as ``=HYPERLINK(...)`` in
the quarantine file would run when the analyst opens it. Such text cells get a leading ``'``
(the OWASP rule), which the spreadsheet shows as text; the raw value is the cell without
that first character. Numbers stay numbers ("-5" in a text column stays as written).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")


def neutralize_formula(value):
    """``'`` + ``value`` when a spreadsheet would read the text as a formula, else ``value``."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value.strip()):
        return "'" + value
    return value


def neutralize_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :func:`neutralize_formula` applied to every text cell, column name and
    index label."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralize_formula)
    out.columns = [neutralize_formula(c) for c in out.columns]
    if out.index.dtype == object:
        out.index = out.index.map(neutralize_formula)
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = False) -> Path:
    """Write ``frame`` as CSV with formulas neutralised, through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    neutralize_formulas(frame).to_csv(tmp, index=index)
    os.replace(tmp, path)
    return path
