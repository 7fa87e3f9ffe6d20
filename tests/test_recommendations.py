"""Avoidable contacts, agent scoring, cost to serve, self-service fit, KPIs, the failure
signature, the action ranking and the executive summary on small frames with known answers."""
import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from cxlib.actions.ranking import rank_actions
from cxlib.core.config import load_config
from cxlib.actions.agents import count_caused_repeats, score_agents, shrink_toward_mean
from cxlib.actions.contacts import (classify_avoidable_contacts, flag_agent_contacts, link_journeys, measure_self_service,
                            summarize_avoidable)
from cxlib.journeys.stats import find_failure_signature
from cxlib.actions.kpis import build_journey_kpis
from cxlib.report.summary import render_executive_summary
from cxlib.actions.value import estimate_cost_to_serve, summarize_unprofitable

T0 = pd.Timestamp("2025-03-01 09:00", tz="UTC")


def ev(rows):
    cols = ["customer_id", "day", "channel", "touchpoint", "contact_reason", "outcome", "agent_id",
            "journey_id", "journey_type", "step", "rework"]
    f = pd.DataFrame(rows, columns=cols)
    f["timestamp"] = T0 + pd.to_timedelta(f.pop("day"), unit="D")
    f["agent_contact"] = f["agent_id"].notna()
    return f


def test_each_avoidable_cause_is_found_and_nothing_else():
    e = ev([
        ("A", 0, "call", "General enquiry", "payment", "unresolved", "AG1", None, None, None, False),  # 0
        ("A", 2, "call", "General enquiry", "payment", "resolved", "AG2", None, None, None, False),    # 1 repeat
        ("A", 30, "call", "General enquiry", "payment", "resolved", "AG2", None, None, None, False),   # 2 too late
        ("B", 0, "field_visit", "Technician visit", None, "failed", None, 7, "new_install", 3, False),  # 3 failure
        ("B", 1, "call", "Installation rescheduled", "reschedule", "resolved", "AG1", 7, "new_install", 4, False),
        ("B", 1.5, "call", "Where is my technician", "install_status", "resolved", "AG1", 7, "new_install", 5, False),
        ("C", 0, "bill", "Incorrect bill", None, "incorrect", None, 9, "billing_dispute", 1, False),  # 6 trigger
        ("C", 1, "call", "Bill complaint", "bill_complaint", "resolved", "AG3", 9, "billing_dispute", 2, False),
        ("C", 2, "call", "Bill explanation", "bill_explanation", "resolved", "AG3", 9, "billing_dispute", 3, False),
        ("C", 8, "call", "Bill complaint", "bill_complaint", "resolved", "AG3", 9, "billing_dispute", 4, True),  # 9
        ("D", 0, "web", "Pay bill online", "payment", "abandoned", None, None, None, None, False),
        ("D", 0.1, "call", "General enquiry", "payment", "resolved", "AG1", None, None, None, False),  # 11
    ])
    rules = [{"reason": "bill_explanation", "journey": "billing_dispute", "cause": "failure_demand",
              "root_cause": "Incorrect bill"}]
    out = classify_avoidable_contacts(e, rules=rules)
    assert list(out.index) == [0, 1, 2, 4, 5, 7, 8, 9, 11]          # agent contacts only
    cause = out["avoidable_cause"]
    assert cause[1] == "repeat" and out.loc[1, "follows"] == 0 and out.loc[1, "root_cause"] == "unresolved payment"
    assert cause[4] == "failure_demand" and out.loc[4, "root_cause"] == "Technician visit failed"
    assert cause[5] == "status_chasing"
    assert cause[8] == "failure_demand" and out.loc[8, "root_cause"] == "Incorrect bill"
    assert cause[9] == "repeat" and out.loc[9, "follows"] == 7
    assert cause[[0, 2, 7, 11]].isna().all()   # first contacts, late ones and the trigger's own handling


def test_contact_windows_hold_at_their_edges_whatever_the_row_order():
    """Failure demand needs a failure strictly before the contact and at most the window before
    it; of two failures at one time the contact follows the later row; status chasing without a
    reason or a journey names the touchpoint; shuffling the rows (the tied failures kept in their
    order) changes nothing."""
    sec = 1 / 86400
    e = ev([
        ("A", 0, "bill", "Incorrect bill", None, "incorrect", None, None, None, None, False),          # 0
        ("A", 0, "call", "Bill query", "bill", "resolved", "AG1", None, None, None, False),           # 1 same time
        ("B", 0, "bill", "Incorrect bill", None, "incorrect", None, None, None, None, False),          # 2
        ("B", 7, "call", "Bill query", "bill", "resolved", "AG1", None, None, None, False),           # 3 exactly 7 days
        ("C", 0, "bill", "Incorrect bill", None, "incorrect", None, None, None, None, False),          # 4
        ("C", 7 + sec, "call", "Bill query", "bill", "resolved", "AG1", None, None, None, False),     # 5 a second late
        ("D", 0, "bill", "Incorrect bill", None, "incorrect", None, None, None, None, False),          # 6
        ("D", 0, "field_visit", "Meter reading", None, "failed", None, None, None, None, False),      # 7 same time
        ("D", 1, "call", "Bill query", "bill", "resolved", "AG2", None, None, None, False),           # 8
        ("E", 0, "call", "Where is my refund", None, "resolved", "AG2", None, None, None, False),      # 9
        ("E", 3, "call", "Bill query", "bill", "unresolved", "AG2", None, None, None, False),         # 10
        ("E", 3 + 7, "call", "Bill query", "bill", "resolved", "AG1", None, None, None, False),       # 11 repeat at 7 days
    ])
    out = classify_avoidable_contacts(e, window_days=7)
    cause = out["avoidable_cause"]
    assert cause[[1, 5, 10]].isna().all()
    assert cause[3] == "failure_demand" and out.loc[3, "follows"] == 2
    assert cause[8] == "failure_demand" and out.loc[8, "follows"] == 7 and out.loc[8, "root_cause"] == "Meter reading failed"
    assert cause[9] == "status_chasing" and out.loc[9, "root_cause"] == "no update on Where is my refund"
    assert cause[11] == "repeat" and out.loc[11, "follows"] == 10
    shuffled = classify_avoidable_contacts(e.iloc[[11, 4, 9, 6, 0, 3, 7, 2, 10, 1, 8, 5]], window_days=7)
    pd.testing.assert_frame_equal(shuffled.sort_index(), out)


