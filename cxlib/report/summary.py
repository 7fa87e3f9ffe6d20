"""The executive summary that opens ``reports/<client>/index.html``: generated from
the report's figures only, so every number in it is one the notebooks computed. A client with only
some tables gets a shorter summary that says what was not analysed and why."""
from __future__ import annotations

import html
import re

from cxlib.actions.diagnosis import describe_action_value
from cxlib.core.formatting import (capitalize, format_estimate, format_interval, format_money, humanize,
                                   is_known as _ok)
from cxlib.ingest.profile import describe_standard_headlines
from cxlib.journeys.findings import describe_largest_journey, list_journey_findings
from cxlib.journeys.reconstruct import UNCLASSIFIED
from cxlib.core.paths import SECTIONS



def headline_figures(metrics: dict) -> list[str]:
    """The headline figures, each a sentence with its interval, from whatever sections exist:
    the standard measures first (NPS, share satisfied, churn rate with its period), then the
    diagnostic findings."""
    out = [re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(line))
           for line in describe_standard_headlines(metrics.get("headlines") or {})]
    rec = metrics.get("recommendations") or {}
    dr = metrics.get("drivers") or {}
    cur = rec.get("currency") or ""
    churn = dr.get("churn")
    typed = {jt: m for jt, m in ((metrics.get("journeys") or {}).get("types") or {}).items() if jt != UNCLASSIFIED}
    busiest = describe_largest_journey(typed)
    if busiest:
        out.append(re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(busiest)))
    if _ok(rec.get("avoidable_share")):
        cost = (f", costing {format_money(rec['avoidable_cost'], cur)} {html.escape(rec.get('money_per') or 'a year')} "
                f"({format_money(rec['avoidable_cost_lo'], cur)}–{format_money(rec['avoidable_cost_hi'], cur)})"
                if _ok(rec.get("avoidable_cost")) and rec["avoidable_cost"] > 0 else "")
        out.append(f"<b>{rec['avoidable_share']:.1%}</b> of {rec['agent_contacts']:,} agent contacts were avoidable "
                   f"({format_interval(rec['avoidable_share_lo'], rec['avoidable_share_hi'], 'share', digits=1)}){cost}.")
    money = lambda v: format_estimate(v["value"], v["lo"], v["hi"], "money", currency=cur)  # noqa: E731
    rar = dr.get("revenue_at_risk") or {}
    if rar:
        jt, v = max(rar.items(), key=lambda kv: kv[1]["value"])
        out.append(f"The <b>{html.escape(humanize(jt))}</b> journey puts the most revenue at risk: {money(v)} a year.")
    if churn:
        unit = "customer-periods" if churn.get("design") == "landmark" else "customers"
        out.append(f"The churn model ranks customers by risk with AUC {churn['auc_cv']:.2f} "
                   f"(95% CI {churn['auc_lo']:.2f}–{churn['auc_hi']:.2f}, n = {churn['n']:,} {unit}).")
    by_driver = dr.get("revenue_at_risk_by_driver") or {}
    if by_driver:
        name, v = max(by_driver.items(), key=lambda kv: kv[1]["value"])
        per = (churn or {}).get("money_per") or "a year"
        out.append(f"<b>{html.escape(humanize(name))}</b> is the churn driver with the most revenue at risk: "
                   f"{money(v)} {html.escape(per)}.")
    imp = dr.get("importance") or {}
    if imp:
        name, v = min(imp.items(), key=lambda kv: kv[1]["rank"])
        out.append(f"<b>{html.escape(humanize(name))}</b> drives {html.escape(humanize(dr.get('outcome')))} most: "
                   f"{v['share']:.0%} of the explained variance ({format_interval(v['lo'], v['hi'], 'share', digits=0)}, "
                   f"n = {dr['n']:,}).")
    if _ok(rec.get("unprofitable_share")):
        out.append(f"<b>{rec['unprofitable_share']:.1%}</b> of customers cost more to serve than they pay "
                   f"({format_interval(rec['unprofitable_share_lo'], rec['unprofitable_share_hi'], 'share', digits=1)}, "
                   f"n = {rec['customers']:,}).")
    return [capitalize(line) for line in out]


