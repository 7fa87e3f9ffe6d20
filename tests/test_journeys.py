"""Journey reconstruction, description and diagnostics on small hand-made logs."""
import numpy as np
import pandas as pd
import pytest

from cxlib.journeys.bimodality import detect_bimodality, explain_bimodality, journey_features
from cxlib.core.config import JourneyDefinition
from cxlib.journeys.stats import (build_dfg, count_channel_switches, estimate_baseline_churn, find_variants,
                                 flag_watermelons, map_stages, summarize_journeys)
from cxlib.journeys.reconstruct import UNCLASSIFIED, assign_journey_scores, flag_churn_after, reconstruct_journeys

T0 = pd.Timestamp("2025-01-01", tz="UTC")

REPAIR = {"repair": JourneyDefinition(start=["Fault reported"], end=["Fault resolved"],
                                      touchpoints=["Technician visit", "Where is my technician"],
                                      max_duration_days=30)}


def log(rows):
    """rows: (customer, day offset, touchpoint, department, channel[, reason, outcome, case])."""
    out = []
    for r in rows:
        r = tuple(r) + (None,) * (8 - len(r))
        c, d, tp, dept, ch, reason, outcome, case = r
        out.append({"customer_id": c, "timestamp": T0 + pd.Timedelta(days=d), "touchpoint": tp,
                    "department": dept, "channel": ch, "contact_reason": reason, "outcome": outcome,
                    "case_id": case})
    return pd.DataFrame(out)


def by_event(j):
    return j.steps.sort_values("eid").reset_index(drop=True)


def test_definition_start_end_members_and_repeat_start():
    ev = log([
        ("A", 0, "Fault reported", "CS", "call", "fault"),
        ("A", 1, "Technician visit", "Field", "field_visit", None, "failed"),
        ("A", 3, "Fault reported", "CS", "call", "fault"),       # repeat inside the open repair
        ("A", 5, "Technician visit", "Field", "field_visit", None, "completed"),
        ("A", 6, "Fault resolved", "Tech", "email"),
        ("A", 20, "Fault reported", "CS", "call", "fault"),      # after the end: a new repair
        ("A", 21, "Fault resolved", "Tech", "email"),
        ("A", 22, "Monthly bill", "Billing", "bill"),            # no definition: unclassified
    ])
    j = reconstruct_journeys(ev, REPAIR)
    s = by_event(j)
    assert list(s["journey_type"]) == ["repair"] * 7 + [UNCLASSIFIED]
    assert s["journey_id"].iloc[:5].nunique() == 1 and s["journey_id"].iloc[5:7].nunique() == 1
    assert s["journey_id"].iloc[0] != s["journey_id"].iloc[5]
    first = j.journeys.set_index("journey_id").loc[s["journey_id"].iloc[0]]
    assert first["status"] == "completed"
    assert first["n_touchpoints"] == 5
    assert first["n_rework"] == 2                 # second 'Fault reported' and second visit
    assert first["n_repeat_contacts"] == 1        # same reason 3 days later
    assert first["n_failed_steps"] == 1
    assert first["n_handoffs"] == 4               # CS > Field > CS > Field > Tech
    assert first["n_departments"] == 3
    assert first["duration_days"] == pytest.approx(6)
    assert j.coverage == pytest.approx(7 / 8)


def test_max_duration_and_drop_out():
    ev = log([
        ("A", 0, "Fault reported", "CS", "call"),
        ("A", 2, "Technician visit", "Field", "field_visit"),
        ("A", 45, "Technician visit", "Field", "field_visit"),   # beyond 30 days: not part of it
    ])
    j = reconstruct_journeys(ev, REPAIR, as_of=T0 + pd.Timedelta(days=100))
    s = by_event(j)
    assert list(s["journey_type"]) == ["repair", "repair", UNCLASSIFIED]
    rep = j.journeys[j.journeys["journey_type"] == "repair"].iloc[0]
    assert rep["status"] == "dropped_out" and rep["completed"] == False  # noqa: E712
    # while the maximum duration has not passed at the extract date, it is in progress, not dropped
    j2 = reconstruct_journeys(ev.iloc[:2], REPAIR, as_of=T0 + pd.Timedelta(days=10))
    assert j2.journeys["status"].iloc[0] == "in_progress" and pd.isna(j2.journeys["completed"].iloc[0])


def test_case_ids_group_events_and_take_the_matching_type():
    defs = {**REPAIR, "install": JourneyDefinition(start=["Order placed"], end=["Service activated"],
                                                   touchpoints=["Technician visit"])}
    ev = log([
        ("A", 0, "Order placed", "Sales", "web", None, None, "ORD1"),
        ("A", 3, "Technician visit", "Field", "field_visit", None, None, "ORD1"),
        ("A", 4, "Fault reported", "CS", "call"),                                # no case: definitions
        ("A", 5, "Service activated", "Prov", "app", None, None, "ORD1"),
        ("B", 0, "Something else", "X", "web", None, None, "T9"),               # case, no definition
    ])
    j = reconstruct_journeys(ev, defs)
    s = by_event(j)
    assert list(s["journey_type"]) == ["install", "install", "repair", "install", UNCLASSIFIED]
    assert list(s["assigned_by"]) == ["case", "case", "definition", "case", "case"]
    inst = j.journeys[j.journeys["journey_type"] == "install"].iloc[0]
    assert inst["n_touchpoints"] == 3 and inst["status"] == "completed"


