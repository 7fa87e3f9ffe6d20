"""Churn, money and churn reasons recover what the demo generator planted (full-size demo, seed 42)."""
import pytest

from cxlib.drivers.churn import CHURN_REASON_BENCHMARK, ChurnModel, build_churn_table, summarize_churn_reasons
from cxlib.drivers.money import estimate_failure_effect


@pytest.fixture(scope="module")
def churn_model(demo_journeys):
    d = demo_journeys
    X, y, info = build_churn_table(d["tables"]["customers"], d["diagnosis"].journeys, as_of=d["as_of"],
                                   horizon_days=d["config"].analysis.churn_window_days)
    return ChurnModel(n_boot=60, seed=42).fit(X, y, groups=info["groups"]), info


@pytest.mark.parametrize("journey_type, bad, good", [
    ("new_install", "install_failed_churn_90d", "journey_ok_churn_90d"),
    ("move", "move_wrong_churn_90d", "move_ok_churn_90d"),
    ("repair", "repair_not_first_time_churn_90d", "journey_ok_churn_90d"),
])
def test_churn_after_a_journey_that_went_wrong_matches_the_planted_uplift(demo_journeys, journey_type, bad, good):
    planted = demo_journeys["truth"]["planted"]
    e = estimate_failure_effect(demo_journeys["diagnosis"].journeys, journey_type, n_boot=400)
    uplift = planted[bad] - planted[good]
    assert e["churn_diff_lo"] > 0                               # the sign
    assert e["churn_diff"] == pytest.approx(uplift, abs=0.06)   # and the rough size


def test_churn_model_finds_the_planted_drivers(churn_model, demo_journeys):
    m, info = churn_model
    planted = demo_journeys["truth"]["planted"]
    d = m.drivers_
    assert info["design"] == "landmark" and len(info["landmarks"]) >= 3
    # a customer has a row per landmark: the design's customer count is of distinct customers
    assert info["customers"] == len(set(info["groups"].tolist())) < info["n"]
    for driver in ("new_install: went wrong", "move: went wrong", "plan = Basic", "segment = residential"):
        assert d.loc[driver, "lo"] > 1, driver                  # each raises churn, clearly
    # the journey failures are the strongest drivers, ahead of any customer attribute
    assert set(d.index[:2]) == {"new_install: went wrong", "move: went wrong"}
    # attribute effects in rough size: basic plan x1.5, residential vs business 7% vs 4% a year
    assert d.loc["plan = Basic", "lo"] < planted["basic_plan_churn_multiplier"] < d.loc["plan = Basic", "hi"]
    ratio = planted["baseline_annual_churn"]["residential"] / planted["baseline_annual_churn"]["business"]
    assert d.loc["segment = residential", "lo"] < ratio < d.loc["segment = residential", "hi"]
    # region has no planted effect
    assert not d.filter(like="region", axis=0)["significant"].all()
    assert 0.55 < m.auc_cv_ and m.auc_ci_[0] < m.auc_cv_ < m.auc_ci_[1]


def test_churn_reasons_against_the_benchmark(demo_journeys):
    cfg, truth = demo_journeys["config"], demo_journeys["truth"]
    r = summarize_churn_reasons(demo_journeys["tables"]["customers"], categories=cfg.analysis.churn.reason_categories)
    by_reason = truth["churn"]["by_reason"]
    assert r["n"].sum() == truth["churn"]["customers_churned"] == sum(by_reason.values())
    assert set(r.index) == set(CHURN_REASON_BENCHMARK)           # every raw reason is mapped
    staff = by_reason["Unhappy with service"] + by_reason["Rude or unhelpful staff"]
    assert r.loc["Staff attitude", "n"] == staff
    assert r.loc["Died", "n"] == by_reason["Deceased"]


def test_an_onboarding_that_the_customer_left_is_the_churn_not_its_cause(demo_journeys, churn_model):
    """The demo's onboarding drop-outs are customers leaving before their first bill: they are
    not 'went wrong', have no churn after them, and the onboarding gets no churn effect and no
    revenue at risk (reverse causation), while the planted install and move effects stay."""
    from cxlib.drivers.churn_diagnosis import keep_journeys_that_hurt_when_wrong
    from cxlib.drivers.money import estimate_journey_revenue_at_risk
    from cxlib.journeys import estimate_baseline_churn, flag_went_wrong
    d = demo_journeys
    j = d["diagnosis"].journeys
    onb = j[j["journey_type"] == "onboarding"]
    departed = onb["ended_by_departure"]
    assert departed.sum() >= 0.8 * (onb["status"] == "dropped_out").sum() > 0
    assert not flag_went_wrong(onb)[departed].any() and onb.loc[departed, "churned_in_window"].isna().all()
    m, _ = churn_model
    effect = m.drivers_.loc["onboarding: went wrong"] if "onboarding: went wrong" in m.drivers_.index else None
    assert effect is None or effect["lo"] < 1 < effect["hi"]
    baseline = estimate_baseline_churn(d["tables"]["customers"], j["start"].min(), d["as_of"])
    money = estimate_journey_revenue_at_risk(j, d["tables"]["customers"], baseline=baseline, n_boot=200)
    kept, notes = keep_journeys_that_hurt_when_wrong(money, j)
    assert {"new_install", "move"} <= set(kept.index) and "onboarding" not in kept.index
    assert any(n.startswith("revenue at risk for onboarding:") for n in notes)
    assert (kept["wrong_churn_diff_lo"] > 0).all()


