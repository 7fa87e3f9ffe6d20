"""The touchpoint inventory: every touchpoint the client has, as one table.

Per touchpoint: its channel and owning department (the most frequent), its volume and the
share of customers it reaches, the journeys that use it, what it costs a year, its ratings
(share satisfied with a 95% interval and n), its share of repeat contacts, and whether it is a
moment that matters (the touchpoint that separates a journey's low scores from its high ones, or
a driver of the survey outcome). Sorted so that costly, poorly rated touchpoints come first."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxlib.core.period import measure_period
from cxlib.core.sql import ParquetTable, on_engine, query_frames, select_columns, sql_literal
from cxlib.core.uncertainty import wilson_interval
from cxlib.journeys.findings import find_separating_touchpoint
from cxlib.journeys.reconstruct import UNCLASSIFIED

COLUMNS = ["touchpoint", "channel", "department", "per_year", "reach", "journeys", "cost_per_year", "rated",
           "satisfied", "satisfied_lo", "satisfied_hi", "repeat_share", "moment_that_matters", "why_it_matters"]


def find_moments_that_matter(metrics: dict) -> dict[str, str]:
    """Touchpoint -> why it matters, from the run's figures: the touchpoint that separates a
    journey's two groups of scores, and drivers of the survey outcome named like a touchpoint."""
    out = {}
    for jt, t in ((metrics.get("journeys") or {}).get("types") or {}).items():
        step = find_separating_touchpoint(t)
        if step:
            out.setdefault(step, f"separates the low {jt.replace('_', ' ')} scores from the high ones")
    for name, d in ((metrics.get("drivers") or {}).get("importance") or {}).items():
        level, _, rest = name.partition(": ")
        if rest and level != "touchpoint":                    # a journey or operational driver, not a touchpoint
            continue
        out.setdefault(rest or name, f"driver of the survey outcome (rank {d.get('rank')})")
    return out


