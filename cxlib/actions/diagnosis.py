"""The recommendations of one client in one call (``04_recommendations``): the contact
cascade (avoidable contacts, self-service fit, agent performance), value-based service,
journey KPIs with owners and targets, and the ranked action list. Each part says what it
skipped and why; :meth:`RecommendationDiagnosis.metrics` is the ``recommendations``
section of the report's figures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from cxlib.actions import ranking as act
from cxlib.actions.agents import count_caused_repeats, score_agents
from cxlib.core.config import ClientConfig
from cxlib.core.period import measure_period
from cxlib.core.formatting import format_count, format_estimate, format_interval, format_value, humanize, is_known
from cxlib.actions.contacts import (build_contact_events, classify_avoidable_contacts, join_contacts,
                                    measure_self_service, summarize_avoidable)
from cxlib.journeys.stats import assign_owners, find_failure_signature
from cxlib.journeys.reconstruct import UNCLASSIFIED
from cxlib.actions.kpis import build_journey_kpis
from cxlib.core.schema import AGENT_CHANNELS
from cxlib.core.sql import ParquetTable, mode_sql, on_engine, query_frames, select_columns
from cxlib.actions.value import (estimate_cost_to_serve, explain_unprofitable, suggest_service_tiers, summarize_unprofitable,
                    summarize_value_deciles)


@dataclass
class RecommendationDiagnosis:
    currency: str = ""
    engine: str = "duckdb"                     # where the event-level queries ran (duckdb or spark)
    per_year: float = 1.0
    per: str = "a year"                        # what counts and money are per: a year, or the days observed
    period_note: str | None = None             # extrapolated, or too short to annualise
    margin: float | None = None                # gross margin that values revenue kept (None: revenue)
    contacts: pd.DataFrame | None = None       # agent contacts with avoidable cause and root cause
    avoidable: dict | None = None              # overall share and cost
    by_cause: pd.DataFrame | None = None
    by_journey: pd.DataFrame | None = None
    by_root: pd.DataFrame | None = None
    self_service: pd.DataFrame | None = None
    agents: pd.DataFrame | None = None
    caused_repeats: pd.DataFrame | None = None
    value: pd.DataFrame | None = None
    unprofitable: dict | None = None
    deciles: pd.DataFrame | None = None
    unprofitable_drivers: pd.DataFrame | None = None
    tiers: pd.DataFrame | None = None
    signature: pd.DataFrame | None = None
    kpis: pd.DataFrame | None = None
    actions: pd.DataFrame | None = None
    skipped: list[str] = field(default_factory=list)

    def metrics(self) -> dict:
        """The ``recommendations`` section of the report's figures."""
        def num(x):
            return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)

        a = self.avoidable or {}
        actions = [] if self.actions is None else [
            {"title": r["title"], "owner": r["owner"], "priority": int(r["priority"]), "value": num(r["value"]),
             "value_lo": num(r["value_lo"]), "value_hi": num(r["value_hi"]), "evidence": r["evidence"],
             "effort": r["effort"], "kind": r["kind"], "journey_type": r["journey_type"], "section": r["section"],
             "value_kind": r["value_kind"], "assumption": r["assumption"], "rests_on": r["rests_on"]}
            for _, r in self.actions.iterrows()]
        u = self.unprofitable or {}
        return {"avoidable_share": num(a.get("share_all")), "avoidable_share_lo": num(a.get("share_all_lo")),
                "avoidable_share_hi": num(a.get("share_all_hi")),
                "avoidable_contacts": int(a["avoidable"]) if a else None,
                "agent_contacts": int(a["contacts"]) if a else None, "avoidable_cost": num(a.get("cost_per_year")),
                "avoidable_cost_lo": num(a.get("cost_lo")), "avoidable_cost_hi": num(a.get("cost_hi")),
                "unprofitable_share": num(u.get("share")), "unprofitable_share_lo": num(u.get("lo")),
                "unprofitable_share_hi": num(u.get("hi")), "customers": u.get("n"),
                "agent_outliers": [] if self.agents is None else sorted(self.agents.index[self.agents["outlier"]]),
                "currency": self.currency, "money_per": self.per, "period_note": self.period_note, "engine": self.engine,
                "actions": actions, "skipped": list(self.skipped)}

    def list_priorities(self, top: int = 5) -> list[str]:
        """The ``top`` actions as sentences: title, owner, effort, value with its interval and
        what kind of value it is, and the assumption it rests on."""
        if self.actions is None:
            return []
        return [f"**{a['title']}** (owner: {a['owner'] or 'to be assigned'}; effort: {a['effort']}): "
                + describe_action_value(a, self.currency, self.per) for _, a in self.actions.head(top).iterrows()]

    def describe_values(self) -> str:
        """How to read the values: the period they are over, what they assume, and whether
        revenue kept and cost saved are on one scale."""
        out = []
        if self.period_note:
            out.append(self.period_note[0].upper() + self.period_note[1:] + ".")
        if self.actions is not None and len(self.actions):
            kinds = set(" and ".join(self.actions["value_kind"].dropna()).split(" and ")) - {""}
            if self.actions["assumption"].astype(bool).any():
                out.append("Values marked *assumed* rest on the share of the problem a fix removes; their intervals "
                           "are widened to carry that assumption's range.")
            if "revenue kept" in kinds and "cost saved" in kinds:
                out.append("Revenue kept is revenue, not profit: it is not on the same scale as cost saved, and the "
                           "client's gross margin would put the two on one scale.")
        return " ".join(out)

    def action_table(self) -> pd.DataFrame:
        """The action list as the report shows it, narrow enough to print: priority, action,
        owner, effort, its value (with interval and kind, or why it is not priced), what the value
        rests on (the data, and the assumption when there is one) and the evidence. A column empty
        for every action (a survey-only client has no owners) is left out."""
        a = self.actions
        value = [describe_action_value(r, self.currency, self.per, assumption=False).removesuffix(".")
                 for _, r in a.iterrows()]
        basis = [r["rests_on"] + (f"; {r['assumption']}" if r["assumption"] else "") for _, r in a.iterrows()]
        t = pd.DataFrame({"priority": a["priority"], "action": a["title"], "owner": a["owner"], "effort": a["effort"],
                          f"value {self.per}": value, "rests on": basis, "evidence": a["evidence"]})
        return t[[c for c in t.columns if t[c].replace("", pd.NA).notna().any()]]

    def describe_ranking(self, top: int = 5) -> str:
        """The lead-in of the priority list: how the actions are ranked."""
        n = min(top, len(self.actions))
        priced = self.actions["value"].notna().head(n)
        if priced.all():
            how = "ranked by the lower end of their value (what the client can count on)"
        elif not priced.any():
            how = "ranked by importance times room to improve (none can be priced from the data received)"
        else:
            how = ("ranked by the lower end of their value; the actions that cannot be priced follow, ranked by "
                   "importance")
        return f"**The {n} priorities**, {how}:" if n > 1 else "**The priority:**"

    def priced_actions(self) -> pd.DataFrame:
        """The actions with a yearly value (the others rest on survey data alone)."""
        return self.actions[self.actions["value"].notna()] if self.actions is not None else pd.DataFrame()

    def summary(self) -> list[str]:
        """The cascade and value findings as sentences: avoidable contacts, unprofitable
        customers, flagged agents, the period the yearly figures rest on (when there are figures or
        actions) and what was not analysed."""
        lines, cur = [], self.currency
        if self.avoidable:
            v = self.avoidable
            lines.append(f"**Avoidable contacts:** {format_value(v['share_all'], 'share', digits=1)} of "
                         f"{format_count(v['contacts'])} agent contacts "
                         f"({format_interval(v['share_all_lo'], v['share_all_hi'], 'share', digits=1)}) should not have "
                         f"been needed; they cost "
                         f"{format_estimate(v['cost_per_year'], v['cost_lo'], v['cost_hi'], 'money', currency=cur)} "
                         f"{self.per}.")
        if self.unprofitable:
            u = self.unprofitable
            lines.append(f"**Unprofitable customers:** "
                         f"{format_estimate(u['share'], u['lo'], u['hi'], 'share', digits=1, n=u['n'])} cost more to "
                         "serve than they pay.")
        if self.agents is not None:
            out = self.metrics()["agent_outliers"]
            lines.append(f"**Agents:** {len(out)} of {len(self.agents)} scored agents lie outside the team's 99.8% range"
                         + (f": {', '.join(out)}." if out else "."))
        if self.period_note and (lines or (self.actions is not None and len(self.actions))):
            lines.append(f"*Period:* {self.period_note}.")   # only beside figures it is about
        return lines + [f"*Not analysed:* {x}." for x in self.skipped]

    def describe_self_service_risk(self) -> str:
        """Whether the satisfaction cost of moving contacts to self-service can be measured."""
        unrated = self.self_service["score_self"].isna().mean()
        if unrated:
            return (f"**Risk to satisfaction:** {format_value(unrated, 'share', digits=0)} of these groups have no "
                    "self-service ratings, so their satisfaction cost cannot be measured; move them in a pilot with a "
                    "survey before rolling out.")
        return "Satisfaction in self-service is measured for every group (see the scores)."

    def skipped_about(self, *words: str) -> str:
        """The skip reasons that mention any of ``words``, joined; '' when none do."""
        return "; ".join(x for x in self.skipped if any(w in x for w in words))

    def agent_metrics(self) -> list[str]:
        """The agent metrics that were scored (fcr, aht_s, csat)."""
        return list(self.agents.attrs.get("metrics", [])) if self.agents is not None else []

    def describe_flagged_agents(self, min_contacts: int) -> str:
        """'**3 flagged agents** of 60 with at least 30 contacts:', or that none lies outside."""
        k, n = int(self.agents["outlier"].sum()), len(self.agents)
        if not k:
            return (f"No agent of the {format_count(n)} with at least {format_count(min_contacts)} contacts lies "
                    "outside the limits: the differences between them are within the normal spread.")
        return f"**{format_count(k)} flagged agents** of {format_count(n)} with at least {format_count(min_contacts)} contacts:"

    def flagged_agents(self) -> pd.DataFrame:
        """The agents outside the funnel limits, with their raw and shrunk figures."""
        cols = [c for c in ["contacts", "fcr", "fcr_shrunk", "fcr_lo", "fcr_hi", "aht_s", "aht_s_shrunk", "csat",
                            "csat_n", "csat_shrunk"] if c in self.agents]
        return self.agents.loc[self.agents["outlier"], cols]


