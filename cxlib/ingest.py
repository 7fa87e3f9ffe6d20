"""Ingestion: read, map, coerce, validate. Every input row is loaded or quarantined.

The pipeline per canonical table:

1. :func:`read_source` reads one raw file (CSV incl. gzip, Parquet, Excel) as text.
2. :func:`map_source` renames raw columns to canonical ones, applies value mappings,
   constants and "means missing" values, and melts wide survey exports.
3. :func:`coerce_table` parses dates, timestamps (to UTC), numbers and booleans,
   remembering which raw values failed to parse.
4. :func:`validate_table` assigns each row the first reason it fails, if any, and
   splits the table into loaded rows and quarantined rows.

:func:`ingest_client` runs this for every configured table and returns an
:class:`IngestResult` whose accounting proves ``rows_in == loaded + quarantined``.
Missing, empty or undecodable files, missing required columns, columns that mostly
fail to parse and a reader that returns fewer records than the file holds raise
:class:`IngestError` with the file, the column, example rows and the fix: there is no
report without them.
"""
from __future__ import annotations

import csv
import difflib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .config import ClientConfig, Source
from .privacy import drop_personal_columns, pseudonymize
from .schema import CHANNELS, SURVEY_LEVELS, TABLE_NAMES, canonical_names, columns_of, required_names

log = logging.getLogger(__name__)

ROW = "_row"        # line of the row in its file (header = line 1)
SOURCE = "_source"  # file name the row came from
META = (SOURCE, ROW)

QUARANTINE_COLUMNS = ["table", "source", "row", "reason", "column", "value", "raw"]

# Human-readable explanation of every quarantine reason, shown in the ingest notebook.
REASONS = {
    "malformed_row": "the line could not be split into the file's columns",
    "missing_customer_id": "no customer id",
    "missing_timestamp": "no timestamp",
    "missing_touchpoint": "no touchpoint (activity) name",
    "missing_channel": "no channel",
    "missing_department": "no department",
    "missing_level": "no survey level",
    "missing_metric": "no survey metric",
    "unparsable_timestamp": "the timestamp could not be parsed",
    "unparsable_date": "a date could not be parsed",
    "unparsable_number": "a number could not be parsed",
    "invalid_bool": "a yes/no value could not be read",
    "negative_value": "a value that cannot be negative is negative",
    "unknown_channel": "the channel is not a canonical channel; map it under values.channel",
    "invalid_level": "the survey level is not touchpoint, journey or relationship",
    "unknown_metric": "the survey metric is not a known scale",
    "missing_subject": "a touchpoint or journey rating without its subject",
    "unparsable_score": "the score is not a number",
    "score_out_of_range": "the score is outside its metric's scale",
    "future_timestamp": "the timestamp is after the extract date",
    "duplicate": "an exact duplicate of an earlier row",
    "duplicate_customer_id": "a second, different record for an existing customer id",
    "unknown_customer": "the customer id is not in the customers table (nor a known secondary id)",
    "ambiguous_identity": "a secondary id mapped to more than one customer",
}


class IngestError(ValueError):
    """A source cannot be ingested at all: missing file or column, unreadable file."""


# --------------------------------------------------------------------------- read

def resolve_path(source: Source, base_dir: str | Path) -> Path:
    p = Path(source.path)
    return p if p.is_absolute() else (Path(base_dir) / p)


