"""What moves a journey's score: the journey's own operational measures (how long it took,
the longest wait, handoffs, repeat contacts, rework, failed steps) as drivers of the score
the customer gave it, per journey type, whenever surveys and events meet.

The same relative-importance method as the survey drivers (:class:`DriverAnalysis`: Shapley
shares of R² with bootstrap intervals), plus the direction each measure pulls in: its
correlation with the score and a Fisher-z 95% interval, so "handoffs matter" comes with "more
handoffs, lower scores" and how sure that is.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import norm

from cxlib.core.formatting import format_count, format_interval, format_value, humanize
from cxlib.drivers.importance import DriverAnalysis
from cxlib.journeys.reconstruct import UNCLASSIFIED
from cxlib.journeys.stats import top_journey_measures

JOURNEY_MEASURES = {
    "duration_days": "duration (days)",
    "max_wait_days": "longest wait (days)",
    "n_handoffs": "handoffs between departments",
    "n_repeat_contacts": "repeat contacts",
    "n_rework": "repeated steps (rework)",
    "n_failed_steps": "failed steps",
    "n_channel_switches": "channel switches",
}
"""Journey-table columns used as drivers of the journey score, with their report labels."""

MORE = {"duration_days": "longer journeys", "max_wait_days": "journeys with longer waits",
        "n_handoffs": "journeys with more handoffs", "n_repeat_contacts": "journeys with more repeat contacts",
        "n_rework": "journeys with more rework", "n_failed_steps": "journeys with more failed steps",
        "n_channel_switches": "journeys with more channel switches"}
"""How the report says 'more of this measure'."""

COLUMNS = ["journey_type", "driver", "label", "shapley_share", "shapley_lo", "shapley_hi", "r", "r_lo", "r_hi",
           "r2", "n", "sure"]


def correlation_interval(r: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Fisher-z interval of a Pearson correlation ``r`` on ``n`` pairs (NaN below 4 pairs)."""
    if n < 4 or not np.isfinite(r):
        return (math.nan, math.nan)
    z, se = math.atanh(max(min(r, 0.999999), -0.999999)), 1 / math.sqrt(n - 3)
    q = float(norm.ppf(1 - (1 - level) / 2))
    return (math.tanh(z - q * se), math.tanh(z + q * se))


def rank_journey_measures(journeys: pd.DataFrame, *, score: str = "journey_score",
                          journey_type: str = "journey_type", measures: dict[str, str] | None = None,
                          min_n: int = 100, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Per journey type with at least ``min_n`` scored journeys: each measure that varies, its
    Shapley share of the R² the measures explain together (95% bootstrap interval), its
    correlation with the score (95% Fisher interval), the type's R² and n, and ``sure``: the
    direction holds with the interval widened for the number of measures tested (Bonferroni),
    so that seven measures tested do not find one by chance. Sorted by type and share. Empty
    when no type has enough scored journeys."""
    measures = measures or JOURNEY_MEASURES
    rows = []
    if score not in journeys:
        return pd.DataFrame(columns=COLUMNS)
    scored = journeys[journeys[score].notna() & (journeys[journey_type].astype(str) != UNCLASSIFIED)]
    for jt, g in scored.groupby(journey_type, sort=True, observed=True):
        cols = [c for c in measures if c in g and pd.to_numeric(g[c], errors="coerce").std() > 0]
        if len(g) < min_n or not cols:
            continue
        X = g[cols].apply(pd.to_numeric, errors="coerce").astype(float)
        y = g[score].astype(float)
        try:
            fit = DriverAnalysis(n_boot=n_boot, seed=seed).fit(X, y)
        except ValueError:       # too few rows for the measures: nothing to say for this type
            continue
        imp = fit.importance_
        for c in cols:
            both = X[c].notna() & y.notna()
            r = float(np.corrcoef(X.loc[both, c], y[both])[0, 1]) if both.sum() > 2 else math.nan
            lo, hi = correlation_interval(r, int(both.sum()))
            wide = correlation_interval(r, int(both.sum()), level=1 - 0.05 / len(cols))
            rows.append({"journey_type": str(jt), "driver": c, "label": measures[c],
                         "shapley_share": imp.loc[c, "shapley_share"], "shapley_lo": imp.loc[c].get("shapley_lo"),
                         "shapley_hi": imp.loc[c].get("shapley_hi"), "r": r, "r_lo": lo, "r_hi": hi,
                         "r2": fit.r2_, "n": fit.n_, "sure": bool(wide[0] > 0 or wide[1] < 0)})
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.sort_values(["journey_type", "shapley_share"], ascending=[True, False]).reset_index(drop=True)


def describe_journey_measures(ranked: pd.DataFrame) -> list[str]:
    """One sentence per journey type whose top measure is sure of its direction; measures whose
    share interval overlaps the top one's are named as level with it."""
    out = []
    for _, r in top_journey_measures(ranked).iterrows():
        others = ranked[(ranked["journey_type"] == r["journey_type"]) & (ranked["driver"] != r["driver"])
                        & (ranked["shapley_hi"] >= r["shapley_lo"])]
        level = (f", level with {' and '.join(others['label'])} (their intervals overlap)" if len(others) else "")
        direction = "lower" if r["r"] < 0 else "higher"
        out.append(f"**What moves the {humanize(r['journey_type'])} score:** {r['label']}, with "
                   f"{format_value(r['shapley_share'], 'share', digits=0)} "
                   f"({format_interval(r['shapley_lo'], r['shapley_hi'], 'share', digits=0)}) of what the journey "
                   f"measures explain together (R² {r['r2']:.2f}){level}. "
                   f"{MORE.get(r['driver'], 'journeys with more of it').capitalize()} score {direction} "
                   f"(r = {r['r']:+.2f}, 95% CI {r['r_lo']:+.2f} to {r['r_hi']:+.2f}; "
                   f"n = {format_count(r['n'])} scored journeys).")
    return out


def journey_measure_table(ranked: pd.DataFrame) -> pd.DataFrame:
    """The ranking as a reader sees it: journey type and measure in words, the share with its
    interval, the correlation with its interval, the type's R² and n."""
    return pd.DataFrame({
        "journey": ranked["journey_type"].map(humanize), "measure": ranked["label"],
        "share of R²": ranked["shapley_share"], "share low": ranked["shapley_lo"], "share high": ranked["shapley_hi"],
        "correlation": ranked["r"], "correlation low": ranked["r_lo"], "correlation high": ranked["r_hi"],
        "R² of the type": ranked["r2"], "scored journeys": ranked["n"]})

