"""The action list: every finding becomes a candidate action with evidence, an owner, an
effort level, the data it rests on and a yearly value interval in money; actions are ranked by
the lower end of their value (what the client can count on), then by effort.

Most values rest on one documented assumption, :class:`FixAssumption`: the share of a problem
a fix removes. Such values say so, and their intervals are widened to carry the assumption's
range. Values of different actions overlap (a fixed install journey also removes
status-chasing calls about it), so they are not additive; each is the value of that action
alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxlib.core.formatting import format_estimate, format_interval, format_money, format_value, humanize, is_known
from cxlib.core.uncertainty import poisson_rate_interval

EFFORT_ORDER = {"low": 0, "medium": 1, "high": 2}
COLUMNS = ["title", "kind", "journey_type", "owner", "effort", "value", "value_lo", "value_hi", "value_kind",
           "assumption", "rests_on", "evidence", "section"]


@dataclass(frozen=True)
class FixAssumption:
    """The share of a problem a fix is assumed to remove (``share``), and its plausible range.

    :meth:`apply` turns a measured size (value and 95% interval) into the value of the fix: the
    central value at ``share``, the low end at ``low`` times the measured low end and the high end
    at ``high`` times the measured high end, so the interval carries both the sampling error and
    the assumption."""
    share: float = 0.5
    low: float = 0.25
    high: float = 0.75

    def apply(self, value: float, lo: float, hi: float) -> tuple[float, float, float]:
        return self.share * value, self.low * lo, self.high * hi

    def widen(self, value: float, lo: float, hi: float) -> tuple[float, float, float]:
        """For a value already computed at ``share`` (a scenario): widen its interval only."""
        return value, lo * self.low / self.share, hi * self.high / self.share

    def describe(self, what: str, share: float | None = None, verb: str = "removes") -> str:
        """'assumes the fix removes 50% of <what> (range 25–75%)'; ``share`` when a configured
        scenario removes another share (its range scales with it)."""
        s = self.share if share is None else share
        return (f"assumes the fix {verb} {s:.0%} of {what} (range {s * self.low / self.share:.0%}–"
                f"{min(s * self.high / self.share, 1):.0%})")


def _count_interval(k: float, unit_value: float) -> tuple[float, float]:
    lo, hi = poisson_rate_interval(k, 1.0)
    return lo * unit_value, hi * unit_value


def propose_journey_actions(signature: pd.DataFrame, catalogue: pd.DataFrame, scenarios: list[dict],
                            avoidable_by_journey: pd.DataFrame | None, owners: dict, *, currency: str,
                            fix: FixAssumption = FixAssumption(), margin: float | None = None,
                            journey_findings: dict | None = None, per: str = "a year") -> list[dict]:
    """One action per journey type that goes wrong: stop what its went-wrong journeys have
    and the others lack (the first non-contact step of the failure signature, whose
    department owns the fix). Value = revenue kept by the went-wrong scenario of 03 (at
    ``margin`` when given) plus the avoidable contact cost of that journey removed in the same
    proportion; the interval is widened by ``fix``'s range. Where churn was measured, a
    journey type without a went-wrong scenario (going wrong does not raise churn measurably)
    gets no journey action; its avoidable contacts remain contact actions. Without churn data
    (no scenarios at all) the failure signature and the contacts carry the action."""
    out = []
    findings = journey_findings or {}
    churn_measured = any(s.get("to_share") is not None for s in scenarios)
    for jt in catalogue.index:
        sig = signature[signature["journey_type"] == jt] if len(signature) else signature
        sc = next((s for s in scenarios if s.get("journey_type") == jt and s.get("to_share") is not None), None)
        if sc is None and (churn_measured or not len(sig)):
            continue   # churn was measured and going wrong in this journey does not raise it: no journey fix
        cause = sig[~sig["contact"].astype(bool)].head(1) if len(sig) else sig
        first = cause.iloc[0] if len(cause) else (sig.iloc[0] if len(sig) else None)
        reduce = (sc["from_share"] - sc["to_share"]) / sc["from_share"] if sc and sc["from_share"] else fix.share
        lo = hi = value = 0.0
        parts, kinds, rests = [], [], ["journeys (events)"]
        if sc:
            m = margin or 1.0
            value, lo, hi = sc["revenue_kept"] * m, sc["revenue_kept_lo"] * m, sc["revenue_kept_hi"] * m
            kinds.append("margin kept" if margin else "revenue kept")
            rests.append("churn and revenue (customers)")
            parts.append(f"cutting the {sc['from_share']:.0%} that go wrong to {sc['to_share']:.0%} keeps "
                         f"{format_money(sc['revenue_kept'], currency)} of revenue {sc.get('per', per)} "
                         f"({format_money(sc['revenue_kept_lo'], currency)}–{format_money(sc['revenue_kept_hi'], currency)}),"
                         f" {sc['churners_saved']:,.0f} churners ({sc['churners_saved_lo']:,.0f}–{sc['churners_saved_hi']:,.0f})")
        if avoidable_by_journey is not None and len(avoidable_by_journey) and jt in set(avoidable_by_journey["journey_type"]):
            a = avoidable_by_journey[avoidable_by_journey["journey_type"] == jt].iloc[0]
            unit = a["cost_per_year"] / a["avoidable"] if a["avoidable"] else 0.0
            c_lo, c_hi = _count_interval(a["avoidable"], unit)
            value, lo, hi = value + reduce * a["cost_per_year"], lo + reduce * c_lo, hi + reduce * c_hi
            if a["cost_per_year"] > 0:
                kinds.append("cost saved")
            rests.append("agent contacts (events)")
            parts.append(f"{a['avoidable']:,} avoidable contacts in this journey ({a['share']:.0%} of its agent "
                         f"contacts) cost {format_money(a['cost_per_year'], currency)} {per}")
        present = first is None or bool(first.get("present", True))
        if first is not None:
            verb = "appears in" if present else "is missing from"
            share_w, share_r = (first["share_wrong"], first["share_right"]) if present else \
                (1 - first["share_wrong"], 1 - first["share_right"])
            parts.insert(0, f"'{first['touchpoint']}' ({first['department']}) {verb} {share_w:.0%} "
                            f"of the journeys that went wrong against {share_r:.0%} of the others "
                            f"(n = {int(first['n_wrong']):,} went wrong)")
        for note in findings.get(jt, []):
            parts.append(note)
        value, lo, hi = fix.widen(value, lo, hi)
        owner = first["department"] if first is not None and not bool(first["contact"]) else owners.get(jt)
        what = ("cut the share that goes wrong" if first is None else f"stop what leads to '{first['touchpoint']}'"
                if present else f"make sure '{first['touchpoint']}' happens")
        priced = bool(kinds)
        out.append({"title": f"Fix the {humanize(jt)} journey: {what}", "kind": "journey",
                    "journey_type": jt, "owner": owner or "unassigned", "effort": "high",
                    "value": value if priced else np.nan, "value_lo": lo if priced else np.nan,
                    "value_hi": hi if priced else np.nan, "value_kind": " and ".join(kinds),
                    "assumption": fix.describe("the journeys that go wrong", reduce) if priced else "",
                    "rests_on": ", ".join(rests), "evidence": "; ".join(parts) + ".",
                    "section": "02_journeys", "urgency": sc["from_share"] if sc else 0.0})
    return out


def propose_contact_actions(avoidable_by_root: pd.DataFrame, *, currency: str, fix: FixAssumption = FixAssumption(),
                            top: int = 3, exclude_journeys: bool = True, per: str = "a year") -> list[dict]:
    """Remove avoidable contacts by root cause: the costliest root causes not already
    covered by a journey action. Value = the assumed share (``fix``) of their cost."""
    a = avoidable_by_root
    if a is None or not len(a):
        return []
    if exclude_journeys and "journey_type" in a:
        a = a[a["journey_type"].isna()]
    out = []
    for _, r in a.head(top).iterrows():
        unit = r["cost_per_year"] / r["avoidable"] if r["avoidable"] else 0.0
        value, lo, hi = fix.apply(r["cost_per_year"], *_count_interval(r["avoidable"], unit))
        cause = str(r["avoidable_cause"]).replace("_", " ")
        out.append({"title": f"Remove avoidable contacts: {humanize(r['root_cause'])}", "kind": "avoidable contacts",
                    "journey_type": None, "owner": r.get("owner") or "unassigned",
                    "effort": "low" if r["avoidable_cause"] == "status_chasing" else "medium",
                    "value": value, "value_lo": lo, "value_hi": hi, "value_kind": "cost saved",
                    "assumption": fix.describe("these contacts"), "rests_on": "agent contacts and their cost (events)",
                    "evidence": f"{r['avoidable']:,.0f} {cause} contacts {per} "
                                f"({r['share_all']:.1%} of agent contacts, 95% CI {r['share_all_lo']:.1%}–"
                                f"{r['share_all_hi']:.1%}) cost {format_money(r['cost_per_year'], currency)}.",
                    "section": "04_recommendations"})
    return out


def propose_self_service_actions(fit: pd.DataFrame, *, currency: str, fix: FixAssumption = FixAssumption(),
                                 min_fit: float = 0.5, top: int = 3, owner: str = "Digital",
                                 per: str = "a year") -> list[dict]:
    """Move contact reasons with a proven self-service path to it: reasons (all segments
    together) whose best segment fits at least ``min_fit``. The saving measured assumes every
    agent contact about the reason tries self-service and succeeds at today's containment; the
    value assumes only ``fix``'s share of them moves."""
    if fit is None or not len(fit):
        return []
    f = fit[fit["fit"] >= min_fit]
    out = []
    for reason, g in f.groupby("contact_reason"):
        sat = g[["score_self", "score_assisted"]].dropna()
        risk = (f"self-service scores {sat['score_self'].mean():.1f} against {sat['score_assisted'].mean():.1f} assisted"
                if len(sat) else "satisfaction in self-service is not measured (no ratings): pilot and survey first")
        seg = ", ".join(f"{s} {c:.0%}" for s, c in zip(g["segment"], g["containment"]))
        value, lo, hi = fix.apply(float(g["saving"].sum()), float(g["saving_lo"].sum()), float(g["saving_hi"].sum()))
        out.append({"title": f"Move '{humanize(reason)}' contacts to self-service", "kind": "self-service",
                    "journey_type": None, "owner": owner, "effort": "medium",
                    "value": value, "value_lo": lo, "value_hi": hi, "value_kind": "cost saved",
                    "assumption": fix.describe("the agent contacts about it to self-service", verb="moves"),
                    "rests_on": "self-service attempts and agent contacts (events)",
                    "evidence": f"self-service already resolves {seg} of attempts without an agent "
                                f"(n = {int(g['attempts'].sum()):,} attempts); at that rate self-service would resolve "
                                f"{g['movable'].sum():,.0f} of the {g['agent_contacts'].sum():,.0f} agent contacts "
                                f"{per} about it; {risk}.",
                    "section": "04_recommendations"})
    return sorted(out, key=lambda r: -r["value"])[:top]