def describe_action_value(action, currency: str, per: str = "a year", *, assumption: bool = True) -> str:
    """'EUR 71k (95% CI EUR 32k–EUR 120k) of revenue kept a year; assumed: the fix removes 50% ...'
    (the assumption left out with ``assumption=False``) or 'not priced (it rests on survey data
    alone), ranked by importance.' for one action (a row of the action list or its record in
    the report's figures)."""
    if not is_known(action.get("value")):
        why = "it rests on survey data alone" if action.get("rests_on") == "survey ratings" else \
            "what it would save could not be measured"
        return f"not priced ({why}), ranked by importance."
    kind = f" of {action['value_kind']}" if action.get("value_kind") else ""
    text = f"{format_estimate(action['value'], action['value_lo'], action['value_hi'], 'money', currency=currency)}{kind} {per}"
    if assumption and action.get("assumption"):
        return f"{text}; assumed: {action['assumption'].removeprefix('assumes ')}."
    return text + "."


def _journey_findings(findings: list[dict]) -> dict[str, list[str]]:
    """Watermelon and bimodality findings of 02 as evidence notes per journey type."""
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f["journey_type"], []).append(f"{f['finding'].lower()}: {f['text']}")
    return out


def diagnose_recommendations(config: ClientConfig, *, customers: pd.DataFrame | None, events: pd.DataFrame | None,
                             surveys: pd.DataFrame | None, journeys: pd.DataFrame | None,
                             steps, as_of, scenarios: list[dict] | None = None,
                             journey_findings: list[dict] | None = None, driver_priorities: list[dict] | None = None,
                             churn_drivers: list[dict] | None = None, seed: int = 0, progress: bool = False,
                             engine: str = "duckdb", spark=None) -> RecommendationDiagnosis:
    """Run every part of the recommendations that the client's tables allow. ``scenarios``
    (the improvement scenarios of the drivers section) value the journey fixes;
    ``journey_findings`` (watermelon and two-group findings of the journey section) are cited
    in their evidence; ``driver_priorities`` (the fix-first drivers of the drivers section) become
    ranked, unpriced actions, so a survey-only client gets an action list too; ``churn_drivers`` (the
    priced churn drivers the client listed as actionable) become churn-driver actions, valued over
    the period their money is (the events' period when there are events). ``steps`` is the step
    table as pandas, its Parquet file (:func:`cxlib.journeys.read_journeys` with ``steps_in_place``)
    or Spark: its statistics are counted there, and only the columns that link events to their
    journeys come to pandas. ``engine='spark'`` runs the event-level queries (the failure signature,
    touchpoint scores, avoidable contacts, self-service, agent figures, cost to serve) on Spark
    (``spark``: a session, or the client's SparkSettings); the step table is then read there too."""
    say = print if progress else (lambda *a, **k: None)
    a, cs, rs = config.analysis, config.analysis.contacts, config.analysis.recommendations
    dx = RecommendationDiagnosis(currency=config.currency, engine=engine)
    session = None
    if engine == "spark":
        from cxlib.core.spark import open_spark
        session = open_spark(spark)
        steps = on_engine(steps, session) if isinstance(steps, ParquetTable) else steps
    owners = {}
    if journeys is not None and steps is not None and (journeys["journey_type"] != UNCLASSIFIED).any():
        cat = journeys[journeys["journey_type"] != UNCLASSIFIED].groupby("journey_type").size().to_frame("n")
        owners = assign_owners(cat, steps, a.journeys).to_dict()
        dx.signature = find_failure_signature(steps, journeys, contact_channels=AGENT_CHANNELS)
        say("journey KPIs ...", flush=True)
        dx.kpis = build_journey_kpis(journeys, customers, owners=owners, targets=rs.kpi_targets,
                                     segment=(a.drivers.segments or ["segment"])[0],
                                     churn_window_days=a.churn_window_days)
    else:
        dx.skipped.append("journey KPIs and journey actions: there are no typed journeys")
    if events is None or not len(events):
        dx.skipped.append("contact cascade and cost to serve: there is no events table")
    else:
        say("classifying avoidable contacts ...", flush=True)
        ev = build_contact_events(events, steps, customers=customers, surveys=surveys,
                                  cost_per_contact=a.cost_per_contact, spark=session)
        facts = query_frames("""
            SELECT min("timestamp") AS first, max("timestamp") AS last,
                   sum(CASE WHEN agent_contact THEN 1 ELSE 0 END) AS agent_contacts,
                   (SELECT max(n) FROM (SELECT count(*) AS n FROM ev WHERE customer_id IS NOT NULL
                                        GROUP BY customer_id) g) AS most_events
            FROM ev""", ev=select_columns(ev, ["customer_id", "timestamp", "agent_contact"])).iloc[0]
        period = measure_period(pd.Series([facts["first"], facts["last"]]), min_days=a.min_annualise_days)
        dx.per_year, dx.per, dx.period_note = period.factor, period.label, period.note()
        if not facts["agent_contacts"]:
            kinds = query_frames('SELECT DISTINCT "kind" FROM ev', ev=select_columns(ev, ["kind"]))["kind"] \
                if "kind" in ev.columns else None
            if kinds is not None and not kinds.fillna("contact").eq("contact").any():
                kinds = " or ".join(sorted(kinds.dropna().astype(str).map(humanize).unique()))
                dx.skipped.append(f"avoidable contacts and agents: every event is a {kinds}, not a customer contact")
            else:
                dx.skipped.append("avoidable contacts and agents: no agent contacts (no agent ids and no call, chat, "
                                  "e-mail or store events)")
        else:
            cls = classify_avoidable_contacts(ev, window_days=a.repeat_window_days,
                                              failure_outcomes=cs.failure_outcomes,
                                              unresolved_outcomes=cs.unresolved_outcomes,
                                              status_pattern=cs.status_pattern, repeat_rule=cs.repeat_rule,
                                              failure_touchpoints=cs.failure_touchpoints,
                                              rules=[r.model_dump() for r in cs.rules], as_table=True)
            c = dx.contacts = join_contacts(ev, cls)
            has = query_frames("SELECT " + ", ".join(f'count("{x}") AS "{x}"' for x in ("cost", "agent_id") if x in c.columns)
                               + " FROM c", c=select_columns(c, [x for x in ("cost", "agent_id") if x in c.columns])) \
                if {"cost", "agent_id"} & set(c.columns) else pd.DataFrame([{}])
            if facts["most_events"] <= 1:
                dx.skipped.append("avoidable contacts: every customer has a single event in the extract, so repeat "
                                  "contacts and failure demand cannot be seen (a share would be zero by construction)")
            else:
                if not a.cost_per_contact and not has.get("cost", pd.Series([0])).iat[0]:
                    dx.skipped.append("contact costs: the events carry no cost and the client's settings give no cost per contact")
                _summarize_avoidable(dx, c)
            say("self-service fit and agents ...", flush=True)
            dx.self_service = measure_self_service(ev, containment_days=cs.containment_days, per_year=dx.per_year)
            if has.get("agent_id", pd.Series([0])).iat[0]:
                dx.agents = score_agents(c, min_contacts=cs.min_agent_contacts, spark=session)
                dx.caused_repeats = count_caused_repeats(c, per_year=dx.per_year)
            else:
                dx.skipped.append("agent performance: the events have no agent ids")
        if customers is not None and "monthly_revenue" in customers and customers["monthly_revenue"].notna().any():
            say("cost to serve ...", flush=True)
            dx.value = estimate_cost_to_serve(customers, ev, as_of=as_of, service_cost_monthly=a.service_cost_monthly)
            dx.unprofitable = summarize_unprofitable(dx.value)
            dx.deciles = summarize_value_deciles(dx.value)
            skip = {"customer_id", "signup_date", "churned", "churn_date", "churn_reason", "monthly_revenue"}
            attrs = [col for col in customers.columns if col not in skip
                     and not pd.api.types.is_numeric_dtype(customers[col]) and customers[col].nunique() <= 20]
            dx.unprofitable_drivers = explain_unprofitable(dx.value, customers, attributes=attrs)
            dx.tiers = suggest_service_tiers(dx.value, customers)
        else:
            dx.skipped.append("value-based service: " + ("there is no customer table" if customers is None
                                                          else "the customer table has no monthly revenue"))
    dx.margin = rs.gross_margin
    churn_drivers = list(churn_drivers or [])
    if churn_drivers and (events is None or not len(events)):
        dx.per = churn_drivers[0].get("per", dx.per)   # no events, no period of their own: the churn money's
    other = sorted({d["per"] for d in churn_drivers if d.get("per", dx.per) != dx.per})
    if other:
        dx.skipped.append(f"churn-driver actions: their revenue at risk is {other[0]}, not {dx.per} as the other "
                          "values, so they are not ranked beside them (see Drivers)")
    churn_drivers = [d for d in churn_drivers if d.get("per", dx.per) == dx.per]
    fix = act.FixAssumption(rs.fix_share, *rs.fix_share_range)
    dx.actions = _rank(dx, scenarios or [], journey_findings or [], driver_priorities or [], owners, fix, seed,
                       churn_drivers)
    return dx


