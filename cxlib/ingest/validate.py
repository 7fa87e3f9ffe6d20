"""Validating rows: the first reason a row fails (or none), identity stitching, duplicates
and unknown customers, and rows dated before the customer's signup."""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxlib.core.frames import select_rows
from cxlib.core.lookup import locate
from cxlib.core.schema import CHANNELS, EVENT_KINDS, INITIATORS, SURVEY_LEVELS, columns_of, required_names
from cxlib.ingest.coerce import Coerced
from cxlib.ingest.contract import META, ROW, SOURCE


@dataclass
class Validated:
    loaded: pd.DataFrame
    quarantined: pd.DataFrame  # META + reason, column, value


def is_in(values: pd.Series, allowed) -> pd.Series:
    """``values.isin(allowed)`` for id columns of millions of rows, by :func:`~cxlib.core.lookup.locate`
    (Arrow's hash lookup when both are text; text '1' never matches the number 1). A missing value
    is never in."""
    allowed = pd.Index(allowed)
    allowed = allowed[allowed.notna()].unique()
    return pd.Series(locate(values, allowed) >= 0, index=values.index, name=values.name)


def _first_reason(checks: list[tuple[str, str | None, pd.Series]], index) -> tuple[pd.Series, pd.Series]:
    reason = pd.Series(None, index=index, dtype=object)
    column = pd.Series(None, index=index, dtype=object)
    for name, col, mask in checks:
        m = mask.fillna(False).to_numpy(dtype=bool) & reason.isna().to_numpy()
        reason[m] = name
        column[m] = col
    return reason, column


def validate_table(c: Coerced, table: str, scales: dict[str, tuple[float, float]],
                   as_of: pd.Timestamp, max_handle_time_s: float | None = None) -> Validated:
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
        if "lifetime_value" in df:
            checks.append(("negative_value", "lifetime_value", df["lifetime_value"] < 0))
    if table == "events":
        checks.append(("unknown_channel", "channel", ~df["channel"].isin(CHANNELS) & df["channel"].notna()))
        checks.append(("unknown_kind", "kind", ~df["kind"].isin(EVENT_KINDS) & df["kind"].notna()))
        checks.append(("unknown_initiator", "initiated_by", ~df["initiated_by"].isin(INITIATORS) & df["initiated_by"].notna()))
        for col in ("handle_time_s", "cost"):
            checks.append(("negative_value", col, df[col] < 0))
        if max_handle_time_s is not None:
            checks.append(("implausible_value", "handle_time_s", df["handle_time_s"] > max_handle_time_s))
    if table == "surveys":
        checks.append(("invalid_level", "level", ~df["level"].isin(SURVEY_LEVELS) & df["level"].notna()))
        checks.append(("unknown_metric", "metric", ~df["metric"].isin(list(scales)) & df["metric"].notna()))
        checks.append(("missing_subject", "subject", df["level"].isin(["touchpoint", "journey"]) & df["subject"].isna()))
        lo = df["metric"].map({k: v[0] for k, v in scales.items()}).astype("float64")
        hi = df["metric"].map({k: v[1] for k, v in scales.items()}).astype("float64")
        checks.append(("score_out_of_range", "score", (df["score"] < lo) | (df["score"] > hi)))
    if table == "staff":
        metric = df["metric"].fillna("agreement")
        checks.append(("unknown_metric", "metric", ~metric.isin(list(scales))))
        lo = metric.map({k: v[0] for k, v in scales.items()}).astype("float64")
        hi = metric.map({k: v[1] for k, v in scales.items()}).astype("float64")
        checks.append(("score_out_of_range", "score", (df["score"] < lo) | (df["score"] > hi)))
    if "timestamp" in df.columns:
        checks.append(("future_timestamp", "timestamp", df["timestamp"] > as_of))
    reason, column = _first_reason(checks, df.index)
    ok = reason.isna()
    q = df.loc[~ok, list(META)].copy()
    q["reason"] = reason[~ok]
    q["column"] = column[~ok]
    q["value"] = _raw_values(c, df, q["column"])
    return Validated(select_rows(df, ok), q)


def _raw_values(c: Coerced, df: pd.DataFrame, column: pd.Series) -> list[str | None]:
    """What the file said in each quarantined row's failing column (``column``, indexed by
    row), as text of at most 200 characters; None where it said nothing."""
    out: list[str | None] = [None] * len(column)
    for col in column.dropna().unique():
        at = np.flatnonzero((column == col).to_numpy())
        values = c.raw_values.get(col, df[col]).loc[column.index[at]]
        for j, v in zip(at, values):
            out[j] = None if pd.isna(v) or str(v) == "nan" else str(v)[:200]
    return out