def test_unclassified_episodes_split_by_gap():
    ev = log([("A", 0, "x", "D", "call"), ("A", 5, "y", "D", "call"), ("A", 30, "z", "D", "web")])
    s = by_event(reconstruct_journeys(ev, {}, gap_days=14))
    assert s["journey_id"].iloc[0] == s["journey_id"].iloc[1] != s["journey_id"].iloc[2]
    s = by_event(reconstruct_journeys(ev, {}, gap_days=40))
    assert s["journey_id"].nunique() == 1



def test_a_one_event_episode_between_two_longer_ones_is_its_own_journey_with_full_figures():
    """One-event episodes take a shorter path (no window, no aggregate): the episodes around
    them keep their own ids and every column matches what a one-event journey should say."""
    ev = log([("A", 0, "x", "D1", "call"), ("A", 1, "y", "D2", "web"),
              ("A", 30, "Bill", "Billing", "bill", None, "incorrect"),          # alone between gaps
              ("A", 31, "Fault reported", "Care", "call"),                      # typed: not in the episode
              ("A", 60, "x", "D1", "call"), ("A", 61, "x", "D1", "call"),
              ("B", 3, "z", None, None)])                                       # alone, no channel
    j = reconstruct_journeys(ev, REPAIR, gap_days=14)
    s = by_event(j)
    ids = s.groupby("journey_id")["eid"].agg(list)
    assert sorted(ids.map(len)) == [1, 1, 1, 2, 2]
    assert all(jid == eids[0] for jid, eids in ids.items())             # keyed by the first event
    bill = s[s["touchpoint"] == "Bill"].iloc[0]
    assert (bill["step"], bill["handoff"], bill["rework"], bill["repeat_contact"], bill["failed_step"]) == \
        (1, False, False, False, True)
    assert pd.isna(bill["wait_days"]) and pd.isna(bill["prev_touchpoint"])
    jr = j.journeys.set_index("journey_id")
    one = jr.loc[bill["journey_id"]]
    assert (one["journey_type"], one["n_touchpoints"], one["n_failed_steps"], one["n_channels"],
            one["n_departments"], one["duration_days"], one["last_touchpoint"]) == \
        (UNCLASSIFIED, 1, 1, 1, 1, 0.0, "Bill")
    lone_b = jr[jr["customer_id"] == "B"].iloc[0]
    assert (lone_b["n_channels"], lone_b["n_departments"], lone_b["n_failed_steps"]) == (0, 0, 0)
    later = s[s["timestamp"] >= T0 + pd.Timedelta(days=60)]
    assert later["journey_id"].nunique() == 1 and later["rework"].tolist() == [False, True]
    assert jr.loc[later["journey_id"].iloc[0], "n_rework"] == 1

def test_reads_parquet_like_a_dataframe(tmp_path):
    ev = log([("A", 0, "Fault reported", "CS", "call"), ("A", 1, "Fault resolved", "Tech", "email")])
    ev.to_parquet(tmp_path / "events.parquet")
    a = reconstruct_journeys(ev, REPAIR).journeys
    b = reconstruct_journeys(tmp_path / "events.parquet", REPAIR).journeys
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(FileNotFoundError, match="events file not found"):
        reconstruct_journeys(tmp_path / "nope.parquet", REPAIR)
    with pytest.raises(ValueError, match="missing required column"):
        reconstruct_journeys(ev.drop(columns="touchpoint"), REPAIR)


def test_scores_link_to_the_right_journey_and_not_rated_stays_null():
    ev = log([
        ("A", 0, "Fault reported", "CS", "call"), ("A", 2, "Fault resolved", "Tech", "email"),
        ("A", 50, "Fault reported", "CS", "call"), ("A", 52, "Fault resolved", "Tech", "email"),
    ])
    j = reconstruct_journeys(ev, REPAIR)
    sv = pd.DataFrame([
        {"customer_id": "A", "timestamp": T0 + pd.Timedelta(days=3), "level": "journey", "subject": "repair",
         "metric": "nps", "score": 3.0},
        {"customer_id": "A", "timestamp": T0 + pd.Timedelta(days=0.5), "level": "touchpoint",
         "subject": "Fault reported", "metric": "csat", "score": 5.0},
        {"customer_id": "A", "timestamp": T0 + pd.Timedelta(days=53), "level": "journey", "subject": "repair",
         "metric": "nps", "score": np.nan},
    ])
    out = assign_journey_scores(j.journeys, j.steps, sv, {"nps": 7, "csat": 4}).sort_values("start")
    assert out["journey_score"].iloc[0] == 3 and pd.isna(out["journey_score"].iloc[1])
    assert out["tp_n_rated"].tolist() == [1, 0]
    assert bool(out["watermelon"].iloc[0]) is True       # touchpoint green, journey red
    assert pd.isna(out["watermelon"].iloc[1])