def propose_agent_action(agents: pd.DataFrame, excess_repeats: pd.DataFrame | None, *, currency: str,
                         fix: FixAssumption = FixAssumption(), owner: str | None = None) -> list[dict]:
    """Coach the outlier agents: value = the assumed share (``fix``) of the cost of the repeat
    contacts their unresolved contacts cause above the team rate."""
    if agents is None or not len(agents) or not agents["outlier"].any():
        return []
    bad = agents[agents["outlier"]]
    value = lo = hi = np.nan
    if excess_repeats is not None and len(excess_repeats):
        e = excess_repeats.reindex(bad.index).dropna(subset=["excess"])
        if len(e):
            value, lo, hi = fix.apply(*(float(e[c].clip(lower=0).sum())
                                        for c in ("excess_cost", "excess_cost_lo", "excess_cost_hi")))
    desc = "; ".join(
        f"{a}: FCR {r['fcr']:.0%} vs team {r['fcr_team']:.0%}" + (f", handle time {r['aht_s'] / 60:.1f} vs "
                                                                   f"{r['aht_s_team'] / 60:.1f} min"
                                                                   if "aht_s" in r else "")
        for a, r in bad.iterrows()) if "fcr" in bad else ", ".join(bad.index)
    priced = is_known(value) and value > 0
    return [{"title": f"Coach the {len(bad)} agents outside the team's range", "kind": "agents",
             "journey_type": None, "owner": owner or "Customer service", "effort": "low",
             "value": value if priced else np.nan, "value_lo": lo if priced else np.nan,
             "value_hi": hi if priced else np.nan, "value_kind": "cost saved" if priced else "",
             "assumption": fix.describe("the extra repeat contacts they cause") if priced else "",
             "rests_on": "agent contacts (events)", "urgency": float(len(bad)) / max(len(agents), 1),
             "evidence": f"{desc} (99.8% funnel limits)"
                         + ("; valued by the repeat contacts they cause above the team rate." if priced
                            else "; the repeat contacts they cause could not be priced."),
             "section": "04_recommendations"}]