def read_source(source: Source, base_dir: str | Path = ".") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one raw file as text columns.

    Returns ``(frame, malformed)``: ``frame`` has the file's columns (as read) plus
    ``_source`` and ``_row``; ``malformed`` lists lines that could not be split into
    columns (CSV only), with their line number and text.
    """
    path = resolve_path(source, base_dir)
    if not path.exists():
        raise IngestError(f"{path}: file not found (tables source path {source.path!r})")
    fmt = source.resolved_format()
    malformed = pd.DataFrame({ROW: pd.Series([], dtype="int64"), "text": pd.Series([], dtype="str")})
    try:
        if fmt == "csv":
            frame, malformed = _read_csv(path, source)
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = _read_excel(path, source)
    except IngestError:
        raise
    except UnicodeDecodeError:
        raise IngestError(describe_decode_error(path, source.encoding)) from None
    except pd.errors.EmptyDataError:
        raise IngestError(f"{path}: the file is empty (no header row); re-export it, or remove the source "
                          "from client.yml if the client has no such data") from None
    except Exception as err:  # unreadable: corrupt parquet/excel, permissions, ...
        raise IngestError(f"{path}: cannot read as {fmt}: {type(err).__name__}: {err}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if fmt == "csv":
        check_delimiter(list(frame.columns), path, source.delimiter or ",")
    frame = frame.reset_index(drop=True)
    frame[SOURCE] = path.name
    frame[ROW] = np.arange(2, len(frame) + 2, dtype="int64") if fmt != "parquet" else np.arange(1, len(frame) + 1)
    if fmt == "csv" and len(malformed):
        frame[ROW] = _csv_line_numbers(len(frame), malformed[ROW].to_numpy())
    if fmt == "csv":
        records = count_csv_records(path, source.encoding, source.delimiter or ",")
        if records != len(frame) + len(malformed):
            raise IngestError(f"{path}: the file has {records:,} data records but {len(frame) + len(malformed):,} "
                              "were read; rows would be lost. Check the delimiter, quoting and encoding")
    malformed[SOURCE] = path.name
    return frame, malformed


def _read_csv(path: Path, source: Source) -> tuple[pd.DataFrame, pd.DataFrame]:
    kwargs = dict(sep=source.delimiter or ",", encoding=source.encoding, dtype=str,
                  na_values=source.na_values or None, keep_default_na=True, skipinitialspace=False)
    try:
        return pd.read_csv(path, **kwargs), pd.DataFrame({ROW: [], "text": []})
    except pd.errors.ParserError:
        pass
    # Some lines have the wrong number of fields: re-read, keeping the bad lines aside.
    bad: list[list[str]] = []

    def keep_bad(fields: list[str]):
        bad.append(fields)
        return None

    csv.field_size_limit(1 << 30)  # the python engine uses the csv module: allow very long comments
    frame = pd.read_csv(path, engine="python", on_bad_lines=keep_bad, **kwargs)
    # Find the bad lines' numbers by scanning the file's field counts once.
    n_cols = len(frame.columns)
    lines, texts = [], []
    opener = _open_text(path, source.encoding)
    with opener as fh:
        reader = csv.reader(fh, delimiter=source.delimiter or ",")
        next(reader, None)
        for rec in reader:
            if rec and len(rec) != n_cols:
                lines.append(reader.line_num)
                texts.append((source.delimiter or ",").join(rec)[:500])
    return frame, pd.DataFrame({ROW: np.array(lines, dtype="int64"), "text": texts})


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


def count_csv_records(path: Path, encoding: str, delimiter: str) -> int:
    """Data records in a CSV file (header and blank lines excluded), counted with the csv
    module: an accounting check on the reader that does not trust the reader."""
    csv.field_size_limit(1 << 30)
    with _open_text(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        next(reader, None)
        return sum(1 for rec in reader if any(f.strip() for f in rec))


def _open_text(path: Path, encoding: str):
    import gzip
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def _csv_line_numbers(n_good: int, bad_lines: np.ndarray) -> np.ndarray:
    """Line numbers of the good rows, skipping the numbers of bad lines."""
    total = n_good + len(bad_lines)
    all_lines = np.arange(2, total + 2)
    return all_lines[~np.isin(all_lines, bad_lines)][:n_good]


def _read_excel(path: Path, source: Source) -> pd.DataFrame:
    with pd.ExcelFile(path) as book:
        sheets = book.sheet_names
        sheet = source.sheet
        if sheet is None:
            if len(sheets) > 1:
                raise IngestError(f"{path}: the workbook has {len(sheets)} sheets {sheets}; "
                                  "set 'sheet' for this source")
            sheet = 0
        elif isinstance(sheet, str) and sheet not in sheets:
            raise IngestError(f"{path}: no sheet named {sheet!r}; the sheets are {sheets}")
        return pd.read_excel(book, sheet_name=sheet, dtype=str, na_values=source.na_values or None)


# --------------------------------------------------------------------------- map

def _norm_key(v) -> str:
    return str(v).strip().casefold()


def map_values(series: pd.Series, mapping: dict) -> pd.Series:
    """Recode values by ``mapping``, matching case- and space-insensitively.

    Values absent from the mapping are kept as they are (validation catches the
    ones that are still invalid); keys mapped to ``None`` become missing.
    """
    if not mapping:
        return series
    table = {_norm_key(k): v for k, v in mapping.items()}
    keys = series.astype("string").str.strip().str.casefold()
    hit = keys.isin(list(table))
    out = series.astype(object).copy()
    out[hit] = keys[hit].map(table).astype(object)
    return out


def blank_missing(series: pd.Series, values: list) -> pd.Series:
    """Set values that mean 'missing' (e.g. 0 = not rated) to NA; numbers match numerically."""
    if not values:
        return series
    keys = series.astype("string").str.strip().str.casefold()
    hit = keys.isin([_norm_key(v) for v in values if v is not None]).fillna(False)
    nums = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if nums:
        hit |= pd.to_numeric(keys, errors="coerce").isin(nums).fillna(False)
    out = series.astype(object).copy()
    out[hit.to_numpy(dtype=bool)] = None
    return out


def map_source(raw: pd.DataFrame, source: Source, table: str) -> pd.DataFrame:
    """Map one raw frame onto ``table``'s canonical columns.

    Raises IngestError naming the file, the missing column and the columns found
    when a mapped column or a required canonical column is absent.
    """
    fname = raw[SOURCE].iloc[0] if len(raw) else source.path
    found = [c for c in raw.columns if c not in META]
    canon = canonical_names(table)
    targets: dict[str, str] = {}  # canonical -> raw
    for raw_col, target in source.columns.items():
        if raw_col not in raw.columns:
            near = difflib.get_close_matches(raw_col, found, n=1)
            raise IngestError(f"{fname}: column {raw_col!r} (mapped to {target}) not found"
                              f"{f'; did you mean {near[0]!r}?' if near else '.'} Columns found: {found}. "
                              f"First rows: {example_rows(raw)}")
        for t in (target if isinstance(target, list) else [target]):
            targets[t] = raw_col
    for c in canon:  # a raw column already named canonically maps to itself
        if c not in targets and c in raw.columns:
            targets[c] = c
    out = pd.DataFrame(index=raw.index)
    for c in canon:
        if c in source.constants:
            out[c] = source.constants[c]
        elif c in targets:
            out[c] = raw[targets[c]]
        else:
            out[c] = None
    if table == "customers":
        mapped_raw = set(targets.values())
        for extra in found:
            if extra not in mapped_raw and extra not in out.columns:
                out[extra] = raw[extra]
        for t, raw_col in targets.items():  # attributes renamed in the mapping, e.g. Plan: plan
            if t not in out.columns:
                out[t] = raw[raw_col]
    out[SOURCE] = raw[SOURCE]
    out[ROW] = raw[ROW]
    if source.wide:
        out = _melt_wide(out, raw, source, fname, found)
    provided = set(targets) | set(source.constants) | ({"level", "subject", "metric", "score"} if source.wide else set())
    missing = [c for c in required_names(table) if c not in provided]
    if missing:
        raise IngestError(
            f"{fname}: required {table} column(s) {missing} not found and not mapped; "
            f"columns found: {found}. Map them under 'columns' (raw name: canonical name) "
            f"or set them under 'constants'. First rows: {example_rows(raw)}")
    for col, mapping in source.values.items():
        if col in out.columns:
            out[col] = map_values(out[col], mapping)
    for col, values in source.missing.items():
        if col in out.columns:
            out[col] = blank_missing(out[col], values)
    return out


def example_rows(raw: pd.DataFrame, n: int = 2, rows: np.ndarray | None = None) -> str:
    """A few raw rows as ``line N {column: value, ...}`` for error messages (the
    first ``n``, or the ones at the positions in ``rows``)."""
    if not len(raw):
        return "(the file has a header but no rows)"
    pick = raw.iloc[rows[:n]] if rows is not None else raw.head(n)
    cols = [c for c in raw.columns if c not in META]
    out = []
    for _, r in pick.iterrows():
        values = {c: (None if pd.isna(r[c]) else str(r[c])[:40]) for c in cols[:12]}
        out.append(f"line {r[ROW]} {values}")
    return "; ".join(out)


def _melt_wide(ids: pd.DataFrame, raw: pd.DataFrame, source: Source, fname: str, found: list) -> pd.DataFrame:
    parts = []
    first = True
    for group in source.wide:
        for raw_col, subject in group.subjects().items():
            if raw_col not in raw.columns:
                raise IngestError(f"{fname}: wide rating column {raw_col!r} not found; columns found: {found}")
            part = ids.copy()
            part["level"] = group.level
            part["metric"] = group.metric
            part["subject"] = subject
            score = blank_missing(raw[raw_col], group.missing)
            part["score"] = map_values(score, group.values)
            if not first:  # the respondent's comment is kept once, on their first rating
                part["comment"] = None
            first = False
            parts.append(part)
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- coerce

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


def parse_timestamps(values: pd.Series, tz: str, fmt: str | None = None) -> pd.Series:
    """Parse timestamps to tz-aware UTC.

    Strings with an offset (``Z``, ``+01:00``) are converted from that offset; naive
    ones are local time in ``tz``. A local time that falls in a daylight-saving gap
    is shifted forward; an ambiguous one (the repeated hour) is read as summer time.
    Unparsable values become NaT.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    if pd.api.types.is_datetime64_any_dtype(values):
        return _localize(values, tz)
    text = values.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    has_offset = text.str.contains(_OFFSET, regex=True).fillna(False).to_numpy(dtype=bool, copy=True)
    if has_offset.any():
        aware = pd.to_datetime(text[has_offset], format=fmt or "ISO8601", utc=True, errors="coerce")
        out[has_offset] = aware.astype("datetime64[us, UTC]")
    naive_mask = ~has_offset & text.notna().to_numpy(dtype=bool)
    if naive_mask.any():
        naive = pd.to_datetime(text[naive_mask], format=fmt or "ISO8601", errors="coerce")
        out[naive_mask] = _localize(naive, tz)
    return out