def test_a_touchpoint_rating_goes_to_the_latest_earlier_event_within_the_window():
    """A rating links to the customer's latest event at that touchpoint before it, only if
    that event is at most max_days_after_touchpoint older: an older event of the same
    touchpoint never takes it, and a rating before any event stays unlinked."""
    ev = log([("A", 0, "Fault reported", "CS", "call"), ("A", 2, "Fault resolved", "Tech", "email"),
              ("A", 40, "Fault reported", "CS", "call"), ("A", 42, "Fault resolved", "Tech", "email"),
              ("B", 10, "Fault reported", "CS", "call"), ("B", 11, "Fault resolved", "Tech", "email")])
    j = reconstruct_journeys(ev, REPAIR)

    def rating(c, day, score):
        return {"customer_id": c, "timestamp": T0 + pd.Timedelta(days=day), "level": "touchpoint",
                "subject": "Fault reported", "metric": "csat", "score": score}
    sv = pd.DataFrame([rating("A", 1, 5.0), rating("A", 41, 2.0), rating("A", 41.5, 4.0),   # two for the second
                       rating("A", 30, 1.0),            # 30 days after the first report: too late for it
                       rating("B", 9, 1.0), rating("B", 17.5, 3.0)])   # before B's report; 7.5 days after
    out = assign_journey_scores(j.journeys, j.steps, sv, {"csat": 4}, max_days_after_touchpoint=7)
    out = out.sort_values(["customer_id", "start"]).reset_index(drop=True)
    assert out["tp_n_rated"].tolist() == [1, 2, 0]
    assert out["tp_score_mean"].iloc[0] == 5 and out["tp_score_mean"].iloc[1] == 3
    assert out["tp_n_green"].tolist() == [1, 1, 0] and out["tp_green_share"].iloc[1] == 0.5


def test_churn_after_journey_window_and_censoring():
    ev = log([("A", 0, "Fault reported", "CS", "call"), ("A", 1, "Fault resolved", "Tech", "email"),
              ("B", 0, "Fault reported", "CS", "call"), ("B", 1, "Fault resolved", "Tech", "email"),
              ("C", 200, "Fault reported", "CS", "call"), ("C", 201, "Fault resolved", "Tech", "email")])
    j = reconstruct_journeys(ev, REPAIR).journeys
    cust = pd.DataFrame({"customer_id": ["A", "B", "C"],
                         "churn_date": [T0.tz_localize(None) + pd.Timedelta(days=60), pd.NaT, pd.NaT]})
    out = flag_churn_after(j, cust, window_days=90, as_of=T0 + pd.Timedelta(days=250)).set_index("customer_id")
    assert out.loc["A", "churned_in_window"] == True and out.loc["B", "churned_in_window"] == False  # noqa: E712
    assert pd.isna(out.loc["C", "churned_in_window"])      # window not over at the extract date


def test_baseline_churn_from_hazard():
    n = 1000
    cust = pd.DataFrame({"customer_id": range(n), "signup_date": pd.Timestamp("2020-01-01"),
                         "churn_date": [pd.Timestamp("2025-06-01")] * 100 + [pd.NaT] * (n - 100)})
    b = estimate_baseline_churn(cust, "2025-01-01", "2026-01-01", window_days=90)
    # 100 churns over ~950 customer-years: about 2.6% per 90 days
    h = 100 / (900 * 365 + 100 * 151)
    assert b["rate"] == pytest.approx(1 - np.exp(-h * 90), rel=1e-6)
    assert b["ci_low"] < b["rate"] < b["ci_high"] and b["churns"] == 100


def test_variants_dfg_and_channel_matrix():
    ev = log([("A", 0, "s", "D", "web"), ("A", 1, "m", "D", "call"), ("A", 3, "e", "D", "call"),
              ("B", 0, "s", "D", "web"), ("B", 2, "e", "D", "email")])
    defs = {"t": JourneyDefinition(start=["s"], end=["e"], touchpoints=["m"])}
    j = reconstruct_journeys(ev, defs)
    v = find_variants(j.steps, j.journeys)
    assert set(v["variant"]) == {"s → m → e", "s → e"} and v["n"].sum() == 2
    d = build_dfg(j.steps, with_start_end=False).set_index(["source", "target"])
    assert d.loc[("s", "e"), "median_wait_days"] == pytest.approx(2)
    assert d.loc[("m", "e"), "n"] == 1
    full = build_dfg(j.steps).set_index(["source", "target"])
    assert full.loc[("▶ start", "s"), "n"] == 2 and full.loc[("e", "■ end"), "n"] == 2
    m = count_channel_switches(j.steps, normalize=False)
    assert m.loc["web", "call"] == 1 and m.loc["call", "call"] == 1 and m.loc["web", "email"] == 1
    st = map_stages(j.steps, j.journeys, "t").set_index("touchpoint")
    assert st.loc["m", "reach"] == 0.5 and st.loc["s", "median_day"] == 0


def test_bimodality_detects_two_groups_but_not_a_skew_or_a_step():
    rng = np.random.default_rng(1)
    two = np.r_[rng.integers(1, 4, 300), rng.integers(8, 10, 700)]
    assert detect_bimodality(two).bimodal
    one = np.clip(rng.normal(7, 1.5, 1000).round(), 0, 10)
    assert not detect_bimodality(one).bimodal
    step = np.r_[rng.integers(0, 4, 350), rng.integers(4, 9, 650)]    # stepped, no valley
    assert not detect_bimodality(step).bimodal
    assert not detect_bimodality(two[:10]).bimodal


