"""The contact cascade's first two steps: avoidable agent contacts and self-service fit.

An agent contact is *avoidable* when the customer should not have needed it:

* ``repeat``: the same reason again within the window after an agent contact that left it
  unresolved, or a touchpoint a journey already had (the fault reported a second time);
* ``status_chasing``: "where is my ..." contacts (reason or touchpoint matches a pattern);
* ``failure_demand``: a contact within the window after a known failure (a failed visit,
  an incorrect bill) that is not the trigger of the journey handling it;
* a configured rule per contact reason (for what the data cannot show by itself).

Each avoidable contact gets the root cause it points to and the event it follows, so
costs can be added up per root cause, per journey and per agent. The first matching cause
wins, in the order above.

Self-service fit is measured per contact reason × segment: how often a self-service
attempt for the reason succeeds without an agent (containment), how complex the reason is
for agents, and how satisfied customers are in each channel.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import duckdb
import numpy as np
import pandas as pd

from cxlib.journeys.reconstruct import UNCLASSIFIED
from cxlib.core.schema import AGENT_CHANNELS, SELF_SERVICE_CHANNELS
from cxlib.core.sql import (ParquetTable, is_spark_frame, on_engine, query_frames, query_table, select_columns,
                             sql_literal)
from cxlib.core.uncertainty import poisson_rate_interval, wilson_interval

CAUSES = ("repeat", "status_chasing", "failure_demand")
STATUS_PATTERN = r"status|where is|chasing|progress"


def flag_agent_contacts(events: pd.DataFrame, *, agent: str = "agent_id", channel: str = "channel",
                        kind: str = "kind", initiated_by: str = "initiated_by") -> pd.Series:
    """True for the customer's contacts a person handled: rows with an agent id when the
    source records agents at all, else rows on an agent channel (call, chat, e-mail, store,
    social). When the events say what they are (``kind``), only contacts count: a work step
    with a resource, a notification or a bill is not a customer's contact; when they say who
    started them (``initiated_by``), a contact the company or a system started (an outbound
    call) does not count either. (The SQL of :func:`build_contact_events`, on a pandas frame.)"""
    sql = _agent_contact_sql(events.columns, _has_agent_ids(events, agent), agent=agent, channel=channel, kind=kind,
                             initiated_by=initiated_by)
    out = query_frames(f"SELECT {sql} AS flag FROM ev ORDER BY pos", ev=_numbered(events))
    return pd.Series(out["flag"].to_numpy(dtype=bool), index=events.index, name="agent_contact")


def link_journeys(events: pd.DataFrame, steps, *, customer_id: str = "customer_id",
                  timestamp: str = "timestamp", touchpoint: str = "touchpoint") -> pd.DataFrame:
    """``events`` with the journey each event belongs to (``journey_id``, ``journey_type``,
    ``step``, ``rework``, ``failed_step``) from the step table of
    :func:`cxlib.journeys.reconstruct_journeys` (pandas, its Parquet file or Spark). When these are
    the events the steps were built from, each step's ``event_row`` points at its event (checked:
    customer, time and touchpoint must agree on every row). Otherwise events are matched on
    customer, time and touchpoint (and their order among exact ties). Events without a step keep
    nulls. (The SQL of :func:`build_contact_events`, on a pandas frame.)"""
    key = [customer_id, timestamp, touchpoint]
    out = events.copy(deep=False)
    if steps is None or not _has_rows(steps):
        for col in JOURNEY_COLUMNS:
            out[col] = None
        return out
    ev = _numbered(events[key])
    st = select_columns(steps, [col for col in ("event_row", "eid", *key, *JOURNEY_COLUMNS) if col in steps.columns])
    m = query_frames(_link_sql(ev, st, key) + " ORDER BY pos", ev=ev, st=st)
    for col in JOURNEY_COLUMNS:
        out[col] = m[col].to_numpy() if not m[col].isna().any() else m[col].astype(object).where(m[col].notna(), None) \
            .to_numpy()
    return out


def price_contacts(events: pd.DataFrame, cost_per_contact: Mapping[str, float], *, channel: str = "channel",
                   cost: str = "cost") -> pd.Series:
    """Cost of each event: the source's own ``cost`` where it has one, else the configured
    cost of its channel (NaN when neither is known). (The SQL of :func:`build_contact_events`.)"""
    sql = _contact_cost_sql(events.columns, cost_per_contact, channel=channel, cost=cost)
    out = query_frames(f"SELECT {sql} AS cost FROM ev ORDER BY pos", ev=_numbered(events))
    return pd.Series(out["cost"].to_numpy(dtype=float), index=events.index, name="contact_cost")


JOURNEY_COLUMNS = ("journey_id", "journey_type", "step", "rework", "failed_step")
"""What :func:`link_journeys` adds to each event from the step table."""


def _numbered(events, spark=None):
    """``events`` with each row's position as ``pos``: a pandas frame's row, a Parquet file's row
    (one file), or the ``pos`` a Spark frame already carries; pandas goes to ``spark`` when given."""
    if isinstance(events, pd.DataFrame):
        return on_engine(events.assign(pos=np.arange(len(events))), spark)
    if isinstance(events, ParquetTable):
        return on_engine(events if events.row_number == "pos" else events.with_row_numbers("pos"), spark)
    if "pos" not in events.columns:
        raise ValueError("events on Spark need a pos column: each event's row in the table the steps were built from")
    return events


def _has_rows(table) -> bool:
    if isinstance(table, (pd.DataFrame, ParquetTable)):
        return len(table) > 0
    return table.limit(1).count() > 0


def _agent_contact_sql(columns, has_agent_ids: bool, *, agent: str = "agent_id", channel: str = "channel",
                       kind: str = "kind", initiated_by: str = "initiated_by") -> str:
    """The SQL of :func:`flag_agent_contacts` over a table with ``columns``."""
    flag = f'"{agent}" IS NOT NULL' if has_agent_ids else \
        f'coalesce("{channel}" IN ({_sql_values(AGENT_CHANNELS)}), false)'
    for col, default in ((kind, "contact"), (initiated_by, "customer")):     # see flag_customer_contacts
        if col in columns:
            flag += f" AND coalesce(\"{col}\", '{default}') = '{default}'"
    return flag


def _has_agent_ids(events, agent: str = "agent_id") -> bool:
    if agent not in events.columns:
        return False
    if isinstance(events, pd.DataFrame):
        return bool(events[agent].notna().any())
    return bool(query_frames(f'SELECT count("{agent}") AS n FROM ev', ev=select_columns(events, [agent]))["n"].iat[0])


def _contact_cost_sql(columns, cost_per_contact: Mapping[str, float] | None, *, channel: str = "channel",
                      cost: str = "cost") -> str:
    """The SQL of :func:`price_contacts`: the event's own cost where it reads as a number, else its
    channel's configured cost."""
    cases = " ".join(f"WHEN {sql_literal(ch)} THEN CAST({float(v)!r} AS DOUBLE)"
                     for ch, v in dict(cost_per_contact or {}).items())
    by_channel = f'CASE "{channel}" {cases} END' if cases else "CAST(NULL AS DOUBLE)"
    return f'coalesce(TRY_CAST("{cost}" AS DOUBLE), {by_channel})' if cost in columns else by_channel