def _localize(naive: pd.Series, tz: str) -> pd.Series:
    local = naive.dt.tz_localize(tz, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward")
    return local.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def parse_dates(values: pd.Series, tz: str, fmt: str | None = None) -> pd.Series:
    """Parse dates to naive midnight datetimes (datetime64) in the client's calendar."""
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = values
    else:
        text = values.astype("string").str.strip()
        ts = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=False)
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert(tz).dt.tz_localize(None)
    return ts.dt.normalize().astype("datetime64[us]")


def parse_numbers(values: pd.Series, decimal: str = ".", thousands: str | None = None,
                  durations: bool = False) -> pd.Series:
    """Parse numbers from text: decimal and thousands separators, currency signs and,
    with ``durations=True``, ``hh:mm:ss`` / ``mm:ss`` as seconds."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype("float64")
    text = values.astype("string").str.strip()
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    rest = text.notna().to_numpy(dtype=bool, copy=True)
    if durations:
        is_dur = text.str.fullmatch(r"\d+:\d{1,2}(?::\d{1,2}(?:\.\d+)?)?").fillna(False).to_numpy(dtype=bool)
        if is_dur.any():
            dur = text[is_dur].where(text[is_dur].str.count(":") == 2, "0:" + text[is_dur])
            out[is_dur] = pd.to_timedelta(dur, errors="coerce").dt.total_seconds()
            rest &= ~is_dur
    if rest.any():
        t = text[rest].str.replace(r"^[€$£]\s*|\s*(?:EUR|USD|GBP|€|\$|£)$", "", regex=True)
        if thousands:
            t = t.str.replace(thousands, "", regex=False)
        if decimal != ".":
            t = t.str.replace(decimal, ".", regex=False)
        out[rest] = pd.to_numeric(t, errors="coerce").astype("float64")
    return out


def parse_bools(values: pd.Series) -> pd.Series:
    """Parse yes/no style values to a nullable boolean; unknown text becomes NA."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    keys = values.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v))
                      else _norm_key(v) if not isinstance(v, bool) else ("true" if v else "false"))
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[keys.isin(_TRUE).to_numpy(dtype=bool)] = True
    out[keys.isin(_FALSE).to_numpy(dtype=bool)] = False
    return out


