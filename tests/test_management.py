"""The management loop: beliefs tested against the data and figures set beside benchmarks
(cxlib.actions.management, notebooks/05_management). The demo plants two true and two false
beliefs and three benchmarks (truth.json); the analysis must recover each."""
import json

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from cxlib.actions.management import (compare_benchmarks, diagnose_management, evaluate_hypotheses, judge,
                                      read_benchmarks_file)
from cxlib.actions.measures import estimate_measure
from cxlib.core.config import Hypothesis, load_config
from cxlib.demo.simulate import PLANTED_BELIEFS, PLANTED_BENCHMARKS

from conftest import REPO

METRICS = {
    "headlines": {"nps": {"value": -12.0, "lo": -15.0, "hi": -9.0, "n": 900}},
    "journeys": {"types": {"move": {"journey_green_share": 0.3, "journey_score_n": 400, "completion_rate": 0.9,
                                    "completion_lo": 0.87, "completion_hi": 0.93, "completion_n": 500,
                                    "churn_in_window": 0.16, "churn_in_window_lo": 0.13, "churn_in_window_hi": 0.19,
                                    "churn_in_window_n": 480}}},
    "drivers": {"n": 900, "importance": {"journey: move": {"share": 0.3, "lo": 0.25, "hi": 0.35, "rank": 1}}},
}


def test_judge_reads_the_interval_against_the_belief():
    assert judge(0.5, 0.45, 0.52, "about", 0.0) == "confirmed"
    assert judge(0.5, 0.20, 0.30, "about", 0.05) == "refuted"
    assert judge(0.5, 0.20, 0.46, "about", 0.05) == "confirmed"       # within tolerance of the belief
    assert judge(0.2, 0.24, 0.33, "at_least", 0) == "confirmed"
    assert judge(0.2, 0.10, 0.30, "at_least", 0) == "not settled"
    assert judge(0.2, 0.01, 0.02, "at_least", 0) == "refuted"
    assert judge(0.2, 0.25, 0.30, "at_most", 0) == "refuted"
    assert judge(0.2, 0.05, 0.15, "at_most", 0) == "confirmed"


def test_estimates_come_with_interval_and_n_or_with_the_reason():
    est, why = estimate_measure(METRICS, "journey_dissatisfied_share", journey="move")
    assert why == "" and est.value == pytest.approx(0.7) and est.n == 400 and est.lo < 0.7 < est.hi
    est, _ = estimate_measure(METRICS, "churn_after_journey", journey="move")
    assert (est.value, est.lo, est.hi, est.n, est.page) == (0.16, 0.13, 0.19, 480, "02_journeys")
    est, why = estimate_measure(METRICS, "churn_after_journey", journey="repair")
    assert est is None and "no journey type 'repair'" in why and "move" in why
    est, why = estimate_measure(METRICS, "avoidable_share")
    assert est is None and "no agent contacts" in why
    est, why = estimate_measure({}, "driver_share", driver="journey: move")
    assert est is None and "no key-driver analysis" in why


def test_hypotheses_table_gives_verdicts_and_not_testable_reasons():
    hyps = [Hypothesis(id="a", claim="Most movers are unhappy", measure="journey_dissatisfied_share", journey="move",
                       believed=0.7),
            Hypothesis(id="b", claim="Move drives half of NPS", measure="driver_share", driver="journey: move",
                       believed=0.5, direction="at_least"),
            Hypothesis(id="c", claim="NPS is positive", measure="nps", believed=0, direction="at_least"),
            Hypothesis(id="d", claim="A tenth of calls are avoidable", measure="avoidable_share", believed=0.1)]
    t = evaluate_hypotheses(hyps, METRICS).set_index("id")
    assert t.loc["a", "verdict"] == "confirmed" and t.loc["b", "verdict"] == "refuted"
    assert t.loc["c", "verdict"] == "refuted" and t.loc["c", "unit"] == "points"
    assert t.loc["d", "verdict"] == "not testable" and np.isnan(t.loc["d", "estimate"])


