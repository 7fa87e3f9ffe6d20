"""The churn and money diagnosis of one client in one call (the second half of ``03_drivers``).

:func:`diagnose_churn` builds the churn table, fits :class:`~cxlib.drivers.churn.ChurnModel`, prices
each driver and each journey type, runs the improvement scenarios and summarises stated
churn reasons against the benchmark. Each part says what it skipped and why.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cxlib.drivers.churn import (ChurnModel, build_churn_table, drop_collinear, estimate_driver_revenue_at_risk,
                                summarize_churn_reasons)
from cxlib.core.config import ClientConfig
from cxlib.core.formatting import format_count, format_estimate, format_interval, format_value, humanize
from cxlib.core.jsonio import write_json
from cxlib.core.paths import ClientPaths
from cxlib.journeys.stats import estimate_baseline_churn, flag_went_wrong
from cxlib.journeys.reconstruct import UNCLASSIFIED, get_journey_span
from cxlib.drivers.money import (estimate_failure_effect, estimate_journey_revenue_at_risk, measure_journey_period,
                                 simulate_failure_reduction, simulate_score_rise)


TOO_UNCERTAIN = 10   # an odds ratio whose interval spans more than this factor is not sized in prose


@dataclass
class ChurnDiagnosis:
    X: pd.DataFrame | None = None
    y: pd.Series | None = None
    info: dict = field(default_factory=dict)
    model: ChurnModel | None = None
    driver_money: pd.DataFrame | None = None      # revenue at risk per binary driver
    journey_money: pd.DataFrame | None = None     # revenue at risk per journey type
    baseline: dict | None = None
    scenarios: pd.DataFrame | None = None
    reasons: pd.DataFrame | None = None
    currency: str = ""
    horizon_months: int = 12
    per: str = "a year"          # the period money figures are per: a year, or the churn flag's unknown period
    journey_per: str = "a year"  # what journey volumes are per: a year, or the days the journeys cover
    skipped: list[str] = field(default_factory=list)

    def metrics(self) -> dict:
        """``churn`` and ``revenue_at_risk`` for the report's figures, plus the money per driver and
        the scenarios (extra keys)."""
        m = self.model
        churn = None if m is None else {"auc_cv": m.auc_cv_, "auc_lo": m.auc_ci_[0], "auc_hi": m.auc_ci_[1],
                                        "n": m.n_, "churners": m.churners_, "design": self.info.get("design"),
                                        "customers": self.info.get("customers"), "money_per": self.per}
        money = lambda df: None if df is None or not len(df) else {  # noqa: E731
            k: {"value": r["value"], "lo": r["lo"], "hi": r["hi"]} for k, r in df.iterrows()}
        return {"churn": churn, "revenue_at_risk": money(self.journey_money),
                "revenue_at_risk_by_driver": money(self.priced_drivers()), "scenarios": self.scenario_records()}

    def summary(self) -> list[str]:
        """The churn and money findings as sentences: the model's AUC, the biggest churn raisers,
        the journey with the most revenue at risk, the priced churn driver with the most revenue
        at risk, the best-paying scenario and what was skipped."""
        cur, lines = self.currency, []
        money = lambda v, lo, hi: format_estimate(v, lo, hi, "money", currency=cur)  # noqa: E731
        if self.model is not None:
            m = self.model
            unit = "customer-periods" if self.info.get("design") == "landmark" else "customers"
            lines.append(f"**Churn model:** cross-validated ROC AUC {m.auc_cv_:.2f} ({format_interval(*m.auc_ci_)}; "
                         f"n = {format_count(m.n_)} {unit}, {format_count(m.churners_)} churners).")
            raises = m.drivers_[m.drivers_["lo"] > 1]
            sized = raises["hi"] / raises["lo"] <= TOO_UNCERTAIN
            risers = raises[sized].head(3)
            if len(risers):
                lines.append("**Biggest churn raisers:** " + "; ".join(
                    f"{humanize(d)} (odds × {r['odds_ratio']:.1f}, {format_interval(r['lo'], r['hi'], digits=1)})"
                    for d, r in risers.iterrows()) + ".")
            if (~sized).any():
                lines.append("Raise churn, but too uncertain to size (the interval spans more than a factor of "
                             f"{TOO_UNCERTAIN}): " + ", ".join(map(humanize, raises.index[~sized])) + ".")
        if self.journey_money is not None and len(self.journey_money):
            r = self.journey_money.iloc[0]
            lines.append(f"**Most revenue at risk:** {humanize(self.journey_money.index[0])}, "
                         f"{money(r['value'], r['lo'], r['hi'])} over {self.horizon_months} months, for "
                         + ("a year's journeys." if self.journey_per == "a year" else f"the journeys {self.journey_per}."))
        priced = self.priced_drivers()
        if priced is not None and len(priced):
            r = priced.iloc[0]
            lines.append(f"**Churn driver with the most revenue at risk:** {humanize(priced.index[0])}, "
                         f"{money(r['value'], r['lo'], r['hi'])} {self.per} ({format_count(r['customers'])} customers "
                         "carry it).")
        if self.scenarios is not None and len(self.scenarios):
            best = self.scenarios.sort_values("revenue_kept", ascending=False).iloc[0]
            lines.append(f"**Best-paying scenario:** {humanize(best.name)}: "
                         f"{money(best['revenue_kept'], best['revenue_kept_lo'], best['revenue_kept_hi'])} kept "
                         f"{self.journey_per}.")
        return lines + [f"*Skipped:* {x}" for x in self.skipped]

    def priced_drivers(self) -> pd.DataFrame | None:
        """Revenue at risk of the churn drivers the client can act on (journeys, contacts and the
        configured ``analysis.churn.actionable`` columns) whose interval lies above zero and spans
        less than a factor of ``TOO_UNCERTAIN``, largest first. Customer attributes are controls
        and never priced."""
        if self.driver_money is None:
            return None
        m = self.driver_money
        return m[m["actionable"] & (m["lo"] > 0) & (m["hi"] <= TOO_UNCERTAIN * m["lo"])]

    def attribute_drivers(self) -> list[dict]:
        """The priced churn drivers that are levels of the customer columns the client listed as
        actionable (``analysis.churn.actionable``: a month-to-month contract, a payment method), as
        records for the action list of 04: the driver, the customers who carry it, the excess churners
        the model puts among them, the revenue at risk with its interval and the period it is over.
        Journey and contact drivers are left out: their fixes are the journey and contact actions."""
        priced = self.priced_drivers()
        if priced is None or not len(priced):
            return []
        own = priced[priced.index.isin(self.info.get("controls", []))]
        return [{"driver": str(d), "customers": int(r["customers"]), "excess_churners": float(r["excess_churners"]),
                 "value": float(r["value"]), "lo": float(r["lo"]), "hi": float(r["hi"]), "per": self.per}
                for d, r in own.iterrows()]

    def driver_money_table(self) -> pd.DataFrame:
        """Revenue at risk per 0/1 churn driver with whether it is priced (actionable, interval
        above zero) as yes/no."""
        m = self.driver_money
        priced = m.index.isin(self.priced_drivers().index)
        return m.drop(columns="actionable").assign(actionable=m["actionable"].map({True: "yes", False: "no (control)"}),
                                                   priced=["yes" if p else "no" for p in priced])

    def describe_design(self) -> str:
        """How the churn model was fitted and how well it ranks, in one sentence."""
        m, info = self.model, self.info
        design = (f"{len(info['landmarks'])} landmarks, {info['horizon_days']} days apart"
                  if info["design"] == "landmark" else "one row per customer")
        return (f"Design: {info['design']} ({design}); {format_count(info['customers'])} customers, "
                f"{format_count(m.n_)} rows, {format_count(m.churners_)} churners. Cross-validated AUC "
                f"**{m.auc_cv_:.3f}** ({format_interval(*m.auc_ci_, digits=3)}).")

    def describe_reasons(self) -> str:
        """The most common stated reason for leaving, with its share and interval."""
        top = self.reasons.iloc[0]
        return (f"The most common stated reason is **{self.reasons.index[0]}**: "
                f"{format_estimate(top['share'], top['lo'], top['hi'], 'share', digits=0)} of "
                f"{format_count(self.reasons['n'].sum())} churners.")

    def skipped_about(self, *words: str) -> str:
        """The skip reasons that mention any of ``words``, joined; '' when none do."""
        return "; ".join(x for x in self.skipped if any(w in x for w in words))

    def scenario_records(self) -> list[dict] | None:
        """The improvement scenarios as plain records (None when there are none)."""
        if self.scenarios is None or not len(self.scenarios):
            return None
        return [{k: v for k, v in r.items() if not str(k).startswith("_")}
                for r in self.scenarios.reset_index().to_dict("records")]

    def churn_risk(self) -> pd.DataFrame:
        """Each customer's modelled churn probability over the model's horizon, from their
        latest row: the last landmark (landmark design) or the customer's one row for those
        who had not left (cross-sectional). Columns customer_id, churn_probability, at (the
        landmark, or NaT). Empty without a model."""
        cols = ["customer_id", "churn_probability", "at"]
        if self.model is None or self.X is None:
            return pd.DataFrame(columns=cols)
        if self.info.get("design") == "landmark":
            last = max(self.info["landmarks"])
            rows = self.X.xs(last, level="landmark")
            at = last
        else:
            rows = self.X[self.y.to_numpy() == 0]
            at = pd.NaT
        return pd.DataFrame({"customer_id": rows.index.astype(str), "churn_probability": self.model.predict_proba(rows),
                             "at": at})[cols]

    def write(self, paths: ClientPaths) -> None:
        """Write what the later sections read: the improvement scenarios and the priced churn
        drivers the client can act on (04), and each customer's churn risk (the call-back list of 05)."""
        write_json(paths.scenarios, self.scenario_records() or [])
        write_json(paths.churn_drivers, self.attribute_drivers())
        paths.churn_risk.parent.mkdir(parents=True, exist_ok=True)
        self.churn_risk().to_parquet(paths.churn_risk, index=False)