def test_churn_risk_scores_each_customer_at_the_last_landmark(churn_model, demo_journeys):
    """The risk 05's call-back list ranks by: one probability per customer active at the last
    landmark, higher for those whose move or install just went wrong."""
    from cxlib.drivers.churn_diagnosis import ChurnDiagnosis
    m, info = churn_model
    d = demo_journeys
    X, y, _ = build_churn_table(d["tables"]["customers"], d["diagnosis"].journeys, as_of=d["as_of"],
                                horizon_days=d["config"].analysis.churn_window_days)
    risk = ChurnDiagnosis(X=X, y=y, info=info, model=m).churn_risk()
    last = X.xs(max(info["landmarks"]), level="landmark")
    assert risk["customer_id"].is_unique and len(risk) == len(last)
    assert (risk["at"] == max(info["landmarks"])).all() and risk["churn_probability"].between(0, 1).all()
    wrong = (last["move: went wrong"] + last["new_install: went wrong"] > 0).to_numpy()
    p = risk["churn_probability"].to_numpy()
    assert wrong.sum() > 20 and p[wrong].mean() > 2 * p[~wrong].mean()
    assert ChurnDiagnosis().churn_risk().empty


def test_the_typed_journeys_alone_give_the_same_churn_table_and_money(demo_journeys, tmp_path):
    """03 reads only the typed journeys (most rows of a large log are unclassified episodes): the
    span of the whole table travels with them, so the landmarks, the churn table, the baseline
    and the money per journey type are those of the whole table."""
    import pandas as pd

    from cxlib.drivers.money import estimate_journey_revenue_at_risk, measure_journey_period
    from cxlib.journeys import read_journeys
    from cxlib.journeys.reconstruct import UNCLASSIFIED, get_journey_span, write_journey_table
    from cxlib.journeys.stats import estimate_baseline_churn
    d = demo_journeys
    write_journey_table(tmp_path / "journeys.parquet", d["diagnosis"].journeys, d["diagnosis"].recon.unclassified)
    full = pd.read_parquet(tmp_path / "journeys.parquet")     # as 02 writes it: the unclassified episodes too
    typed = read_journeys(tmp_path / "journeys.parquet", typed_only=True)[0]
    assert len(typed) == (full["journey_type"] != UNCLASSIFIED).sum() < len(full)
    # the whole table starts earlier than its first typed journey: without the span the landmarks would move
    assert full["start"].min() < typed["start"].min()
    assert get_journey_span(typed) == (full["start"].min(), full["end"].max())
    assert get_journey_span(typed[typed["journey_type"] == "move"]) == get_journey_span(full)
    customers, horizon = d["tables"]["customers"], d["config"].analysis.churn_window_days
    a, b = (build_churn_table(customers, j, as_of=d["as_of"], horizon_days=horizon) for j in (full, typed))
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_series_equal(a[1], b[1])
    assert a[2]["landmarks"] == b[2]["landmarks"]
    assert measure_journey_period(typed) == measure_journey_period(full)
    base = [estimate_baseline_churn(customers, get_journey_span(j)[0], d["as_of"], window_days=horizon)
            for j in (full, typed)]
    assert base[0] == base[1]
    money = [estimate_journey_revenue_at_risk(j, customers, baseline=base[0], n_boot=200, seed=1) for j in (full, typed)]
    pd.testing.assert_frame_equal(money[0], money[1])


def test_pricing_journeys_beside_the_model_gives_what_one_after_the_other_gives(demo_journeys):
    """diagnose_churn fits the churn model and prices the journeys on two threads: every figure
    and note is the one the two steps give run one after the other."""
    import json
    from cxlib.drivers.churn_diagnosis import ChurnDiagnosis, _fit_churn_model, diagnose_churn, price_journeys
    d = demo_journeys
    customers, journeys, cfg = d["tables"]["customers"], d["diagnosis"].journeys, d["config"]
    both = diagnose_churn(customers, cfg, journeys=journeys, as_of=d["as_of"], n_boot=30, seed=3)
    alone = ChurnDiagnosis(currency=cfg.currency or "", horizon_months=cfg.analysis.revenue_horizon_months)
    _fit_churn_model(alone, customers, journeys, cfg, as_of=d["as_of"], n_boot=30, seed=3)
    part = price_journeys(customers, journeys, cfg, as_of=d["as_of"], seed=3)
    alone.skipped += part.pop("skipped")
    for key, value in part.items():
        setattr(alone, key, value)
    assert both.scenarios is not None and len(both.scenarios) and both.journey_money is not None
    assert json.dumps(both.metrics(), sort_keys=True, default=str) == json.dumps(alone.metrics(), sort_keys=True,
                                                                                default=str)
    assert both.skipped == alone.skipped and both.journey_per == alone.journey_per