def test_the_contact_table_is_built_the_same_from_pandas_and_from_the_events_file(tmp_path):
    """build_contact_events gives every event its row position, an agent flag (agent ids where the
    source has them; a company's or a system's contact never counts), its own cost where it reads as
    a number else its channel's, the customer's first segment and the first rating of its touchpoint
    within three days; read from the events' Parquet file it is the same table."""
    from cxlib.actions.contacts import build_contact_events, classify_avoidable_contacts, join_contacts
    from cxlib.core.sql import ParquetTable
    day = pd.Timedelta(days=1)
    events = pd.DataFrame({"customer_id": ["A", "A", "B", "B", "C"],
                           "timestamp": [T0, T0 + day, T0, T0 + 2 * day, T0],
                           "channel": ["call", "call", "web", "call", "chat"],
                           "touchpoint": ["Call", "Call", "Portal", "Call", "Chat"],
                           "agent_id": ["AG1", None, None, "AG2", "AG3"],
                           "initiated_by": ["customer", "customer", "customer", "customer", "company"],
                           "cost": ["7.5", "n/a", None, None, "1"]})
    customers = pd.DataFrame({"customer_id": ["A", "B", "A"], "segment": ["gold", "basic", "silver"]})
    surveys = pd.DataFrame({"customer_id": ["A", "B"], "timestamp": [T0 + 2 * day, T0 + 6 * day],
                            "subject": ["Call", "Call"], "score": [9.0, 3.0], "level": "touchpoint", "metric": "csat"})
    kw = dict(customers=customers, surveys=surveys, cost_per_contact={"call": 4.0, "web": 0.2})
    got = build_contact_events(events, None, **kw).to_pandas().sort_values("pos", ignore_index=True)  # in no set order
    assert got["pos"].tolist() == [0, 1, 2, 3, 4]
    assert got["agent_contact"].tolist() == [True, False, False, True, False]
    assert got["contact_cost"].fillna(-1).tolist() == [7.5, 4.0, 0.2, 4.0, 1.0]
    assert got["segment"].fillna("-").tolist() == ["gold", "gold", "basic", "basic", "-"]
    assert got["score"].fillna(-1).tolist() == [9.0, 9.0, -1.0, -1.0, -1.0]
    assert got["journey_id"].isna().all()
    events.to_parquet(tmp_path / "events.parquet", index=False)
    from_file = build_contact_events(ParquetTable(str(tmp_path / "events.parquet")), None, **kw)
    pd.testing.assert_frame_equal(from_file.to_pandas().sort_values("pos", ignore_index=True), got)
    contacts = join_contacts(from_file, classify_avoidable_contacts(from_file, as_table=True)).to_pandas() \
        .sort_values("pos", ignore_index=True)
    assert contacts["pos"].tolist() == [0, 3] and contacts["segment"].tolist() == ["gold", "basic"]


def test_summary_shares_and_costs_add_up():
    c = pd.DataFrame({"avoidable_cause": ["repeat", None, "repeat", "status_chasing", None, None, None, None],
                      "contact_cost": [5.0] * 8})
    total = summarize_avoidable(c, per_year=2.0).iloc[0]
    assert total["share_all"] == pytest.approx(3 / 8)
    assert total["cost_per_year"] == pytest.approx(3 * 5.0 * 2)
    assert total["share_all_lo"] < 3 / 8 < total["share_all_hi"]
    by = summarize_avoidable(c, by="avoidable_cause").set_index("avoidable_cause")
    assert by.loc["repeat", "avoidable"] == 2 and by.loc["repeat", "share_all"] == pytest.approx(2 / 8)


def test_agent_contacts_fall_back_to_channels_without_agent_ids():
    e = pd.DataFrame({"channel": ["call", "web", "store", "bill"], "agent_id": [None] * 4})
    assert flag_agent_contacts(e).tolist() == [True, False, True, False]
    e["agent_id"] = ["A", None, None, None]
    assert flag_agent_contacts(e).tolist() == [True, False, False, False]


def test_link_journeys_matches_each_event_to_its_step_including_exact_ties():
    e = pd.DataFrame({"customer_id": ["A", "A", "A"], "timestamp": [T0, T0, T0 + pd.Timedelta(days=1)],
                      "touchpoint": ["x", "x", "y"]})
    steps = pd.DataFrame({"eid": [1, 2, 3], "customer_id": ["A"] * 3, "timestamp": e["timestamp"],
                          "touchpoint": ["x", "x", "y"], "journey_id": [1, 1, 1], "journey_type": ["t"] * 3,
                          "step": [1, 2, 3], "rework": [False, True, False], "failed_step": [False] * 3})
    out = link_journeys(e, steps)
    assert out["step"].tolist() == [1, 2, 3] and out["rework"].tolist() == [False, True, False]