def test_config_names_the_measure_and_its_argument():
    with pytest.raises(ValidationError, match="did you mean 'driver_share'"):
        Hypothesis(id="x", claim="x", measure="driver_shares", driver="a", believed=0.1)
    with pytest.raises(ValidationError, match="needs 'journey'"):
        Hypothesis(id="x", claim="x", measure="churn_after_journey", believed=0.1)


def test_benchmarks_file_is_read_and_a_bad_row_is_named(tmp_path):
    good = tmp_path / "bench.csv"
    good.write_text("measure,value,source,year,journey\nnps,5,Industry study,2025,\n"
                    "churn_after_journey,0.1,Competitor,,move\n")
    b = read_benchmarks_file(good)
    assert [x.measure for x in b] == ["nps", "churn_after_journey"] and b[0].year == 2025 and b[1].journey == "move"
    t = compare_benchmarks(b, METRICS)
    assert t.loc[0, "gap"] == pytest.approx(-17) and bool(t.loc[0, "outside"])
    assert t.loc[1, "gap"] == pytest.approx(0.06) and bool(t.loc[1, "outside"])
    bad = tmp_path / "bad.csv"
    bad.write_text("measure,value,source\nnps,5,ok\nchurn_rate,high,Survey\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 3: value"):
        read_benchmarks_file(bad)


def test_demo_config_lists_the_planted_beliefs_and_benchmarks():
    cfg = load_config(REPO / "data" / "demo" / "client.yml")
    listed = {h.id: {"measure": h.measure, **{k: getattr(h, k) for k in ("journey", "driver") if getattr(h, k)},
                     "believed": h.believed, "direction": h.direction} for h in cfg.analysis.hypotheses}
    assert listed == PLANTED_BELIEFS
    benches = {(b.measure if not b.reason else f"{b.measure}: {b.reason}"): b for b in cfg.analysis.benchmarks}
    assert {k: b.value for k, b in benches.items()} == {k: v["value"] for k, v in PLANTED_BENCHMARKS.items()}


@pytest.fixture(scope="module")
def management(demo_journeys):
    from cxlib.drivers import diagnose_drivers_if_possible
    d = demo_journeys
    cfg, t = d["config"], d["tables"]
    drivers, _ = diagnose_drivers_if_possible(t["surveys"], cfg, customers=t["customers"], seed=42)
    metrics = {"journeys": d["diagnosis"].metrics(), "drivers": drivers.metrics()}
    return diagnose_management(cfg, metrics, customers=t["customers"], events=t["events"], steps=d["diagnosis"].steps,
                               surveys=t["surveys"], journeys=d["diagnosis"].journeys,
                               client_dir=REPO / "data" / "demo"), d["truth"]


def test_the_planted_beliefs_are_confirmed_or_refuted_as_planted(management):
    mx, truth = management
    verdicts = mx.hypotheses.set_index("id")["verdict"].to_dict()
    assert sorted(b["true"] for b in truth["beliefs"].values()) == [False, False, True, True]
    for name, b in truth["beliefs"].items():
        assert verdicts[name] == ("confirmed" if b["true"] else "refuted"), (name, b, verdicts[name])


def test_the_planted_churn_reason_gaps_are_found(management):
    mx, truth = management
    rows = mx.benchmarks.set_index("label")
    for key, planted in truth["benchmarks"].items():
        if not key.startswith("churn_reason_share"):
            continue
        reason = key.split(": ", 1)[1].lower()
        row = rows.loc[f"share of churners leaving for {reason}"]
        assert bool(row["outside"]) == planted["outside"]
        assert row["lo"] <= planted["client"] <= row["hi"]
    assert json.dumps(mx.metrics())          # the figures serialise for metrics.json


