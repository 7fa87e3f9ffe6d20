"""Employee barriers: what stops staff from giving a good experience, set beside the
journeys that break.

The staff table is a pulse survey: each answer is a respondent's agreement with a statement
worded as a barrier ('Information from sales is incomplete'), on the agreement scale (1
disagree to 5 agree) or another configured one. A barrier's weight is the share of answers
that agree (the top two points of the scale), with a Wilson interval and n.

* :func:`rank_barriers`: barriers by share agreeing, overall or within each department or
  journey.
* :func:`set_beside_breaks`: for each journey that breaks (its scores split in two groups
  around a step, or its touchpoints are green while the journey is red, or few of its
  ratings are satisfied), the step that fails, the department that owns it, and what that
  department's staff say stops them most.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxlib.core.formatting import format_estimate, humanize
from cxlib.core.uncertainty import wilson_interval
from cxlib.journeys.findings import find_separating_touchpoint, list_journey_findings

DEFAULT_SCALE = (1.0, 5.0)
STAFF_THEMES: dict[str, list[str]] = {
    "systems and tools": ["system", "tool", "screen", "freez", "slow", "crash", "login", "app"],
    "rules and approvals": ["rule", "approv", "policy", "permission", "manager", "procedure"],
    "blame": ["blame", "pinned", "fault", "afraid", "fear"],
    "training": ["train", "explain", "course", "nobody told", "new tariff"],
    "information from other teams": ["sales", "order", "missing", "incomplete", "redo", "handover", "other team",
                                     "details"],
}
"""Word starts per theme for staff comments (case-insensitive)."""


def agree_threshold(metric: str, scales: dict[str, tuple[float, float]] | None = None) -> float:
    """The score from which an answer agrees: the top two points of the metric's scale (4 on 1-5)."""
    lo, hi = (scales or {}).get(metric, DEFAULT_SCALE)
    return float(hi - 1)


def _agrees(staff: pd.DataFrame, scales: dict | None) -> pd.Series:
    metric = staff["metric"].fillna("agreement") if "metric" in staff else pd.Series("agreement", staff.index)
    cut = metric.map(lambda m: agree_threshold(m, scales))
    return (staff["score"] >= cut).where(staff["score"].notna())