def test_separator_finds_the_planted_feature():
    rng = np.random.default_rng(2)
    n = 400
    broken = rng.random(n) < 0.3
    journeys = pd.DataFrame({"journey_id": np.arange(n), "n_failed_steps": broken.astype(int),
                             "n_rework": 0, "n_repeat_contacts": 0, "n_handoffs": rng.integers(1, 4, n),
                             "n_touchpoints": rng.integers(3, 6, n), "n_channel_switches": rng.integers(0, 3, n),
                             "duration_days": rng.uniform(1, 10, n), "max_wait_days": rng.uniform(0, 3, n),
                             "journey_score": np.where(broken, rng.integers(1, 3, n), rng.integers(8, 10, n))})
    res = explain_bimodality(journeys, journey_features(journeys), antimode=5)
    assert res["separator"] in {"n_failed_steps", "not_first_time_right"}
    assert res["ci_low"] > 0.9 and res["n_low"] == broken.sum()


def test_separator_names_the_missing_company_step_not_the_customers_status_call():
    """The issue's case: low scorers all called to chase (100% vs 0%), and 95% of them lacked
    the proactive update most high scorers had. The update is named; the call only when
    nothing on the company side separates, and then as a symptom."""
    from cxlib.journeys.bimodality import describe_separation
    rng = np.random.default_rng(3)
    n = 400
    low = rng.random(n) < 0.4
    update = np.where(low, rng.random(n) < 0.05, rng.random(n) < 0.97)
    journeys = pd.DataFrame({"journey_id": np.arange(n),
                             "journey_score": np.where(low, rng.integers(1, 3, n), rng.integers(8, 10, n))})
    feats = pd.DataFrame({"has: Status call": low.astype(float), "has: Progress update": update.astype(float),
                          "n_handoffs": rng.integers(1, 4, n).astype(float)}, index=journeys["journey_id"])
    res = explain_bimodality(journeys, feats, antimode=5, contacts={"Status call"})
    assert res["separator"] == "has: Progress update" and not res["symptom"]
    assert res["low_mean"] < 0.1 < 0.9 < res["high_mean"]
    blind = explain_bimodality(journeys, feats, antimode=5)            # nobody said the call is a contact
    assert blind["separator"] == "has: Status call"
    alone = explain_bimodality(journeys, feats.drop(columns="has: Progress update"), antimode=5,
                               contacts={"Status call"})
    assert alone["separator"] == "has: Status call" and alone["symptom"]
    assert "symptom" in describe_separation(alone, "repair") and "symptom" not in describe_separation(res, "repair")


def test_watermelon_is_green_touchpoints_with_a_journey_share_well_below_them():
    from cxlib.core.uncertainty import wilson_interval
    rows = {"a": (930, 1000, 50, 100),     # 93% green touchpoints, 50% green journeys: the missed case
            "b": (930, 1000, 85, 100),     # 93% against 85%: a gap of 8 points, not a watermelon
            "c": (650, 1000, 10, 100),     # red journeys, but the touchpoints are not green either
            "d": (28, 30, 2, 3),           # a 27-point gap on three journey ratings: the difference is not sure
            "e": (930, 1000, None, None)}  # no journey ratings
    cat = {}
    for jt, (k_t, n_t, k_j, n_j) in rows.items():
        t_lo, t_hi = wilson_interval(k_t, n_t)
        j_lo, j_hi = wilson_interval(k_j, n_j) if n_j else (np.nan, np.nan)
        cat[jt] = {"touchpoint_green_share": k_t / n_t, "touchpoint_green_ci_low": t_lo, "touchpoint_green_ci_high": t_hi,
                   "journey_green_share": k_j / n_j if n_j else np.nan, "journey_green_ci_low": j_lo,
                   "journey_green_ci_high": j_hi}
    flags = flag_watermelons(pd.DataFrame(cat).T.astype(float))
    assert flags.to_dict() == {"a": True, "b": False, "c": False, "d": False, "e": False}


def test_a_watermelon_inside_one_segment_or_variant_is_found_where_the_type_is_not_red():
    """Repairs of business customers: touchpoints 95% green, journeys 30% green; residential
    repairs are green throughout, so the type as a whole is no watermelon."""
    from cxlib.journeys.stats import find_watermelon_pockets, label_variants
    rng = np.random.default_rng(5)
    n = 600
    business = np.arange(n) < 150
    j = pd.DataFrame({"journey_id": np.arange(n), "journey_type": "repair", "completed": True,
                      "duration_days": 3.0, "n_touchpoints": 3, "n_departments": 2, "n_handoffs": 1,
                      "n_repeat_contacts": 0, "n_rework": 0, "journey_score": 8.0,
                      "journey_green": np.where(business, rng.random(n) < 0.3, rng.random(n) < 0.9),
                      "tp_n_green_rated": 2, "tp_n_green": np.where(rng.random(n) < 0.95, 2, 1)})
    segment = pd.Series(np.where(business, "business", "residential"), index=j["journey_id"])
    pockets = find_watermelon_pockets(j, {"segment": segment})
    assert pockets[["journey_type", "by", "group"]].values.tolist() == [["repair", "segment", "business"]]
    p = pockets.iloc[0]
    assert not p["type_flagged"] and p["journey_score_n"] == 150 and p["journey_green_share"] < 0.4
    assert find_watermelon_pockets(j, {"segment": segment}, min_n=200).empty      # too few ratings to say
    steps = pd.DataFrame({"journey_id": np.repeat(np.arange(4), 2), "journey_type": "repair", "step": [1, 2] * 4,
                          "touchpoint": ["Call", "Visit", "Call", "Visit", "Call", "Visit", "App", "Visit"]})
    assert label_variants(steps, top=1, other="other").tolist() == ["Call → Visit"] * 3 + ["other"]
    assert label_variants(steps, top=1).isna().tolist() == [False] * 3 + [True]