def not_analysed(metrics: dict, empty: dict[str, str] | None = None) -> list[str]:
    """What the report could not analyse, and why; ``empty`` maps a section that had nothing
    to show (and was not rendered) to the reason it gave."""
    empty = empty or {}
    out = [f"{SECTIONS.get(name, name).lower()}: {reason[0].lower() + reason[1:]}" for name, reason in empty.items()]
    if not metrics.get("journeys") and "02_journeys" not in empty:
        out.append("journeys: no journey section (the client sent no events, or it did not run)")
    dr = metrics.get("drivers") or {}
    if metrics.get("drivers") is not None and not dr.get("importance") and "03_drivers" not in empty:
        out.append("key drivers: no survey outcome with driver ratings")
    if metrics.get("drivers") is not None and not dr.get("churn"):
        out.append("churn: no churn model (no churn data)")
    rec = metrics.get("recommendations")
    if rec is None:
        out.append("recommendations: the section did not run")
    else:
        out += list(rec.get("skipped") or [])
    mg = metrics.get("management")
    if mg is not None and "05_management" not in (empty or {}):
        out += list(mg.get("skipped") or [])
    return out


def _bold(text: str) -> str:
    """Escaped HTML of a sentence whose **markdown bold** becomes <b>."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))


def render_executive_summary(metrics: dict, *, sections: list[tuple[str, str]] = (), top: int = 5,
                             empty: dict[str, str] | None = None) -> str:
    """HTML of the one-screen summary: headline figures, the priorities, the watermelon and
    bimodality findings, what was not analysed, and links to each section
    (``sections`` = [(file name, title)])."""
    rec = metrics.get("recommendations") or {}
    cur = rec.get("currency") or ""
    parts = ["<section id='summary'><h2>Executive summary</h2>"]
    heads = headline_figures(metrics)
    if heads:
        parts.append("<ul class='headlines'>" + "".join(f"<li>{h}</li>" for h in heads) + "</ul>")
    actions = (rec.get("actions") or [])[:top]
    if actions:
        head = f"The {len(actions)} priorities" if len(actions) > 1 else "The priority"
        parts.append(f"<h3>{head}</h3><ol class='priorities'>")
        for a in actions:
            worth = describe_action_value(a, cur, rec.get("money_per") or "a year")
            parts.append(f"<li><b>{html.escape(a['title'])}</b> — owner {html.escape(a.get('owner') or 'to be assigned')}, "
                         f"effort {html.escape(a.get('effort', ''))}: {html.escape(worth)}</li>")
        parts.append("</ol>")
    beliefs = ((metrics.get("management") or {}).get("hypotheses") or [])
    if beliefs:
        from cxlib.actions.management import describe_belief
        lines = [_bold(describe_belief(b)) for b in beliefs]
        parts.append("<h3>Beliefs tested against the data</h3><ul>" + "".join(f"<li>{x}</li>" for x in lines) + "</ul>")
    tracking = (metrics.get("management") or {}).get("tracking") or {}
    changes = tracking.get("interventions") or []
    if changes:
        from cxlib.actions.tracking import describe_change
        lines = [_bold(describe_change(c["journey"], c["date"], c.get("description") or "", c.get("effects"),
                                       c.get("why") or "", tracking.get("window_days") or 90)) for c in changes]
        parts.append("<h3>Changes tested</h3><ul>" + "".join(f"<li>{x}</li>" for x in lines) + "</ul>")
    staff = [b for b in ((((metrics.get("management") or {}).get("barriers") or {}).get("beside_breaks")) or [])
             if b.get("stands_out")]
    if staff:
        from cxlib.actions.barriers import describe_break
        parts.append("<h3>What stops staff</h3><ul>" + "".join(f"<li>{_bold(describe_break(b))}</li>" for b in staff)
                     + "</ul>")
    finds = list_journey_findings((metrics.get("journeys") or {}).get("types"))
    if finds:
        parts.append("<h3>Where journeys break</h3><ul>" + "".join(
            f"<li><b>{label}, {html.escape(humanize(jt))}:</b> {html.escape(text)}.</li>"
            for jt, label, text in finds) + "</ul>")
    missing = not_analysed(metrics, empty)
    if missing:
        parts.append("<h3>Not analysed</h3><ul class='muted'>" +
                     "".join(f"<li>{html.escape(m)}</li>" for m in missing) + "</ul>")
    if sections:
        parts.append("<p>Sections: " + " · ".join(f"<a href='{html.escape(f)}'>{html.escape(t)}</a>"
                                                   for f, t in sections) + "</p>")
    parts.append("</section>")
    return "\n".join(parts)
