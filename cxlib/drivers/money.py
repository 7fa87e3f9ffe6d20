"""Money: revenue at risk per journey type and improvement scenarios, each with an interval.

Revenue at risk for a journey type is

    journeys per year x attributable churn uplift x monthly revenue x horizon (months)

where the uplift is the type's churn within the churn window after the journey minus the
baseline chance of leaving in a window of the same length. A scenario ("if the share of
installs that go wrong fell from a to b", "if the move score rose by x points") predicts the
change in churners, revenue and relationship NPS. Every figure is a bootstrap over the
journeys (and, for NPS, the respondents), so the interval carries the uncertainty of the
rates, the revenue and the score effect together.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from cxlib.core.parallel import map_in_threads
from cxlib.core.period import Period, measure_period
from cxlib.core.uncertainty import resample_means
from cxlib.journeys.stats import flag_went_wrong
from cxlib.journeys.reconstruct import UNCLASSIFIED, get_journey_span


def measure_journey_period(journeys: pd.DataFrame, *, min_days: float = 56) -> Period:
    """The span the journey table covers (first start to last end): journeys are counted per
    year when it is at least ``min_days`` long, else over the days observed."""
    return measure_period(pd.Series(get_journey_span(journeys)), min_days=min_days)


def _per_year(journeys: pd.DataFrame, min_days: float = 56) -> float:
    return measure_journey_period(journeys, min_days=min_days).factor


def _revenue_of(journeys: pd.DataFrame, customers: pd.DataFrame | None, revenue: str) -> np.ndarray:
    if customers is None or revenue not in customers:
        return np.full(len(journeys), np.nan)
    rev = pd.to_numeric(customers.drop_duplicates("customer_id").set_index("customer_id")[revenue], errors="coerce")
    return rev.reindex(journeys["customer_id"]).to_numpy(float)


def _mean_revenue(journeys: pd.DataFrame, customers: pd.DataFrame | None, revenue: str) -> float:
    """Mean monthly revenue of the journeys' customers (NaN when unknown)."""
    rev = _revenue_of(journeys, customers, revenue)
    return float(np.nanmean(rev)) if (~np.isnan(rev)).any() else float("nan")


def _q(a, level: float = 0.95) -> tuple[float, float]:
    a = np.asarray(a, dtype=float)
    if np.isnan(a).all():
        return (float("nan"), float("nan"))
    q = (1 - level) / 2
    return (float(np.nanquantile(a, q)), float(np.nanquantile(a, 1 - q)))


def flag_other_failure_nearby(journeys: pd.DataFrame, *, window_days: float = 90) -> pd.Series:
    """True for a typed journey that went right while the customer had a journey of another
    type that went wrong and ended within ``window_days`` of this one's end: churn after it
    belongs to the other journey (a new customer's onboarding after a failed installation)."""
    typed = journeys[journeys["journey_type"] != UNCLASSIFIED]
    wrong = typed[flag_went_wrong(typed)][["customer_id", "journey_type", "end"]]
    pairs = typed[["customer_id", "journey_type", "end"]].reset_index().merge(wrong, on="customer_id",
                                                                              suffixes=("", "_other"))
    near = (pairs["journey_type"] != pairs["journey_type_other"]) & (
        (pairs["end"] - pairs["end_other"]).abs() <= pd.Timedelta(days=window_days))
    hit = journeys.index.isin(list(set(pairs.loc[near, "index"])))
    right = ~flag_went_wrong(journeys).to_numpy()
    return pd.Series(hit & right, index=journeys.index, name="other_failure_nearby")