def test_link_journeys_by_event_row_agrees_with_the_key_match_and_never_trusts_stale_rows():
    """With the events the steps were built from, each step's event_row points at its event;
    shuffled, filtered or edited events fall back to matching on customer, time and touchpoint,
    with the same journey for every event."""
    from cxlib.demo import canonical_events, simulate_demo
    from cxlib.journeys.reconstruct import reconstruct_journeys
    cfg = load_config(REPO / "data" / "demo" / "client.yml")
    events = canonical_events(simulate_demo(150, 4))
    steps = reconstruct_journeys(events, cfg.analysis.journeys).steps
    assert "event_row" in steps and len(steps) == len(events)
    from cxlib.actions.contacts import _link_sql, _numbered
    key = ["customer_id", "timestamp", "touchpoint"]
    by_row = lambda ev, st=steps: "s.event_row = e.pos" in _link_sql(_numbered(ev[key]), st, key)  # noqa: E731
    assert by_row(events)                                          # the join on event_row is taken...
    assert not by_row(events.sample(frac=1, random_state=1))       # ...only when it is right
    swapped = steps.copy()                                         # two steps point at each other's event
    a, b = swapped.index[[3, 40]]
    assert (swapped.loc[a, key] != swapped.loc[b, key]).any()
    swapped.loc[[a, b], "event_row"] = swapped.loc[[b, a], "event_row"].to_numpy()
    assert not by_row(events, swapped)
    twice = steps.copy()                                           # two steps point at one event
    twice.loc[twice.index[7], ["event_row", *key]] = twice.loc[twice.index[8], ["event_row", *key]].to_numpy()
    assert not by_row(events, twice)
    blank = events.copy()                                          # an event without a customer has no step
    blank.loc[blank.index[2], "customer_id"] = None
    assert by_row(blank, reconstruct_journeys(blank, cfg.analysis.journeys).steps)
    direct = link_journeys(events, steps)
    assert (direct["journey_id"].to_numpy() == steps.set_index("event_row")["journey_id"]
            .reindex(range(len(events))).to_numpy()).all()
    shuffled = events.sample(frac=1, random_state=1)
    by_keys = link_journeys(shuffled, steps)
    pd.testing.assert_frame_equal(by_keys.loc[events.index, ["journey_id", "step", "rework"]],
                                  direct[["journey_id", "step", "rework"]], check_dtype=False)
    edited = events.copy()
    edited.loc[edited.index[5], "touchpoint"] = "Something else"       # no longer the step's event
    out = link_journeys(edited, steps)
    assert pd.isna(out["journey_id"].iloc[5]) and out["journey_id"].drop(index=edited.index[5]).notna().all()


def test_shrinkage_flags_planted_outliers_and_pulls_small_agents_harder():
    rng = np.random.default_rng(0)
    n = rng.integers(40, 2000, 80).astype(float)
    true = np.clip(rng.normal(0.85, 0.02, 80), 0, 1)
    true[:3] = 0.55
    k = rng.binomial(n.astype(int), true)
    y, se = k / n, np.sqrt(0.85 * 0.15 / n)
    sh = shrink_toward_mean(pd.Series(y), pd.Series(se))
    assert set(np.flatnonzero(sh["outlier"])) == {0, 1, 2}
    pull = (sh["estimate"] - y).abs() / pd.Series(np.abs(sh.attrs["y0"] - y)).replace(0, np.nan)
    small, large = np.argsort(n)[3:13], np.argsort(n)[-10:]
    assert pull.iloc[small].mean() > pull.iloc[large].mean()


def test_funnel_false_alarms_stay_near_the_nominal_rate():
    rng = np.random.default_rng(1)
    alarms = 0
    for _ in range(50):
        n = rng.integers(100, 1500, 60).astype(float)
        y = rng.binomial(n.astype(int), np.clip(rng.normal(0.85, 0.02, 60), 0, 1)) / n
        alarms += int(shrink_toward_mean(y, np.sqrt(0.85 * 0.15 / n))["outlier"].sum())
    assert alarms / (50 * 60) < 0.01   # 99.8% limits: 0.2% expected


def test_score_agents_finds_the_slow_unresolving_agent_and_caused_repeats_count_by_hand():
    rng = np.random.default_rng(2)
    agents = np.repeat([f"A{i}" for i in range(20)], 200)
    bad = agents == "A3"
    c = pd.DataFrame({"agent_id": agents, "channel": "call",
                      "outcome": np.where(rng.random(len(agents)) < np.where(bad, 0.5, 0.88), "resolved", "unresolved"),
                      "handle_time_s": rng.lognormal(np.log(np.where(bad, 800, 420)), 0.3)})
    s = score_agents(c, score=None)
    assert s.index[s["outlier"]].tolist() == ["A3"]
    assert s.loc["A3", "fcr_outlier"] and s.loc["A3", "aht_s_outlier"]
    rep = pd.DataFrame({"agent_id": ["X", "X", "Y", "Y"], "avoidable_cause": [None, "repeat", None, "repeat"],
                        "follows": [None, 0, None, 0], "contact_cost": [5.0] * 4})
    r = count_caused_repeats(rep)
    assert r.loc["X", "caused"] == 2 and r.loc["Y", "caused"] == 0
    assert r.loc["X", "excess"] == pytest.approx(1.0) and r.loc["X", "excess_cost"] == pytest.approx(5.0)


def test_cost_to_serve_by_hand():
    cust = pd.DataFrame({"customer_id": ["A", "B"], "signup_date": pd.to_datetime(["2020-01-01", "2025-01-01"]),
                         "churn_date": pd.to_datetime([None, "2025-03-02"]), "monthly_revenue": [30.0, 10.0]})
    e = pd.DataFrame({"customer_id": ["A", "B", "B"], "channel": ["call", "call", "field_visit"],
                      "timestamp": pd.to_datetime(["2025-01-01", "2025-01-05", "2025-01-06"], utc=True),
                      "contact_cost": [5.0, 5.0, 65.0]})
    v = estimate_cost_to_serve(cust, e, as_of="2025-12-31", service_cost_monthly=10.0)
    months_a = (pd.Timestamp("2025-12-31") - pd.Timestamp("2025-01-01")).days / 30.4375
    months_b = (pd.Timestamp("2025-03-02") - pd.Timestamp("2025-01-01")).days / 30.4375
    assert v.loc["A", "cost_to_serve"] == pytest.approx(10 + 5 / months_a)
    assert v.loc["B", "cost_to_serve"] == pytest.approx(10 + 70 / months_b)
    assert v["unprofitable"].tolist() == [False, True]
    assert summarize_unprofitable(v)["share"] == pytest.approx(0.5)


def test_cost_to_serve_is_summed_where_the_events_are(tmp_path):
    """Events without a channel are left out, a channel whose costs are unknown costs 0, a customer
    without events costs the service cost only, and the events read in place from Parquet give the
    same table."""
    from cxlib.core.sql import ParquetTable
    cust = pd.DataFrame({"customer_id": ["A", "B", "C"], "monthly_revenue": [30.0, 10.0, 5.0]})
    e = pd.DataFrame({"customer_id": ["A", "A", "A", "B"], "channel": ["call", None, "web", "call"],
                      "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-05"], utc=True),
                      "contact_cost": [6.0, 99.0, np.nan, 3.0]})
    v = estimate_cost_to_serve(cust, e, as_of="2025-12-31", service_cost_monthly=1.0)
    months = (pd.Timestamp("2025-12-31") - pd.Timestamp("2025-01-01")).days / 30.4375
    assert list(v.columns[:4]) == ["months", "cost_call", "cost_web", "contact_cost"]
    assert v["contact_cost"].tolist() == pytest.approx([6 / months, 3 / months, 0.0])
    assert v.loc["C", "cost_to_serve"] == 1.0 and v["cost_web"].eq(0).all()
    e.to_parquet(tmp_path / "events.parquet", index=False)
    pd.testing.assert_frame_equal(v, estimate_cost_to_serve(cust, ParquetTable(str(tmp_path / "events.parquet")),
                                                            as_of="2025-12-31", service_cost_monthly=1.0))