def test_without_beliefs_or_benchmarks_it_says_what_is_not_analysed(demo_journeys):
    cfg = demo_journeys["config"]
    cfg = cfg.model_copy(update={"analysis": cfg.analysis.model_copy(update={"hypotheses": [], "benchmarks": []})})
    mx = diagnose_management(cfg, {}, customers=None)
    assert mx.summary() == [] and len(mx.skipped) == 6 and not len(mx.inventory) and mx.callbacks is None
    assert mx.tracking is None and mx.skipped_about("tracking over time").endswith("no typed journeys to follow over time")
    assert mx.skipped_about("executives").startswith("executives' beliefs: none")
    assert mx.skipped_about("benchmarks").startswith("benchmarks: no")
    assert mx.skipped_about("touchpoint inventory") == "touchpoint inventory: there is no events table"
    assert mx.skipped_about("call-back list") == "call-back list: there are no survey responses to find dissatisfied customers in"
    cfg = cfg.model_copy(update={"privacy": cfg.privacy.model_copy(update={"callback_consent": None})})
    mx = diagnose_management(cfg, {}, customers=demo_journeys["tables"]["customers"],
                             surveys=demo_journeys["tables"]["surveys"])
    assert mx.callbacks is None and "consent to be contacted" in mx.skipped_about("call-back list")


def test_inventory_counts_costs_rates_and_ranks_each_touchpoint(tmp_path):
    """By hand, from pandas and from the events' Parquet file (how 05 reads them)."""
    import pandas as pd

    from cxlib.core.sql import ParquetTable

    from cxlib.actions.inventory import build_touchpoint_inventory
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    day = pd.Timedelta(days=1)
    events = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "c", "c"],
        "timestamp": [t0, t0 + 100 * day, t0 + 200 * day, t0 + 300 * day, t0 + 364 * day, t0 + 365 * day],
        "touchpoint": ["Visit", "Visit", "Visit", "Call", "Call", "Web"],
        "channel": ["field_visit", "field_visit", "field_visit", "call", "call", "web"],
        "department": ["Field", "Field", "Field", "Care", "Care", "Digital"]})
    steps = pd.DataFrame({"touchpoint": ["Visit", "Call", "Call", "Web"], "journey_type": ["repair", "repair", "unclassified", "move"],
                          "repeat_contact": [False, True, False, False]})
    surveys = pd.DataFrame({"level": ["touchpoint"] * 5, "subject": ["Visit", "Visit", "Call", "Call", "Call"],
                            "metric": ["csat"] * 5, "score": [1, 5, 5, 5, 4]})
    inv = build_touchpoint_inventory(events, steps=steps, surveys=surveys, green_threshold={"csat": 4},
                                     cost_per_contact={"field_visit": 60.0, "call": 5.0, "web": 0.1},
                                     moments={"Visit": "separates repair scores"}).set_index("touchpoint")
    # at stake = cost x share not satisfied: Visit 180 x 0.5; Web 0.1 x (1 - 0.75, the rated average); Call 10 x 0
    assert list(inv.index) == ["Visit", "Web", "Call"]
    assert inv.attrs["per"] == "a year" and inv.loc["Visit", "per_year"] == pytest.approx(3 * 365.25 / 365)
    assert inv.loc["Visit", "cost_per_year"] == pytest.approx(180 * 365.25 / 365)
    assert inv.loc["Visit", "reach"] == pytest.approx(2 / 3) and inv.loc["Call", "reach"] == pytest.approx(1 / 3)
    assert inv.loc["Visit", "satisfied"] == 0.5 and inv.loc["Visit", "rated"] == 2
    assert inv.loc["Visit", "satisfied_lo"] < 0.5 < inv.loc["Visit", "satisfied_hi"]
    assert inv.loc["Call", "satisfied"] == 1.0 and inv.loc["Call", "journeys"] == "repair"
    assert inv.loc["Call", "repeat_share"] == 0.5 and inv.loc["Web", "rated"] == 0
    assert bool(inv.loc["Visit", "moment_that_matters"]) and not inv.loc["Call", "moment_that_matters"]
    events.to_parquet(tmp_path / "events.parquet", index=False)
    in_file = build_touchpoint_inventory(ParquetTable(str(tmp_path / "events.parquet")), steps=steps, surveys=surveys,
                                         green_threshold={"csat": 4}, moments={"Visit": "separates repair scores"},
                                         cost_per_contact={"field_visit": 60.0, "call": 5.0, "web": 0.1})
    pd.testing.assert_frame_equal(in_file.set_index("touchpoint"), inv)
    # without satisfaction thresholds nothing counts as rated, and the rest is the same
    bare = build_touchpoint_inventory(events, steps=steps, surveys=surveys,
                                      cost_per_contact={"field_visit": 60.0, "call": 5.0, "web": 0.1}).set_index("touchpoint")
    assert bare["rated"].eq(0).all() and bare["satisfied"].isna().all()
    pd.testing.assert_series_equal(bare["cost_per_year"].sort_index(), inv["cost_per_year"].sort_index())


