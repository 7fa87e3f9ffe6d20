"""Free-text comments as themes with counts: what customers write about, and whether
detractors write about it more than promoters. Comments never appear verbatim unless
the client's privacy settings allow it; excerpts are redacted (see :mod:`privacy`)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cxlib.core.formatting import format_count, format_estimate
from cxlib.core.privacy import redact_text
from cxlib.core.uncertainty import wilson_interval

# Word starts per theme (case-insensitive). A comment can touch several themes.
DEFAULT_THEMES: dict[str, list[str]] = {
    "billing": ["bill", "invoice", "charg", "payment", "refund", "overcharg"],
    "installation": ["install", "activation", "activat", "set up", "setup", "modem", "router"],
    "technician": ["technician", "engineer", "visit", "appointment"],
    "faults and repairs": ["fault", "outage", "broken", "not working", "repair", "disconnect", "slow"],
    "moving": ["mov", "new address", "relocat"],
    "waiting and follow-up": ["wait", "weeks", "days", "nobody", "never", "still", "again", "three times",
                              "called", "follow"],
    "staff": ["staff", "friendly", "rude", "helpful", "unhelpful", "agent", "advisor", "polite"],
    "app and website": ["app", "website", "online", "login", "portal"],
    "price": ["price", "expensive", "cheap", "cost", "offer", "discount"],
}


def _pattern(words: list[str]) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(re.escape(w.lower()) for w in words) + r")", re.I)


def tag_comment_themes(comments: pd.Series, themes: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """One boolean column per theme: does the comment mention it?"""
    themes = themes or DEFAULT_THEMES
    text = comments.fillna("").astype(str)
    return pd.DataFrame({t: text.str.contains(_pattern(w)) for t, w in themes.items()}, index=comments.index)


def summarize_comment_themes(surveys: pd.DataFrame, *, comment: str = "comment", group: str | None = None,
                             themes: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """Comments per theme with the share of commenters (and a 95% Wilson interval) overall
    and, with ``group`` (e.g. detractor/passive/promoter), per group. Rows: themes, most
    mentioned first; 'n' is the number of comments the shares rest on."""
    with_text = surveys[surveys[comment].notna() & (surveys[comment].astype(str).str.strip() != "")]
    tags = tag_comment_themes(with_text[comment], themes)
    rows = []
    groups = [(None, tags)] if group is None else [(None, tags)] + [
        (g, tags.loc[idx]) for g, idx in with_text.groupby(group, observed=True).groups.items()]
    for theme in tags.columns:
        row = {"theme": theme}
        for g, t in groups:
            k, n = int(t[theme].sum()), len(t)
            lo, hi = wilson_interval(k, n) if n else (np.nan, np.nan)
            key = "" if g is None else f"{g} "
            row.update({f"{key}comments": k, f"{key}share": k / n if n else np.nan,
                        f"{key}share_lo": lo, f"{key}share_hi": hi, f"{key}n": n})
        rows.append(row)
    out = pd.DataFrame(rows).set_index("theme")
    return out[out["comments"] > 0].sort_values("comments", ascending=False) if len(out) else out


def comment_frame(surveys: pd.DataFrame | None, *, comment: str = "comment", score: str = "score",
                  metric: str = "metric", level: str = "level", customer_id: str = "customer_id") -> pd.DataFrame:
    """The survey rows with a comment, one per comment, with a ``group``: detractor (0-6),
    passive (7-8) or promoter (9-10) from the same respondent's NPS answer on the same
    survey level, else 'no NPS'. Empty when there are no comments."""
    if surveys is None or comment not in surveys:
        return pd.DataFrame(columns=[customer_id, comment, "group"])
    has = surveys[comment].notna() & (surveys[comment].astype(str).str.strip() != "")
    c = surveys.loc[has, [customer_id, level, "timestamp", comment]].drop_duplicates()
    nps = surveys[(surveys[metric] == "nps") & surveys[score].notna()]
    nps = nps.drop_duplicates([customer_id, level, "timestamp"]).set_index([customer_id, level, "timestamp"])[score]
    s = pd.Series(nps.reindex(pd.MultiIndex.from_frame(c[[customer_id, level, "timestamp"]])).to_numpy(), index=c.index)
    c["group"] = np.select([s <= 6, s <= 8, s <= 10], ["detractor", "passive", "promoter"], "no NPS")
    return c.reset_index(drop=True)


def pick_excerpts(surveys: pd.DataFrame, theme: str, *, comment: str = "comment", n: int = 2,
                  themes: dict[str, list[str]] | None = None, identifiers: frozenset | set = frozenset(),
                  verbatim: bool = False, seed: int = 0) -> list[str]:
    """Up to ``n`` comments on ``theme``, redacted (ids, e-mail addresses and phone numbers
    masked, shortened) unless ``verbatim``; picked at random with ``seed``."""
    text = surveys[comment].dropna().astype(str)
    hit = text[tag_comment_themes(text, themes)[theme]].drop_duplicates()
    if not len(hit):
        return []
    pick = hit.sample(min(n, len(hit)), random_state=seed)
    return pick.tolist() if verbatim else [redact_text(t, identifiers) for t in pick]


def describe_comment_themes(themes: pd.DataFrame, n_comments: int) -> str:
    """The most common theme with its share, interval and n; a plain note when no comment
    touches any theme."""
    if not len(themes):
        return f"{format_count(n_comments)} comments; none mentions a theme the client's settings define."
    top = themes.index[0]
    r = themes.loc[top]
    return (f"{format_count(n_comments)} comments; the most common theme is **{top}** "
            f"({format_estimate(r['share'], r['share_lo'], r['share_hi'], 'share', digits=0, n=r['n'])} of comments).")


def list_comment_groups(themes: pd.DataFrame) -> list[str]:
    """The respondent groups (detractor, promoter) the theme table has shares for."""
    return [g for g in ("detractor", "promoter") if f"{g} n" in themes.columns]