def test_self_service_containment_is_the_share_without_an_agent_follow_up():
    rng = np.random.default_rng(3)
    n = 400
    ok = rng.random(n) < 0.7
    rows = [("C%d" % i, T0 + pd.Timedelta(days=i % 50), "web", "payment", False, "residential") for i in range(n)]
    rows += [("C%d" % i, T0 + pd.Timedelta(days=i % 50, hours=5), "call", "payment", True, "residential")
             for i in np.flatnonzero(~ok)]
    e = pd.DataFrame(rows, columns=["customer_id", "timestamp", "channel", "contact_reason", "agent_contact", "segment"])
    e["touchpoint"], e["contact_cost"] = "x", np.where(e["channel"] == "call", 5.0, 0.1)
    fit = measure_self_service(e).iloc[0]
    assert fit["containment"] == pytest.approx(ok.mean())
    assert fit["containment_lo"] < ok.mean() < fit["containment_hi"]
    assert fit["movable"] == pytest.approx((~ok).sum() * ok.mean())
    assert fit["saving"] == pytest.approx(fit["movable"] * 4.9)


def test_self_service_is_not_contained_by_an_agent_contact_up_to_the_window_end():
    """An agent contact about the same reason at the attempt's time or exactly the window after it
    is a follow-up; a second later, another reason or another customer is not."""
    sec = pd.Timedelta(seconds=1)
    follow = [pd.Timedelta(0), pd.Timedelta(days=3), pd.Timedelta(days=3) + sec, None, None]
    rows = []
    for i in range(50):
        kind = i % 5
        rows.append((f"C{i}", T0, "app", "payment", False))
        if kind < 3:
            rows.append((f"C{i}", T0 + follow[kind], "call", "payment", True))
        elif kind == 3:
            rows.append((f"C{i}", T0 + pd.Timedelta(hours=1), "call", "moving", True))
        else:
            rows.append((f"C{i + 1000}", T0 + pd.Timedelta(hours=1), "call", "payment", True))
    e = pd.DataFrame(rows, columns=["customer_id", "timestamp", "channel", "contact_reason", "agent_contact"])
    fit = measure_self_service(e, segment=None, containment_days=3, min_attempts=10).set_index("contact_reason")
    assert fit.loc["payment", "attempts"] == 50 and fit.loc["payment", "containment"] == pytest.approx(3 / 5)


def test_an_event_gets_the_first_rating_of_its_touchpoint_within_the_window():
    """The customer's first rating of the same touchpoint from the event's time to the window's end,
    both included; of two ratings at one time the earlier row; ids compared as text when the two
    tables type them differently."""
    from cxlib.actions.contacts import link_touchpoint_scores
    day, sec = pd.Timedelta(days=1), pd.Timedelta(seconds=1)
    events = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5, 6],
                           "timestamp": [T0] * 6, "touchpoint": ["Call", "Call", "Call", "Call", "Call", "Web"]})
    surveys = pd.DataFrame({"customer_id": ["1", "2", "3", "4", "4", "5", "5", "6", "1"],
                            "timestamp": [T0, T0 + 3 * day, T0 + 3 * day + sec, T0 + 2 * day, T0 + day, T0 + day,
                                          T0 + day, T0 + day, T0 - sec],
                            "subject": ["Call"] * 7 + ["Call", "Call"], "score": [9, 8, 7, 6, 5, 4, 3, 2, 1],
                            "level": "touchpoint", "metric": "csat"})
    got = link_touchpoint_scores(events, surveys, within_days=3)
    assert got.fillna(-1).tolist() == [9.0, 8.0, -1.0, 5.0, 4.0, -1.0]


def _journeys():
    rng = np.random.default_rng(4)
    n = 400
    seg = np.where(np.arange(n) % 2 == 0, "gold", "basic")
    failed = rng.random(n) < np.where(seg == "gold", 0.1, 0.4)
    return pd.DataFrame({"journey_id": np.arange(n), "journey_type": "install", "customer_id": [f"C{i}" for i in range(n)],
                         "status": "completed", "duration_days": np.where(failed, 20.0, 10.0),
                         "n_failed_steps": failed.astype(int), "n_rework": 0, "n_handoffs": 2, "n_repeat_contacts": 0,
                         "journey_score": np.where(failed, 2.0, 9.0), "churned_in_window": failed & (np.arange(n) % 3 == 0)}), seg


def test_kpi_targets_come_from_the_best_segment_or_the_benchmark():
    j, seg = _journeys()
    cust = pd.DataFrame({"customer_id": j["customer_id"], "segment": seg})
    k = build_journey_kpis(j, cust, owners={"install": "Field"}).set_index("kpi")
    ftr_gold = 1 - j.loc[seg == "gold", "n_failed_steps"].mean()
    assert k.loc["first_time_right", "target"] == pytest.approx(ftr_gold)
    assert k.loc["first_time_right", "target_source"] == "best segment (gold)"
    assert k.loc["days_to_complete", "target"] == pytest.approx(j.loc[seg == "gold", "duration_days"].mean())
    assert (k["owner"] == "Field").all()
    k2 = build_journey_kpis(j, cust, targets={"install": {"journey_score": 8.5}}).set_index("kpi")
    assert k2.loc["journey_score", "target"] == 8.5 and k2.loc["journey_score", "target_source"] == "benchmark"


