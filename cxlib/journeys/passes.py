"""Journey reconstruction in compiled passes over sorted arrays: the in-memory engine.

:func:`~cxlib.journeys.reconstruct.reconstruct_journeys` states its rules in SQL that DuckDB and
Spark share: a chain of windows, joins and aggregates, each a full pass over wide rows. A log
that fits in memory needs none of that once its events are sorted by customer and time: every
rule is then one loop over integer codes, compiled by numba. This module computes the same step
and journey tables that way:

* the events are read as codes (a dictionary per label column), sorted once by customer (its
  text, byte by byte), time and source row;
* cases are typed by one count per journey type; definition instances come from the start and
  end markers of each type, and each event finds the instance that may take it by walking the
  instances of its customer beside it; everything else is split into episodes by its gaps;
* one counting sort puts the events in journey order, and one loop over that order gives each
  step's measures and each journey's row.

The tables are Arrow tables whose labels are dictionary arrays, in journey order. Tests hold
them to the SQL's tables, column by column, on the example logs and on random logs with ties,
cases and overlaps. Where the SQL leaves an order undefined (a touchpoint that both starts and
ends one journey type, at once) this engine takes the start first.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cxlib.core.config import JourneyDefinition
from cxlib.journeys.reconstruct import CODED_COLUMNS, EVENT_COLUMNS, UNCLASSIFIED

ASSIGNED_BY = ("case", "definition", "episode")
LABELS = CODED_COLUMNS
"""The event columns held as codes into one dictionary each (a null is code -1), as the SQL codes them."""

def is_available() -> bool:
    """Whether numba, which compiles the passes, is installed."""
    import importlib.util
    return importlib.util.find_spec("numba") is not None


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def takes(schema: pa.Schema) -> bool:
    """Whether the passes give the SQL's tables for events of this Arrow ``schema``: text ids and
    labels (the SQL keeps a numeric case id as a number, orders numeric customers as numbers and
    writes numeric labels as its own text) and a timestamp column."""
    return all(_is_text(schema.field(c).type) for c in EVENT_COLUMNS if c in schema.names and c != "timestamp") \
        and "timestamp" in schema.names and pa.types.is_timestamp(schema.field("timestamp").type)


# --------------------------------------------------------------------------- reading

@dataclass
class Labels:
    """A label column as codes (int32, -1 for null) into ``values`` (strings)."""

    codes: np.ndarray
    values: pa.Array

    @classmethod
    def from_arrow(cls, column: pa.ChunkedArray) -> "Labels":
        """Codes of a string or dictionary column, one dictionary for all its chunks."""
        if pa.types.is_null(column.type) or (pa.types.is_dictionary(column.type)
                                             and pa.types.is_null(column.type.value_type)):
            return cls(np.full(len(column), -1, np.int32), pa.array([], pa.string()))
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        column = column.unify_dictionaries()   # each chunk's codes now index one dictionary
        if not column.num_chunks:
            return cls(np.zeros(0, np.int32), pa.array([], pa.string()))
        parts = []
        for c in column.chunks:
            codes = c.indices.fill_null(-1) if c.null_count else c.indices
            parts.append(codes.to_numpy(zero_copy_only=False).astype(np.int32, copy=False))
        codes = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        values = column.chunk(0).dictionary.cast(pa.string())
        if values.null_count:     # a null held in the dictionary is a null all the same
            codes[np.isin(codes, np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False)))] = -1
        return cls(codes, values)

    def code_of(self, names: Sequence[str], null: bool = False) -> np.ndarray:
        """A boolean per code, whether its value is in ``names``, and one more, last, for null
        (``null``): indexed by the codes, -1 reads it."""
        names = set(names)
        return np.array([v in names for v in self.values.to_pylist()] + [null], dtype=np.bool_)

    def dictionary(self, codes: np.ndarray) -> pa.DictionaryArray:
        """A dictionary array of ``codes`` (-1: null) over these values."""
        null = codes < 0
        return pa.DictionaryArray.from_arrays(
            pa.array(np.where(null, 0, codes).astype(np.int32), pa.int32(), mask=null if null.any() else None),
            self.values)


def read_events(events, columns: Sequence[str] = EVENT_COLUMNS) -> pa.Table:
    """The event ``columns`` of a DataFrame or one Parquet file as Arrow (text columns
    dictionary-encoded, as the file holds them), without rows lacking a customer or a time (as the
    SQL reads them); when some are dropped, each row's source position is ``src_row`` (else a
    row's position is its own). A column the events lack is all null, and named in the table's
    metadata (``cxlib.absent``)."""
    if isinstance(events, (str, Path)):
        import pyarrow.parquet as pq
        path = Path(events)
        if not path.exists():
            raise FileNotFoundError(f"{path}: events file not found")
        names = set(pq.read_schema(path).names)
        missing = [c for c in ("customer_id", "timestamp", "touchpoint") if c not in names]
        if missing:
            raise ValueError(f"{path}: missing required column(s) {missing}; found {sorted(names)}")
        present = [c for c in columns if c in names]
        table = pq.read_table(path, columns=present, read_dictionary=[c for c in present if c != "timestamp"])
    else:
        missing = [c for c in ("customer_id", "timestamp", "touchpoint") if c not in events.columns]
        if missing:
            raise ValueError(f"events: missing required column(s) {missing}; found {list(events.columns)}")
        present = [c for c in columns if c in events.columns]
        table = pa.Table.from_pandas(events[present], preserve_index=False)
    if not takes(table.schema):
        raise ValueError(f"{events if isinstance(events, (str, Path)) else 'events'}: the compiled passes take text "
                         "ids and labels and a timestamp column; found "
                         + ", ".join(f"{f.name}: {f.type}" for f in table.schema) + " (engine='duckdb' takes any)")
    absent = [c for c in columns if c not in table.column_names]
    for c in absent:   # typed as DuckDB types them: text from a file, untyped from a DataFrame
        table = table.append_column(c, pa.nulls(table.num_rows, pa.string() if isinstance(events, (str, Path))
                                                else pa.null()))
    table = table.replace_schema_metadata({b"cxlib.absent": ",".join(absent).encode()})
    if table["customer_id"].null_count or table["timestamp"].null_count:
        table = table.append_column("src_row", pa.array(np.arange(table.num_rows, dtype=np.int64)))
        table = table.filter(pc.and_(pc.is_valid(table["customer_id"]), pc.is_valid(table["timestamp"])))
    return table


def to_micros(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as int64 microseconds since the epoch (UTC, or wall time without a zone)."""
    unit_type = pa.timestamp("us", getattr(column.type, "tz", None))
    out = np.empty(len(column), np.int64)
    at = 0
    for chunk in column.chunks:
        if chunk.type.unit in ("s", "ms") and not chunk.null_count:
            np.multiply(chunk.view(pa.int64()).to_numpy(), 1_000_000 if chunk.type.unit == "s" else 1000,
                        out=out[at:at + len(chunk)])
        else:    # finer times are cut to the microsecond, as DuckDB reads them
            out[at:at + len(chunk)] = pc.cast(chunk, unit_type, safe=False).view(pa.int64()) \
                .to_numpy(zero_copy_only=False)
        at += len(chunk)
    return out