def _touchpoint_ratings(surveys: pd.DataFrame | None, metric: str | None = None) -> pd.DataFrame | None:
    """The touchpoint ratings an event can receive (one metric: ``metric`` or the most common),
    keyed by customer and touchpoint as text, with the time in nanoseconds; None when there are none."""
    if surveys is None or not len(surveys):
        return None
    s = surveys[(surveys["level"] == "touchpoint") & surveys["score"].notna() & surveys["subject"].notna()]
    if not len(s):
        return None
    s = s[s["metric"] == (metric or s["metric"].mode().iat[0])]
    return pd.DataFrame({"i": np.arange(len(s)), "cust": s["customer_id"].astype(str).to_numpy(),
                         "tp": s["subject"].astype(str).to_numpy(), "tn": _nanoseconds(s["timestamp"]),
                         "score": s["score"].astype(float).to_numpy()})


def _score_sql(within_days: float, *, customer_id: str, timestamp: str, touchpoint: str) -> str:
    """``pos, score``: each event's first rating of its touchpoint within the window (ties: the
    earlier rating row), from ``ev`` and the ratings ``r`` of :func:`_touchpoint_ratings`."""
    return f"""
        SELECT pos, score FROM (
            SELECT e.pos, r.score, row_number() OVER (PARTITION BY e.pos ORDER BY r.tn, r.i) AS k
            FROM ev e JOIN r ON r.cust = CAST(e."{customer_id}" AS VARCHAR) AND r.tp = CAST(e."{touchpoint}" AS VARCHAR)
                 AND r.tn >= epoch_ns(e."{timestamp}")
                 AND r.tn - epoch_ns(e."{timestamp}") <= {int(pd.Timedelta(days=within_days).value)}) m
        WHERE k = 1"""


def _points_at_its_event(ev, st, key: list[str]) -> bool:
    """Whether every step's ``event_row`` is the position of an event with the step's customer,
    time and touchpoint, no two steps pointing at one event. On DuckDB: the steps' (event_row,
    key) rows are those of the events with a customer and a time (the ones a reconstruction
    keeps), compared as a count and a sum of 64-bit row hashes on each side: two scans instead of
    a join of every step to its event (23M events: 0.9-1.0 s against 10.5-15.1 s). A step table
    built from other rows gives another sum (a false match has odds of about 2⁻⁶⁴), and the
    events are then matched on their keys. On Spark, the join."""
    row = lambda t, at: "hash(" + ", ".join([f"{t}.{at}", *(f'{t}."{k}"' for k in key)]) + ")"  # noqa: E731
    try:
        if not any(is_spark_frame(f) for f in (ev, st)):
            return bool(query_frames(f"""
                SELECT s.n = e.n AND s.h = e.h AS same
                FROM (SELECT count(*) AS n, sum({row("st", "event_row")}::HUGEINT) AS h FROM st) s,
                     (SELECT count(*) AS n, sum({row("ev", "pos")}::HUGEINT) AS h FROM ev
                      WHERE ev."{key[0]}" IS NOT NULL AND ev."{key[1]}" IS NOT NULL) e""", ev=ev, st=st)["same"].iloc[0])
        same = " AND ".join(f'e."{k}" IS NOT DISTINCT FROM s."{k}"' for k in key)
        chk = query_frames(f"""
            SELECT count(*) AS n, count(DISTINCT s.event_row) AS d,
                   sum(CASE WHEN e.pos IS NULL OR NOT ({same}) THEN 1 ELSE 0 END) AS bad
            FROM st s LEFT JOIN ev e ON e.pos = s.event_row""", ev=ev, st=st).iloc[0]
        return bool(chk["n"] == chk["d"] and not chk["bad"])
    except duckdb.Error:   # not comparable (a time zone on one side only): not the same events
        return False


