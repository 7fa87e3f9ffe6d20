"""Tracking a fix over time: did the change a journey owner made work?

* :func:`build_kpi_series`: each journey type's KPIs per week or month (the journey KPIs of
  :mod:`cxlib.actions.kpis`: completion, days to complete, first time right, handoffs, repeat
  contacts, journey score, churn within the window) with 95% intervals and n, by the period the
  journeys started in.
* :func:`build_nps_series`: relationship NPS per period, with its interval and n.
* :func:`estimate_intervention_effect`: an interrupted time series per KPI. Each journey is a
  row, regressed on time, an 'after the change' step and a slope change after it, so a trend
  that was already under way is not credited to the change. The effect is the average gap,
  over the journeys after the change, between what they did and what the pre-change trend
  predicts. The same model on every journey type the change did not touch gives their
  'effect' (seasonality and other common shocks show up there, and should be near zero);
  the difference between the two (difference-in-differences) is the effect net of them.
  Intervals come from a bootstrap over periods (whole weeks or months drawn with replacement
  within before and after), which keeps the correlation between journeys of one period.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxlib.actions.kpis import KPIS, measure_journey_kpis
from cxlib.core.dates import naive_utc, naive_utc_series
from cxlib.core.formatting import humanize
from cxlib.core.uncertainty import mean_interval, nps_interval, wilson_interval
from cxlib.journeys.reconstruct import UNCLASSIFIED

PERIODS = {"week": "W-SUN", "month": "M"}


def name_kpi(kpi: str, window_days: int = 90) -> str:
    """A KPI's name in words, as the journey KPIs of 04 name it: 'mean days to complete',
    'churn within 90 days'."""
    return KPIS[kpi][0].format(window=window_days) if kpi in KPIS else humanize(kpi)


def _period_start(ts: pd.Series, period: str) -> pd.Series:
    """The first day of the week (Monday) or month each timestamp falls in (naive UTC)."""
    t = naive_utc_series(pd.to_datetime(ts, utc=True))
    return t.dt.to_period(PERIODS[period]).dt.start_time


def build_kpi_series(journeys: pd.DataFrame, *, period: str = "week", kpis: tuple[str, ...] = tuple(KPIS),
                     min_n: int = 5) -> pd.DataFrame:
    """Long table: journey_type, period (its first day), kpi, value, lo, hi, n, for every typed
    journey type and KPI the table has, by the period each journey started in. Periods with
    fewer than ``min_n`` measured journeys are left out (their interval would say nothing)."""
    j = journeys[journeys["journey_type"] != UNCLASSIFIED]
    if not len(j):
        return pd.DataFrame(columns=["journey_type", "period", "kpi", "value", "lo", "hi", "n"])
    j = j.assign(_period=_period_start(j["start"], period))
    measured = measure_journey_kpis(j)
    rows = []
    for kpi in kpis:
        values = measured[kpi]
        if values.isna().all():
            continue
        kind = KPIS[kpi][2]
        for (jt, p), v in values.groupby([j["journey_type"], j["_period"]]):
            v = v.dropna()
            if len(v) < min_n:
                continue
            lo, hi = wilson_interval(v.sum(), len(v)) if kind == "share" else mean_interval(v)
            rows.append({"journey_type": jt, "period": p, "kpi": kpi, "value": float(v.mean()), "lo": lo, "hi": hi,
                         "n": int(len(v))})
    return pd.DataFrame(rows, columns=["journey_type", "period", "kpi", "value", "lo", "hi", "n"])


def build_nps_series(surveys: pd.DataFrame | None, *, period: str = "week", level: str = "relationship",
                     metric: str = "nps", min_n: int = 20) -> pd.DataFrame:
    """Relationship NPS (points) per period with its 95% interval and n; periods with fewer
    than ``min_n`` ratings are left out. Empty without NPS ratings."""
    cols = ["period", "value", "lo", "hi", "n"]
    if surveys is None or not len(surveys):
        return pd.DataFrame(columns=cols)
    s = surveys[(surveys["level"] == level) & (surveys["metric"] == metric) & surveys["score"].notna()]
    if not len(s):
        return pd.DataFrame(columns=cols)
    rows = []
    for p, g in s["score"].groupby(_period_start(s["timestamp"], period)):
        n = len(g)
        if n < min_n:
            continue
        pro, det = int((g >= 9).sum()), int((g <= 6).sum())
        lo, hi = nps_interval(pro, det, n)
        rows.append({"period": p, "value": 100 * (pro - det) / n, "lo": lo, "hi": hi, "n": n})
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- before and after

def _period_sums(t: np.ndarray, post: np.ndarray, y: np.ndarray, codes: np.ndarray, n_periods: int) -> tuple:
    """Per period, the sums a segmented regression y ~ 1 + t + post + post·t needs: A'A (P x 4
    x 4), A'y (P x 4), and the count and sum of t of the journeys after the change. A bootstrap
    that draws whole periods only reweights these, so each refit costs a 4 x 4 solve."""
    A = np.column_stack([np.ones_like(t), t, post, post * t])
    S = np.empty((n_periods, 4, 4))
    for i in range(4):
        for k in range(i, 4):
            S[:, i, k] = S[:, k, i] = np.bincount(codes, weights=A[:, i] * A[:, k], minlength=n_periods)
    b = np.column_stack([np.bincount(codes, weights=A[:, i] * y, minlength=n_periods) for i in range(4)])
    after = post > 0
    return (S, b, np.bincount(codes[after], minlength=n_periods).astype(float),
            np.bincount(codes[after], weights=t[after], minlength=n_periods))


def _its_effects(sums: tuple, W: np.ndarray) -> np.ndarray:
    """The interrupted-time-series effect for each row of period weights ``W`` (B x P): the
    average gap between the after-journeys and the pre-change trend, b_post + b_slope·mean(t | after)."""
    S, b, n_after, t_after = sums
    M = np.einsum("bp,pij->bij", W, S) + 1e-9 * np.eye(4)
    r = W @ b
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            coef = np.linalg.solve(M, r[..., None])[..., 0]
        except np.linalg.LinAlgError:
            return np.full(len(W), np.nan)
        return coef[:, 2] + coef[:, 3] * (W @ t_after) / (W @ n_after)


def estimate_intervention_effect(journeys: pd.DataFrame, journey_type: str, date, *, kpis: tuple[str, ...] = tuple(KPIS),
                                 period: str = "week", min_periods: int = 4, min_n: int = 30, n_boot: int = 400,
                                 seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """One row per KPI of ``journey_type``: mean before and after ``date`` (by journey start),
    the trend-adjusted effect with its interval (interrupted time series), the same for the
    untouched journey types pooled (``untouched``, ``untouched_lo/hi``) and the effect net of
    them (``net``, ``net_lo/hi``: difference-in-differences), n before and after, and
    ``verdict``: 'better', 'worse' or 'no clear change' (the net interval when untouched
    journeys exist, else the effect's). Each untouched journey type's own effect is in
    ``attrs['untouched_by_type']``. Raises ValueError with the reason when there are too few
    periods or journeys on either side."""
    cut = naive_utc(pd.Timestamp(date))
    j = journeys[journeys["journey_type"] != UNCLASSIFIED].copy()
    start = naive_utc_series(pd.to_datetime(j["start"], utc=True))
    j["_t"] = (start - cut).dt.total_seconds().to_numpy() / (365.25 * 86400)
    j["_post"] = (start >= cut).astype(float).to_numpy()
    j["_period"] = _period_start(j["start"], period)
    target = j["journey_type"] == journey_type
    if not target.any():
        raise ValueError(f"there is no {humanize(journey_type)} journey in the data")
    periods = j.loc[target].groupby("_post")["_period"].nunique()
    if periods.get(0.0, 0) < min_periods or periods.get(1.0, 0) < min_periods:
        raise ValueError(f"the {humanize(journey_type)} journeys start in {int(periods.get(0.0, 0))} {period}s before "
                         f"the change and {int(periods.get(1.0, 0))} after it; at least {min_periods} on each side are needed")
    codes, uniques = pd.factorize(j["_period"])
    post = j["_post"].to_numpy()
    t = j["_t"].to_numpy()
    pre_periods, post_periods = np.unique(codes[post == 0]), np.unique(codes[post == 1])
    rng = np.random.default_rng(seed)
    W = np.array([np.bincount(np.concatenate([rng.choice(pre_periods, len(pre_periods)),
                                              rng.choice(post_periods, len(post_periods))]), minlength=len(uniques))
                  for _ in range(n_boot)], dtype=float).reshape(n_boot, len(uniques))
    ones = np.ones((1, len(uniques)))
    types = j["journey_type"].to_numpy()
    others = sorted(set(types) - {journey_type})
    q = (1 - level) / 2
    rows, by_type = [], {}
    measured = measure_journey_kpis(j)
    for kpi in kpis:
        y_all = measured[kpi].to_numpy(dtype=float)
        seen = ~np.isnan(y_all)
        tgt = target.to_numpy() & seen
        n_before, n_after = int((tgt & (post == 0)).sum()), int((tgt & (post == 1)).sum())
        if n_before < min_n or n_after < min_n:
            continue

        def sums(mask):
            return _period_sums(t[mask], post[mask], y_all[mask], codes[mask], len(uniques))

        st = sums(tgt)
        est, boot = float(_its_effects(st, ones)[0]), _its_effects(st, W)
        row = {"kpi": kpi, "before": float(np.nanmean(y_all[tgt & (post == 0)])),
               "after": float(np.nanmean(y_all[tgt & (post == 1)])), "effect": est,
               "lo": float(np.nanquantile(boot, q)), "hi": float(np.nanquantile(boot, 1 - q)),
               "n_before": n_before, "n_after": n_after}
        per_type = {}
        for o in others:
            m = (types == o) & seen
            if (m & (post == 0)).sum() >= min_n and (m & (post == 1)).sum() >= min_n:
                so = sums(m)
                ob = _its_effects(so, W)
                per_type[o] = {"effect": float(_its_effects(so, ones)[0]), "lo": float(np.nanquantile(ob, q)),
                               "hi": float(np.nanquantile(ob, 1 - q))}
        by_type[kpi] = per_type
        if per_type:
            sc = sums(~target.to_numpy() & seen & np.isin(types, list(per_type)))
            c_est, cb = float(_its_effects(sc, ones)[0]), _its_effects(sc, W)
            row |= {"untouched": c_est, "untouched_lo": float(np.nanquantile(cb, q)),
                    "untouched_hi": float(np.nanquantile(cb, 1 - q)), "net": est - c_est,
                    "net_lo": float(np.nanquantile(boot - cb, q)), "net_hi": float(np.nanquantile(boot - cb, 1 - q))}
            lo, hi = row["net_lo"], row["net_hi"]
        else:
            lo, hi = row["lo"], row["hi"]
        better = KPIS[kpi][1]
        row["verdict"] = ("no clear change" if lo <= 0 <= hi else
                          "better" if (lo > 0) == (better == "higher") else "worse")
        rows.append(row)
    cols = ["kpi", "before", "after", "effect", "lo", "hi", "untouched", "untouched_lo", "untouched_hi", "net",
            "net_lo", "net_hi", "n_before", "n_after", "verdict"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    out.attrs["untouched_by_type"] = by_type
    return out


# --------------------------------------------------------------------------- one call per client

def _effect_text(r, window_days: int = 90) -> str:
    """'handoffs 14.0 → 11.8 (better; -1.79 against the trend, net of the journeys it did not
    touch, 95% CI -2.15 to -1.43, n = 724 before, 748 after)'."""
    net = pd.notna(r.get("net"))
    e, lo, hi = (r["net"], r["net_lo"], r["net_hi"]) if net else (r["effect"], r["lo"], r["hi"])
    share = KPIS[r["kpi"]][2] == "share"
    num = (lambda x: f"{100 * x:+.1f} points") if share else (lambda x: f"{x:+.2f}")
    level = (lambda x: f"{x:.0%}") if share else (lambda x: f"{x:.1f}")
    against = ", net of the journeys it did not touch" if net else ""
    return (f"{name_kpi(r['kpi'], window_days)} {level(r['before'])} → {level(r['after'])} ({r['verdict']}; {num(e)} "
            f"against the trend{against}, 95% CI {num(lo)} to {num(hi)}, n = {int(r['n_before']):,} before, "
            f"{int(r['n_after']):,} after)")