def _sort_events(rank, micros, n_customers):
    """The order of the events by customer ``rank``, time and position: a counting sort by
    customer, then each customer's events by time (most are already in order, and few)."""
    n = len(rank)
    start = np.zeros(n_customers + 1, np.int64)
    for i in range(n):
        start[rank[i] + 1] += 1
    for c in range(n_customers):
        start[c + 1] += start[c]
    fill = start[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        order[fill[rank[i]]] = i
        fill[rank[i]] += 1
    for c in range(n_customers):
        a, b = start[c], start[c + 1]
        in_order = True
        for k in range(a + 1, b):
            if micros[order[k]] < micros[order[k - 1]]:
                in_order = False
                break
        if in_order:
            continue
        if b - a <= 32:     # insertion sort; stable: an event passes only later times
            for k in range(a + 1, b):
                e = order[k]
                m = k - 1
                while m >= a and micros[order[m]] > micros[e]:
                    order[m + 1] = order[m]
                    m -= 1
                order[m + 1] = e
        else:
            seg = order[a:b].copy()
            order[a:b] = seg[np.argsort(micros[seg], kind="mergesort")]
    return order


def sort_events(customer_rank: np.ndarray, micros: np.ndarray, n_customers: int) -> np.ndarray:
    """The order of the events by customer rank, time and position (their source row); stable."""
    return _kernel("_sort_events")(customer_rank, micros, n_customers)


# --------------------------------------------------------------------------- the passes

def _njit(f):
    """``f`` compiled (once per process; numba caches the machine code on disk), releasing the GIL:
    the tables' slices are built on threads beside the writers."""
    import numba
    return numba.njit(cache=True, nogil=True)(f)


def _case_types(case, tp, n_cases, def_rows, def_start):
    """Per case: its first event and its type (-1: none matches): the type whose start touchpoints
    the case holds, then the most matching definition rows, then the first in config order."""
    n_types = def_rows.shape[1]
    null_row = def_rows.shape[0] - 1
    first = np.full(n_cases, -1, np.int64)
    count = np.zeros((n_cases, n_types), np.int64)
    starts = np.zeros((n_cases, n_types), np.bool_)
    for i in range(len(case)):
        c = case[i]
        if c < 0:
            continue
        if first[c] < 0:
            first[c] = i
        code = tp[i] if tp[i] >= 0 else null_row
        for j in range(n_types):
            count[c, j] += def_rows[code, j]
            if def_start[code, j]:
                starts[c, j] = True
    kind = np.full(n_cases, -1, np.int64)
    for c in range(n_cases):
        best = -np.inf
        for j in range(n_types):
            if count[c, j] > 0:
                score = (1e9 if starts[c, j] else 0.0) + count[c, j] * 1e3 - j
                if score > best:
                    best = score
                    kind[c] = j
    return first, kind


def _assign(cust, t, tp, case, case_first, case_kind, def_rows, def_start, def_end, max_s, gap_s):
    """Each event's journey (the position of its first event) and type (the number of journey types:
    unclassified) and how it was assigned (0 case, 1 definition, 2 episode); events in (customer,
    time, source row) order. The rules of :mod:`cxlib.journeys.reconstruct`, pass by pass."""
    n = len(cust)
    n_types = def_rows.shape[1]
    null_row = def_rows.shape[0] - 1
    jid = np.full(n, -1, np.int64)
    kind = np.full(n, n_types, np.int32)
    how = np.full(n, 2, np.int8)
    for i in range(n):    # 1. cases
        c = case[i]
        if c >= 0:
            jid[i] = case_first[c]
            if case_kind[c] >= 0:
                kind[i] = case_kind[c]
            how[i] = 0
    # 2. definitions: per type, its instances (one event opens at most one: the first type listed)
    # the events a definition may take: no case id, a touchpoint of some journey type
    of_a_type = np.zeros(def_rows.shape[0], np.bool_)
    for code in range(def_rows.shape[0]):
        for j in range(n_types):
            if def_rows[code, j] > 0:
                of_a_type[code] = True
    candidates = np.empty(n, np.int64)
    n_candidates = 0
    for i in range(n):
        if case[i] < 0 and of_a_type[tp[i] if tp[i] >= 0 else null_row]:
            candidates[n_candidates] = i
            n_candidates += 1
    taken = np.zeros(n, np.bool_)
    best = np.full(n, -1, np.int64)
    inst = np.empty(n, np.int64)
    span = np.empty(n, np.float64)
    ends = np.empty(n, np.int64)
    for j in range(n_types):
        n_inst = 0
        n_ends = 0
        cur = -1
        prev_role = 0          # 0 none, 1 start, 2 end
        prev_t = 0.0
        for c in range(n_candidates):
            i = candidates[c]
            code = tp[i] if tp[i] >= 0 else null_row
            s = def_start[code, j]
            e = def_end[code, j]
            if not (s or e):
                continue
            if cust[i] != cur:
                cur = cust[i]
                prev_role = 0
            if s:   # an event that both starts and ends the type: the start first
                if (prev_role == 0 or prev_role == 2 or t[i] - prev_t > max_s[j]) and not taken[i]:
                    taken[i] = True
                    inst[n_inst] = i
                    n_inst += 1
                prev_role = 1
                prev_t = t[i]
            if e:
                ends[n_ends] = i
                n_ends += 1
                prev_role = 2
                prev_t = t[i]
        # each instance runs to its latest end within its limit (its maximum duration, and before
        # the next instance of the customer); without one, to the limit
        q = 0
        for k in range(n_inst):
            a = inst[k]
            limit = t[a] + max_s[j]
            if k + 1 < n_inst and cust[inst[k + 1]] == cust[a]:
                limit = min(limit, t[inst[k + 1]] - 1e-6)
            while q < n_ends and (cust[ends[q]] < cust[a] or (cust[ends[q]] == cust[a] and t[ends[q]] <= limit)):
                q += 1
            span[k] = limit
            if q > 0:
                b = ends[q - 1]
                if cust[b] == cust[a] and t[b] >= t[a]:
                    span[k] = t[b]
        # every event of the type's touchpoints joins the latest instance that started by its time,
        # if its span holds it (earlier instances end before the next starts)
        q = 0
        for c in range(n_candidates):
            i = candidates[c]
            code = tp[i] if tp[i] >= 0 else null_row
            if def_rows[code, j] == 0:
                continue
            while q < n_inst and (cust[inst[q]] < cust[i] or (cust[inst[q]] == cust[i] and t[inst[q]] <= t[i])):
                q += 1
            if q > 0:
                a = inst[q - 1]
                if cust[a] == cust[i] and t[i] <= span[q - 1] and a > best[i]:
                    best[i] = a
                    kind[i] = j
    for i in range(n):
        if best[i] >= 0:
            jid[i] = best[i]
            how[i] = 1
    # 3. everything else: episodes split by an inactivity gap
    cur = -1
    last_t = 0.0
    first = 0
    for i in range(n):
        if jid[i] >= 0:
            continue
        if cust[i] != cur or t[i] - last_t > gap_s:
            cur = cust[i]
            first = i
        jid[i] = first
        last_t = t[i]
    return jid, kind, how


def _journey_order(jid):
    """The events in journey order (journeys by their first event, events in order within each): a
    counting sort, stable; and the number of journeys."""
    n = len(jid)
    count = np.zeros(n + 1, np.int64)
    for i in range(n):
        count[jid[i] + 1] += 1
    n_journeys = 0
    for k in range(1, n + 1):
        if count[k] > 0:
            n_journeys += 1
        count[k] += count[k - 1]
    order = np.empty(n, np.int64)
    for i in range(n):
        order[count[jid[i]]] = i
        count[jid[i]] += 1
    return order, n_journeys


def _steps(order, at, jid, how, kind, micros, rank, tp, channel, department, reason, contact, notification,
           failing_outcome, failing_tp, type_end, repeat_s, n_journeys, n_tp, n_reasons):
    """One loop over the events in journey order: each step's measures and each journey's row.
    ``order`` holds each step's position in (customer, time) order, where ``jid``, ``how`` and
    ``kind`` are; ``at`` its row in the events read, where the other event arrays are. Label codes
    are -1 for null; the lookup tables (``failing_tp``, ``type_end``) hold a last entry for null."""
    n = len(order)
    step = np.empty(n, np.int32)
    wait = np.full(n, np.nan)
    prev_tp = np.full(n, -1, np.int32)
    prev_ch = np.full(n, -1, np.int32)
    handoff = np.zeros(n, np.bool_)
    switch = np.zeros(n, np.bool_)
    repeat = np.zeros(n, np.bool_)
    rework = np.zeros(n, np.bool_)
    failed = np.zeros(n, np.bool_)
    first = np.empty(n_journeys, np.int64)      # the step of each journey's first event, and its last
    last = np.empty(n_journeys, np.int64)
    named = np.full(n_journeys, -1, np.int64)  # its last step with a touchpoint (SQL's arg_max skips nulls)
    lo = np.empty(n_journeys, np.int64)         # its first and last time, its first customer (by text)
    hi = np.empty(n_journeys, np.int64)
    customer = np.empty(n_journeys, np.int32)
    reached = np.zeros(n_journeys, np.bool_)
    n_channels = np.zeros(n_journeys, np.int32)
    n_departments = np.zeros(n_journeys, np.int32)
    n_switches = np.zeros(n_journeys, np.int32)
    n_handoffs = np.zeros(n_journeys, np.int32)
    n_repeats = np.zeros(n_journeys, np.int32)
    n_rework = np.zeros(n_journeys, np.int32)
    n_failed = np.zeros(n_journeys, np.int32)
    max_wait = np.full(n_journeys, np.nan)
    tp_seen = np.full(n_tp + 1, -1, np.int64)            # the journey that last had each touchpoint (null last)
    reason_seen = np.full(n_reasons + 1, -1, np.int64)   # ... that last had a contact about each reason
    reason_t = np.zeros(n_reasons + 1)
    ch_seen = np.full(np.int64(channel.max() + 2) if n else 1, -1, np.int64)
    dep_seen = np.full(np.int64(department.max() + 2) if n else 1, -1, np.int64)
    k = -1
    for r in range(n):
        i = order[r]
        e = at[r]
        m = micros[e]
        if r == 0 or jid[i] != jid[order[r - 1]]:
            k += 1
            first[k] = r
            step[r] = 1
            lo[k] = m
            hi[k] = m
            customer[k] = rank[e]
        else:
            p = at[r - 1]
            step[r] = step[r - 1] + 1
            w = (m / 1e6 - micros[p] / 1e6) / 86400
            wait[r] = w
            if np.isnan(max_wait[k]) or w > max_wait[k]:
                max_wait[k] = w
            lo[k] = min(lo[k], m)
            hi[k] = max(hi[k], m)
            customer[k] = min(customer[k], rank[e])
            prev_tp[r] = tp[p]
            prev_ch[r] = channel[p]
            if department[e] != department[p]:
                handoff[r] = True
                n_handoffs[k] += 1
            if channel[e] != channel[p]:
                switch[r] = True
                n_switches[k] += 1
        last[k] = r
        if tp[e] >= 0:
            named[k] = r
        code = tp[e] if tp[e] >= 0 else n_tp
        if tp_seen[code] == k and not notification[e]:
            rework[r] = True
            n_rework[k] += 1
        tp_seen[code] = k
        if contact[e]:
            c = reason[e]
            if reason_seen[c] == k and m / 1e6 - reason_t[c] <= repeat_s:
                repeat[r] = True
                n_repeats[k] += 1
            reason_seen[c] = k
            reason_t[c] = m / 1e6
        if (failing_outcome[e] or failing_tp[code]) and (step[r] > 1 or how[i] == 2):
            failed[r] = True
            n_failed[k] += 1
        if type_end[kind[i], code]:
            reached[k] = True
        if channel[e] >= 0 and ch_seen[channel[e]] != k:
            ch_seen[channel[e]] = k
            n_channels[k] += 1
        if department[e] >= 0 and dep_seen[department[e]] != k:
            dep_seen[department[e]] = k
            n_departments[k] += 1
    return (step, wait, prev_tp, prev_ch, handoff, switch, repeat, rework, failed, first, last, named, lo, hi, customer,
            reached, n_channels, n_departments, n_switches, n_handoffs, n_repeats, n_rework, n_failed, max_wait)


def _take(values, at):
    """``values[at]``, without holding the GIL."""
    out = np.empty(len(at), values.dtype)
    for r in range(len(at)):
        out[r] = values[at[r]]
    return out


def _take_codes(codes, at):
    """``codes[at]`` with nulls (-1) as 0, and where they are: a dictionary array's indices and mask."""
    out = np.empty(len(at), np.int32)
    null = np.empty(len(at), np.bool_)
    for r in range(len(at)):
        c = codes[at[r]]
        null[r] = c < 0
        out[r] = max(c, 0)
    return out, null


_KERNELS: dict = {}
_KERNELS_LOCK = threading.Lock()


def _kernel(name: str):
    """The compiled pass ``name`` (compiled once per process, whichever thread asks first; numba
    caches it on disk)."""
    with _KERNELS_LOCK:
        if name not in _KERNELS:
            _KERNELS[name] = _njit(globals()[name])
        return _KERNELS[name]


def _definition_tables(definitions: Mapping[str, JourneyDefinition], touchpoints: Labels):
    """Per touchpoint code (one row more, last, for null) and journey type: how many definition
    rows (start, end, member) it has, whether it starts and whether it ends the type."""
    at = {v: i for i, v in enumerate(touchpoints.values.to_pylist())}
    shape = (len(at) + 1, len(definitions))
    rows, start, end = np.zeros(shape, np.int64), np.zeros(shape, np.bool_), np.zeros(shape, np.bool_)
    for j, d in enumerate(definitions.values()):
        for role, names in (("start", d.start), ("end", d.end), ("member", d.touchpoints)):
            for tp in dict.fromkeys(names):
                if tp in at:
                    rows[at[tp], j] += 1
                    if role == "start":
                        start[at[tp], j] = True
                    elif role == "end":
                        end[at[tp], j] = True
    return rows, start, end


def _timestamps(micros: np.ndarray, like: pa.DataType) -> pa.Array:
    return pa.array(micros, pa.int64()).cast(pa.timestamp("us", getattr(like, "tz", None)))


def _floats(x: np.ndarray) -> pa.Array:
    null = np.isnan(x)
    return pa.array(x, pa.float64(), mask=null if null.any() else None)


def reconstruct_on_arrays(events, definitions: Mapping[str, JourneyDefinition], *, gap_days: float = 14,
                          repeat_window_days: float = 7, failure_outcomes: Sequence[str] = (),
                          failure_touchpoints: Sequence[str] = (), timings: dict | None = None,
                          progress: bool = False) -> "PassResult":
    """The journeys of ``events`` (a DataFrame or one Parquet file), as the SQL of
    :func:`~cxlib.journeys.reconstruct.reconstruct_journeys` finds them: a :class:`PassResult`,
    whose step and journey tables are in journey order (and step order within). See the module.
    ``timings`` gets seconds per phase (printed with ``progress``)."""
    import time
    timings = {} if timings is None else timings

    def done(name: str, t0: float) -> None:
        timings[name] = time.perf_counter() - t0
        if progress:
            print(f"  journeys: {name} ({timings[name]:.1f} s)", flush=True)
    t0 = time.perf_counter()
    table = read_events(events)
    case_given = "case_id" not in table.schema.metadata[b"cxlib.absent"].decode().split(",")
    case_type = table.schema.field("case_id").type
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:     # Arrow works outside the GIL: the columns convert side by side
        coded = dict(zip(("customer_id", "case_id", *LABELS),
                         pool.map(Labels.from_arrow, [table[c] for c in ("customer_id", "case_id", *LABELS)])))
        micros = to_micros(table["timestamp"])
    cust, case = coded.pop("customer_id"), coded.pop("case_id")
    labels = coded
    ts_type = table.schema.field("timestamp").type
    src_row = table["src_row"].to_numpy() if "src_row" in table.column_names else None
    del table
    done("read events", t0)

    t0 = time.perf_counter()
    take = _kernel("_take")
    by_text = pc.sort_indices(cust.values).to_numpy()      # customers in the order of their text, byte by byte
    rank = np.empty(len(by_text), np.int32)
    rank[by_text] = np.arange(len(by_text), dtype=np.int32)
    customers = Labels(take(rank, cust.codes), cust.values.take(pa.array(by_text)))
    sort = sort_events(customers.codes, micros, len(by_text))
    cu, mi, tp, cs = (take(a, sort) for a in (customers.codes, micros, labels["touchpoint"].codes, case.codes))
    done("sort events", t0)

    t0 = time.perf_counter()
    types = list(definitions)
    def_rows, def_start, def_end = _definition_tables(definitions, labels["touchpoint"])
    max_s = np.array([float(d.max_duration_days) * 86400 for d in definitions.values()], np.float64)
    case_first, case_kind = _kernel("_case_types")(cs, tp, len(case.values), def_rows, def_start)
    jid, kind, how = _kernel("_assign")(cu, mi / 1e6, tp, cs, case_first, case_kind, def_rows, def_start,
                                         def_end, max_s, float(gap_days) * 86400)
    del cu, mi, tp, cs
    order, n_journeys = _kernel("_journey_order")(jid)
    at = take(sort, order)           # each step's row in the events read
    del sort
    done("assign events", t0)

    t0 = time.perf_counter()
    code = {c: labels[c].codes for c in LABELS}
    notification = labels["kind"].code_of(["notification"])[code["kind"]]
    # a contact the customer made about a reason (a null kind is a contact, a null initiator the customer)
    contact = (code["contact_reason"] >= 0) & labels["kind"].code_of(["contact"], null=True)[code["kind"]] \
        & labels["initiated_by"].code_of(["customer"], null=True)[code["initiated_by"]]
    failing_outcome = labels["outcome"].code_of(failure_outcomes)[code["outcome"]]
    failing_tp = labels["touchpoint"].code_of(failure_touchpoints)
    type_end = np.zeros((len(types) + 1, def_end.shape[0]), np.bool_)
    type_end[:len(types)] = def_end.T
    (step, wait, prev_tp, prev_ch, handoff, switch, repeat, rework, failed, first, last, named, lo, hi, first_customer,
     reached, n_channels, n_departments, n_switches, n_handoffs, n_repeats, n_rework, n_failed, max_wait) = \
        _kernel("_steps")(order, at, jid, how, kind, micros, customers.codes, code["touchpoint"], code["channel"],
                          code["department"], code["contact_reason"], contact, notification, failing_outcome,
                          failing_tp, type_end, float(repeat_window_days) * 86400, n_journeys,
                          len(labels["touchpoint"].values), len(labels["contact_reason"].values))
    del notification, contact, failing_outcome
    done("steps", t0)

    return PassResult(
        types=pa.array([*types, UNCLASSIFIED], pa.string()), ts_type=ts_type, case_given=case_given,
        case_type=case_type, customers=customers, case=case, labels=labels, src_row=src_row, micros=micros,
        order=order, at=at, jid=jid, kind=kind, how=how,
        step=step, wait=wait, prev_tp=prev_tp, prev_ch=prev_ch, handoff=handoff, switch=switch, repeat=repeat,
        rework=rework, failed=failed, first=first, last=last, named=named, lo=lo, hi=hi,
        first_customer=first_customer, reached=reached, n_channels=n_channels, n_departments=n_departments,
        n_switches=n_switches,
        n_handoffs=n_handoffs, n_repeats=n_repeats, n_rework=n_rework, n_failed=n_failed, max_wait=max_wait)


@dataclass
class PassResult:
    """What the passes computed, as arrays: the step and journey tables are built from it a slice
    at a time (:meth:`step_batches`, :meth:`journey_batches`), so a large log's tables can be
    written without ever being whole in memory (:meth:`write`)."""

    types: pa.Array
    ts_type: pa.DataType
    case_given: bool        # whether the events had case ids (else the column is all null, typed as SQL's)
    case_type: pa.DataType
    customers: Labels
    case: Labels
    labels: dict
    src_row: np.ndarray | None   # each event's row in the source (None: its position among the events read)
    micros: np.ndarray
    order: np.ndarray       # per step (journey order): its position in (customer, time) order ...
    at: np.ndarray          # ... and its row in the events read
    jid: np.ndarray         # per event, in (customer, time) order
    kind: np.ndarray
    how: np.ndarray
    step: np.ndarray        # per step
    wait: np.ndarray
    prev_tp: np.ndarray
    prev_ch: np.ndarray
    handoff: np.ndarray
    switch: np.ndarray
    repeat: np.ndarray
    rework: np.ndarray
    failed: np.ndarray
    first: np.ndarray       # per journey: its first and last step
    last: np.ndarray
    named: np.ndarray       # its last step with a touchpoint (-1: none)
    lo: np.ndarray
    hi: np.ndarray
    first_customer: np.ndarray
    reached: np.ndarray
    n_channels: np.ndarray
    n_departments: np.ndarray
    n_switches: np.ndarray
    n_handoffs: np.ndarray
    n_repeats: np.ndarray
    n_rework: np.ndarray
    n_failed: np.ndarray
    max_wait: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.order)

    @property
    def n_journeys(self) -> int:
        return len(self.first)

    def step_batches(self, rows: int = 1 << 20):
        """The step table, ``rows`` steps at a time (Arrow record batches, labels as dictionaries)."""
        take = _kernel("_take")
        for a in range(0, max(self.n_events, 1), rows):   # an empty table is one empty batch
            b = min(a + rows, self.n_events)
            order, at = self.order[a:b], self.at[a:b]
            yield pa.RecordBatch.from_pydict({
                "journey_id": take(self.jid, order) + 1,
                "journey_type": _categories(take(self.kind, order), self.types),
                "assigned_by": _categories(take(self.how, order), _ASSIGNED_BY),
                "eid": order + 1, "event_row": at if self.src_row is None else take(self.src_row, at),
                "customer_id": _slice_dictionary(self.customers, at),
                "timestamp": _timestamps(take(self.micros, at), self.ts_type), "step": self.step[a:b].astype(np.int64),
                **{c: _dictionary(self.labels[c], at) for c in ("touchpoint", "channel", "department",
                                                                  "contact_reason", "outcome")},
                "case_id": self._cases(at),
                **{c: _dictionary(self.labels[c], at) for c in ("kind", "initiated_by")},
                "wait_days": _floats(self.wait[a:b]),
                "prev_touchpoint": self.labels["touchpoint"].dictionary(self.prev_tp[a:b]),
                "handoff": self.handoff[a:b], "channel_switch": self.switch[a:b],
                "prev_channel": self.labels["channel"].dictionary(self.prev_ch[a:b]),
                "repeat_contact": self.repeat[a:b], "rework": self.rework[a:b], "failed_step": self.failed[a:b]})

    def journey_batches(self, rows: int = 1 << 20):
        """The journey table, ``rows`` journeys at a time; ``reached_end`` where the SQL's
        written table has it (:func:`~cxlib.journeys.reconstruct.reconstruct_journeys` with
        ``to_pandas=False``)."""
        take = _kernel("_take")
        for a in range(0, max(self.n_journeys, 1), rows):
            b = min(a + rows, self.n_journeys)
            first, last = self.first[a:b], self.last[a:b]
            order = take(self.order, first)
            lo, hi = self.lo[a:b], self.hi[a:b]
            length = last - first + 1
            yield pa.RecordBatch.from_pydict({
                "journey_id": take(self.jid, order) + 1,
                "journey_type": _categories(take(self.kind, order), self.types),
                "assigned_by": _categories(take(self.how, order), _ASSIGNED_BY),
                "customer_id": _slice_dictionary(self.customers, None, self.first_customer[a:b]),
                "case_id": self._cases(take(self.at, first)),
                "start": _timestamps(lo, self.ts_type), "end": _timestamps(hi, self.ts_type),
                "duration_days": (hi / 1e6 - lo / 1e6) / 86400, "reached_end": self.reached[a:b],
                "n_touchpoints": length, "n_distinct_touchpoints": length - self.n_rework[a:b],
                # counted in 32 bits (less memory held while the tables are written), written in 64 as SQL's
                **{name: getattr(self, field)[a:b].astype(np.int64) for name, field in (
                    ("n_channels", "n_channels"), ("n_channel_switches", "n_switches"),
                    ("n_departments", "n_departments"), ("n_handoffs", "n_handoffs"),
                    ("n_repeat_contacts", "n_repeats"), ("n_rework", "n_rework"), ("n_failed_steps", "n_failed"))},
                "max_wait_days": _floats(self.max_wait[a:b]),
                "last_touchpoint": self._last_touchpoints(self.named[a:b])})

    def _cases(self, at: np.ndarray) -> pa.Array:
        return _slice_dictionary(self.case, at) if self.case_given else pa.nulls(len(at), self.case_type)

    def _last_touchpoints(self, named: np.ndarray) -> pa.DictionaryArray:
        touchpoints = self.labels["touchpoint"]
        codes = touchpoints.codes[self.at[np.maximum(named, 0)]] if len(named) else np.zeros(0, np.int32)
        return touchpoints.dictionary(np.where(named >= 0, codes, -1))

    def steps_table(self) -> pa.Table:
        return _whole(self.step_batches())

    def journeys_table(self) -> pa.Table:
        return _whole(self.journey_batches())

    def write(self, steps_path: str | Path, journeys_path: str | Path) -> None:
        """Write both tables as Parquet, each on a thread of its own, a slice at a time: labels as
        dictionary-encoded strings (a reader sees text), statistics for the other columns."""
        errors = []

        def run(batches, path):
            try:
                write_batches(produce_ahead(batches), path)
            except BaseException as e:   # raised below, on the caller's thread
                errors.append(e)
        threads = [threading.Thread(target=run, args=(self.step_batches(), steps_path)),
                   threading.Thread(target=run, args=(self.journey_batches(), journeys_path))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]