def _default_scenarios(journeys: pd.DataFrame, driver_names: list[str], fix_share: float = 0.5) -> list[dict]:
    """Cut the went-wrong share of each journey type by ``fix_share`` (the report's one
    assumption of what a fix removes), and +1 point on each journey score that is a driver."""
    out = []
    typed = journeys[journeys["journey_type"] != UNCLASSIFIED]
    wrong = flag_went_wrong(typed).groupby(typed["journey_type"]).mean()
    for jt, share in wrong.items():
        if 0.05 <= share <= 0.95:
            out.append({"journey": jt, "wrong_share_to": round(share * (1 - fix_share), 3)})
    for jt in sorted(set(typed["journey_type"])):
        if f"journey: {jt}" in driver_names or jt in driver_names:
            out.append({"journey": jt, "score_change": 1.0})
    return out


def flag_actionable(features, controls: list[str], actionable: list[str]) -> pd.Series:
    """True for a churn feature the client can act on: anything but a customer attribute
    (journeys and what happened in them), or a level of a column listed in ``actionable``."""
    features = pd.Index(features)
    own = features.isin(controls)
    chosen = pd.Series([any(f == k or f.startswith(f"{k} = ") for k in actionable) for f in features], index=features)
    return pd.Series(~own, index=features) | chosen