def find_before_signup(frame: pd.DataFrame, customers: pd.DataFrame, table: str, tz: str,
                       customer_id: str = "customer_id", timestamp: str = "timestamp",
                       signup_date: str = "signup_date") -> list[dict]:
    """A note on rows dated before their customer's signup date (in the client's calendar).
    They are loaded: orders and sales contacts can precede the contract's start."""
    signup = customers.drop_duplicates(customer_id).set_index(customer_id)[signup_date]
    day = frame[timestamp].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    start = pd.Series(signup.array.take(locate(frame[customer_id], signup.index), allow_fill=True), index=frame.index)
    early = (day < start).fillna(False).to_numpy(dtype=bool)
    if not early.any():
        return []
    days = (start[early] - day[early]).dt.days
    first = np.zeros(len(frame), dtype=bool)
    first[np.flatnonzero(early)[:3]] = True     # by Arrow's filter: a take from a large file's chunks can
    hit = select_rows(frame[[SOURCE, ROW]], first)   # join them into one first (seconds for three rows)
    return [describe_before_signup(table, int(early.sum()), len(frame), days.median(), days.max(),
                                   list(zip(hit[SOURCE], hit[ROW])))]


def describe_before_signup(table: str, n_early: int, n: int, median_days: float, max_days: int,
                           examples: list[tuple[str, int]]) -> dict:
    """The before-signup note: ``n_early`` of ``n`` rows dated before their customer's signup,
    how many days before (median and most) and up to three examples (file and line)."""
    return {"table": table, "check": "before_signup", "rows": n_early,
            "message": f"{n_early:,} {table} ({n_early / n:.1%}) are dated before their customer's "
                       f"signup date (median {median_days:.0f} days, at most {int(max_days):,} days before). "
                       "They are loaded: orders and sales contacts can precede the contract's start date; if "
                       "signup_date is something else, check the customer ids.",
            "examples": [f"{s} line {r}" for s, r in examples]}


def stitch_identities(frame: pd.DataFrame, id_map: pd.Series, known: pd.Index | None,
                      customer_id: str = "customer_id") -> tuple[pd.DataFrame, dict]:
    """Replace secondary ids (the index of ``id_map``) in ``customer_id`` by the customer
    they belong to. An id that is already a known customer stays as it is. Returns the
    frame and the match counts: direct, stitched, unmatched and the match rate."""
    ids = frame[customer_id]
    secondary = is_in(ids, id_map.index)
    direct = is_in(ids, known) if known is not None else ~secondary
    stitch = ~direct & secondary
    out = frame.copy(deep=False)    # copy on write: only the id column is copied
    out.loc[stitch, customer_id] = ids[stitch].map(id_map)
    n = len(frame)
    unmatched = int((~direct & ~stitch).sum()) if known is not None else 0
    stats = {"direct": int(direct.sum()), "stitched": int(stitch.sum()), "unmatched": unmatched,
             "match_rate": float((n - unmatched) / n) if n else None}
    return out, stats