def _summarize_avoidable(dx: RecommendationDiagnosis, c) -> None:
    """The avoidable share and cost overall, by cause, by journey and by root cause (with the
    department and journey each root cause mostly sits in: the most frequent, and the journey
    only when most of the root cause's contacts have one). ``c`` is the contact table anywhere."""
    dx.avoidable = summarize_avoidable(c, per_year=dx.per_year).iloc[0].to_dict()
    dx.by_cause = summarize_avoidable(c, by="avoidable_cause", per_year=dx.per_year)
    dx.by_journey = summarize_avoidable(c, by="journey_type", per_year=dx.per_year)
    dx.by_root = summarize_avoidable(c, by=["avoidable_cause", "root_cause"], per_year=dx.per_year)
    cols = [x for x in ("avoidable_cause", "root_cause", "department", "journey_type") if x in c.columns]
    where = "(SELECT * FROM c WHERE avoidable_cause IS NOT NULL AND root_cause IS NOT NULL) a"
    for col, out in (("department", "owner"), ("journey_type", "journey_type")):
        if col not in cols:
            dx.by_root[out] = None
            continue
        most = query_frames(f"""
            WITH m AS ({mode_sql(where, ["root_cause"], col, "v")}),
            s AS (SELECT root_cause, count({col}) / count(*) AS known FROM {where} GROUP BY root_cause)
            SELECT m.root_cause, m.v, s.known FROM m JOIN s ON s.root_cause = m.root_cause""",
                            c=select_columns(c, cols))
        if col == "journey_type":
            most = most[most["known"] > 0.5]
        dx.by_root[out] = dx.by_root["root_cause"].map(dict(zip(most["root_cause"], most["v"])))