def keep_journeys_that_hurt_when_wrong(money: pd.DataFrame, journeys: pd.DataFrame, *,
                                       seed: int = 0) -> tuple[pd.DataFrame, list[str]]:
    """Revenue at risk only for the journey types whose customers churn more after a journey
    that went wrong than after one that went right (the difference's 95% interval above zero):
    churn that follows a journey however it goes is not something fixing the journey removes.
    Returns the kept rows, with the difference and its interval, and one sentence per type left
    out saying why."""
    if money is None or not len(money):
        return money, []
    effects = {jt: estimate_failure_effect(journeys, jt, seed=seed) for jt in money.index}
    out = money.assign(**{c: [effects[jt].get(k) for jt in money.index] for c, k in
                          (("wrong_churn_diff", "churn_diff"), ("wrong_churn_diff_lo", "churn_diff_lo"),
                           ("wrong_churn_diff_hi", "churn_diff_hi"))})
    hurts = out["wrong_churn_diff_lo"].astype(float) > 0
    notes = [f"revenue at risk for {humanize(jt)}: customers do not churn measurably more after one that went wrong "
             f"({_describe_effect(effects[jt])}), so no revenue at risk is put on it"
             for jt in out.index[~hurts]]
    sized = out["hi"] <= TOO_UNCERTAIN * out["lo"]
    notes += [f"revenue at risk for {humanize(jt)}: too uncertain to size (95% CI "
              f"{format_value(out.loc[jt, 'lo'], 'money')}–{format_value(out.loc[jt, 'hi'], 'money')} spans more than "
              f"a factor of {TOO_UNCERTAIN})" for jt in out.index[hurts & ~sized]]
    return out[hurts & sized], notes


