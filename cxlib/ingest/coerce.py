"""Coercing text to types: timestamps to UTC, dates, numbers and booleans, remembering which
raw values failed to parse."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxlib.core.config import Source
from cxlib.core.schema import columns_of
from cxlib.ingest.contract import IngestError, ROW
from cxlib.ingest.mapping import _norm_key


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}
_OFFSET = r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
"""A time of day followed by an offset: Z, +01:00, +0100, or the hour-only +02 of PostgreSQL's text form."""
_HOUR_ONLY = r"(\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*[+-]\d{2})$"
_CURRENCY = r"^[€$£]\s*|\s*(?:EUR|USD|GBP|€|\$|£)$"
_PRINTABLE_ASCII = r"^[ -~]*$"


def match_text(text: pd.Series, pattern: str, *, full: bool = False) -> np.ndarray:
    """Which values of ``text`` match the Python regex ``pattern`` (anywhere, or the whole
    value with ``full=True``); missing values never match. Values of printable ASCII, the
    usual case in a large file, are matched by Arrow's RE2 engine, which reads ``\\s``, ``\\d``,
    ``\\w`` and ``$`` as Python does on such text; pandas would send every value through
    Python's ``re`` because of one ``\\s``. The rest go through Python's ``re``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    regex = f"^(?:{pattern})$" if full else pattern
    try:
        arr = pa.array(text.astype("string"), from_pandas=True)
        hit = pc.match_substring_regex(arr, regex).fill_null(False).to_numpy(zero_copy_only=False)
        plain = pc.match_substring_regex(arr, _PRINTABLE_ASCII).fill_null(True).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:    # a pattern RE2 does not support (lookaround, backreference): Python for all
        hit, plain = np.zeros(len(text), dtype=bool), np.zeros(len(text), dtype=bool)
    hit = hit.copy()
    if not plain.all():
        rest = text[~plain].astype("string")
        found = rest.str.fullmatch(pattern) if full else rest.str.contains(pattern, regex=True)
        hit[~plain] = found.fillna(False).to_numpy(dtype=bool)
    return hit


def parse_timestamps(values: pd.Series, tz: str, fmt: str | None = None) -> pd.Series:
    """Parse timestamps to tz-aware UTC.

    Strings with an offset (``Z``, ``+01:00``, ``+0100``, ``+02``) are converted from that offset; naive
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
    has_offset = match_text(text, _OFFSET)
    if has_offset.any():
        with_offset = text[has_offset].str.replace(_HOUR_ONLY, r"\1:00", regex=True)   # +02 -> +02:00
        aware = pd.to_datetime(with_offset, format=fmt or "ISO8601", utc=True, errors="coerce")
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
    with ``durations=True``, ``hh:mm:ss`` / ``mm:ss`` as seconds. Non-finite values (inf,
    Infinity, 1e309) come back missing, so a present value that parses to one is unparsable."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        v = values.astype("float64")
        return v.where(np.isfinite(v))
    text = values.astype("string").str.strip()
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    rest = text.notna().to_numpy(dtype=bool, copy=True)
    if durations:
        # hh:mm:ss or mm:ss with minutes and seconds below 60: '00:99:99' is no duration
        is_dur = match_text(text, r"\d+:[0-5]?\d(?::[0-5]?\d(?:\.\d+)?)?", full=True)
        if is_dur.any():
            dur = text[is_dur].where(text[is_dur].str.count(":") == 2, "0:" + text[is_dur])
            out[is_dur] = _duration_seconds(dur)
            rest &= ~is_dur
    if rest.any():
        t = text[rest]
        marked = match_text(t, _CURRENCY)     # only these can change: the rest skip Python's re
        if marked.any():
            t = t.copy()
            t[marked] = t[marked].str.replace(_CURRENCY, "", regex=True).to_numpy()
        if thousands:
            t = t.str.replace(thousands, "", regex=False)
        if decimal != ".":
            t = t.str.replace(decimal, ".", regex=False)
        out[rest] = pd.to_numeric(t, errors="coerce").astype("float64")
    return out.where(np.isfinite(out))      # inf, Infinity, 1e309: not a number anyone measured


