"""The management loop (``05_management``): executives' beliefs tested against the data, and
the client's figures set beside industry or competitor benchmarks.

* :func:`evaluate_hypotheses`: each belief (``analysis.hypotheses``) is *confirmed* when the
  estimate's 95% interval meets the believed value (within its tolerance, for 'about'; the
  whole interval on the believed side, for a bound), *refuted* when the interval lies clear of
  it, *not settled* when a bound falls inside the interval, and *not testable* when the data
  cannot estimate the measure (with the reason).
* :func:`compare_benchmarks`: each benchmark (``analysis.benchmarks`` and
  ``analysis.benchmarks_file``) beside the client's estimate, the gap, and whether the gap is
  outside the client's interval (and outside the benchmark's own range, when it has one).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from cxlib.core.config import Benchmark, Hypothesis
from cxlib.core.paths import SECTIONS
from cxlib.actions.barriers import Barriers, diagnose_barriers
from cxlib.actions.callbacks import Callbacks
from cxlib.actions.tracking import Tracking, track_journeys
from cxlib.actions.measures import POINTS, estimate_measure, name_measure

VERDICTS = ("confirmed", "refuted", "not settled", "not testable")
DEFAULT_TOLERANCE = {"share": 0.05, "points": 5.0}


def _arg(spec) -> dict:
    return {"journey": spec.journey, "driver": spec.driver, "reason": spec.reason}


def judge(believed: float, lo: float, hi: float, direction: str, tolerance: float) -> str:
    """The verdict on a belief given the estimate's interval ``[lo, hi]``."""
    if direction == "at_least":
        return "confirmed" if lo >= believed else "refuted" if hi < believed else "not settled"
    if direction == "at_most":
        return "confirmed" if hi <= believed else "refuted" if lo > believed else "not settled"
    return "confirmed" if lo <= believed + tolerance and hi >= believed - tolerance else "refuted"


def evaluate_hypotheses(hypotheses: list[Hypothesis], metrics: dict, *, reasons: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per belief: the claim, the measure, the value believed, the estimate with its
    95% interval and n, the verdict and the page with the evidence (or why it is not testable)."""
    rows = []
    for h in hypotheses:
        est, why = estimate_measure(metrics, h.measure, reasons=reasons, **_arg(h))
        row = {"id": h.id, "claim": h.claim, "measure": h.measure, "direction": h.direction, "believed": h.believed}
        if est is None:
            rows.append(row | {"estimate": np.nan, "lo": np.nan, "hi": np.nan, "n": 0, "verdict": "not testable",
                               "page": None, "why": why, "unit": "points" if h.measure in POINTS else "share"})
            continue
        tol = h.tolerance if h.tolerance is not None else DEFAULT_TOLERANCE[est.unit]
        rows.append(row | {"estimate": est.value, "lo": est.lo, "hi": est.hi, "n": est.n,
                           "verdict": judge(h.believed, est.lo, est.hi, h.direction, tol), "page": est.page,
                           "why": "", "unit": est.unit, "tolerance": tol})
    cols = ["id", "claim", "measure", "direction", "believed", "tolerance", "estimate", "lo", "hi", "n", "verdict",
            "page", "why", "unit"]
    return pd.DataFrame(rows).reindex(columns=cols)


def read_benchmarks_file(path: str | Path) -> list[Benchmark]:
    """Benchmarks from a CSV (columns measure, value, source; optionally year, lo, hi, journey,
    driver, reason). A bad row raises ValueError naming the file, the line and the problem."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: benchmarks file not found (analysis.benchmarks_file)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("measure", "value", "source") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: the benchmarks file has no column(s) {missing}; found {list(frame.columns)}")
    out = []
    for i, rec in frame.iterrows():
        fields = {k: (v.strip() or None) for k, v in rec.items() if k in Benchmark.model_fields}
        try:
            out.append(Benchmark(**fields))
        except ValidationError as err:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in err.errors())
            raise ValueError(f"{path}, line {i + 2}: {problems} (row: {dict(rec)})") from None
    return out