def test_failure_signature_names_the_step_only_failing_journeys_have():
    j, _ = _journeys()
    failed = j["n_failed_steps"] > 0
    rows = []
    for jid, f in zip(j["journey_id"], failed):
        rows.append((jid, "install", "Order placed", "Sales", "web", None))
        if f:
            rows += [(jid, "install", "Order corrected", "Back office", "email", None),
                     (jid, "install", "Reschedule call", "Planning", "call", "reschedule")]
    steps = pd.DataFrame(rows, columns=["journey_id", "journey_type", "touchpoint", "department", "channel",
                                        "contact_reason"])
    sig = find_failure_signature(steps, j)
    assert sig["touchpoint"].tolist() == ["Order corrected", "Reschedule call"]   # the non-contact step first
    assert sig["department"].iat[0] == "Back office" and not sig["contact"].iat[0] and sig["contact"].iat[1]
    assert sig["gap"].iat[0] == pytest.approx(1.0)


def test_failure_signature_is_counted_where_the_steps_are(tmp_path):
    """The signature read from the step table in pandas and in place from its Parquet file (how 04
    reads it) is the same, and a step's day is the median over the journeys that have it of the
    days from the journey's start: the middle two averaged for an even count, a journey without a
    start left out."""
    from cxlib.core.sql import ParquetTable
    j, _ = _journeys()
    j["start"] = T0 + pd.to_timedelta(j["journey_id"] % 5, unit="D")
    j.loc[j.index[j["n_failed_steps"] > 0][:3], "start"] = pd.NaT
    failed = j["n_failed_steps"] > 0
    rows, days = [], []
    for jid, f, start in zip(j["journey_id"], failed, j["start"]):
        began = start if pd.notna(start) else T0
        rows.append((jid, "install", "Order placed", "Sales", began))
        if f:
            d = 1.25 + (jid % 7) / 3
            rows += [(jid, "install", "Order corrected", "Back office", began + pd.Timedelta(days=d)),
                     (jid, "install", "Order corrected", "Planning", began + pd.Timedelta(days=d + 2))]
            if pd.notna(start):
                days.append(d)
    steps = pd.DataFrame(rows, columns=["journey_id", "journey_type", "touchpoint", "department", "timestamp"])
    sig = find_failure_signature(steps, j)
    assert sig["touchpoint"].tolist() == ["Order corrected"] and sig["department"].iat[0] == "Back office"
    assert len(days) % 2 == 0 and sig["day"].iat[0] == pytest.approx(float(np.median(days)), abs=1e-9)
    steps.to_parquet(tmp_path / "steps.parquet", index=False)
    pd.testing.assert_frame_equal(sig, find_failure_signature(ParquetTable(str(tmp_path / "steps.parquet")), j))


def test_actions_rank_by_the_lower_end_of_their_value():
    a = rank_actions([
        {"title": "wide", "effort": "low", "value": 100, "value_lo": 10, "value_hi": 300},
        {"title": "sure", "effort": "high", "value": 60, "value_lo": 50, "value_hi": 70},
        {"title": "same but easier", "effort": "low", "value": 60, "value_lo": 50, "value_hi": 70},
    ])
    assert a["title"].tolist() == ["same but easier", "sure", "wide"] and a["priority"].tolist() == [1, 2, 3]


def test_executive_summary_reads_from_metrics_and_says_what_was_not_analysed():
    metrics = {"recommendations": {"avoidable_share": 0.125, "avoidable_share_lo": 0.12, "avoidable_share_hi": 0.13,
                                   "agent_contacts": 80000, "avoidable_cost": 44000.0, "avoidable_cost_lo": 43000.0,
                                   "avoidable_cost_hi": 45000.0, "unprofitable_share": None, "currency": "EUR",
                                   "skipped": ["value-based service: the customer table has no monthly_revenue"],
                                   "actions": [{"title": "Fix the install journey", "owner": "Back office",
                                                "effort": "high", "value": 7e4, "value_lo": 6e4, "value_hi": 8e4}]},
               "journeys": {"types": {"move": {"watermelon": True, "touchpoint_green_share": 0.84,
                                               "touchpoint_ratings_n": 5200, "journey_green_share": 0.37,
                                               "journey_score_n": 741, "journey_score_mean": 4.6, "n": 1472,
                                               "bimodal": False}}}}
    page = render_executive_summary(metrics, sections=[("02_journeys.html", "Journeys")])
    assert "12.5%" in page and "80,000" in page and "EUR 44k" in page
    assert "Fix the install journey" in page and "EUR 60k–EUR 80k" in page
    assert "Watermelon, move" in page and "84%" in page and "only 37% of its journey ratings are (n = 741)" in page
    assert "no monthly_revenue" in page and "drivers: the section did not run" not in page
    assert "href='02_journeys.html'" in page


def test_fix_first_drivers_become_ranked_unpriced_actions_after_the_priced_ones():
    from cxlib.actions.ranking import propose_driver_actions, rank_actions
    priorities = [{"driver": "Wifi", "outcome": "relationship satisfied", "share": 0.13, "lo": 0.12, "hi": 0.14,
                   "rank_lo": 2, "rank_hi": 2, "performance": 0.45, "mean_score": 2.8, "n_rated": 1000},
                  {"driver": "Booking", "outcome": "relationship satisfied", "share": 0.30, "lo": 0.25, "hi": 0.35,
                   "rank_lo": 1, "rank_hi": 1, "performance": 0.9, "mean_score": 4.6, "n_rated": 900}]
    drivers = propose_driver_actions(priorities)
    priced = {"title": "Fix X", "kind": "journey", "journey_type": "x", "owner": "Ops", "effort": "high",
              "value": 10.0, "value_lo": 5.0, "value_hi": 15.0, "evidence": "e", "section": "02_journeys"}
    ranked = rank_actions([*drivers, priced])
    assert ranked["title"].tolist() == ["Fix X", "Improve 'Wifi'", "Improve 'Booking'"]   # 0.13 x 0.55 > 0.30 x 0.1
    assert ranked["priority"].tolist() == [1, 2, 3] and ranked["value"].iloc[1:].isna().all()
    wifi = ranked.iloc[1]["evidence"]
    assert "13.0% of the explained variance" in wifi and "95% CI 12.0–14.0%; rank 2–2; n rated = 1,000" in wifi
    assert "ranked, not priced" in wifi
    assert "explained variance in relationship satisfied (" in wifi       # the outcome in words, not as a raw key
    from cxlib.core.formatting import display_names
    with display_names({"relationship satisfied": "overall satisfaction"}):
        assert "variance in overall satisfaction (" in propose_driver_actions(priorities)[0]["evidence"]
    nps = propose_driver_actions([{**priorities[0], "outcome": "relationship nps"}])[0]["evidence"]
    assert "variance in relationship NPS (" in nps


