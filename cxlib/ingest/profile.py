"""Data profile of the canonical tables: coverage, volumes, channel mix, survey response."""
from __future__ import annotations

import pandas as pd

from cxlib.core.schema import BUILTIN_SCALES
from cxlib.core.formatting import format_count, format_interval, format_value, humanize
from cxlib.core.uncertainty import nps_interval, wilson_interval
from cxlib.core.sql import query_frames, select_columns, sql_literal


def profile_coverage(tables: dict, time_columns: dict[str, str] | None = None) -> pd.DataFrame:
    """First and last date, span in days and rows per table (a table may be a pandas frame, or
    events left on the engine: counted there)."""
    time_columns = time_columns or {"customers": "signup_date", "events": "timestamp", "surveys": "timestamp"}
    rows = []
    for name, frame in tables.items():
        col = time_columns.get(name)
        if isinstance(frame, pd.DataFrame):
            n = len(frame)
            ts = frame[col].dropna() if col in frame else pd.Series([], dtype="datetime64[us]")
            first, last = (ts.min(), ts.max()) if len(ts) else (pd.NaT, pd.NaT)
        else:
            span = f'min("{col}") AS first, max("{col}") AS last' if col in frame.columns else \
                "NULL AS first, NULL AS last"
            r = query_frames(f"SELECT count(*) AS n, {span} FROM t", t=frame).iloc[0]
            n, first, last = int(r["n"]), r["first"], r["last"]
        rows.append({"table": name, "rows": n, "from": first, "to": last,
                     "days": (last - first).days if pd.notna(first) else None})
    return pd.DataFrame(rows).set_index("table")


def _own_contacts(events, kind: str = "kind", initiated_by: str = "initiated_by") -> str:
    """The SQL condition of :func:`cxlib.ingest.semantics.flag_customer_contacts`."""
    cond = ["true"]
    if kind in events.columns:
        cond.append(f"coalesce(\"{kind}\", 'contact') = 'contact'")
    if initiated_by in events.columns:
        cond.append(f"coalesce(\"{initiated_by}\", 'customer') = 'customer'")
    return " AND ".join(cond)


def count_events_per_customer(events, customer_col: str = "customer_id") -> pd.Series:
    """Number of events per customer, sorted by customer (counted where the events are)."""
    per = query_frames(f'SELECT "{customer_col}" AS c, count(*) AS events FROM ev GROUP BY 1 ORDER BY 1',
                       ev=select_columns(events, [customer_col]))
    return pd.Series(per["events"].to_numpy(dtype="int64"), index=pd.Index(per["c"], name=customer_col),
                     name="events")


def summarize_channel_mix(events, channel_col: str = "channel", agent_col: str = "agent_id") -> pd.DataFrame:
    """Events per channel, their share, and the share handled by an agent (counted where the
    events are); the busiest channel first."""
    agents = f'count("{agent_col}")' if agent_col in events.columns else "0"
    out = query_frames(f'SELECT "{channel_col}" AS ch, count(*) AS events, {agents} AS with_agent FROM ev '
                       f'WHERE "{channel_col}" IS NOT NULL GROUP BY 1 ORDER BY events DESC, ch', ev=events)
    out = out.set_index(pd.Index(out["ch"], name=channel_col))[["events", "with_agent"]].astype("int64")
    out["share"] = out["events"] / out["events"].sum()
    out["agent_share"] = out["with_agent"] / out["events"]
    return out