def _link_sql(ev, st, key: list[str]) -> str:
    """``pos`` and the journey columns of each event's step: by ``event_row`` when every step's
    customer, time and touchpoint equal those of the event it points at (these are the events the
    steps were built from), else by the key and the order among exact ties."""
    cols = [c for c in JOURNEY_COLUMNS if c in st.columns]
    same = " AND ".join(f'e."{k}" IS NOT DISTINCT FROM s."{k}"' for k in key)
    if "event_row" in st.columns and _points_at_its_event(ev, st, key):
        return f"SELECT e.pos, {', '.join(f's.{c}' for c in cols)} FROM ev e LEFT JOIN st s ON s.event_row = e.pos"
    part = ", ".join(f'"{k}"' for k in key)
    return f"""
        SELECT e.pos, {', '.join(f's.{c}' for c in cols)}
        FROM (SELECT *, row_number() OVER (PARTITION BY {part} ORDER BY pos) AS tie FROM ev) e
        LEFT JOIN (SELECT *, row_number() OVER (PARTITION BY {part} ORDER BY eid) AS tie FROM st) s
             ON {same} AND e.tie = s.tie"""


def build_contact_events(events, steps=None, *, customers: pd.DataFrame | None = None,
                         surveys: pd.DataFrame | None = None, cost_per_contact: Mapping[str, float] | None = None,
                         within_days: float = 3, segment: str = "segment", spark=None,
                         customer_id: str = "customer_id", timestamp: str = "timestamp",
                         touchpoint: str = "touchpoint"):
    """The contact cascade's table of events, built where the events live: every event with its
    row position (``pos``), its journey step (:func:`link_journeys`), whether an agent handled it
    (``agent_contact``, :func:`flag_agent_contacts`), its cost (``contact_cost``,
    :func:`price_contacts`), the customer's ``segment`` and the touchpoint score it received
    (``score``, :func:`link_touchpoint_scores`).

    ``events`` is a pandas frame, the events' Parquet file (:class:`~cxlib.core.sql.ParquetTable`)
    or a Spark frame with ``pos``; ``steps`` the step table anywhere. The result stays out of
    pandas (:func:`cxlib.core.sql.query_table`): a temporary Parquet file, or a Spark frame when
    ``spark`` is given or the events are on Spark. The queries of the cascade read it there. Its
    rows come in no particular order (sorting every event's row would cost more than the whole
    cascade at a million customers); ``pos`` gives the events' order."""
    ev = _numbered(events, spark)
    cols = [c for c in ev.columns if c != "pos"]
    frames = {"ev": ev}
    key = [customer_id, timestamp, touchpoint]
    parts, joins, replaced = [], [], set()
    if steps is not None and _has_rows(steps):
        st = select_columns(steps, [c for c in ("event_row", "eid", *key, *JOURNEY_COLUMNS) if c in steps.columns])
        st = on_engine(st, spark)
        frames["st"] = st
        parts.append(f"linked AS ({_link_sql(ev, st, key)})")
        joins.append("LEFT JOIN linked ON linked.pos = ev.pos")
        journey = [f"linked.{c}" for c in JOURNEY_COLUMNS if c in st.columns]
    else:
        journey = ["CAST(NULL AS BIGINT) AS journey_id", "CAST(NULL AS VARCHAR) AS journey_type",
                   "CAST(NULL AS BIGINT) AS step", "CAST(NULL AS BOOLEAN) AS rework",
                   "CAST(NULL AS BOOLEAN) AS failed_step"]
    replaced |= set(JOURNEY_COLUMNS)
    extra = [f"{_agent_contact_sql(cols, _has_agent_ids(ev))} AS agent_contact",
             f"{_contact_cost_sql(cols, cost_per_contact)} AS contact_cost"]
    replaced |= {"agent_contact", "contact_cost"}
    if customers is not None and segment in customers:
        seg = customers.drop_duplicates(customer_id)
        frames["seg"] = pd.DataFrame({"cid": seg[customer_id].astype(str).to_numpy(),
                                      "segment": seg[segment].to_numpy()})
        joins.append(f'LEFT JOIN seg ON seg.cid = CAST(ev."{customer_id}" AS VARCHAR)')
        extra.append("seg.segment AS segment")
        replaced.add("segment")
    r = _touchpoint_ratings(surveys)
    if r is not None:
        frames["r"] = r
        parts.append(f"scored AS ({_score_sql(within_days, customer_id=customer_id, timestamp=timestamp, touchpoint=touchpoint)})")
        joins.append("LEFT JOIN scored ON scored.pos = ev.pos")
        extra.append("scored.score AS score")
    else:
        extra.append("CAST(NULL AS DOUBLE) AS score")
    replaced.add("score")
    keep = [f'ev."{c}"' for c in cols if c not in replaced]
    with_ = f"WITH {', '.join(parts)} " if parts else ""
    return query_table(f"""{with_}SELECT ev.pos, {', '.join(keep + journey + extra)}
                           FROM ev {' '.join(joins)}""", **frames)