def build_touchpoint_inventory(events, *, steps: pd.DataFrame | None = None,
                               surveys: pd.DataFrame | None = None, cost_per_contact: dict | None = None,
                               green_threshold: dict | None = None, moments: dict[str, str] | None = None,
                               min_days: float = 56, touchpoint: str = "touchpoint", channel: str = "channel",
                               department: str = "department", customer_id: str = "customer_id",
                               timestamp: str = "timestamp", spark=None) -> pd.DataFrame:
    """One row per touchpoint of ``events`` (see the module docstring). Volumes and cost are a
    year when the events cover at least ``min_days``, else over the days observed (the frame's
    ``attrs['per']`` says which). Ratings are touchpoint-level survey scores whose subject is
    the touchpoint; satisfied means at or above ``green_threshold`` for the metric. ``events``
    (pandas, a Parquet file or Spark; on ``spark`` when given) are counted where they live: a row
    per touchpoint returns."""
    cols = list(events.columns)
    ev = select_columns(events, [c for c in (touchpoint, channel, department, customer_id, timestamp) if c in cols])
    if isinstance(ev, pd.DataFrame):
        ev = ev.assign(_row=np.arange(len(ev)))
    elif isinstance(ev, ParquetTable) and Path(ev.path).is_file():
        ev = ev.with_row_numbers("_row").select("_row", *ev.columns)
    ev = on_engine(ev, spark)
    first = "min(_row)" if "_row" in ev.columns else f'min("{timestamp}")'      # a tie goes to the first seen

    def busiest(col: str, name: str) -> str:      # the most frequent value per touchpoint
        return f"""{name} AS (SELECT tp, v AS {name} FROM (
                    SELECT tp, v, row_number() OVER (PARTITION BY tp ORDER BY n DESC, seen) AS r
                    FROM (SELECT "{touchpoint}" AS tp, "{col}" AS v, count(*) AS n, {first} AS seen FROM e
                          WHERE "{col}" IS NOT NULL GROUP BY "{touchpoint}", "{col}") c) m WHERE r = 1)"""
    cases = " ".join(f"WHEN {sql_literal(k)} THEN CAST({float(v)!r} AS DOUBLE)"
                     for k, v in (cost_per_contact or {}).items())
    price = f'CASE "{channel}" {cases} END' if cases and channel in cols else "CAST(NULL AS DOUBLE)"
    modes = [(c, n) for c, n in ((channel, "ch"), (department, "dept")) if c in cols]
    # the cost is a price per channel: counted per channel, then priced, it is exact however the events are split
    by_channel = f'"{channel}"' if channel in cols else "NULL"
    g = query_frames(f"""
        WITH e AS (SELECT * FROM ev WHERE "{touchpoint}" IS NOT NULL),
        t AS (SELECT "{touchpoint}" AS tp, count(*) AS n, count(DISTINCT "{customer_id}") AS customers
              FROM e GROUP BY "{touchpoint}"),
        priced AS (SELECT tp, sum(k * price) AS cost
                   FROM (SELECT "{touchpoint}" AS tp, count(*) AS k, {price} AS price FROM e
                         GROUP BY "{touchpoint}", {by_channel}) c GROUP BY tp){"".join(", " + busiest(c, n) for c, n in modes)}
        SELECT t.*, priced.cost, {"".join(f"{n}.{n}, " for _, n in modes)}
               (SELECT count(DISTINCT "{customer_id}") FROM e) AS all_customers,
               (SELECT min("{timestamp}") FROM e) AS first, (SELECT max("{timestamp}") FROM e) AS last
        FROM t LEFT JOIN priced ON priced.tp = t.tp {" ".join(f"LEFT JOIN {n} ON {n}.tp = t.tp" for _, n in modes)}
        ORDER BY t.tp""", ev=ev)
    if not len(g):
        return pd.DataFrame(columns=COLUMNS)
    period = measure_period(pd.Series([g["first"].iat[0], g["last"].iat[0]]), min_days=min_days)
    g = g.set_index("tp")
    out = pd.DataFrame({"channel": g["ch"] if channel in cols else None,
                        "department": g["dept"] if department in cols else None,
                        "per_year": g["n"] * period.factor, "reach": g["customers"] / g["all_customers"]},
                       index=g.index.rename(touchpoint))
    out["cost_per_year"] = g["cost"] * period.factor
    out["journeys"] = ""
    out["repeat_share"] = np.nan
    if steps is not None and len(steps):
        typed = steps[steps["journey_type"].astype(str) != UNCLASSIFIED]
        used = typed.groupby(typed["touchpoint"].astype(str))["journey_type"].agg(
            lambda s: ", ".join(sorted({str(x).replace("_", " ") for x in s})))
        out["journeys"] = used.reindex(out.index).fillna("")
        out["repeat_share"] = steps.groupby(steps["touchpoint"].astype(str))["repeat_contact"].mean().reindex(out.index)
    out = out.join(_ratings(surveys, green_threshold or {}, out.index))
    moments = moments or {}
    out["moment_that_matters"] = [tp in moments for tp in out.index]
    out["why_it_matters"] = [moments.get(tp, "") for tp in out.index]
    # costly and poorly rated first: cost a year x the share not satisfied; an unrated touchpoint
    # is taken to be as satisfying as the rated ones are on average (neither praised nor blamed)
    typical = out["satisfied"].mean() if out["satisfied"].notna().any() else 0.0
    stake = out["cost_per_year"].fillna(0) * (1 - out["satisfied"].fillna(typical))
    out = out.assign(_stake=stake).sort_values(["_stake", "per_year"], ascending=False).drop(columns="_stake")
    out = out.rename_axis("touchpoint").reset_index()[COLUMNS]
    out.attrs["per"] = period.label
    return out


def _ratings(surveys: pd.DataFrame | None, green: dict, index: pd.Index) -> pd.DataFrame:
    cols = ["rated", "satisfied", "satisfied_lo", "satisfied_hi"]
    if surveys is None or not len(surveys) or "subject" not in surveys:
        return pd.DataFrame({c: (0 if c == "rated" else np.nan) for c in cols}, index=index)
    sv = surveys[(surveys["level"] == "touchpoint") & surveys["score"].notna() & surveys["metric"].isin(list(green))]
    # as float: without thresholds the mapped (empty) column would be text, and compare as text
    sv = sv.assign(ok=sv["score"] >= sv["metric"].map(green).astype(float))
    agg = sv.groupby(sv["subject"].astype(str))["ok"].agg(["size", "sum"]).reindex(index)
    n = agg["size"].fillna(0).astype(int)
    k = agg["sum"].fillna(0)
    ci = [wilson_interval(a, b) if b else (np.nan, np.nan) for a, b in zip(k, n)]
    return pd.DataFrame({"rated": n, "satisfied": np.where(n > 0, k / n.where(n > 0), np.nan),
                         "satisfied_lo": [c[0] for c in ci], "satisfied_hi": [c[1] for c in ci]}, index=index)