def propose_value_action(value: pd.DataFrame, unprofitable: dict, *, currency: str, fix: FixAssumption = FixAssumption(),
                         agent_channels: tuple[str, ...] = ("call", "chat", "email", "store"),
                         n_boot: int = 500, seed: int = 0, owner: str = "Customer service") -> list[dict]:
    """Serve unprofitable customers digital-first: value = the assumed share (``fix``) of the
    gap between their agent-contact cost per month and the profitable customers', over a year
    (bootstrap interval over customers)."""
    if value is None or not unprofitable.get("unprofitable"):
        return []
    cols = [f"cost_{c}" for c in agent_channels if f"cost_{c}" in value]
    if not cols:
        return []
    v = value[value["monthly_revenue"].notna()]
    bad = v["unprofitable"].astype(bool).to_numpy()
    agent_cost = v[cols].sum(axis=1).to_numpy()
    gap = np.clip(agent_cost[bad] - agent_cost[~bad].mean(), 0, None) * 12
    rng = np.random.default_rng(seed)
    boots = [gap[rng.integers(0, len(gap), len(gap))].sum() for _ in range(n_boot)]
    lo, hi = np.quantile(boots, [0.025, 0.975])
    val, lo, hi = fix.apply(float(gap.sum()), float(lo), float(hi))
    return [{"title": "Serve unprofitable customers digital-first", "kind": "value",
             "journey_type": None, "owner": owner, "effort": "medium",
             "value": val, "value_lo": lo, "value_hi": hi, "value_kind": "cost saved",
             "assumption": fix.describe("the extra agent-contact cost"),
             "rests_on": "revenue (customers) and contact costs (events)",
             "evidence": f"{unprofitable['share']:.1%} of customers (95% CI {unprofitable['lo']:.1%}–"
                         f"{unprofitable['hi']:.1%}, n = {unprofitable['n']:,}) cost more to serve than they pay; "
                         f"their agent contacts cost {agent_cost[bad].mean():.2f} a month against "
                         f"{agent_cost[~bad].mean():.2f} for the rest.",
             "section": "04_recommendations"}]