def summarize_contact_reasons(events, *, reason: str = "contact_reason",
                              customer_col: str = "customer_id", top: int = 10) -> pd.DataFrame:
    """Why customers get in touch: per contact reason of the customer's own contacts, the
    contacts, their share of contacts with a reason (95% Wilson interval) and the customers.
    The ``top`` reasons, the rest summed as 'all other reasons'. Empty without reasons.
    Counted where the events are."""
    cols = ["contact_reason", "contacts", "share", "share_lo", "share_hi", "customers"]
    if reason not in events.columns:
        return pd.DataFrame(columns=cols)
    own = f'{_own_contacts(events)} AND "{reason}" IS NOT NULL'
    per = query_frames(f'SELECT CAST("{reason}" AS VARCHAR) AS r, count(*) AS contacts, '
                       f'count(DISTINCT "{customer_col}") AS customers FROM ev WHERE {own} '
                       'GROUP BY 1 ORDER BY contacts DESC, r', ev=events)
    if not len(per):
        return pd.DataFrame(columns=cols)
    n = int(per["contacts"].sum())
    out = per.set_index("r")[["contacts", "customers"]].astype("int64")
    if len(out) > top:
        kept = ", ".join(sql_literal(r) for r in out.index[:top])
        rest = query_frames(f'SELECT count(DISTINCT "{customer_col}") AS n FROM ev WHERE {own} '
                            f'AND CAST("{reason}" AS VARCHAR) NOT IN ({kept})', ev=events)["n"].iloc[0]
        out = pd.concat([out.iloc[:top], pd.DataFrame({"contacts": [int(out["contacts"].iloc[top:].sum())],
                                                       "customers": [int(rest)]}, index=["all other reasons"])])
    ci = [wilson_interval(int(k), n) for k in out["contacts"]]
    out = out.assign(share=out["contacts"] / n, share_lo=[a for a, _ in ci], share_hi=[b for _, b in ci])
    return out.rename_axis("contact_reason").reset_index()[cols]


def measure_contact_headline(events, *, min_n: int = 30) -> dict | None:
    """The most common reason customers get in touch (share of their contacts with a reason,
    interval, n) and the share of contacting customers who got in touch more than once in the
    period, or None with fewer than ``min_n`` contacts with a reason. Counted where the
    events are."""
    if events is None:
        return None
    reasons = summarize_contact_reasons(events, top=1)
    if not len(reasons) or reasons["contacts"].sum() < min_n:
        return None
    top = reasons.iloc[0]
    span = 'min("timestamp") AS first, max("timestamp") AS last' if "timestamp" in events.columns else \
        "NULL AS first, NULL AS last"
    r = query_frames(f"""SELECT count(*) AS m, count(*) FILTER (WHERE n > 1) AS k, min(first) AS first,
                                max(last) AS last
                         FROM (SELECT customer_id, count(*) AS n, {span} FROM ev WHERE {_own_contacts(events)}
                               GROUP BY customer_id)""", ev=events).iloc[0]
    k, m = int(r["k"]), int(r["m"])
    lo, hi = wilson_interval(k, m)
    return {"top_reason": str(top["contact_reason"]), "value": float(top["share"]), "lo": float(top["share_lo"]),
            "hi": float(top["share_hi"]), "n": int(reasons["contacts"].sum()),
            "more_than_once": k / m, "more_than_once_lo": lo, "more_than_once_hi": hi, "customers": m,
            "period": _period(pd.Series([r["first"], r["last"]])) if "timestamp" in events.columns else None}