def test_catalogue_intervals_contain_the_estimate():
    ev = log([(c, 0, "Fault reported", "CS", "call") for c in "ABCDEFGH"]
             + [(c, 2, "Fault resolved", "T", "email") for c in "ABCDEF"])
    j = reconstruct_journeys(ev, REPAIR, as_of=T0 + pd.Timedelta(days=100))
    cat = summarize_journeys(j.journeys)
    r = cat.loc["repair"]
    assert r["n"] == 8 and r["completion_rate"] == pytest.approx(6 / 8)
    assert r["completion_ci_low"] < 0.75 < r["completion_ci_high"]


def test_rework_summary_and_owners():
    from cxlib.journeys.stats import assign_owners, summarize_rework
    ev = log([("A", 0, "Fault reported", "CS", "call"), ("A", 1, "Technician visit", "Field", "field_visit"),
              ("A", 2, "Where is my technician", "CS", "call"), ("A", 3, "Technician visit", "Field", "field_visit"),
              ("A", 4, "Fault resolved", "Tech", "email"),
              ("B", 0, "Fault reported", "CS", "call"), ("B", 1, "Fault resolved", "Tech", "email")])
    j = reconstruct_journeys(ev, REPAIR)
    r = summarize_rework(j.steps).set_index("touchpoint")
    assert r.loc["Technician visit", "repeats"] == 1 and r.loc["Technician visit", "share_of_journeys"] == 0.5
    assert r.loc["Technician visit", "most_often_after"] == "Where is my technician"
    cat = summarize_journeys(j.journeys)
    assert assign_owners(cat, j.steps, REPAIR)["repair"] == "CS"        # busiest department: no owner configured
    owned = {"repair": REPAIR["repair"].model_copy(update={"owner": "Technical support"})}
    assert assign_owners(cat, j.steps, owned)["repair"] == "Technical support"


@pytest.mark.parametrize("n_departments", [3, 70])
def test_distinct_departments_counted_with_few_or_many_departments(n_departments):
    rows = [("A", i * 0.1, "Fault reported" if i == 0 else "Technician visit", f"D{i % n_departments}", "call")
            for i in range(80)]
    j = reconstruct_journeys(log(rows), REPAIR)
    assert j.journeys["n_departments"].iloc[0] == n_departments
    assert j.journeys["n_channels"].iloc[0] == 1


def test_a_failure_that_triggers_a_journey_is_not_a_failed_step_of_it():
    dispute = {"billing_dispute": JourneyDefinition(start=["Incorrect bill"], end=["Corrected bill"],
                                                    touchpoints=["Bill complaint"])}
    ev = log([
        ("A", 0, "Incorrect bill", "Billing", "bill", None, "incorrect"),   # the trigger
        ("A", 2, "Bill complaint", "CS", "call", "bill_complaint"),
        ("A", 9, "Corrected bill", "Billing", "bill", None, "issued"),
        ("B", 0, "Incorrect bill", "Billing", "bill", None, "incorrect"),
        ("B", 9, "Corrected bill", "Billing", "bill", None, "incorrect"),   # corrected wrongly: a failure
        ("C", 0, "Monthly bill", "Billing", "bill", None, "failed"),        # unclassified: still counts
    ])
    j = reconstruct_journeys(ev, dispute).journeys.set_index("customer_id")
    assert j.loc["A", "n_failed_steps"] == 0
    assert j.loc["B", "n_failed_steps"] == 1
    assert j.loc["C", "n_failed_steps"] == 1


def test_a_drop_out_that_the_customer_left_during_is_not_a_journey_that_went_wrong():
    from cxlib.journeys import flag_ended_by_departure, flag_went_wrong
    ev = log([("A", 0, "Fault reported", "CS", "call"), ("A", 2, "Technician visit", "Tech", "visit"),
              ("B", 0, "Fault reported", "CS", "call"), ("B", 2, "Technician visit", "Tech", "visit"),
              ("C", 0, "Fault reported", "CS", "call"), ("C", 2, "Technician visit", "Tech", "visit")])
    j = reconstruct_journeys(ev, REPAIR, as_of=T0 + pd.Timedelta(days=200)).journeys.sort_values("customer_id")
    assert (j["status"] == "dropped_out").all()
    left = T0.tz_localize(None)
    cust = pd.DataFrame({"customer_id": ["A", "B", "C"],
                         "churn_date": [left + pd.Timedelta(days=10), left + pd.Timedelta(days=120), pd.NaT]})
    j["ended_by_departure"] = flag_ended_by_departure(j, cust, REPAIR).to_numpy()
    # A left while the repair was open (day 10 of 30): the drop-out is the departure
    assert j["ended_by_departure"].tolist() == [True, False, False]
    assert flag_went_wrong(j).tolist() == [False, True, True]
    assert not flag_ended_by_departure(j, None, REPAIR).any()


