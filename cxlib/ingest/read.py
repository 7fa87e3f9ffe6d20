"""Reading one raw file (CSV incl. gzip, Parquet, Excel) as text, with a record count that
proves no reader dropped a row, and errors that name the file, the line and the likely fix."""
from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from cxlib.core.config import Source
from cxlib.core.paths import check_source_path, is_remote, resolve_source_path
from cxlib.ingest.contract import IngestError, ROW, SOURCE
from cxlib.ingest.scan import check_unique_header, scan_csv_records


CHUNK_ROWS = 1_000_000
"""Rows of a large CSV file read, mapped, coerced and validated at a time, so that a file's text
is never held whole (the results are the same as reading it at once)."""


def read_source(source: Source, base_dir: str | Path = ".", external: list[str] | tuple = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one raw file as text columns.

    Returns ``(frame, malformed)``: ``frame`` has the file's columns (as read) plus
    ``_source`` and ``_row``; ``malformed`` lists lines that could not be split into
    columns (CSV only), with their line number and text. Only a regular file inside the
    client's folder or an ``external`` folder the config lists is read
    (:func:`~cxlib.core.paths.check_source_path`).
    """
    return next(read_source_chunks(source, base_dir, external, chunk_rows=None))


def read_source_chunks(source: Source, base_dir: str | Path = ".", external: list[str] | tuple = (), *,
                       chunk_rows: int | None | str = "auto") -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """:func:`read_source` in parts of at most ``chunk_rows`` rows (``"auto"``:
    :data:`CHUNK_ROWS`; None: the whole file), in the file's order. Only a CSV file of more
    records than that is split; the malformed lines come with the first part."""
    if chunk_rows == "auto":
        chunk_rows = CHUNK_ROWS
    if source.format == "table" or is_remote(source.path):
        raise IngestError(f"tables source {source.path!r}: "
                          + ("a table in the Spark catalogue" if source.format == "table" else "an object-store URI")
                          + " is read by Spark: set engine: spark in client.yml (or make report ENGINE=spark); only "
                          "the events are ingested there")
    path = resolve_source_path(source, base_dir)
    try:
        check_source_path(path, base_dir, external)
    except ValueError as err:
        raise IngestError(f"tables source {source.path!r}: {err}") from None
    if not path.exists():
        raise IngestError(f"{path}: file not found (tables source path {source.path!r})")
    fmt = source.resolved_format()
    if fmt == "csv" and not source.encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32")):
        guess = sniff_utf16(path)
        if guess:
            raise IngestError(f"{path}: the text has a NUL byte between every character: it is {guess} without a "
                              f"byte-order mark. Set encoding: {guess} for this source in client.yml")
    none = pd.DataFrame({ROW: pd.Series([], dtype="int64"), "text": pd.Series([], dtype="str")})
    try:
        if fmt == "csv":
            parts = _read_csv_chunks(path, source, chunk_rows)
        elif fmt == "parquet":
            parts = iter([(pd.read_parquet(path), none)])
        else:
            parts = iter([(_read_excel(path, source), none)])
        for frame, malformed in parts:
            frame.columns = [str(c).strip() for c in frame.columns]
            if fmt == "csv":
                check_delimiter(list(frame.columns), path, source.delimiter or ",")
            frame = frame.reset_index(drop=True)
            frame[SOURCE] = path.name
            if fmt != "csv":    # a CSV's rows carry their physical line from _read_csv
                frame[ROW] = (np.arange(2, len(frame) + 2, dtype="int64") if fmt != "parquet"
                              else np.arange(1, len(frame) + 1))
            malformed[SOURCE] = path.name
            yield frame, malformed
    except IngestError:
        raise
    except UnicodeDecodeError:
        raise IngestError(describe_decode_error(path, source.encoding)) from None
    except pd.errors.EmptyDataError:
        raise IngestError(f"{path}: the file is empty (no header row); re-export it, or remove the source "
                          "from client.yml if the client has no such data") from None
    except Exception as err:  # unreadable: corrupt parquet/excel, permissions, ...
        raise IngestError(f"{path}: cannot read as {fmt}: {type(err).__name__}: {err}") from None


def _csv_options(source: Source) -> dict:
    return dict(sep=source.delimiter or ",", encoding=source.encoding, dtype=str,
                na_values=source.na_values or None, keep_default_na=True, skipinitialspace=False)


def _read_csv_chunks(path: Path, source: Source, chunk_rows: int | None):
    """:func:`_read_csv` in parts of ``chunk_rows`` rows when the file has more records than that
    and none with too many fields (those need pandas' Python engine, which reads the whole file)."""
    if chunk_rows is None:
        yield _read_csv(path, source)
        return
    kwargs = _csv_options(source)
    records = scan_csv_records(path, source.encoding, kwargs["sep"])
    n_cols = len(pd.read_csv(path, nrows=0, **kwargs).columns)
    if len(records) <= chunk_rows or (records["fields"] > n_cols).any():
        yield _read_csv(path, source, records)
        return
    malformed = _malformed(records, n_cols)
    arrow = _open_arrow_csv(path, source, n_cols)
    if arrow is not None:      # reads only the records of the header's width: the short ones are malformed
        kept, parts, number = records[records["fields"] == n_cols], _arrow_parts(arrow, chunk_rows), _line_numbers
    else:
        kept, parts, number = records[records["fields"] <= n_cols], pd.read_csv(path, chunksize=chunk_rows, **kwargs), _number_rows
    done = 0
    with parts as reader:
        for frame in reader:
            part = kept.iloc[done:done + len(frame)]
            done += len(frame)
            if len(part) != len(frame):
                raise IngestError(f"{path}: the file has {len(records):,} data records but more than {len(kept):,} "
                                  "were read; rows would be lost. Check the delimiter, quoting and encoding")
            yield number(frame, part, n_cols), malformed
            malformed = malformed.iloc[:0]
    if done != len(kept):
        raise IngestError(f"{path}: the file has {len(records):,} data records but {done:,} were read; rows "
                          "would be lost. Check the delimiter, quoting and encoding")


def _open_arrow_csv(path: Path, source: Source, n_cols: int):
    """Arrow's CSV reader over ``path`` set to give what pandas' parser gives with ``dtype=str``
    (every column text; pandas' missing-value strings and the source's read as missing; quoted
    fields may hold line breaks), skipping the records whose number of fields is not the
    header's. Arrow parses on every core and fills the text columns directly, where pandas
    makes a Python string of every value first: 2.8 s instead of 8.0 s for 5.8M events.

    None when Arrow would not read the file as pandas does: another encoding than UTF-8, a single
    column (a line of spaces would be a row), or a header Arrow names differently."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from pandas._libs.parsers import STR_NA_VALUES     # pandas' own list of missing-value strings

    if source.encoding.lower().replace("_", "-") not in ("utf-8", "utf-8-sig", "utf8") or n_cols < 2:
        return None
    header = [str(c) for c in pd.read_csv(path, nrows=0, **_csv_options(source)).columns]
    if len(set(header)) != len(header):
        return None
    reader = pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter=source.delimiter or ",", newlines_in_values=True,
                                         invalid_row_handler=lambda row: "skip"),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                             null_values=sorted(set(STR_NA_VALUES) | set(source.na_values)),
                                             strings_can_be_null=True, quoted_strings_can_be_null=True))
    if reader.schema.names != header or any(t != pa.string() for t in reader.schema.types):
        reader.close()
        return None
    return reader


class _arrow_parts:
    """The batches of an Arrow CSV reader as pandas frames of ``rows`` rows (the last may be
    shorter), with text columns of pandas' ``str`` type; a context manager like pandas' reader."""

    def __init__(self, reader, rows: int):
        self.reader, self.rows = reader, rows

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.reader.close()

    def __iter__(self):
        import pyarrow as pa
        text = pd.Series([], dtype=str).dtype
        held, n = [], 0

        def frame(table) -> pd.DataFrame:
            return pd.DataFrame({name: pd.arrays.ArrowStringArray(table.column(name), dtype=text)
                                 for name in table.column_names})
        for batch in self.reader:
            held.append(batch)
            n += batch.num_rows
            while n >= self.rows:
                table = pa.Table.from_batches(held, schema=self.reader.schema)
                yield frame(table.slice(0, self.rows))
                rest = table.slice(self.rows)
                held, n = rest.to_batches(), rest.num_rows
        if n:
            yield frame(pa.Table.from_batches(held, schema=self.reader.schema))


def _line_numbers(frame: pd.DataFrame, kept: pd.DataFrame, n_cols: int) -> pd.DataFrame:
    """``frame`` with each row's physical line (``kept``: the scanned records it holds, in order)."""
    frame[ROW] = kept["line"].to_numpy()
    return frame


def _number_rows(frame: pd.DataFrame, kept: pd.DataFrame, n_cols: int) -> pd.DataFrame:
    """``frame`` with each row's physical line (``kept``: the scanned records pandas read, in
    order), without the short records pandas padded with nulls."""
    frame = frame.reset_index(drop=True)
    frame[ROW] = kept["line"].to_numpy()
    short = (kept["fields"] < n_cols).to_numpy()
    return frame.loc[~short].reset_index(drop=True)


def _read_csv(path: Path, source: Source, records: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The file's rows as text, each with the physical line it starts on (``_row``; a quoted
    field with line breaks does not shift later numbers), and the malformed lines aside: too
    many fields, or too few (a truncated last line, a short row), which pandas would pad with
    nulls and load as a partial record. A second, independent reader (the csv module) finds
    them and checks that no row was lost (``records``: its count, when already taken)."""
    kwargs = _csv_options(source)
    sep = kwargs["sep"]
    try:
        frame = pd.read_csv(path, **kwargs)
    except pd.errors.ParserError:   # some lines have too many fields: re-read, keeping them aside
        csv.field_size_limit(1 << 30)  # the python engine uses the csv module: allow very long comments
        frame = pd.read_csv(path, engine="python", on_bad_lines=lambda fields: None, **kwargs)
    check_delimiter([str(c).strip() for c in frame.columns], path, sep)
    if records is None:
        records = scan_csv_records(path, source.encoding, sep)
    n_cols = len(frame.columns)
    kept = records[records["fields"] <= n_cols]          # what pandas read, in order
    if len(kept) != len(frame):
        raise IngestError(f"{path}: the file has {len(records):,} data records but {len(frame):,} were read; rows "
                          "would be lost. Check the delimiter, quoting and encoding")
    return _number_rows(frame, kept, n_cols), _malformed(records, n_cols)


def _malformed(records: pd.DataFrame, n_cols: int) -> pd.DataFrame:
    """The scanned records whose number of fields is not the header's: line and text."""
    bad = records[records["fields"] != n_cols]
    return pd.DataFrame({ROW: bad["line"].to_numpy(dtype="int64"), "text": bad["text"].tolist()})


def sniff_utf16(path: Path, n: int = 400) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the file's first bytes look like UTF-16 text without a
    byte-order mark (NUL in most odd or most even positions), else None."""
    import gzip
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        head = fh.read(n)
    if len(head) < 8 or head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.8 * len(odd) and even.count(0) < 0.2 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.8 * len(even) and odd.count(0) < 0.2 * len(odd):
        return "utf-16-be"
    return None



INVISIBLE = re.compile("[\u0000\u200b\u200c\u200d\u2060\ufeff\u00ad]")
"""NUL, zero-width spaces and joiners, the word joiner, a stray byte-order mark, the soft hyphen."""


def normalize_text(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Every text cell in Unicode NFC (so 'Café' typed two ways is one touchpoint) with NUL and
    zero-width characters removed (so 'C2' with a zero-width space is 'C2'). Returns the frame
    and the number of cells changed, for the ingest page's notes. Pure-ASCII cells are skipped
    without a look, so this costs little on a large file."""
    out, changed = frame, 0
    names = [INVISIBLE.sub("", unicodedata.normalize("NFC", c)) if isinstance(c, str) else c for c in frame.columns]
    if names != list(frame.columns):
        out = frame.copy()
        out.columns = names
        frame = out
    for j, col in enumerate(frame.columns):
        s = frame.iloc[:, j]
        if s.dtype != object and not pd.api.types.is_string_dtype(s):
            continue
        if _plain_ascii(s):     # the usual case: one C-speed look per column
            continue
        values = s.to_numpy(dtype=object)
        fixes = {}
        for i, v in enumerate(values):
            if isinstance(v, str) and (not v.isascii() or "\x00" in v):
                clean = INVISIBLE.sub("", unicodedata.normalize("NFC", v))
                if clean != v:
                    fixes[i] = clean
        if fixes:
            if out is frame:
                out = frame.copy()
            fixed = values.copy()
            fixed[list(fixes)] = list(fixes.values())
            out.isetitem(j, pd.Series(fixed, index=out.index, dtype=s.dtype))   # iloc fails on one row
            changed += len(fixes)
    return out, changed


def _plain_ascii(s: pd.Series) -> bool:
    """Whether every text value of ``s`` is ASCII without NUL (Arrow compute when the column
    is Arrow-backed text, else one join)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        arr = pa.array(s, from_pandas=True)
    except (pa.ArrowException, TypeError, ValueError):   # mixed types: look at the strings only
        whole = "".join(v for v in s.to_numpy(dtype=object) if isinstance(v, str))
        return whole.isascii() and "\x00" not in whole
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return True
    return bool(pc.all(pc.string_is_ascii(arr)).as_py() is not False
                and not pc.any(pc.match_substring(arr, "\x00")).as_py())


DELIMITERS = (",", ";", "\t", "|")


def check_delimiter(header: list[str], path: Path | str, delimiter: str) -> None:
    """Raise IngestError when a CSV header read with ``delimiter`` is one column that
    another common delimiter would split: the file uses a different separator."""
    if len(header) != 1:
        return
    for other in DELIMITERS:
        if other != delimiter and header[0].count(other) >= 1:
            shown = "\\t" if other == "\t" else other
            raise IngestError(
                f"{path}: the header was read as one column {header[0][:120]!r}; the file looks "
                f"{shown!r}-separated. Set delimiter: {shown!r} for this source in client.yml")


def guess_encoding(data: bytes) -> str | None:
    """The likely encoding of ``data``: a byte-order mark decides; else the first of
    UTF-8 and Windows-1252 that decodes it (latin-1 decodes anything, so it is last)."""
    for bom, name in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
                      (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return name
    for name in ("utf-8", "cp1252", "latin-1"):
        try:
            data.decode(name)
            return name
        except UnicodeDecodeError:
            continue
    return None  # pragma: no cover - latin-1 decodes every byte


def describe_decode_error(path: Path, encoding: str) -> str:
    """Explain why ``path`` does not decode as ``encoding``: the line, its text and a
    suggested encoding."""
    import gzip
    data = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    try:
        data.decode(encoding)
        return f"{path}: cannot decode the file as {encoding!r}; set 'encoding' for this source"
    except UnicodeDecodeError as err:
        line_no = data.count(b"\n", 0, err.start) + 1
        start = data.rfind(b"\n", 0, err.start) + 1
        end = data.find(b"\n", err.start)
        line = data[start:end if end >= 0 else len(data)].decode(encoding, errors="replace")[:200]
        guess = guess_encoding(data)
        hint = f"it looks like {guess!r}: set encoding: {guess} for this source" if guess and guess != encoding \
            else "set 'encoding' for this source, e.g. latin-1"
        return (f"{path}: cannot decode the file as {encoding!r}: byte {data[err.start]:#04x} on line {line_no} "
                f"({line.strip()!r}); {hint}")


def _read_excel(path: Path, source: Source) -> pd.DataFrame:
    # calamine (Rust) reads a sheet about 8x faster than openpyxl and is pandas' coming default;
    # openpyxl stays for the formula and error-cell check below
    with pd.ExcelFile(path, engine="calamine") as book:
        sheets = book.sheet_names
        sheet = source.sheet
        if sheet is None:
            if len(sheets) > 1:
                raise IngestError(f"{path}: the workbook has {len(sheets)} sheets {sheets}; "
                                  "set 'sheet' for this source")
            sheet = 0
        elif isinstance(sheet, str) and sheet not in sheets:
            raise IngestError(f"{path}: no sheet named {sheet!r}; the sheets are {sheets}")
        header = pd.read_excel(book, sheet_name=sheet, header=None, nrows=1, dtype=str).iloc[0].tolist() \
            if book.book is not None else []
        check_unique_header([str(h) for h in header if isinstance(h, str) or h == h], path)
        # '#N/A' is an error cell, not an empty one: read it as text to see it (pandas would make it NaN)
        frame = pd.read_excel(book, sheet_name=sheet, dtype=str, keep_default_na=False,
                              na_values=["", *(source.na_values or [])])
    frame = frame.replace({"": np.nan})
    problems = find_cell_problems(path, sheet, frame)
    for col, row, _ in problems:
        frame.loc[row - 2, col] = np.nan
    frame.attrs["cell_problems"] = problems
    return frame


EXCEL_ERRORS = {"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!",
                "#GETTING_DATA", "#FIELD!", "#BLOCKED!", "#UNKNOWN!", "#CONNECT!", "#BUSY!"}


def _has_formulas_or_errors(path: Path) -> bool:
    """Whether any sheet of an .xlsx holds a formula (<f>) or an error cell (t="e"): a byte
    search of the workbook's XML, so a plain export costs no second parse."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    data = z.read(name)
                    if b"<f>" in data or b"<f " in data or b't="e"' in data:
                        return True
    except zipfile.BadZipFile:
        return True      # let the full reader say what is wrong
    return False


def find_cell_problems(path: Path, sheet, frame: pd.DataFrame) -> list[tuple[str, int, str]]:
    """Cells of a workbook that hold no value a reader can trust: an error ('#N/A', '#REF!')
    or a formula saved without its computed value (the file was written by a program that does
    not calculate). As (column, line, what) with the sheet's line numbers; the reader sets them
    to missing and the ingest page lists them."""
    out = [(col, int(i) + 2, f"error {v}") for col in frame.columns      # errors a reader kept as text
           for i, v in frame[col][frame[col].isin(EXCEL_ERRORS)].items()]
    if path.suffix.lower() in (".xlsx", ".xlsm") and _has_formulas_or_errors(path):
        import openpyxl
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
        try:
            ws = wb[sheet] if isinstance(sheet, str) else wb.worksheets[sheet or 0]
            cols = list(frame.columns)
            for r, row in enumerate(ws.iter_rows(min_row=2, values_only=True)):
                for j, v in enumerate(row[:len(cols)]):
                    if not isinstance(v, str) or r >= len(frame) or not pd.isna(frame.iat[r, j]):
                        continue
                    if v in EXCEL_ERRORS:          # the reader turns error cells into NaN: say so
                        out.append((cols[j], r + 2, f"error {v}"))
                    elif v.startswith("="):
                        out.append((cols[j], r + 2, "a formula without a usable saved value"))
        finally:
            wb.close()
    return out
