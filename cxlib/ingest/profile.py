"""Data profile of the canonical tables: coverage, volumes, channel mix, survey response."""
from __future__ import annotations

import pandas as pd

from cxlib.core.formatting import format_count, format_value


def profile_coverage(tables: dict[str, pd.DataFrame], time_columns: dict[str, str] | None = None) -> pd.DataFrame:
    """First and last date, span in days and rows per table."""
    time_columns = time_columns or {"customers": "signup_date", "events": "timestamp", "surveys": "timestamp"}
    rows = []
    for name, frame in tables.items():
        col = time_columns.get(name)
        ts = frame[col].dropna() if col in frame else pd.Series([], dtype="datetime64[us]")
        first, last = (ts.min(), ts.max()) if len(ts) else (pd.NaT, pd.NaT)
        rows.append({"table": name, "rows": len(frame), "from": first, "to": last,
                     "days": (last - first).days if len(ts) else None})
    return pd.DataFrame(rows).set_index("table")


def count_events_per_customer(events: pd.DataFrame, customer_col: str = "customer_id") -> pd.Series:
    """Number of events per customer, sorted by customer."""
    return events.groupby(customer_col, sort=True).size().rename("events")


def summarize_channel_mix(events: pd.DataFrame, channel_col: str = "channel",
                          agent_col: str = "agent_id") -> pd.DataFrame:
    """Events per channel, their share, and the share handled by an agent."""
    g = events.groupby(channel_col)
    out = pd.DataFrame({"events": g.size(), "with_agent": g[agent_col].count()})
    out["share"] = out["events"] / out["events"].sum()
    out["agent_share"] = out["with_agent"] / out["events"]
    return out.sort_values("events", ascending=False)


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


def describe_interactions(events: pd.DataFrame, per_customer: pd.Series, mix: pd.DataFrame) -> str:
    """One sentence on event volume: events and customers, the median and 90th percentile of
    events per customer, and the share an agent handled."""
    return (f"{format_count(len(events))} events from {format_count(per_customer.size)} customers: a median of "
            f"{format_count(per_customer.median())} events per customer (90% of customers have at most "
            f"{format_count(per_customer.quantile(0.9))}). "
            f"{format_value(mix['with_agent'].sum() / max(len(events), 1), 'share', digits=1)} of events were "
            "handled by an agent.")