def test_variants_say_how_many_paths_there_are_and_what_the_top_ones_cover():
    from cxlib.journeys import describe_variants, find_variants
    rows = []
    for i in range(10):
        path = ["A", "B", "C"] if i < 6 else (["A", "C"] if i < 9 else ["A", "B", "B", "C"])
        rows += [(f"j{i}", "t", k, tp) for k, tp in enumerate(path)]
    steps = pd.DataFrame(rows, columns=["journey_id", "journey_type", "step", "touchpoint"])
    v = find_variants(steps, top=2)
    assert v["n"].tolist() == [6, 3] and v.attrs["variants"] == {"t": 3}
    other = pd.concat([steps, steps.assign(journey_id=steps["journey_id"] + "u", journey_type="unclassified")])
    typed = find_variants(other, top=2, journey_types=["t"])      # the report's call: typed journeys only
    pd.testing.assert_frame_equal(typed, v)
    assert typed.attrs == v.attrs and set(find_variants(other, top=2)["journey_type"]) == {"t", "unclassified"}
    assert find_variants(other, journey_types=[]).empty
    assert describe_variants(v, "t") == "3 distinct paths over 10 journeys; the 2 shown cover 90% of them."
    assert describe_variants(find_variants(steps, top=5), "t").endswith("all shown.")


def test_variants_tell_apart_paths_of_the_same_touchpoints_in_another_order():
    """Paths are grouped by a hash of their steps before their text is joined: every order of
    the same touchpoints, and repeats that a hash combined by XOR would cancel, stay apart,
    each with its own count, as joining every journey's path counts them."""
    from itertools import permutations
    from cxlib.journeys.stats import journey_paths_sql, label_variants
    from cxlib.core.sql import query_frames
    paths = [list(p) for p in dict.fromkeys(permutations("AABBC"))] + [list("AAAAA"), list("ABABA")]
    rows, expected = [], {}
    for i, path in enumerate(paths):
        for k in range(i % 4 + 1):             # counts 1-4, so merged paths would show
            rows += [(f"j{i}-{k}", "t", s + 1, tp) for s, tp in enumerate(path)]
        expected[" → ".join(path)] = i % 4 + 1
    steps = pd.DataFrame(rows, columns=["journey_id", "journey_type", "step", "touchpoint"]).sample(frac=1, random_state=0)
    v = find_variants(steps, top=1000)
    assert dict(zip(v["variant"], v["n"])) == expected and v.attrs["variants"] == {"t": len(paths)}
    labelled = label_variants(steps, top=1000)
    assert labelled.value_counts().to_dict() == expected
    counted = query_frames(f"SELECT path, sum(n) AS n FROM ({journey_paths_sql(per_journey=False)}) GROUP BY path", st=steps)
    assert dict(zip(counted["path"], counted["n"].astype(int))) == expected


def test_a_repeated_notification_is_neither_rework_nor_a_repeat_contact():
    """The company's second status message is not rework and not the customer coming back;
    the customer's second call about the same reason is a repeat contact."""
    ev = log([("A", 0, "Fault reported", "CS", "call", "fault", None, "K1"),
              ("A", 1, "Status update", "CS", "sms", "fault", None, "K1"),
              ("A", 2, "Status update", "CS", "sms", "fault", None, "K1"),
              ("A", 3, "Fault call", "CS", "call", "fault", None, "K1"),
              ("A", 5, "Fault resolved", "T", "field_visit", None, None, "K1")])
    ev["kind"] = ["contact", "notification", "notification", "contact", "visit"]
    st = reconstruct_journeys(ev, REPAIR, as_of=T0 + pd.Timedelta(days=100)).steps.set_index("touchpoint", append=True)
    assert not st["rework"].any()                                     # the second 'Status update' redoes nothing
    assert st["repeat_contact"].tolist() == [False, False, False, True, False]
    without = reconstruct_journeys(ev.drop(columns="kind"), REPAIR, as_of=T0 + pd.Timedelta(days=100)).steps
    assert without["rework"].sum() == 1 and without["repeat_contact"].sum() == 3   # everything reads as a contact