def rank_barriers(staff: pd.DataFrame, *, by: str | None = None, scales: dict | None = None,
                  min_n: int = 10) -> pd.DataFrame:
    """One row per barrier (per ``by`` group when given: department or journey): category,
    share agreeing with its 95% interval, mean score and n answers; groups with fewer than
    ``min_n`` answers are left out. Sorted by share agreeing, highest first (within groups)."""
    s = staff[staff["score"].notna()].assign(_agree=_agrees(staff, scales))
    keys = [by, "barrier"] if by else ["barrier"]
    if by:
        s = s[s[by].notna()]
    rows = []
    for key, g in s.groupby(keys, sort=False):
        n = len(g)
        if n < min_n:
            continue
        k = int(g["_agree"].sum())
        lo, hi = wilson_interval(k, n)
        rec = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        rows.append(rec | {"category": g["category"].mode().iat[0] if "category" in g and g["category"].notna().any()
                           else None, "agree": k / n, "lo": lo, "hi": hi, "mean_score": float(g["score"].mean()),
                           "n": n})
    cols = [*keys, "category", "agree", "lo", "hi", "mean_score", "n"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values([*([by] if by else []), "agree"], ascending=[*([True] if by else []), False],
                           ignore_index=True)


def find_breaks(metrics: dict, steps: pd.DataFrame | None = None, *, green_below: float = 0.6) -> pd.DataFrame:
    """The journeys that break, from the run's figures: those with a finding of the journey
    section (a watermelon, a watermelon inside, two groups of scores) or with fewer than
    ``green_below`` of their ratings satisfied. The failing step is the step that separates the
    two groups (unless it is the customer getting in touch, a symptom), else the step that fails
    most often in ``steps``; its department is the one that owns it most often in that journey."""
    types = ((metrics.get("journeys") or {}).get("types") or {})
    found: dict[str, list[str]] = {}
    for jt, label, _ in list_journey_findings(types):
        found.setdefault(jt, []).append(label.lower())
    rows = []
    for jt, t in types.items():
        why = list(dict.fromkeys(found.get(jt, [])))
        green = t.get("journey_green_share")
        if green is not None and green < green_below:
            why.append(f"{green:.0%} of its ratings satisfied")
        if not why:
            continue
        step = None if t.get("bimodal_separator_is_symptom") else find_separating_touchpoint(t)
        dept = None
        if steps is not None and len(steps):
            s = steps[steps["journey_type"].astype(str) == jt]
            if step is None and "failed_step" in s and s["failed_step"].any():
                step = s.loc[s["failed_step"].astype(bool), "touchpoint"].astype(str).mode().iat[0]
            if step is not None:
                owners = s.loc[s["touchpoint"].astype(str) == step, "department"].dropna().astype(str)
                dept = owners.mode().iat[0] if len(owners) else None
        rows.append({"journey_type": jt, "why": "; ".join(why), "failing_step": step, "department": dept,
                     "green_share": green})
    return pd.DataFrame(rows, columns=["journey_type", "why", "failing_step", "department", "green_share"])


def set_beside_breaks(breaks: pd.DataFrame, by_department: pd.DataFrame, *, staff: pd.DataFrame | None = None, scales: dict | None = None) -> pd.DataFrame:
    """Each breaking journey with the department owning its failing step and that
    department's most agreed barrier (share agreeing, interval, n) and whether it
    ``stands_out``: the department's interval lies above the share of all other staff who
    agree with it. Journeys whose department has no staff answers keep empty barrier columns."""
    rows = []
    for _, b in breaks.iterrows():
        d = by_department[by_department["department"] == b["department"]] if b["department"] else by_department.iloc[:0]
        if not len(d):
            rows.append(b.to_dict() | {"barrier": None})
            continue
        r = d.iloc[0]
        others = np.nan
        if staff is not None:
            o = staff[(staff["department"] != b["department"]) & (staff["barrier"] == r["barrier"])
                      & staff["score"].notna()]
            others = float(_agrees(o, scales).mean()) if len(o) else np.nan
        rows.append(b.to_dict() | {"barrier": r["barrier"], "category": r["category"], "agree": r["agree"],
                                   "lo": r["lo"], "hi": r["hi"], "n": r["n"], "others_agree": others,
                                   "stands_out": bool(pd.notna(others) and r["lo"] > others)})
    return pd.DataFrame(rows)


def summarize_staff_themes(staff: pd.DataFrame, themes: dict[str, list[str]] | None = None,
                           by: str = "department") -> pd.DataFrame:
    """How many staff comments touch each theme, per ``by`` group (counts only: comments are
    never shown verbatim)."""
    from cxlib.drivers.comments import tag_comment_themes
    c = staff[staff["comment"].notna() & staff["comment"].astype(str).str.strip().ne("")] if "comment" in staff \
        else staff.iloc[:0]
    if not len(c):
        return pd.DataFrame()
    tags = tag_comment_themes(c["comment"], themes or STAFF_THEMES)
    return tags.groupby(c[by]).sum().astype(int).loc[:, lambda f: f.sum() > 0]


def describe_break(b: dict) -> str | None:
    """One sentence for a breaking journey (a row of :func:`set_beside_breaks`, or its record in
    the report's figures): where it breaks, who owns that step and what its staff say; None
    when the failing step or its owner is unknown."""
    if not b.get("failing_step") or not b.get("department"):
        return None
    where = f"The {humanize(b['journey_type'])} journey breaks at **{b['failing_step']}**, owned by {b['department']}"
    if not isinstance(b.get("barrier"), str):
        return f"{where}; no one from that department answered the staff survey."
    est = format_estimate(b["agree"], b["lo"], b["hi"], "share", digits=0, n=int(b["n"]))
    if b.get("stands_out"):
        return f"{where}: its staff say **{b['barrier']}**, {est} agree, against {b['others_agree']:.0%} of the other staff."
    return (f"{where}: no barrier stands out among its staff (the most agreed, {b['barrier']}, {est}, against "
            f"{b['others_agree']:.0%} of the other staff).")


@dataclass
class Barriers:
    """What 05_management shows about staff barriers."""

    ranking: pd.DataFrame
    by_department: pd.DataFrame
    by_journey: pd.DataFrame
    beside_breaks: pd.DataFrame
    themes: pd.DataFrame = field(default_factory=pd.DataFrame)
    respondents: int = 0
    answers: int = 0

    def describe(self) -> list[str]:
        """The top barrier overall, and each breaking journey's owning department and its top barrier."""
        out = []
        if len(self.ranking):
            r = self.ranking.iloc[0]
            who = f"{self.respondents:,} staff" if self.respondents else f"{self.answers:,} answers"
            out.append(f"Across {who}, the barrier most agreed with is **{r['barrier']}**: "
                       f"{format_estimate(r['agree'], r['lo'], r['hi'], 'share', digits=0, n=int(r['n']))} agree.")
        for b in self.beside_breaks.to_dict("records"):
            line = describe_break(b)
            if line:
                out.append(line)
        return out

    def beside_table(self) -> pd.DataFrame:
        """The breaking journeys beside their owners' top barrier, as the page shows them."""
        t = self.beside_breaks
        if not len(t):
            return t
        out = t.assign(journey=t["journey_type"].map(humanize))
        if "stands_out" in out:
            out["stands_out"] = out["stands_out"].map({True: "yes", False: "no"})
        cols = ["journey", "why", "failing_step", "department", "barrier", "agree", "lo", "hi", "n", "others_agree",
                "stands_out"]
        return out.reindex(columns=[c for c in cols if c in out]).rename(
            columns={"why": "why it breaks", "department": "owned by", "others_agree": "other staff agree",
                     "stands_out": "stands out"})

    def metrics(self) -> dict:
        """Figures for the report (no respondent ids)."""
        def rows(frame, n=20):
            return [{k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                    for r in frame.head(n).to_dict("records")]
        return {"respondents": self.respondents, "answers": self.answers, "ranking": rows(self.ranking),
                "beside_breaks": rows(self.beside_breaks)}


def diagnose_barriers(staff: pd.DataFrame, metrics: dict, *, steps: pd.DataFrame | None = None,
                      scales: dict | None = None) -> Barriers:
    """The staff barriers ranked overall, by department and by journey, and set beside the
    journeys that break (see the module docstring)."""
    ranking = rank_barriers(staff, scales=scales)
    by_dept = rank_barriers(staff, by="department", scales=scales)
    by_journey = rank_barriers(staff, by="journey", scales=scales) if "journey" in staff else pd.DataFrame()
    beside = set_beside_breaks(find_breaks(metrics, steps), by_dept, staff=staff, scales=scales)
    n_resp = int(staff["respondent_id"].nunique()) if "respondent_id" in staff and staff["respondent_id"].notna().any() else 0
    return Barriers(ranking, by_dept, by_journey, beside, summarize_staff_themes(staff), n_resp,
                    int(staff["score"].notna().sum()))
