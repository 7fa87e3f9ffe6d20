"""Mapping a raw file to a canonical table: column names, value mappings, constants,
"means missing" values and wide survey exports melted to one row per rating."""
from __future__ import annotations

import difflib
import warnings

import numpy as np
import pandas as pd

from cxlib.core.config import Source
from cxlib.core.schema import canonical_names, required_names
from cxlib.ingest.contract import IngestError, META, ROW, SOURCE


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
    codes, uniques = pd.factorize(series)      # recode each distinct value once, not each row
    hit = np.array([_norm_key(u) in table for u in uniques], dtype=bool)
    recoded = np.empty(len(uniques), dtype=object)
    recoded[:] = [table.get(_norm_key(u)) for u in uniques]
    if series.dtype == "str" and all(isinstance(v, str) or v is None for v in recoded[hit]):
        return _recode_text(series, codes, np.where(hit, recoded, np.asarray(uniques, dtype=object)))
    rows = (codes >= 0) & np.append(hit, False)[codes]     # code -1 (missing) picks the False
    out = series.astype(object).copy()
    out[rows] = recoded[codes[rows]]
    return out


def _recode_text(series: pd.Series, codes: np.ndarray, values: np.ndarray) -> pd.Series:
    """``values[codes]`` as a text column like ``series`` (code -1: missing), built by Arrow
    from the distinct values instead of one Python object per row."""
    import pyarrow as pa
    dictionary = pa.array(list(values), type=pa.large_string())
    arr = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), dictionary).dictionary_decode()
    return pd.Series(arr, dtype=series.dtype, index=series.index, name=series.name)


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
    for c, parts in source.combine.items():
        absent = [r for r in parts if r not in raw.columns]
        if absent:
            raise IngestError(f"{fname}: combine.{c}: column(s) {absent} not found. Columns found: {found}. "
                              f"First rows: {example_rows(raw)}")
    for c in canon:  # a raw column already named canonically maps to itself
        if c not in targets and c in raw.columns:
            targets[c] = c
    cols: dict[str, object] = {}   # built as one frame at the end: 10,000 attributes are one insert, not 10,000
    for c in canon:
        if c in source.constants:
            cols[c] = pd.Series(source.constants[c], index=raw.index, dtype=object)
        elif c in source.combine:
            cols[c] = combine_columns(raw, source.combine[c])
        elif c in targets:
            cols[c] = raw[targets[c]]
        else:   # not in the file: an empty text column, which every parser reads as missing
            cols[c] = pd.Series(index=raw.index, dtype="str")
    if table == "customers":
        mapped_raw = set(targets.values())
        for extra in found:
            if extra not in mapped_raw and extra not in cols:
                cols[extra] = raw[extra]
        for t, raw_col in targets.items():  # attributes renamed in the mapping, e.g. Plan: plan
            if t not in cols:
                cols[t] = raw[raw_col]
    cols[SOURCE] = raw[SOURCE]
    cols[ROW] = raw[ROW]
    out = pd.DataFrame(cols, index=raw.index)
    if source.wide:
        out = _melt_wide(out, raw, source, fname, found)
    provided = set(targets) | set(source.constants) | set(source.combine) | ({"level", "subject", "metric", "score"} if source.wide else set())
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


def combine_columns(raw: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Several raw columns as one text column, joined by a space; a missing part is left out
    and a row with every part missing stays missing."""
    parts = raw[columns].astype("string").apply(lambda col: col.str.strip()).replace("", pd.NA)
    joined = parts.apply(lambda row: " ".join(v for v in row if not pd.isna(v)), axis=1)
    return joined.where(parts.notna().any(axis=1))


def filter_rows(raw: pd.DataFrame, source) -> tuple[pd.DataFrame, int]:
    """The rows ``source.keep`` lets through ({raw column: [values]}, case and spaces
    ignored) and how many it filtered out."""
    if not source.keep:
        return raw, 0
    fname = raw[SOURCE].iloc[0] if len(raw) else source.path
    mask = pd.Series(True, index=raw.index)
    for col, values in source.keep.items():
        if col not in raw.columns:
            raise IngestError(f"{fname}: keep.{col}: column not found. Columns found: "
                              f"{[c for c in raw.columns if c not in META]}")
        wanted = {str(v).strip().casefold() for v in values}
        mask &= raw[col].astype("string").str.strip().str.casefold().isin(wanted).fillna(False)
    return raw[mask], int((~mask).sum())


def group_reasons(reasons: pd.Series, rules: dict[str, str], *, other: str = "other") -> pd.Series:
    """Free-text contact reasons grouped by ``rules`` ({group: regular expression}, tried in
    order, case ignored): the first group whose pattern matches, ``other`` when none does,
    missing when the text is missing."""
    text = reasons.astype("string")
    out = pd.Series(pd.NA, index=reasons.index, dtype="object")
    for group, pattern in rules.items():
        with warnings.catch_warnings():   # a rule may use groups: "(call(ed)? back)" only asks whether it matches
            warnings.filterwarnings("ignore", message="This pattern is interpreted as a regular expression")
            hit = text.str.contains(pattern, case=False, regex=True).fillna(False).astype(bool) & out.isna()
        out[hit] = group
    return out.where(out.notna() | text.isna(), other)
