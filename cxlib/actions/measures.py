"""The toolkit's estimates by name, each with its 95% interval, its n and the page it is on.

Hypotheses and benchmarks (``cxlib.actions.management``) both name a measure from
:data:`cxlib.core.config.MEASURES`; :func:`estimate_measure` finds it in the run's figures
(the metrics file of the run) or, for churn reasons, in the customer table. What cannot be estimated
comes back with the reason, never as a number."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cxlib.core.config import MEASURES
from cxlib.core.uncertainty import wilson_interval

POINTS = {"nps"}
"""Measures in points; every other measure is a share (0-1)."""


@dataclass
class Estimate:
    value: float
    lo: float
    hi: float
    n: int
    page: str        # the section page that shows it
    label: str       # what it is, in words
    measure: str = ""

    @property
    def unit(self) -> str:
        return "points" if self.measure in POINTS else "share"


LABELS = {"journey_dissatisfied_share": "share of {arg} journeys rated unsatisfied",
          "journey_completion_rate": "{arg} completion rate",
          "churn_after_journey": "churn within the window after {arg}",
          "driver_share": "{arg}: share of what drives the outcome",
          "churn_reason_share": "share of churners leaving for {arg}"}


def name_measure(measure: str, arg: str | None = None) -> str:
    """What a measure is, in words: 'share of move journeys rated unsatisfied'."""
    from cxlib.core.formatting import humanize
    if measure in LABELS:
        return LABELS[measure].format(arg=humanize(arg) if measure != "churn_reason_share" else str(arg).lower())
    return MEASURES[measure].split(" (")[0] if measure not in POINTS else MEASURES[measure]


def estimate_measure(metrics: dict, measure: str, *, journey: str | None = None, driver: str | None = None,
                     reason: str | None = None, reasons: pd.DataFrame | None = None) -> tuple[Estimate | None, str]:
    """``(estimate, '')`` for ``measure`` in the run's ``metrics``, or ``(None, why not)``.
    ``reasons`` is the churn-reason table of :func:`cxlib.drivers.churn.summarize_churn_reasons`
    (for churn_reason_share)."""
    est, why = _estimate(metrics, measure, journey, driver, reason, reasons)
    if est is not None:
        est.measure = measure
    return est, why


def _estimate(metrics, measure, journey, driver, reason, reasons) -> tuple[Estimate | None, str]:
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; measures are {', '.join(MEASURES)}")
    label = name_measure(measure, journey or driver or reason)
    head = metrics.get("headlines") or {}
    if measure in ("nps", "csat_share", "churn_rate"):
        h = head.get({"nps": "nps", "csat_share": "csat", "churn_rate": "churn"}[measure])
        if not h or h.get("value") is None:
            return None, {"nps": "no relationship NPS was measured",
                          "csat_share": "no CSAT ratings were received",
                          "churn_rate": "no churn was measured (no churn flag in a customer table)"}[measure]
        return Estimate(h["value"], h["lo"], h["hi"], int(h["n"]), "index", label), ""
    if measure in ("journey_dissatisfied_share", "journey_completion_rate", "churn_after_journey"):
        types = (metrics.get("journeys") or {}).get("types") or {}
        t = types.get(journey)
        if t is None:
            known = ", ".join(types) or "none: no journeys were reconstructed"
            return None, f"there is no journey type {journey!r} in the data (types: {known})"
        if measure == "journey_dissatisfied_share":
            n = int(t.get("journey_score_n") or 0)
            if not n or t.get("journey_green_share") is None:
                return None, f"no journey ratings of {journey}"
            bad = round((1 - t["journey_green_share"]) * n)
            lo, hi = wilson_interval(bad, n)
            return Estimate(bad / n, lo, hi, n, "02_journeys", label), ""
        if measure == "journey_completion_rate":
            if not t.get("completion_n"):
                return None, f"no finished {journey} journeys"
            return Estimate(t["completion_rate"], t["completion_lo"], t["completion_hi"], int(t["completion_n"]),
                            "02_journeys", label), ""
        if not t.get("churn_in_window_n") or t.get("churn_in_window") is None:
            return None, f"churn after {journey} was not measured (no churn dates, or no closed windows)"
        return Estimate(t["churn_in_window"], t["churn_in_window_lo"], t["churn_in_window_hi"],
                        int(t["churn_in_window_n"]), "02_journeys", label), ""
    if measure == "driver_share":
        dr = metrics.get("drivers") or {}
        imp = dr.get("importance") or {}
        if driver not in imp:
            return None, (f"{driver!r} is not among the drivers ({', '.join(imp)})" if imp
                          else "no key-driver analysis ran (no survey outcome with driver ratings)")
        d = imp[driver]
        return Estimate(d["share"], d["lo"], d["hi"], int(dr.get("n") or 0), "03_drivers", label), ""
    if measure in ("avoidable_share", "unprofitable_share"):
        rec = metrics.get("recommendations") or {}
        if rec.get(measure) is None:
            return None, ("no agent contacts were classified" if measure == "avoidable_share"
                          else "cost to serve was not compared with revenue (no revenue or no contacts)")
        n = rec.get("agent_contacts" if measure == "avoidable_share" else "customers") or 0
        return Estimate(rec[measure], rec[f"{measure}_lo"], rec[f"{measure}_hi"], int(n), "04_recommendations",
                        label), ""
    # churn_reason_share
    if reasons is None or not len(reasons):
        return None, "no stated churn reasons (no churn_reason in a customer table)"
    if reason not in reasons.index:
        return None, f"no churner gave {reason!r} (categories: {', '.join(map(str, reasons.index))})"
    r = reasons.loc[reason]
    return Estimate(float(r["share"]), float(r["lo"]), float(r["hi"]), int(reasons["n"].sum()), "03_drivers",
                    label), ""