def produce_ahead(items, depth: int = 2):
    """``items`` (an iterator), produced on a thread of their own up to ``depth`` ahead of the
    consumer: the next slice of a table is built while the last is written."""
    import queue
    box: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((done, None))
        except BaseException as e:
            box.put((done, e))
    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item, error = box.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()


_ASSIGNED_BY = pa.array(ASSIGNED_BY, pa.string())


def _categories(codes: np.ndarray, names: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), names)


def _dictionary(values: Labels, at: np.ndarray) -> pa.DictionaryArray:
    """The labels of the event rows ``at``, over all the column's values."""
    indices, null = _kernel("_take_codes")(values.codes, at)
    return pa.DictionaryArray.from_arrays(pa.array(indices, mask=null if null.any() else None), values.values)


def _slice_dictionary(values: Labels, at: np.ndarray | None, codes: np.ndarray | None = None) -> pa.DictionaryArray:
    """The labels of the event rows ``at`` (or the ``codes``) over only the values between their
    least and greatest code: a slice of customers or cases holds a narrow range of a large
    dictionary, and each written row group then holds its own values only."""
    if codes is None:
        codes = _kernel("_take")(values.codes, at)
    valid = codes[codes >= 0]
    lo, hi = (int(valid.min()), int(valid.max())) if len(valid) else (0, -1)
    null = codes < 0
    indices = np.where(null, 0, codes - lo).astype(np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(indices, mask=null if null.any() else None),
                                          values.values.slice(lo, hi - lo + 1))