def test_step_statistics_break_ties_as_pandas_mode_and_survive_missing_departments():
    """The stage map, loops and owners pick the most frequent department or previous step in
    SQL (where the step table lives): a tie goes to the first name alphabetically, as pandas'
    mode does, and a touchpoint no event names a department for gets none instead of failing."""
    from cxlib.journeys.stats import assign_owners, summarize_rework
    ev = log([("A", 0, "Fault reported", "Zeta", "call"), ("A", 1, "Technician visit", None, "field_visit"),
              ("A", 2, "Where is my technician", "Zeta", "call"), ("A", 3, "Technician visit", None, "field_visit"),
              ("A", 4, "Fault resolved", "Tech", "email"),
              ("B", 0, "Fault reported", "Alpha", "call"), ("B", 1, "Fault reported", "Alpha", "call"),
              ("B", 2, "Technician visit", None, "field_visit"), ("B", 3, "Fault reported", "Zeta", "call"),
              ("B", 4, "Fault resolved", "Tech", "email")])
    j = reconstruct_journeys(ev, REPAIR)
    st = map_stages(j.steps, j.journeys, "repair").set_index("touchpoint")
    assert st.loc["Fault reported", "department"] == "Alpha"       # first steps: Zeta once, Alpha once
    assert st.loc["Technician visit", "department"] is None or pd.isna(st.loc["Technician visit", "department"])
    assert st.loc["Fault reported", "rework"] == 2 and st.loc["Technician visit", "rework"] == 1
    assert list(st.index[:1]) == ["Fault reported"] and st.loc["Fault resolved", "reach"] == 1
    loops = summarize_rework(j.steps).set_index("touchpoint")
    # repeated 'Fault reported' follows 'Fault reported' once and 'Technician visit' once: the tie goes to F
    assert loops.loc["Fault reported", "most_often_after"] == "Fault reported"
    assert loops.loc["Technician visit", "most_often_after"] == "Where is my technician"
    assert assign_owners(summarize_journeys(j.journeys), j.steps, REPAIR)["repair"] == "Zeta"   # 3 against Alpha's 2