def _duration_seconds(hms: pd.Series) -> np.ndarray:
    """Seconds of ``h:m:s`` texts, as ``pd.to_timedelta(...).dt.total_seconds()`` gives them.
    Whole seconds of ASCII digits are summed as integers (the same value, without parsing
    each text in Python); fractions and anything unusual go to pandas."""
    import pyarrow as pa
    import pyarrow.compute as pc
    seconds = np.full(len(hms), np.nan)
    whole = ~hms.str.contains(".", regex=False).fillna(True).to_numpy(dtype=bool)
    if whole.any():
        try:
            parts = pc.split_pattern(pa.array(hms[whole].astype("string"), from_pandas=True), ":")
            h, m, s = (pc.cast(pc.list_element(parts, i), pa.int64()).to_numpy(zero_copy_only=False)
                       for i in range(3))
            small = h < 10**9      # far from int64's limits; pandas decides the rest
            idx = np.flatnonzero(whole)
            seconds[idx[small]] = (h * 3600 + m * 60 + s)[small].astype("float64")
            whole[idx[~small]] = False
        except (pa.ArrowInvalid, pa.ArrowTypeError):   # digits that are not ASCII: pandas reads them
            whole[:] = False
    if not whole.all():
        seconds[~whole] = pd.to_timedelta(hms[~whole], errors="coerce").dt.total_seconds().to_numpy()
    return seconds


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
    # Excel and Parquet deliver integer ids as floats: '1234.0' -> '1234'. The regex runs only when
    # some value ends in '.0' (the text is stripped): on a large text file usually none does
    if not _any_ends_with(text, ".0"):
        return text.astype("str")
    floats = match_text(text, r"^\d+\.0$")
    if floats.any():
        text[floats] = text[floats].str.replace(r"^(\d+)\.0$", r"\1", regex=True).to_numpy()
    return text.astype("str")


def _any_ends_with(text: pd.Series, suffix: str) -> bool:
    """Whether any value of ``text`` ends with ``suffix`` (one Arrow pass, no regex)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    return bool(pc.any(pc.ends_with(pa.array(text, from_pandas=True), suffix)).as_py())


@dataclass
class Coerced:
    frame: pd.DataFrame
    failed: dict[str, pd.Series] = field(default_factory=dict)  # column -> mask of unparsable non-null raw values
    raw_values: dict[str, pd.Series] = field(default_factory=dict)


def coerce_table(df: pd.DataFrame, table: str, source: Source, tz: str) -> Coerced:
    """Coerce a mapped frame's canonical columns to their types; record parse failures."""
    out = df.copy(deep=False)    # columns are replaced, never changed in place
    failed: dict[str, pd.Series] = {}
    raw_values: dict[str, pd.Series] = {}
    tz = source.timezone or tz
    for col in columns_of(table):
        s = out[col.name]
        if col.kind == "string":
            out[col.name] = _clean_strings(s)
            continue
        present = s.notna() & (s.astype("string").str.strip() != "").fillna(False)
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


def measure_parse_failures(c: Coerced) -> dict[str, dict]:
    """Per parsed column: how many values could not be parsed (``bad``), how many were present
    (``present``) and the first three unparsable (``examples``: line and raw text), for
    :func:`check_parse_failures`. The figures of parts of one file add up
    (:func:`merge_check_counts`)."""
    out = {}
    for col, raw in c.raw_values.items():
        present = raw.notna() & (raw.astype("string").str.strip() != "").fillna(False)
        bad = c.failed.get(col)
        hit = c.frame.loc[bad.to_numpy(dtype=bool)].head(3) if bad is not None else c.frame.iloc[:0]
        out[col] = {"bad": int(bad.sum()) if bad is not None else 0, "present": int(present.sum()),
                    "examples": [(r, str(raw.loc[i])[:40]) for i, r in zip(hit.index, hit[ROW])]}
    return out


def merge_check_counts(total: dict[str, dict], part: dict[str, dict], keep: int = 3) -> dict[str, dict]:
    """``total`` with one more part's counts added per column (numbers summed, example lists
    joined and cut to ``keep``)."""
    for col, counts in part.items():
        into = total.setdefault(col, {})
        for k, v in counts.items():
            into[k] = (into.get(k, []) + v)[:keep] if isinstance(v, list) else into.get(k, 0) + v
    return total