def _whole(batches) -> pa.Table:
    """One table of ``batches``, each dictionary column over one dictionary."""
    table = pa.Table.from_batches(list(batches))
    return table.unify_dictionaries() if table.num_rows else table


def write_batches(batches, path: str | Path, schema: pa.Schema | None = None) -> None:
    """Write record ``batches`` (labels as dictionaries) to one Parquet file, a row group each;
    without any, an empty table of ``schema``."""
    import pyarrow.parquet as pq
    writer = None
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        if schema is None:
            raise ValueError(f"{path}: no batches to write and no schema")
        first = pa.RecordBatch.from_pylist([], schema=schema)
    import itertools
    try:
        for batch in itertools.chain([first], batches):
            if writer is None:
                names = batch.schema.names
                labels = [f.name for f in batch.schema if pa.types.is_dictionary(f.type)]
                numbers = [f.name for f in batch.schema if pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type)]
                # ids, steps, counts and times are nearly sorted or small: their differences, bit-packed
                # and not compressed, write in less time (and space) than compressing them (the step
                # table at 10M events: 2.0 s and 168 MB against 2.5 s and 272 MB). The labels'
                # statistics would cost a second more, and no reader filters on them; without the
                # Arrow schema the labels read back as text.
                writer = pq.ParquetWriter(str(path), batch.schema, store_schema=False, use_dictionary=labels,
                                          column_encoding={c: "DELTA_BINARY_PACKED" for c in numbers},
                                          compression="none", write_statistics=[c for c in names if c not in labels],
                                          write_batch_size=1 << 16)   # 1,024 rows a call: 0.15 s more at 10M
            writer.write_batch(batch, row_group_size=max(batch.num_rows, 1))
    finally:
        if writer is not None:
            writer.close()
