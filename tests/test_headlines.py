"""The standard figures a report opens with: NPS, share satisfied and churn rate with its period."""
import numpy as np
import pandas as pd
import pytest

from cxlib.core.uncertainty import nps_interval
from cxlib.ingest.profile import describe_standard_headlines, measure_standard_headlines
from cxlib.report.summary import headline_figures


def _surveys(scores, metric="nps", level="relationship"):
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(len(scores))], "level": level, "metric": metric,
                         "score": scores, "timestamp": pd.date_range("2025-01-01", periods=len(scores), freq="D")})


def test_nps_is_promoters_minus_detractors_with_an_interval_that_covers_the_truth():
    rng = np.random.default_rng(0)
    population = rng.choice(np.arange(11), size=400, p=[.02] * 5 + [.05, .10, .15, .2, .2, .2])
    h = measure_standard_headlines({"surveys": _surveys(population)})["nps"]
    promoters, detractors = (population >= 9).mean(), (population <= 6).mean()
    assert h["value"] == pytest.approx(100 * (promoters - detractors))
    assert h["lo"] < h["value"] < h["hi"] and h["n"] == 400
    assert h["period"] == ["2025-01-01", "2026-02-04"]
    # the interval is honest: in repeated samples from a known population it covers the true NPS ~95% of the time
    p = np.array([.02] * 5 + [.05, .10, .15, .2, .2, .2])
    truth = 100 * (p[9:].sum() - p[:7].sum())
    covered = 0
    for s in range(400):
        x = rng.choice(np.arange(11), size=300, p=p)
        lo, hi = nps_interval(int((x >= 9).sum()), int((x <= 6).sum()), 300)
        covered += lo <= truth <= hi
    assert 0.92 <= covered / 400 <= 0.98


def test_churn_rate_says_its_period_or_that_it_is_a_snapshot():
    n = 200
    customers = pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)], "churned": [i < 50 for i in range(n)]})
    snapshot = measure_standard_headlines({"customers": customers})["churn"]
    assert snapshot["value"] == 0.25 and snapshot["churners"] == 50 and snapshot["period"] is None
    text = describe_standard_headlines({"churn": snapshot})[0]
    assert text.startswith("**25.0% of customers churned** (95% CI ") and "snapshot" in text and "50 of 200" in text
    dated = customers.assign(churn_date=[pd.Timestamp("2025-03-01") + pd.Timedelta(days=i) if i < 50 else pd.NaT
                                         for i in range(n)])
    h = measure_standard_headlines({"customers": dated})["churn"]
    assert h["period"] == ["2025-03-01", "2025-04-19"]
    assert "churn dates from 2025-03-01 to 2025-04-19" in describe_standard_headlines({"churn": h})[0]


def test_share_satisfied_and_too_few_answers():
    h = measure_standard_headlines({"surveys": _surveys([1] * 30 + [0] * 10, metric="satisfied")})
    assert h["satisfied"]["value"] == 0.75 and "nps" not in h
    assert measure_standard_headlines({"surveys": _surveys([9] * 29)}) == {}          # below 30 answers: no headline


def test_csat_is_the_share_at_or_above_the_green_threshold_on_its_scale():
    scores = [5] * 20 + [4] * 10 + [3] * 6 + [1] * 4
    h = measure_standard_headlines({"surveys": _surveys(scores, metric="csat", level="touchpoint")})["csat"]
    assert h["value"] == pytest.approx(30 / 40) and h["lo"] < 0.75 < h["hi"] and h["n"] == 40
    text = describe_standard_headlines({"csat": h})[0]
    assert text.startswith("**75.0% of CSAT ratings satisfied**") and "ratings of 4 or 5 on a 1–5 scale" in text
    assert "mean 4.05" in text and "n = 40 ratings" in text
    ten = measure_standard_headlines({"surveys": _surveys([9] * 30 + [6] * 10, metric="csat")},
                                     scales={"csat": (0, 10)}, green={"csat": 8})["csat"]
    assert ten["value"] == 0.75 and "ratings of 8 to 10 on a 0–10 scale" in describe_standard_headlines({"csat": ten})[0]


def test_the_front_page_leads_with_the_standard_figures():
    metrics = {"headlines": measure_standard_headlines({"surveys": _surveys([10] * 20 + [3] * 20)}),
               "drivers": {"importance": {"Wifi": {"share": 0.4, "lo": 0.3, "hi": 0.5, "rank": 1}}, "outcome": "x",
                           "n": 40}}
    heads = headline_figures(metrics)
    assert heads[0].startswith("<b>Relationship NPS +0</b> (95% CI ") and "n = 40 responses" in heads[0]
    assert "Wifi" in heads[1]