def test_the_inventory_finds_the_planted_costliest_touchpoint_and_the_install_moment(management):
    mx, truth = management
    inv = mx.inventory.set_index("touchpoint")
    planted = truth["touchpoints"]
    costliest = inv["cost_per_year"].idxmax()
    assert costliest == planted["costliest"]
    assert inv.loc[costliest, "cost_per_year"] == pytest.approx(planted["costliest_cost_per_year"], rel=0.03)
    assert mx.inventory.iloc[0]["touchpoint"] == planted["costliest"]     # and it has the most at stake
    assert bool(inv.loc[planted["install_moment"], "moment_that_matters"])
    assert "new install" in inv.loc[planted["install_moment"], "journeys"]


def test_the_inventory_table_leaves_out_what_the_data_could_not_fill(management):
    from cxlib.actions.management import ManagementDiagnosis
    mx, _ = management
    assert {"cost_per_year", "satisfied", "journeys"} <= set(mx.inventory_table())     # the demo fills them all
    bare = mx.inventory.assign(cost_per_year=float("nan"), rated=0, satisfied=float("nan"), journeys="")
    shown = ManagementDiagnosis(mx.hypotheses, mx.benchmarks, inventory=bare).inventory_table()
    assert not {"cost_per_year", "rated", "satisfied", "satisfied_lo", "journeys"} & set(shown)
    assert {"touchpoint", "per_year", "reach"} <= set(shown)


# --------------------------------------------------------------------------- the call-back list

def _callback_data():
    """Six respondents: a recent unhappy mover with consent (high revenue), a recent unhappy
    relationship rater with consent, one who said no, one never asked, one who already left,
    and one who was unhappy long ago; plus a happy one."""
    ts = pd.Timestamp("2026-03-30", tz="UTC")
    surveys = pd.DataFrame({
        "customer_id": ["A", "B", "C", "D", "E", "F", "G"],
        "timestamp": [ts, ts - pd.Timedelta(days=3), ts, ts, ts, ts - pd.Timedelta(days=90), ts],
        "level": ["journey", "relationship", "relationship", "relationship", "journey", "relationship", "relationship"],
        "subject": ["move", None, None, None, "move", None, None],
        "metric": ["nps"] * 7, "score": [2.0, 5.0, 1.0, 3.0, 0.0, 1.0, 9.0]})
    customers = pd.DataFrame({"customer_id": list("ABCDEFG"), "consent": ["Yes", " TRUE ", "No", None, "yes", "1", "y"],
                              "churned": [False, False, False, False, True, False, False],
                              "monthly_revenue": [90.0, 30.0, 50.0, 50.0, 50.0, 50.0, 50.0]})
    journeys = pd.DataFrame({"journey_id": [1, 2, 3], "customer_id": ["A", "A", "B"],
                             "journey_type": ["move", "move", "repair"],
                             "start": pd.to_datetime(["2025-01-01", "2025-06-01", "2026-03-01"], utc=True),
                             "end": pd.to_datetime(["2025-02-01", "2025-07-20", "2026-03-05"], utc=True),
                             "n_failed_steps": [0, 2, 0], "n_handoffs": [1, 4, 0], "n_repeat_contacts": [0, 1, 0],
                             "n_rework": [0, 0, 0], "max_wait_days": [1.0, 12.0, 2.0], "completed": [True, True, True]})
    steps = pd.DataFrame({"journey_id": [2, 2, 2], "touchpoint": ["First bill", "Address check", "First bill"],
                          "failed_step": [True, False, True]})
    return surveys, customers, journeys, steps


