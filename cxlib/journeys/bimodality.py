"""Bimodal scores and what separates the two groups.

:func:`detect_bimodality` calls a score distribution bimodal when both hold:

* a two-component Gaussian mixture beats one component by BIC (ΔBIC ≥ ``min_delta_bic``,
  10 = "very strong" on Kass & Raftery's scale), with each component at least
  ``min_weight`` of the data; and
* the empirical distribution has a real valley between the two groups: the lowest
  bin between the two component means holds at most ``max_valley_ratio`` of the
  smaller of the two peaks. This stops a skewed or stepped distribution, which a
  mixture also fits better than one Gaussian, from being called bimodal.

:func:`explain_bimodality` then splits the journeys at the antimode and finds the
journey feature that best separates the low group from the high group with a
shallow decision tree, and reports the contrast with a bootstrap interval.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture
from sklearn.tree import DecisionTreeClassifier

from cxlib.core.sql import query_frames, select_columns, sql_literal
from cxlib.core.uncertainty import bootstrap_difference

JOURNEY_FEATURES = {
    "n_failed_steps": "failed steps",
    "n_rework": "repeated touchpoints (rework)",
    "n_repeat_contacts": "repeat contacts",
    "n_handoffs": "handoffs between departments",
    "n_touchpoints": "touchpoints",
    "n_channel_switches": "channel switches",
    "duration_days": "duration (days)",
    "max_wait_days": "longest wait (days)",
    "not_first_time_right": "not first-time-right",
}
"""Journey-table features the separator considers, with their report labels."""


@dataclass
class Bimodality:
    n: int
    bimodal: bool
    delta_bic: float = float("nan")
    means: tuple[float, float] = (float("nan"), float("nan"))
    weights: tuple[float, float] = (float("nan"), float("nan"))
    antimode: float = float("nan")
    valley_ratio: float = float("nan")
    reason: str = ""
    hist: pd.Series = field(default_factory=pd.Series)


def detect_bimodality(scores, *, min_n: int = 30, min_delta_bic: float = 10.0, min_weight: float = 0.1,
                    max_valley_ratio: float = 0.5, seed: int = 0) -> Bimodality:
    """Test whether ``scores`` are bimodal (see the module docstring). Nulls are dropped."""
    x = pd.Series(scores, dtype=float).dropna().to_numpy()
    n = len(x)
    if n < min_n:
        return Bimodality(n, False, reason=f"too few scores ({n} < {min_n})")
    if np.unique(x).size < 3:
        return Bimodality(n, False, reason="fewer than 3 distinct scores")
    X = x.reshape(-1, 1)
    # scores are usually integers: a variance floor keeps a component from collapsing onto one value
    reg = max(1e-6, 0.1 * np.var(x) / 4) if np.allclose(x, np.round(x)) else 1e-6
    g1 = GaussianMixture(1, random_state=seed, reg_covar=reg).fit(X)
    g2 = GaussianMixture(2, random_state=seed, reg_covar=reg, n_init=3).fit(X)
    dbic = float(g1.bic(X) - g2.bic(X))
    order = np.argsort(g2.means_.ravel())
    means = tuple(float(m) for m in g2.means_.ravel()[order])
    weights = tuple(float(w) for w in g2.weights_[order])
    hist = _histogram(x)
    between = hist[(hist.index > means[0]) & (hist.index < means[1])]
    left = hist[hist.index <= means[0] + 0.5 * (means[1] - means[0])]
    right = hist[hist.index > means[0] + 0.5 * (means[1] - means[0])]
    if len(between) == 0 or len(left) == 0 or len(right) == 0:
        return Bimodality(n, False, dbic, means, weights, reason="no bins between the two groups", hist=hist)
    antimode = float(between.idxmin())
    valley = float(between.min())
    peak_l = float(hist[hist.index <= antimode].max())
    peak_r = float(hist[hist.index >= antimode].max())
    ratio = valley / min(peak_l, peak_r) if min(peak_l, peak_r) > 0 else float("nan")
    checks = [(dbic >= min_delta_bic, f"ΔBIC {dbic:.1f} < {min_delta_bic:g}"),
              (min(weights) >= min_weight, f"smaller group {min(weights):.0%} < {min_weight:.0%}"),
              (ratio <= max_valley_ratio, f"no clear valley (valley/peak {ratio:.2f} > {max_valley_ratio:g})")]
    failed = [msg for ok, msg in checks if not ok]
    return Bimodality(n, not failed, dbic, means, weights, antimode, ratio,
                      reason="; ".join(failed) if failed else "two groups with a clear valley", hist=hist)


def _histogram(x: np.ndarray) -> pd.Series:
    """Share of scores per value (integer-like scores) or per one of 15 equal bins."""
    vals = np.unique(x)
    if vals.size <= 21 and np.allclose(vals, np.round(vals)):
        full = np.arange(vals.min(), vals.max() + 1)
        return pd.Series(x).value_counts(normalize=True).reindex(full, fill_value=0.0).sort_index()
    counts, edges = np.histogram(x, bins=15)
    return pd.Series(counts / counts.sum(), index=(edges[:-1] + edges[1:]) / 2)


def journey_features(journeys: pd.DataFrame, steps=None, *, journey_type: str | None = None,
                     max_touchpoints: int = 25) -> pd.DataFrame:
    """Numeric features per journey for the separator: the journey-table measures in
    ``JOURNEY_FEATURES`` plus, from ``steps`` (the step table as pandas or Spark; with
    ``journey_type``, only that type's steps are read), whether the journey passed through each
    of its ``max_touchpoints`` most frequent touchpoints (``has: <touchpoint>``; ties in
    frequency by name). Only journey × touchpoint pairs come back from the step table."""
    f = pd.DataFrame(index=journeys["journey_id"])
    for col in JOURNEY_FEATURES:
        if col == "not_first_time_right":
            f[col] = ((journeys["n_failed_steps"] + journeys["n_rework"] + journeys["n_repeat_contacts"]) > 0) \
                .astype(float).to_numpy()
        elif col in journeys:
            f[col] = journeys[col].astype(float).to_numpy()
    if steps is not None:
        where = f"AND journey_type = {sql_literal(journey_type)}" if journey_type is not None else ""
        pairs = query_frames(f"""
            SELECT journey_id, touchpoint, count(*) AS n FROM st WHERE touchpoint IS NOT NULL {where}
            GROUP BY journey_id, touchpoint""", st=select_columns(steps, ["journey_id", "journey_type", "touchpoint"]))
        pairs = pairs[pairs["journey_id"].isin(f.index)]
        if len(pairs):
            counts = pairs.groupby("touchpoint")["n"].sum()
            top = counts.sort_values(ascending=False, kind="stable").index[:max_touchpoints]
            has = _indicators(pairs["journey_id"], pairs["touchpoint"], top)
            f = f.join(has, how="left").fillna({c: 0.0 for c in has.columns})
    return f.fillna(0.0)


def _indicators(rows: pd.Series, values: pd.Series, columns: pd.Index) -> pd.DataFrame:
    """1.0 where a row key (a journey) has a value (a touchpoint) among ``columns``, else 0.0: one
    row per distinct key, columns ``has: <value>`` (a crosstab, without its count per cell)."""
    codes, keys = pd.factorize(rows)
    col = pd.Index(columns).get_indexer(values)
    out = np.zeros((len(keys), len(columns)))
    out[codes[col >= 0], col[col >= 0]] = 1.0
    return pd.DataFrame(out, index=pd.Index(keys, name=rows.name), columns=[f"has: {c}" for c in columns])


def explain_bimodality(journeys: pd.DataFrame, features: pd.DataFrame, antimode: float, *,
                       score: str = "journey_score", contacts: frozenset | set = frozenset(), seed: int = 0) -> dict:
    """What separates journeys scoring below ``antimode`` from the rest.

    Fits a depth-2 decision tree (balanced classes) on ``features``; the feature of its
    root split is the separator. Causes before symptoms: when that is a customer's contact
    (a ``has:`` feature of a touchpoint in ``contacts``, or the repeat-contact count), a
    company-side feature that separates the groups nearly as well is named instead (see
    :func:`_prefer_cause`); ``symptom`` says when none does. Returns ``{separator, label,
    symptom, low_mean, high_mean, difference, ci_low, ci_high, n_low, n_high, accuracy,
    contrasts}`` where ``contrasts`` compares every feature between the groups."""
    scored = journeys[journeys[score].notna()]
    X = features.loc[scored["journey_id"].to_numpy()]
    X = X.loc[:, X.std() > 0]
    y = (scored[score].to_numpy() < antimode).astype(int)
    if y.sum() == 0 or y.sum() == len(y) or X.shape[1] == 0:
        return {"separator": None, "label": None, "contrasts": pd.DataFrame()}
    tree = DecisionTreeClassifier(max_depth=2, min_samples_leaf=max(5, int(0.02 * len(y))),
                                  class_weight="balanced", random_state=seed).fit(X.to_numpy(), y)
    root = _prefer_touchpoint(X, y, X.columns[tree.tree_.feature[0]], seed)
    root = _prefer_cause(X, y, root, contacts, seed)
    acc = float((tree.predict(X.to_numpy()) == y).mean())
    low, high = X[y == 1], X[y == 0]
    rows = []
    for i, c in enumerate(X.columns):
        d, lo, hi = bootstrap_difference(low[c], high[c], seed=seed + i, n_boot=1000)
        sd = X[c].std()
        rows.append({"feature": c, "label": label_feature(c), "low_mean": low[c].mean(), "high_mean": high[c].mean(),
                     "difference": d, "ci_low": lo, "ci_high": hi, "std_difference": d / sd if sd else np.nan,
                     "importance": float(tree.feature_importances_[i])})
    contrasts = pd.DataFrame(rows).sort_values("std_difference", key=np.abs, ascending=False).reset_index(drop=True)
    r = contrasts.set_index("feature").loc[root]
    return {"separator": root, "label": label_feature(root), "symptom": _is_symptom(root, contacts), "low_mean": r["low_mean"], "high_mean": r["high_mean"],
            "difference": r["difference"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
            "n_low": int(y.sum()), "n_high": int(len(y) - y.sum()), "accuracy": acc, "contrasts": contrasts}


def _is_symptom(feature: str, contacts) -> bool:
    return feature == "n_repeat_contacts" or (feature.startswith("has: ") and feature[5:] in contacts)


def _balanced_stump(X: pd.DataFrame, y: np.ndarray, cols: list[str], seed: int) -> tuple[float, str]:
    """Balanced accuracy and feature of the best one-split tree on ``cols``."""
    t = DecisionTreeClassifier(max_depth=1, class_weight="balanced", random_state=seed).fit(X[cols].to_numpy(), y)
    pred = t.predict(X[cols].to_numpy())
    return float(np.mean([(pred[y == k] == k).mean() for k in (0, 1)])), cols[max(t.tree_.feature[0], 0)]


def _prefer_cause(X: pd.DataFrame, y: np.ndarray, root: str, contacts, seed: int, tolerance: float = 0.1,
                  floor: float = 0.7) -> str:
    """A customer's contact (a status call, a complaint) is the reaction to what went wrong,
    not its cause. When ``root`` is one, the best company-side split is preferred (first a
    company step present or missing, then any other non-contact measure) if its balanced
    accuracy is at least ``floor`` and within ``tolerance`` of the root's."""
    if not _is_symptom(root, contacts):
        return root
    full, _ = _balanced_stump(X, y, [root], seed)
    company = [c for c in X.columns if not _is_symptom(c, contacts)]
    for group in ([c for c in company if c.startswith("has: ")], [c for c in company if not c.startswith("has: ")]):
        if group:
            acc, feature = _balanced_stump(X, y, group, seed)
            if acc >= max(floor, full - tolerance):
                return feature
    return root


def _prefer_touchpoint(X: pd.DataFrame, y: np.ndarray, root: str, seed: int, tolerance: float = 0.01) -> str:
    """The passage through a touchpoint says more than a count it drives (an extra
    back-office step also adds a handoff): when a ``has: <touchpoint>`` feature splits the
    groups within ``tolerance`` balanced accuracy of the tree's root, it is the separator."""
    has = [c for c in X.columns if c.startswith("has: ")]
    if root.startswith("has: ") or not has:
        return root

    full, _ = _balanced_stump(X, y, [root], seed)
    best, feature = _balanced_stump(X, y, has, seed)
    return feature if best >= full - tolerance else root


def label_feature(feature: str) -> str:
    """Report label of a separator feature."""
    if feature.startswith("has: "):
        return f"share of journeys with '{feature[5:]}'"
    return JOURNEY_FEATURES.get(feature, feature)


def describe_separation(result: dict, journey_type: str) -> str:
    """'For new_install, the low-scoring group differs in failed steps (1.0 vs 0.0, difference
    +1.0, 95% CI +0.96 to +1.0; n = 720 vs 1,880).'"""
    if not result.get("separator"):
        return f"For {journey_type.replace('_', ' ')}, no journey feature separates the two groups."
    share = result["separator"].startswith("has: ") or result["separator"] == "not_first_time_right"
    fmt = (lambda v: f"{v:.0%}") if share else (lambda v: f"{v:.2f}")
    sfmt = (lambda v: f"{v * 100:+.0f} pp") if share else (lambda v: f"{v:+.2f}")
    text = (f"For {journey_type.replace('_', ' ')}, the low-scoring group differs in {result['label']} "
            f"({fmt(result['low_mean'])} vs {fmt(result['high_mean'])}; difference {sfmt(result['difference'])}, "
            f"95% CI {sfmt(result['ci_low'])} to {sfmt(result['ci_high'])}; "
            f"n = {result['n_low']:,} low vs {result['n_high']:,} high scores).")
    if result.get("symptom"):
        text += (" That is the customer getting in touch, a symptom of what went wrong rather than its cause; "
                 "nothing the company does separates the groups as well. Ask what preceded it.")
    return text