def test_the_agent_funnel_plot_draws_the_limits_the_outliers_fall_outside():
    import matplotlib
    matplotlib.use("Agg")
    from cxlib.plotting import plot_agent_funnel
    rng = np.random.default_rng(5)
    counts = rng.integers(60, 400, 30)
    agents = np.repeat([f"A{i}" for i in range(30)], counts)
    bad = agents == "A7"
    c = pd.DataFrame({"agent_id": agents, "channel": "call",
                      "outcome": np.where(rng.random(len(agents)) < np.where(bad, 0.55, 0.88), "resolved", "unresolved")})
    s = score_agents(c, score=None)
    ax = plot_agent_funnel(s, metric="fcr")
    lines = [ln for ln in ax.get_lines() if ln.get_label() == "99.8% limits" or ln.get_label().startswith("_child")]
    assert len(lines) >= 2                                             # an upper and a lower limit
    f = s.attrs["funnel"]["fcr"]
    half = f["z"] * np.sqrt(f["unit_sd"] ** 2 / s["fcr_n"] + f["tau"] ** 2)
    outside = (s["fcr"] - f["team"]).abs() > half
    assert outside["A7"] and s.loc["A7", "fcr_outlier"]
    assert (outside == s["fcr_outlier"]).all()                         # the drawn funnel is the test's funnel


def test_the_fix_assumption_widens_a_measured_interval_to_its_range():
    from cxlib.actions.ranking import FixAssumption, propose_contact_actions
    fix = FixAssumption(0.5, 0.25, 0.75)
    assert fix.apply(100.0, 80.0, 120.0) == (50.0, 20.0, 90.0)
    assert fix.widen(50.0, 40.0, 60.0) == (50.0, 20.0, 90.0)
    assert fix.describe("these contacts") == "assumes the fix removes 50% of these contacts (range 25%–75%)"
    root = pd.DataFrame({"avoidable_cause": ["repeat"], "root_cause": ["billing error"], "journey_type": [None],
                         "avoidable": [400], "share_all": [0.04], "share_all_lo": [0.035], "share_all_hi": [0.045],
                         "cost_per_year": [2000.0], "owner": ["Billing"]})
    (a,) = propose_contact_actions(root, currency="EUR", fix=fix)
    assert a["value"] == pytest.approx(1000.0) and a["value_kind"] == "cost saved"
    assert a["value_lo"] < 0.25 * 2000 < a["value_hi"] and a["value_hi"] > 0.75 * 2000   # range and Poisson error
    assert a["assumption"].startswith("assumes the fix removes 50%")


def test_the_fix_share_must_lie_in_its_range():
    from cxlib.core.config import RecommendationSettings
    with pytest.raises(ValueError, match="must hold fix_share"):
        RecommendationSettings(fix_share=0.9, fix_share_range=(0.2, 0.6))


def test_a_period_is_annualised_only_from_the_minimum_span():
    from cxlib.core.period import Period, measure_period
    assert Period(days=30, min_days=56).factor == 1.0 and Period(days=30).label == "over the 30 days observed"
    assert "fewer than the 56" in Period(days=30).note()
    assert Period(days=100).factor == pytest.approx(3.6525) and Period(days=100).label == "a year"
    assert "extrapolated from the 100 days" in Period(days=100).note() and Period(days=400).note() is None
    ts = pd.Series(pd.to_datetime(["2025-01-01", "2025-01-11"]))
    assert measure_period(ts, min_days=7).days == pytest.approx(10) and measure_period(ts, min_days=7).annualised


