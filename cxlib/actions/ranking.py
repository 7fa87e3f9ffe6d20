"""The action list: every finding becomes a candidate action with evidence, an owner, an
effort level and a yearly value interval in money; actions are ranked by the lower end of
their value (what the client can count on), then by effort.

Values of different actions overlap (a fixed install journey also removes status-chasing
calls about it), so they are not additive; each is the value of that action alone.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from cxlib.core.formatting import format_interval, format_money, format_value
from cxlib.core.uncertainty import poisson_rate_interval

EFFORT_ORDER = {"low": 0, "medium": 1, "high": 2}
COLUMNS = ["title", "kind", "journey_type", "owner", "effort", "value", "value_lo", "value_hi", "evidence", "section"]


def _count_interval(k: float, unit_value: float) -> tuple[float, float]:
    lo, hi = poisson_rate_interval(k, 1.0)
    return lo * unit_value, hi * unit_value


def propose_journey_actions(signature: pd.DataFrame, catalogue: pd.DataFrame, scenarios: list[dict],
                            avoidable_by_journey: pd.DataFrame | None, owners: dict, *, currency: str,
                            fix_share: float = 0.5, journey_findings: dict | None = None) -> list[dict]:
    """One action per journey type that goes wrong: stop what its went-wrong journeys have
    and the others lack (the first non-contact step of the failure signature, whose
    department owns the fix). Value = revenue kept by the went-wrong scenario of 03 plus
    the avoidable contact cost of that journey removed in the same proportion. Where churn was
    measured, a journey type without a went-wrong scenario (going wrong does not raise churn
    measurably) gets no journey action; its avoidable contacts remain contact actions. Without
    churn data (no scenarios at all) the failure signature and the contacts carry the action."""
    out = []
    findings = journey_findings or {}
    churn_measured = any(s.get("to_share") is not None for s in scenarios)
    for jt in catalogue.index:
        sig = signature[signature["journey_type"] == jt] if len(signature) else signature
        sc = next((s for s in scenarios if s.get("journey_type") == jt and s.get("to_share") is not None), None)
        share = sc["from_share"] if sc else None
        if sc is None and (churn_measured or not len(sig)):
            continue   # churn was measured and going wrong in this journey does not raise it: no journey fix
        cause = sig[~sig["contact"].astype(bool)].head(1) if len(sig) else sig
        first = cause.iloc[0] if len(cause) else (sig.iloc[0] if len(sig) else None)
        reduce = (sc["from_share"] - sc["to_share"]) / sc["from_share"] if sc and sc["from_share"] else fix_share
        lo = hi = value = 0.0
        parts = []
        if sc:
            value, lo, hi = sc["revenue_kept"], sc["revenue_kept_lo"], sc["revenue_kept_hi"]
            parts.append(f"halving the {share:.0%} that go wrong keeps {format_money(value, currency)} a year "
                         f"({format_money(lo, currency)}–{format_money(hi, currency)}), {sc['churners_saved']:.0f} churners "
                         f"({sc['churners_saved_lo']:.0f}–{sc['churners_saved_hi']:.0f})")
        if avoidable_by_journey is not None and len(avoidable_by_journey) and jt in set(avoidable_by_journey["journey_type"]):
            a = avoidable_by_journey[avoidable_by_journey["journey_type"] == jt].iloc[0]
            unit = a["cost_per_year"] / a["avoidable"] if a["avoidable"] else 0.0
            c_lo, c_hi = _count_interval(a["avoidable"], unit)
            value, lo, hi = value + reduce * a["cost_per_year"], lo + reduce * c_lo, hi + reduce * c_hi
            parts.append(f"{a['avoidable']:,} avoidable contacts in this journey ({a['share']:.0%} of its agent "
                         f"contacts) cost {format_money(a['cost_per_year'], currency)} a year")
        if first is not None:
            parts.insert(0, f"'{first['touchpoint']}' ({first['department']}) appears in {first['share_wrong']:.0%} "
                            f"of the journeys that went wrong against {first['share_right']:.0%} of the others "
                            f"(n = {int(first['n_wrong']):,} went wrong)")
        for note in findings.get(jt, []):
            parts.append(note)
        owner = first["department"] if first is not None and not bool(first["contact"]) else owners.get(jt)
        what = f"stop what leads to '{first['touchpoint']}'" if first is not None else "cut the share that goes wrong"
        out.append({"title": f"Fix the {jt.replace('_', ' ')} journey: {what}", "kind": "journey",
                    "journey_type": jt, "owner": owner or "unassigned", "effort": "high",
                    "value": value, "value_lo": lo, "value_hi": hi, "evidence": "; ".join(parts) + ".",
                    "section": "02_journeys"})
    return out


def propose_contact_actions(avoidable_by_root: pd.DataFrame, *, currency: str, fix_share: float = 0.5,
                            top: int = 3, exclude_journeys: bool = True) -> list[dict]:
    """Remove avoidable contacts by root cause: the costliest root causes not already
    covered by a journey action. Value = ``fix_share`` of their yearly cost."""
    a = avoidable_by_root
    if a is None or not len(a):
        return []
    if exclude_journeys and "journey_type" in a:
        a = a[a["journey_type"].isna()]
    out = []
    for _, r in a.head(top).iterrows():
        unit = r["cost_per_year"] / r["avoidable"] if r["avoidable"] else 0.0
        lo, hi = _count_interval(r["avoidable"], unit)
        cause = str(r["avoidable_cause"]).replace("_", " ")
        out.append({"title": f"Remove avoidable contacts: {r['root_cause']}", "kind": "avoidable contacts",
                    "journey_type": None, "owner": r.get("owner") or "unassigned",
                    "effort": "low" if r["avoidable_cause"] == "status_chasing" else "medium",
                    "value": fix_share * r["cost_per_year"], "value_lo": fix_share * lo, "value_hi": fix_share * hi,
                    "evidence": f"{r['avoidable']:,.0f} {cause} contacts a year "
                                f"({r['share_all']:.1%} of agent contacts, 95% CI {r['share_all_lo']:.1%}–"
                                f"{r['share_all_hi']:.1%}) cost {format_money(r['cost_per_year'], currency)}; "
                                f"value assumes {fix_share:.0%} are removed.",
                    "section": "04_recommendations"})
    return out


def propose_self_service_actions(fit: pd.DataFrame, *, currency: str, min_fit: float = 0.5, top: int = 3,
                                 owner: str = "Digital") -> list[dict]:
    """Move contact reasons with a proven self-service path to it: reasons (all segments
    together) whose best segment fits at least ``min_fit``; value = the yearly saving."""
    if fit is None or not len(fit):
        return []
    f = fit[fit["fit"] >= min_fit]
    out = []
    for reason, g in f.groupby("contact_reason"):
        sat = g[["score_self", "score_assisted"]].dropna()
        risk = (f"self-service scores {sat['score_self'].mean():.1f} against {sat['score_assisted'].mean():.1f} assisted"
                if len(sat) else "satisfaction in self-service is not measured (no ratings): pilot and survey first")
        seg = ", ".join(f"{s} {c:.0%}" for s, c in zip(g["segment"], g["containment"]))
        out.append({"title": f"Move '{reason}' contacts to self-service", "kind": "self-service",
                    "journey_type": None, "owner": owner, "effort": "medium",
                    "value": float(g["saving"].sum()), "value_lo": float(g["saving_lo"].sum()),
                    "value_hi": float(g["saving_hi"].sum()),
                    "evidence": f"self-service already resolves {seg} of attempts without an agent "
                                f"(n = {int(g['attempts'].sum()):,} attempts); {g['movable'].sum():,.0f} agent "
                                f"contacts a year could move; {risk}.",
                    "section": "04_recommendations"})
    return sorted(out, key=lambda r: -r["value"])[:top]


def propose_agent_action(agents: pd.DataFrame, excess_repeats: pd.DataFrame | None, *, currency: str,
                         fix_share: float = 0.5, owner: str | None = None) -> list[dict]:
    """Coach the outlier agents: value = ``fix_share`` of the yearly cost of the repeat
    contacts their unresolved contacts cause above the team rate."""
    if agents is None or not len(agents) or not agents["outlier"].any():
        return []
    bad = agents[agents["outlier"]]
    value = lo = hi = 0.0
    if excess_repeats is not None and len(excess_repeats):
        e = excess_repeats.reindex(bad.index).dropna(subset=["excess"])
        value = fix_share * float(e["excess_cost"].clip(lower=0).sum())
        lo = fix_share * float(e["excess_cost_lo"].clip(lower=0).sum())
        hi = fix_share * float(e["excess_cost_hi"].clip(lower=0).sum())
    desc = "; ".join(
        f"{a}: FCR {r['fcr']:.0%} vs team {r['fcr_team']:.0%}" + (f", handle time {r['aht_s'] / 60:.1f} vs "
                                                                   f"{r['aht_s_team'] / 60:.1f} min"
                                                                   if "aht_s" in r else "")
        for a, r in bad.iterrows()) if "fcr" in bad else ", ".join(bad.index)
    return [{"title": f"Coach the {len(bad)} agents outside the team's range", "kind": "agents",
             "journey_type": None, "owner": owner or "Customer service", "effort": "low",
             "value": value, "value_lo": lo, "value_hi": hi,
             "evidence": f"{desc} (99.8% funnel limits); value = {fix_share:.0%} of the extra repeat contacts "
                         f"they cause.", "section": "04_recommendations"}]


def propose_value_action(value: pd.DataFrame, unprofitable: dict, *, currency: str, fix_share: float = 0.5,
                         agent_channels: tuple[str, ...] = ("call", "chat", "email", "store"),
                         n_boot: int = 500, seed: int = 0, owner: str = "Customer service") -> list[dict]:
    """Serve unprofitable customers digital-first: value = ``fix_share`` of the gap between
    their agent-contact cost per month and the profitable customers', over a year
    (bootstrap interval over customers)."""
    if value is None or not unprofitable.get("unprofitable"):
        return []
    cols = [f"cost_{c}" for c in agent_channels if f"cost_{c}" in value]
    if not cols:
        return []
    v = value[value["monthly_revenue"].notna()]
    bad = v["unprofitable"].astype(bool).to_numpy()
    agent_cost = v[cols].sum(axis=1).to_numpy()
    gap = np.clip(agent_cost[bad] - agent_cost[~bad].mean(), 0, None) * 12 * fix_share
    rng = np.random.default_rng(seed)
    boots = [gap[rng.integers(0, len(gap), len(gap))].sum() for _ in range(n_boot)]
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return [{"title": "Serve unprofitable customers digital-first", "kind": "value",
             "journey_type": None, "owner": owner, "effort": "medium",
             "value": float(gap.sum()), "value_lo": float(lo), "value_hi": float(hi),
             "evidence": f"{unprofitable['share']:.1%} of customers (95% CI {unprofitable['lo']:.1%}–"
                         f"{unprofitable['hi']:.1%}, n = {unprofitable['n']:,}) cost more to serve than they pay; "
                         f"their agent contacts cost {agent_cost[bad].mean():.2f} a month against "
                         f"{agent_cost[~bad].mean():.2f} for the rest; value = {fix_share:.0%} of that gap.",
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
        out.append({"title": f"Improve '{p['driver']}'", "kind": "driver", "journey_type": None,
                    "owner": owner, "effort": "medium", "value": np.nan, "value_lo": np.nan, "value_hi": np.nan,
                    "urgency": p["share"] * room,
                    "evidence": f"'{p['driver']}' holds {format_value(p['share'], 'share', digits=1)} of the explained "
                                f"variance in {p['outcome']} ({format_interval(p['lo'], p['hi'], 'share', digits=1)}{ranks}; "
                                f"n rated = {p['n_rated']:,}) and "
                                f"{scored}, below the median driver: it matters and underperforms. Survey data alone: "
                                "ranked, not priced.",
                    "section": "03_drivers"})
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