def _clean_strings(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    text = text.where(text != "", pd.NA)
    # Excel and Parquet deliver integer ids as floats: '1234.0' -> '1234'
    return text.str.replace(r"^(\d+)\.0$", r"\1", regex=True).astype("str")


@dataclass
class Coerced:
    frame: pd.DataFrame
    failed: dict[str, pd.Series] = field(default_factory=dict)  # column -> mask of unparsable non-null raw values
    raw_values: dict[str, pd.Series] = field(default_factory=dict)


def coerce_table(df: pd.DataFrame, table: str, source: Source, tz: str) -> Coerced:
    """Coerce a mapped frame's canonical columns to their types; record parse failures."""
    out = df.copy()
    failed: dict[str, pd.Series] = {}
    raw_values: dict[str, pd.Series] = {}
    tz = source.timezone or tz
    for col in columns_of(table):
        s = out[col.name]
        present = s.notna() & (s.astype("string").str.strip() != "").fillna(False)
        if col.kind == "string":
            out[col.name] = _clean_strings(s)
            continue
        if col.kind == "timestamp":
            parsed = parse_timestamps(s, tz, source.formats.get(col.name))
        elif col.kind == "date":
            parsed = parse_dates(s, tz, source.formats.get(col.name))
        elif col.kind == "float":
            parsed = parse_numbers(s, source.decimal, source.thousands, durations=col.name.endswith("_s"))
        elif col.kind == "bool":
            parsed = parse_bools(s)
        else:  # pragma: no cover - schema kinds are fixed
            raise ValueError(col.kind)
        bad = present & parsed.isna()
        raw_values[col.name] = s  # quarantine messages show what the file said, not the parsed value
        if bad.any():
            failed[col.name] = bad
        out[col.name] = parsed
    return Coerced(out, failed, raw_values)


_PARSE_HINTS = {
    "timestamp": "set formats.{col} for this source (e.g. '%d/%m/%Y %H:%M') or its timezone",
    "date": "set formats.{col} for this source (e.g. '%d/%m/%Y')",
    "float": "check 'decimal' and 'thousands' for this source, or map text answers under values.{col}",
    "bool": "map the values under values.{col} (e.g. {{Yes: true, No: false}})",
}


def check_parse_failures(c: Coerced, table: str, source: Source, max_share: float = 0.5,
                         min_rows: int = 3) -> None:
    """Raise IngestError when most values of a column fail to parse: that is a
    configuration problem (a date format, a decimal comma), not bad rows, and
    quarantining every row would hide it. Isolated failures are quarantined."""
    raw_names = {t: r for r, ts in source.columns.items() for t in (ts if isinstance(ts, list) else [ts])}
    for col, bad in c.failed.items():
        raw = c.raw_values[col]
        present = raw.notna() & (raw.astype("string").str.strip() != "").fillna(False)
        n_bad, n_present = int(bad.sum()), int(present.sum())
        if n_bad < min_rows or n_bad <= max_share * n_present:
            continue
        kind = next(x.kind for x in columns_of(table) if x.name == col)
        hit = c.frame.loc[bad.to_numpy(dtype=bool)].head(3)
        examples = ", ".join(f"line {r} {str(raw.loc[i])[:40]!r}" for i, r in zip(hit.index, hit[ROW]))
        fname = c.frame[SOURCE].iloc[0]
        label = f"{raw_names[col]!r} ({col})" if col in raw_names else repr(col)
        raise IngestError(
            f"{fname}: column {label}: {n_bad:,} of {n_present:,} values could not be read as {kind} "
            f"(e.g. {examples}); {_PARSE_HINTS[kind].format(col=col)}. "
            "A few unreadable values are quarantined row by row; this many means the configuration does not fit the file.")


# --------------------------------------------------------------------------- validate

@dataclass
class Validated:
    loaded: pd.DataFrame
    quarantined: pd.DataFrame  # META + reason, column, value


def _first_reason(checks: list[tuple[str, str | None, pd.Series]], index) -> tuple[pd.Series, pd.Series]:
    reason = pd.Series(None, index=index, dtype=object)
    column = pd.Series(None, index=index, dtype=object)
    for name, col, mask in checks:
        m = mask.fillna(False).to_numpy(dtype=bool) & reason.isna().to_numpy()
        reason[m] = name
        column[m] = col
    return reason, column


def validate_table(c: Coerced, table: str, scales: dict[str, tuple[float, float]],
                   as_of: pd.Timestamp) -> Validated:
    """Split a coerced table into loaded rows and quarantined rows by row-level checks
    (the first failing reason wins). Duplicates and unknown customers are table-level
    checks, made by :func:`check_duplicates_and_references` once all sources are combined."""
    df = c.frame
    checks: list[tuple[str, str | None, pd.Series]] = []
    for col in required_names(table):
        if col in ("score",):
            continue  # a missing score means 'not rated', which is valid
        checks.append((f"missing_{col}", col, df[col].isna() & ~c.failed.get(col, pd.Series(False, index=df.index))))
    for col, mask in c.failed.items():
        kind = next(x.kind for x in columns_of(table) if x.name == col)
        name = {"timestamp": "unparsable_timestamp", "date": "unparsable_date", "bool": "invalid_bool"}.get(kind)
        if col == "score":
            name = "unparsable_score"
        checks.append((name or "unparsable_number", col, mask))
    if table == "customers":
        checks.append(("negative_value", "monthly_revenue", df["monthly_revenue"] < 0))
    if table == "events":
        checks.append(("unknown_channel", "channel", ~df["channel"].isin(CHANNELS) & df["channel"].notna()))
        for col in ("handle_time_s", "cost"):
            checks.append(("negative_value", col, df[col] < 0))
    if table == "surveys":
        checks.append(("invalid_level", "level", ~df["level"].isin(SURVEY_LEVELS) & df["level"].notna()))
        checks.append(("unknown_metric", "metric", ~df["metric"].isin(list(scales)) & df["metric"].notna()))
        checks.append(("missing_subject", "subject", df["level"].isin(["touchpoint", "journey"]) & df["subject"].isna()))
        lo = df["metric"].map({k: v[0] for k, v in scales.items()}).astype("float64")
        hi = df["metric"].map({k: v[1] for k, v in scales.items()}).astype("float64")
        checks.append(("score_out_of_range", "score", (df["score"] < lo) | (df["score"] > hi)))
    if "timestamp" in df.columns:
        checks.append(("future_timestamp", "timestamp", df["timestamp"] > as_of))
    reason, column = _first_reason(checks, df.index)
    ok = reason.isna()
    q = df.loc[~ok, list(META)].copy()
    q["reason"] = reason[~ok]
    q["column"] = column[~ok]
    q["value"] = [_raw_value(c, df, col, i) for i, col in zip(q.index, q["column"])]
    return Validated(df.loc[ok].reset_index(drop=True), q)


def _raw_value(c: Coerced, df: pd.DataFrame, col, i) -> str | None:
    if col is None or (isinstance(col, float) and np.isnan(col)):
        return None
    src = c.raw_values.get(col, df[col])
    v = src.loc[i]
    return None if pd.isna(v) or str(v) == "nan" else str(v)[:200]


# --------------------------------------------------------------------------- run

@dataclass
class IngestResult:
    """Loaded tables, the quarantine and the row accounting of one client."""

    tables: dict[str, pd.DataFrame]
    quarantine: pd.DataFrame
    accounting: pd.DataFrame  # one row per table x source
    absent: list[str]         # tables the client does not have
    identity: dict[str, dict] = field(default_factory=dict)  # per table: direct / stitched / unmatched rows
    notes: list[dict] = field(default_factory=list)  # loaded but noteworthy: table, check, rows, message, examples

    def metrics(self) -> dict:
        """The ``ingest`` section of metrics.json."""
        out = {}
        for table in dict.fromkeys(self.accounting["table"]) if len(self.accounting) else []:
            acc = self.accounting[self.accounting["table"] == table]
            q = self.quarantine[self.quarantine["table"] == table]
            by_reason = {str(k): int(v) for k, v in q["reason"].value_counts().sort_index().items()}
            out[table] = {"rows_in": int(acc["rows_in"].sum()), "loaded": int(acc["loaded"].sum()),
                          "quarantined": int(acc["quarantined"].sum()), "by_reason": by_reason}
            if table in self.identity:
                out[table]["identity"] = self.identity[table]
            notes = {n["check"]: n["rows"] for n in self.notes if n["table"] == table}
            if notes:
                out[table]["notes"] = notes
        return out

    def note_table(self) -> pd.DataFrame:
        """One row per data-quality note: rows that were loaded but deserve a look."""
        cols = ["table", "check", "rows", "message", "examples"]
        return pd.DataFrame([{**n, "examples": "; ".join(n["examples"])} for n in self.notes], columns=cols)

    def reason_table(self) -> pd.DataFrame:
        """Rows in = loaded + quarantined, per table, with one column per reason."""
        m = self.metrics()
        rows = []
        for table, v in m.items():
            rows.append({"table": table, "rows in": v["rows_in"], "loaded": v["loaded"],
                         "quarantined": v["quarantined"], **v["by_reason"]})
        return pd.DataFrame(rows).set_index("table").fillna(0).astype(int) if rows else pd.DataFrame()


def ingest_client(config: ClientConfig, data_dir: str | Path, as_of: datetime | None = None) -> IngestResult:
    """Ingest every configured table of a client. Customers go first so that events and
    surveys can be checked against known customer ids."""
    as_of_ts = _as_of(config, as_of)
    scales = config.all_scales()
    tables, quarantines, accounting, absent = {}, [], [], []
    known = None
    id_map = None
    identity, notes = {}, []
    for table in TABLE_NAMES:
        sources = config.sources(table)
        if not sources:
            if table != "identities":  # optional: most clients have one id per customer
                absent.append(table)
            continue
        loaded_parts, q_parts = [], []
        for source in sources:
            raw, malformed = read_source(source, data_dir)
            raw, personal = drop_personal_columns(raw, config.privacy.personal_columns,
                                                  keep={*source.columns, *META})
            if personal:
                notes.append({"table": table, "check": "personal_columns_dropped", "rows": len(raw), "examples": [],
                              "message": f"{Path(source.path).name}: personal column(s) {personal} were dropped "
                                         "at ingest (privacy.personal_columns); the diagnosis does not need them"})
            log.info("read %s: %d rows", raw[SOURCE].iloc[0] if len(raw) else source.path, len(raw))
            mapped = map_source(raw, source, table)
            coerced = coerce_table(mapped, table, source, config.timezone)
            check_parse_failures(coerced, table, source)
            v = validate_table(coerced, table, scales, as_of_ts)
            raw_json = _raw_rows_json(raw, v.quarantined)
            qs = v.quarantined.assign(raw=raw_json)
            if len(malformed):
                qs = pd.concat([qs, malformed.assign(reason="malformed_row", column=None, value=None,
                                                     raw=malformed["text"]).drop(columns="text")],
                               ignore_index=True)
            loaded_parts.append(v.loaded)
            q_parts.append(qs.assign(table=table))
            accounting.append({"table": table, "source": source.path, "raw_rows": len(raw) + len(malformed),
                               "rows_in": len(mapped) + len(malformed)})
        frame = pd.concat(loaded_parts, ignore_index=True)
        if id_map is not None and "customer_id" in frame and table in ("events", "surveys"):
            frame, identity[table] = stitch_identities(frame, id_map, known)
        keep_dups = {Path(s.path).name for s in sources if s.duplicates == "keep"}
        frame, cross_q = check_duplicates_and_references(frame, table, known, keep_duplicates_from=keep_dups)
        q_parts.append(cross_q.assign(table=table))
        q = pd.concat(q_parts, ignore_index=True)
        if table in ("events", "surveys") and known is not None and "signup_date" in tables.get("customers", {}):
            notes += find_before_signup(frame, tables["customers"], table, config.timezone)
        if len(frame):
            tables[table] = frame.drop(columns=list(META))
        quarantines.append(q)
        if not len(frame):
            files = ", ".join(Path(s.path).name for s in sources)
            notes.append({"table": table, "check": "no_rows", "rows": 0, "examples": [],
                          "message": f"no {table} rows were loaded from {files}; the analyses that need "
                                     f"{table} treat the table as absent"})
        if table == "customers":
            known = pd.Index(tables["customers"]["customer_id"]) if len(frame) else None
            if known is None:
                notes[-1]["message"] += "; events and surveys were not checked against customer ids"
        if table == "identities" and len(frame):
            id_map = tables["identities"].set_index("secondary_id")["customer_id"]
    quarantine = (pd.concat(quarantines, ignore_index=True) if quarantines
                  else pd.DataFrame(columns=QUARANTINE_COLUMNS))
    quarantine = quarantine.rename(columns={SOURCE: "source", ROW: "row"})
    quarantine = quarantine.reindex(columns=QUARANTINE_COLUMNS)
    acc = pd.DataFrame(accounting)
    if len(acc):
        per = quarantine.groupby(["table", "source"]).size()
        acc["quarantined"] = [int(per.get((t, Path(s).name), 0)) for t, s in zip(acc["table"], acc["source"])]
        acc["loaded"] = acc["rows_in"] - acc["quarantined"]
    return IngestResult(tables, quarantine, acc, absent, identity, notes)


def find_before_signup(frame: pd.DataFrame, customers: pd.DataFrame, table: str, tz: str,
                       customer_id: str = "customer_id", timestamp: str = "timestamp",
                       signup_date: str = "signup_date") -> list[dict]:
    """A note on rows dated before their customer's signup date (in the client's calendar).
    They are loaded: orders and sales contacts can precede the contract's start."""
    signup = customers.drop_duplicates(customer_id).set_index(customer_id)[signup_date]
    day = frame[timestamp].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    start = frame[customer_id].map(signup)
    early = (day < start).fillna(False).to_numpy(dtype=bool)
    if not early.any():
        return []
    days = (start[early] - day[early]).dt.days
    hit = frame.loc[early].head(3)
    return [{"table": table, "check": "before_signup", "rows": int(early.sum()),
             "message": f"{int(early.sum()):,} {table} ({early.mean():.1%}) are dated before their customer's "
                        f"signup date (median {days.median():.0f} days, at most {days.max():,} days before). "
                        "They are loaded: orders and sales contacts can precede the contract's start date; if "
                        "signup_date is something else, check the customer ids.",
             "examples": [f"{s} line {r}" for s, r in zip(hit[SOURCE], hit[ROW])]}]


def stitch_identities(frame: pd.DataFrame, id_map: pd.Series, known: pd.Index | None,
                      customer_id: str = "customer_id") -> tuple[pd.DataFrame, dict]:
    """Replace secondary ids (the index of ``id_map``) in ``customer_id`` by the customer
    they belong to. An id that is already a known customer stays as it is. Returns the
    frame and the match counts: direct, stitched, unmatched and the match rate."""
    ids = frame[customer_id]
    direct = ids.isin(known) if known is not None else ~ids.isin(id_map.index)
    stitch = ~direct & ids.isin(id_map.index)
    out = frame.copy()
    out.loc[stitch, customer_id] = ids[stitch].map(id_map)
    n = len(frame)
    unmatched = int((~direct & ~stitch).sum()) if known is not None else 0
    stats = {"direct": int(direct.sum()), "stitched": int(stitch.sum()), "unmatched": unmatched,
             "match_rate": float((n - unmatched) / n) if n else None}
    return out, stats


def check_duplicates_and_references(frame: pd.DataFrame, table: str, known: pd.Index | None,
                                    keep_duplicates_from: set[str] | frozenset = frozenset()):
    """Quarantine exact duplicates (except rows from the files in ``keep_duplicates_from``),
    second records of a customer id, and rows whose customer id is not in ``known``
    (when the client has a customers table). Returns ``(kept, quarantined)``."""
    reason = pd.Series(None, index=frame.index, dtype=object)
    canon = [c for c in frame.columns if c not in META]
    dup = frame[canon].astype(str).duplicated(keep="first")
    if keep_duplicates_from:
        dup &= ~frame[SOURCE].isin(keep_duplicates_from)
    reason[dup] = "duplicate"
    if table == "customers":
        reason[~dup & frame["customer_id"].duplicated(keep="first")] = "duplicate_customer_id"
    if table == "identities":
        owners = frame[~dup].groupby("secondary_id")["customer_id"].nunique()
        reason[~dup & frame["secondary_id"].isin(owners.index[owners > 1])] = "ambiguous_identity"
    if table != "customers" and known is not None:
        reason[reason.isna() & ~frame["customer_id"].isin(known)] = "unknown_customer"
    bad = reason.notna()
    q = frame.loc[bad, list(META)].copy()
    q["reason"] = reason[bad]
    q["column"] = np.select([q["reason"] == "duplicate", q["reason"] == "ambiguous_identity"],
                            [None, "secondary_id"], "customer_id")
    q["value"] = frame.loc[bad, "customer_id"].astype(str)
    q["raw"] = frame.loc[bad, canon].astype(str).apply(lambda r: json.dumps(r.to_dict(), ensure_ascii=False), axis=1) \
        if bad.any() else pd.Series(dtype=str)
    return frame.loc[~bad].reset_index(drop=True), q


def _raw_rows_json(raw: pd.DataFrame, q: pd.DataFrame) -> list[str]:
    if not len(q):
        return []
    by_row = raw.set_index(ROW)
    cols = [c for c in raw.columns if c not in META]
    sub = by_row.loc[q[ROW].to_numpy(), cols]
    return [json.dumps({k: (None if pd.isna(v) else str(v)[:500]) for k, v in rec.items()}, ensure_ascii=False)
            for rec in sub.to_dict("records")]


ID_COLUMNS = ("customer_id", "secondary_id")


def list_quarantine_examples(quarantine: pd.DataFrame, per_reason: int = 3, *, show_identifiers: bool = False,
                             salt: str = "") -> pd.DataFrame:
    """Up to ``per_reason`` quarantined rows per table and reason (file, line, column and
    value) for the report. Customer ids are replaced by stable pseudonyms unless
    ``show_identifiers``; the raw rows stay in quarantine.csv for the analyst."""
    ex = quarantine.groupby(["table", "reason"]).head(per_reason)[["table", "source", "row", "reason", "column", "value"]]
    if not show_identifiers:
        ids = (ex["column"].isin(ID_COLUMNS) | (ex["reason"] == "duplicate")) & ex["value"].notna()
        ex = ex.assign(value=ex["value"].where(~ids, pseudonymize(ex["value"].where(ids), salt)))
    return ex


def extract_time(config: ClientConfig, as_of: datetime | None = None) -> pd.Timestamp:
    """The extract moment in UTC: ``as_of`` if given, else the end of the config's
    ``as_of`` day in the client's time zone, else now. Later events are 'future'."""
    return _as_of(config, as_of)


def _as_of(config: ClientConfig, as_of: datetime | None) -> pd.Timestamp:
    if as_of is not None:
        ts = pd.Timestamp(as_of)
    elif config.as_of is not None:
        ts = pd.Timestamp(config.as_of).tz_localize(config.timezone) + pd.Timedelta(days=1)
    else:
        ts = pd.Timestamp(datetime.now(timezone.utc))
    return ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")


# --------------------------------------------------------------------------- files

def write_ingest(result: IngestResult, tables_dir: str | Path, quarantine_dir: str | Path) -> dict[str, Path]:
    """Write the loaded tables and the quarantine (Parquet + CSV for people) to the run folder."""
    tables_dir, quarantine_dir = Path(tables_dir), Path(quarantine_dir)
    tables_dir.mkdir(parents=True, exist_ok=True)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for stale in tables_dir.glob("*.parquet"):
        stale.unlink()
    for name, frame in result.tables.items():
        path = tables_dir / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        written[name] = path
    result.quarantine.to_parquet(quarantine_dir / "quarantine.parquet", index=False)
    result.quarantine.to_csv(quarantine_dir / "quarantine.csv", index=False)
    result.accounting.to_csv(quarantine_dir / "accounting.csv", index=False)
    return written


def read_tables(tables_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read the canonical tables a previous ingest wrote; absent tables (and tables with no
    loaded rows, which ingest does not write) are simply not in the dict."""
    tables_dir = Path(tables_dir)
    if not tables_dir.exists():
        raise FileNotFoundError(f"{tables_dir}: no ingested tables; run notebooks/01_ingest first "
                                "(make report CLIENT=<client>)")
    return {p.stem: pd.read_parquet(p) for p in sorted(tables_dir.glob("*.parquet")) if p.stem in TABLE_NAMES}
