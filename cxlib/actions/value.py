"""Value-based service: revenue against cost to serve per customer, the unprofitable
customers and what drives their cost, and a suggested service tier per segment.

Cost to serve per month = the fixed service cost from the config + the customer's contact
costs (by channel, see :func:`cxlib.actions.contacts.price_contacts`) over the months observed,
from the later of signup and the start of the event log to the earlier of leaving and the
extract date (at least one month).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from cxlib.core.dates import naive_utc
from cxlib.core.sql import on_engine, query_frames, select_columns
from cxlib.core.uncertainty import wilson_interval

DAYS_PER_MONTH = 30.4375
TIERS = ("Premium", "Standard", "Digital-first")


def estimate_cost_to_serve(customers: pd.DataFrame, events, *, as_of, service_cost_monthly: float = 0.0,
                           cost: str = "contact_cost", customer_id: str = "customer_id",
                           timestamp: str = "timestamp", channel: str = "channel",
                           revenue: str = "monthly_revenue", signup_date: str = "signup_date",
                           churn_date: str = "churn_date", spark=None) -> pd.DataFrame:
    """One row per customer: ``months`` observed, monthly contact cost per channel
    (``cost_<channel>``), ``cost_to_serve`` per month, ``monthly_revenue``, ``margin`` and
    ``unprofitable`` (cost to serve above revenue; null without revenue). ``events`` (pandas, a
    Parquet file or Spark; pandas events go to ``spark`` when given) are summed where they live:
    one row per customer and channel returns."""
    ev = select_columns(events, [customer_id, timestamp, channel, cost])
    ev = on_engine(ev, spark)
    sums = query_frames(f"""
        SELECT "{customer_id}" AS customer_id, "{channel}" AS channel, sum("{cost}") AS cost FROM ev
        WHERE "{channel}" IS NOT NULL AND "{customer_id}" IS NOT NULL GROUP BY "{customer_id}", "{channel}" """, ev=ev)
    start = query_frames(f'SELECT min("{timestamp}") AS t FROM ev', ev=ev)["t"].iat[0]
    log_start = naive_utc(start) if pd.notna(start) else naive_utc(as_of)
    as_of = naive_utc(as_of)
    c = customers.drop_duplicates(customer_id).set_index(customer_id)

    def naive(col):
        if col not in c:
            return pd.Series(pd.NaT, index=c.index, dtype="datetime64[ns]")
        s = pd.to_datetime(c[col])
        return s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s

    begin = naive(signup_date).fillna(log_start).clip(lower=log_start)
    stop = naive(churn_date).fillna(as_of).clip(upper=as_of)
    months = ((stop - begin).dt.total_seconds() / 86400 / DAYS_PER_MONTH).clip(lower=1.0)
    by_channel = sums.pivot(index="customer_id", columns="channel", values="cost").fillna(0.0)
    by_channel = by_channel[sorted(by_channel.columns)].reindex(c.index).fillna(0.0).div(months, axis=0)
    out = pd.DataFrame({"months": months}, index=c.index)
    for ch in by_channel.columns:
        out[f"cost_{ch}"] = by_channel[ch]
    out["contact_cost"] = by_channel.sum(axis=1)
    out["cost_to_serve"] = service_cost_monthly + out["contact_cost"]
    out["monthly_revenue"] = pd.to_numeric(c[revenue], errors="coerce") if revenue in c else np.nan
    out["margin"] = out["monthly_revenue"] - out["cost_to_serve"]
    out["unprofitable"] = (out["margin"] < 0).where(out["monthly_revenue"].notna())
    return out.rename_axis(customer_id)


def summarize_unprofitable(value: pd.DataFrame) -> dict:
    """Share of customers (with known revenue) whose cost to serve exceeds revenue, with a
    Wilson interval, and their yearly loss."""
    v = value[value["monthly_revenue"].notna()]
    k, n = int(v["unprofitable"].astype(bool).sum()), len(v)
    lo, hi = wilson_interval(k, n)
    loss = float(-v.loc[v["unprofitable"].astype(bool), "margin"].sum() * 12)
    return {"share": k / n if n else float("nan"), "lo": lo, "hi": hi, "n": n, "unprofitable": k,
            "yearly_loss": loss}


def summarize_value_deciles(value: pd.DataFrame, *, q: int = 10) -> pd.DataFrame:
    """Per revenue decile (1 = lowest): customers, mean revenue, mean cost to serve, mean
    margin and the unprofitable share with its interval."""
    v = value[value["monthly_revenue"].notna()].copy()
    v["decile"] = pd.qcut(v["monthly_revenue"].rank(method="first"), q, labels=range(1, q + 1)).astype(int)
    g = v.groupby("decile")
    out = pd.DataFrame({"customers": g.size(), "revenue": g["monthly_revenue"].mean(),
                        "cost_to_serve": g["cost_to_serve"].mean(), "margin": g["margin"].mean(),
                        "unprofitable": g["unprofitable"].sum().astype(int)})
    ci = [wilson_interval(k, n) for k, n in zip(out["unprofitable"], out["customers"])]
    out["unprofitable_share"] = out["unprofitable"] / out["customers"]
    out["lo"], out["hi"] = [c[0] for c in ci], [c[1] for c in ci]
    return out


def explain_unprofitable(value: pd.DataFrame, customers: pd.DataFrame, *, attributes: list[str] = (),
                         customer_id: str = "customer_id") -> pd.DataFrame:
    """What drives the unprofitable customers' cost: mean monthly cost per channel for the
    unprofitable against the rest, and how over-represented each attribute level is among
    them (``kind`` is ``channel cost`` or ``attribute``; ``ratio`` = unprofitable / rest)."""
    v = value[value["monthly_revenue"].notna()]
    bad = v["unprofitable"].astype(bool)
    rows = []
    for col in [c for c in v if c.startswith("cost_") and c != "cost_to_serve"]:
        a, b = float(v.loc[bad, col].mean()), float(v.loc[~bad, col].mean())
        rows.append({"kind": "channel cost", "item": col[5:].replace("_", " "), "unprofitable": a, "rest": b,
                     "ratio": a / b if b > 0 else np.nan})
    attrs = customers.drop_duplicates(customer_id).set_index(customer_id).reindex(v.index)
    for col in attributes:
        if col not in attrs:
            continue
        share_bad = attrs.loc[bad, col].value_counts(normalize=True)
        share_rest = attrs.loc[~bad, col].value_counts(normalize=True)
        for level, a in share_bad.items():
            b = float(share_rest.get(level, 0.0))
            rows.append({"kind": "attribute", "item": f"{col} = {level}", "unprofitable": float(a), "rest": b,
                         "ratio": a / b if b > 0 else np.nan})
    out = pd.DataFrame(rows, columns=["kind", "item", "unprofitable", "rest", "ratio"])
    return out.sort_values(["kind", "ratio"], ascending=[True, False]).reset_index(drop=True)


def suggest_service_tiers(value: pd.DataFrame, customers: pd.DataFrame, *, segment: str | None = "segment",
                          customer_id: str = "customer_id") -> pd.DataFrame:
    """A suggested service tier per segment × value band (revenue terciles over all
    customers): ``Premium`` for the top band when its median margin is positive,
    ``Digital-first`` for a band whose median margin is negative or whose unprofitable share
    is above the overall share, else ``Standard``."""
    v = value[value["monthly_revenue"].notna()].copy()
    v["value_band"] = pd.qcut(v["monthly_revenue"].rank(method="first"), 3, labels=["low", "mid", "high"])
    seg = customers.drop_duplicates(customer_id).set_index(customer_id)
    v["segment"] = seg[segment].reindex(v.index).fillna("(none)") if segment and segment in seg else "all"
    overall = float(v["unprofitable"].astype(bool).mean())
    g = v.groupby(["segment", "value_band"], observed=True)
    out = pd.DataFrame({"customers": g.size(), "revenue": g["monthly_revenue"].median(),
                        "cost_to_serve": g["cost_to_serve"].median(), "margin": g["margin"].median(),
                        "unprofitable_share": g["unprofitable"].mean().astype(float)}).reset_index()
    tier = np.where((out["value_band"] == "high") & (out["margin"] > 0), "Premium",
                    np.where((out["margin"] < 0) | (out["unprofitable_share"] > overall), "Digital-first", "Standard"))
    out["tier"] = tier
    return out