def propose_driver_actions(priorities: list[dict], *, owner: str | None = None) -> list[dict]:
    """Improve each fix-first driver of the key-driver analysis (important and performing
    below the median). These rest on survey data alone, so they are ranked but not priced:
    ``value`` is empty and ``urgency`` (share of the explained variance x room to improve on
    the driver's scale) orders them after the priced actions."""
    out = []
    for p in priorities:
        perf = p.get("performance")
        room = 1 - perf if perf is not None and np.isfinite(perf) else 0.5
        ranks = (f"; rank {int(p['rank_lo'])}–{int(p['rank_hi'])}" if p.get("rank_lo") is not None
                 and np.isfinite(p["rank_lo"]) else "")
        scored = f"scores {format_value(perf, 'share', digits=0)} of its scale" if perf is not None and \
            np.isfinite(perf) else f"scores {p['mean_score']:.2f} on average"
        out.append({"title": f"Improve '{humanize(p['driver'])}'", "kind": "driver", "journey_type": None,
                    "owner": owner, "effort": "medium", "value": np.nan, "value_lo": np.nan, "value_hi": np.nan,
                    "value_kind": "", "assumption": "", "rests_on": "survey ratings",
                    "urgency": p["share"] * room,
                    "evidence": f"'{humanize(p['driver'])}' holds {format_value(p['share'], 'share', digits=1)} of the explained "
                                f"variance in {humanize(p['outcome'])} ({format_interval(p['lo'], p['hi'], 'share', digits=1)}{ranks}; "
                                f"n rated = {p['n_rated']:,}) and "
                                f"{scored}, below the median driver: it matters and underperforms. Survey data alone: "
                                "ranked, not priced.",
                    "section": "03_drivers"})
    return out