@pytest.mark.parametrize("width", [(0.5, 3.0), (0.05, 12000.0), (0.9, 1.2)])
def test_the_odds_ratio_axis_labels_never_overlap(width):
    """Whatever the spread of the intervals (one running to 12,000), the x tick labels are
    apart and the axis stays within 1/50 to 50, an interval beyond it cut with an arrow."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cxlib.plotting import plot_odds_ratios, set_house_style
    lo, hi = width
    d = pd.DataFrame({"odds_ratio": [np.sqrt(lo * hi), 1.1, 0.8], "lo": [lo, 0.9, 0.6], "hi": [hi, 1.3, 0.95],
                      "per": "yes vs no"}, index=["move_home: went wrong", "segment = business", "tenure"])
    with matplotlib.rc_context():           # in the house style the report draws with (its larger fonts)
        set_house_style()
        fig, ax = plt.subplots(figsize=(8, 3))
        plot_odds_ratios(d, ax=ax)
        fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text() and t.get_visible()
             and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
    assert len(boxes) >= 2
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert ax.get_xlim()[0] >= 1 / 50 / 1.2 and ax.get_xlim()[1] <= 50 * 1.2
    assert "move home: went wrong (yes vs no)" in [t.get_text() for t in ax.get_yticklabels()]
    plt.close(fig)


def test_the_action_table_leaves_out_what_no_action_has():
    from cxlib.actions.diagnosis import RecommendationDiagnosis
    from cxlib.actions.ranking import propose_driver_actions, rank_actions
    p = {"driver": "Wifi", "outcome": "satisfied", "share": 0.13, "lo": 0.12, "hi": 0.14, "rank_lo": 1, "rank_hi": 2,
         "performance": 0.4, "mean_score": 2.1, "n_rated": 500}
    rx = RecommendationDiagnosis(actions=rank_actions(propose_driver_actions([p])))
    assert rx.describe_ranking() == "**The priority:**"
    rx = RecommendationDiagnosis(actions=rank_actions(propose_driver_actions([p, {**p, "driver": "Seats"}])))
    t = rx.action_table()
    assert list(t.columns) == ["priority", "action", "effort", "value a year", "rests on", "evidence"]
    assert t["value a year"].iat[0] == "not priced (it rests on survey data alone), ranked by importance"
    assert "none can be priced" in rx.describe_ranking() and rx.describe_ranking().startswith("**The 2 priorities**")


def test_only_contacts_are_agent_contacts_when_events_say_what_they_are():
    ev = pd.DataFrame({"agent_id": ["A1", "A1", "A2", None], "channel": ["call", "web", "email", "call"],
                       "kind": ["contact", "work_step", None, "contact"]})
    assert flag_agent_contacts(ev).tolist() == [True, False, True, False]   # missing kind reads as a contact
    assert flag_agent_contacts(ev.drop(columns="kind")).tolist() == [True, True, True, False]
    outbound = ev.assign(initiated_by=["company", None, "customer", None])   # an outbound call is not the customer's
    assert flag_agent_contacts(outbound).tolist() == [False, False, True, False]


def test_a_repeat_can_be_the_same_reason_again_whatever_the_first_outcome():
    t0 = pd.Timestamp("2025-01-01")
    ev = pd.DataFrame({"customer_id": ["C1", "C1", "C1", "C2", "C2"],
                       "timestamp": [t0, t0 + pd.Timedelta(days=2), t0 + pd.Timedelta(days=30), t0, t0 + pd.Timedelta(days=1)],
                       "channel": "call", "touchpoint": "Call", "contact_reason": ["bill", "bill", "bill", "move", "bill"],
                       "outcome": ["resolved", "resolved", "resolved", "unresolved", "resolved"], "agent_contact": True})
    default = classify_avoidable_contacts(ev)
    assert default["avoidable_cause"].isna().all()                          # no unresolved contact came first
    same = classify_avoidable_contacts(ev, repeat_rule="same_reason")
    assert same["avoidable_cause"].fillna("").tolist() == ["", "repeat", "", "", ""]   # day 30 is outside the window
    assert same.loc[1, "root_cause"] == "repeated bill" and same.loc[1, "follows"] == 0
    assert classify_avoidable_contacts(ev.drop(columns="outcome"), repeat_rule="same_reason")["avoidable_cause"].notna().sum() == 1
    with pytest.raises(ValueError, match="repeat_rule"):
        classify_avoidable_contacts(ev, repeat_rule="any")


def test_a_company_step_that_failing_journeys_lack_is_named_as_the_cause():
    """Went-wrong journeys lack the proactive update and have the customer's chasing call: the
    missing company step is the cause, the call the symptom; the end step is never 'missing'."""
    rows, jrows = [], []
    for i in range(200):
        wrong = i < 80
        jid = f"J{i}"
        path = ["Order placed"] + ([] if wrong else ["Proactive update"]) + (["Where is my order"] if wrong else []) \
            + ["Delivered"]
        kinds = {"Order placed": "contact", "Proactive update": "notification", "Where is my order": "contact",
                 "Delivered": "visit"}
        for k, tp in enumerate(path):
            rows.append((jid, "order", tp, "Ops" if tp != "Where is my order" else "Service", "web", None, kinds[tp],
                         "customer" if tp in ("Order placed", "Where is my order") else "company"))
        jrows.append({"journey_id": jid, "journey_type": "order", "n_failed_steps": 0, "n_rework": int(wrong),
                      "status": "completed", "last_touchpoint": "Delivered"})
    steps = pd.DataFrame(rows, columns=["journey_id", "journey_type", "touchpoint", "department", "channel",
                                        "contact_reason", "kind", "initiated_by"])
    j = pd.DataFrame(jrows)
    sig = find_failure_signature(steps, j)
    assert sig.iloc[0][["touchpoint", "present", "contact"]].tolist() == ["Proactive update", False, False]
    assert "Delivered" not in set(sig["touchpoint"])
    from cxlib.actions.ranking import propose_journey_actions
    (a,) = propose_journey_actions(sig, pd.DataFrame(index=["order"]), [], None, {}, currency="EUR")
    assert a["title"] == "Fix the order journey: make sure 'Proactive update' happens" and a["owner"] == "Ops"
    assert a["evidence"].startswith("'Proactive update' (Ops) is missing from 100% of the journeys that went wrong "
                                    "against 0% of the others")


def test_a_failure_touchpoint_makes_failure_demand_without_a_failure_outcome():
    t0 = pd.Timestamp("2025-01-01")
    ev = pd.DataFrame({"customer_id": ["C1", "C1", "C2", "C2"],
                       "timestamp": [t0, t0 + pd.Timedelta(days=1), t0, t0 + pd.Timedelta(days=1)],
                       "channel": ["field_visit", "call", "field_visit", "call"],
                       "touchpoint": ["Technician no-show", "Call", "Technician visit", "Call"],
                       "contact_reason": [None, "visit", None, "visit"], "outcome": [None, "resolved", None, "resolved"],
                       "agent_contact": [False, True, False, True]})
    assert classify_avoidable_contacts(ev)["avoidable_cause"].isna().all()
    c = classify_avoidable_contacts(ev, failure_touchpoints=["Technician no-show"])
    assert c["avoidable_cause"].fillna("").tolist() == ["failure_demand", ""]
    assert c["root_cause"].iat[0] == "Technician no-show"


def test_a_failure_touchpoint_is_a_failed_step_of_its_journey():
    from cxlib.core.config import JourneyDefinition
    from cxlib.journeys import reconstruct_journeys
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    ev = pd.DataFrame({"customer_id": "C1", "timestamp": [t0, t0 + pd.Timedelta(days=1), t0 + pd.Timedelta(days=2)],
                       "touchpoint": ["Fault reported", "Technician no-show", "Fault resolved"], "channel": "call",
                       "department": "Field"})
    repair = {"repair": JourneyDefinition(start=["Fault reported"], end=["Fault resolved"],
                                          touchpoints=["Technician no-show"])}
    plain = reconstruct_journeys(ev, repair, as_of=t0 + pd.Timedelta(days=60)).journeys
    told = reconstruct_journeys(ev, repair, as_of=t0 + pd.Timedelta(days=60),
                                failure_touchpoints=["Technician no-show", "O'Brien's step"]).journeys
    assert plain["n_failed_steps"].tolist() == [0] and told["n_failed_steps"].tolist() == [1]


def test_value_based_service_says_the_customer_table_is_missing_when_it_is():
    from cxlib.actions.diagnosis import diagnose_recommendations
    from cxlib.core.config import parse_config
    ev = pd.DataFrame({"customer_id": ["A", "B"], "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True),
                       "channel": "call", "touchpoint": "Call", "department": "CS", "contact_reason": "billing",
                       "kind": "contact", "initiated_by": "customer"})
    cfg = parse_config({"name": "x", "tables": {"events": [{"path": "e.csv"}]}})
    dx = diagnose_recommendations(cfg, customers=None, events=ev, surveys=None, journeys=None, steps=None,
                                  as_of=pd.Timestamp("2025-02-01", tz="UTC"), seed=1)
    assert "value-based service: there is no customer table" in dx.skipped


def _churn_driver(driver, value, lo, hi, per, customers=1000, excess=100.0):
    return {"driver": driver, "customers": customers, "excess_churners": excess, "value": value, "lo": lo, "hi": hi,
            "per": per}


def test_actionable_churn_drivers_become_priced_actions_over_their_own_period():
    """A customer-only client (a churn extract, no events): the churn drivers it listed as actionable
    are its action list, valued over the period the churn money is (the flag's), by the lower end."""
    from cxlib.actions.diagnosis import diagnose_recommendations
    from cxlib.actions.ranking import FixAssumption
    from cxlib.core.config import parse_config
    per = "over the churn flag's period (the extract has no churn dates)"
    drivers = [_churn_driver("PaymentMethod = Electronic check", 165_000.0, 87_000.0, 231_000.0, per, 2365, 177.0),
               _churn_driver("Contract = Month-to-month", 799_000.0, 682_000.0, 950_000.0, per, 3875, 927.0)]
    cfg = parse_config({"name": "x", "tables": {"customers": [{"path": "c.csv"}]}})
    dx = diagnose_recommendations(cfg, customers=None, events=None, surveys=None, journeys=None, steps=None,
                                  as_of=None, churn_drivers=drivers, seed=1)
    a = dx.actions
    assert dx.per == per and dx.metrics()["money_per"] == per
    assert a["title"].tolist() == ["Cut churn among customers with Contract = Month-to-month",
                                   "Cut churn among customers with PaymentMethod = Electronic check"]
    fix = FixAssumption(cfg.analysis.recommendations.fix_share, *cfg.analysis.recommendations.fix_share_range)
    assert a[["value", "value_lo", "value_hi"]].iloc[0].tolist() == pytest.approx(list(fix.apply(799_000, 682_000, 950_000)))
    assert (a["value_kind"] == "revenue kept").all() and a["kind"].eq("churn driver").all()
    assert "927 more churners among the 3,875 customers with Contract = Month-to-month" in a["evidence"].iat[0]
    assert per in a["evidence"].iat[0] and "extra churn of the customers with" in a["assumption"].iat[0]
    assert dx.action_table().columns.tolist()[3] == f"value {per}"
    # at the client's gross margin the same drivers keep margin, not revenue
    cfg = parse_config({"name": "x", "tables": {"customers": [{"path": "c.csv"}]},
                        "analysis": {"recommendations": {"gross_margin": 0.4}}})
    dx = diagnose_recommendations(cfg, customers=None, events=None, surveys=None, journeys=None, steps=None,
                                  as_of=None, churn_drivers=drivers, seed=1)
    assert dx.actions["value"].iat[0] == pytest.approx(0.4 * fix.apply(799_000, 682_000, 950_000)[0])
    assert dx.actions["value_kind"].eq("margin kept").all()


def test_churn_drivers_over_another_period_than_the_events_are_named_not_ranked():
    from cxlib.actions.diagnosis import diagnose_recommendations
    from cxlib.core.config import parse_config
    ev = pd.DataFrame({"customer_id": ["A", "B"], "timestamp": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True),
                       "channel": "call", "touchpoint": "Call", "department": "CS", "contact_reason": "billing",
                       "kind": "contact", "initiated_by": "customer"})
    cfg = parse_config({"name": "x", "tables": {"events": [{"path": "e.csv"}]}})
    other = "over the churn flag's period (the extract has no churn dates)"
    dx = diagnose_recommendations(cfg, customers=None, events=ev, surveys=None, journeys=None, steps=None,
                                  as_of=pd.Timestamp("2025-02-01", tz="UTC"), seed=1,
                                  churn_drivers=[_churn_driver("Contract = Month-to-month", 9e5, 8e5, 1e6, other)])
    assert dx.per != other and not dx.actions["kind"].eq("churn driver").any()
    assert any(s.startswith(f"churn-driver actions: their revenue at risk is {other}, not {dx.per}") for s in dx.skipped)
    same = diagnose_recommendations(cfg, customers=None, events=ev, surveys=None, journeys=None, steps=None,
                                    as_of=pd.Timestamp("2025-02-01", tz="UTC"), seed=1,
                                    churn_drivers=[_churn_driver("Contract = Month-to-month", 9e5, 8e5, 1e6, dx.per)])
    assert same.actions["kind"].eq("churn driver").sum() == 1 and not any("churn-driver" in s for s in same.skipped)