def test_steps_left_in_parquet_give_the_same_statistics_and_file(tmp_path):
    # on DuckDB with lazy_steps the step table stays in a Parquet file: every statistic read
    # there, the pandas copy and the written file equal those of the step table fetched to pandas
    from cxlib.core.sql import ParquetTable
    from cxlib.journeys.stats import assign_owners, count_steps, summarize_rework, top_transitions
    ev = log([("A", 0, "Fault reported", "CS", "call"), ("A", 1, "Technician visit", "Field", "field_visit"),
              ("A", 2, "Where is my technician", "CS", "call"), ("A", 3, "Technician visit", "Field", "field_visit"),
              ("A", 4, "Fault resolved", "Tech", "email"), ("B", 0, "Fault reported", "CS", "call"),
              ("B", 1, "Fault resolved", "Tech", "email"), ("C", 0, "Bill", "Billing", "bill")])
    eager = reconstruct_journeys(ev, REPAIR)
    lazy = reconstruct_journeys(ev, REPAIR, lazy_steps=True)
    assert isinstance(lazy.live_steps, ParquetTable) and lazy.steps is None
    pd.testing.assert_frame_equal(lazy.journeys, eager.journeys)
    cat = summarize_journeys(eager.journeys)
    for stat in (lambda s: find_variants(s, eager.journeys), lambda s: build_dfg(s), summarize_rework,
                 lambda s: count_channel_switches(s), lambda s: map_stages(s, eager.journeys, "repair"),
                 lambda s: top_transitions(s, ["repair"]), lambda s: count_steps(s)[0],
                 lambda s: assign_owners(cat, s, REPAIR).to_frame()):
        pd.testing.assert_frame_equal(stat(lazy.live_steps), stat(eager.steps))
    lazy.write_steps(tmp_path / "lazy.parquet")
    eager.write_steps(tmp_path / "eager.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "lazy.parquet"), pd.read_parquet(tmp_path / "eager.parquet"))
    pd.testing.assert_frame_equal(lazy.fetch_steps(), eager.steps)
    assert lazy.coverage == eager.coverage


@pytest.mark.parametrize("typed", [True, False])
def test_unclassified_episodes_kept_apart_are_those_of_the_whole_table(tmp_path, typed):
    # with lazy_unclassified only the typed journeys come to pandas; the episodes stay in DuckDB's
    # file with the status the whole table gives them, and the written table holds every journey.
    # Without as_of a journey runs until the last end of all journeys (here an episode's), and
    # the steps of an episode alone count as a path.
    from cxlib.core.sql import ParquetTable
    from cxlib.journeys.reconstruct import get_journey_span, read_journeys
    rows = [("A", 0, "Fault reported", "CS", "call"), ("A", 2, "Technician visit", "Field", "field_visit"),
            ("C", 0, "Bill", "Billing", "bill"), ("C", 60, "Bill", "Billing", "bill"), ("C", 61, "Pay", "Billing", "web")]
    ev = log(rows if typed else rows[2:])
    eager = reconstruct_journeys(ev, REPAIR)
    lazy = reconstruct_journeys(ev, REPAIR, lazy_unclassified=True)
    is_unc = eager.journeys["journey_type"] == UNCLASSIFIED
    assert isinstance(lazy.unclassified, ParquetTable) and len(lazy.unclassified) == is_unc.sum() == 2
    pd.testing.assert_frame_equal(lazy.journeys, eager.journeys[~is_unc].reset_index(drop=True))
    assert lazy.count_journeys() == len(eager.journeys) == lazy.n_journeys
    assert get_journey_span(lazy.journeys) == (eager.journeys["start"].min(), eager.journeys["end"].max())
    assert lazy.has_paths() and (not typed or lazy.journeys["status"].tolist() == ["dropped_out"])
    lazy.write(tmp_path / "j.parquet", tmp_path / "s.parquet")
    back = pd.read_parquet(tmp_path / "j.parquet")
    expected = pd.concat([eager.journeys[~is_unc], eager.journeys[is_unc]]).reset_index(drop=True)
    missing_as_none = lambda f: f.astype(object).where(f.notna(), None)  # noqa: E731
    pd.testing.assert_frame_equal(missing_as_none(back), missing_as_none(expected))
    assert read_journeys(tmp_path / "j.parquet", typed_only=True)[0].attrs["span"] == get_journey_span(lazy.journeys)
    single = reconstruct_journeys(log([("C", 0, "Bill", "Billing", "bill"), ("D", 0, "Bill", "Billing", "bill")]),
                                  REPAIR, lazy_unclassified=True)
    assert not single.has_paths() and single.count_journeys() == 2 and not len(single.journeys)


@pytest.mark.parametrize("n_touchpoints", [12, 80])
def test_rework_and_repeat_contacts_match_their_definition_on_a_random_log(n_touchpoints):
    """Rework (the journey had the touchpoint before, not a notification) and repeat contacts (the
    customer's contact about the same reason within 7 days, in the same journey) against pandas
    on each step's own columns; with up to 63 touchpoints DuckDB takes the touchpoints seen
    before from the step window's bits, with more from a window of their own: both are checked,
    with missing touchpoints, several customers on one case and interleaved journeys."""
    rng = np.random.default_rng(n_touchpoints)
    n = 4000
    names = [f"tp{i:02d}" for i in range(n_touchpoints)]
    tps = rng.choice(names, n).astype(object)
    tps[rng.random(n) < 0.03] = None
    ev = pd.DataFrame({
        "customer_id": rng.choice([f"C{i}" for i in range(60)], n),
        "timestamp": T0 + pd.to_timedelta(rng.integers(0, 200 * 24, n), unit="h"),
        "touchpoint": tps, "department": rng.choice(["CS", "Field", None], n),
        "channel": rng.choice(["call", "web", "sms"], n), "contact_reason": rng.choice(["fault", "bill", None], n),
        "outcome": rng.choice(["completed", "failed", None], n),
        "case_id": np.where(rng.random(n) < 0.2, rng.choice(["K1", "K2", "K3", "K4"], n), None),
        "kind": rng.choice(["contact", "notification", "visit", None], n),
        "initiated_by": rng.choice(["customer", "company", None], n)})
    defs = {"t": JourneyDefinition(start=[names[0]], end=[names[1]], touchpoints=names[2:6], max_duration_days=20)}
    st = reconstruct_journeys(ev, defs, as_of=T0 + pd.Timedelta(days=300)).steps.sort_values("eid")
    assert st["journey_id"].nunique() < len(st) and st["touchpoint"].isna().any()
    seen = st.groupby(["journey_id", "touchpoint"], dropna=False).cumcount() > 0
    rework = seen & st["kind"].fillna("contact").ne("notification")
    assert rework.sum() > 50
    assert st["rework"].tolist() == rework.tolist()
    contact = st["contact_reason"].notna() & st["kind"].fillna("contact").eq("contact") & \
        st["initiated_by"].fillna("customer").eq("customer")
    c = st[contact]
    since = c["timestamp"] - c.groupby(["journey_id", "contact_reason"])["timestamp"].shift()
    repeat = (since <= pd.Timedelta(days=7)).reindex(st.index, fill_value=False)
    assert repeat.sum() > 20
    assert st["repeat_contact"].tolist() == repeat.tolist()


def test_ordered_join_equals_an_ordered_string_agg():
    """The paths' SQL (a sorted list of pairs) gives what ``string_agg(... ORDER BY ...)`` gives:
    input in any order, null values skipped, a group of nulls only null, a quote in a value."""
    import duckdb
    from cxlib.core.sql import ordered_join_sql
    rng = np.random.default_rng(7)
    n = 5000
    t = pd.DataFrame({"g": rng.integers(0, 700, n), "k": rng.permutation(n),
                      "v": rng.choice(["a", "b's", "c → d", None], n)})
    t.loc[t["g"] == 3, "v"] = None
    con = duckdb.connect()
    con.register("t", t)
    got = con.execute(f"SELECT g, {ordered_join_sql('v', 'k', ' → ')} AS p FROM t GROUP BY g ORDER BY g").df()
    want = con.execute("SELECT g, string_agg(v, ' → ' ORDER BY k) AS p FROM t GROUP BY g ORDER BY g").df()
    assert got["p"].str.contains("b's").any() and pd.isna(got.set_index("g").loc[3, "p"])
    pd.testing.assert_frame_equal(got, want)


def test_duckdb_hands_text_to_pandas_as_large_strings():
    import pyarrow as pa

    from cxlib.core.sql import open_duckdb, query_frames
    con = open_duckdb()
    assert con.sql("SELECT 'a' AS s").to_arrow_table().schema.field("s").type == pa.large_string()
    con.close()
    out = query_frames("SELECT s, s || '!' AS t, n FROM f ORDER BY n",
                       f=pd.DataFrame({"s": pd.Series(["x", None, "ü"], dtype="str"), "n": [1, 2, 3]}))
    assert out["s"].dtype == pd.StringDtype(na_value=np.nan) and out["t"].tolist()[::2] == ["x!", "ü!"]
    assert out["s"].isna().tolist() == [False, True, False]
