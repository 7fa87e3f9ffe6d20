"""The call-back list: the inner loop of the management method. Each month a leader calls a
few dissatisfied customers, hears what went wrong in their own words and closes the loop.

:func:`build_callback_list` finds the recent detractors (a journey or relationship rating
below the green threshold, answered in the last ``recent_days`` before the latest response)
who are still customers and agreed to be contacted, with the journey they went through and
what went wrong in it, their monthly revenue and modelled churn risk, ranked by the revenue
at stake (risk x revenue over the horizon). The list carries real customer ids, so it is
written as a file for the client's team (``ClientPaths.callbacks``); the report shows counts
by journey only (:func:`count_callbacks`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxlib.core.formatting import humanize
from cxlib.journeys.reconstruct import UNCLASSIFIED

CONSENT_YES = {"yes", "y", "true", "t", "1", "1.0", "opt-in", "opt in", "optin", "consent", "consented", "agreed",
               "allowed", "ja", "oui", "si", "sí"}
"""Values of a consent column that allow a call (case and spaces ignored); anything else,
and a blank, does not."""

NO_JOURNEY = "no recent journey"
COLUMNS = ["rank", "customer_id", "responded", "level", "subject", "metric", "score", "journey", "journey_start",
           "journey_end", "what_went_wrong", "monthly_revenue", "churn_risk", "at_stake"]


def read_consent(values: pd.Series) -> pd.Series:
    """True where a consent value allows a call (see ``CONSENT_YES``); blanks and anything
    else are False: no consent is never assumed."""
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool)
    text = values.astype("string").str.strip().str.casefold()
    return text.isin(CONSENT_YES).fillna(False).astype(bool)


def find_recent_detractors(surveys: pd.DataFrame, green_threshold: dict[str, float], *, recent_days: int = 30,
                           levels: tuple[str, ...] = ("journey", "relationship")) -> pd.DataFrame:
    """Journey and relationship ratings below their metric's green threshold, answered within
    ``recent_days`` before the latest response; a customer's lowest such rating (the latest on
    ties). Metrics without a threshold are left out."""
    s = surveys[surveys["level"].isin(levels) & surveys["score"].notna() & surveys["metric"].isin(green_threshold)]
    if not len(s):
        return s.iloc[:0]
    ts = pd.to_datetime(s["timestamp"], utc=True)
    recent = ts >= ts.max() - pd.Timedelta(days=recent_days)
    below = s["score"] < s["metric"].map(green_threshold)
    d = s[recent & below].assign(timestamp=ts[recent & below])
    d = d.sort_values(["customer_id", "score", "timestamp"], ascending=[True, True, False])
    return d.drop_duplicates("customer_id").reset_index(drop=True)


def link_journeys(detractors: pd.DataFrame, journeys: pd.DataFrame | None, *, max_days_after_end: float = 90) -> pd.DataFrame:
    """Each detractor's journey: for a journey rating, the customer's latest journey of that
    type that started before the response (a relationship questionnaire may ask about a
    journey months later); for a relationship rating, their latest typed journey that started
    before it and ended at most ``max_days_after_end`` before it (or is still open). Adds
    journey_id, journey_type, start and end (missing when none is found)."""
    cols = ["journey_id", "journey_type", "start", "end"]
    if journeys is None or not len(journeys):
        return detractors.assign(**{c: pd.NA for c in cols})
    j = journeys[journeys["journey_type"] != UNCLASSIFIED][["customer_id", *cols]].copy()
    j["start"], j["end"] = pd.to_datetime(j["start"], utc=True), pd.to_datetime(j["end"], utc=True)
    d = detractors.reset_index(drop=True).assign(_row=lambda f: np.arange(len(f)))
    pairs = d[["_row", "customer_id", "timestamp", "level", "subject"]].merge(j, on="customer_id")
    rated = pairs["level"] == "journey"
    ok = (pairs["start"] <= pairs["timestamp"]) & (
        (rated & (pairs["journey_type"] == pairs["subject"]))
        | (~rated & (pairs["end"] >= pairs["timestamp"] - pd.Timedelta(days=max_days_after_end))))
    best = pairs[ok].sort_values("start").drop_duplicates("_row", keep="last")
    return d.merge(best[["_row", *cols]], on="_row", how="left").drop(columns="_row")


def describe_what_went_wrong(journeys: pd.DataFrame, steps: pd.DataFrame | None = None) -> pd.Series:
    """One plain line per journey: failed steps (with their touchpoints), handoffs, repeat
    contacts, rework, the longest wait and whether it is unfinished; 'nothing measured went
    wrong' when none of these shows."""
    failed_at = {}
    if steps is not None and len(steps) and "failed_step" in steps:
        f = steps[steps["failed_step"].fillna(False).astype(bool) & steps["journey_id"].isin(journeys["journey_id"])]
        failed_at = f.groupby("journey_id")["touchpoint"].agg(lambda t: ", ".join(dict.fromkeys(map(str, t)))).to_dict()

    def one(r) -> str:
        parts = []
        if r.get("n_failed_steps", 0) > 0:
            where = failed_at.get(r["journey_id"])
            parts.append(f"{int(r['n_failed_steps'])} failed step{'s' if r['n_failed_steps'] != 1 else ''}"
                         + (f" ({where})" if where else ""))
        for col, word in (("n_repeat_contacts", "repeat contact"), ("n_handoffs", "handoff"), ("n_rework", "redone step")):
            n = r.get(col, 0)
            if pd.notna(n) and n > 0:
                parts.append(f"{int(n)} {word}{'s' if n != 1 else ''}")
        wait = r.get("max_wait_days")
        if pd.notna(wait) and wait >= 7:
            parts.append(f"waited {wait:.0f} days at one point")
        if r.get("completed") is False or r.get("status") == "open":
            parts.append("not finished")
        return "; ".join(parts) or "nothing measured went wrong"

    return journeys.apply(one, axis=1) if len(journeys) else pd.Series(dtype=object)