def test_callback_list_keeps_recent_detractors_who_agreed_and_ranks_by_what_is_at_stake():
    from cxlib.actions.callbacks import build_callback_list, read_consent
    surveys, customers, journeys, steps = _callback_data()
    assert read_consent(customers["consent"]).tolist() == [True, True, False, False, True, True, True]
    risk = pd.DataFrame({"customer_id": ["A", "B"], "churn_probability": [0.1, 0.5]})
    cb = build_callback_list(surveys, customers, consent="consent", green_threshold={"nps": 7}, journeys=journeys,
                             steps=steps, risk=risk, recent_days=30, top=10, horizon_months=12)
    t = cb.table
    # C said no, D was never asked, E has left, F answered long ago, G is happy
    assert t["customer_id"].tolist() == ["B", "A"]          # 0.5 x 30 x 12 = 180 before 0.1 x 90 x 12 = 108
    assert t["at_stake"].tolist() == pytest.approx([180.0, 108.0]) and t["rank"].tolist() == [1, 2]
    a = t.set_index("customer_id").loc["A"]
    assert a["journey"] == "move" and a["journey_start"] == pd.Timestamp("2025-06-01", tz="UTC")   # the latest move
    assert a["what_went_wrong"] == "2 failed steps (First bill); 1 repeat contact; 4 handoffs; waited 12 days at one point"
    assert t.set_index("customer_id").loc["B", "journey"] == "repair"
    counts = cb.counts.set_index("journey")
    assert counts.loc["move"].tolist() == [1, 1, 1] and counts.loc["no recent journey"].tolist() == [2, 0, 0]
    m = cb.metrics()
    assert (m["detractors"], m["may_be_called"], m["listed"]) == (4, 2, 2)
    assert all(set(r) == {"journey", "detractors", "may_be_called", "listed"} for r in m["by_journey"])
    top1 = build_callback_list(surveys, customers, consent="consent", green_threshold={"nps": 7}, top=1)
    assert top1.table["customer_id"].tolist() == ["A"]            # no risk: by revenue
    with pytest.raises(ValueError, match="'permission' is not in the customer table"):
        build_callback_list(surveys, customers, consent="permission", green_threshold={"nps": 7})


def test_the_demo_call_back_list_lists_only_customers_who_agreed(management, tmp_path):
    from cxlib.core.paths import resolve_client_paths
    mx, truth = management
    cb = mx.callbacks
    planted = truth["callbacks"]
    refused = set(planted["recent_raters_without_consent"])
    assert len(refused) > 50 and cb is not None
    listed = set(cb.table["customer_id"])
    assert listed and not listed & refused
    m = cb.metrics()
    assert m["listed"] == min(50, m["may_be_called"]) == len(cb.table)
    # about the planted share agreed (0.6 yes; blanks and no do not count)
    assert abs(m["may_be_called"] / m["detractors"] - planted["consent_share"]) < 0.1
    assert cb.table["at_stake"].isna().all() or cb.table["at_stake"].is_monotonic_decreasing
    assert (cb.table["journey"] != "no recent journey").any()
    # the figures hold counts only: no listed id reaches metrics.json
    text = json.dumps(mx.metrics())
    assert not any(i in text for i in listed)
    paths = resolve_client_paths("demo", tmp_path / "data", tmp_path / "reports")
    paths.run_dir.mkdir(parents=True)
    mx.write(paths)
    assert set(pd.read_csv(paths.callbacks)["customer_id"]) == listed


def test_a_touchpoint_on_two_channels_equally_often_gets_the_first_seen():
    import pandas as pd

    from cxlib.actions.inventory import build_touchpoint_inventory
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    events = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"], "timestamp": [t0] * 5,
                           "touchpoint": ["X", "X", "X", "X", "Y"], "channel": ["web", "call", "call", "web", "app"],
                           "department": [None, "Care", "Digital", "Digital", None]})
    inv = build_touchpoint_inventory(events).set_index("touchpoint")
    assert inv.loc["X", "channel"] == "web" and inv.loc["X", "department"] == "Digital"
    assert pd.isna(inv.loc["Y", "department"]) and inv.loc["X", "per_year"] == 4