def _agents_department(contacts, agents) -> str | None:
    """The department the given agents' contacts mostly sit in (None without any)."""
    if "department" not in contacts.columns or not len(agents):
        return None
    ids = pd.DataFrame({"agent_id": list(agents)})
    most = query_frames(mode_sql("(SELECT 1 AS one, department FROM c WHERE agent_id IN (SELECT agent_id FROM ids)) a",
                                 ["one"], "department"),
                        c=select_columns(contacts, ["agent_id", "department"]), ids=ids)
    return most["department"].iat[0] if len(most) else None


def _rank(dx: RecommendationDiagnosis, scenarios: list[dict], findings: list[dict], priorities: list[dict],
          owners: dict, fix: act.FixAssumption, seed: int, churn_drivers: list[dict] = ()) -> pd.DataFrame:
    cur, per = dx.currency, dx.per
    cands = []
    if dx.signature is not None:
        cat = pd.DataFrame(index=sorted(owners))
        cands += act.propose_journey_actions(dx.signature, cat, scenarios, dx.by_journey, owners, currency=cur,
                                             fix=fix, margin=dx.margin, journey_findings=_journey_findings(findings),
                                             per=per)
    if dx.by_root is not None:
        cands += act.propose_contact_actions(dx.by_root, currency=cur, fix=fix, per=per)
    cands += act.propose_self_service_actions(dx.self_service, currency=cur, fix=fix, per=per)
    if dx.agents is not None:
        cands += act.propose_agent_action(dx.agents, dx.caused_repeats, currency=cur, fix=fix,
                                          owner=_agents_department(dx.contacts, dx.agents.index[dx.agents["outlier"]]))
    if dx.value is not None:
        cands += act.propose_value_action(dx.value, dx.unprofitable, currency=cur, fix=fix, seed=seed)
    cands += act.propose_churn_driver_actions(list(churn_drivers), currency=cur, fix=fix, margin=dx.margin)
    cands += act.propose_driver_actions(priorities)
    return act.rank_actions(cands)