def estimate_journey_revenue_at_risk(journeys: pd.DataFrame, customers: pd.DataFrame | None, *,
                                     baseline: dict, horizon_months: int = 12, churn: str = "churned_in_window",
                                     revenue: str = "monthly_revenue", window_days: float = 90,
                                     n_boot: int = 1000, seed: int = 0, min_days: float = 56) -> pd.DataFrame:
    """Per journey type: journeys per year (over the days observed below ``min_days``), churn after the journey, the attributable uplift
    over ``baseline`` (from :func:`~cxlib.journeys.estimate_baseline_churn`), mean monthly
    revenue of those customers and ``value`` = journeys/year x max(uplift, 0) x revenue x
    ``horizon_months``, each with a bootstrap 95% interval.

    The churn rate uses journeys with a closed churn window, leaving out those that went right
    next to another type that went wrong (:func:`flag_other_failure_nearby`), so churn caused by
    a failed installation is not counted again against the onboarding that followed it.
    ``n`` is the journeys the rate rests on, ``n_excluded`` those set aside as overlapping."""
    if baseline.get("rate") is None or churn not in journeys:
        return pd.DataFrame()
    overlap = flag_other_failure_nearby(journeys, window_days=window_days)
    per_year = _per_year(journeys, min_days)
    b, b_lo, b_hi = baseline["rate"], baseline["ci_low"], baseline["ci_high"]
    rng = np.random.default_rng(seed)
    b_draw = rng.normal(b, max(b_hi - b_lo, 1e-12) / 3.92, n_boot)
    rows = []
    for jt, g in journeys[journeys["journey_type"] != UNCLASSIFIED].groupby("journey_type"):
        closed = g[g[churn].notna() & ~overlap.loc[g.index]]
        n_excluded = int((g[churn].notna() & overlap.loc[g.index]).sum())
        if len(closed) < 30:
            continue
        y = closed[churn].astype(bool).to_numpy(float)
        rev = _revenue_of(closed, customers, revenue)
        rev = np.where(np.isnan(rev), np.nanmean(rev) if (~np.isnan(rev)).any() else 0.0, rev)
        volume = len(g) * per_year
        rate_b, rev_b = resample_means(rng, [y, rev], n_boot)
        value_b = volume * np.maximum(rate_b - b_draw, 0) * rev_b * horizon_months
        uplift = y.mean() - b
        rows.append({"journey_type": jt, "journeys_per_year": volume, "churn": y.mean(),
                     "uplift": uplift, "uplift_lo": _q(rate_b - b_draw)[0], "uplift_hi": _q(rate_b - b_draw)[1],
                     "monthly_revenue": rev.mean(),
                     "value": volume * max(uplift, 0) * rev.mean() * horizon_months,
                     "lo": _q(value_b)[0], "hi": _q(value_b)[1], "n": len(y), "n_excluded": n_excluded})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).set_index("journey_type").sort_values("value", ascending=False)


def estimate_failure_effect(journeys: pd.DataFrame, journey_type: str, *, churn: str = "churned_in_window",
                            score: str = "journey_score", n_boot: int = 1000, seed: int = 0) -> dict:
    """For one journey type: the share that goes wrong (see
    :func:`~cxlib.journeys.flag_went_wrong`) and, for wrong vs right journeys, churn after
    the journey and the mean journey score, with bootstrap 95% intervals on the differences."""
    g = journeys[journeys["journey_type"] == journey_type]
    if not len(g):
        raise ValueError(f"no journeys of type {journey_type!r}")
    wrong = flag_went_wrong(g).to_numpy()
    rng = np.random.default_rng(seed)
    out = {"journey_type": journey_type, "n": len(g), "wrong_share": float(wrong.mean())}
    for name, col in (("churn", churn), ("score", score)):
        if col not in g:
            continue
        v = pd.to_numeric(g[col].astype("Float64"), errors="coerce").to_numpy(float)
        a, b = v[wrong & ~np.isnan(v)], v[~wrong & ~np.isnan(v)]
        if len(a) < 10 or len(b) < 10:
            continue
        d = resample_means(rng, a, n_boot) - resample_means(rng, b, n_boot)
        out |= {f"{name}_wrong": a.mean(), f"{name}_right": b.mean(), f"{name}_diff": a.mean() - b.mean(),
                f"{name}_diff_lo": _q(d)[0], f"{name}_diff_hi": _q(d)[1], f"{name}_n_wrong": len(a),
                f"{name}_n_right": len(b), f"_{name}_boot": d}
    return out


def net_promoter_score(scores) -> float:
    """NPS in points: % promoters (9-10) minus % detractors (0-6)."""
    s = np.asarray(scores, dtype=float)
    s = s[~np.isnan(s)]
    return float(100 * ((s >= 9).mean() - (s <= 6).mean())) if len(s) else float("nan")


