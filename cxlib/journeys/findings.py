"""The journey section's findings in plain words: the watermelon and the two-group
journeys, phrased once for the journey page, the recommendations and the summary."""
from __future__ import annotations

from cxlib.core.formatting import format_count, format_estimate, humanize, is_known


def describe_separator(separator: str | None) -> str:
    """'whether the journey had 'Order corrected'' for a touchpoint separator, else its name."""
    if not separator:
        return "no single feature"
    if separator.startswith("has: "):
        return f"whether the journey had '{separator[5:]}'"
    return separator.replace("_", " ")


def find_separating_touchpoint(m: dict) -> str | None:
    """The touchpoint whose presence separates a journey type's two groups of scores (its
    per-type figures ``m``: bimodal, with a separator 'has: <touchpoint>'), else None."""
    sep = str(m.get("bimodal_separator") or "")
    return sep[len("has: "):] if m.get("bimodal") and sep.startswith("has: ") else None


def list_journey_findings(types: dict | None) -> list[tuple[str, str, str]]:
    """The watermelon and bimodality findings of the journey section as (journey type,
    finding, sentence), in plain text, from the per-type figures of
    :meth:`~cxlib.journeys.JourneyDiagnosis.metrics` (its ``types``)."""
    out = []
    for jt, m in (types or {}).items():
        if m.get("watermelon"):
            out.append((jt, "Watermelon", f"{m['touchpoint_green_share']:.0%} of its touchpoint ratings are green "
                                          f"(n = {m['touchpoint_ratings_n']:,}), yet only "
                                          f"{m['journey_green_share']:.0%} of its journey ratings are "
                                          f"(n = {m['journey_score_n']:,})"))
        for p in m.get("watermelon_pockets") or []:
            where = f"segment '{p['group']}'" if p["by"] == "segment" else f"the path {p['group']}"
            out.append((jt, "Watermelon inside", f"for {where}, {p['touchpoint_green_share']:.0%} of touchpoint "
                                                 f"ratings are green, yet only {p['journey_green_share']:.0%} of "
                                                 f"journey ratings are (n = {p['journey_score_n']:,})"))
        if m.get("bimodal"):
            out.append((jt, "Two groups", f"journey scores split into a high and a low group, separated by "
                                          f"{describe_separator(m.get('bimodal_separator'))} "
                                          f"(n = {m['bimodal_n']:,} scores)"
                                          + ("; that is the customer getting in touch, a symptom: nothing the "
                                             "company does separates the groups as well"
                                             if m.get("bimodal_separator_is_symptom") else "")))
    return out


def describe_largest_journey(types: dict | None) -> str | None:
    """The busiest journey type in one sentence, from the per-type figures (``types``): its
    volume, completion with its interval and n, median duration and handoffs. None without
    typed journeys. The journey page and the front page print the same sentence."""
    if not types:
        return None
    jt, m = max(types.items(), key=lambda kv: kv[1]["n"])
    name = humanize(jt)
    parts = [f"**{name[:1].upper() + name[1:]}** is the busiest journey: {format_count(m['n'])} journeys"]
    if is_known(m.get("completion_rate")) and m.get("completion_n"):
        parts.append(format_estimate(m["completion_rate"], m.get("completion_lo"), m.get("completion_hi"), "share",
                                     digits=1, n=m["completion_n"], unit="journeys due") + " completed")
    if is_known(m.get("median_duration_days")):
        parts.append(f"a median of {m['median_duration_days']:,.1f} days from first to last step")
    if is_known(m.get("median_handoffs")):
        parts.append(f"{format_count(m['median_handoffs'])} handoffs between departments (median)")
    return ", ".join(parts[:1] + parts[1:]) + "."