def compare_benchmarks(benchmarks: list[Benchmark], metrics: dict, *, reasons: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per benchmark: the client's estimate with its interval and n, the benchmark,
    the gap (client minus benchmark) and ``outside``: the benchmark lies outside the client's
    95% interval (and the client's interval misses the benchmark's own range, when it has one).
    Benchmarks the data cannot match are kept with the reason."""
    rows = []
    for b in benchmarks:
        est, why = estimate_measure(metrics, b.measure, reasons=reasons, **_arg(b))
        row = {"measure": b.measure, "label": est.label if est else name_measure(b.measure, b.journey or b.driver or b.reason), "benchmark": b.value,
               "benchmark_lo": b.lo, "benchmark_hi": b.hi, "source": b.source,
               "year": str(b.year) if b.year is not None else None,
               "unit": "points" if b.measure in POINTS else "share"}
        if est is None:
            rows.append(row | {"client": np.nan, "lo": np.nan, "hi": np.nan, "n": 0, "gap": np.nan, "outside": None,
                               "page": None, "why": why})
            continue
        b_lo = b.lo if b.lo is not None else b.value
        b_hi = b.hi if b.hi is not None else b.value
        outside = bool(est.hi < b_lo or est.lo > b_hi)
        rows.append(row | {"client": est.value, "lo": est.lo, "hi": est.hi, "n": est.n, "gap": est.value - b.value,
                           "outside": outside, "page": est.page, "why": ""})
    cols = ["measure", "label", "client", "lo", "hi", "n", "benchmark", "benchmark_lo", "benchmark_hi", "gap",
            "outside", "source", "year", "page", "why", "unit"]
    return pd.DataFrame(rows).reindex(columns=cols)


# --------------------------------------------------------------------------- one call per client

PAGES = {"index": "the summary", **SECTIONS}


def _fmt(x, unit: str) -> str:
    """A believed or benchmark value as given: '25%', '12.5%', '-5 points'."""
    if unit == "points":
        return f"{x:g} points"
    pct = round(100 * x, 1)
    return f"{pct:g}%"


def _estimate_text(r) -> str:
    from cxlib.core.formatting import format_estimate
    narrow = r["unit"] != "points" and abs(r["hi"] - r["lo"]) < 0.02    # '2% (95% CI 1.8–2.1%)', not '2–2%'
    kind, digits = ("number", 1) if r["unit"] == "points" else ("share", 1 if narrow else 0)
    return format_estimate(r["estimate"] if "estimate" in r else r["client"], r["lo"], r["hi"], kind, digits=digits,
                           n=int(r["n"]))


def describe_belief(r: dict) -> str:
    """'**Refuted:** “claim”: measured 16% (95% CI 14–18%, n = 1,454) against about 40% believed
    (see Journeys).' from a row of :func:`evaluate_hypotheses` (or of the figures' ``hypotheses``)."""
    words = {"about": "about", "at_least": "at least", "at_most": "at most"}
    if r["verdict"] == "not testable":
        return f"**Not testable:** “{r['claim']}”: {r['why']}."
    believed = f"{words[r['direction']]} {_fmt(r['believed'], r['unit'])} believed"
    return (f"**{r['verdict'].capitalize()}:** “{r['claim']}”: measured {_estimate_text(r)} against {believed} "
            f"(see {PAGES.get(r['page'], r['page'])}).")


@dataclass
class ManagementDiagnosis:
    """What ``05_management`` shows: ``hypotheses`` (:func:`evaluate_hypotheses`), ``benchmarks``
    (:func:`compare_benchmarks`) and ``skipped`` (what was not analysed, and why)."""

    hypotheses: pd.DataFrame
    benchmarks: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    inventory: pd.DataFrame = field(default_factory=pd.DataFrame)   # cxlib.actions.inventory
    currency: str = ""
    callbacks: Callbacks | None = None                              # cxlib.actions.callbacks
    tracking: Tracking | None = None                                # cxlib.actions.tracking
    barriers: Barriers | None = None                                # cxlib.actions.barriers
    engine: str = "duckdb"                                          # where the inventory counted the events

    def write(self, paths) -> None:
        """Write the call-back list (with real ids, for the client's team) to the run folder;
        remove a stale one when there is no list this run."""
        if self.callbacks is not None:
            self.callbacks.table.to_csv(paths.callbacks, index=False)
        elif paths.callbacks.exists():
            paths.callbacks.unlink()

    def inventory_table(self, top: int = 15) -> pd.DataFrame:
        """The inventory's first ``top`` rows as the page shows them: columns the data could not
        fill (no cost per contact, no touchpoint ratings, no typed journeys) are left out rather
        than shown empty."""
        inv = self.inventory.head(top).drop(columns=["moment_that_matters", "why_it_matters"])
        empty = {"cost_per_year": inv["cost_per_year"].isna().all(), "journeys": (inv["journeys"] == "").all(),
                 "rated": not (self.inventory["rated"] > 0).any(), "repeat_share": inv["repeat_share"].isna().all()}
        drop = [c for c, e in empty.items() if e]
        if empty["rated"]:
            drop += ["satisfied", "satisfied_lo", "satisfied_hi"]
        return inv.drop(columns=drop)

    def skipped_about(self, topic: str) -> str:
        """The 'not analysed' line that starts with ``topic``, or ''."""
        return next((line for line in self.skipped if line.startswith(topic)), "")

    def describe_inventory(self) -> list[str]:
        """What the inventory shows first: how many touchpoints, the one with the most at stake
        (cost a year x share not satisfied) and the moments that matter."""
        from cxlib.core.formatting import format_estimate, format_money, humanize
        inv = self.inventory
        if not len(inv):
            return []
        per = inv.attrs.get("per", "a year")
        costed = bool(inv["cost_per_year"].notna().any())
        out = [f"The client has **{len(inv)} touchpoint{'s' if len(inv) != 1 else ''}**" + (
            f", costing {format_money(inv['cost_per_year'].sum(), self.currency)} {per} at the configured cost per "
            "contact." if costed else "; no cost per contact is configured, so what they cost is not stated.")]
        top = inv.iloc[0] if costed else inv.sort_values("per_year", ascending=False).iloc[0]
        where = f"({humanize(top['channel'])}, owned by {top['department']})"
        if costed:
            rating = (f", {format_estimate(top['satisfied'], top['satisfied_lo'], top['satisfied_hi'], 'share', digits=0, n=int(top['rated']))} "
                      "of its ratings satisfied" if top["rated"] else ", unrated")
            out.append(f"Most at stake: **{top['touchpoint']}** {where}: "
                       f"{format_money(top['cost_per_year'], self.currency)} {per}{rating}.")
        else:
            out.append(f"Most used: **{top['touchpoint']}** {where}: {top['per_year']:,.0f} {per}, reaching "
                       f"{top['reach']:.0%} of customers.")
        moments = inv[inv["moment_that_matters"]]
        if len(moments):
            out.append("Moments that matter: " + "; ".join(f"**{r['touchpoint']}** ({r['why_it_matters']})"
                                                        for _, r in moments.iterrows()) + ".")
        return out

    def describe_hypotheses(self) -> list[str]:
        """One sentence per belief: the verdict, the claim, what was measured against what was believed."""
        return [describe_belief(r) for r in self.hypotheses.to_dict("records")]

    def describe_benchmarks(self) -> list[str]:
        """One sentence per benchmark the data could match, gaps outside the interval first."""
        rows = self.benchmarks[self.benchmarks["client"].notna()]
        rows = rows.assign(_o=~rows["outside"].astype(bool)).sort_values("_o", kind="stable")
        out = []
        for _, r in rows.iterrows():
            gap = round(r["gap"] if r["unit"] == "points" else r["gap"] * 100, 1) + 0.0   # no '-0.0'
            unit = " points" if r["unit"] == "points" else " percentage points"
            where = "outside" if r["outside"] else "within"
            year = f", {r['year']}" if r["year"] else ""
            out.append(f"**{r['label'][0].upper() + r['label'][1:]}:** {_estimate_text(r)} against "
                       f"{_fmt(r['benchmark'], r['unit'])} ({r['source']}{year}); gap {gap:+.1f}{unit}, "
                       f"{where} the client's interval.")
        for _, r in self.benchmarks[self.benchmarks["client"].isna()].iterrows():
            out.append(f"**{r['label']}** ({r['source']}): not compared, {r['why']}.")
        return out

    def summary(self) -> list[str]:
        """The section's summary lines (for the page and the executive summary)."""
        out = []
        h = self.hypotheses
        if len(h):
            counts = h["verdict"].value_counts()
            parts = [f"{counts[v]} {v}" for v in VERDICTS if v in counts]
            out.append(f"Of {len(h)} beliefs tested against the data: {', '.join(parts)}.")
        b = self.benchmarks
        matched = b[b["client"].notna()] if len(b) else b
        if len(matched):
            outside = matched[matched["outside"].astype(bool)]
            names = ", ".join(outside["label"].head(4))
            out.append(f"{len(outside)} of {len(matched)} benchmark comparisons show a gap outside the client's 95% "
                       f"interval" + (f": {names}." if len(outside) else "."))
        out += self.describe_inventory()[1:2]      # the touchpoint with the most at stake
        if self.tracking is not None:
            out += self.tracking.describe()
        if self.barriers is not None:
            out += self.barriers.describe()[1:2]     # the first breaking journey and what its staff say
        if self.callbacks is not None:
            out.append(self.callbacks.describe())
        return out

    def metrics(self) -> dict:
        """The ``management`` section of the report's figures."""
        def rows(frame, keys):
            return [{k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
                     for k, v in r.items() if k in keys} for r in frame.to_dict("records")]
        return {"hypotheses": rows(self.hypotheses, ("id", "claim", "measure", "direction", "believed", "estimate",
                                                     "lo", "hi", "n", "verdict", "page", "why", "unit")),
                "benchmarks": rows(self.benchmarks, ("measure", "label", "client", "lo", "hi", "n", "benchmark",
                                                     "gap", "outside", "source", "year")),
                "inventory": rows(self.inventory.head(10), ("touchpoint", "channel", "department", "per_year",
                                                            "cost_per_year", "rated", "satisfied", "satisfied_lo",
                                                            "satisfied_hi", "moment_that_matters")),
                "callbacks": self.callbacks.metrics() if self.callbacks is not None else None,
                "tracking": self.tracking.metrics() if self.tracking is not None else None,
                "barriers": self.barriers.metrics() if self.barriers is not None else None,
                "engine": self.engine, "skipped": list(self.skipped)}


def diagnose_management(config, metrics: dict, *, customers: pd.DataFrame | None = None,
                        events=None, steps=None,
                        surveys: pd.DataFrame | None = None, journeys: pd.DataFrame | None = None,
                        churn_risk: pd.DataFrame | None = None, staff: pd.DataFrame | None = None,
                        client_dir: str | Path | None = None, seed: int = 0, engine: str = "duckdb",
                        spark=None) -> ManagementDiagnosis:
    """Beliefs and benchmarks of one client, from the run's ``metrics`` (the figures of the
    sections before) and, for churn-reason measures, the ``customers`` table; the touchpoint
    inventory from the events; the KPIs over time and the before/after test of each named
    change from the ``journeys``; the call-back list from the surveys, the customers' consent,
    the ``journeys`` and each customer's ``churn_risk`` (03); the employee barriers from the
    ``staff`` pulse survey, beside the journeys that break. A benchmarks file is read from
    ``client_dir`` (the folder holding client.yml). ``events`` and ``steps`` are pandas, their Parquet
    files or Spark: the events are counted where they are, and only the step columns used here come
    to pandas. ``engine='spark'`` counts the inventory on Spark (``spark``: a session, or the
    client's SparkSettings)."""
    from cxlib.core.paths import check_source_path
    from cxlib.core.sql import fetch_columns
    from cxlib.drivers.churn import summarize_churn_reasons
    an = config.analysis
    session = None
    if engine == "spark":
        from cxlib.core.spark import open_spark
        session = open_spark(spark)
    if steps is not None:
        steps = fetch_columns(steps, ["journey_id", "journey_type", "touchpoint", "department", "repeat_contact",
                                      "failed_step"])
    reasons = None
    if customers is not None and "churn_reason" in customers and customers["churn_reason"].notna().any():
        reasons = summarize_churn_reasons(customers, categories=an.churn.reason_categories or None)
    benchmarks = list(an.benchmarks)
    if an.benchmarks_file:
        path = check_source_path(Path(client_dir or ".") / an.benchmarks_file, client_dir or ".", config.external_data)
        benchmarks += read_benchmarks_file(path)
    skipped = []
    if not an.hypotheses:   # README, "The management loop", says how to list them
        skipped.append("executives' beliefs: none were given to test against the data")
    if not benchmarks:
        skipped.append("benchmarks: no industry or competitor figures were given to compare with")
    inventory = pd.DataFrame()
    if events is not None and len(events) and "touchpoint" in events:
        from cxlib.actions.inventory import build_touchpoint_inventory, find_moments_that_matter
        inventory = build_touchpoint_inventory(events, steps=steps, surveys=surveys, cost_per_contact=an.cost_per_contact,
                                               green_threshold=an.green_threshold, min_days=an.min_annualise_days,
                                               moments=find_moments_that_matter(metrics), spark=session)
    else:
        skipped.append("touchpoint inventory: there is no events table")
    tracking, why = track_journeys(journeys, surveys, an.interventions, period=an.tracking.period,
                                   min_periods=an.tracking.min_periods, window_days=an.churn_window_days, seed=seed)
    if why:
        skipped.append(f"tracking over time: {why}")
    elif not an.interventions:
        skipped.append("tracking a fix: no change to a journey was named (journey and date), so none is tested")
    barriers = None
    if staff is not None and len(staff):
        barriers = diagnose_barriers(staff, metrics, steps=steps, scales=config.all_scales())
    else:
        skipped.append("employee barriers: there is no staff pulse survey (department, statement, agreement)")
    callbacks, why = _callbacks(config, customers, surveys, journeys, steps, churn_risk)
    if why:
        skipped.append(f"call-back list: {why}")
    return ManagementDiagnosis(evaluate_hypotheses(an.hypotheses, metrics, reasons=reasons),
                               compare_benchmarks(benchmarks, metrics, reasons=reasons), skipped, inventory,
                               config.currency, callbacks, tracking, barriers, engine=engine)


def _callbacks(config, customers, surveys, journeys, steps, churn_risk) -> tuple[Callbacks | None, str]:
    """The call-back list, or (None, why not in plain words)."""
    from cxlib.actions.callbacks import build_callback_list
    consent = config.privacy.callback_consent
    if not consent:
        return None, "the client has not named the customer column that records consent to be contacted"
    if surveys is None or not len(surveys):
        return None, "there are no survey responses to find dissatisfied customers in"
    if customers is None or consent not in customers:
        return None, "the customer table has no consent column, so no one may be called"
    cb = config.analysis.callbacks
    out = build_callback_list(surveys, customers, consent=consent, green_threshold=config.analysis.green_threshold,
                              journeys=journeys, steps=steps, risk=churn_risk, recent_days=cb.recent_days, top=cb.top,
                              horizon_months=config.analysis.revenue_horizon_months)
    if not len(out.counts):
        return None, (f"no journey or relationship rating in the last {cb.recent_days} days of responses is below "
                      "its green threshold")
    return out, ""