def _describe_effect(effect: dict) -> str:
    if effect.get("churn_diff") is None:
        return f"{format_value(effect['wrong_share'], 'share', digits=1)} of {format_count(effect['n'])} journeys went wrong, " \
               "too few to compare"
    return (f"difference {format_estimate(effect['churn_diff'], effect['churn_diff_lo'], effect['churn_diff_hi'], 'share', digits=1)}"
            f" between {format_count(effect['churn_n_wrong'])} that went wrong and {format_count(effect['churn_n_right'])} "
            "that went right")


def diagnose_churn(customers: pd.DataFrame | None, config: ClientConfig, *, journeys: pd.DataFrame | None = None,
                   as_of=None, driver_X: pd.DataFrame | None = None, driver_y: pd.Series | None = None,
                   n_boot: int | None = None, seed: int = 0) -> ChurnDiagnosis:
    """Churn model, revenue at risk and scenarios for one client. ``driver_X``/``driver_y``
    (the relationship-survey driver table) let scenarios predict the change in NPS.

    The journeys are priced (:func:`price_journeys`) on a worker thread while the churn model is
    fitted: neither reads the other's results, and each has long stretches on one core (the
    churn table and the fold assignment; the scenarios' regressions) that the other fills."""
    from concurrent.futures import ThreadPoolExecutor
    dx = ChurnDiagnosis(currency=config.currency or "", horizon_months=config.analysis.revenue_horizon_months)
    if customers is None:
        dx.skipped.append("the client sent no customer table, so there is no churn to model")
        return dx
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="journey-money") as pool:
        priced = pool.submit(price_journeys, customers, journeys, config, as_of=as_of, driver_X=driver_X,
                             driver_y=driver_y, seed=seed)
        _fit_churn_model(dx, customers, journeys, config, as_of=as_of, n_boot=n_boot, seed=seed)
        part = priced.result()
    dx.skipped += part.pop("skipped")       # after the model's notes, as when run one after the other
    for key, value in part.items():
        setattr(dx, key, value)
    return dx