CONTACT_COLUMNS = ("customer_id", "timestamp", "channel", "touchpoint", "contact_reason", "outcome", "agent_id",
                   "handle_time_s", "department", "cost", "journey_id", "journey_type", "contact_cost", "score",
                   "segment")
"""The columns of an agent contact the summaries, agent figures and actions read."""


def join_contacts(events, classified, columns=CONTACT_COLUMNS):
    """The agent contacts of :func:`build_contact_events`' table (with the ``columns`` it has) and
    their classification (:func:`classify_avoidable_contacts` with ``as_table``), left where they
    were computed for the summaries and agent figures; ``journey_type`` is null outside typed
    journeys."""
    cols = [c for c in columns if c in events.columns and c != "journey_type"]
    jtype = f"CASE WHEN e.journey_type <> {sql_literal(UNCLASSIFIED)} THEN e.journey_type END" \
        if "journey_type" in events.columns else "CAST(NULL AS VARCHAR)"
    return query_table(f"""
        SELECT e.pos, {", ".join(f'e."{c}"' for c in cols)}, {jtype} AS journey_type,
               k.avoidable_cause, k.root_cause, k.follows
        FROM ev e JOIN k ON k.pos = e.pos""",
                       ev=select_columns(events, ["pos", *cols, *(["journey_type"] if "journey_type" in events.columns
                                                                 else [])]), k=classified)


