"""Describing reconstructed journeys: catalogue, variants, directly-follows graph,
channel switches, stage maps, churn baseline and the watermelon.

Inputs are the journey table and step table from :mod:`cxlib.journeys`. Path work
(variants, directly-follows graph) runs in DuckDB so it scales with the event log.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cxlib.core.dates import naive_utc, naive_utc_series
from cxlib.core.formatting import format_count, format_value
from cxlib.journeys.reconstruct import UNCLASSIFIED
from cxlib.core.sql import mode_sql, ordered_join_sql, query_frames, select_columns, sql_literal
from cxlib.core.uncertainty import mean_interval, poisson_rate_interval, wilson_interval

ARROW = " → "


def _types_filter(journey_types, column: str = "journey_type") -> str:
    """``AND journey_type IN (...)`` for the given types; '' for all; ``AND false`` for none."""
    if journey_types is None:
        return ""
    types = list(journey_types)
    return f"AND {column} IN ({', '.join(sql_literal(t) for t in types)})" if types else "AND false"


def estimate_baseline_churn(customers: pd.DataFrame | None, start, as_of, *, window_days: int = 90,
                            customer_id: str = "customer_id", signup_date: str = "signup_date",
                            churn_date: str = "churn_date") -> dict:
    """Chance that any customer leaves within ``window_days``, from the churn hazard
    over ``[start, as_of]``: churns / customer-days at risk, as ``1 - exp(-h * window)``.

    Returns ``{rate, ci_low, ci_high, churns, customer_years}``; rate is null without churn data.
    """
    empty = {"rate": None, "ci_low": None, "ci_high": None, "churns": 0, "customer_years": 0.0}
    if customers is None or churn_date not in customers or customers[churn_date].isna().all():
        return empty
    start, as_of = naive_utc(start), naive_utc(as_of)
    su = pd.to_datetime(customers[signup_date]) if signup_date in customers else pd.Series(pd.NaT, index=customers.index)
    cd = pd.to_datetime(customers[churn_date])
    su, cd = naive_utc_series(su), naive_utc_series(cd)
    begin = su.fillna(start).clip(lower=start)
    stop = cd.fillna(as_of).clip(upper=as_of)
    days = ((stop - begin).dt.total_seconds() / 86400).clip(lower=0)
    churns = int((cd.notna() & (cd >= start) & (cd <= as_of)).sum())
    exposure = float(days.sum())
    if exposure <= 0:
        return empty
    lo, hi = poisson_rate_interval(churns, exposure)
    f = lambda h: 1 - math.exp(-h * window_days)  # noqa: E731
    return {"rate": f(churns / exposure), "ci_low": f(lo), "ci_high": f(hi), "churns": churns,
            "customer_years": exposure / 365.25}


def flag_went_wrong(journeys: pd.DataFrame) -> pd.Series:
    """True for a journey that went wrong: a failed step, rework (a touchpoint repeated) or a
    drop-out that was not the customer's departure (``ended_by_departure``, see
    :func:`cxlib.journeys.reconstruct.flag_ended_by_departure`): a journey that ends because the
    customer left is the churn, not its cause. The one definition the churn model, revenue at
    risk, scenarios and KPIs share."""
    num = lambda c: pd.to_numeric(journeys[c], errors="coerce").fillna(0) if c in journeys else 0  # noqa: E731
    wrong = (num("n_failed_steps") > 0) | (num("n_rework") > 0)
    if "status" in journeys:
        departed = journeys["ended_by_departure"].fillna(False).astype(bool) if "ended_by_departure" in journeys \
            else False
        wrong = wrong | (journeys["status"].eq("dropped_out") & ~departed)
    return pd.Series(wrong, index=journeys.index, name="went_wrong").astype(bool)


def _share(flags: pd.Series) -> tuple[float, float, float, int]:
    x = flags.dropna().astype(bool)
    n = len(x)
    if n == 0:
        return (float("nan"), float("nan"), float("nan"), 0)
    lo, hi = wilson_interval(x.sum(), n)
    return (float(x.mean()), lo, hi, n)


def summarize_journeys(journeys: pd.DataFrame, *, baseline: float | None = None,
                       journey_type: str = "journey_type", include_unclassified: bool = False) -> pd.DataFrame:
    """The journey catalogue: one row per journey type with volume, completion rate,
    duration (median, p90), touchpoints, handoffs, journey score, touchpoint green
    share and 90-day churn against ``baseline``; every share and mean has a 95% CI and its n."""
    rows = []
    if not include_unclassified:    # (before grouping: most rows of a large log are unclassified episodes)
        journeys = journeys[journeys[journey_type] != UNCLASSIFIED]
    for jt, g in journeys.groupby(journey_type, sort=False):
        comp = _share(g["completed"]) if "completed" in g else (np.nan, np.nan, np.nan, 0)
        score = g["journey_score"].dropna() if "journey_score" in g else pd.Series(dtype=float)
        sci = mean_interval(score)
        tp_n = int(g["tp_n_green_rated"].sum()) if "tp_n_green_rated" in g else 0
        tp_g = int(g["tp_n_green"].sum()) if "tp_n_green" in g else 0
        tlo, thi = wilson_interval(tp_g, tp_n)
        jg = _share(g["journey_green"]) if "journey_green" in g else (np.nan, np.nan, np.nan, 0)
        ch = _share(g["churned_in_window"]) if "churned_in_window" in g else (np.nan, np.nan, np.nan, 0)
        rows.append({
            "journey_type": jt, "n": len(g),
            "completion_rate": comp[0], "completion_ci_low": comp[1], "completion_ci_high": comp[2],
            "completion_n": comp[3],
            "median_duration_days": g["duration_days"].median(),
            "p90_duration_days": g["duration_days"].quantile(0.9),
            "median_touchpoints": g["n_touchpoints"].median(), "median_departments": g["n_departments"].median(),
            "median_handoffs": g["n_handoffs"].median(), "mean_repeat_contacts": g["n_repeat_contacts"].mean(),
            "rework_share": (g["n_rework"] > 0).mean(),
            "journey_score_mean": score.mean() if len(score) else np.nan,
            "journey_score_ci_low": sci[0], "journey_score_ci_high": sci[1], "journey_score_n": len(score),
            "journey_green_share": jg[0], "journey_green_ci_low": jg[1], "journey_green_ci_high": jg[2],
            "touchpoint_green_share": tp_g / tp_n if tp_n else np.nan,
            "touchpoint_green_ci_low": tlo, "touchpoint_green_ci_high": thi, "touchpoint_ratings_n": tp_n,
            "churn_in_window": ch[0], "churn_in_window_ci_low": ch[1], "churn_in_window_ci_high": ch[2], "churn_in_window_n": ch[3],
            "churn_in_window_baseline": baseline if baseline is not None else np.nan,
        })
    return pd.DataFrame(rows).set_index("journey_type") if rows else pd.DataFrame()


def flag_watermelons(catalogue: pd.DataFrame, *, touchpoint_green_min: float = 0.75, gap: float = 0.25) -> pd.Series:
    """Journey types whose touchpoints are green while the journey is red: the touchpoint
    green share's lower 95% bound is at least ``touchpoint_green_min``, and the journey green
    share lies at least ``gap`` below it with the 95% interval of the difference above zero
    (Newcombe's hybrid score interval from the two Wilson intervals). A 93% green skin around a
    50% green journey is flagged; 80% against 75% is not. Types without both kinds of rating
    are False."""
    c = catalogue
    diff = c["touchpoint_green_share"] - c["journey_green_share"]
    diff_lo = diff - np.sqrt((c["touchpoint_green_share"] - c["touchpoint_green_ci_low"]) ** 2
                             + (c["journey_green_ci_high"] - c["journey_green_share"]) ** 2)
    flag = (c["touchpoint_green_ci_low"] >= touchpoint_green_min) & (diff >= gap) & (diff_lo > 0)
    return flag.fillna(False).astype(bool).rename("watermelon")


def journey_paths_sql(where: str = "true", *, per_journey: bool = True) -> str:
    """A query of the step table ``st`` over the journeys matching ``where``: one row per journey
    with its ``journey_id``, ``journey_type``, ``path`` (its touchpoints in step order, joined by
    ' → ') and ``length`` (its steps); without ``per_journey``, one row per path with ``n``, its
    journeys (a path may come in two rows, see below: sum ``n`` by path).

    The journeys are grouped first by type, length and an order-aware hash of their steps (the
    XOR over the steps of a 64-bit hash of the touchpoint's hash plus the step number: a hash of
    several columns would not do, as DuckDB combines their hashes by XOR, which the XOR over the
    steps would undo), and each group's path is joined once, from its first journey: a large log
    has millions of journeys but thousands of paths (10M steps, 6.3M journeys, every path
    counted: 1.5-1.7 s against 2.6-2.7 s for joining every journey's path). Two paths share a hash
    with a chance of 2⁻⁶⁴; one path may get two hashes (a null touchpoint, which the text leaves
    out), so whoever counts paths groups by the text."""
    groups = f"""
        WITH j AS (
            SELECT journey_id, any_value(journey_type) AS journey_type, count(*) AS length,
                   bit_xor(hash(CAST(hash(touchpoint) // 2 AS BIGINT) + step)) AS h
            FROM st WHERE {where} GROUP BY journey_id),
        g AS (SELECT journey_type, length, h, count(*) AS n, min(journey_id) AS rep
              FROM j GROUP BY journey_type, length, h),
        p AS (SELECT g.journey_type, g.length, g.h, g.n, {ordered_join_sql('st.touchpoint', 'st.step', ARROW)} AS path
              FROM g JOIN st ON st.journey_id = g.rep GROUP BY g.journey_type, g.length, g.h, g.n)"""
    if not per_journey:
        return groups + "\n        SELECT journey_type, path, length, n FROM p"
    return groups + """
        SELECT j.journey_id, j.journey_type, p.path, j.length
        FROM j JOIN p ON j.journey_type = p.journey_type AND j.length = p.length AND j.h = p.h"""


def label_variants(steps: pd.DataFrame, *, top: int = 5, other: str | None = None) -> pd.Series:
    """Per typed journey (index ``journey_id``): its path (touchpoints in step order, as in
    :func:`find_variants`), keeping the ``top`` most frequent paths of each journey type and
    labelling the rest ``other`` (missing by default: a mix of rare paths is no group to look
    inside). The paths are joined in SQL, where the step table lives."""
    frame = query_frames(journey_paths_sql(f"journey_type <> {sql_literal(UNCLASSIFIED)}") + " ORDER BY journey_id",
                         st=select_columns(steps, ["journey_id", "journey_type", "step", "touchpoint"]))
    if not len(frame):
        return pd.Series(dtype=object, name="variant")
    frame = frame.set_index("journey_id").astype({"path": str, "journey_type": str})
    rank = frame.groupby(["journey_type", "path"])["path"].transform("size")
    keep = frame.assign(n=rank).groupby("journey_type")["n"].transform(
        lambda n: n >= n.drop_duplicates().nlargest(top).min())
    return frame["path"].where(keep, other).rename("variant")


def find_watermelon_pockets(journeys: pd.DataFrame, groups: dict[str, pd.Series], *,
                            touchpoint_green_min: float = 0.75, gap: float = 0.25, min_n: int = 30) -> pd.DataFrame:
    """The watermelon inside part of a journey type: per type and per value of each grouping
    in ``groups`` ({name: labels indexed by journey_id}, e.g. the customer's segment or the
    journey's variant), the same test as :func:`flag_watermelons` on that part alone, for parts
    with at least ``min_n`` touchpoint and journey ratings. Returns the flagged parts with both
    green shares and intervals, their n and whether the whole type is flagged too
    (``type_flagged``): a red sub-journey inside a type that is not red is the finding."""
    cols = ["journey_type", "by", "group", "touchpoint_green_share", "touchpoint_ratings_n", "journey_green_share",
            "journey_green_ci_low", "journey_green_ci_high", "journey_score_n", "type_flagged"]
    typed = journeys[journeys["journey_type"] != UNCLASSIFIED]
    if not len(typed) or "journey_green" not in typed:
        return pd.DataFrame(columns=cols)
    whole = summarize_journeys(typed)
    type_flag = flag_watermelons(whole, touchpoint_green_min=touchpoint_green_min, gap=gap) if len(whole) \
        else pd.Series(dtype=bool)
    rows = []
    for name, labels in groups.items():
        g = typed.assign(_group=labels.reindex(typed["journey_id"]).to_numpy())
        for group, part in g[g["_group"].notna()].groupby("_group", sort=True):
            cat = summarize_journeys(part)
            if not len(cat):
                continue
            cat = cat[(cat["touchpoint_ratings_n"] >= min_n) & (cat["journey_score_n"] >= min_n)]
            flags = flag_watermelons(cat, touchpoint_green_min=touchpoint_green_min, gap=gap) if len(cat) \
                else pd.Series(dtype=bool)
            for jt in flags.index[flags]:
                r = cat.loc[jt]
                rows.append({"journey_type": jt, "by": name, "group": str(group), **{c: r[c] for c in cols[3:9]},
                             "type_flagged": bool(type_flag.get(jt, False))})
    return pd.DataFrame(rows, columns=cols)


def find_variants(steps, journeys: pd.DataFrame | None = None, *, top: int = 10,
                  journey_type: str | None = None, journey_types=None) -> pd.DataFrame:
    """The most frequent paths (touchpoint sequences) per journey type, with their count,
    share, completion rate, median duration and mean journey score, over one ``journey_type``
    or the ``journey_types`` listed (all by default: on a large log the unclassified episodes
    are most of the journeys, so a report asks for the typed ones). ``steps`` is the step table
    as pandas or as a Spark DataFrame (a client on Spark): the paths are built where it lives and
    one row per journey comes back."""
    types = [journey_type] if journey_type is not None else journey_types
    paths = query_frames(journey_paths_sql("true " + _types_filter(types)),
                         st=select_columns(steps, ["journey_id", "journey_type", "step", "touchpoint"])) \
        .rename(columns={"path": "variant"})
    if journeys is not None:
        extra = [c for c in ("completed", "duration_days", "journey_score", "churned_in_window") if c in journeys]
        paths = paths.merge(journeys[["journey_id", *extra]], on="journey_id", how="left")
    agg = {"n": ("journey_id", "size"), "length": ("length", "first")}
    if "completed" in paths:
        paths["completed"] = paths["completed"].astype(float)
        agg["completion_rate"] = ("completed", "mean")
    if "duration_days" in paths:
        agg["median_duration_days"] = ("duration_days", "median")
    if "journey_score" in paths:
        agg["journey_score_mean"] = ("journey_score", "mean")
    if "churned_in_window" in paths:
        paths["churned_in_window"] = paths["churned_in_window"].astype(float)
        agg["churn_in_window"] = ("churned_in_window", "mean")
    out = paths.groupby(["journey_type", "variant"]).agg(**agg).reset_index()
    out["share"] = out["n"] / out.groupby("journey_type")["n"].transform("sum")
    out = out.sort_values(["journey_type", "n", "variant"], ascending=[True, False, True])
    out["rank"] = out.groupby("journey_type").cumcount() + 1
    kept = out[out["rank"] <= top].reset_index(drop=True)
    kept.attrs["variants"] = out.groupby("journey_type").size().to_dict()   # distinct paths per type
    kept.attrs["journeys"] = out.groupby("journey_type")["n"].sum().to_dict()
    return kept


def describe_variants(variants: pd.DataFrame, journey_type: str) -> str:
    """'412 distinct paths over 2,958 journeys; the 8 shown cover 71% of them.' for one type
    of :func:`find_variants`'s result: how concentrated the process is."""
    n_var = variants.attrs.get("variants", {}).get(journey_type)
    n = variants.attrs.get("journeys", {}).get(journey_type)
    shown = variants[variants["journey_type"] == journey_type]
    if not n_var or not n:
        return ""
    if n_var == len(shown):
        return f"{format_count(n_var)} distinct path{'s' if n_var > 1 else ''} over {format_count(n)} journeys, all shown."
    return (f"{format_count(n_var)} distinct paths over {format_count(n)} journeys; the {len(shown)} shown cover "
            f"{format_value(shown['n'].sum() / n, 'share', digits=0)} of them.")


def build_dfg(steps, *, journey_type: str | None = None, with_start_end: bool = True) -> pd.DataFrame:
    """Directly-follows graph: ``source → target`` edges with their count, the number of
    journeys they occur in, and the median and p90 wait in days. ``steps`` is the step table as
    pandas or as a Spark DataFrame; the edges are counted where it lives."""
    st = select_columns(steps, ["journey_id", "journey_type", "step", "touchpoint", "prev_touchpoint", "wait_days"])
    where = "" if journey_type is None else f"AND journey_type = {sql_literal(journey_type)}"
    edges = query_frames(f"""
        SELECT journey_type, prev_touchpoint AS source, touchpoint AS target, count(*) AS n,
               count(DISTINCT journey_id) AS journeys, median(wait_days) AS median_wait_days,
               quantile_cont(wait_days, 0.9) AS p90_wait_days
        FROM st WHERE step > 1 {where} GROUP BY ALL""", st=st)
    if with_start_end:
        ends = query_frames(f"""
            WITH bounds AS (
                SELECT journey_type, arg_min(touchpoint, step) AS first, arg_max(touchpoint, step) AS last
                FROM st WHERE true {where} GROUP BY journey_type, journey_id)
            SELECT journey_type, '▶ start' AS source, first AS target, count(*) AS n, count(*) AS journeys
            FROM bounds GROUP BY ALL
            UNION ALL
            SELECT journey_type, last AS source, '■ end' AS target, count(*) AS n, count(*) AS journeys
            FROM bounds GROUP BY ALL""", st=st)
        edges = pd.concat([edges, ends], ignore_index=True)
    # equal counts in a fixed order (source, target): the SQL's grouping order is not deterministic
    return edges.sort_values(["journey_type", "n", "source", "target"], ascending=[True, False, True, True],
                             kind="stable").reset_index(drop=True)


def count_steps(steps) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a diagnosis needs of the whole step table, counted where it lives (pandas or Spark):
    events per journey type and how they were assigned (``n``, with their ``first`` and ``last``
    timestamps), and per touchpoint its events (``n``) and those in unclassified episodes
    (``n_unclassified``)."""
    st = select_columns(steps, ["journey_type", "assigned_by", "timestamp", "touchpoint"])
    by_type = query_frames("""
        SELECT journey_type, assigned_by, count(*) AS n, min("timestamp") AS first, max("timestamp") AS last
        FROM st GROUP BY journey_type, assigned_by ORDER BY journey_type, assigned_by""", st=st)
    by_touchpoint = query_frames(f"""
        SELECT touchpoint, count(*) AS n,
               sum(CASE WHEN journey_type = {sql_literal(UNCLASSIFIED)} THEN 1 ELSE 0 END) AS n_unclassified
        FROM st WHERE touchpoint IS NOT NULL GROUP BY touchpoint ORDER BY touchpoint""", st=st)
    return (by_type.astype({"n": "int64"}),
            by_touchpoint.astype({"n": "int64", "n_unclassified": "int64"}))


def top_transitions(steps: pd.DataFrame, journey_types: list[str], *, per_type: int = 8) -> pd.DataFrame:
    """The ``per_type`` most frequent transitions of each journey type, with their waits."""
    dfg = build_dfg(steps, with_start_end=False)
    dfg = dfg[dfg["journey_type"].isin(journey_types)]
    top = dfg.sort_values("n", ascending=False, kind="stable").groupby("journey_type").head(per_type)
    return top.sort_values(["journey_type", "n"], ascending=[True, False], kind="stable").reset_index(drop=True)


def count_channel_switches(steps, *, journey_type: str | None = None, journey_types=None,
                           normalize: bool = True) -> pd.DataFrame:
    """From-channel × to-channel matrix of consecutive steps within journeys (the diagonal
    is staying in the channel), over one ``journey_type`` or the ``journey_types`` listed (all
    by default). With ``normalize`` each row sums to 1. ``steps`` is the step table as pandas or
    as a Spark DataFrame: the pairs are counted where it lives."""
    types = [journey_type] if journey_type is not None else journey_types
    pairs = query_frames(f"""
        SELECT prev_channel, channel, count(*) AS n FROM st
        WHERE step > 1 AND prev_channel IS NOT NULL AND channel IS NOT NULL {_types_filter(types)}
        GROUP BY prev_channel, channel""",
                         st=select_columns(steps, ["journey_type", "step", "channel", "prev_channel"]))
    m = pairs.pivot_table(index="prev_channel", columns="channel", values="n", aggfunc="sum", fill_value=0) \
        .rename_axis(index="from channel", columns="to channel").astype("int64") if len(pairs) \
        else pd.DataFrame(index=pd.Index([], name="from channel"), columns=pd.Index([], name="to channel"))
    if normalize and len(m):
        m = m.div(m.sum(axis=1), axis=0)
    return m


def map_stages(steps, journeys: pd.DataFrame, journey_type: str) -> pd.DataFrame:
    """Per touchpoint of one journey type: the stage order (median day of first
    occurrence since the journey start), its department, the share of journeys that
    reach it, the median wait before it, how often it is repeated (rework), how
    many repeat contacts happen there and how many dropped-out journeys stop there.
    ``steps`` is the step table as pandas or as a Spark DataFrame: the per-touchpoint
    figures are computed where it lives."""
    cols = ["journey_id", "journey_type", "timestamp", "touchpoint", "department", "channel", "wait_days", "rework",
            "repeat_contact", "failed_step"]
    out = query_frames(f"""
        WITH s AS (
            SELECT *, (epoch("timestamp") - epoch(min("timestamp") OVER (PARTITION BY journey_id))) / 86400 AS day
            FROM st WHERE journey_type = {sql_literal(journey_type)}),
        first AS (SELECT * FROM s WHERE NOT rework),
        g AS (SELECT touchpoint, median(day) AS median_day,
                     count(DISTINCT journey_id) / (SELECT count(DISTINCT journey_id) FROM s) AS reach,
                     median(wait_days) AS median_wait_days FROM first GROUP BY touchpoint),
        k AS (SELECT touchpoint, sum(CASE WHEN rework THEN 1 ELSE 0 END) AS rework,
                     sum(CASE WHEN repeat_contact THEN 1 ELSE 0 END) AS repeat_contacts,
                     sum(CASE WHEN failed_step THEN 1 ELSE 0 END) AS failed FROM s GROUP BY touchpoint),
        d AS ({mode_sql("first", ["touchpoint"], "department")}),
        c AS ({mode_sql("first", ["touchpoint"], "channel")})
        SELECT g.touchpoint, g.median_day, d.department, c.channel, g.reach, g.median_wait_days,
               k.rework, k.repeat_contacts, k.failed
        FROM g JOIN k ON g.touchpoint = k.touchpoint
        LEFT JOIN d ON g.touchpoint = d.touchpoint LEFT JOIN c ON g.touchpoint = c.touchpoint""",
                       st=select_columns(steps, cols))
    if not len(out):
        return pd.DataFrame()
    j = journeys[journeys["journey_type"] == journey_type]
    dropped = j.loc[j["status"] == "dropped_out", "last_touchpoint"].value_counts() if "status" in j else pd.Series()
    out["dropouts"] = out["touchpoint"].map(dropped).fillna(0).astype(int)
    for c in ("rework", "repeat_contacts", "failed"):
        out[c] = out[c].astype(int)
    out = out.astype({"median_day": float, "reach": float, "median_wait_days": float})
    return out.sort_values(["median_day", "reach", "touchpoint"], ascending=[True, False, True]).reset_index(drop=True)[
        ["touchpoint", "median_day", "department", "channel", "reach", "median_wait_days", "rework",
         "repeat_contacts", "dropouts", "failed"]]


def build_journey_metrics(catalogue: pd.DataFrame, coverage: float, watermelon: pd.Series,
                          bimodality: dict, separators: dict, symptoms: dict | None = None) -> dict:
    """The ``journeys`` section of the report's figures (shape documented in the README)."""
    def num(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

    types = {}
    for jt, r in catalogue.iterrows():
        b = bimodality.get(jt)
        types[str(jt)] = {
            "n": int(r["n"]), "completion_rate": num(r["completion_rate"]),
            "completion_lo": num(r.get("completion_ci_low")), "completion_hi": num(r.get("completion_ci_high")),
            "completion_n": int(r["completion_n"]) if num(r.get("completion_n")) is not None else 0,
            "median_duration_days": num(r["median_duration_days"]),
            "median_touchpoints": num(r["median_touchpoints"]), "median_handoffs": num(r["median_handoffs"]),
            "journey_score_mean": num(r["journey_score_mean"]),
            "touchpoint_green_share": num(r["touchpoint_green_share"]),
            "touchpoint_ratings_n": int(r["touchpoint_ratings_n"]),
            "journey_green_share": num(r["journey_green_share"]), "journey_score_n": int(r["journey_score_n"]),
            "watermelon": bool(watermelon.get(jt, False)),
            "bimodal": bool(b.bimodal) if b is not None else False,
            "bimodal_n": int(b.n) if b is not None else 0,
            "bimodal_separator": separators.get(jt),
            "bimodal_separator_is_symptom": bool((symptoms or {}).get(jt, False)),
            "churn_in_window": num(r["churn_in_window"]), "churn_in_window_baseline": num(r["churn_in_window_baseline"]),
            "churn_in_window_lo": num(r.get("churn_in_window_ci_low")),
            "churn_in_window_hi": num(r.get("churn_in_window_ci_high")),
            "churn_in_window_n": int(r["churn_in_window_n"]) if num(r.get("churn_in_window_n")) is not None else 0,
        }
    return {"coverage": num(coverage), "types": types}


def summarize_rework(steps, *, top: int = 10, journey_types=None) -> pd.DataFrame:
    """Where journeys loop back: per journey type (of ``journey_types``, all by default) and
    repeated touchpoint, how many repeats there are, in how many journeys (and what share of the
    type's journeys), and the step that most often comes just before the repeat. ``steps`` is
    the step table as pandas or as a Spark DataFrame: the loops are counted where it lives."""
    cols = ["journey_type", "touchpoint", "repeats", "journeys", "share_of_journeys", "most_often_after"]
    where = _types_filter(journey_types)
    out = query_frames(f"""
        WITH s AS (SELECT * FROM st WHERE rework {where}),
        n AS (SELECT journey_type, count(DISTINCT journey_id) AS n FROM st WHERE true {where} GROUP BY journey_type),
        g AS (SELECT journey_type, touchpoint, count(*) AS repeats, count(DISTINCT journey_id) AS journeys
              FROM s GROUP BY journey_type, touchpoint),
        a AS ({mode_sql("s", ["journey_type", "touchpoint"], "prev_touchpoint", "most_often_after")})
        SELECT g.journey_type, g.touchpoint, g.repeats, g.journeys, g.journeys / n.n AS share_of_journeys,
               a.most_often_after
        FROM g JOIN n ON g.journey_type = n.journey_type
        LEFT JOIN a ON g.journey_type = a.journey_type AND g.touchpoint = a.touchpoint""",
                       st=select_columns(steps, ["journey_id", "journey_type", "touchpoint", "prev_touchpoint",
                                                 "rework"]))
    if not len(out):
        return pd.DataFrame(columns=cols)
    out = out.astype({"repeats": "int64", "journeys": "int64", "share_of_journeys": float})
    out = out.sort_values(["journey_type", "repeats", "touchpoint"], ascending=[True, False, True])
    return out.groupby("journey_type").head(top).reset_index(drop=True)[cols]


def assign_owners(catalogue: pd.DataFrame, steps, definitions: dict) -> pd.Series:
    """Owning department per journey type: the configured ``owner``, else the department
    that handles most of the type's steps (counted where the step table lives: pandas or Spark)."""
    busiest = query_frames(mode_sql("st", ["journey_type"], "department"),
                           st=select_columns(steps, ["journey_type", "department"])) \
        .set_index("journey_type")["department"]
    return pd.Series({jt: (definitions[jt].owner if jt in definitions and definitions[jt].owner else busiest.get(jt))
                      for jt in catalogue.index}, name="owner", dtype=object)


def flag_contact_touchpoints(steps, *, contact_channels: tuple[str, ...] = (),
                             journey_type: str = "journey_type", touchpoint: str = "touchpoint",
                             only_type: str | None = None, journeys: pd.DataFrame | None = None) -> pd.Series:
    """Per journey type and touchpoint: True when most of its events are the customer's own
    contacts, the customer's reaction rather than the company's doing. Decided by ``kind``
    and ``initiated_by`` where the events say so, else by a contact reason (the customer got in
    touch about something), else by ``contact_channels``. ``steps`` is the step table as pandas
    or Spark (counted where it lives); ``only_type`` limits it to one journey type and ``journeys``
    (a frame with ``journey_id``) to the steps of those journeys."""
    present = [c for c in ("kind", "initiated_by", "contact_reason", "channel") if c in steps.columns]
    st = select_columns(steps, [journey_type, touchpoint, *present, *(["journey_id"] if journeys is not None else [])])
    conds = ([f"{journey_type} = {sql_literal(only_type)}"] if only_type is not None else []) \
        + (["journey_id IN (SELECT journey_id FROM ids)"] if journeys is not None else [])
    where = "WHERE " + " AND ".join(conds) if conds else ""
    ids = {"ids": journeys[["journey_id"]]} if journeys is not None else {}
    said = query_frames("SELECT " + ", ".join(f"count({c}) AS {c}" for c in present) + f" FROM st {where}", st=st,
                        **ids) if present else pd.DataFrame([{}])
    told = [c for c in ("kind", "initiated_by") if c in said and said[c].iat[0] > 0]
    if told:   # the events say what they are: a customer's contact is a contact the customer started
        own = " AND ".join(f"coalesce({c}, '{d}') = '{d}'" for c, d in (("kind", "contact"), ("initiated_by", "customer"))
                           if c in present)
    elif "contact_reason" in said and said["contact_reason"].iat[0] > 0:
        own = "contact_reason IS NOT NULL"
    elif "channel" in present and contact_channels:
        own = f"coalesce(channel IN ({', '.join(sql_literal(c) for c in contact_channels)}), false)"
    else:
        own = "false"
    out = query_frames(f"""
        SELECT {journey_type} AS jt, {touchpoint} AS tp,
               avg(CASE WHEN {own} THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END) > 0.5 AS contact
        FROM st {where or "WHERE true"} AND {journey_type} IS NOT NULL AND {touchpoint} IS NOT NULL
        GROUP BY {journey_type}, {touchpoint} ORDER BY jt, tp""", st=st, **ids)
    index = pd.MultiIndex.from_frame(out[["jt", "tp"]], names=[journey_type, touchpoint])
    return pd.Series(out["contact"].astype(bool).to_numpy(), index=index, name="contact")


def find_failure_signature(steps, journeys: pd.DataFrame, *, min_gap: float = 0.25,
                           contact_channels: tuple[str, ...] = ()) -> pd.DataFrame:
    """What journeys that went wrong (:func:`flag_went_wrong`) have that the others lack:
    per journey type and touchpoint, the share of went-wrong and went-right journeys that
    contain it and the gap, for touchpoints with a gap of at least ``min_gap``. Customer
    contacts are symptoms rather than causes, so they are
    flagged ``contact``: most of their events are contacts the customer started (``kind`` and
    ``initiated_by``, where the events say so), else carry a contact reason (the customer got in
    touch) or, without reasons in the data, are on ``contact_channels``.

    A company step that journeys going wrong *lack* (a proactive update most that went right
    had) is a cause too: such rows have ``present`` False and a negative gap. Steps that close
    a journey (the last step of most went-right journeys that have them) are left out of
    these, since a journey that did not finish lacks its end by definition.

    Causes before symptoms: sorted by type, then company steps before customer contacts, then
    company steps that (by their median day in the journey, ``day``) come no later than the
    customer's first separating contact, then the size of the gap.

    ``steps`` is the step table as pandas, a Parquet file or a Spark DataFrame: the counts over
    its events are taken where it lives, and only counts per journey type and touchpoint return."""
    typed = journeys[journeys["journey_type"] != UNCLASSIFIED]
    wrong = flag_went_wrong(typed)
    cols = ["journey_type", "touchpoint", "department", "contact", "present", "share_wrong", "share_right", "gap",
            "n_wrong", "day"]
    if not len(typed) or not wrong.any():
        return pd.DataFrame(columns=cols)
    flags = pd.DataFrame({"journey_id": typed["journey_id"].to_numpy(), "wrong": wrong.to_numpy()})
    s = select_columns(steps, [c for c in ("journey_id", "journey_type", "touchpoint", "department", "timestamp",
                                           "kind", "initiated_by", "contact_reason", "channel") if c in steps.columns])
    n = typed.assign(wrong=wrong.to_numpy()).groupby(["journey_type", "wrong"]).size()
    cnt = query_frames("""
        SELECT s.journey_type, s.touchpoint, f.wrong, count(DISTINCT s.journey_id) AS k
        FROM st s JOIN flags f ON s.journey_id = f.journey_id
        WHERE s.journey_type IS NOT NULL AND s.touchpoint IS NOT NULL
        GROUP BY s.journey_type, s.touchpoint, f.wrong ORDER BY s.journey_type, s.touchpoint, f.wrong""",
                       st=s, flags=flags)
    cnt["share"] = cnt["k"] / n.reindex(list(zip(cnt["journey_type"], cnt["wrong"]))).to_numpy()
    wide = cnt.pivot_table(index=["journey_type", "touchpoint"], columns="wrong", values="share", fill_value=0.0)
    wide = wide.reindex(columns=[True, False], fill_value=0.0)
    out = pd.DataFrame({"share_wrong": wide[True], "share_right": wide[False]}).reset_index()
    out["gap"] = out["share_wrong"] - out["share_right"]
    last = typed.loc[~wrong.to_numpy()].groupby("journey_type")["last_touchpoint"].value_counts() \
        if "last_touchpoint" in typed else pd.Series(dtype=float)
    has_right = cnt[~cnt["wrong"]].set_index(["journey_type", "touchpoint"])["k"]
    closes = (last.reindex(has_right.index).fillna(0) / has_right > 0.5).reindex(
        pd.MultiIndex.from_frame(out[["journey_type", "touchpoint"]])).fillna(False).to_numpy(dtype=bool) \
        if len(last) else np.zeros(len(out), dtype=bool)
    out["present"] = out["gap"] > 0
    out = out[(out["gap"] >= min_gap) | ((out["gap"] <= -min_gap) & ~closes)]
    idx = list(zip(out["journey_type"], out["touchpoint"]))
    in_typed = "(SELECT * FROM st WHERE journey_id IN (SELECT journey_id FROM flags))"
    dept = query_frames(mode_sql(f"{in_typed} t", ["journey_type", "touchpoint"], "department"), st=s, flags=flags) \
        .set_index(["journey_type", "touchpoint"])["department"] if "department" in s.columns else pd.Series(dtype=object)
    contact = flag_contact_touchpoints(s, contact_channels=contact_channels, journeys=flags[["journey_id"]])
    out["department"] = dept.reindex(idx).to_numpy() if len(dept) else None
    out["contact"] = contact.reindex(idx).fillna(False).to_numpy()
    out["n_wrong"] = n.reindex(list(zip(out["journey_type"], [True] * len(out)))).to_numpy()
    out = out[out["present"] | ~out["contact"]]     # a contact the customer did not make is no finding
    idx = list(zip(out["journey_type"], out["touchpoint"]))
    out["day"] = _median_day_in_journey(s, typed).reindex(idx).to_numpy() if len(out) else []
    reaction = out[out["contact"]].groupby("journey_type")["day"].min()     # the customer's first reaction
    out["before_reaction"] = ~out["contact"] & ~(out["day"] > out["journey_type"].map(reaction)).fillna(False)
    return out.assign(_size=out["gap"].abs()).sort_values(
        ["journey_type", "contact", "before_reaction", "_size"], ascending=[True, True, False, False]
    )[cols].reset_index(drop=True)


def _median_day_in_journey(steps, journeys: pd.DataFrame) -> pd.Series:
    """Per journey type and touchpoint: the median number of days from the journey's start to
    the touchpoint's first occurrence, over the journeys of ``journeys`` that have it (the start
    is the journey table's ``start``, else the journey's first step). Counted where ``steps``
    lives (pandas, Parquet or Spark)."""
    if "timestamp" not in steps.columns:
        return pd.Series(dtype=float)
    ids = pd.DataFrame({"journey_id": journeys["journey_id"].to_numpy()})
    if "start" in journeys:
        ids["start"] = pd.to_datetime(journeys["start"], utc=True).reset_index(drop=True)
        began = "SELECT journey_id, start FROM j"
    else:
        began = 'SELECT journey_id, min("timestamp") AS start FROM st GROUP BY journey_id'
    out = query_frames(f"""
        WITH first AS (
            SELECT journey_type, touchpoint, journey_id, min("timestamp") AS t FROM st
            WHERE journey_id IN (SELECT journey_id FROM j)
              AND journey_type IS NOT NULL AND touchpoint IS NOT NULL AND journey_id IS NOT NULL
            GROUP BY journey_type, touchpoint, journey_id),
        began AS ({began})
        SELECT f.journey_type, f.touchpoint,
               median(CAST(date_diff('microsecond', b.start, f.t) AS DOUBLE) / 1e6 / 86400) AS day
        FROM first f JOIN began b ON f.journey_id = b.journey_id
        GROUP BY f.journey_type, f.touchpoint""", st=steps, j=ids)
    return out.set_index(["journey_type", "touchpoint"])["day"]


def top_journey_measures(ranked: pd.DataFrame) -> pd.DataFrame:
    """Per journey type, the measure with the largest share whose direction is ``sure``: the one
    a reader can act on (``ranked`` from :func:`cxlib.drivers.journey_measures.rank_journey_measures`).
    Types where no measure is sure are left out."""
    if not len(ranked):
        return ranked
    sure = ranked[ranked["sure"].astype(bool)]
    return sure.sort_values("shapley_share", ascending=False).groupby("journey_type", sort=True).head(1) \
        .sort_values("journey_type").reset_index(drop=True)

