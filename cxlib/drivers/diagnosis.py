"""The driver diagnosis of one client in one call (what ``notebooks/03_drivers`` runs)."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cxlib.core.config import ClientConfig
from cxlib.core.formatting import (capitalize, display_name, format_count, format_estimate, format_interval,
                                   format_value, humanize)
from cxlib.core.jsonio import write_json
from cxlib.core.paths import ClientPaths
from cxlib.drivers.importance import (OPERATIONAL, DriverAnalysis, build_driver_table, build_operational_drivers,
                                      compare_segments, estimate_asymmetry, flag_fix_first)


@dataclass
class DriverDiagnosis:
    outcome: str
    X: pd.DataFrame
    y: pd.Series
    model: DriverAnalysis
    driver_metric: dict[str, str]
    segments: dict[str, pd.DataFrame] = field(default_factory=dict)
    asymmetry: pd.DataFrame | None = None
    skipped: list[str] = field(default_factory=list)
    scales: dict[str, tuple[float, float]] = field(default_factory=dict)
    value_model: DriverAnalysis | None = None   # the same fit, respondents weighted by their value
    value_basis: str | None = None              # the customer column the weights come from

    @property
    def importance(self) -> pd.DataFrame:
        """The model's importance table plus ``performance``: the mean score as a share of its
        scale (0 = bottom, 1 = top), comparable across drivers on different scales."""
        imp = self.model.importance_.copy()
        lo = imp.index.map(lambda d: self.scales.get(self.driver_metric.get(d), (float("nan"),) * 2)[0])
        hi = imp.index.map(lambda d: self.scales.get(self.driver_metric.get(d), (float("nan"),) * 2)[1])
        imp["performance"] = (imp["mean_score"] - lo) / (hi - lo)
        imp["fix_first"] = flag_fix_first(imp)
        return imp

    def summary(self) -> list[str]:
        """The key-driver findings as sentences: the model, the top driver, journeys against
        touchpoints, what to fix first, the biggest must-have and what was skipped."""
        imp = self.importance
        top, r = imp.index[0], imp.iloc[0]
        lines = [f"The analysis explains **{humanize(self.outcome)}** from {len(imp)} drivers, using "
                 f"{format_count(self.model.n_)} respondents; together the drivers explain "
                 f"R² = {self.model.r2_:.2f} of its variance."]
        if "shapley_lo" in imp:
            lines.append(f"**{humanize(top)}** matters most: {format_value(r['shapley_share'], 'share', digits=0)} of the explained "
                         f"variance ({format_interval(r['shapley_lo'], r['shapley_hi'], 'share', digits=0)}, rank "
                         f"{int(r['rank_lo'])}–{int(r['rank_hi'])} in the bootstrap; n rated = "
                         f"{format_count(r['n_rated'])}).")
        jb, tb = self.block_share("journey"), self.block_share("touchpoint")
        if jb and tb:
            verdict = "more" if jb["share"] > tb["share"] else "less"
            lines.append(f"**Journeys explain {verdict} than touchpoints:** the journey ratings hold "
                         f"{format_estimate(jb['share'], jb['lo'], jb['hi'], 'share', digits=0)} of the explained "
                         f"variance, the touchpoint ratings "
                         f"{format_estimate(tb['share'], tb['lo'], tb['hi'], 'share', digits=0)}.")
        ob = self.block_share(OPERATIONAL)
        if ob:
            facts = [humanize(c.split(": ", 1)[1]) for c in imp.index if c.startswith(f"{OPERATIONAL}: ")]
            lines.append(f"**Operational facts** ({', '.join(facts)}) hold "
                         f"{format_estimate(ob['share'], ob['lo'], ob['hi'], 'share', digits=0)} of the explained "
                         "variance, the ratings the rest.")
        fix = imp.index[imp["fix_first"]].tolist()
        if fix:
            lines.append("**Fix first** (important and below-median performance): " + ", ".join(map(humanize, fix)) + ".")
        if self.value_model is not None and "shapley_lo" in self.value_model.importance_:
            v = self.value_model.importance_
            vtop, vr = v.index[0], v.iloc[0]
            same = "the same driver" if vtop == top else f"not {humanize(top)}"
            lines.append(f"**Weighted by {humanize(self.value_basis)}**, {humanize(vtop)} matters most ({same}): "
                         f"{format_estimate(vr['shapley_share'], vr['shapley_lo'], vr['shapley_hi'], 'share', digits=0)}"
                         f" of the explained variance (n = {format_count(self.value_model.n_)} respondents with a "
                         "value).")
        must = self.must_haves()
        if len(must):
            m = must.iloc[0]
            lines.append(f"**Biggest must-have:** a poor score on {humanize(must.index[0])} costs "
                         f"{format_estimate(m['penalty'], m['penalty_lo'], m['penalty_hi'], digits=2)} on the outcome.")
        return [capitalize(line) for line in lines] + [f"*Skipped:* {x}" for x in self.skipped]

    def priorities(self) -> list[dict]:
        """The fix-first drivers (important and performing below the median) as records with
        their share of the explained variance, its interval, rank interval, performance and n:
        what the action list of 04 turns into ranked actions."""
        imp = self.importance
        rows = []
        for d, r in imp[imp["fix_first"]].iterrows():
            rows.append({"driver": d, "outcome": self.outcome, "share": float(r["shapley_share"]),
                         "lo": float(r.get("shapley_lo", float("nan"))), "hi": float(r.get("shapley_hi", float("nan"))),
                         "rank_lo": r.get("rank_lo"), "rank_hi": r.get("rank_hi"), "performance": r.get("performance"),
                         "mean_score": float(r["mean_score"]), "n_rated": int(r["n_rated"])})
        return rows

    def write(self, paths: ClientPaths) -> None:
        """Write what the recommendations read: the fix-first drivers."""
        write_json(paths.driver_priorities, self.priorities())

    @property
    def effect_unit(self) -> str:
        """The unit of an effect on the outcome: scale points, or a share for a yes/no outcome."""
        return "share of respondents, 0–1" if getattr(self.model, "binary_", False) else f"points of {self.outcome}"

    def must_haves(self) -> pd.DataFrame:
        """Drivers typed 'must-have', biggest penalty first (empty without the asymmetry test)."""
        a = self.asymmetry
        if a is None or not len(a):
            return pd.DataFrame()
        return a[a["type"] == "must-have"].sort_values("penalty", ascending=False)

    def top_by_segment(self, column: str) -> str:
        """'Top driver by segment: business: X; residential: Y.'"""
        seg = self.segments[column]
        tops = seg[seg["rank"] == 1].set_index("segment")["driver"]
        return f"Top driver by {humanize(column)}: " + "; ".join(f"{display_name(k)}: {humanize(v)}" for k, v in tops.items()) + "."

    def value_table(self) -> pd.DataFrame:
        """Each driver's share unweighted beside its share weighted by customer value."""
        if self.value_model is None:
            return pd.DataFrame()
        v = self.value_model.importance_
        cols = [c for c in ("shapley_share", "shapley_lo", "shapley_hi") if c in v]
        imp = self.model.importance_[cols].add_prefix("all: ")
        return imp.join(v[cols].add_prefix(f"by {humanize(self.value_basis)}: "))

    def block_share(self, block: str) -> dict | None:
        g = getattr(self.model, "groups_", None)
        if g is None or block not in g.index:
            return None
        r = g.loc[block]
        return {"share": float(r["share"]), "lo": float(r["lo"]), "hi": float(r["hi"])}

    def metrics(self) -> dict:
        """The ``drivers`` section of the report's figures (churn and money are filled by their own steps)."""
        imp = self.importance
        return {"outcome": self.outcome, "n": int(self.model.n_), "r2": float(self.model.r2_),
                "importance": {d: {"share": float(r["shapley_share"]), "lo": float(r.get("shapley_lo", float("nan"))),
                                   "hi": float(r.get("shapley_hi", float("nan"))), "rank": int(r["rank"])}
                               for d, r in imp.iterrows()},
                **({"value_weighted": {"basis": self.value_basis, "n": int(self.value_model.n_),
                                       "importance": {d: {"share": float(r["shapley_share"]),
                                                          "lo": float(r.get("shapley_lo", float("nan"))),
                                                          "hi": float(r.get("shapley_hi", float("nan")))}
                                                      for d, r in self.value_model.importance_.iterrows()}}}
                   if self.value_model is not None else {}),
                "journey_block_share": self.block_share("journey"),
                "touchpoint_block_share": self.block_share("touchpoint"),
                "churn": None, "revenue_at_risk": None}