def check_parse_failures(counts: dict[str, dict], table: str, source: Source, fname: str, max_share: float = 0.5,
                         min_rows: int = 3) -> None:
    """Raise IngestError when most values of a column fail to parse: that is a
    configuration problem (a date format, a decimal comma), not bad rows, and
    quarantining every row would hide it. Isolated failures are quarantined. ``counts`` is
    :func:`measure_parse_failures` of the file (its parts merged)."""
    raw_names = {t: r for r, ts in source.columns.items() for t in (ts if isinstance(ts, list) else [ts])}
    for col, n in counts.items():
        n_bad, n_present = n["bad"], n["present"]
        if n_bad < min_rows or n_bad <= max_share * n_present:
            continue
        kind = next(x.kind for x in columns_of(table) if x.name == col)
        examples = ", ".join(f"line {r} {v!r}" for r, v in n["examples"])
        label = f"{raw_names[col]!r} ({col})" if col in raw_names else repr(col)
        raise IngestError(
            f"{fname}: column {label}: {n_bad:,} of {n_present:,} values could not be read as {kind} "
            f"(e.g. {examples}); {_PARSE_HINTS[kind].format(col=col)}. "
            "A few unreadable values are quarantined row by row; this many means the configuration does not fit the file.")


def measure_date_conventions(c: Coerced, source: Source) -> dict[str, dict]:
    """Per date column with a day-and-month format: the values that read only with the format
    (``only_set``), only with day and month swapped (``only_swapped``) or either way
    (``both``), with the first two of each kind (line and text), for
    :func:`check_date_conventions`."""
    out = {}
    rows = c.frame[ROW]
    for col, fmt in source.formats.items():
        if col not in c.raw_values or "%d" not in fmt or "%m" not in fmt:
            continue
        text = c.raw_values[col].astype("string").str.strip()
        text = text[text.notna() & (text != "")]
        if not len(text):
            continue
        swapped = _swap_day_month(fmt)
        as_set = pd.to_datetime(text, format=fmt, errors="coerce").notna()
        as_swapped = pd.to_datetime(text, format=swapped, errors="coerce").notna()
        only_set, only_swapped = text[as_set & ~as_swapped], text[as_swapped & ~as_set]
        ex = lambda s: [(rows.loc[i], v) for i, v in s.head(2).items()]  # noqa: E731
        out[col] = {"only_set": len(only_set), "only_swapped": len(only_swapped), "both": int((as_set & as_swapped).sum()),
                    "set_examples": ex(only_set), "swapped_examples": ex(only_swapped)}
    return out


def _swap_day_month(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def check_date_conventions(counts: dict[str, dict], source: Source, fname: str) -> None:
    """Raise IngestError when a date column mixes day-first and month-first values: some read
    only with the configured format (e.g. '25/12/2025' under '%d/%m/%Y'), others only with day
    and month swapped ('12/25/2025'). The ambiguous ones ('03/04/2025') cannot then be read
    either way with confidence, so nothing is loaded silently one way. ``counts`` is
    :func:`measure_date_conventions` of the file (its parts merged)."""
    raw_names = {t: r for r, ts in source.columns.items() for t in (ts if isinstance(ts, list) else [ts])}
    for col, n in counts.items():
        if n["only_set"] and n["only_swapped"]:
            fmt = source.formats[col]
            swapped = _swap_day_month(fmt)
            ex = lambda pairs: ", ".join(f"line {r} {v!r}" for r, v in pairs[:2])  # noqa: E731
            label = f"{raw_names[col]!r} ({col})" if col in raw_names else repr(col)
            raise IngestError(
                f"{fname}: column {label} mixes day-first and month-first dates: {n['only_set']:,} read only as "
                f"{fmt!r} (e.g. {ex(n['set_examples'])}), {n['only_swapped']:,} only as {swapped!r} (e.g. "
                f"{ex(n['swapped_examples'])}), and {n['both']:,} could be either. Ask the client which rows use which "
                "convention, or split the file; no reading of the ambiguous dates would be safe.")