def propose_churn_driver_actions(drivers: list[dict], *, currency: str, fix: FixAssumption = FixAssumption(),
                                 margin: float | None = None) -> list[dict]:
    """Cut the extra churn of the customers who carry a churn driver the client can act on (a
    level of a customer column listed in ``analysis.churn.actionable``: a month-to-month contract,
    paying by electronic check). ``drivers`` are the records of
    :meth:`~cxlib.drivers.churn_diagnosis.ChurnDiagnosis.attribute_drivers`. Value = the assumed
    share (``fix``) of the driver's revenue at risk (at ``margin`` when given), its interval the
    bootstrap's carried through the assumption's range. The records' money must be over the period
    of the list's other values (:func:`~cxlib.actions.diagnosis.diagnose_recommendations` keeps the
    others out and says so)."""
    out = []
    m = margin or 1.0
    for d in drivers:
        name = humanize(d["driver"])
        value, lo, hi = fix.apply(d["value"] * m, d["lo"] * m, d["hi"] * m)
        out.append({"title": f"Cut churn among customers with {name}", "kind": "churn driver", "journey_type": None,
                    "owner": None, "effort": "medium", "value": value, "value_lo": lo, "value_hi": hi,
                    "value_kind": "margin kept" if margin else "revenue kept",
                    "assumption": fix.describe(f"the extra churn of the customers with {name}"),
                    "rests_on": "churn and revenue (customers)",
                    "evidence": f"the churn model puts {d['excess_churners']:,.0f} more churners among the "
                                f"{d['customers']:,} customers with {name} than the same customers would have "
                                f"without it: {format_estimate(d['value'], d['lo'], d['hi'], 'money', currency=currency)}"
                                f" of revenue at risk {d['per']}.",
                    "section": "03_drivers", "urgency": 0.0})
    return out


def rank_actions(candidates: list[dict]) -> pd.DataFrame:
    """The action list: priced actions first, by the lower end of the value interval, then
    effort; then the unpriced ones (survey-only driver actions) by urgency. ``priority`` 1 is
    first."""
    a = pd.DataFrame(candidates, columns=[*COLUMNS, "urgency"])
    if not len(a):
        return a.drop(columns="urgency").assign(priority=pd.Series(dtype=int))
    a["_effort"] = a["effort"].map(EFFORT_ORDER)
    a["_unpriced"] = a["value_lo"].isna()
    a = a.sort_values(["_unpriced", "value_lo", "urgency", "_effort"], ascending=[True, False, False, True]) \
        .drop(columns=["_effort", "_unpriced", "urgency"]).reset_index(drop=True)
    a.insert(0, "priority", np.arange(1, len(a) + 1))
    return a
