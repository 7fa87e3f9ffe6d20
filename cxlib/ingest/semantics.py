"""What each event is and who started it: fill ``kind`` and ``initiated_by`` where the client's
data does not say, from the channel, and report how much was inferred.

Only a customer's own contacts can be agent contacts, repeats or avoidable, so these two
columns decide what the contact cascade counts. A source that maps them (or sets them as
constants) wins; the defaults below only fill what is missing, and the ingest page shows how
many rows each default filled so a reviewer can challenge it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from cxlib.core.formatting import format_count, format_value, humanize

DEFAULT_KIND = {
    "bill": "bill", "letter": "notification", "sms": "notification", "field_visit": "visit", "other": "work_step",
}
"""Kind of an event by channel when the data does not say; any other channel: ``contact``."""

DEFAULT_INITIATOR = {"contact": "customer", "notification": "company", "bill": "company", "visit": "company",
                     "work_step": "company"}
"""Who started an event of each kind when the data does not say. A contact is the customer's
unless marked otherwise (an outbound call must be mapped as ``initiated_by: company``)."""

SEMANTICS_COLUMNS = ["channel", "kind", "initiated_by", "events", "inferred"]


def flag_customer_contacts(events: pd.DataFrame, *, kind: str = "kind",
                           initiated_by: str = "initiated_by") -> pd.Series:
    """True for the events that are contacts the customer started. A missing kind reads as a
    contact and a missing initiator as the customer (the defaults before
    :func:`infer_event_semantics` fills them); a frame without the columns is all contacts."""
    own = pd.Series(True, index=events.index)
    if kind in events:
        own &= events[kind].fillna("contact").eq("contact")
    if initiated_by in events:
        own &= events[initiated_by].fillna("customer").eq("customer")
    return own.rename("customer_contact")


def infer_event_semantics(events: pd.DataFrame, *, channel: str = "channel", kind: str = "kind",
                          initiated_by: str = "initiated_by") -> tuple[pd.DataFrame, pd.DataFrame]:
    """``events`` with ``kind`` and ``initiated_by`` filled where missing, and a table of the
    result per channel, kind and initiator with how many of those rows were inferred (either
    column filled by a default rather than read from the data).

    Defaults: :data:`DEFAULT_KIND` by channel (bills are bills, letters and SMS are
    notifications, field visits are visits, ``other`` is a work step, the rest are contacts),
    then :data:`DEFAULT_INITIATOR` by kind."""
    out = events.copy(deep=False)    # kind and initiator are replaced, not changed in place
    missing = pd.Series(index=out.index, dtype="str")
    cols = [out[channel], out[kind] if kind in out else missing, out[initiated_by] if initiated_by in out else missing]
    # the defaults depend only on (channel, kind, initiator): decide them once per distinct triple
    coded = [pd.factorize(c) for c in cols]
    sizes = [len(uniques) + 1 for _, uniques in coded]     # a code per value, and one for missing
    key = np.zeros(len(out), dtype="int64")
    for (codes, _), size in zip(coded, sizes):
        key = key * size + (codes + 1)
    if np.prod(sizes, dtype=float) <= max(len(out), 1 << 16):
        # a handful of channels, kinds and initiators (ingest checked them): count every possible
        # triple, instead of hashing 23M rows and sorting them to find each triple's first row
        counts = np.bincount(key, minlength=int(np.prod(sizes)))
        present = np.flatnonzero(counts)
        combo, n_rows = (np.cumsum(counts > 0) - 1)[key], counts[present]    # triples numbered as present
    else:   # values the schema does not know: number the triples that occur
        combo, present = pd.factorize(key)
        n_rows = np.bincount(combo)
    raw, rest = [], present
    for (_, uniques), size in reversed(list(zip(coded, sizes))):
        raw.insert(0, [None if c == 0 else uniques[c - 1] for c in rest % size])
        rest = rest // size
    k, i, table = fill_semantics(*raw, n_rows)
    out[kind] = _decode(combo, k, out.index)
    out[initiated_by] = _decode(combo, i, out.index)
    return out, table


def fill_semantics(channels: list, kinds: list, initiators: list, events) -> tuple[list, list, pd.DataFrame]:
    """The defaults for distinct (channel, kind, initiator) triples as read (None: missing) with
    their ``events``: the filled kinds and initiators, and the semantics table (per channel,
    kind and initiator: events, and how many were inferred). Ingest on pandas and on Spark
    both decide the defaults here, once per distinct triple."""
    k = [kd if kd is not None else DEFAULT_KIND.get(ch, "contact") for ch, kd in zip(channels, kinds)]
    i = [by if by is not None else DEFAULT_INITIATOR.get(kd) for kd, by in zip(k, initiators)]
    inferred = [kd is None or by is None for kd, by in zip(kinds, initiators)]
    per = pd.DataFrame({"channel": pd.Series(channels, dtype=object), "kind": pd.Series(k, dtype=object),
                        "initiated_by": pd.Series(i, dtype=object), "events": np.asarray(events, dtype="int64")})
    per["inferred"] = per["events"] * np.array(inferred, dtype="int64")
    table = (per.groupby(["channel", "kind", "initiated_by"], observed=True)[["events", "inferred"]].sum()
             .reset_index().sort_values("events", ascending=False, kind="stable").reset_index(drop=True))
    return k, i, table[SEMANTICS_COLUMNS]


def _decode(codes: np.ndarray, values: list, index: pd.Index) -> pd.Series:
    """``values[codes]`` as a text column (``None``: missing), built by Arrow from the few
    distinct values."""
    arr = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(values, type=pa.large_string()))
    return pd.Series(arr.dictionary_decode(), dtype="string", index=index)


def describe_event_semantics(table: pd.DataFrame) -> str:
    """One paragraph: how many events are the customer's own contacts (the ones the contact
    cascade counts), what the rest are, and how many rows a default filled."""
    n = int(table["events"].sum())
    if not n:
        return ""
    own = table[(table["kind"] == "contact") & (table["initiated_by"] == "customer")]["events"].sum()
    rest = (table[~((table["kind"] == "contact") & (table["initiated_by"] == "customer"))]
            .groupby(["kind", "initiated_by"])["events"].sum().sort_values(ascending=False))
    parts = [f"{format_count(int(v))} {humanize(kd)} event(s) started by the {by}" for (kd, by), v in rest.items()]
    text = (f"Of {format_count(n)} events, **{format_count(int(own))}** "
            f"({format_value(own / n, 'share', digits=1)}) are contacts the customer started; only these can "
            "be agent contacts, repeats or avoidable.")
    if parts:
        text += " The rest: " + "; ".join(parts) + "."
    inferred = int(table["inferred"].sum())
    if inferred:
        text += (f" For {format_count(inferred)} events ({format_value(inferred / n, 'share', digits=1)}) the data "
                 "did not say what the event is or who started it, and the channel's default was used (bills, "
                 "letters and SMS come from the company; a field visit is the company's; channel 'other' is a work "
                 "step; everything else is a customer's contact). Map the kind and the initiator in the client's "
                 "config to override.")
    return text


def semantics_table(table: pd.DataFrame) -> pd.DataFrame:
    """The semantics table in words ('field visit', 'work step')."""
    return table.assign(**{c: table[c].map(humanize) for c in ("channel", "kind", "initiated_by")})