def classify_avoidable_contacts(events: pd.DataFrame, *, window_days: float = 7,
                                failure_outcomes: Iterable[str] = ("failed", "incorrect"),
                                unresolved_outcomes: Iterable[str] = ("unresolved",),
                                status_pattern: str = STATUS_PATTERN, rules: Iterable[Mapping] = (),
                                repeat_rule: str = "unresolved", failure_touchpoints: Iterable[str] = (),
                                agent_contact: str = "agent_contact", customer_id: str = "customer_id",
                                timestamp: str = "timestamp", reason: str = "contact_reason",
                                touchpoint: str = "touchpoint", outcome: str = "outcome",
                                journey_id: str = "journey_id", journey_type: str = "journey_type",
                                step: str = "step", rework: str = "rework", spark=None, as_table: bool = False):
    """Classify every agent contact in ``events`` as avoidable or not.

    ``events`` holds all events (self-service and failures matter too) with a boolean
    ``agent_contact`` column and, optionally, the journey columns of :func:`link_journeys`.
    ``rules`` are mappings with ``reason`` and ``cause`` and optional ``touchpoint``,
    ``journey`` and ``root_cause``. Returns one row per agent contact (indexed like
    ``events``) with ``avoidable_cause`` (null when not avoidable), ``root_cause`` and
    ``follows`` (index label of the event it follows, where there is one).

    ``repeat_rule`` says when the same reason again within the window is a repeat:
    ``"unresolved"`` (after an agent contact whose outcome is in ``unresolved_outcomes``) or
    ``"same_reason"`` (after any agent contact about it: for extracts without outcomes, or
    where any second contact counts as failure to resolve).

    The windows over each customer's events run as one SQL query (:func:`cxlib.core.sql.query_frames`)
    over a narrow table of integer codes: in DuckDB, or on ``spark`` (a SparkSession) when given.
    The status pattern is a Python regular expression, matched once per distinct touchpoint and
    reason. With ``as_table`` the result stays where it was computed (``pos``, ``avoidable_cause``,
    ``root_cause`` and ``follows`` as the prior event's ``pos``; see :func:`cxlib.core.sql.query_table`).
    """
    if repeat_rule not in ("unresolved", "same_reason"):
        raise ValueError(f"repeat_rule must be 'unresolved' or 'same_reason', not {repeat_rule!r}")
    ev, view, has = _contact_view(events, agent_contact=agent_contact, customer_id=customer_id, timestamp=timestamp,
                                  reason=reason, touchpoint=touchpoint, outcome=outcome, journey_id=journey_id,
                                  journey_type=journey_type, step=step, rework=rework, spark=spark)
    window = int(pd.Timedelta(days=window_days).value)     # nanoseconds, as the event times
    parts, whens = [], []
    # 1a. repeat: same reason again within the window after an agent contact that left it unresolved
    # (or, with repeat_rule "same_reason", after any agent contact about it)
    by_reason_only = repeat_rule == "same_reason"
    if "reason" in has and ("outcome" in has or by_reason_only):
        unresolved = "" if by_reason_only else f"AND prev_out IN ({_sql_values(unresolved_outcomes)})"
        prev_out = "lag(outcome) OVER w" if "outcome" in has else "NULL"
        parts.append(f"""rep AS (
            SELECT pos, prev_pos, {sql_literal('repeated ' if by_reason_only else 'unresolved ')} || CAST(reason AS VARCHAR)
                   AS why
            FROM (SELECT pos, tn, reason, lag(pos) OVER w AS prev_pos, lag(tn) OVER w AS prev_tn,
                         {prev_out} AS prev_out
                  FROM e WHERE agent AND reason IS NOT NULL AND cust IS NOT NULL
                  WINDOW w AS (PARTITION BY cust, reason ORDER BY tn NULLS LAST, pos)) r
            WHERE tn - prev_tn <= {window} {unresolved})""")
        whens.append(("rep", "'repeat'"))
    # 1b. repeat: a touchpoint the journey already had (rework), in a typed journey
    if "journey_id" in has and "rework" in has:
        parts.append("""rw AS (
            SELECT pos, prev_pos, tp || ' repeated in ' || jtype AS why
            FROM (SELECT pos, rework, tp, jtype,
                         CASE WHEN journey_id IS NOT NULL AND tp IS NOT NULL
                              THEN lag(pos) OVER (PARTITION BY journey_id, tp ORDER BY tn NULLS LAST, pos) END AS prev_pos
                  FROM e WHERE typed) r
            WHERE rework)""")
        whens.append(("rw", "'repeat'"))
    # 2. status chasing: the pattern matched once per distinct touchpoint and reason
    pairs = query_frames(f"WITH e AS ({view}) SELECT DISTINCT tp" + (", reason" if "reason" in has else "") + " FROM e",
                         ev=ev)
    text = pairs["tp"].astype(str)
    if "reason" in has:
        text = text + " | " + pairs["reason"].fillna("").astype(str)
    chase = pairs[text.str.contains(status_pattern, case=False, regex=True).fillna(False).to_numpy(dtype=bool)]
    on_reason = " AND e.reason IS NOT DISTINCT FROM c.reason" if "reason" in has else ""
    parts.append(f"""chasing AS (
        SELECT e.pos, NULL AS prev_pos,
               'no update on ' || CASE WHEN e.typed THEN e.jtype ELSE {"coalesce(e.reason, e.tp)" if "reason" in has
                                                                       else "e.tp"} END AS why
        FROM e JOIN chase c ON e.tp IS NOT DISTINCT FROM c.tp{on_reason} WHERE e.agent)""")
    whens.append(("chasing", "'status_chasing'"))
    # 3. failure demand: after a failure event (a failure outcome or a failure touchpoint; not a
    # journey's trigger) within the window
    if "outcome" in has or failure_touchpoints:
        failed = f"outcome IN ({_sql_values(failure_outcomes)})" if "outcome" in has else "false"
        is_fail = f"(coalesce({failed}, false) OR coalesce(tp IN ({_sql_values(failure_touchpoints)}), false))"
        if "journey_id" in has and "step" in has:
            is_fail += " AND NOT coalesce(typed AND step = 1, false)"
        parts.append(f"""fails AS (
            SELECT pos, cust, tn,
                   tp || coalesce(' ' || CASE WHEN {failed} THEN outcome END, '') AS why
            FROM e WHERE {is_fail} AND cust IS NOT NULL AND tn IS NOT NULL),
        fd AS (
            SELECT pos, prev_pos, why FROM (
                SELECT q.pos, f.pos AS prev_pos, f.why,
                       row_number() OVER (PARTITION BY q.pos ORDER BY f.tn DESC, f.pos DESC) AS r
                FROM e q JOIN fails f ON q.cust = f.cust AND f.tn < q.tn AND q.tn - f.tn <= {window}
                WHERE q.agent) m
            WHERE r = 1)""")
        whens.append(("fd", "'failure_demand'"))
    # 4. configured rules per contact reason
    for k, rule in enumerate(rules):
        if "reason" not in has:
            break
        cond = [f"reason = {sql_literal(rule['reason'])}"]
        if rule.get("touchpoint"):
            cond.append(f"tp = {sql_literal(rule['touchpoint'])}")
        if rule.get("journey"):
            cond.append(f"jtype = {sql_literal(rule['journey'])}" if "jtype" in has else "false")
        why = rule.get("root_cause") or f"{rule['reason']} (rule)"
        parts.append(f"""rule{k} AS (SELECT pos, NULL AS prev_pos, {sql_literal(why)} AS why
                         FROM e WHERE agent AND {" AND ".join(cond)})""")
        whens.append((f"rule{k}", sql_literal(rule["cause"])))
    joins = "\n".join(f"LEFT JOIN {name} ON {name}.pos = e.pos" for name, _ in whens)

    def first(column: str) -> str:     # the first cause that matches wins
        cases = " ".join(f"WHEN {name}.pos IS NOT NULL THEN {label if column == 'cause' else f'{name}.{column}'}"
                         for name, label in whens)
        return f"CASE {cases} END AS {column}"
    sql = f"""
        WITH e AS ({view}), {", ".join(parts)}
        SELECT e.pos, {first("cause")}, {first("why")}, {first("prev_pos")}
        FROM e {joins} WHERE e.agent"""
    if as_table:      # a table for later queries: in no particular order (a sort of every row would buy nothing)
        return query_table(f"SELECT pos, cause AS avoidable_cause, why AS root_cause, prev_pos AS follows FROM ({sql}) k",
                           ev=ev, chase=chase)
    out = query_frames(sql + " ORDER BY e.pos", ev=ev, chase=chase)
    labels = events.index.to_numpy() if isinstance(events, pd.DataFrame) else None    # else the pos column
    follows = np.full(len(out), None, dtype=object)
    known = out["prev_pos"].notna().to_numpy()
    prior = out["prev_pos"].to_numpy()[known].astype(np.int64)
    follows[known] = labels[prior] if labels is not None else prior
    pos = out["pos"].to_numpy(dtype=np.int64)
    return pd.DataFrame({"avoidable_cause": out["cause"].astype(object).where(out["cause"].notna(), None).to_numpy(),
                         "root_cause": out["why"].astype(object).where(out["why"].notna(), None).to_numpy(),
                         "follows": follows}, index=pd.Index(labels[pos]) if labels is not None else pd.Index(pos, name="pos"))