def count_events_per_week(events, time_col: str = "timestamp", channel_col: str = "channel") -> pd.DataFrame:
    """Events per channel and week (Monday to Sunday, labelled by the Sunday, UTC), with the empty
    weeks between a channel's first and last as zeros: what ``groupby(channel).resample("W")
    .size()`` gives. Counted where the events are; only the weeks come back."""
    per = query_frames(f"""SELECT "{channel_col}" AS ch, CAST(date_trunc('week', "{time_col}") AS DATE) AS monday,
                                  count(*) AS events
                           FROM ev WHERE "{time_col}" IS NOT NULL AND "{channel_col}" IS NOT NULL
                           GROUP BY 1, 2 ORDER BY 1, 2""", ev=select_columns(events, [time_col, channel_col]))
    unit = events[time_col].dtype.unit if isinstance(events, pd.DataFrame) else "us"
    tz = getattr(events[time_col].dtype, "tz", None) if isinstance(events, pd.DataFrame) else "UTC"
    parts = []
    for ch, c in per.groupby("ch", sort=True):
        sunday = pd.DatetimeIndex(pd.to_datetime(c["monday"]) + pd.Timedelta(days=6)).as_unit(unit)
        sunday = sunday.tz_localize(tz) if tz is not None else sunday
        counts = pd.Series(c["events"].to_numpy(dtype="int64"), index=sunday)
        full = pd.date_range(sunday.min(), sunday.max(), freq="W", unit=unit)
        parts.append(pd.DataFrame({channel_col: ch, time_col: full,
                                   "events": counts.reindex(full, fill_value=0).to_numpy()}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[channel_col, time_col, "events"])


def summarize_survey_response(surveys: pd.DataFrame, customers: pd.DataFrame | None = None,
                              customer_col: str = "customer_id") -> pd.DataFrame:
    """Per survey level and metric: responses, respondents, share actually rated
    (not 'not rated'), and respondents as a share of all customers when known."""
    g = surveys.groupby(["level", "metric"])
    out = pd.DataFrame({"responses": g.size(), "respondents": g[customer_col].nunique(),
                        "rated_share": g["score"].apply(lambda s: s.notna().mean()),
                        "mean_score": g["score"].mean()})
    if customers is not None and len(customers):
        out["response_rate"] = out["respondents"] / customers[customer_col].nunique()
    return out


def describe_interactions(per_customer: pd.Series, mix: pd.DataFrame) -> str:
    """One sentence on event volume: events and customers, the median and 90th percentile of
    events per customer, and the share an agent handled."""
    n, median = int(mix["events"].sum()), per_customer.median()
    return (f"{format_count(n)} events from {format_count(per_customer.size)} customers: a median of "
            f"{format_count(median)} event{'' if median == 1 else 's'} per customer (90% of customers have at most "
            f"{format_count(per_customer.quantile(0.9))}). "
            f"{format_value(mix['with_agent'].sum() / max(n, 1), 'share', digits=1)} of events were "
            "handled by an agent.")


def measure_standard_headlines(tables: dict[str, pd.DataFrame], *, min_n: int = 30,
                               scales: dict[str, tuple[float, float]] | None = None,
                               green: dict[str, float] | None = None, undated: tuple[str, ...] | list = ()) -> dict:
    """The standard figures a reader looks for first, where the data allows, each with its
    interval, n and period: relationship NPS (promoters 9-10 minus detractors 0-6, in points),
    the share satisfied (a yes/no ``satisfied`` metric), the CSAT satisfied share (ratings at or
    above ``green['csat']`` on the ``scales['csat']`` scale, touchpoint and journey ratings
    together) and the churn rate (the share of customers flagged as churned, over the period
    their churn dates span, or 'not dated'). Tables in ``undated`` (timestamps set as a constant)
    get no period."""
    scales = {**BUILTIN_SCALES, **(scales or {})}
    green = {"csat": 4, **(green or {})}
    out: dict = {}
    s = tables.get("surveys")
    if s is not None and "surveys" in undated:
        s = s.drop(columns="timestamp", errors="ignore")
    if s is not None and len(s):
        rel = s[(s["level"] == "relationship") & (s["metric"] == "nps")].dropna(subset=["score"])
        if len(rel) >= min_n:
            k_p, k_d, n = int((rel["score"] >= 9).sum()), int((rel["score"] <= 6).sum()), len(rel)
            lo, hi = nps_interval(k_p, k_d, n)
            out["nps"] = {"value": 100 * (k_p - k_d) / n, "lo": lo, "hi": hi, "n": n, "promoters": k_p,
                          "detractors": k_d, "period": _period(rel["timestamp"]) if "timestamp" in rel else None}
        sat = s[s["metric"] == "satisfied"].dropna(subset=["score"])
        if len(sat) >= min_n:
            out["satisfied"] = _share_of(sat, sat["score"] > 0)
        csat = s[s["metric"] == "csat"].dropna(subset=["score"])
        if len(csat) >= min_n:
            out["csat"] = _share_of(csat, csat["score"] >= green["csat"]) | {
                "threshold": green["csat"], "scale": list(scales["csat"]), "mean": float(csat["score"].mean())}
    contacts = measure_contact_headline(tables.get("events"), min_n=min_n)
    if contacts:
        out["contacts"] = contacts
    c = tables.get("customers")
    if c is not None and "churned" in c and c["churned"].notna().sum() >= min_n:
        flag = c.drop_duplicates("customer_id")["churned"].dropna().astype(bool)
        lo, hi = wilson_interval(int(flag.sum()), len(flag))
        dated = c["churn_date"].dropna() if "churn_date" in c else pd.Series(dtype="datetime64[ns]")
        out["churn"] = {"value": float(flag.mean()), "lo": lo, "hi": hi, "n": len(flag), "churners": int(flag.sum()),
                        "period": _period(dated) if len(dated) else None}
    return out


def _share_of(ratings: pd.DataFrame, hit: pd.Series) -> dict:
    """The share of ``ratings`` where ``hit`` holds, with its Wilson interval, n and period."""
    k, n = int(hit.sum()), len(ratings)
    lo, hi = wilson_interval(k, n)
    return {"value": k / n, "lo": lo, "hi": hi, "n": n,
            "period": _period(ratings["timestamp"]) if "timestamp" in ratings else None}


def _period(ts: pd.Series) -> list[str] | None:
    ts = pd.to_datetime(ts.dropna())
    return [f"{ts.min():%Y-%m-%d}", f"{ts.max():%Y-%m-%d}"] if len(ts) else None


def describe_standard_headlines(headlines: dict) -> list[str]:
    """The standard figures as sentences, each with its interval, n and period."""
    def when(period, verb):
        if not period:
            return ""
        return f"; {verb} {period[0]}" if period[0] == period[1] else f"; {verb} {period[0]} to {period[1]}"

    out = []
    if "nps" in headlines:
        h = headlines["nps"]
        out.append(f"**Relationship NPS {h['value']:+.0f}** ({format_interval(h['lo'], h['hi'], digits=0)}, "
                   f"n = {format_count(h['n'])} responses: {format_value(h['promoters'] / h['n'], 'share', digits=0)} "
                   f"promoters, {format_value(h['detractors'] / h['n'], 'share', digits=0)} detractors"
                   f"{when(h.get('period'), 'responses from')}).")
    if "satisfied" in headlines:
        h = headlines["satisfied"]
        out.append(f"**{format_value(h['value'], 'share', digits=1)} satisfied** "
                   f"({format_interval(h['lo'], h['hi'], 'share', digits=1)}, n = {format_count(h['n'])} responses"
                   f"{when(h.get('period'), 'responses from')}).")
    if "csat" in headlines:
        h = headlines["csat"]
        lo_s, hi_s = h["scale"]
        top = f"{h['threshold']:g} or {hi_s:g}" if hi_s - h["threshold"] == 1 else f"{h['threshold']:g} to {hi_s:g}"
        out.append(f"**{format_value(h['value'], 'share', digits=1)} of CSAT ratings satisfied** "
                   f"({format_interval(h['lo'], h['hi'], 'share', digits=1)}: ratings of {top} on a "
                   f"{lo_s:g}–{hi_s:g} scale; mean {h['mean']:.2f}; n = {format_count(h['n'])} ratings"
                   f"{when(h.get('period'), 'rated from')}).")
    if "churn" in headlines:
        h = headlines["churn"]
        period = when(h.get("period"), "churn dates from") if h.get("period") else \
            "; a snapshot flag: the extract gives no churn dates, so the period it covers is not known"
        out.append(f"**{format_value(h['value'], 'share', digits=1)} of customers churned** "
                   f"({format_interval(h['lo'], h['hi'], 'share', digits=1)}, {format_count(h['churners'])} of "
                   f"{format_count(h['n'])} customers{period}).")
    if "contacts" in headlines:
        h = headlines["contacts"]
        reason = humanize(h["top_reason"])
        out.append(f"**Why customers get in touch: '{reason}' is the most common reason**, {format_value(h['value'], 'share', digits=1)} "
                   f"({format_interval(h['lo'], h['hi'], 'share', digits=1)}) of {format_count(h['n'])} customer "
                   f"contacts with a reason"
                   # nobody coming back twice is how an extract keyed by contact looks, not a finding
                   + (f"; {format_value(h['more_than_once'], 'share', digits=1)} "
                      f"({format_interval(h['more_than_once_lo'], h['more_than_once_hi'], 'share', digits=1)}) of the "
                      f"{format_count(h['customers'])} customers who got in touch did so more than once"
                      if h["more_than_once"] > 0 else "")
                   + f"{when(h.get('period'), 'contacts from')}.")
    return out