def test_the_period_note_stands_only_beside_figures_it_is_about():
    """'Figures a year are extrapolated from 240 days' on a page with no figure and no action made
    an empty recommendations page look like a section (bpic16): the note goes with the figures."""
    from cxlib.actions.diagnosis import RecommendationDiagnosis
    from cxlib.actions.ranking import propose_driver_actions, rank_actions
    note = "figures a year are extrapolated from the 240 days the data cover"
    bare = RecommendationDiagnosis(period_note=note, skipped=["value-based service: there is no customer table"],
                                   actions=rank_actions([]))
    assert bare.summary() == ["*Not analysed:* value-based service: there is no customer table."]
    p = {"driver": "Wifi", "outcome": "satisfied", "share": 0.13, "lo": 0.12, "hi": 0.14, "rank_lo": 1, "rank_hi": 2,
         "performance": 0.4, "mean_score": 2.1, "n_rated": 500}
    acted = RecommendationDiagnosis(period_note=note, actions=rank_actions(propose_driver_actions([p])))
    assert f"*Period:* {note}." in acted.summary()
    found = RecommendationDiagnosis(period_note=note, unprofitable={"share": 0.1, "lo": 0.08, "hi": 0.12, "n": 900})
    assert f"*Period:* {note}." in found.summary()