def describe_change(journey: str, date, description: str, effects, why: str = "", window_days: int = 90) -> str:
    """One sentence on one named change: the KPIs that changed clearly, that none did, or why it
    could not be measured. ``effects`` is the table of :func:`estimate_intervention_effect` or
    its records (as in the report's figures), None when not measured."""
    name, day = humanize(journey), pd.Timestamp(date)
    what = (f"**{description}** ({name}, {day:%d %b %Y})" if description
            else f"**The change to {name}** on {day:%d %b %Y}")
    if effects is None:
        return f"{what}: not measured, {why}."
    table = pd.DataFrame(effects)
    clear = table[table["verdict"] != "no clear change"]
    if not len(clear):
        return (f"{what}: no KPI changed clearly (n = {int(table['n_before'].max()):,} journeys before, "
                f"{int(table['n_after'].max()):,} after).")
    return f"{what}: " + "; ".join(_effect_text(r, window_days) for _, r in clear.iterrows()) + "."


@dataclass
class Tracking:
    """The KPI ``series`` (every typed journey), the relationship ``nps`` series, and one
    before/after table per intervention (``effects``: list of (intervention, table or None,
    why not))."""

    series: pd.DataFrame
    nps: pd.DataFrame
    effects: list = field(default_factory=list)
    period: str = "week"
    window_days: int = 90          # the churn window, for the KPI 'churn within N days'

    def describe(self) -> list[str]:
        """One line per intervention: what changed clearly, or that nothing did, or why it could
        not be measured."""
        return [describe_change(iv.journey, iv.date, iv.description, table, why, self.window_days)
                for iv, table, why in self.effects]

    def figure_kpis(self, table: pd.DataFrame, k: int = 3) -> list[str]:
        """The KPIs to draw for one intervention: those that changed clearly, else handoffs and
        the journey score (what a fix usually aims at), at most ``k``."""
        clear = table.loc[table["verdict"] != "no clear change", "kpi"].tolist()
        usual = [x for x in ("handoffs", "journey_score") if x in set(table["kpi"])]
        return (clear or usual)[:k]

    def effect_table(self, table: pd.DataFrame) -> pd.DataFrame:
        """One intervention's table as the page shows it, one row per KPI in its own unit (shares
        as %, their changes in points): before, after, the change against the trend and its
        interval, the same for the untouched journeys, the net change and its interval, n."""
        rows = []
        for _, r in table.iterrows():
            share = KPIS[r["kpi"]][2] == "share"
            level = (lambda x: f"{x:.1%}") if share else (lambda x: f"{x:.2f}")
            num = (lambda x: f"{100 * x:+.1f} pts") if share else (lambda x: f"{x:+.2f}")
            ci = lambda e, lo, hi: "–" if pd.isna(e) else f"{num(e)} ({num(lo)} to {num(hi)})"  # noqa: E731
            rows.append({"KPI": name_kpi(r["kpi"], self.window_days), "before": level(r["before"]), "after": level(r["after"]),
                         "against the trend (95% CI)": ci(r["effect"], r["lo"], r["hi"]),
                         "untouched journeys (95% CI)": ci(r["untouched"], r["untouched_lo"], r["untouched_hi"]),
                         "net of them (95% CI)": ci(r["net"], r["net_lo"], r["net_hi"]),
                         "n before": int(r["n_before"]), "n after": int(r["n_after"]), "verdict": r["verdict"]})
        return pd.DataFrame(rows)

    def metrics(self) -> dict:
        """The interventions' effects (KPI rows, no identifiers) for the report's figures."""
        out = []
        for iv, table, why in self.effects:
            rec = {"journey": iv.journey, "date": str(iv.date), "description": iv.description, "why": why or ""}
            if table is not None:
                rec["effects"] = [{k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v)
                                   for k, v in r.items()} for r in table.to_dict("records")]
                rec["untouched_by_type"] = table.attrs.get("untouched_by_type", {})
            out.append(rec)
        return {"period": self.period, "window_days": self.window_days, "interventions": out,
                "periods": int(self.series["period"].nunique()) if len(self.series) else 0}


def track_journeys(journeys: pd.DataFrame | None, surveys: pd.DataFrame | None, interventions, *,
                   period: str = "week", min_periods: int = 4, window_days: int = 90,
                   seed: int = 0) -> tuple[Tracking | None, str]:
    """The KPI series and each intervention's before/after table, or (None, why not)."""
    if journeys is None or not len(journeys) or not (journeys["journey_type"] != UNCLASSIFIED).any():
        return None, "there are no typed journeys to follow over time"
    series = build_kpi_series(journeys, period=period)
    effects = []
    for iv in interventions:
        try:
            effects.append((iv, estimate_intervention_effect(journeys, iv.journey, iv.date, period=period,
                                                             min_periods=min_periods, seed=seed), ""))
        except ValueError as err:
            effects.append((iv, None, str(err)))
    return Tracking(series, build_nps_series(surveys, period=period), effects, period, window_days), ""