@dataclass
class Callbacks:
    """The call-back list (``table``, with real ids: for the file only), the counts the report
    shows (``counts``: per journey, recent detractors, those who may be called, those listed)
    and ``notes`` (what limits it)."""

    table: pd.DataFrame
    counts: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def metrics(self) -> dict:
        """Counts only: no identifier reaches the report's figures."""
        c = self.counts
        total = c.sum(numeric_only=True) if len(c) else pd.Series(dtype=float)
        return {"detractors": int(total.get("detractors", 0)), "may_be_called": int(total.get("may_be_called", 0)),
                "listed": int(total.get("listed", 0)),
                "by_journey": [{k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in r.items()}
                               for r in c.to_dict("records")]}

    def describe(self) -> str:
        """One sentence for the page: how many detractors, how many may be called, how many listed."""
        m = self.metrics()
        return (f"{m['detractors']:,} recent detractor{'s' if m['detractors'] != 1 else ''} are still customers; "
                f"{m['may_be_called']:,} agreed to be contacted, and the {m['listed']:,} with the most at stake are "
                "on the call-back list the client's team received as a file (with their ids, which this report does "
                "not show).")


def build_callback_list(surveys: pd.DataFrame, customers: pd.DataFrame, *, consent: str,
                        green_threshold: dict[str, float], journeys: pd.DataFrame | None = None,
                        steps: pd.DataFrame | None = None, risk: pd.DataFrame | None = None,
                        recent_days: int = 30, top: int = 50, horizon_months: int = 12) -> Callbacks:
    """The call-back list of recent detractors who are still customers and whose ``consent``
    column allows a call, ranked by revenue at stake: churn risk (``risk``: customer_id,
    churn_probability) x monthly revenue x ``horizon_months``; without a risk, by revenue.
    Raises ValueError naming the column when ``consent`` is not in the customer table."""
    if consent not in customers:
        raise ValueError(f"the consent column {consent!r} is not in the customer table; its columns are "
                         f"{sorted(map(str, customers.columns))}")
    notes = []
    d = find_recent_detractors(surveys, green_threshold, recent_days=recent_days)
    c = customers.drop_duplicates("customer_id").set_index("customer_id")
    gone = c["churned"].astype("boolean").fillna(False).astype(bool) if "churned" in c else pd.Series(False, c.index)
    d = d[d["customer_id"].isin(c.index[~gone])]
    d = link_journeys(d, journeys)
    d["may_be_called"] = read_consent(c[consent]).reindex(d["customer_id"]).fillna(False).to_numpy()
    d["journey"] = d["journey_type"].map(lambda t: humanize(t) if isinstance(t, str) else NO_JOURNEY)
    counts = (d.groupby("journey").agg(detractors=("customer_id", "size"), may_be_called=("may_be_called", "sum"))
              .astype(int).reset_index() if len(d) else pd.DataFrame(columns=["journey", "detractors", "may_be_called"]))
    ok = d[d["may_be_called"]].copy()
    revenue = pd.to_numeric(c.get("monthly_revenue", pd.Series(np.nan, c.index)), errors="coerce")
    ok["monthly_revenue"] = revenue.reindex(ok["customer_id"]).to_numpy()
    if risk is not None and len(risk):
        ok["churn_risk"] = risk.drop_duplicates("customer_id").set_index("customer_id")["churn_probability"].reindex(
            ok["customer_id"]).to_numpy()
    else:
        ok["churn_risk"] = np.nan
        notes.append("no churn model, so the list is ranked by revenue alone")
    ok["at_stake"] = ok["churn_risk"] * ok["monthly_revenue"] * horizon_months
    order = ["at_stake", "monthly_revenue", "score"] if ok["at_stake"].notna().any() else ["monthly_revenue", "score"]
    ok = ok.sort_values(order, ascending=[False] * (len(order) - 1) + [True], na_position="last").head(top)
    if journeys is not None and len(ok):
        jr = journeys.set_index("journey_id").reindex(ok["journey_id"].dropna().unique()).reset_index()
        wrong = dict(zip(jr["journey_id"], describe_what_went_wrong(jr, steps)))
        ok["what_went_wrong"] = ok["journey_id"].map(wrong)
    else:
        ok["what_went_wrong"] = pd.NA
    ok = ok.rename(columns={"timestamp": "responded", "start": "journey_start", "end": "journey_end"})
    ok["rank"] = np.arange(1, len(ok) + 1)
    listed = ok.groupby("journey").size().rename("listed")
    counts = counts.merge(listed, left_on="journey", right_index=True, how="left").fillna({"listed": 0})
    counts["listed"] = counts["listed"].astype(int)
    counts = counts.sort_values(["detractors", "journey"], ascending=[False, True]).reset_index(drop=True)
    return Callbacks(ok.reindex(columns=COLUMNS).reset_index(drop=True), counts, notes)


def read_churn_risk(path) -> pd.DataFrame | None:
    """Each customer's churn risk as 03 wrote it (``ClientPaths.churn_risk``), or None when
    03 wrote none (no customer table, or no churn model)."""
    from pathlib import Path
    path = Path(path)
    if not path.exists():
        return None
    risk = pd.read_parquet(path)
    return risk if len(risk) else None
