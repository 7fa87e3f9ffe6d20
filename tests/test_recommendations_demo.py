"""The contact cascade, value-based service and the action list recover what the demo
generator planted (full-size demo, seed 42)."""
import pandas as pd
import pytest

from cxlib.journeys.stats import flag_went_wrong
from cxlib.drivers.money import simulate_failure_reduction
from cxlib.actions.diagnosis import diagnose_recommendations


@pytest.fixture(scope="module")
def recommendations(demo_journeys):
    d = demo_journeys
    dx, t = d["diagnosis"], d["tables"]
    j = dx.journeys
    half = {jt: flag_went_wrong(j[j["journey_type"] == jt]).mean() / 2 for jt in dx.catalogue.index}
    scenarios = [simulate_failure_reduction(j, t["customers"], jt, to_share=round(share, 3), seed=1)
                 for jt, share in half.items() if share > 0]
    return diagnose_recommendations(d["config"], customers=t["customers"], events=t["events"], surveys=t["surveys"],
                                    journeys=dx.journeys, steps=dx.steps, as_of=d["as_of"],
                                    scenarios=scenarios, journey_findings=dx.findings(), seed=42)


def test_avoidable_share_is_within_two_points_of_the_planted_share(recommendations, demo_journeys):
    planted = demo_journeys["truth"]["contacts"]["avoidable_share"]
    assert recommendations.avoidable["share_all"] == pytest.approx(planted, abs=0.02)
    by_cause = recommendations.by_cause.set_index("avoidable_cause")["avoidable"]
    for cause, n in demo_journeys["truth"]["contacts"]["avoidable_by_cause"].items():
        assert by_cause[cause] == pytest.approx(n, rel=0.15), cause


def test_unprofitable_share_is_within_two_points_of_the_planted_share(recommendations, demo_journeys):
    planted = demo_journeys["truth"]["value"]["unprofitable_share"]
    assert recommendations.unprofitable["share"] == pytest.approx(planted, abs=0.02)


def test_the_planted_poor_agents_are_flagged_and_few_others(recommendations, demo_journeys):
    planted = set(demo_journeys["truth"]["contacts"]["outlier_agents"])
    flagged = set(recommendations.metrics()["agent_outliers"])
    assert planted <= flagged
    assert len(flagged - planted) <= 1   # 99.8% limits: ~0.2 false alarms expected over 57 agents x 3 metrics


def test_self_service_containment_recovers_the_planted_success_rates(recommendations, demo_journeys):
    planted = demo_journeys["truth"]["planted"]["self_service_success"]
    ss = recommendations.self_service.set_index(["contact_reason", "segment"])
    for reason, by_segment in planted.items():
        for segment, rate in by_segment.items():
            row = ss.loc[(reason, segment)]
            assert row["containment"] == pytest.approx(rate, abs=0.04), (reason, segment)


def test_top_actions_fix_the_back_office_order_errors_and_the_move_journey(recommendations):
    top = recommendations.actions.head(5)
    install = top[top["journey_type"] == "new_install"]
    assert len(install) == 1 and install["owner"].iat[0] == "Back office"
    assert "Order corrected" in install["title"].iat[0]
    assert (top["journey_type"] == "move").any()


def test_the_move_fix_names_the_missing_company_step_not_the_customers_complaint(recommendations, demo_journeys):
    """Wrong moves lack the back-office step that updates the billing address; the bill
    complaint and the correction that follow are its consequences, not the fix."""
    missing = demo_journeys["truth"]["planted"]["move_missing_step"]
    move = recommendations.actions[recommendations.actions["journey_type"] == "move"]
    assert len(move) == 1 and f"make sure '{missing}' happens" in move["title"].iat[0]
    sig = recommendations.signature
    first = sig[sig["journey_type"] == "move"].iloc[0]
    assert first["touchpoint"] == missing and not first["present"] and not first["contact"]


def test_every_action_has_evidence_and_a_value_interval(recommendations):
    acts = recommendations.metrics()["actions"]
    assert len(acts) >= 5
    assert [a["priority"] for a in acts] == list(range(1, len(acts) + 1))
    for a in acts:
        assert a["evidence"] and any(ch.isdigit() for ch in a["evidence"])
        assert a["value_lo"] <= a["value"] <= a["value_hi"]
        assert a["owner"]