def asymmetry_thresholds(driver_metric: dict[str, str], config: ClientConfig) -> tuple[dict, dict]:
    """Per driver: 'poor' is below the metric's green threshold; 'excellent' is the top score
    (the top two on scales of more than seven points, e.g. NPS 9-10)."""
    scales = config.all_scales()
    green = config.analysis.green_threshold
    low, high = {}, {}
    for d, metric in driver_metric.items():
        lo, hi = scales[metric]
        low[d] = green.get(metric, lo + (hi - lo) * 0.6)
        high[d] = hi - 1 if hi - lo > 6 else hi
    return low, high


def diagnose_drivers(surveys: pd.DataFrame, config: ClientConfig, *, customers: pd.DataFrame | None = None,
                     n_boot: int | None = None, seed: int = 0) -> DriverDiagnosis:
    """Key drivers of the configured outcome with intervals, the journey-vs-touchpoint block
    shares, rankings by segment and penalty-reward asymmetry. Raises ValueError with a
    plain message when the surveys cannot support the analysis."""
    s = config.analysis.drivers
    n_boot = s.n_boot if n_boot is None else n_boot
    X, y = build_driver_table(surveys, outcome_level=s.outcome_level, outcome_metric=s.outcome_metric,
                              driver_levels=tuple(s.driver_levels), min_rated=s.min_rated)
    if s.operational:
        if customers is None:
            raise ValueError(f"operational drivers {s.operational} need a customer table, and there is none")
        ops = build_operational_drivers(customers, s.operational, X.index)
        X = pd.concat([X, ops.loc[:, ops.notna().sum() >= s.min_rated]], axis=1)
    if X.shape[1] == 0:
        raise ValueError(f"no driver is rated by at least {s.min_rated} respondents")
    if y.nunique() < 2:
        raise ValueError(f"every one of the {len(y):,} {s.outcome_level} {s.outcome_metric} ratings is "
                         f"{y.iloc[0]:g} (zero variance), so there is nothing for drivers to explain")
    constant = [c for c in X if X[c].nunique() < 2]
    X = X.drop(columns=constant)
    if X.shape[1] == 0:
        raise ValueError("every driver has a single rating value (zero variance): "
                         f"{', '.join(constant[:5])}{' …' if len(constant) > 5 else ''}")
    multi = len(s.driver_levels) > 1
    operational = [c for c in X if c.startswith(f"{OPERATIONAL}: ")]
    groups = ({lvl: [c for c in X if c.startswith(f"{lvl}: ")] for lvl in s.driver_levels} if multi else
              {"ratings": [c for c in X if c not in operational]})
    groups[OPERATIONAL] = operational
    groups = {k: v for k, v in groups.items() if v}
    model = DriverAnalysis(missing=s.missing, n_boot=n_boot, groups=groups if groups and len(groups) > 1 else None,
                           seed=seed).fit(X, y)
    # each driver's metric (for its scale and green threshold)
    d = surveys[surveys["level"].isin(s.driver_levels)]
    name = d["subject"] if not multi else d["level"] + ": " + d["subject"]
    metric = d.assign(driver=name).groupby("driver")["metric"].agg(lambda m: m.mode().iat[0])
    driver_metric = {c: metric[c] for c in X.columns if c not in operational}
    skipped = [f"Driver '{c}' has one rating value for every respondent (zero variance) and is left out."
               for c in constant]
    segments = {}
    for col in s.segments:
        if customers is None or col not in customers:
            skipped.append(f"Segment column '{col}' is not in the customer table.")
            continue
        seg = customers.set_index("customer_id")[col]
        segments[col] = compare_segments(X, y, seg.reindex(X.index), n_boot=max(50, n_boot // 4),
                                         missing=s.missing, seed=seed)
    low, high = asymmetry_thresholds(driver_metric, config)
    asym = estimate_asymmetry(X[list(driver_metric)], y, low_below=low, high_at=high, n_boot=max(50, n_boot // 2),
                              seed=seed)
    value_model, basis = fit_value_weighted(X, y, customers, s.missing, groups, n_boot, seed, skipped)
    return DriverDiagnosis(f"{s.outcome_level} {s.outcome_metric}", X, y, model, driver_metric, segments, asym,
                           skipped, config.all_scales(), value_model, basis)


VALUE_COLUMNS = ("lifetime_value", "monthly_revenue")
"""Customer columns that weight the drivers by value, first present wins."""


def fit_value_weighted(X: pd.DataFrame, y: pd.Series, customers: pd.DataFrame | None, missing: str,
                       groups: dict, n_boot: int, seed: int, skipped: list[str]) -> tuple[DriverAnalysis | None, str | None]:
    """The driver analysis with each respondent weighted by their value (lifetime value, else
    monthly revenue), so the shares say what matters to the customers worth most; ``(None,
    None)`` without a value column or with too few respondents valued (noted in ``skipped``)."""
    if customers is None:
        return None, None
    basis = next((c for c in VALUE_COLUMNS if c in customers and customers[c].notna().any()), None)
    if basis is None:
        return None, None
    value = customers.drop_duplicates("customer_id").set_index("customer_id")[basis].reindex(X.index)
    if (value > 0).sum() < max(30, X.shape[1] + 10):
        skipped.append(f"Too few respondents have a {humanize(basis)} to weight the drivers by value.")
        return None, None
    try:
        fit = DriverAnalysis(missing=missing, n_boot=n_boot, groups=groups if groups and len(groups) > 1 else None,
                             seed=seed).fit(X, y, sample_weight=value.fillna(0).to_numpy())
    except ValueError as err:
        skipped.append(f"The value-weighted driver analysis could not be fitted: {err}.")
        return None, None
    return fit, basis


def diagnose_drivers_if_possible(surveys: pd.DataFrame | None, config: ClientConfig, *,
                                 customers: pd.DataFrame | None = None, n_boot: int | None = None,
                                 seed: int = 0) -> tuple[DriverDiagnosis | None, str | None]:
    """:func:`diagnose_drivers`, or ``(None, why)`` in plain words when the client's surveys
    cannot support a key-driver analysis."""
    s = config.analysis.drivers
    if surveys is None:
        reason = "the client sent no survey table"
    else:
        try:
            return diagnose_drivers(surveys, config, customers=customers, n_boot=n_boot, seed=seed), None
        except ValueError as err:
            reason = str(err)
    return None, (f"the key-driver analysis needs {humanize(s.outcome_level + ' ' + s.outcome_metric)} ratings and driver "
                  f"ratings from the same respondents; {reason}.")


def build_driver_metrics(drivers, churn) -> dict:
    """The ``drivers`` section of the report's figures from a
    :class:`DriverDiagnosis` (or None when there were no surveys) and a
    :class:`~cxlib.drivers.churn_diagnosis.ChurnDiagnosis` (or None)."""
    out = drivers.metrics() if drivers is not None else {
        "outcome": None, "n": 0, "r2": None, "importance": {}, "journey_block_share": None,
        "touchpoint_block_share": None}
    if churn is not None:
        out |= churn.metrics()
    else:
        out |= {"churn": None, "revenue_at_risk": None}
    return out