def test_a_survey_without_dates_gets_no_period():
    s = _surveys([1] * 30 + [0] * 10, metric="satisfied")
    assert measure_standard_headlines({"surveys": s})["satisfied"]["period"] == ["2025-01-01", "2025-02-09"]
    assert measure_standard_headlines({"surveys": s}, undated=["surveys"])["satisfied"]["period"] is None


def test_the_busiest_journey_is_headlined_as_its_page_says_it():
    from cxlib.journeys.findings import describe_largest_journey
    types = {"ticket": {"n": 4580, "completion_rate": 0.995, "completion_lo": 0.993, "completion_hi": 0.997,
                        "completion_n": 4500, "median_duration_days": 39.86, "median_handoffs": 2.0},
             "other": {"n": 20, "completion_rate": None, "median_duration_days": None, "median_handoffs": None}}
    text = describe_largest_journey(types)
    assert text == ("**Ticket** is the busiest journey: 4,580 journeys, 99.5% (95% CI 99.3–99.7%, n = 4,500 journeys due) "
                    "completed, a median of 39.9 days from first to last step, 2 handoffs between departments (median).")
    assert describe_largest_journey({}) is None
    heads = headline_figures({"journeys": {"types": types}})
    assert heads[0].startswith("<b>Ticket</b> is the busiest journey: 4,580 journeys")


def test_contact_reasons_count_only_the_customers_own_contacts_and_name_the_top_reason():
    from cxlib.ingest.profile import summarize_contact_reasons
    ev = pd.DataFrame({
        "customer_id": ["A", "A", "B", "C", "D", "E"] * 10,
        "timestamp": pd.date_range("2025-03-01", periods=60, freq="D"),
        "contact_reason": ["billing", "billing", "fault", "<b>move</b>", "billing", "fault"] * 10,
        "kind": ["contact", "contact", "contact", "contact", "notification", "contact"] * 10,
        "initiated_by": ["customer", "customer", "customer", "customer", "company", "company"] * 10})
    table = summarize_contact_reasons(ev).set_index("contact_reason")
    assert table["contacts"].to_dict() == {"billing": 20, "fault": 10, "<b>move</b>": 10}  # not D's nor E's
    assert table["share"].sum() == pytest.approx(1) and (table["share_lo"] < table["share"]).all()
    h = measure_standard_headlines({"events": ev})["contacts"]
    assert h["top_reason"] == "billing" and h["n"] == 40 and h["value"] == pytest.approx(0.5)
    assert h["customers"] == 3 and h["more_than_once"] == 1.0          # A, B and C each came back
    text = describe_standard_headlines({"contacts": h})[0]
    assert "'billing'" in text and "50.0%" in text and "40 customer contacts" in text
    ev.loc[ev["contact_reason"] == "billing", "contact_reason"] = "<b>move</b>"
    # the sentence keeps the client's text as written; pages make it inert (report.pages.make_inert)
    assert "'<b>move</b>'" in describe_standard_headlines(measure_standard_headlines({"events": ev}))[0]
    assert "contacts" not in measure_standard_headlines({"events": ev.iloc[:10]})    # too few to say


def test_the_contact_headline_leaves_out_repeat_customers_when_every_id_is_one_contact():
    ev = pd.DataFrame({"customer_id": [f"K{i}" for i in range(40)], "contact_reason": ["billing", "fault"] * 20,
                       "timestamp": pd.date_range("2025-01-01", periods=40, freq="D")})
    text = describe_standard_headlines(measure_standard_headlines({"events": ev}))[0]
    assert "'billing' is the most common reason" in text and "more than once" not in text


def test_the_interactions_sentence_counts_one_event_in_the_singular():
    from cxlib.ingest.profile import count_events_per_customer, describe_interactions, summarize_channel_mix
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    one = pd.DataFrame({"customer_id": ["A", "B", "C"], "timestamp": t0, "channel": "call", "agent_id": "x"})
    text = describe_interactions(count_events_per_customer(one), summarize_channel_mix(one))
    assert "a median of 1 event per customer" in text and "3 events from 3 customers" in text
    two = pd.concat([one, one])
    assert "a median of 2 events per customer" in describe_interactions(count_events_per_customer(two),
                                                                       summarize_channel_mix(two))