def _sql_values(values: Iterable[str]) -> str:
    """``'a', 'b'`` for an IN list; ``NULL`` for none (so that ``x IN (NULL)`` matches nothing)."""
    return ", ".join(sql_literal(v) for v in values) or "NULL"


def _nanoseconds(times: pd.Series) -> pd.array:
    """Times as integer nanoseconds since 1970 in UTC (naive times read as UTC), null where missing."""
    t = pd.to_datetime(times, utc=True)
    out = pd.array(t.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]", na_value=np.datetime64(0, "ns"))
                   .view("int64"), dtype="Int64")
    out[t.isna().to_numpy()] = pd.NA
    return out


def _contact_view(events, *, agent_contact: str, customer_id: str, timestamp: str, reason: str, touchpoint: str,
                  outcome: str, journey_id: str, journey_type: str, step: str, rework: str, spark=None):
    """``(table, select, columns)``: the events to register as ``ev`` (a pandas frame gets its row
    position as ``pos``; a Parquet file or Spark frame must carry ``pos``), the SELECT over ``ev``
    that :func:`classify_avoidable_contacts` queries as ``e`` (``cust``, ``tn``: the time in
    nanoseconds, ``agent``, ``tp`` and the columns the causes read) and the names of its columns."""
    cols = list(events.columns)
    used = [x for x in dict.fromkeys((customer_id, timestamp, agent_contact, touchpoint, reason, outcome, journey_id,
                                      journey_type, step, rework)) if x in cols]
    has_journey = journey_id in cols and bool(
        query_frames(f'SELECT count("{journey_id}") AS n FROM ev', ev=select_columns(events, [journey_id]))["n"].iat[0])
    select = [f'"{customer_id}" AS cust', f'epoch_ns("{timestamp}") AS tn',
              f'coalesce(CAST("{agent_contact}" AS BOOLEAN), false) AS agent', f'"{touchpoint}" AS tp']
    select += [f'"{col}" AS {name}' for name, col in (("reason", reason), ("outcome", outcome)) if col in cols]
    jtype = f'"{journey_type}"' if journey_type in cols else "CAST(NULL AS VARCHAR)"
    select += [f"{jtype} AS jtype", f"coalesce({jtype} <> {sql_literal(UNCLASSIFIED)}, false) AS typed"]
    if has_journey:
        select.append(f'"{journey_id}" AS journey_id')
        if step in cols:
            select.append(f'TRY_CAST("{step}" AS DOUBLE) AS step')
        if rework in cols:
            select.append(f'coalesce(CAST("{rework}" AS BOOLEAN), false) AS rework')
    table = events[used].assign(pos=np.arange(len(events))) if isinstance(events, pd.DataFrame) \
        else select_columns(events, ["pos", *used])
    table = on_engine(table, spark)
    names = {"pos", "cust", "tn", "agent", "tp", "jtype", "typed"} | {s.rsplit(" AS ", 1)[1] for s in select}
    return table, "SELECT pos, " + ", ".join(select) + " FROM ev", names


