"""Journey reconstruction: scattered touchpoints become journey instances.

The rules are stated once in SQL, the reference, which DuckDB and Spark run; a log that fits in
memory is rebuilt in compiled passes to the same tables (:mod:`cxlib.journeys.passes`,
:func:`choose_engine`). The event-level SQL runs in DuckDB (over a DataFrame or Parquet files) and is
purely relational: joins, one shared window per pass and aggregates, with no
Python loop over customers, so the same SQL can move to a distributed engine. An
unclassified episode of one event (a bill, a one-off call: often most of a log) is
recognised by the episode window itself and written without the step window or the
journey aggregate, which only the journeys of several events need.

Three rules assign every event to exactly one journey instance:

1. **Case ids.** Events that carry a ``case_id`` (a ticket, an order) form one
   instance per case. Its type is the configured journey whose start touchpoints
   the case contains (then: most matching touchpoints, then config order);
   cases that match no definition are typed ``unclassified``.
2. **Definitions.** Among events without a case id, a start touchpoint of type T
   opens an instance of T unless an instance of T is still open for that customer
   (the previous start/end marker of T was a start, less than ``max_duration_days``
   earlier), in which case it is a repeat inside that instance. The instance runs
   to its last end touchpoint within ``max_duration_days`` (and before the next
   instance of T). Every event whose touchpoint belongs to T and falls inside that
   span joins it; when several instances could take an event, the one that
   started most recently wins.
3. **Episodes.** Events that fit neither become ``unclassified`` episodes, split
   per customer by an inactivity gap (``unclassified_gap_days``, default 14).

:func:`reconstruct_journeys` returns a :class:`Journeys` with the step table
(one row per event, with waits, handoffs, repeats and rework) and the journey
table (one row per instance).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import duckdb
import pandas as pd

from cxlib.core.lookup import is_in, map_values, take_values
from cxlib.core.config import JourneyDefinition
from cxlib.core.sql import (ParquetTable, arrow_to_pandas, open_duckdb, parquet_rows_sql, query_frames, select_columns,
                             sql_literal)

log = logging.getLogger(__name__)

UNCLASSIFIED = "unclassified"
FAILURE_OUTCOMES = ("failed", "incorrect", "unresolved", "abandoned")
"""Step outcomes that count as a failed step (first-time-right is broken)."""

EVENT_COLUMNS = ("customer_id", "timestamp", "channel", "touchpoint", "department",
                 "contact_reason", "outcome", "case_id", "kind", "initiated_by")


@dataclass
class Journeys:
    """The result of :func:`reconstruct_journeys`.

    ``steps``: one row per event (journey_id, journey_type, step, wait_days, handoff, ...);
    ``event_row`` is the event's row in the events it was read from (its position in a
    DataFrame or a single Parquet file; file number × 10¹² + row for several files).
    ``journeys``: one row per journey instance.
    ``timings``: seconds per phase, for benchmarks and progress output.
    """

    steps: pd.DataFrame | None
    journeys: pd.DataFrame | None
    definitions: dict[str, JourneyDefinition]
    timings: dict[str, float] = field(default_factory=dict)
    n_events: int = 0
    n_journeys: int = 0
    engine_steps: object = None
    """With ``lazy_steps``, the step table where the engine left it: a Spark DataFrame on Spark,
    a Parquet file (:class:`~cxlib.core.sql.ParquetTable`) from DuckDB. Statistics over events
    (variants, the directly-follows graph) run there rather than on a pandas copy."""
    unclassified: object = None
    """With ``lazy_unclassified``, the unclassified episodes kept apart from ``journeys`` (which
    then holds the typed journeys only): DuckDB's Parquet file, or a pandas frame (Spark). They are
    most rows of a large log and no statistic reads them; :meth:`write` puts both in one file."""

    def count_journeys(self) -> int:
        """Every journey instance, the unclassified episodes kept apart included."""
        return len(self.journeys) + (len(self.unclassified) if self.unclassified is not None else 0)

    def has_paths(self) -> bool:
        """Whether any journey, typed or not, has more than one step."""
        if len(self.journeys) and (self.journeys["n_touchpoints"] > 1).any():
            return True
        u = self.unclassified
        if u is None or not len(u):
            return False
        if isinstance(u, pd.DataFrame):
            return bool((u["n_touchpoints"] > 1).any())
        return bool(query_frames("SELECT coalesce(max(n_touchpoints), 0) > 1 AS p FROM u",
                                 u=u.select("n_touchpoints"))["p"].iloc[0])

    @property
    def live_steps(self):
        """The step table where it lives: the Spark DataFrame or the Parquet file, else the pandas
        table. The statistics of :mod:`cxlib.journeys.stats` take each."""
        return self.engine_steps if self.engine_steps is not None else self.steps

    def fetch_steps(self) -> pd.DataFrame:
        """The step table as pandas, sorted by journey and step; with ``lazy_steps`` it is read
        on the first call (from the cluster, or the Parquet file; a large client's may not fit)."""
        if self.steps is None and isinstance(self.engine_steps, ParquetTable):
            self.steps = self.engine_steps.to_pandas()
        elif self.steps is None and self.engine_steps is not None:
            from cxlib.core.spark import to_pandas as spark_to_pandas
            self.steps = spark_to_pandas(self.engine_steps.orderBy("journey_id", "step"))
        return self.steps

    @property
    def coverage(self) -> float:
        """Share of events assigned to a typed (configured) journey."""
        steps = self.fetch_steps()
        n = len(steps)
        return float((steps["journey_type"] != UNCLASSIFIED).sum() / n) if n else float("nan")

    def write(self, journeys_path: str | Path, steps_path: str | Path) -> None:
        """Write the journey table and the step table as Parquet for later notebooks; on Spark
        the step table is written by Spark itself (a folder of parts, sorted by journey and step)."""
        write_journey_table(journeys_path, self.journeys, self.unclassified)
        self.write_steps(steps_path)

    def write_steps(self, path: str | Path) -> None:
        """Write the step table as Parquet: from Spark when it lives there (a folder of parts,
        sorted by journey and step), DuckDB's file when it left one, else from pandas (one file)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(self.engine_steps, ParquetTable):   # DuckDB wrote it, sorted: copied as it is
            import shutil
            _remove_folder(path)
            shutil.copyfile(self.engine_steps.path, path)
        elif self.engine_steps is not None:
            from cxlib.core.spark import write_parquet
            write_parquet(self.engine_steps.orderBy("journey_id", "step"), path)
        else:
            _remove_folder(path)   # a Spark run leaves a folder; this run writes one file there
            self.steps.to_parquet(path, index=False)


def write_journey_table(path: str | Path, journeys: pd.DataFrame, unclassified=None) -> None:
    """Write the journey table as one Parquet file: ``journeys`` (pandas, as
    :meth:`pandas.DataFrame.to_parquet` writes it), then the ``unclassified`` episodes kept apart
    (:attr:`Journeys.unclassified`: a Parquet file or a pandas frame), read and written a part
    at a time. Their columns that ``journeys`` lacks are dropped; the columns measured for typed
    journeys only (scores, churn) are null for them."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_folder(path)   # a Spark run may have left a folder here
    journeys = journeys.copy(deep=False)
    journeys.attrs = {}     # the span is the file's own: pandas would try to store it as JSON
    if unclassified is None:
        journeys.to_parquet(path, index=False)
        return
    typed = pa.Table.from_pandas(journeys, preserve_index=False)
    con = open_duckdb()
    try:
        if isinstance(unclassified, ParquetTable):   # DuckDB reads its file several times faster than pyarrow
            con.execute("SET TimeZone = 'UTC'")
            parts = con.sql(f"SELECT * FROM read_parquet({sql_literal(unclassified.path)})").to_arrow_reader(1 << 20)
            other = parts.schema
        else:
            table = pa.Table.from_pandas(unclassified, preserve_index=False)
            other, parts = table.schema, table.to_batches(max_chunksize=1 << 20)
        # a column of an empty (or all-null) typed table has no type of its own: the episodes' serves
        schema = pa.schema([pa.field(f.name, other.field(f.name).type)
                            if pa.types.is_null(f.type) and f.name in other.names else f for f in typed.schema],
                           metadata=typed.schema.metadata)
        with pq.ParquetWriter(path, schema) as out:
            out.write_table(typed.cast(schema))
            for part in parts:
                out.write_batch(pa.record_batch(
                    [part.column(f.name).cast(f.type) if f.name in part.schema.names else pa.nulls(len(part), f.type)
                     for f in schema], schema=schema))
    finally:
        con.close()


def _remove_folder(path: str | Path) -> None:
    import shutil
    if Path(path).is_dir():
        shutil.rmtree(path)


def read_journeys(journeys_path: str | Path, steps_path: str | Path | None = None, *, steps_in_place: bool = False,
                  typed_only: bool = False) -> tuple[pd.DataFrame, pd.DataFrame | ParquetTable | None]:
    """Read what :meth:`Journeys.write` wrote: ``(journeys, steps)``; without ``steps_path``
    only the journey table (``steps`` None: the step table is one row per event). With
    ``steps_in_place`` the step table stays in its file (a :class:`~cxlib.core.sql.ParquetTable`):
    the statistics that take it read it there, and only the columns they need come to pandas.
    With ``typed_only`` the journey table holds the typed journeys only (the unclassified
    episodes of a large log are most of its rows); ``attrs['span']`` keeps the first start and
    last end of the whole table (:func:`get_journey_span`)."""
    j = Path(journeys_path)
    if not j.exists():
        raise FileNotFoundError(f"{j}: no journey table; run notebooks/02_journeys first "
                                "(make report CLIENT=<client>)")
    typed = None
    if typed_only:
        import pyarrow.compute as pc
        typed = (pc.field("journey_type") != UNCLASSIFIED) | pc.field("journey_type").is_null()
    journeys = pd.read_parquet(j, filters=typed)
    if typed_only:
        import pyarrow.compute as pc
        import pyarrow.dataset as ds
        ends = ds.dataset(j, format="parquet").to_table(columns=["start", "end"])
        journeys.attrs["span"] = tuple(pd.Timestamp(v.as_py()) if v.is_valid else pd.NaT
                                       for v in (pc.min(ends["start"]), pc.max(ends["end"])))
    if steps_path is None:
        return journeys, None
    if steps_in_place and not Path(steps_path).exists():
        raise FileNotFoundError(f"{steps_path}: no step table; run notebooks/02_journeys first "
                                "(make report CLIENT=<client>)")
    return journeys, (ParquetTable(str(steps_path)) if steps_in_place else pd.read_parquet(steps_path))


def get_journey_span(journeys: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first start and last end of the journey table ``journeys`` came from: its
    ``attrs['span']`` when :func:`read_journeys` read only the typed journeys, else its own."""
    span = journeys.attrs.get("span")
    return span if span is not None else (journeys["start"].min(), journeys["end"].max())


# --------------------------------------------------------------------------- definitions

def definitions_frame(definitions: Mapping[str, JourneyDefinition]) -> pd.DataFrame:
    """One row per (journey type, touchpoint, role) with role start, end or member."""
    rows = []
    for prio, (jtype, d) in enumerate(definitions.items()):
        if jtype == UNCLASSIFIED:
            raise ValueError(f"journey type name {UNCLASSIFIED!r} is reserved for events that fit no definition")
        seen = set()
        for role, names in (("start", d.start), ("end", d.end), ("member", d.touchpoints)):
            for tp in names:
                if (tp, role) not in seen:
                    rows.append({"journey_type": jtype, "touchpoint": tp, "role": role,
                                 "max_days": float(d.max_duration_days), "prio": prio})
                    seen.add((tp, role))
    return pd.DataFrame(rows, columns=["journey_type", "touchpoint", "role", "max_days", "prio"])


# --------------------------------------------------------------------------- SQL

_ASSIGN_SQL = """
-- eid orders events by customer, then time, then source order: journeys can be keyed by
-- the eid of their first event and windows can order by one integer. It is the customer's
-- offset (events of the customers before it) plus the event's rank within the customer, so
-- no engine has to sort all events in one place: only the per-customer counts are ordered.
CREATE OR REPLACE TEMP TABLE ev AS
WITH per_customer AS (SELECT customer_id, count(*) AS n FROM src GROUP BY customer_id),
offsets AS (SELECT customer_id, CAST(sum(n) OVER (ORDER BY customer_id) - n AS BIGINT) AS base FROM per_customer)
SELECT o.base + CAST(row_number() OVER (PARTITION BY s.customer_id ORDER BY s."timestamp", s.src_row) AS BIGINT) AS eid,
       s.customer_id, s."timestamp" AS ts, epoch(s."timestamp") AS t,
       s.channel, s.touchpoint, s.department, s.contact_reason, s.outcome, s.case_id, s.kind, s.initiated_by,
       s.src_row AS event_row
FROM src s JOIN offsets o ON s.customer_id = o.customer_id;

-- 1. cases: one instance per case id, typed by the best-matching definition
CREATE OR REPLACE TEMP TABLE case_type AS
SELECT c.case_id, c.first_eid, m.journey_type
FROM (SELECT case_id, min(eid) AS first_eid FROM ev WHERE case_id IS NOT NULL GROUP BY case_id) c
LEFT JOIN (
    SELECT case_id, arg_max(journey_type, score) AS journey_type FROM (
        SELECT e.case_id, d.journey_type,
               max(CASE WHEN d.role = 'start' THEN 1 ELSE 0 END) * 1e9 + count(*) * 1e3 - min(d.prio) AS score
        FROM ev e JOIN defs d ON e.touchpoint = d.touchpoint
        WHERE e.case_id IS NOT NULL
        GROUP BY e.case_id, d.journey_type)
    GROUP BY case_id) m USING (case_id);

-- 2. definitions: start/end markers among events without a case id
CREATE OR REPLACE TEMP TABLE marks AS
SELECT e.eid, e.customer_id, e.t, d.journey_type, d.role, d.max_days * 86400 AS max_s
FROM ev e JOIN defs d ON e.touchpoint = d.touchpoint
WHERE e.case_id IS NULL AND d.role IN ('start', 'end');

CREATE OR REPLACE TEMP TABLE inst AS
WITH flagged AS (
    SELECT *, lag(role) OVER w AS prev_role, lag(t) OVER w AS prev_t
    FROM marks WINDOW w AS (PARTITION BY customer_id, journey_type ORDER BY eid)
), starts AS (  -- one event starts at most one instance: the first-listed type wins
    SELECT f.eid AS start_eid, f.customer_id, f.journey_type, f.t AS start_t, f.max_s
    FROM flagged f JOIN (SELECT DISTINCT journey_type, prio FROM defs) p USING (journey_type)
    WHERE f.role = 'start' AND (f.prev_role IS NULL OR f.prev_role = 'end' OR f.t - f.prev_t > f.max_s)
    QUALIFY row_number() OVER (PARTITION BY f.eid ORDER BY p.prio) = 1
), bounded AS (
    SELECT *, least(start_t + max_s,
                    coalesce(lead(start_t) OVER (PARTITION BY customer_id, journey_type ORDER BY start_eid)
                             - 1e-6, 'infinity'::DOUBLE)) AS limit_t
    FROM starts
)
SELECT b.*, m.end_t, coalesce(m.end_t, b.limit_t) AS span_end_t
FROM bounded b
LEFT JOIN (
    SELECT b2.start_eid, max(mk.t) AS end_t
    FROM bounded b2 JOIN marks mk
      ON mk.customer_id = b2.customer_id AND mk.journey_type = b2.journey_type AND mk.role = 'end'
     AND mk.t >= b2.start_t AND mk.t <= b2.limit_t
    GROUP BY b2.start_eid
) m USING (start_eid);

CREATE OR REPLACE TEMP TABLE def_assign AS
SELECT e.eid, arg_max(i.journey_type, i.start_eid * 1000 - i.prio) AS journey_type,
       max(i.start_eid) AS start_eid
FROM ev e
JOIN (SELECT DISTINCT touchpoint, journey_type FROM defs) d ON e.touchpoint = d.touchpoint
JOIN (SELECT inst.*, p.prio FROM inst JOIN (SELECT DISTINCT journey_type, prio FROM defs) p USING (journey_type)) i
  ON i.customer_id = e.customer_id AND i.journey_type = d.journey_type
 AND e.t >= i.start_t AND e.t <= i.span_end_t
WHERE e.case_id IS NULL
GROUP BY e.eid;

-- 3. everything else: unclassified episodes split by an inactivity gap, keyed by their first event.
-- An episode alone between its gaps (a bill, a one-off call: most unclassified events) is a journey
-- of one event; it is flagged here, so the step windows and the journey aggregate skip it
CREATE OR REPLACE TEMP TABLE unc AS
SELECT e.*,
       coalesce(e.t - lag(e.t) OVER w > {gap_s}, true) AS new_episode,
       coalesce((lead(e.t) OVER w) - e.t > {gap_s}, true) AS ends_episode  -- (): Spark reads "w - e" as one name
FROM ev e ANTI JOIN def_assign a ON e.eid = a.eid
WHERE e.case_id IS NULL
WINDOW w AS (PARTITION BY e.customer_id ORDER BY e.eid);

-- the events of journeys with more than one event, each with its journey
CREATE OR REPLACE TEMP TABLE multi AS
SELECT {ev_cols}, 'case' AS assigned_by,
       coalesce(c.journey_type::VARCHAR, '{unc}'){journey_type_cast} AS journey_type, c.first_eid AS journey_id
FROM ev e JOIN case_type c ON e.case_id = c.case_id
UNION ALL
SELECT {ev_cols}, 'definition', a.journey_type::VARCHAR{journey_type_cast}, a.start_eid
FROM ev e JOIN def_assign a ON e.eid = a.eid
UNION ALL
SELECT {ev_cols}, 'episode', '{unc}'{journey_type_cast},
       max(CASE WHEN e.new_episode THEN e.eid END) OVER (PARTITION BY e.customer_id ORDER BY e.eid)
FROM unc e WHERE NOT (e.new_episode AND e.ends_episode);
"""

_CASES_MARK = "-- 1. cases:"
"""Where :data:`_ASSIGN_SQL` turns from sorting the events to assigning them."""

_STEPS_SQL = """
CREATE OR REPLACE TEMP TABLE steps_multi AS
WITH s AS (
    SELECT m.*,
           CAST(row_number() OVER w AS BIGINT) AS step,
           lag(m.t) OVER w AS prev_t,
           lag(m.department) OVER w AS prev_department,
           lag(m.channel) OVER w AS prev_channel,
           lag(m.touchpoint) OVER w AS prev_touchpoint{seen_before_s}
    FROM multi m
    WINDOW w AS (PARTITION BY m.journey_id ORDER BY m.eid)
), k AS (  -- per event, on narrow rows (one join back): a repeat contact is the same reason again within
         -- the window, inside the journey, among contacts (a second notification or work step about the
         -- same reason is not the customer coming back); rework is a touchpoint the journey already had
{k_select}
)
SELECT s.journey_id, s.journey_type, s.assigned_by, s.eid, s.event_row, s.customer_id, s.ts AS "timestamp",
       s.step, s.touchpoint, s.channel, s.department, s.contact_reason, s.outcome, s.case_id, s.kind,
       s.initiated_by,
       (s.t - s.prev_t) / 86400 AS wait_days,
       s.prev_touchpoint,
       coalesce(s.department IS DISTINCT FROM s.prev_department AND s.step > 1, false) AS handoff,
       coalesce(s.channel IS DISTINCT FROM s.prev_channel AND s.step > 1, false) AS channel_switch,
       s.prev_channel,
       coalesce(k.since_same_reason <= {repeat_s}, false) AS repeat_contact,
       ({seen_before} AND coalesce(s.kind::VARCHAR, 'contact') <> 'notification') AS rework,
       -- a failure that starts a typed journey (the incorrect bill of a billing dispute) is its trigger, not a step that failed
       coalesce((s.outcome IN {failures} OR s.touchpoint::VARCHAR IN {failure_touchpoints})
                AND (s.step > 1 OR s.assigned_by = 'episode'), false) AS failed_step
FROM s {k_join} k ON s.eid = k.eid;

-- one-event episodes: the same columns without a window (no wait, handoff, repeat or rework)
CREATE OR REPLACE TEMP TABLE steps_single AS
SELECT a.eid AS journey_id, '{unc}'{journey_type_cast} AS journey_type, 'episode' AS assigned_by, a.eid,
       a.event_row, a.customer_id, a.ts AS "timestamp", CAST(1 AS BIGINT) AS step, a.touchpoint, a.channel, a.department,
       a.contact_reason, a.outcome, a.case_id, a.kind, a.initiated_by,
       CAST(NULL AS DOUBLE) AS wait_days, CAST(NULL AS {touchpoint_type}) AS prev_touchpoint,
       false AS handoff, false AS channel_switch, CAST(NULL AS {channel_type}) AS prev_channel,
       false AS repeat_contact, false AS rework,
       coalesce(a.outcome IN {failures} OR a.touchpoint::VARCHAR IN {failure_touchpoints}, false) AS failed_step
FROM unc a WHERE a.new_episode AND a.ends_episode;

CREATE OR REPLACE TEMP VIEW steps AS SELECT * FROM steps_multi UNION ALL SELECT * FROM steps_single;
"""

_JOURNEYS_SQL = """
CREATE OR REPLACE TEMP TABLE journeys AS
SELECT st.journey_id, any_value(st.journey_type) AS journey_type, any_value(st.assigned_by) AS assigned_by,
       min(st.customer_id) AS customer_id, any_value(st.case_id) AS case_id,
       min(st."timestamp") AS start, max(st."timestamp") AS "end",
       (epoch(max(st."timestamp")) - epoch(min(st."timestamp"))) / 86400 AS duration_days,
       bool_or({is_end}) AS reached_end,
       count(*) AS n_touchpoints,
       CAST(count(*) - sum(st.rework::INT) AS BIGINT) AS n_distinct_touchpoints,
       CAST({n_channels} AS BIGINT) AS n_channels,
       CAST(sum(st.channel_switch::INT) AS BIGINT) AS n_channel_switches,
       CAST({n_departments} AS BIGINT) AS n_departments,
       CAST(sum(st.handoff::INT) AS BIGINT) AS n_handoffs,
       CAST(sum(st.repeat_contact::INT) AS BIGINT) AS n_repeat_contacts,
       CAST(sum(st.rework::INT) AS BIGINT) AS n_rework,
       CAST(sum(st.failed_step::INT) AS BIGINT) AS n_failed_steps,
       max(st.wait_days) AS max_wait_days,
       arg_max(st.touchpoint, st.step) AS last_touchpoint
FROM steps_multi st
GROUP BY st.journey_id
UNION ALL
SELECT st.journey_id, st.journey_type, st.assigned_by, st.customer_id, st.case_id, st."timestamp", st."timestamp",
       CAST(0 AS DOUBLE), {is_end}, CAST(1 AS BIGINT), CAST(1 AS BIGINT),
       CAST(CASE WHEN st.channel IS NULL THEN 0 ELSE 1 END AS BIGINT), CAST(0 AS BIGINT),
       CAST(CASE WHEN st.department IS NULL THEN 0 ELSE 1 END AS BIGINT), CAST(0 AS BIGINT), CAST(0 AS BIGINT),
       CAST(0 AS BIGINT), CAST(st.failed_step::INT AS BIGINT), CAST(NULL AS DOUBLE), st.touchpoint
FROM steps_single st;
"""


def _journeys_sql(con: duckdb.DuckDBPyConnection | None, definitions: Mapping[str, JourneyDefinition]) -> str:
    """The journey-table SQL, with per-journey expressions generated to avoid extra passes:
    'reached an end touchpoint' as a CASE on the type, and distinct channels/departments
    as a bitmask over their ENUM codes (a DISTINCT count when there are more than 63, or
    without ENUMs: ``con`` None, on Spark)."""
    cases = " ".join(f"WHEN {sql_literal(jt)} THEN st.touchpoint IN {_sql_list(d.end)}"
                     for jt, d in definitions.items() if d.end)
    is_end = f"CASE st.journey_type {cases} ELSE false END" if cases else "false"

    def n_distinct(col: str) -> str:
        if con is None:
            return f"count(DISTINCT st.{col})"
        if _enum_size(con, col) <= 63:
            return f"bit_count(bit_or(CASE WHEN st.{col} IS NULL THEN 0::UBIGINT ELSE 1::UBIGINT << enum_code(st.{col}) END))"
        return f"count(DISTINCT st.{col})"

    return _JOURNEYS_SQL.format(is_end=is_end, n_channels=n_distinct("channel"), n_departments=n_distinct("department"))


def _enum_size(con: duckdb.DuckDBPyConnection, column: str) -> int:
    """How many values the ENUM of a coded event column (``cx_<column>``) holds."""
    return con.execute(f"SELECT len(enum_range(NULL::cx_{column}))").fetchall()[0][0]


def fetch_frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pd.DataFrame:
    """Run ``sql`` and return a pandas DataFrame through Arrow (timestamps in UTC)."""
    rel = con.sql(sql, params=params) if params else con.sql(sql)
    return arrow_to_pandas(rel.to_arrow_table())


def _sql_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


def _source_relation(con: duckdb.DuckDBPyConnection, events) -> None:
    """Register ``events`` (DataFrame, Parquet path or list of paths) as view ``src`` with every column."""
    if isinstance(events, pd.DataFrame):
        missing = [c for c in ("customer_id", "timestamp", "touchpoint") if c not in events.columns]
        if missing:
            raise ValueError(f"events: missing required column(s) {missing}; found {list(events.columns)}")
        frame = events.copy()
        for c in EVENT_COLUMNS:
            if c not in frame.columns:
                frame[c] = None
        frame["src_row"] = range(len(frame))
        con.register("src_raw", frame[[*EVENT_COLUMNS, "src_row"]])
    else:
        paths = [str(p) for p in (events if isinstance(events, (list, tuple)) else [events])]
        for p in paths:
            if not Path(p).exists():
                raise FileNotFoundError(f"{p}: events file not found")
        parts = [parquet_rows_sql(p, "src_row", offset=i * 1_000_000_000_000) for i, p in enumerate(paths)]
        con.execute("CREATE OR REPLACE TEMP VIEW src_raw AS " + " UNION ALL BY NAME ".join(parts))
    cols = {r[0] for r in con.execute("DESCRIBE src_raw").fetchall()}
    # low-cardinality labels become ENUMs: one or two bytes per value instead of a string,
    # which keeps the sorts and joins over millions of events narrow
    for c in CODED_COLUMNS:
        values = f'SELECT DISTINCT "{c}"::VARCHAR AS v FROM src_raw WHERE "{c}" IS NOT NULL' if c in cols \
            else "SELECT NULL::VARCHAR AS v WHERE false"
        if c == "touchpoint":
            values += " UNION SELECT DISTINCT touchpoint FROM defs_raw"
        con.execute(f"CREATE TYPE cx_{c} AS ENUM ({values})")
    con.execute(f"CREATE TYPE cx_journey_type AS ENUM (SELECT DISTINCT journey_type FROM defs_raw "
                f"UNION SELECT '{UNCLASSIFIED}')")
    select = ", ".join(
        (f'"{c}"::VARCHAR::cx_{c} AS "{c}"' if c in CODED_COLUMNS else f'"{c}"') if c in cols
        else (f'NULL::cx_{c} AS "{c}"' if c in CODED_COLUMNS else f'NULL::VARCHAR AS "{c}"')
        for c in (*EVENT_COLUMNS, "src_row"))
    con.execute(f"CREATE OR REPLACE TEMP VIEW src AS SELECT {select} FROM src_raw "
                "WHERE customer_id IS NOT NULL AND \"timestamp\" IS NOT NULL")
    con.execute("CREATE OR REPLACE TEMP TABLE defs AS SELECT journey_type::cx_journey_type AS journey_type, "
                "touchpoint::cx_touchpoint AS touchpoint, role, max_days, prio FROM defs_raw")


_EV_COLUMNS = ("eid", "customer_id", "ts", "t", "channel", "touchpoint", "department", "contact_reason", "outcome",
               "case_id", "kind", "initiated_by", "event_row")
"""The columns of the temp table ``ev`` (the sorted events), in order."""

CODED_COLUMNS = ("touchpoint", "channel", "department", "contact_reason", "outcome", "kind", "initiated_by")


def _as_text(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SELECT of a result table with its ENUM columns back as text."""
    enums = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[1].startswith("ENUM")]
    return f"SELECT * REPLACE ({', '.join(f'{c}::VARCHAR AS {c}' for c in enums)}) FROM {table}" if enums \
        else f"SELECT * FROM {table}"


_CONTACT = ("contact_reason IS NOT NULL AND coalesce(kind::VARCHAR, 'contact') = 'contact' "
            "AND coalesce(initiated_by::VARCHAR, 'customer') = 'customer'")
"""A contact the customer made about a reason: the events a repeat contact is counted among."""

_K_BOTH = f"""    SELECT eid, row_number() OVER (PARTITION BY journey_id, touchpoint ORDER BY eid) > 1 AS seen_before,
           CASE WHEN contact THEN t - lag(t) OVER (PARTITION BY journey_id, contact, contact_reason ORDER BY eid)
           END AS since_same_reason
    FROM (SELECT eid, journey_id, touchpoint, contact_reason, t, {_CONTACT} AS contact FROM multi)"""

_K_CONTACTS = f"""    SELECT eid, t - lag(t) OVER (PARTITION BY journey_id, contact_reason ORDER BY eid) AS since_same_reason
    FROM multi WHERE {_CONTACT}"""

_SEEN_BEFORE_BITS = """,
           -- rework: the touchpoints of the earlier steps as bits of one integer (the code of a null: bit 63)
           (bit_or(1::UBIGINT << coalesce(enum_code(m.touchpoint), 63))
                   OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
            & (1::UBIGINT << coalesce(enum_code(m.touchpoint), 63))) <> 0 AS seen_before"""


def _scripts(gap_days: float, repeat_window_days: float, failure_touchpoints, *, enums: bool,
             touchpoint_bits: bool = False) -> tuple[str, str]:
    """The assignment and step SQL (DuckDB dialect) for these settings; ``enums`` types the
    journey type as DuckDB's ENUM (False on Spark, which has none). With ``touchpoint_bits`` (a
    touchpoint ENUM of at most 63 values) a step's touchpoint seen before in its journey comes
    from the step window itself, as bits of the touchpoints so far; the second window then covers
    only the contacts, for repeats (the step table at 10M events: 2.8-3.8 s against 3.8-4.8 s)."""
    assign = _ASSIGN_SQL.format(gap_s=float(gap_days) * 86400, unc=UNCLASSIFIED,
                                journey_type_cast="::cx_journey_type" if enums else "",
                                ev_cols=", ".join(f"e.{c}" for c in _EV_COLUMNS))
    steps = _STEPS_SQL.format(repeat_s=float(repeat_window_days) * 86400, failures=_sql_list(FAILURE_OUTCOMES),
                              failure_touchpoints=_sql_list(failure_touchpoints) if failure_touchpoints else "(NULL)",
                              unc=UNCLASSIFIED, journey_type_cast="::cx_journey_type" if enums else "",
                              touchpoint_type="cx_touchpoint" if enums else "VARCHAR",
                              channel_type="cx_channel" if enums else "VARCHAR",
                              seen_before_s=_SEEN_BEFORE_BITS if touchpoint_bits else "",
                              k_select=_K_CONTACTS if touchpoint_bits else _K_BOTH,
                              k_join="LEFT JOIN" if touchpoint_bits else "JOIN",
                              seen_before="coalesce(s.seen_before, false)" if touchpoint_bits else "k.seen_before")
    return assign, steps


ENGINES = ("auto", "duckdb", "compiled", "spark")

BYTES_PER_EVENT = 300
"""Memory the compiled passes hold per event at their peak (10M demo events: 2.7-3.0 GB)."""


def choose_engine(events, memory_limit: str | None = None) -> str:
    """The engine ``engine='auto'`` runs on one machine: the compiled passes
    (:mod:`cxlib.journeys.passes`) when numba is installed, the events are a DataFrame or one
    Parquet file, and their peak (:data:`BYTES_PER_EVENT` per event) fits in ``memory_limit`` (as
    DuckDB reads it, e.g. ``'4GB'``; without one, in half the memory available); else DuckDB, which
    spills to disk beyond its limit and reads folders and lists of files, and types numeric ids and
    labels its own way (:func:`cxlib.journeys.passes.takes`)."""
    import pyarrow as pa

    from cxlib.journeys.passes import is_available, takes
    if not is_available():
        return "duckdb"
    if isinstance(events, pd.DataFrame):
        n = len(events)
        present = [c for c in EVENT_COLUMNS if c in events.columns]
        try:
            schema = pa.Schema.from_pandas(events[present].head(1000), preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError):    # mixed types: DuckDB reports them
            return "duckdb"
    elif isinstance(events, (str, Path)) and Path(events).is_file():
        import pyarrow.parquet as pq
        try:
            meta = pq.ParquetFile(events)
        except Exception:     # not a Parquet file DuckDB can't read either: its error says so
            return "duckdb"
        n, schema = meta.metadata.num_rows, meta.schema_arrow
    else:
        return "duckdb"
    if not takes(schema):    # numeric ids or labels, times as text: the SQL's own typing decides
        return "duckdb"
    from cxlib.core.memory import memory_budget
    return "compiled" if n * BYTES_PER_EVENT <= memory_budget(memory_limit) else "duckdb"


def reconstruct_journeys(events, definitions: Mapping[str, JourneyDefinition], *,
                         gap_days: float = 14, repeat_window_days: float = 7,
                         failure_touchpoints: tuple[str, ...] | list[str] = (),
                         as_of=None, threads: int | None = None, progress: bool = False,
                         to_pandas: bool = True, journeys_path: str | Path | None = None,
                         steps_path: str | Path | None = None, memory_limit: str | None = None,
                         engine: str = "auto", spark=None, lazy_steps: bool = False,
                         lazy_unclassified: bool = False) -> Journeys:
    """Split ``events`` into journey instances and describe each one.

    ``events`` is the canonical events table (a DataFrame) or the Parquet file(s)
    holding it; columns: customer_id, timestamp, touchpoint and optionally channel,
    department, contact_reason, outcome, case_id. ``definitions`` maps journey type
    to :class:`~cxlib.core.config.JourneyDefinition`. A step fails when its outcome is a failure
    (failed, incorrect, unresolved, abandoned) or its touchpoint is in ``failure_touchpoints``
    (a 'Technician no-show' logged as its own activity). ``as_of`` (the extract time) marks
    journeys that may still be running as ``in_progress`` rather than dropped out.

    ``threads`` and ``memory_limit`` (e.g. ``'4GB'``; DuckDB spills to disk beyond it)
    bound the work. For logs larger than memory, ``to_pandas=False`` writes the step and
    journey tables to ``steps_path`` and ``journeys_path`` straight from DuckDB (that journey
    table has ``reached_end`` instead of ``status``) and returns counts only.

    ``engine='auto'`` (the default) runs a log held in memory in compiled passes over its
    sorted events (:mod:`cxlib.journeys.passes`, ``engine='compiled'``: the same tables, several
    times faster; ``threads`` does not bound them: they read and write on up to three) and
    anything larger, a folder or several files on DuckDB (``engine='duckdb'``);
    :func:`choose_engine` decides. ``engine='spark'`` runs the same SQL on Spark (``spark``: a
    SparkSession, else a local one; see :mod:`cxlib.core.spark`); events are then Parquet path(s),
    a table name or a DataFrame, and with ``to_pandas=False`` the tables are written as Parquet folders. With
    ``lazy_steps`` only the journey table comes back to pandas: the step table stays on Spark, or
    from DuckDB in a Parquet file of its own (``engine_steps``), until :meth:`Journeys.fetch_steps`
    asks for it. With ``lazy_unclassified`` the journey table in pandas holds the typed journeys
    only (``attrs['span']``: the first start and last end of all journeys); the unclassified
    episodes, most rows of a large log, stay in DuckDB's Parquet file (a pandas frame on Spark)
    as :attr:`Journeys.unclassified`, until :meth:`Journeys.write` writes both as one table.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")
    if engine == "auto":
        engine = choose_engine(events, memory_limit)
    if engine == "compiled":
        from cxlib.journeys.passes import is_available
        if not is_available():
            raise ImportError("engine='compiled' needs numba (pip install numba); engine='duckdb' needs nothing more")
        return _reconstruct_compiled(events, definitions, gap_days=gap_days, repeat_window_days=repeat_window_days,
                                     failure_touchpoints=failure_touchpoints, as_of=as_of, progress=progress,
                                     to_pandas=to_pandas, journeys_path=journeys_path, steps_path=steps_path,
                                     lazy_steps=lazy_steps, lazy_unclassified=lazy_unclassified)
    if engine == "spark":
        return _reconstruct_on_spark(events, definitions, gap_days=gap_days, repeat_window_days=repeat_window_days,
                                     failure_touchpoints=failure_touchpoints, as_of=as_of, progress=progress,
                                     to_pandas=to_pandas, journeys_path=journeys_path, steps_path=steps_path,
                                     spark=spark, lazy_steps=lazy_steps, lazy_unclassified=lazy_unclassified)
    con = open_duckdb()  # a private in-memory database: its temp tables cannot clash with the caller's
    try:  # progress is ours to print (progress=True); DuckDB's bar would garble logs and captured stdout
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:  # under Jupyter DuckDB refuses the setting without ipywidgets; it draws no bar then
        pass
    if memory_limit:  # DuckDB spills to disk beyond this, e.g. '4GB'
        con.execute(f"SET memory_limit = '{memory_limit}'")
    # no result relies on row order (every window orders by eid; the tables come back sorted), and
    # without it DuckDB writes Parquet on every thread and holds less in memory
    con.execute("SET preserve_insertion_order = false")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    timings: dict[str, float] = {}
    defs = definitions_frame(definitions)
    con.register("defs_raw", defs)
    _source_relation(con, events)

    def run(name, sql, done=()):
        t0 = time.perf_counter()
        con.execute(sql)
        for table in done:    # what later statements no longer read: memory the next ones can use
            con.execute(f"DROP TABLE {table}")
        timings[name] = time.perf_counter() - t0
        if progress:
            print(f"  journeys: {name} ({timings[name]:.1f} s)", flush=True)

    assign, steps_sql = _scripts(gap_days, repeat_window_days, failure_touchpoints, enums=True,
                                 touchpoint_bits=_enum_size(con, "touchpoint") <= 63)
    # the sort of every event by customer and time is its own phase: it is most of the floor any
    # reconstruction pays (reading and sorting the log), the rest is the assignment proper
    sort_events, assign = assign.split(_CASES_MARK, 1)
    run("sort events", sort_events)
    run("assign events", _CASES_MARK + assign, done=("ev", "case_type", "marks", "inst", "def_assign"))
    run("steps", steps_sql, done=("multi", "unc"))
    run("journeys", _journeys_sql(con, definitions))
    n_events, n_journeys = con.execute("SELECT (SELECT count(*) FROM steps), (SELECT count(*) FROM journeys)").fetchall()[0]
    if not to_pandas:
        for p in (journeys_path, steps_path):
            Path(p).parent.mkdir(parents=True, exist_ok=True)
        # DuckDB writes ENUM columns as plain Parquet strings: no decoding pass (it cost 3 GB at 10M events)
        run("write parquet", f"COPY steps TO {sql_literal(str(steps_path))} (FORMAT parquet);"
                             f"COPY journeys TO {sql_literal(str(journeys_path))} (FORMAT parquet);")
        con.close()
        return Journeys(steps=None, journeys=None, definitions=dict(definitions), timings=timings,
                        n_events=n_events, n_journeys=n_journeys)
    t0 = time.perf_counter()
    live = unclassified = folder = None
    if lazy_steps or lazy_unclassified:
        import tempfile
        folder = tempfile.mkdtemp(prefix="cxlib-steps-")
        con.execute("SET preserve_insertion_order = true")   # the files are written sorted
    if lazy_steps:    # the step table stays in a Parquet file, sorted, as the pandas one would be written
        live = ParquetTable(str(Path(folder) / "steps.parquet"))
        # the ENUM columns go as they are: DuckDB writes them as Parquet strings, the same values a
        # cast to text gives, without decoding every row first (at 250k customers 1.5 s against 3.6-14.6 s)
        con.execute(f"COPY (SELECT * FROM steps ORDER BY journey_id, step) TO {sql_literal(live.path)} "
                    "(FORMAT parquet)")
        steps = None
    else:
        steps = fetch_frame(con, _as_text(con, "steps") + " ORDER BY journey_id, step")
    span = None
    if lazy_unclassified:    # the episodes get the status _journey_status gives them, and go to a file
        unclassified = ParquetTable(str(Path(folder) / "unclassified.parquet"))
        con.execute(f"COPY (SELECT * EXCLUDE (reached_end), '{UNCLASSIFIED}' AS status, NULL::BOOLEAN AS completed "
                    f"FROM journeys WHERE journey_type = '{UNCLASSIFIED}' ORDER BY journey_id) "
                    f"TO {sql_literal(unclassified.path)} (FORMAT parquet)")
        span = tuple(fetch_frame(con, 'SELECT min(start) AS s, max("end") AS e FROM journeys').iloc[0])
        journeys = fetch_frame(con, _as_text(con, "journeys") + f" WHERE journey_type <> '{UNCLASSIFIED}' "
                                                                "ORDER BY journey_id")
    else:
        journeys = fetch_frame(con, _as_text(con, "journeys") + " ORDER BY journey_id")
    timings["to pandas"] = time.perf_counter() - t0
    con.close()
    return _hand_over(steps, journeys, definitions, as_of, journeys_path, steps_path, timings, n_events, n_journeys,
                      folder=folder, live=live, unclassified=unclassified, span=span)


def _hand_over(steps, journeys, definitions, as_of, journeys_path, steps_path, timings, n_events, n_journeys, *,
               folder=None, live=None, unclassified=None, span=None) -> Journeys:
    """The result of an in-memory engine, its tables in pandas or in the files of ``folder`` (the
    step table ``live``, the ``unclassified`` episodes, with ``span`` the first start and last end
    of all journeys); the files go with the result."""
    if folder is None:
        return _finish(steps, journeys, definitions, as_of, journeys_path, steps_path, timings, n_events, n_journeys)
    import shutil
    import weakref
    # without as_of, a journey runs until the last end of all journeys, as in the whole table
    out = _finish(steps, journeys, definitions, as_of if span is None or as_of is not None else span[1], None, None,
                  timings, n_events, n_journeys)
    out.engine_steps, out.unclassified = live, unclassified
    if span is not None:
        out.journeys.attrs["span"] = span
    weakref.finalize(out, shutil.rmtree, folder, True)    # the files go with the result
    if journeys_path is not None and steps_path is not None:
        out.write(journeys_path, steps_path)
    return out


def _reconstruct_compiled(events, definitions, *, gap_days, repeat_window_days, failure_touchpoints, as_of,
                          progress, to_pandas, journeys_path, steps_path, lazy_steps=False,
                          lazy_unclassified=False) -> Journeys:
    """:func:`reconstruct_journeys` in compiled passes over sorted arrays
    (:mod:`cxlib.journeys.passes`): the same rules and tables as the SQL, for a log held in memory."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from cxlib.journeys.passes import produce_ahead, reconstruct_on_arrays, write_batches
    timings: dict[str, float] = {}
    res = reconstruct_on_arrays(events, definitions, gap_days=gap_days, repeat_window_days=repeat_window_days,
                                failure_outcomes=FAILURE_OUTCOMES, failure_touchpoints=failure_touchpoints,
                                timings=timings, progress=progress)
    n_events, n_journeys = res.n_events, res.n_journeys

    def timed(name, work):
        t0 = time.perf_counter()
        out = work()
        timings[name] = time.perf_counter() - t0
        if progress:
            print(f"  journeys: {name} ({timings[name]:.1f} s)", flush=True)
        return out
    if not to_pandas:
        for p in (journeys_path, steps_path):
            Path(p).parent.mkdir(parents=True, exist_ok=True)
            _remove_folder(p)    # a Spark run leaves a folder; this run writes one file there
        timed("write parquet", lambda: res.write(steps_path, journeys_path))
        return Journeys(steps=None, journeys=None, definitions=dict(definitions), timings=timings,
                        n_events=n_events, n_journeys=n_journeys)

    def as_pandas(table):   # the labels as text, as DuckDB hands them over
        return arrow_to_pandas(pa.table({c: table[c].cast(pa.large_string()) if pa.types.is_dictionary(table[c].type)
                                         else table[c] for c in table.column_names}))

    def tables():
        from concurrent.futures import ThreadPoolExecutor
        live = unclassified = folder = span = steps = None
        if lazy_steps or lazy_unclassified:
            import tempfile
            folder = tempfile.mkdtemp(prefix="cxlib-steps-")
        with ThreadPoolExecutor(1) as pool:
            if lazy_steps:    # the step table goes to a Parquet file (journey and step order) on a thread of its own
                live = ParquetTable(str(Path(folder) / "steps.parquet"))
                written = pool.submit(write_batches, produce_ahead(res.step_batches()), live.path)
            else:
                steps = as_pandas(res.steps_table())
            journeys = res.journeys_table()
            if lazy_unclassified:    # the episodes get the status _journey_status gives them, and go to a file
                unclassified = ParquetTable(str(Path(folder) / "unclassified.parquet"))
                episode = pc.equal(journeys["journey_type"].cast(pa.string()), UNCLASSIFIED)
                apart = journeys.filter(episode).drop_columns(["reached_end"])
                status = pa.DictionaryArray.from_arrays(pa.array(np.zeros(apart.num_rows, np.int32)),
                                                        pa.array([UNCLASSIFIED]))
                apart = apart.append_column("status", status) \
                    .append_column("completed", pa.nulls(apart.num_rows, pa.bool_()))
                write_batches(apart.to_batches(), unclassified.path, apart.schema)   # a file even without episodes
                span = tuple(arrow_to_pandas(pa.table({"s": [pc.min(journeys["start"])],
                                                       "e": [pc.max(journeys["end"])]})).iloc[0]) \
                    if journeys.num_rows else (pd.NaT, pd.NaT)
                journeys = journeys.filter(pc.invert(episode))
            journeys = as_pandas(journeys)
            if lazy_steps:
                written.result()
        return steps, journeys, live, unclassified, folder, span
    steps, journeys, live, unclassified, folder, span = timed("to pandas", tables)
    return _hand_over(steps, journeys, definitions, as_of, journeys_path, steps_path, timings, n_events, n_journeys,
                      folder=folder, live=live, unclassified=unclassified, span=span)


def _reconstruct_on_spark(events, definitions, *, gap_days, repeat_window_days, failure_touchpoints, as_of,
                          progress, to_pandas, journeys_path, steps_path, spark, lazy_steps=False,
                          lazy_unclassified=False) -> Journeys:
    """:func:`reconstruct_journeys` on Spark: the same SQL, transpiled (no ENUMs there)."""
    from cxlib.core.spark import from_pandas, open_spark, read_events, run_script, to_pandas as spark_to_pandas
    spark = open_spark(spark)   # the client's SparkSettings (or a dict) open a session
    timings: dict[str, float] = {}
    from_pandas(spark, definitions_frame(definitions)).createOrReplaceTempView("defs")
    read_events(spark, events, EVENT_COLUMNS).where("customer_id IS NOT NULL AND `timestamp` IS NOT NULL") \
        .createOrReplaceTempView("src")
    assign, steps_sql = _scripts(gap_days, repeat_window_days, failure_touchpoints, enums=False)
    frames = {}
    for name, sql in (("assign events", assign), ("steps", steps_sql), ("journeys", _journeys_sql(None, definitions))):
        t0 = time.perf_counter()
        frames |= run_script(spark, sql)
        timings[name] = time.perf_counter() - t0
        if progress:
            print(f"  journeys (Spark): {name} ({timings[name]:.1f} s)", flush=True)
    n_events, n_journeys = frames["steps"].count(), frames["journeys"].count()
    if not to_pandas:
        t0 = time.perf_counter()
        frames["steps"].write.mode("overwrite").parquet(str(steps_path))
        frames["journeys"].write.mode("overwrite").parquet(str(journeys_path))
        timings["write parquet"] = time.perf_counter() - t0
        return Journeys(steps=None, journeys=None, definitions=dict(definitions), timings=timings,
                        n_events=n_events, n_journeys=n_journeys)
    t0 = time.perf_counter()
    steps = None if lazy_steps else spark_to_pandas(frames["steps"].orderBy("journey_id", "step"))
    journeys = spark_to_pandas(frames["journeys"].orderBy("journey_id"))
    timings["to pandas"] = time.perf_counter() - t0
    out = _finish(steps, journeys, definitions, as_of, None, None, timings, n_events, n_journeys)
    out.engine_steps = frames["steps"]
    if lazy_unclassified:    # the same split as DuckDB's, in pandas (the episodes came to the driver)
        _keep_unclassified_apart(out)
    if journeys_path is not None and steps_path is not None:
        out.write(journeys_path, steps_path)
    return out


def _keep_unclassified_apart(out: Journeys) -> None:
    """Move the unclassified episodes of ``out.journeys`` to ``out.unclassified``; the typed
    journeys keep the span of all (``attrs['span']``)."""
    j = out.journeys
    unc = (j["journey_type"] == UNCLASSIFIED).to_numpy()
    span = (j["start"].min(), j["end"].max())
    out.unclassified = j[unc].reset_index(drop=True)
    out.journeys = j[~unc].reset_index(drop=True)
    out.journeys.attrs["span"] = span


def _finish(steps, journeys, definitions, as_of, journeys_path, steps_path, timings, n_events, n_journeys) -> Journeys:
    """What both engines do with the tables back in pandas: each journey's status, the Parquet
    files when asked for, and the result."""
    journeys = _journey_status(journeys, definitions, as_of)
    if journeys_path is not None and steps_path is not None:
        Journeys(steps, journeys, dict(definitions)).write(journeys_path, steps_path)
    return Journeys(steps=steps, journeys=journeys, definitions=dict(definitions), timings=timings,
                    n_events=n_events, n_journeys=n_journeys)


def _journey_status(j: pd.DataFrame, definitions: Mapping[str, JourneyDefinition], as_of) -> pd.DataFrame:
    """completed / dropped_out / in_progress for typed journeys; unclassified for the rest."""
    j = j.copy(deep=False)   # only whole columns are set: a deep copy costs seconds on millions of journeys
    max_days = map_values(j["journey_type"], {k: d.max_duration_days for k, d in definitions.items()})
    if as_of is None:
        as_of = j["end"].max() if len(j) else None
    as_of = pd.Timestamp(as_of) if as_of is not None else None
    if as_of is not None and as_of.tzinfo is None and len(j) and j["start"].dt.tz is not None:
        as_of = as_of.tz_localize("UTC")
    typed = j["journey_type"] != UNCLASSIFIED
    running = (j["start"] + pd.to_timedelta(max_days.fillna(0), unit="D")) > as_of if as_of is not None \
        else pd.Series(False, index=j.index)    # no journeys, so no extract time: nothing runs
    status = pd.Series("dropped_out", index=j.index, dtype=object)
    status[running] = "in_progress"
    status[j["reached_end"].astype(bool)] = "completed"
    status[~typed] = UNCLASSIFIED
    j["status"] = status
    # object (True, False, NaN) whichever journeys the table holds: the typed journeys alone may have no NaN
    j["completed"] = j["reached_end"].astype(bool).astype(object).where(typed & (status != "in_progress"))
    return j.drop(columns="reached_end")


def assign_journey_scores(journeys: pd.DataFrame, steps: pd.DataFrame, surveys: pd.DataFrame | None,
                          green_threshold: Mapping[str, float], *, journey_subjects: Mapping[str, str] | None = None,
                          max_days_after_end: float = 30, max_days_after_touchpoint: float = 7) -> pd.DataFrame:
    """Attach survey scores to journeys.

    * ``journey_score``: a journey-level rating whose subject is the journey type
      (or its name in ``journey_subjects``), from the same customer, given between the
      journey start and ``max_days_after_end`` after its end; the nearest journey wins.
    * ``tp_n_rated``, ``tp_score_mean``, ``tp_green_share``: touchpoint ratings linked to
      the journey's own event (same customer and touchpoint, the latest event before the
      rating, within ``max_days_after_touchpoint``).

    ``journey_green`` tells whether the journey rating meets ``green_threshold`` for
    its metric; ``watermelon`` is true when every rated touchpoint of the journey is
    green but the journey rating is not. Not-rated stays null; it is never 0.
    """
    out = journeys.copy(deep=False)   # only whole columns are set
    if surveys is None or not len(surveys):
        for c in ("journey_score", "journey_metric", "journey_green", "tp_n_rated", "tp_n_green_rated", "tp_n_green",
                  "tp_score_mean", "tp_green_share", "watermelon"):
            out[c] = pd.Series(pd.NA, index=out.index, dtype=object)
        return _typed_scores(out)
    green = {k: float(v) for k, v in green_threshold.items()}
    sv = surveys[surveys["score"].notna()].copy()
    sv["green"] = (sv["score"] >= sv["metric"].map(green)).astype("boolean").where(sv["metric"].isin(green))
    con = open_duckdb()
    subj = {v: k for k, v in (journey_subjects or {}).items()}
    js = sv[sv["level"] == "journey"].copy()
    js["journey_type"] = js["subject"].map(lambda s: subj.get(s, s))
    con.register("js", js[["customer_id", "timestamp", "journey_type", "score", "metric", "green"]])
    con.register("jr", out[["journey_id", "customer_id", "journey_type", "start", "end"]])
    jscore = fetch_frame(con, f"""
        SELECT jr.journey_id, arg_min(js.score, abs(epoch(js."timestamp") - epoch(jr."end"))) AS journey_score,
               arg_min(js.metric, abs(epoch(js."timestamp") - epoch(jr."end"))) AS journey_metric,
               arg_min(js.green, abs(epoch(js."timestamp") - epoch(jr."end"))) AS journey_green
        FROM (SELECT js.*, arg_max(jr.journey_id, jr.start) AS jid FROM js JOIN jr
                ON js.customer_id = jr.customer_id AND js.journey_type = jr.journey_type
               AND js."timestamp" >= jr.start
               AND js."timestamp" <= jr."end" + INTERVAL {int(max_days_after_end * 24)} HOUR
              GROUP BY ALL) js
        JOIN jr ON jr.journey_id = js.jid
        GROUP BY jr.journey_id""")
    con.close()
    ts = sv[sv["level"] == "touchpoint"]
    ts = ts[["customer_id", "timestamp", "subject", "score", "green"]].assign(rid=range(len(ts)))
    # each rating goes to the latest event of its customer and touchpoint before it (the later in
    # the log on a tie), if that event is at most max_days_after_touchpoint older: a range join
    # rather than DuckDB's ASOF JOIN, so it runs where the step table lives (Spark has no ASOF)
    tscore = query_frames(f"""
        WITH linked AS (
            SELECT ts.rid, st.journey_id, ts.score, ts.green,
                   row_number() OVER (PARTITION BY ts.rid ORDER BY st."timestamp" DESC, st.eid DESC) AS r
            FROM ts JOIN st
              ON ts.customer_id = st.customer_id AND ts.subject = st.touchpoint
             AND st."timestamp" <= ts."timestamp"
             AND ts."timestamp" <= st."timestamp" + INTERVAL {int(max_days_after_touchpoint * 24)} HOUR)
        -- shares average doubles: Spark averages a 1.0/0.0 literal as a decimal rounded to 5 places
        SELECT journey_id, count(*) AS tp_n_rated, avg(score) AS tp_score_mean,
               count(green) AS tp_n_green_rated, sum(CASE WHEN green THEN 1 ELSE 0 END) AS tp_n_green,
               avg(CASE WHEN green THEN CAST(1 AS DOUBLE) WHEN NOT green THEN CAST(0 AS DOUBLE) END) AS tp_green_share
        FROM linked WHERE r = 1 GROUP BY journey_id""",
                          ts=ts, st=select_columns(steps, ["journey_id", "eid", "customer_id", "timestamp", "touchpoint"]))
    for scores in (jscore, tscore):   # a left merge on the unique journey id, without copying every column
        at = pd.Index(scores["journey_id"]).get_indexer(out["journey_id"])
        for c in scores.columns.drop("journey_id"):
            out[c] = take_values(scores[c], at).set_axis(out.index)
    for c in ("tp_n_rated", "tp_n_green_rated", "tp_n_green"):
        out[c] = out[c].fillna(0).astype(int)
    rated_all = (out["tp_n_green_rated"] > 0) & (out["tp_n_green"] == out["tp_n_green_rated"])
    out["watermelon"] = (rated_all & (out["journey_green"] == False)).astype("boolean").where(  # noqa: E712
        (out["tp_n_green_rated"] > 0) & out["journey_green"].notna())
    return _typed_scores(out)


def _typed_scores(out: pd.DataFrame) -> pd.DataFrame:
    for c in ("journey_score", "tp_score_mean", "tp_green_share"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype(float)
    for c in ("journey_green", "watermelon"):
        out[c] = out[c].astype("boolean")
    for c in ("tp_n_rated", "tp_n_green_rated", "tp_n_green"):
        out[c] = pd.to_numeric(out[c], errors="coerce").fillna(0).astype(int)
    return out


def flag_churn_after(journeys: pd.DataFrame, customers: pd.DataFrame | None, *, window_days: int = 90,
                     as_of=None, customer_id: str = "customer_id", churn_date: str = "churn_date") -> pd.DataFrame:
    """Add ``churned_in_window`` (named for any window): the customer left within ``window_days``
    after the journey's end. Null when the window is not yet over at ``as_of`` or the
    customer is unknown; absent churn data leaves it null."""
    out = journeys.copy(deep=False)   # only whole columns are set
    out["churned_in_window"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    if customers is None or churn_date not in customers or customers[churn_date].isna().all():
        return out
    cd = customers.set_index(customer_id)[churn_date]
    cd = pd.to_datetime(cd)
    if cd.dt.tz is None:
        cd = cd.dt.tz_localize("UTC")
    c = map_values(out[customer_id], cd)
    end = out["end"]
    as_of = pd.Timestamp(as_of) if as_of is not None else end.max()
    if as_of.tzinfo is None:
        as_of = as_of.tz_localize("UTC")
    window = pd.Timedelta(days=window_days)
    known = is_in(out[customer_id], cd.index)
    observed = (end + window <= as_of) | (c.notna() & (c <= end + window))
    churned = c.notna() & (c >= out["start"].dt.floor("D")) & (c <= end + window)
    out["churned_in_window"] = churned.astype("boolean").where(known & observed)
    return out


def flag_ended_by_departure(journeys: pd.DataFrame, customers: pd.DataFrame | None,
                            definitions: Mapping[str, JourneyDefinition], *, customer_id: str = "customer_id",
                            churn_date: str = "churn_date") -> pd.Series:
    """True for a dropped-out journey whose customer left while it was still open (churn date
    between its start and its type's maximum duration): the departure ended the journey, so the
    drop-out is the churn, not a failure that caused it. False elsewhere and without churn dates."""
    flag = pd.Series(False, index=journeys.index, name="ended_by_departure")
    if customers is None or churn_date not in customers or "status" not in journeys:
        return flag
    cd = pd.to_datetime(customers.drop_duplicates(customer_id).set_index(customer_id)[churn_date])
    if cd.dt.tz is None:
        cd = cd.dt.tz_localize("UTC")
    left = map_values(journeys[customer_id], cd)
    open_until = journeys["start"] + pd.to_timedelta(
        map_values(journeys["journey_type"], {k: d.max_duration_days for k, d in definitions.items()}).fillna(0), unit="D")
    ended = journeys["status"].eq("dropped_out") & left.notna() & (left >= journeys["start"].dt.floor("D")) & \
        (left <= open_until)
    return flag | ended.fillna(False).astype(bool)