def find_duplicates(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """``frame[columns].duplicated(keep="first")``, hashing every column only for the rows
    that already repeat on the customer and time: other rows cannot repeat on all columns."""
    key = [c for c in ("customer_id", "timestamp") if c in columns]
    try:
        if not key or len(key) == len(columns):
            return frame[columns].duplicated(keep="first")
        maybe = _may_repeat(frame, key)
        dup = pd.Series(False, index=frame.index)
        if maybe.any():   # by Arrow's filter: .loc joins a large file's chunks into one first (select_rows)
            dup[maybe] = select_rows(frame[columns], maybe).duplicated(keep="first").to_numpy()
        return dup
    except TypeError:   # unhashable cells (lists from a JSON source): compare their text
        return frame[columns].astype(str).duplicated(keep="first")


def _may_repeat(frame: pd.DataFrame, key: list[str]) -> np.ndarray:
    """True for every row whose ``key`` values another row also holds (missing equal to missing),
    and for a few rows more: a 64-bit hash of the key's codes, sorted once, finds the repeated
    hashes; two keys sharing a hash only add rows for the exact check to clear. Half the
    time of ``frame[key].duplicated(keep=False)`` on 23M events (3.5 s against 7.5 s): no hash
    table over the rows, and timestamps hashed as they are stored."""
    h = np.zeros(len(frame), dtype=np.uint64)
    for col in key:
        values = frame[col]
        if isinstance(values.array, pd.arrays.DatetimeArray):
            codes = values.array.asi8          # NaT is one value like any other
        else:
            codes = pd.factorize(values)[0]    # -1 for every missing value
        h = _mix64(h ^ _mix64(codes.astype(np.uint64)))
    s = np.sort(h)
    repeated = s[1:][s[1:] == s[:-1]]
    # a bit table 64 times the repeated hashes passes the rows that may hold one (about 1.5% of the
    # others), and only those are compared: np.isin over every row took 6-17 s for 23M events
    bits = max(16, min(28, int(np.ceil(np.log2(max(len(repeated), 1) * 64)))))
    low = np.uint64((1 << bits) - 1)
    table = np.zeros(1 << bits, dtype=bool)
    table[repeated & low] = True
    maybe = np.flatnonzero(table[h & low])
    out = np.zeros(len(h), dtype=bool)
    out[maybe] = np.isin(h[maybe], repeated)
    return out


def _mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place on a fresh uint64 array: every input bit moves about
    half the output bits, so nearby codes (1, 2, 3; times a second apart) get unrelated hashes."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def check_duplicates_and_references(frame: pd.DataFrame, table: str, known: pd.Index | None,
                                    keep_duplicates_from: set[str] | frozenset = frozenset(), *,
                                    consume: bool = False):
    """Quarantine exact duplicates (except rows from the files in ``keep_duplicates_from``),
    second records of a customer id, and rows whose customer id is not in ``known``
    (when the client has a customers table). Returns ``(kept, quarantined)``; with ``consume``
    the kept rows are taken out of ``frame`` column by column (:func:`select_rows`), which is
    left without columns."""
    reasons = ["duplicate", "duplicate_customer_id", "ambiguous_identity", "unknown_customer"]
    code = np.zeros(len(frame), dtype=np.int8)     # 1 + the row's first failed check in reasons; 0: kept

    def fail(mask, why: str) -> None:
        code[np.asarray(mask, dtype=bool) & (code == 0)] = 1 + reasons.index(why)

    dup = find_duplicates(frame, [c for c in frame.columns if c not in META])
    if keep_duplicates_from:
        dup &= ~frame[SOURCE].isin(keep_duplicates_from)
    fail(dup, "duplicate")
    if table == "customers":
        fail(frame["customer_id"].duplicated(keep="first"), "duplicate_customer_id")
    if table == "identities":
        owners = frame[~dup].groupby("secondary_id")["customer_id"].nunique()
        fail(frame["secondary_id"].isin(owners.index[owners > 1]), "ambiguous_identity")
    if table != "customers" and known is not None and "customer_id" in frame:
        fail(~is_in(frame["customer_id"], known), "unknown_customer")
    bad = code > 0
    rows = select_rows(frame, bad).set_axis(frame.index[bad])    # the quarantine keeps the rows' labels
    reason = pd.Series(np.array(reasons, dtype=object)[code[bad] - 1], index=rows.index)
    return select_rows(frame, ~bad, consume=consume), quarantine_table_rows(rows, reason)


def quarantine_table_rows(bad: pd.DataFrame, reason: pd.Series) -> pd.DataFrame:
    """Quarantine rows for the rows ``bad`` that a table-level check failed, with their
    ``reason``: the column it concerns, the customer id and the row's canonical values as JSON."""
    canon = [c for c in bad.columns if c not in META]
    q = bad[list(META)].copy()
    q["reason"] = reason
    q["column"] = np.select([q["reason"] == "duplicate", q["reason"] == "ambiguous_identity"],
                            [None, "secondary_id"], "customer_id")
    q["value"] = bad["customer_id"].astype(str) if "customer_id" in bad else None
    q["raw"] = format_rows_as_json(bad[canon].astype(str)) if len(bad) else pd.Series(dtype=str)
    return q


def format_rows_as_json(frame: pd.DataFrame) -> list[str]:
    """Each row of a frame of text as a JSON object, exactly as ``json.dumps(row_dict,
    ensure_ascii=False)`` writes it, with each distinct value of a column encoded once (the
    rows of a large file's quarantine repeat their touchpoints, channels and dates)."""
    pieces = []
    for col in frame.columns:
        codes, uniques = pd.factorize(frame[col], use_na_sentinel=False)
        key = json.dumps(str(col), ensure_ascii=False) + ": "
        pieces.append(np.array([key + json.dumps(v, ensure_ascii=False) for v in uniques], dtype=object)[codes])
    return ["{" + ", ".join(row) + "}" for row in zip(*pieces)] if pieces else ["{}"] * len(frame)