def test_journey_kpis_have_owners_and_targets(recommendations, demo_journeys):
    k = recommendations.kpis
    assert set(k["journey_type"]) == set(demo_journeys["diagnosis"].catalogue.index)
    assert k["owner"].notna().all()
    assert k.loc[k["journey_type"] == "new_install", "owner"].eq("Field services").all()   # configured owner
    assert k["target"].notna().all()
    from cxlib.actions.kpis import format_kpi_table
    shown = format_kpi_table(k)
    assert "new install" in set(shown["journey"]) and not shown["journey"].str.contains("_").any()   # in words


def test_summary_and_priorities_are_sentences_with_intervals(recommendations):
    r = recommendations
    top = r.list_priorities(3)
    assert len(top) == 3 and all("95% CI" in p and " a year" in p for p in top)
    for p, (_, a) in zip(top, r.actions.head(3).iterrows()):
        assert f"of {a['value_kind']} a year" in p
        assert ("assumed: the fix removes" in p) == bool(a["assumption"])
    assert top[0].startswith(f"**{r.actions['title'].iat[0]}**")
    lines = r.summary()
    share = f"{r.avoidable['share_all']:.1%}"
    assert any(line.startswith("**Avoidable contacts:**") and share in line and "95% CI" in line for line in lines)
    assert any(line.startswith("**Unprofitable customers:**") and "n = 20,000" in line for line in lines)
    assert any(line.startswith(f"**Agents:** {len(r.metrics()['agent_outliers'])} of ") for line in lines)


def test_journey_evidence_cites_the_journey_findings(recommendations):
    move = recommendations.actions[recommendations.actions["journey_type"] == "move"]
    assert move["evidence"].str.contains("watermelon:").any()


def test_assumed_values_say_so_and_their_intervals_carry_the_assumption(recommendations):
    """Every priced action of the demo rests on the share a fix removes: it says so, and its
    interval is at least as wide as the assumption's range times the measured value."""
    a = recommendations.actions
    priced = a[a["value"].notna()]
    assert len(priced) >= 5 and priced["assumption"].str.match(r"assumes the fix (removes|moves) \d+% of ").all()
    assert (priced["value_lo"] <= 0.5 * priced["value"] + 1e-9).all()      # low end of the range: 25% against 50%
    assert (priced["value_hi"] >= 1.5 * priced["value"] - 1e-9).all()      # high end: 75% against 50%
    assert set(priced["value_kind"]) <= {"revenue kept", "cost saved", "revenue kept and cost saved"}
    assert priced["rests_on"].str.len().gt(0).all()
    assert "not on the same scale" in recommendations.describe_values()


def test_a_short_extract_is_not_annualised(demo_journeys):
    """Five days of events: the avoidable-contact cost is over the days observed, not a year."""
    d = demo_journeys
    ev = d["tables"]["events"]
    t0 = ev["timestamp"].min() + (ev["timestamp"].max() - ev["timestamp"].min()) / 2
    short = ev[(ev["timestamp"] >= t0) & (ev["timestamp"] < t0 + pd.Timedelta(days=5))]
    rx = diagnose_recommendations(d["config"], customers=d["tables"]["customers"], events=short, surveys=None,
                                  journeys=None, steps=None, as_of=d["as_of"], seed=1)
    assert rx.per_year == 1.0 and rx.per.startswith("over the") and "days observed" in rx.per
    avoid = next(line for line in rx.summary() if line.startswith("**Avoidable contacts:**"))
    assert avoid.endswith(f"{rx.per}.") and "a year" not in avoid
    assert any(line.startswith("*Period:* the data cover") for line in rx.summary())
    assert rx.metrics()["money_per"] == rx.per


def test_unprofitable_customers_are_explained_by_channel_costs_named_in_words(recommendations):
    d = recommendations.unprofitable_drivers
    channels = set(d.loc[d["kind"] == "channel cost", "item"])
    assert "field visit" in channels and not any("_" in c for c in channels)