def summarize_avoidable(contacts, *, by: str | list[str] | None = None, per_year: float = 1.0,
                        cause: str = "avoidable_cause", cost: str = "contact_cost") -> pd.DataFrame:
    """Avoidable agent contacts overall (``by`` None) or per group with any: the group's
    ``contacts``, the ``avoidable`` ones, their ``share`` of the group and ``share_all`` of
    all agent contacts (Wilson intervals), and their ``cost_per_year`` with an exact Poisson
    interval on the count (scaled by the group's mean avoidable contact cost). ``contacts`` is
    pandas or a table of :func:`classify_avoidable_contacts` (``as_table``) anywhere: the counts
    are one ``GROUP BY`` where it lives; groups keep the order they first appear in."""
    names = [] if by is None else ([by] if isinstance(by, str) else list(by))
    cols = list(contacts.columns)
    t = contacts.assign(pos=np.arange(len(contacts))) if isinstance(contacts, pd.DataFrame) else contacts
    t = select_columns(t, ["pos", cause, *([cost] if cost in cols else []), *names])
    keys = ", ".join(f'"{n}"' for n in names)
    spent = f'CASE WHEN "{cause}" IS NOT NULL THEN coalesce(CAST("{cost}" AS DOUBLE), 0) ELSE 0 END' \
        if cost in cols else "CAST(0 AS DOUBLE)"
    g = query_frames(f"""
        SELECT {keys + ", " if keys else ""}count(*) AS n, count("{cause}") AS k, sum({spent}) AS spent,
               min(pos) AS first, (SELECT count(*) FROM c) AS total
        FROM c {"WHERE " + " AND ".join(f'"{x}" IS NOT NULL' for x in names) if names else ""}
        {"GROUP BY " + keys if keys else ""} ORDER BY first""", c=t)
    rows = []
    for r in g.to_dict("records"):
        k, n, total = int(r["k"]), int(r["n"]), int(r["total"])
        if by is not None and k == 0:
            continue
        lo, hi = wilson_interval(k, n)
        lo_all, hi_all = wilson_interval(k, total)
        yearly = float(r["spent"] or 0.0) * per_year
        c_lo, c_hi = poisson_rate_interval(k, 1.0)
        unit = yearly / k if k else 0.0
        rows.append({**{x: r[x] for x in names},
                     "contacts": n, "avoidable": k, "share": k / n if n else np.nan, "share_lo": lo, "share_hi": hi,
                     "share_all": k / total if total else np.nan, "share_all_lo": lo_all, "share_all_hi": hi_all,
                     "cost_per_year": yearly, "cost_lo": c_lo * unit, "cost_hi": c_hi * unit})
    out = pd.DataFrame(rows, columns=[*names, "contacts", "avoidable", "share", "share_lo", "share_hi", "share_all",
                                      "share_all_lo", "share_all_hi", "cost_per_year", "cost_lo", "cost_hi"])
    return out.sort_values("cost_per_year", ascending=False).reset_index(drop=True) if by is not None else out


def link_touchpoint_scores(events: pd.DataFrame, surveys: pd.DataFrame | None, *, within_days: float = 3,
                           customer_id: str = "customer_id", timestamp: str = "timestamp",
                           touchpoint: str = "touchpoint", metric: str | None = None, spark=None) -> pd.Series:
    """The touchpoint survey score each event received: the customer's first touchpoint
    rating of the same touchpoint within ``within_days`` after it (NaN when none; of two ratings
    at one time, the earlier row). With ``metric`` only ratings of that metric count; otherwise
    the most common metric is used. The match is one SQL range join (in DuckDB, or on ``spark``),
    the one :func:`build_contact_events` runs."""
    out = pd.Series(np.nan, index=events.index, name="score")
    r = _touchpoint_ratings(surveys, metric)
    if r is None:
        return out
    ev = _numbered(events[[customer_id, timestamp, touchpoint]], spark)
    m = query_frames(_score_sql(within_days, customer_id=customer_id, timestamp=timestamp, touchpoint=touchpoint),
                     ev=ev, r=r)
    values = out.to_numpy(copy=True)
    values[m["pos"].to_numpy(dtype=np.int64)] = m["score"].to_numpy(dtype=float)
    return pd.Series(values, index=events.index, name="score")