def _fit_churn_model(dx: ChurnDiagnosis, customers: pd.DataFrame, journeys: pd.DataFrame | None,
                     config: ClientConfig, *, as_of, n_boot: int | None, seed: int) -> None:
    """The churn model, its money per driver and the stated churn reasons, set on ``dx``."""
    a = config.analysis
    s = a.churn
    n_boot = s.n_boot if n_boot is None else n_boot
    horizon = s.horizon_days or a.churn_window_days
    revenue = customers.drop_duplicates("customer_id").set_index("customer_id").get("monthly_revenue")
    try:
        X, y, info = build_churn_table(customers, journeys, as_of=as_of, horizon_days=horizon,
                                       lookback_days=s.lookback_days or horizon, attributes=s.attributes,
                                       exclude=tuple(s.exclude) + tuple(filter(None, [config.privacy.callback_consent])))
        X, info["collinear"] = drop_collinear(X, first=("monthly revenue", "tenure (months)"))
        dx.X, dx.y, dx.info = X, y, info
        if info.get("collinear"):
            dx.skipped.append("churn model: left out as the other features (nearly) determine them: " + "; ".join(
                f"{c} (R² {r2:.2f})" for c, r2 in info["collinear"].items()))
        dx.model = ChurnModel(n_boot=n_boot, seed=seed).fit(X, y, groups=info["groups"] if info["design"] == "landmark" else None)
    except ValueError as err:
        dx.skipped.append(f"churn model: {err}")
    if dx.model is not None and revenue is not None and revenue.notna().any():
        per_year = 1.0
        if dx.info["design"] == "landmark":
            per_year = 365.25 / horizon / len(dx.info["landmarks"])
        else:   # a snapshot churn flag has no time window: money is over whatever period it covers
            dx.per = "over the churn flag's period (the extract has no churn dates)"
        dx.driver_money = estimate_driver_revenue_at_risk(dx.model, dx.X, revenue, horizon_months=a.revenue_horizon_months,
                                                          per_year=per_year)
        dx.driver_money["actionable"] = flag_actionable(dx.driver_money.index, dx.info["controls"], s.actionable)
    elif dx.model is not None:
        dx.skipped.append("revenue at risk per driver: the customer table has no monthly revenue")
    if "churn_reason" in customers and customers["churn_reason"].notna().any():
        dx.reasons = summarize_churn_reasons(customers, categories=s.reason_categories)
    else:
        dx.skipped.append("churn reasons: the customer table has no stated reasons")


def price_journeys(customers: pd.DataFrame, journeys: pd.DataFrame | None, config: ClientConfig, *, as_of=None,
                   driver_X: pd.DataFrame | None = None, driver_y: pd.Series | None = None, seed: int = 0) -> dict:
    """Revenue at risk per journey type and the improvement scenarios: the :class:`ChurnDiagnosis`
    fields they fill (``journey_per``, ``baseline``, ``journey_money``, ``scenarios``) and
    ``skipped``, the notes on what could not be priced."""
    a = config.analysis
    s = a.churn
    out: dict = {"skipped": []}
    if journeys is None or not len(journeys) or not (journeys["journey_type"] != UNCLASSIFIED).any():
        out["skipped"].append("revenue at risk per journey type and scenarios: there are no typed journeys")
        return out
    if "churned_in_window" not in journeys or journeys["churned_in_window"].isna().all():
        out["skipped"].append("revenue at risk per journey type: no churn after journeys could be observed")
        return out
    period = measure_journey_period(journeys, min_days=a.min_annualise_days)
    out["journey_per"] = period.label
    if period.note():
        out["skipped"].append(f"journey volumes: {period.note()}")
    out["baseline"] = estimate_baseline_churn(customers, get_journey_span(journeys)[0], as_of,
                                              window_days=a.churn_window_days)
    money = estimate_journey_revenue_at_risk(journeys, customers, baseline=out["baseline"],
                                             horizon_months=a.revenue_horizon_months,
                                             window_days=a.churn_window_days, seed=seed,
                                             min_days=a.min_annualise_days)
    out["journey_money"], unpriced = keep_journeys_that_hurt_when_wrong(money, journeys, seed=seed)
    out["skipped"] += unpriced
    scenarios = [sc.model_dump() for sc in s.scenarios] or _default_scenarios(
        journeys, list(driver_X.columns) if driver_X is not None else [], a.recommendations.fix_share)
    rows, effects = [], {}      # effects: the NPS regressions' resamples, shared by the scenarios
    for sc in scenarios:
        jt = sc["journey"]
        driver = next((d for d in (f"journey: {jt}", jt) if driver_X is not None and d in driver_X), None)
        kw = dict(horizon_months=a.revenue_horizon_months, X=driver_X, y=driver_y, driver=driver, seed=seed,
                  min_days=a.min_annualise_days, effects=effects)
        try:
            if sc.get("wrong_share_to") is not None:
                rows.append(simulate_failure_reduction(journeys, customers, jt, to_share=sc["wrong_share_to"], **kw))
            else:
                rows.append(simulate_score_rise(journeys, customers, jt, delta=sc["score_change"], **kw))
        except ValueError as err:
            out["skipped"].append(f"scenario for {humanize(jt)}: {err}")
    out["scenarios"] = pd.DataFrame(rows).set_index("scenario") if rows else None
    return out
