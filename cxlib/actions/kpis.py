"""Journey KPIs with owners and targets: for each journey type, what to manage and how far
it is from the best a segment of the client's own customers already gets (or from a
configured benchmark)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from cxlib.journeys.stats import flag_went_wrong
from cxlib.journeys.reconstruct import UNCLASSIFIED
from cxlib.core.formatting import format_value, humanize
from cxlib.core.uncertainty import mean_interval, wilson_interval

KPIS = {  # name: (label, better, kind)
    "completion": ("completion rate", "higher", "share"),
    "days_to_complete": ("mean days to complete", "lower", "mean"),
    "first_time_right": ("first time right", "higher", "share"),
    "handoffs": ("handoffs per journey", "lower", "mean"),
    "repeat_contacts": ("repeat contacts per journey", "lower", "mean"),
    "journey_score": ("journey score", "higher", "mean"),
    "churn_in_window": ("churn within {window} days", "lower", "share"),
}


def measure_journey_kpis(j: pd.DataFrame) -> dict[str, pd.Series]:
    """Per-journey values of each KPI in :data:`KPIS` (NaN where a journey does not count: an
    open journey has no completion yet, an unfinished one no days to complete)."""
    num = lambda c: pd.to_numeric(j[c], errors="coerce") if c in j else pd.Series(np.nan, index=j.index)  # noqa: E731
    done = j["status"].eq("completed") if "status" in j else pd.Series(np.nan, index=j.index)
    closed = j["status"].isin(["completed", "dropped_out"]) if "status" in j else pd.Series(True, index=j.index)
    return {
        "completion": done.astype(float).where(closed),
        "days_to_complete": num("duration_days").where(done.astype(bool)),
        "first_time_right": (~flag_went_wrong(j)).astype(float),
        "handoffs": num("n_handoffs"),
        "repeat_contacts": num("n_repeat_contacts"),
        "journey_score": num("journey_score"),
        "churn_in_window": num("churned_in_window"),
    }


def _estimate(x: pd.Series, kind: str) -> tuple[float, float, float, int]:
    x = x.dropna()
    n = len(x)
    if not n:
        return (np.nan, np.nan, np.nan, 0)
    if kind == "share":
        lo, hi = wilson_interval(float(x.sum()), n)
    else:
        lo, hi = mean_interval(x)
    return (float(x.mean()), lo, hi, n)


def build_journey_kpis(journeys: pd.DataFrame, customers: pd.DataFrame | None = None, *,
                       owners: dict | pd.Series | None = None, segment: str | None = "segment",
                       targets: dict[str, dict[str, float]] | None = None, min_n: int = 30,
                       churn_window_days: int = 90) -> pd.DataFrame:
    """One row per journey type × KPI: ``value`` with its interval and n, the ``target``
    and where it comes from (``benchmark`` from ``targets[type][kpi]``, else the best
    segment with at least ``min_n`` journeys), the ``gap`` to target in the KPI's units
    (positive = room to improve), ``better`` (higher/lower) and the ``owner``. Churn is the
    journey table's ``churned_in_window`` flag, labelled with ``churn_window_days``."""
    typed = journeys[journeys["journey_type"] != UNCLASSIFIED]
    seg = None
    if customers is not None and segment and segment in customers:
        seg = customers.drop_duplicates("customer_id").set_index("customer_id")[segment].reindex(typed["customer_id"])
        seg = pd.Series(seg.to_numpy(), index=typed.index)
    owners = dict(owners) if owners is not None else {}
    targets = targets or {}
    rows = []
    for jt, j in typed.groupby("journey_type"):
        values = measure_journey_kpis(j)
        for kpi, (label, better, kind) in KPIS.items():
            v, lo, hi, n = _estimate(values[kpi], kind)
            if n == 0:
                continue
            target, source = targets.get(jt, {}).get(kpi), "benchmark"
            if target is None and seg is not None:
                by = [(s, _estimate(values[kpi][seg.loc[j.index] == s], kind)) for s in seg.loc[j.index].dropna().unique()]
                by = [(s, e[0]) for s, e in by if e[3] >= min_n]
                if len(by) > 1:
                    s_best, target = (max if better == "higher" else min)(by, key=lambda t: t[1])
                    source = f"best segment ({s_best})"
            gap = np.nan if target is None else (target - v if better == "higher" else v - target)
            rows.append({"journey_type": jt, "kpi": kpi, "label": label.format(window=churn_window_days), "value": v, "lo": lo, "hi": hi, "n": n,
                         "target": np.nan if target is None else float(target),
                         "target_source": source if target is not None else "none", "gap": gap, "better": better,
                         "owner": owners.get(jt)})
    return pd.DataFrame(rows)


def format_kpi_table(kpis: pd.DataFrame) -> pd.DataFrame:
    """The KPI table as a reader sees it: one row per journey × KPI with the value and its 95%
    interval in the KPI's own units (shares as percentages), n, the target and its source."""
    def shown(r, col):
        kind = "share" if KPIS[r["kpi"]][2] == "share" else "number"
        return format_value(r[col], kind, digits=1 if kind == "share" else 2)

    return pd.DataFrame({
        "journey": kpis["journey_type"].map(humanize), "owner": kpis["owner"], "KPI": kpis["label"],
        "value (95% CI)": [f"{shown(r, 'value')} ({shown(r, 'lo')}–{shown(r, 'hi')})" for _, r in kpis.iterrows()],
        "n": kpis["n"], "target": [shown(r, "target") for _, r in kpis.iterrows()],
        "target from": kpis["target_source"]})