def measure_self_service(events: pd.DataFrame, *, segment: str | None = "segment", containment_days: float = 3,
                         per_year: float = 1.0, min_attempts: int = 30, agent_contact: str = "agent_contact",
                         customer_id: str = "customer_id", timestamp: str = "timestamp",
                         channel: str = "channel", reason: str = "contact_reason",
                         handle_time: str = "handle_time_s", outcome: str = "outcome",
                         score: str | None = "score", cost: str = "contact_cost", spark=None) -> pd.DataFrame:
    """Self-service fit per contact reason × segment (``segment`` is a column of ``events``).

    * ``attempts``: self-service events (IVR, web, app) with the reason; ``containment``:
      the share not followed by an agent contact about the same reason within
      ``containment_days`` (Wilson interval ``containment_lo/hi``);
    * ``agent_contacts`` (per year) about the reason, their ``complexity`` (mean handle time
      over the mean of all agent contacts) and ``not_resolved`` share;
    * ``score_self`` and ``score_assisted``: mean touchpoint score in each (NaN when unrated);
    * ``fit`` = containment × min(1, 1 / complexity) × a satisfaction penalty when
      self-service scores lower (by the gap as a share of the scale's observed range);
    * ``movable`` agent contacts per year (× containment, with its interval) and the
      ``saving`` per year at the channels' cost difference.

    Only groups with at least ``min_attempts`` self-service attempts are scored. The follow-ups
    and the sums per group are one SQL query (in DuckDB, or on ``spark`` when given); only a row
    per contact reason and segment comes back."""
    cols = ["contact_reason", "segment", "attempts", "containment", "containment_lo", "containment_hi",
            "agent_contacts", "complexity", "not_resolved", "score_self", "score_assisted", "fit",
            "movable", "movable_lo", "movable_hi", "saving", "saving_lo", "saving_hi"]
    present = list(events.columns)
    num = lambda c: f'TRY_CAST("{c}" AS DOUBLE)' if c and c in present else "CAST(NULL AS DOUBLE)"  # noqa: E731
    seg = f"coalesce(CAST(\"{segment}\" AS VARCHAR), '(none)')" if segment and segment in present else "'all'"
    unresolved = (f"""CASE WHEN "{outcome}" IN ('unresolved', 'transferred') THEN CAST(1 AS DOUBLE) """
                  "ELSE CAST(0 AS DOUBLE) END") if outcome in present else "CAST(NULL AS DOUBLE)"
    view = f"""SELECT pos, "{customer_id}" AS cust, epoch_ns("{timestamp}") AS tn, "{reason}" AS reason, {seg} AS seg,
                      coalesce("{channel}" IN ({", ".join(sql_literal(x) for x in SELF_SERVICE_CHANNELS)}), false) AS is_self,
                      coalesce(CAST("{agent_contact}" AS BOOLEAN), false) AS agent, {num(handle_time)} AS ht,
                      {num(score)} AS score, {num(cost)} AS cost, {unresolved} AS unresolved FROM ev"""
    used = [x for x in dict.fromkeys((customer_id, timestamp, reason, segment, channel, agent_contact, handle_time,
                                      score, cost, outcome)) if x and x in present]
    ev = events[used].assign(pos=np.arange(len(events))) if isinstance(events, pd.DataFrame) \
        else select_columns(events, ["pos", *used])
    ev = on_engine(ev, spark)
    window = int(pd.Timedelta(days=containment_days).value)
    g = query_frames(f"""
        WITH e AS ({view}),
        ss AS (SELECT * FROM e WHERE is_self AND reason IS NOT NULL),
        ag AS (SELECT * FROM e WHERE agent AND reason IS NOT NULL),
        followed AS (SELECT DISTINCT s.pos FROM ss s JOIN ag a
                     ON a.cust = s.cust AND a.reason = s.reason AND a.tn >= s.tn AND a.tn - s.tn <= {window}),
        tried AS (SELECT ss.reason, ss.seg, count(*) AS attempts, count(*) - count(f.pos) AS contained,
                         avg(score) AS score_self, avg(cost) AS cost_self
                  FROM ss LEFT JOIN followed f ON ss.pos = f.pos GROUP BY ss.reason, ss.seg),
        helped AS (SELECT reason, seg, count(*) AS n_agent, avg(ht) AS ht, avg(unresolved) AS not_resolved,
                          avg(score) AS score_assisted, avg(cost) AS cost_agent FROM ag GROUP BY reason, seg)
        SELECT t.*, h.n_agent, h.ht, h.not_resolved, h.score_assisted, h.cost_agent,
               (SELECT avg(ht) FROM ag) AS mean_ht, (SELECT count(*) FROM ag) AS all_agent,
               (SELECT max(score) - min(score) FROM e) AS span
        FROM tried t LEFT JOIN helped h ON t.reason = h.reason AND t.seg = h.seg
        ORDER BY t.reason, t.seg""", ev=ev)
    if not len(g) or not g["all_agent"].iat[0]:
        return pd.DataFrame(columns=cols)
    rows = []
    for r in g[g["attempts"] >= min_attempts].itertuples(index=False):
        k, n = int(r.contained), int(r.attempts)
        p = k / n
        lo, hi = wilson_interval(k, n)
        n_agent = 0 if pd.isna(r.n_agent) else int(r.n_agent)
        cx = float(r.ht / r.mean_ht) if n_agent and pd.notna(r.ht) else np.nan
        unres = float(r.not_resolved) if outcome in present and n_agent else np.nan
        s_self = float(r.score_self) if score and score in present and pd.notna(r.score_self) else np.nan
        s_ass = float(r.score_assisted) if score and score in present and n_agent and pd.notna(r.score_assisted) \
            else np.nan
        span = float(r.span) if pd.notna(r.span) else np.nan
        penalty = 1.0 if np.isnan(s_self) or np.isnan(s_ass) or not span else min(1.0, 1 + (s_self - s_ass) / span)
        fit = p * (min(1.0, 1 / cx) if cx and not np.isnan(cx) else 1.0) * max(penalty, 0.0)
        vol = n_agent * per_year
        unit = (float(r.cost_agent) - float(r.cost_self)) if cost in present and n_agent \
            and pd.notna(r.cost_agent) and pd.notna(r.cost_self) else np.nan
        rows.append({"contact_reason": r.reason, "segment": r.seg, "attempts": n, "containment": p,
                     "containment_lo": lo, "containment_hi": hi, "agent_contacts": vol, "complexity": cx,
                     "not_resolved": unres, "score_self": s_self, "score_assisted": s_ass, "fit": fit,
                     "movable": vol * p, "movable_lo": vol * lo, "movable_hi": vol * hi, "saving": vol * p * unit,
                     "saving_lo": vol * lo * unit, "saving_hi": vol * hi * unit})
    return pd.DataFrame(rows, columns=cols).sort_values("saving", ascending=False).reset_index(drop=True)