def _stochastic_round(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``x`` rounded up with probability its fraction, given one uniform draw ``u`` per value."""
    f = np.floor(x)
    return f + (u < (x - f))


def simulate_nps_shift(X: pd.DataFrame, y: pd.Series, driver: str, delta: float, *, scale=(0, 10),
                       n_boot: int = 500, seed: int = 0, effects: dict | None = None) -> dict:
    """Relationship NPS if everyone who rated ``driver`` rated it ``delta`` points higher.

    The effect of a point on the driver comes from a linear regression of the outcome on all
    drivers ('not rated' imputed with the driver's mean, so it adds nothing). Each affected
    respondent's score moves by effect x delta, rounded stochastically to whole points (so
    the expected score moves exactly) and clipped to the scale. Returns the NPS now, the change
    in NPS points and in mean score, each with a bootstrap 95% interval over respondents.

    ``effects``, a dict shared by calls on the same ``X`` and ``y`` (one client's scenarios),
    keeps each resample's effect: a later call for the same driver, seed and ``n_boot`` draws
    the same resamples and reuses them instead of solving the regressions again."""
    if driver not in X:
        raise ValueError(f"{driver!r} is not a driver; drivers are {list(X.columns)}")
    Xf = X.fillna(X.mean()).to_numpy(float)
    rated = X[driver].notna().to_numpy()
    yv = y.to_numpy(float)
    j = list(X.columns).index(driver)
    rng = np.random.default_rng(seed)
    A = np.column_stack([np.ones(len(yv)), Xf])
    known = effects.get((driver, n_boot, seed)) if effects is not None else None

    def effect(i: np.ndarray) -> float:
        c = np.bincount(i, minlength=len(yv)).astype(float)    # how often each respondent was drawn
        try:    # normal equations weighted by the counts: no copy of the resampled rows
            return np.linalg.solve((A * c[:, None]).T @ A, A.T @ (c * yv))[1 + j]
        except np.linalg.LinAlgError:   # collinear drivers in this resample
            return np.linalg.lstsq(A[i], yv[i], rcond=None)[0][1 + j]

    def one(draw):
        i, u, beta = draw   # the resample, one uniform per rated respondent in it (for the rounding), its effect if known
        beta = effect(i) if beta is None else beta
        yi = yv[i]
        new = yi.copy()
        r = rated[i]
        new[r] = np.clip(_stochastic_round(new[r] + beta * delta, u), *scale)
        return beta, net_promoter_score(new) - net_promoter_score(yi), float(new.mean() - yi.mean())

    everyone = np.arange(len(yv))
    point = one((everyone, rng.random(int(rated.sum())), None if known is None else known[0]))

    def draws():      # drawn here, in order, so the figures do not depend on the threads
        for b in range(n_boot):
            i = rng.integers(0, len(yv), len(yv))
            yield i, rng.random(int(rated[i].sum())), None if known is None else known[1 + b]
    boots = np.array(map_in_threads(one, draws())).reshape(-1, 3)
    if effects is not None:
        effects[(driver, n_boot, seed)] = np.r_[point[0], boots[:, 0]]
    return {"driver": driver, "delta": delta, "effect_per_point": point[0], "nps_now": net_promoter_score(yv),
            "nps_change": point[1], "nps_change_lo": _q(boots[:, 1])[0], "nps_change_hi": _q(boots[:, 1])[1],
            "score_change": point[2], "score_change_lo": _q(boots[:, 2])[0], "score_change_hi": _q(boots[:, 2])[1],
            "n_affected": int(rated.sum()), "n": len(yv)}


def simulate_failure_reduction(journeys: pd.DataFrame, customers: pd.DataFrame | None, journey_type: str, *,
                               to_share: float, horizon_months: int = 12, X: pd.DataFrame | None = None,
                               y: pd.Series | None = None, driver: str | None = None, churn: str = "churned_in_window",
                               revenue: str = "monthly_revenue", n_boot: int = 1000, seed: int = 0,
                               min_days: float = 56, effects: dict | None = None) -> dict:
    """'If the share of ``journey_type`` journeys that go wrong fell from today's to
    ``to_share``': fewer churners per year (journeys/year x fall in share x churn difference
    wrong vs right), revenue kept (x monthly revenue x ``horizon_months``) and, when the
    relationship-survey drivers ``X``/``y`` include ``driver``, the change in NPS (the journey
    score rises by the fall in share x the score difference wrong vs right). 95% intervals
    throughout. ``effects``: see :func:`simulate_nps_shift`."""
    eff = estimate_failure_effect(journeys, journey_type, churn=churn, n_boot=n_boot, seed=seed)
    if "churn_diff" not in eff:
        raise ValueError("too few closed churn windows among the journeys that went wrong and those that went right")
    g = journeys[journeys["journey_type"] == journey_type]
    period = measure_journey_period(journeys, min_days=min_days)
    volume = len(g) * period.factor
    fall = eff["wrong_share"] - to_share
    rev_mean = _mean_revenue(g, customers, revenue)
    churners_b = volume * fall * eff["_churn_boot"]
    out = {"scenario": f"{journey_type}: went-wrong share {eff['wrong_share']:.0%} → {to_share:.0%}",
           "journey_type": journey_type, "from_share": eff["wrong_share"], "to_share": to_share,
           "journeys_per_year": volume, "per": period.label, "churners_saved": volume * fall * eff["churn_diff"],
           "churners_saved_lo": _q(churners_b)[0], "churners_saved_hi": _q(churners_b)[1]}
    out |= {"revenue_kept": out["churners_saved"] * rev_mean * horizon_months,
            "revenue_kept_lo": out["churners_saved_lo"] * rev_mean * horizon_months,
            "revenue_kept_hi": out["churners_saved_hi"] * rev_mean * horizon_months}
    if X is not None and driver in X and "score_diff" in eff:
        nps = simulate_nps_shift(X, y, driver, -fall * eff["score_diff"], n_boot=min(n_boot, 300), seed=seed,
                                 effects=effects)
        out |= {k: nps[k] for k in ("nps_now", "nps_change", "nps_change_lo", "nps_change_hi")}
    return out


def fit_logistic_1d(x: np.ndarray, y: np.ndarray, weight: np.ndarray, *, C: float = 1e6,
                    tol: float = 1e-10, max_iter: int = 100) -> tuple[float, float]:
    """Intercept and slope of a weighted logistic regression of 0/1 ``y`` on one feature ``x``,
    with scikit-learn's L2 penalty on the slope (``C`` as in ``LogisticRegression``), by Newton's
    method: fast on grouped data (one row per distinct value and outcome, weighted by its count),
    where scikit-learn's per-call overhead would dominate."""
    x, y, w = (np.asarray(a, dtype=float) for a in (x, y, weight))
    beta = np.array([np.log((w * y).sum() / (w * (1 - y)).sum()), 0.0])
    X = np.column_stack([np.ones(len(x)), x])
    ridge = np.array([0.0, 1 / C])
    for _ in range(max_iter):
        p = expit(X @ beta)
        grad = X.T @ (w * (p - y)) + ridge * beta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + np.diag(ridge)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < tol:
            break
    return float(beta[0]), float(beta[1])


def simulate_score_rise(journeys: pd.DataFrame, customers: pd.DataFrame | None, journey_type: str, *,
                        delta: float, horizon_months: int = 12, X: pd.DataFrame | None = None,
                        y: pd.Series | None = None, driver: str | None = None, churn: str = "churned_in_window",
                        score: str = "journey_score", scale=(0, 10), revenue: str = "monthly_revenue",
                        n_boot: int = 500, seed: int = 0, min_days: float = 56, effects: dict | None = None) -> dict:
    """'If the ``journey_type`` journey score rose by ``delta`` points': the change in NPS via
    :func:`simulate_nps_shift`, and churners saved and revenue kept from a logistic fit of
    churn after the journey on its journey score (rated journeys with a closed window; the
    same relation is assumed for unrated ones). 95% bootstrap intervals. ``effects``: see
    :func:`simulate_nps_shift`."""
    g = journeys[journeys["journey_type"] == journey_type]
    d = g[g[score].notna() & g[churn].notna()] if score in g and churn in g else g.iloc[:0]
    period = measure_journey_period(journeys, min_days=min_days)
    out = {"scenario": f"{journey_type}: journey score +{delta:g}", "journey_type": journey_type, "delta": delta,
           "journeys_per_year": len(g) * period.factor, "per": period.label}
    if len(d) >= 50 and d[churn].astype(bool).nunique() == 2:
        s = d[score].to_numpy(float)
        c = d[churn].astype(bool).to_numpy(int)
        rev_mean = _mean_revenue(g, customers, revenue)
        rng = np.random.default_rng(seed)
        # the fit sees each distinct (score, churned) pair once, weighted by how often it was
        # drawn: the same likelihood as the rows themselves, on a few dozen rows instead of thousands
        pairs, pair_of = np.unique(np.column_stack([s, c]), axis=0, return_inverse=True)
        pair_of = pair_of.ravel()
        ps, pc = pairs[:, :1], pairs[:, 1].astype(int)
        raised = np.clip(ps[:, 0] + delta, *scale)[:, None]

        def saved(i):
            if c[i].min() == c[i].max():   # a resample of rare churn with no churner (or no stayer): no fit
                return float("nan")
            w = np.bincount(pair_of[i], minlength=len(pairs)).astype(float)
            b0, b1 = fit_logistic_1d(ps[:, 0], pc, w, C=1e6)
            gain = expit(b0 + b1 * ps[:, 0]) - expit(b0 + b1 * raised[:, 0])
            return float((w * gain).sum() / w.sum())

        p = saved(np.arange(len(s)))
        boots = [saved(rng.integers(0, len(s), len(s))) for _ in range(min(n_boot, 200))]
        lo, hi = _q(boots)
        v = out["journeys_per_year"]
        out |= {"churners_saved": v * p, "churners_saved_lo": v * lo, "churners_saved_hi": v * hi,
                "revenue_kept": v * p * rev_mean * horizon_months, "revenue_kept_lo": v * lo * rev_mean * horizon_months,
                "revenue_kept_hi": v * hi * rev_mean * horizon_months, "n_rated": len(d)}
    if X is not None and driver in X:
        nps = simulate_nps_shift(X, y, driver, delta, scale=scale, n_boot=min(n_boot, 300), seed=seed, effects=effects)
        out |= {k: nps[k] for k in ("nps_now", "nps_change", "nps_change_lo", "nps_change_hi")}
    return out
